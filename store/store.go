// Package store keeps shipbridge's state in one embedded bbolt file: poll cursors, the current
// record of every order, an order-name index, and every order's append-only history.
//
// Every method is one bbolt transaction, and every value returned is copied out of the
// transaction. bbolt allows a single writer and any number of readers; the file lock also makes
// a second shipbridge on the same file fail at Open with ErrLocked.
//
// Layout (bucket → key → value):
//
//	meta     "schema_version" → uint64, big-endian
//	cursors  name             → string
//	orders   order id         → OrderRecord, JSON
//	names    order name       → order id
//	open     order id         → empty (the orders with OrderRecord.Open set)
//	history  order id         → bucket: seq (uint64, big-endian, so keys sort) → Event, JSON
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned by Open when another process holds the store file.
var ErrLocked = errors.New("store is locked: another shipbridge is probably running with this store path")

// Bucket names and keys.
const (
	bucketMeta    = "meta"
	bucketCursors = "cursors"
	bucketOrders  = "orders"
	bucketNames   = "names"
	bucketHistory = "history"
	bucketOpen    = "open"

	keySchemaVersion = "schema_version"
)

// DefaultLockTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultLockTimeout = time.Second

// Options configure Open.
type Options struct {
	// Timeout is how long to wait for the file lock held by another process; 0 means
	// DefaultLockTimeout.
	Timeout time.Duration
	// Now is the clock used for UpdatedAt, CreatedAt and event times; nil means time.Now.
	Now func() time.Time
	// Migrations replaces the built-in schema migrations (DefaultMigrations); for tests.
	Migrations []Migration
	// NoSync skips the fsync after each transaction. It is for bulk loads
	// (benchmarks, imports): a crash may lose the latest transactions.
	NoSync bool
}

// Migration moves the store from schema version N to N+1, where N is its index in the list of
// migrations. It runs in the same transaction that records the new version, and only once.
type Migration struct {
	// Name says what the migration does, for errors and logs.
	Name string
	// Apply changes the data; it must not touch the schema version.
	Apply func(tx *bolt.Tx) error
}

// DefaultMigrations returns the schema migrations of this version of shipbridge, in order. Append
// new ones at the end; never edit or remove released ones.
func DefaultMigrations() []Migration {
	return []Migration{
		{Name: "create buckets", Apply: func(tx *bolt.Tx) error {
			for _, name := range []string{bucketCursors, bucketOrders, bucketNames, bucketHistory} {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			return nil
		}},
		{Name: "index open orders", Apply: func(tx *bolt.Tx) error {
			// Records written before the index existed do not say whether
			// they are open; index every record with workflow data, and
			// let the workflow close the ones that are finished.
			open, err := tx.CreateBucketIfNotExists([]byte(bucketOpen))
			if err != nil {
				return err
			}
			return tx.Bucket([]byte(bucketOrders)).ForEach(func(k, v []byte) error {
				var rec OrderRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("decode order %q: %w", k, err)
				}
				if !rec.Open && len(rec.Pending) == 0 {
					return nil
				}
				return open.Put(k, nil)
			})
		}},
	}
}

// Store is an open bbolt store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
}

// Open opens or creates the store at path (mode 0600; a missing parent directory is created 0700)
// and runs the pending migrations. When another process holds the file, Open gives up after
// opts.Timeout with an error wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Migrations == nil {
		opts.Migrations = DefaultMigrations()
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: %w (waited %s for the file lock)", path, ErrLocked, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.NoSync = opts.NoSync
	s := &Store{db: db, path: path, now: opts.Now}
	if err := s.migrate(opts.Migrations); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(migrations []Migration) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create meta bucket: %w", err)
	}
	for {
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			version := schemaVersion(tx)
			if version > uint64(len(migrations)) {
				return fmt.Errorf("store: %s has schema version %d, newer than this shipbridge supports (%d): upgrade shipbridge", s.path, version, len(migrations))
			}
			if version == uint64(len(migrations)) {
				done = true
				return nil
			}
			m := migrations[version]
			if err := m.Apply(tx); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", version+1, m.Name, err)
			}
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), itob(version+1))
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func schemaVersion(tx *bolt.Tx) uint64 {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keySchemaVersion))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// SchemaVersion returns the schema version stored in the file.
func (s *Store) SchemaVersion() (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = schemaVersion(tx)
		return nil
	})
	return v, err
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Cursor returns the value of the named poll cursor and whether it is set.
func (s *Store) Cursor(name string) (string, bool, error) {
	var value string
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bucketCursors)).Get([]byte(name)); v != nil {
			value, ok = string(v), true // string() copies
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("store: cursor %q: %w", name, err)
	}
	return value, ok, nil
}

// SetCursor sets the named poll cursor.
func (s *Store) SetCursor(name, value string) error {
	if name == "" {
		return errors.New("store: set cursor: empty name")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketCursors)).Put([]byte(name), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("store: set cursor %q: %w", name, err)
	}
	return nil
}

