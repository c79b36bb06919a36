package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CheckReport is what Check found in a store file.
type CheckReport struct {
	// Path is the file checked; Size its length in bytes.
	Path string
	Size int64
	// PageSize, Pages (bbolt's high-water mark) and FreePages describe the file's pages.
	PageSize  int
	Pages     uint64
	FreePages int
	// SchemaVersion is the store's; Supported the newest this shipbridge knows.
	SchemaVersion uint64
	Supported     uint64
	// Orders and Events count the records and history events that were read and decoded.
	Orders int
	Events int
	// Blobs and BlobBytes count the files kept for orders outside their records (blobs.go).
	Blobs     int
	BlobBytes int64
	// Problems lists the damage found (at most a few dozen); empty when the file is sound.
	Problems []string
}

// Check examines the store at path without changing it: the structure of every page (as Open
// does), then bbolt's own consistency check (Tx.Check), then it decodes every order record and
// history event, and that every blob belongs to an order record. It takes the file lock like Open (ErrLocked when a shipbridge holds it). The
// error wraps ErrDamaged when problems were found, and ErrNewerSchema for a store of a newer
// shipbridge; a missing directory or file is an error as well.
func Check(path string, opts Options) (CheckReport, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLockTimeout
	}
	if opts.Migrations == nil {
		opts.Migrations = DefaultMigrations()
	}
	r := CheckReport{Path: path, Supported: uint64(len(opts.Migrations))}
	if err := checkDir(path); err != nil {
		return r, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("store: no store at %s: %w", path, err)
	}
	if err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	fr, err := func() (fileReport, error) {
		defer f.Close()
		if err := lockFile(f, opts.Timeout); err != nil {
			if errors.Is(err, errLockTimeout) {
				return fileReport{}, lockedError(path, opts.Timeout)
			}
			return fileReport{}, fmt.Errorf("store: lock %s: %w", path, err)
		}
		info, err := f.Stat()
		if err != nil {
			return fileReport{}, fmt.Errorf("store: %w", err)
		}
		fr, err := verifyFile(f, info.Size())
		if err != nil {
			return fr, fmt.Errorf("store: check %s: %w", path, err)
		}
		return fr, nil
	}()
	r.Size, r.PageSize, r.Pages, r.FreePages, r.Problems = fr.Size, fr.PageSize, fr.Pages, fr.Free, fr.Problems
	if err != nil {
		return r, err
	}
	if err := fr.damaged(path); err != nil {
		return r, err
	}

	// The structure is sound, so bbolt may map the file. Read-only: nothing is written.
	db, err := openBolt(path, &bolt.Options{Timeout: opts.Timeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			r.Problems = append(r.Problems, err.Error())
		}
		return r, err
	}
	s := &Store{db: db, path: path, codec: newEventCodec(), now: time.Now}
	defer db.Close()
	add := func(format string, args ...any) error {
		if len(r.Problems) >= maxProblems {
			return errors.New("too many problems")
		}
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		return nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if add("bbolt check: %v", err) != nil {
				break
			}
		}
		r.SchemaVersion = schemaVersion(tx)
		if r.SchemaVersion > r.Supported {
			return nil // the data may be in a layout this version does not know
		}
		if b := tx.Bucket([]byte(bucketOrders)); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var rec OrderRecord
				if err := s.codec.decodeRecord(v, &rec); err != nil {
					return add("order %q: record does not decode: %v", k, err)
				}
				r.Orders++
				return nil
			})
			if err != nil {
				return nil
			}
		}
		if b := tx.Bucket([]byte(bucketEvents)); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
				if len(k) < 10 || k[len(k)-9] != 0 {
					return add("history key %q is not order id, 0, sequence number", k)
				}
				if _, err := s.codec.decode(k[len(k)-8:], v); err != nil {
					return add("history of order %q: %v", k[:len(k)-9], err)
				}
				r.Events++
				return nil
			})
		}
		if b := tx.Bucket([]byte(bucketBlobs)); b != nil {
			orders := tx.Bucket([]byte(bucketOrders))
			_ = b.ForEach(func(id, v []byte) error {
				o := b.Bucket(id)
				switch {
				case o == nil:
					return add("blobs: %q is not an order's bucket", id)
				case orders == nil || orders.Get(id) == nil:
					// Written in the same transaction as its record: an orphan
					// is a fault, not a crash's leftover.
					return add("blobs of order %q: the order has no record", id)
				}
				return o.ForEach(func(_, v []byte) error {
					r.Blobs++
					r.BlobBytes += int64(len(v))
					return nil
				})
			})
		}
		if h := tx.Bucket([]byte(bucketHistory)); h != nil {
			_ = h.ForEachBucket(func(id []byte) error {
				return h.Bucket(id).ForEach(func(_, v []byte) error {
					var e Event
					if err := json.Unmarshal(v, &e); err != nil {
						return add("history of order %q: event does not decode: %v", id, err)
					}
					r.Events++
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	if len(r.Problems) > 0 {
		return r, fileReport{Problems: r.Problems}.damaged(path)
	}
	if r.SchemaVersion > r.Supported {
		return r, fmt.Errorf("store: %s has schema version %d, newer than this shipbridge supports (%d): %w; upgrade shipbridge", path, r.SchemaVersion, r.Supported, ErrNewerSchema)
	}
	return r, nil
}
