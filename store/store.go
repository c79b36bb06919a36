// Package store keeps shipbridge's state in one embedded bbolt file: poll cursors, the current
// record of every order, an order-name index, and every order's append-only history.
//
// Every method is one bbolt transaction (or a few short ones), and every value returned is
// copied out of the transaction. bbolt allows a single writer and any number of readers; the
// file lock also makes a second shipbridge on the same file fail at Open with ErrLocked.
//
// A damaged file never crashes the process: Open checks the file's structure before bbolt maps
// it (see verify.go), and every transaction turns a fault or panic inside bbolt into an error
// wrapping ErrDamaged, after which the store refuses to write.
//
// Layout (bucket → key → value), schema version 4:
//
//	meta     "schema_version" → uint64, big-endian
//	cursors  name             → string
//	orders   order id         → OrderRecord: compressed JSON, or JSON (records.go)
//	names    order name       → order id
//	open     order id         → empty (the orders with OrderRecord.Open set)
//	events   order id, 0x00, seq (uint64, big-endian, so keys sort) → Event (events.go)
//	blobs    order id (a bucket) → name → a file kept for the order (blobs.go; version 4 on)
//
// Versions 1 and 2 kept the history in a bucket per order (history → order id → seq → Event
// JSON); migration 3 moves it into the flat events bucket.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// ErrLocked is returned by Open when another process holds the store file.
var ErrLocked = errors.New("store is locked: another shipbridge is probably running with this store path")

// ErrNewerSchema is wrapped by the error of Open (and Check) for a store written by a newer
// shipbridge. The file is left untouched.
var ErrNewerSchema = errors.New("the store was written by a newer shipbridge")

var errLockTimeout = errors.New("timeout waiting for the file lock")

// Bucket names and keys.
const (
	bucketMeta    = "meta"
	bucketCursors = "cursors"
	bucketOrders  = "orders"
	bucketNames   = "names"
	bucketHistory = "history" // versions 1–2: a bucket per order
	bucketEvents  = "events"  // version 3 on: one flat bucket
	bucketOpen    = "open"

	keySchemaVersion = "schema_version"
)

// fillPercent is how full bbolt packs the pages it splits in the store's buckets. bbolt's
// default, 0.5, leaves pages half empty when keys arrive in order (new orders, new events of
// an order); 0.9 keeps them dense and still leaves room for a record that grows.
const fillPercent = 0.9

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
	// HistoryRetention, when positive, compacts the history of finished orders (not Open)
	// whose last event is older than it into one summary event (CompactHistory); the store
	// does it at most once per CompactEvery, in the background after a Save. 0 keeps every
	// event forever.
	HistoryRetention time.Duration
	// Logger receives what the store does on its own (a backup before a migration, history
	// compaction); nil discards it.
	Logger *zap.Logger
}

// CompactEvery is how often the store compacts old history when Options.HistoryRetention is set.
const CompactEvery = time.Hour

// Migration moves the store from schema version N to N+1, where N is its index in the list of
// migrations. It runs in the same transaction that records the new version, and only once.
// Before it runs on a store that holds data, Open writes a backup of the file next to it.
type Migration struct {
	// Name says what the migration does, for errors and logs.
	Name string
	// Step, when set, runs before Apply, each time in a transaction of its own, until it
	// returns false: for migrations too large for one transaction. It must be resumable (a
	// crash between steps leaves the version unchanged and Open runs the steps again).
	Step func(tx *bolt.Tx) (more bool, err error)
	// Apply changes the data; it must not touch the schema version.
	Apply func(tx *bolt.Tx) error
	// Compact rewrites the file once all migrations have run, so that the space the
	// migration freed is given back to the file system.
	Compact bool
}

// DefaultMigrations returns the schema migrations of this version of shipbridge, in order. Append
// new ones at the end; never edit or remove released ones.
func DefaultMigrations() []Migration {
	codec := newEventCodec()
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
				if err := codec.decodeRecord(v, &rec); err != nil {
					return fmt.Errorf("decode order %q: %w", k, err)
				}
				if !rec.Open && len(rec.Pending) == 0 {
					return nil
				}
				return open.Put(k, nil)
			})
		}},
		{Name: "flat history", Step: flattenHistory(codec), Apply: func(tx *bolt.Tx) error {
			for {
				more, err := flattenHistoryStep(tx, codec)
				if err != nil {
					return err
				}
				if !more {
					break
				}
			}
			if tx.Bucket([]byte(bucketHistory)) == nil {
				return nil
			}
			return tx.DeleteBucket([]byte(bucketHistory))
		}, Compact: true},
		{Name: "blobs", Apply: func(tx *bolt.Tx) error {
			// Files kept for an order outside its record (blobs.go). The
			// records themselves do not change: the workflow moves a file
			// it kept in a record into a blob at its next save.
			_, err := tx.CreateBucketIfNotExists([]byte(bucketBlobs))
			return err
		}},
	}
}