// OrderRecord is the current state of one MoySklad order as shipbridge knows it.
type OrderRecord struct {
	// ID is the MoySklad customerorder id; Name its number ("00042").
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Carrier is the configured carrier handling the order ("cdek"), empty when none matched.
	Carrier string `json:"carrier,omitempty"`
	// Phase is the workflow phase, owned by the poller (e.g. "submitting", "registered").
	Phase string `json:"phase,omitempty"`
	// Attempt is the registration attempt: 1, then 2, 3, … after deletions.
	Attempt int `json:"attempt,omitempty"`
	// Number is the idempotency number sent to the carrier.
	Number string `json:"number,omitempty"`
	// Reference is the carrier's own reference of the shipment (the CDEK order uuid).
	Reference string `json:"reference,omitempty"`
	// TrackingNumber is the carrier's tracking number (CDEK cdek_number).
	TrackingNumber string `json:"tracking_number,omitempty"`
	// CarrierData is the carrier's opaque data for the shipment
	// (carriers.Registration.CarrierData), kept across crashes.
	CarrierData json.RawMessage `json:"carrier_data,omitempty"`
	// Delivery is the parcel's latest tracking status; zero until tracked.
	Delivery Delivery `json:"delivery,omitzero"`
	// WaybillFor is the carrier reference of the shipment whose waybill is
	// attached to the order; a different Reference means it is stale.
	WaybillFor string `json:"waybill_for,omitempty"`
	// LastUpdated is the MoySklad "updated" value last processed, kept verbatim.
	LastUpdated string `json:"last_updated,omitempty"`
	// LastState is the MoySklad status name last seen.
	LastState string `json:"last_state,omitempty"`
	// Error is the last message shown to the manager, in Russian.
	Error string `json:"error,omitempty"`
	// Pending is data owned by the workflow for its next step (e.g. the outcome to write back).
	Pending json.RawMessage `json:"pending,omitempty"`
	// Open is set by the workflow while the order has unfinished work. Save keeps an index of
	// open orders, so that OpenOrders reads only them however many orders the store holds.
	Open bool `json:"open,omitempty"`
	// NextAttemptAt is when a retry is due; zero when none is scheduled. Retries counts them.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	Retries       int       `json:"retries,omitempty"`
	// CreatedAt and UpdatedAt are set by the store from its clock.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Delivery is what tracking last learnt about a registered parcel.
type Delivery struct {
	// Status is the carrier-neutral status (carriers.TrackStatus).
	Status string `json:"status,omitempty"`
	// Code and Name are the carrier's own status code and Russian name.
	Code string `json:"code,omitempty"`
	Name string `json:"name,omitempty"`
	// At is when the carrier recorded the status; CheckedAt when shipbridge
	// last asked.
	At        time.Time `json:"at,omitzero"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// Event is one entry of an order's history.
type Event struct {
	// Seq orders the events of one order; the store assigns it (1, 2, …).
	Seq uint64 `json:"seq"`
	// At is when it happened; the store sets it from its clock when zero.
	At time.Time `json:"at"`
	// Kind classifies the event: "seen", "carrier_request", "carrier_response",
	// "moysklad_request", "moysklad_response", "status", "error", ….
	Kind string `json:"kind"`
	// Message is a one-line human description.
	Message string `json:"message,omitempty"`
	// Data is the event's details as JSON (a request or response body with secrets removed, …).
	Data json.RawMessage `json:"data,omitempty"`
}

// Order returns the record of the order with the given MoySklad id, and whether it exists.
func (s *Store) Order(id string) (OrderRecord, bool, error) {
	var rec OrderRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, ok, err = getOrder(tx, id)
		return err
	})
	if err != nil {
		return OrderRecord{}, false, fmt.Errorf("store: order %q: %w", id, err)
	}
	return rec, ok, nil
}

// OrderByName returns the record of the order with the given MoySklad name, and whether it exists.
func (s *Store) OrderByName(name string) (OrderRecord, bool, error) {
	var rec OrderRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket([]byte(bucketNames)).Get([]byte(name))
		if id == nil {
			return nil
		}
		var err error
		rec, ok, err = getOrder(tx, string(id))
		return err
	})
	if err != nil {
		return OrderRecord{}, false, fmt.Errorf("store: order named %q: %w", name, err)
	}
	return rec, ok, nil
}

func getOrder(tx *bolt.Tx, id string) (OrderRecord, bool, error) {
	v := tx.Bucket([]byte(bucketOrders)).Get([]byte(id))
	if v == nil {
		return OrderRecord{}, false, nil
	}
	var rec OrderRecord
	// json.Unmarshal copies everything, RawMessage included, out of the mmap'd value.
	if err := json.Unmarshal(v, &rec); err != nil {
		return OrderRecord{}, false, fmt.Errorf("decode: %w", err)
	}
	return rec, true, nil
}

// PutOrder stores rec as the current record of order rec.ID. It sets UpdatedAt from the store's
// clock, and CreatedAt on the first write of the order.
func (s *Store) PutOrder(rec OrderRecord) error {
	return s.Save(rec)
}

// Save stores rec and appends events to its history in one transaction: both are written or
// neither. It sets rec.UpdatedAt (and CreatedAt on the first write) and each event's Seq, and At
// when zero, from the store's clock. This is the call the poller makes after every step.
func (s *Store) Save(rec OrderRecord, events ...Event) error {
	if rec.ID == "" {
		return errors.New("store: save: order record without id")
	}
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, existed, err := getOrder(tx, rec.ID)
		if err != nil {
			return err
		}
		rec.UpdatedAt = now
		switch {
		case existed && !old.CreatedAt.IsZero():
			rec.CreatedAt = old.CreatedAt
		case rec.CreatedAt.IsZero():
			rec.CreatedAt = now
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := tx.Bucket([]byte(bucketOrders)).Put([]byte(rec.ID), data); err != nil {
			return err
		}
		names := tx.Bucket([]byte(bucketNames))
		if existed && old.Name != "" && old.Name != rec.Name {
			if string(names.Get([]byte(old.Name))) == rec.ID {
				if err := names.Delete([]byte(old.Name)); err != nil {
					return err
				}
			}
		}
		if rec.Name != "" {
			if err := names.Put([]byte(rec.Name), []byte(rec.ID)); err != nil {
				return err
			}
		}
		// The index exists from schema version 2 on (Options.Migrations may stop before it).
		if open := tx.Bucket([]byte(bucketOpen)); open != nil {
			if rec.Open {
				err = open.Put([]byte(rec.ID), nil)
			} else {
				err = open.Delete([]byte(rec.ID))
			}
			if err != nil {
				return err
			}
		}
		return appendEvents(tx, rec.ID, now, events)
	})
	if err != nil {
		return fmt.Errorf("store: save order %q: %w", rec.ID, err)
	}
	return nil
}

// Append appends events to the history of the order, in one transaction, without touching its
// record. It sets Seq, and At when zero, like Save.
func (s *Store) Append(orderID string, events ...Event) error {
	if orderID == "" {
		return errors.New("store: append: empty order id")
	}
	if len(events) == 0 {
		return nil
	}
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return appendEvents(tx, orderID, now, events)
	})
	if err != nil {
		return fmt.Errorf("store: append to order %q: %w", orderID, err)
	}
	return nil
}

func appendEvents(tx *bolt.Tx, orderID string, now time.Time, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	b, err := tx.Bucket([]byte(bucketHistory)).CreateBucketIfNotExists([]byte(orderID))
	if err != nil {
		return err
	}
	for _, e := range events {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		if e.At.IsZero() {
			e.At = now
		}
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", e.Kind, err)
		}
		if err := b.Put(itob(seq), data); err != nil {
			return err
		}
	}
	return nil
}

// History returns the events of the order, oldest first; none when the order has no history.
func (s *Store) History(orderID string) ([]Event, error) {
	var events []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketHistory)).Bucket([]byte(orderID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			events = append(events, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: history of order %q: %w", orderID, err)
	}
	return events, nil
}

// ordersPage is how many records Orders reads per transaction.
const ordersPage = 256

// Orders calls fn for every order record, in id order, until fn returns false. Records are read
// in short transactions of a few hundred, and fn runs outside them, so fn may call the store
// (even Save); a record saved during the iteration may or may not be seen.
func (s *Store) Orders(fn func(OrderRecord) bool) error {
	var after []byte
	for {
		var page []OrderRecord
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte(bucketOrders)).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(page) < ordersPage; k, v = c.Next() {
				var rec OrderRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("decode order %q: %w", k, err)
				}
				page = append(page, rec)
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: orders: %w", err)
		}
		for _, rec := range page {
			if !fn(rec) {
				return nil
			}
		}
		if len(page) < ordersPage {
			return nil
		}
	}
}

// OpenOrders calls fn for every order record with Open set (and, in a store migrated from a
// version without the index, every older record with workflow data), in id order, until fn
// returns false. Like Orders, it reads in short transactions and fn may call the store.
func (s *Store) OpenOrders(fn func(OrderRecord) bool) error {
	var after []byte
	for {
		var page []OrderRecord
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucketOpen))
			if b == nil {
				return nil // a store kept at schema version 1 by Options.Migrations
			}
			c := b.Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
				if k != nil && string(k) == string(after) {
					k, _ = c.Next()
				}
			}
			n := 0
			for ; k != nil && n < ordersPage; k, _ = c.Next() {
				n++
				after = append(after[:0], k...)
				rec, ok, err := getOrder(tx, string(k))
				if err != nil {
					return fmt.Errorf("order %q: %w", k, err)
				}
				if ok {
					page = append(page, rec)
				}
			}
			if n < ordersPage {
				after = nil
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: open orders: %w", err)
		}
		for _, rec := range page {
			if !fn(rec) {
				return nil
			}
		}
		if after == nil {
			return nil
		}
	}
}

// Recent returns up to limit order records, most recently updated first (ties by id).
func (s *Store) Recent(limit int) ([]OrderRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	var all []OrderRecord
	if err := s.Orders(func(rec OrderRecord) bool {
		all = append(all, rec)
		return true
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b OrderRecord) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
