package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// sampleStore writes a closed store with n orders of 3 events each, big enough for branch
// pages, and returns its path and bytes.
func sampleStore(t *testing.T, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	s, err := Open(path, Options{NoSync: true, Now: newClock().now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := OrderRecord{ID: fmt.Sprintf("id-%05d", i), Name: fmt.Sprintf("%05d", i), Carrier: "cdek", Phase: "registered", Open: i%7 == 0}
		if err := s.Save(rec, Event{Kind: "seen", Message: "В МойСклад: статус «Готов к отгрузке»"},
			Event{Kind: "carrier_exchange", Data: json.RawMessage(`{"system":"cdek","status":200}`)},
			Event{Kind: "status", Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCursor("customerorder", "2026-03-01 10:00:00.000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func writeCopy(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantDamaged(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("%s: err = %v, want ErrDamaged", what, err)
	}
	if !strings.Contains(err.Error(), "the store is damaged: restore a backup (see README)") {
		t.Fatalf("%s: message %q does not tell what to do", what, err)
	}
}

// useEverything calls every read and write of the store; none may panic (the test process
// would die on a fault). It returns the first error.
func useEverything(s *Store) error {
	var errs []error
	_, _, err := s.Cursor("customerorder")
	errs = append(errs, err)
	var ids []string
	errs = append(errs, s.Orders(func(r OrderRecord) bool { ids = append(ids, r.ID); return true }))
	errs = append(errs, s.OpenOrders(func(OrderRecord) bool { return true }))
	for i := range 400 {
		id := fmt.Sprintf("id-%05d", i)
		_, _, err := s.Order(id)
		errs = append(errs, err)
		_, _, err = s.OrderByName(fmt.Sprintf("%05d", i))
		errs = append(errs, err)
		_, err = s.History(id)
		errs = append(errs, err)
	}
	_, err = s.Recent(10)
	errs = append(errs, err)
	_, err = s.Backup(&bytes.Buffer{})
	errs = append(errs, err)
	errs = append(errs, s.Save(OrderRecord{ID: "id-00001", Name: "00001"}, Event{Kind: "status"}))
	errs = append(errs, s.Append("id-00002", Event{Kind: "status"}))
	return errors.Join(errs...)
}

func TestOpenRefusesCutFile(t *testing.T) {
	_, data := sampleStore(t, 300)
	r, err := verifyFile(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(r.Problems) > 0 {
		t.Fatalf("sound file: %v %v", r.Problems, err)
	}
	ps := int64(r.PageSize)
	end := int64(r.Pages) * ps
	for _, size := range []int64{0, 100, ps, 2 * ps, 3*ps + 17, end / 2, end - ps, end - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := writeCopy(t, data[:size])
			_, err := Open(path, Options{})
			wantDamaged(t, "Open", err)
			rep, err := Check(path, Options{})
			wantDamaged(t, "Check", err)
			if len(rep.Problems) == 0 {
				t.Error("Check reported no problem")
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data[:size]) {
				t.Error("the damaged file was changed")
			}
		})
	}
}

// TestOpenRefusesOverwrittenPages overwrites, one at a time, each page of a store: the page
// header, the element table, or the whole page with random bytes. Open must refuse every
// overwritten page in use; when it opens (a free page, or damage inside a value), no call may
// panic or fault.
func TestOpenRefusesOverwrittenPages(t *testing.T) {
	_, data := sampleStore(t, 300)
	r, _ := verifyFile(bytes.NewReader(data), int64(len(data)))
	ps := r.PageSize
	rng := rand.New(rand.NewPCG(1, 2))
	detected := 0
	for id := 2; id < int(r.Pages); id++ {
		for _, how := range []string{"header", "elements", "random"} {
			bad := bytes.Clone(data)
			page := bad[id*ps : (id+1)*ps]
			switch how {
			case "header":
				copy(page, bytes.Repeat([]byte{0xA5}, 16))
			case "elements":
				for i := 16; i < 80; i++ {
					page[i] = byte(rng.IntN(256))
				}
			case "random":
				for i := range page {
					page[i] = byte(rng.IntN(256))
				}
			}
			path := writeCopy(t, bad)
			s, err := Open(path, Options{})
			if err != nil {
				wantDamaged(t, fmt.Sprintf("page %d %s", id, how), err)
				detected++
				if _, cerr := Check(path, Options{}); !errors.Is(cerr, ErrDamaged) {
					t.Errorf("page %d %s: Open refused it but Check says %v", id, how, cerr)
				}
				continue
			}
			if r.inUse[id] && how != "elements" {
				t.Errorf("page %d (in use) with its %s overwritten was opened", id, how)
			}
			if err := useEverything(s); err != nil && !errors.Is(err, ErrDamaged) && !strings.Contains(err.Error(), "decode") {
				t.Errorf("page %d %s: unexpected error %v", id, how, err)
			}
			_ = s.Close()
		}
	}
	if detected == 0 {
		t.Fatal("no overwritten page was detected")
	}
}

// TestDamageAfterOpenIsAnError cuts the file under an open store: bbolt's memory map then
// points past the end of the file, which faults (SIGBUS). Every call must return an error
// wrapping ErrDamaged, and the store must stop writing.
func TestDamageAfterOpenIsAnError(t *testing.T) {
	path, _ := sampleStore(t, 300)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, 8192); err != nil {
		t.Fatal(err)
	}
	_, err = s.History("id-00299")
	wantDamaged(t, "History", err)
	err = s.Orders(func(OrderRecord) bool { return true })
	wantDamaged(t, "Orders", err)
	err = s.Save(OrderRecord{ID: "new"}, Event{Kind: "seen"})
	wantDamaged(t, "Save after damage", err)
	if err := useEverything(s); err == nil {
		t.Fatal("a damaged store answered every call")
	}
}

func TestOpenRefusesNewerSchemaWithoutWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	extra := append(DefaultMigrations(), Migration{Name: "future", Apply: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("future"))
		return err
	}})
	s, err := Open(path, Options{Migrations: extra})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(OrderRecord{ID: "o", Name: "1"}, Event{Kind: "seen"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	before, _ := os.ReadFile(path)
	info0, _ := os.Stat(path)

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade shipbridge") ||
		!strings.Contains(err.Error(), fmt.Sprintf("schema version %d", len(extra))) {
		t.Fatalf("Open: err = %v, want ErrNewerSchema naming the version", err)
	}
	rep, err := Check(path, Options{})
	if !errors.Is(err, ErrNewerSchema) || rep.SchemaVersion != uint64(len(extra)) || len(rep.Problems) != 0 {
		t.Fatalf("Check: %+v, %v", rep, err)
	}
	after, _ := os.ReadFile(path)
	info1, _ := os.Stat(path)
	if sha256.Sum256(before) != sha256.Sum256(after) || !info0.ModTime().Equal(info1.ModTime()) {
		t.Fatal("the newer store was written to")
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Fatalf("files left next to the store: %v", m)
	}
}

func TestOpenRefusesMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	path := filepath.Join(dir, "shipbridge.db")
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open: err = %v", err)
	}
	if _, err := Check(path, Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Check: err = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the directory was created: %v", err)
	}
}

func TestCheckSoundStore(t *testing.T) {
	path, data := sampleStore(t, 300)
	rep, err := Check(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 300 || rep.Events != 900 || rep.SchemaVersion != rep.Supported || len(rep.Problems) != 0 || rep.Size != int64(len(data)) {
		t.Fatalf("report %+v", rep)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("Check changed the file")
	}
	// A value that does not decode is damage too, though every page is sound.
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEvents)).Put(eventKey(historyPrefix("id-00003"), 2), []byte{9, 9})
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rep, err = Check(path, Options{})
	wantDamaged(t, "Check of a bad value", err)
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "id-00003") {
		t.Fatalf("problems %q", rep.Problems)
	}
}

func TestCheckLocked(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := Check(s.Path(), Options{Timeout: 100e6}); !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
}