// Store is an open bbolt store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	codec  *eventCodec
	path   string
	now    func() time.Time
	log    *zap.Logger
	noSync bool

	// damaged is set once a transaction hit a damaged page; the store then refuses to write.
	damaged atomic.Bool
	// blobChanges counts the blobs stored and deleted, for releaseMapped.
	blobChanges atomic.Int64
	// backup is the copy Open wrote before migrating, "" when none.
	backup string

	retention   time.Duration
	compactMu   sync.Mutex
	compactLast time.Time // when the last compaction started (store clock)
	compacting  bool
	compactWG   sync.WaitGroup
	closed      bool // under compactMu
}

// Open opens or creates the store at path (mode 0600) and runs the pending migrations. The
// directory must exist. An existing file is checked first (verifyFile): a damaged one gives an
// error wrapping ErrDamaged, one written by a newer shipbridge an error wrapping
// ErrNewerSchema, and neither is written to. When another process holds the file, Open gives
// up after opts.Timeout with an error wrapping ErrLocked.
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
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.HistoryRetention < 0 {
		return nil, fmt.Errorf("store: history retention %s is negative", opts.HistoryRetention)
	}
	if err := checkDir(path); err != nil {
		return nil, err
	}
	s := &Store{path: path, codec: newEventCodec(), now: opts.Now, log: opts.Logger, noSync: opts.NoSync, retention: opts.HistoryRetention}
	if err := s.openDB(opts.Timeout); err != nil {
		return nil, err
	}
	if err := s.migrate(opts.Migrations, opts.Timeout); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// checkDir refuses a store path whose directory does not exist: a mistyped store.path must
// not start a new, empty store (which would sweep every order again and lose the history).
func checkDir(path string) error {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: the directory %s of %s does not exist: check store.path, or create the directory (mode 0700)", dir, path)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("store: %s is not a directory (store.path %s)", dir, path)
	}
	return nil
}

// openDB checks the existing file at s.path under the file lock, then lets bbolt open it.
func (s *Store) openDB(timeout time.Duration) error {
	start := time.Now()
	f, err := os.Open(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// bbolt creates and initialises it.
	case err != nil:
		return fmt.Errorf("store: open %s: %w", s.path, err)
	default:
		err := func() error {
			defer f.Close() // releases the lock
			if err := lockFile(f, timeout); err != nil {
				if errors.Is(err, errLockTimeout) {
					return lockedError(s.path, timeout)
				}
				return fmt.Errorf("store: lock %s: %w", s.path, err)
			}
			info, err := f.Stat()
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			r, err := verifyFile(f, info.Size())
			if err != nil {
				return fmt.Errorf("store: check %s: %w", s.path, err)
			}
			return r.damaged(s.path)
		}()
		if err != nil {
			return err
		}
	}
	if timeout -= time.Since(start); timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	db, err := openBolt(s.path, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return lockedError(s.path, timeout)
		}
		return err
	}
	db.NoSync = s.noSync
	s.db = db
	return nil
}

func lockedError(path string, timeout time.Duration) error {
	return fmt.Errorf("store: open %s: %w (waited %s for the file lock)", path, ErrLocked, timeout)
}

// openBolt is bolt.Open that reports a fault, a panic or an invalid file as damage.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("store: %s: %w: %v", path, ErrDamaged, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	switch {
	case err == nil, errors.Is(err, berrors.ErrTimeout):
		return db, err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("store: %s: %w: %v", path, ErrDamaged, err)
	default:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
}

// view runs a read transaction; a fault or panic inside it (a damaged page) becomes an error.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer s.recoverDamage(&err)
	return s.db.View(fn)
}

// update runs a write transaction like view; once damage was seen it refuses to write.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	if s.damaged.Load() {
		return fmt.Errorf("%w: %s: not written to since a damaged page was found", ErrDamaged, s.path)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer s.recoverDamage(&err)
	return s.db.Update(fn)
}

// recoverDamage is deferred by view and update; it must call recover itself.
func (s *Store) recoverDamage(err *error) {
	if r := recover(); r != nil {
		s.damaged.Store(true)
		*err = fmt.Errorf("%w: %s: %v", ErrDamaged, s.path, r)
	}
}

