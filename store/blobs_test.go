package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func readBlob(t *testing.T, s *Store, id, name string) ([]byte, bool) {
	t.Helper()
	var got []byte
	found, err := s.ReadBlob(id, name, func(b []byte) error {
		got = bytes.Clone(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, found
}

func pdf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// A blob is stored with its record and events, read and sized, kept across a
// restart, and deleted with a later save; deleting one that is not there is
// no error.
func TestBlobStoredReadDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := pdf(40<<10, 1)
	rec := OrderRecord{ID: "o-1", Name: "00001", Open: true, Pending: []byte(`{"write_back":{"waybill_stored":true}}`)}
	if err := s.SaveBlob(rec, "waybill", content, Event{Kind: "waybill"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := readBlob(t, s, "o-1", "waybill"); !ok || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, %v", len(got), ok)
	}
	if n, ok, err := s.BlobSize("o-1", "waybill"); err != nil || !ok || n != len(content) {
		t.Fatalf("size %d, %v, %v", n, ok, err)
	}
	if _, ok := readBlob(t, s, "o-1", "other"); ok {
		t.Fatal("a blob of another name")
	}
	if _, ok := readBlob(t, s, "o-2", "waybill"); ok {
		t.Fatal("a blob of another order")
	}
	if h, _ := s.History("o-1"); len(h) != 1 {
		t.Fatalf("history %v", h)
	}

	// A crash after the save: both are there.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, ok := readBlob(t, s, "o-1", "waybill"); !ok || !bytes.Equal(got, content) {
		t.Fatalf("after reopening: %d bytes, %v", len(got), ok)
	}

	// Other saves of the record keep it; the one that deletes it removes
	// the order's bucket too.
	if err := s.Save(rec, Event{Kind: "retry"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readBlob(t, s, "o-1", "waybill"); !ok {
		t.Fatal("a plain save deleted the blob")
	}
	rec.Pending, rec.Open = []byte(`{"settled":true}`), false
	if err := s.SaveBlob(rec, "waybill", nil, Event{Kind: "status"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readBlob(t, s, "o-1", "waybill"); ok {
		t.Fatal("deleted blob still read")
	}
	if got, _, _ := s.Order("o-1"); got.Open || string(got.Pending) != `{"settled":true}` {
		t.Fatalf("record %+v", got)
	}
	err = s.view(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucketBlobs)).Bucket([]byte("o-1")) != nil {
			return errors.New("the order's blob bucket is left empty")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBlob(rec, "waybill", nil); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	if err := s.SaveBlob(rec, "", nil); err == nil {
		t.Fatal("a blob without a name")
	}
	if h, _ := s.History("o-1"); len(h) != 3 {
		t.Fatalf("history has %d events", len(h))
	}
	rep, err := Check(path+".missing", Options{})
	_ = rep
	if err == nil {
		t.Fatal("check of a missing file")
	}
}

// Replacing a blob keeps the last content; blobs of several names of one
// order live side by side.
func TestBlobReplacedAndNamed(t *testing.T) {
	s, _ := openTemp(t)
	rec := OrderRecord{ID: "o-1"}
	for i, c := range [][]byte{pdf(100, 1), pdf(50<<10, 2), pdf(10, 3)} {
		if err := s.SaveBlob(rec, "waybill", c); err != nil {
			t.Fatal(err)
		}
		if got, ok := readBlob(t, s, "o-1", "waybill"); !ok || !bytes.Equal(got, c) {
			t.Fatalf("content %d: %d bytes, %v", i, len(got), ok)
		}
	}
	if err := s.SaveBlob(rec, "label", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBlob(rec, "waybill", nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := readBlob(t, s, "o-1", "label"); !ok || string(got) != "x" {
		t.Fatalf("the other blob: %q, %v", got, ok)
	}
}

// A store kept at schema version 3 (Options.Migrations) has no blobs: a
// blob cannot be stored there, deleting one is no error.
func TestBlobWithoutTheBucket(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "shipbridge.db"), Options{Migrations: DefaultMigrations()[:3]})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SaveBlob(OrderRecord{ID: "o-1"}, "waybill", []byte("x")); !errors.Is(err, errNoBlobs) {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := s.Order("o-1"); ok {
		t.Fatal("the record was saved without its blob")
	}
	if err := s.SaveBlob(OrderRecord{ID: "o-1"}, "waybill", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := readBlob(t, s, "o-1", "waybill"); ok {
		t.Fatal("a blob read")
	}
}

// Migration 4 adds the blobs bucket to a schema-3 store, after a backup,
// and leaves its records alone.
func TestMigrationToBlobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	old, err := Open(path, Options{Migrations: DefaultMigrations()[:3]})
	if err != nil {
		t.Fatal(err)
	}
	pending := []byte(`{"write_back":{"waybill":{"Filename":"w.pdf","Content":"JVBERi0="}}}`)
	if err := old.Save(OrderRecord{ID: "o-1", Name: "1", Open: true, Pending: pending}, Event{Kind: "seen"}); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != 4 {
		t.Fatalf("schema version %d", v)
	}
	if s.MigrationBackup() == "" {
		t.Error("no backup before the migration")
	} else if _, err := os.Stat(s.MigrationBackup()); err != nil {
		t.Error(err)
	}
	if rec, ok, err := s.Order("o-1"); err != nil || !ok || string(rec.Pending) != string(pending) || !rec.Open {
		t.Fatalf("record after migration: %+v %v %v", rec, ok, err)
	}
	if err := s.SaveBlob(OrderRecord{ID: "o-1"}, "waybill", []byte("%PDF-")); err != nil {
		t.Fatal(err)
	}
}

// Check counts the blobs, and reports one whose order has no record.
func TestCheckBlobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.SaveBlob(OrderRecord{ID: fmt.Sprint("o-", i)}, "waybill", pdf(1000*(i+1), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(path, Options{})
	if err != nil || rep.Blobs != 3 || rep.BlobBytes != 6000 {
		t.Fatalf("check: %+v, %v", rep, err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		o, err := tx.Bucket([]byte(bucketBlobs)).CreateBucket([]byte("gone"))
		if err != nil {
			return err
		}
		return o.Put([]byte("waybill"), []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Check(path, Options{})
	if !errors.Is(err, ErrDamaged) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], `"gone"`) {
		t.Fatalf("check of an orphan blob: %v, %q", err, rep.Problems)
	}
}

// Reading blobs gives their pages of the file's mapping back (dropPages),
// and only those: small blobs live in inline buckets, which bbolt may hand
// out as a heap copy, and the heap must not be touched. Everything stored
// reads back intact after many reads and releases.
func TestBlobReadsLeaveTheStoreIntact(t *testing.T) {
	s, _ := openTemp(t)
	type want struct {
		id      string
		content []byte
	}
	var all []want
	for i := range 300 {
		// Ids of every length, so that inline buckets sit at every
		// alignment; small and large blobs.
		id := strings.Repeat("x", i%13) + strconv.Itoa(i)
		n := 1 + i%97
		if i%5 == 0 {
			n = 40<<10 + i
		}
		c := pdf(n, byte(i))
		if err := s.SaveBlob(OrderRecord{ID: id, Name: "n" + id, Pending: []byte(fmt.Sprintf(`{"i":%d}`, i))}, "waybill", c, Event{Kind: "k"}); err != nil {
			t.Fatal(err)
		}
		all = append(all, want{id, c})
	}
	keep := make([][]byte, 0, len(all))
	for round := range 3 {
		for i, w := range all {
			got, ok := readBlob(t, s, w.id, "waybill")
			if !ok || !bytes.Equal(got, w.content) {
				t.Fatalf("round %d: blob %d: %d bytes, %v", round, i, len(got), ok)
			}
			keep = append(keep, got) // live heap around the reads
			rec, ok, err := s.Order(w.id)
			if err != nil || !ok || string(rec.Pending) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Fatalf("round %d: record %d: %+v %v %v", round, i, rec, ok, err)
			}
		}
		s.releaseMapped()
		runtime.GC()
	}
	for i, k := range keep {
		if w := all[i%len(all)]; !bytes.Equal(k, w.content) {
			t.Fatalf("copy %d changed after the reads", i)
		}
	}
}
