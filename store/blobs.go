package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Blobs are files kept for an order outside its record, from schema version 4 on: a waybill
// PDF waiting to be written back to MoySklad, for instance. The record stays small (it is
// decoded and encoded at every save), and a caller that needs the file reads it when it uses
// it instead of holding it in memory meanwhile. A blob is stored and deleted in the same
// transaction as the record that refers to it (SaveBlob), so the two never disagree after a
// crash.
//
//	blobs   order id (a bucket) → name → the content, as given
//
// Each order's blobs are a bucket of their own: bbolt keeps at least four values in a leaf
// however large they are, so in one flat bucket every put or delete of a 40 KB waybill would
// read and rewrite three others.
const bucketBlobs = "blobs"

// errNoBlobs is returned when a blob is stored in a store kept at a schema version without
// blobs (Options.Migrations).
var errNoBlobs = errors.New("the store's schema version has no blobs bucket")

// SaveBlob is Save that also stores the order's blob of the given name (replacing one of the
// same name), or deletes it when content is nil, in the same transaction as the record and
// the events: a record that refers to a blob and the blob are written (or deleted) together.
// Deleting a blob that does not exist is no error.
func (s *Store) SaveBlob(rec OrderRecord, name string, content []byte, events ...Event) error {
	if name == "" {
		return errors.New("store: save blob: empty name")
	}
	changed := false
	err := s.save(rec, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketBlobs))
		switch {
		case b == nil && content == nil:
			return nil
		case b == nil:
			return errNoBlobs
		case content == nil:
			o := b.Bucket([]byte(rec.ID))
			if o == nil {
				return nil
			}
			changed = true
			if err := o.Delete([]byte(name)); err != nil {
				return err
			}
			if k, _ := o.Cursor().First(); k == nil {
				return b.DeleteBucket([]byte(rec.ID))
			}
			return nil
		}
		b.FillPercent = fillPercent
		o, err := b.CreateBucketIfNotExists([]byte(rec.ID))
		if err != nil {
			return err
		}
		changed = true
		return o.Put([]byte(name), content)
	}, events)
	if err == nil && changed && s.blobChanges.Add(1)%releaseEvery == 0 {
		s.releaseMapped()
	}
	return err
}

// ReadBlob calls fn with the content of the order's blob of the given name, inside a read
// transaction: the slice is the store file's mapped memory, valid only during fn, and must
// be neither kept nor changed. found is false (and fn not called) when there is none.
func (s *Store) ReadBlob(orderID, name string, fn func(content []byte) error) (found bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketBlobs))
		if b == nil {
			return nil
		}
		o := b.Bucket([]byte(orderID))
		if o == nil {
			return nil
		}
		v := o.Get([]byte(name))
		if v == nil {
			return nil
		}
		found = true
		// The mapping cannot move during the transaction (bbolt remaps
		// only under its exclusive lock).
		defer dropPages(addrOf(v), uintptr(len(v)), s.db.Info().Data, tx.Size())
		return fn(v)
	})
	if err != nil {
		return found, fmt.Errorf("store: blob %q of order %q: %w", name, orderID, err)
	}
	return found, nil
}

// BlobSize returns the length of the order's blob of the given name, and whether it exists.
func (s *Store) BlobSize(orderID, name string) (int, bool, error) {
	n := 0
	found, err := s.ReadBlob(orderID, name, func(v []byte) error {
		n = len(v)
		return nil
	})
	return n, found, err
}

// releaseEvery is how many blobs are stored or deleted between two releases of the store file's
// mapped pages (releaseMapped).
const releaseEvery = 32

// releaseMapped gives back every resident page of the store file's mapping (see dropPages):
// bbolt reads through the mapping, and the kernel maps up to 16 neighbouring pages at each
// fault (fault-around), so the blobs written and freed between the pages that are read —
// waybills that were sent long ago — would otherwise stay resident, megabytes of them. The
// pages in use fault in again (minor faults: they are in the page cache).
func (s *Store) releaseMapped() {
	_ = s.view(func(tx *bolt.Tx) error {
		base := s.db.Info().Data
		dropPages(base, uintptr(tx.Size()), base, tx.Size())
		return nil
	})
}