func (s *Store) migrate(migrations []Migration, timeout time.Duration) error {
	var version uint64
	var hasMeta bool
	err := s.view(func(tx *bolt.Tx) error {
		if hasMeta = tx.Bucket([]byte(bucketMeta)) != nil; hasMeta {
			version = schemaVersion(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if version > uint64(len(migrations)) {
		return fmt.Errorf("store: %s has schema version %d, newer than this shipbridge supports (%d): %w; upgrade shipbridge (the file was not changed)", s.path, version, len(migrations), ErrNewerSchema)
	}
	if version == uint64(len(migrations)) {
		return nil
	}
	if version > 0 {
		if err := s.backupBeforeMigration(version); err != nil {
			return err
		}
	}
	if !hasMeta {
		err := s.update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: create meta bucket: %w", err)
		}
	}
	compact := false
	for v := version; v < uint64(len(migrations)); v++ {
		m := migrations[v]
		for more := m.Step != nil; more; {
			if err := s.update(func(tx *bolt.Tx) error {
				var err error
				more, err = m.Step(tx)
				return err
			}); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", v+1, m.Name, err)
			}
		}
		err := s.update(func(tx *bolt.Tx) error {
			if got := schemaVersion(tx); got != v {
				return fmt.Errorf("schema version changed to %d meanwhile", got)
			}
			if m.Apply != nil {
				if err := m.Apply(tx); err != nil {
					return err
				}
			}
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), itob(v+1))
		})
		if err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", v+1, m.Name, err)
		}
		compact = compact || m.Compact
	}
	if compact && version > 0 {
		if err := s.compactFile(timeout); err != nil {
			return fmt.Errorf("store: compact after migration: %w", err)
		}
	}
	return nil
}

// backupBeforeMigration writes a copy of the store, as it is, next to it before a migration
// changes it: <path>.v<version>-<UTC time>.bak, mode 0600.
func (s *Store) backupBeforeMigration(version uint64) error {
	name := fmt.Sprintf("%s.v%d-%s.bak", s.path, version, s.now().UTC().Format("20060102T150405Z"))
	if err := s.backupTo(name); err != nil {
		return fmt.Errorf("store: backup before migrating from schema version %d (nothing was changed): %w", version, err)
	}
	s.backup = name
	s.log.Info("store backed up before a schema migration", zap.String("backup", name), zap.Uint64("from_version", version))
	return nil
}

// backupTo writes a consistent copy of the store to the new file name (via a temporary file,
// synced, then renamed).
func (s *Store) backupTo(name string) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = s.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// MigrationBackup returns the copy of the store that Open wrote before migrating it, or "".
func (s *Store) MigrationBackup() string { return s.backup }

// compactFile rewrites the store into a new file with bbolt's Compact (dense pages, no free
// ones) and puts it in place of the old one. The lock on the old file is held until the new
// one is in place, so no other shipbridge writes to the old file meanwhile.
func (s *Store) compactFile(timeout time.Duration) (err error) {
	tmp := s.path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout, NoSync: true})
	if err != nil {
		return err
	}
	err = func() (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer s.recoverDamage(&err)
		return bolt.Compact(dst, s.db, 16<<20)
	}()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	return s.openDB(timeout)
}

func schemaVersion(tx *bolt.Tx) uint64 {
	b := tx.Bucket([]byte(bucketMeta))
	if b == nil {
		return 0
	}
	v := b.Get([]byte(keySchemaVersion))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// SchemaVersion returns the schema version stored in the file.
func (s *Store) SchemaVersion() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bolt.Tx) error {
		v = schemaVersion(tx)
		return nil
	})
	return v, err
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close waits for a history compaction in progress, then releases the file and its lock.
func (s *Store) Close() error {
	s.compactMu.Lock()
	s.closed = true
	s.compactMu.Unlock()
	s.compactWG.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Cursor returns the value of the named poll cursor and whether it is set.
func (s *Store) Cursor(name string) (string, bool, error) {
	var value string
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
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
	err := s.update(func(tx *bolt.Tx) error {
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
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		rec, ok, err = getOrder(tx, s.codec, id)
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
	err := s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket([]byte(bucketNames)).Get([]byte(name))
		if id == nil {
			return nil
		}
		var err error
		rec, ok, err = getOrder(tx, s.codec, string(id))
		return err
	})
	if err != nil {
		return OrderRecord{}, false, fmt.Errorf("store: order named %q: %w", name, err)
	}
	return rec, ok, nil
}

func getOrder(tx *bolt.Tx, c *eventCodec, id string) (OrderRecord, bool, error) {
	v := tx.Bucket([]byte(bucketOrders)).Get([]byte(id))
	if v == nil {
		return OrderRecord{}, false, nil
	}
	var rec OrderRecord
	if err := c.decodeRecord(v, &rec); err != nil {
		return OrderRecord{}, false, err
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
	return s.save(rec, nil, events)
}

// save is Save; also runs in the transaction, after the record is written, when set.
func (s *Store) save(rec OrderRecord, also func(*bolt.Tx) error, events []Event) error {
	if rec.ID == "" {
		return errors.New("store: save: order record without id")
	}
	if err := validOrderID(rec.ID); err != nil {
		return fmt.Errorf("store: save: %w", err)
	}
	now := s.now()
	err := s.update(func(tx *bolt.Tx) error {
		if err := s.saveTx(tx, now, rec, events); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save order %q: %w", rec.ID, err)
	}
	s.maybeCompactHistory(now)
	return nil
}

// saveTx is Save within the write transaction tx, with now as the store's
// time.
func (s *Store) saveTx(tx *bolt.Tx, now time.Time, rec OrderRecord, events []Event) error {
	old, existed, err := getOrder(tx, s.codec, rec.ID)
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
	var data []byte
	if tx.Bucket([]byte(bucketEvents)) != nil {
		data, err = s.codec.encodeRecord(rec) // compressed from schema version 3 on
	} else {
		data, err = json.Marshal(rec)
	}
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	orders := tx.Bucket([]byte(bucketOrders))
	orders.FillPercent = fillPercent
	if err := orders.Put([]byte(rec.ID), data); err != nil {
		return err
	}
	names := tx.Bucket([]byte(bucketNames))
	names.FillPercent = fillPercent
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
		open.FillPercent = fillPercent
		if rec.Open {
			err = open.Put([]byte(rec.ID), nil)
		} else {
			err = open.Delete([]byte(rec.ID))
		}
		if err != nil {
			return err
		}
	}
	return appendEvents(tx, s.codec, rec.ID, now, events)
}

// Batch is one write transaction holding many orders' saves and appends
// (see Store.Batch). It is valid only inside the function given to
// Store.Batch.
type Batch struct {
	s   *Store
	tx  *bolt.Tx
	now time.Time
}

// Batch runs fn in one write transaction: the Saves and Appends fn makes
// through b are all written, with one fsync, or none of them when fn
// returns an error or the commit fails. It is for many small writes at once
// (a tracking pass saves each checked shipment): one transaction per record
// costs an fsync each. fn must not call the Store's own methods.
func (s *Store) Batch(fn func(b *Batch) error) error {
	now := s.now()
	err := s.update(func(tx *bolt.Tx) error { return fn(&Batch{s: s, tx: tx, now: now}) })
	if err != nil {
		return fmt.Errorf("store: batch: %w", err)
	}
	s.maybeCompactHistory(now)
	return nil
}

// Order returns the record of the order as the batch's transaction sees
// it (with the batch's earlier saves), and whether it exists.
func (b *Batch) Order(id string) (OrderRecord, bool, error) {
	rec, ok, err := getOrder(b.tx, b.s.codec, id)
	if err != nil {
		return OrderRecord{}, false, fmt.Errorf("order %q: %w", id, err)
	}
	return rec, ok, nil
}

// Save is Store.Save within the batch's transaction.
func (b *Batch) Save(rec OrderRecord, events ...Event) error {
	if rec.ID == "" {
		return errors.New("save: order record without id")
	}
	if err := validOrderID(rec.ID); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := b.s.saveTx(b.tx, b.now, rec, events); err != nil {
		return fmt.Errorf("save order %q: %w", rec.ID, err)
	}
	return nil
}

// Append is Store.Append within the batch's transaction.
func (b *Batch) Append(orderID string, events ...Event) error {
	if orderID == "" {
		return errors.New("append: empty order id")
	}
	if err := appendEvents(b.tx, b.s.codec, orderID, b.now, events); err != nil {
		return fmt.Errorf("append to order %q: %w", orderID, err)
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
	err := s.update(func(tx *bolt.Tx) error {
		return appendEvents(tx, s.codec, orderID, now, events)
	})
	if err != nil {
		return fmt.Errorf("store: append to order %q: %w", orderID, err)
	}
	return nil
}

// History returns the events of the order, oldest first; none when the order has no history.
func (s *Store) History(orderID string) ([]Event, error) {
	var events []Event
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		events, err = readHistory(tx, s.codec, orderID)
		return err
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
		err := s.view(func(tx *bolt.Tx) error {
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
				if err := s.codec.decodeRecord(v, &rec); err != nil {
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
		err := s.view(func(tx *bolt.Tx) error {
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
				rec, ok, err := getOrder(tx, s.codec, string(k))
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
