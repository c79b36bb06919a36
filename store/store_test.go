package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a manual clock for the store; each call to now advances it by one second.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openTemp(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := newClock()
	s, err := Open(filepath.Join(t.TempDir(), "shipbridge.db"), Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, c
}

func TestOpenCreatesFile0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %v, want 0600", mode)
	}
	if v, err := s.SchemaVersion(); err != nil || v != uint64(len(DefaultMigrations())) {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(DefaultMigrations()))
	}
}

func TestSecondOpenFailsFastWithErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another shipbridge is probably running") || !strings.Contains(err.Error(), path) {
		t.Errorf("message %q should name the path and the likely cause", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("second Open took %s, want about the 100ms timeout", elapsed)
	}

	// Once the first holder closes, the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = s2.Close()
}

func TestCursor(t *testing.T) {
	s, _ := openTemp(t)
	if v, ok, err := s.Cursor("customerorder"); err != nil || ok || v != "" {
		t.Fatalf("unset cursor = %q, %v, %v", v, ok, err)
	}
	if err := s.SetCursor("customerorder", "2026-03-01 10:00:00.123"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("sweep", ""); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Cursor("customerorder"); err != nil || !ok || v != "2026-03-01 10:00:00.123" {
		t.Fatalf("cursor = %q, %v, %v", v, ok, err)
	}
	if v, ok, err := s.Cursor("sweep"); err != nil || !ok || v != "" {
		t.Fatalf("empty cursor = %q, %v, %v; want set and empty", v, ok, err)
	}
	if err := s.SetCursor("", "x"); err == nil {
		t.Error("SetCursor with an empty name should fail")
	}
}

func TestPutOrderAndLookups(t *testing.T) {
	s, _ := openTemp(t)
	if _, ok, err := s.Order("nope"); ok || err != nil {
		t.Fatalf("missing order: ok=%v err=%v", ok, err)
	}
	if _, ok, err := s.OrderByName("nope"); ok || err != nil {
		t.Fatalf("missing name: ok=%v err=%v", ok, err)
	}
	rec := OrderRecord{
		ID: "5f0c-1", Name: "00042", Carrier: "cdek", Phase: "submitting", Attempt: 1,
		Number: "00042", Pending: json.RawMessage(`{"state":"registered"}`),
		NextAttemptAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Retries: 2,
	}
	if err := s.PutOrder(rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Order("5f0c-1")
	if err != nil || !ok {
		t.Fatalf("Order: ok=%v err=%v", ok, err)
	}
	if got.Name != "00042" || got.Phase != "submitting" || string(got.Pending) != `{"state":"registered"}` ||
		!got.NextAttemptAt.Equal(rec.NextAttemptAt) || got.Retries != 2 {
		t.Errorf("round trip lost data: %+v", got)
	}
	if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Errorf("CreatedAt %v UpdatedAt %v: both should be set from the clock", got.CreatedAt, got.UpdatedAt)
	}
	byName, ok, err := s.OrderByName("00042")
	if err != nil || !ok || byName.ID != "5f0c-1" {
		t.Fatalf("OrderByName = %+v, %v, %v", byName, ok, err)
	}

	// A second write keeps CreatedAt, moves UpdatedAt and re-indexes a renamed order.
	got.Name = "00042-A"
	got.Phase = "registered"
	if err := s.PutOrder(got); err != nil {
		t.Fatal(err)
	}
	again, _, _ := s.Order("5f0c-1")
	if !again.CreatedAt.Equal(got.CreatedAt) || !again.UpdatedAt.After(got.UpdatedAt) {
		t.Errorf("timestamps after update: created %v→%v updated %v→%v", got.CreatedAt, again.CreatedAt, got.UpdatedAt, again.UpdatedAt)
	}
	if _, ok, _ := s.OrderByName("00042"); ok {
		t.Error("old name still indexed after rename")
	}
	if r, ok, _ := s.OrderByName("00042-A"); !ok || r.Phase != "registered" {
		t.Errorf("new name lookup = %+v, %v", r, ok)
	}
	if err := s.PutOrder(OrderRecord{Name: "no id"}); err == nil {
		t.Error("PutOrder without id should fail")
	}
}

func TestSaveAppendsEventsAtomically(t *testing.T) {
	s, _ := openTemp(t)
	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.Save(OrderRecord{ID: "o1", Name: "1"},
		Event{Kind: "seen", Message: "status Готов к отгрузке"},
		Event{Kind: "carrier_request", Data: json.RawMessage(`{"number":"1"}`), At: fixed},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append("o1", Event{Kind: "carrier_response", Message: "202"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(OrderRecord{ID: "o1", Name: "1", Phase: "registered"}, Event{Kind: "status"}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History("o1")
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(h))
	for i, e := range h {
		kinds[i] = fmt.Sprintf("%d:%s", e.Seq, e.Kind)
		if e.At.IsZero() {
			t.Errorf("event %d has no time", e.Seq)
		}
	}
	if got := strings.Join(kinds, " "); got != "1:seen 2:carrier_request 3:carrier_response 4:status" {
		t.Errorf("history = %s", got)
	}
	if !h[1].At.Equal(fixed) || string(h[1].Data) != `{"number":"1"}` {
		t.Errorf("explicit time or data lost: %+v", h[1])
	}
	rec, _, _ := s.Order("o1")
	if !h[3].At.Equal(rec.UpdatedAt) {
		t.Errorf("Save should stamp the record and its events with one time: %v vs %v", h[3].At, rec.UpdatedAt)
	}

	// A record that cannot be encoded rolls back its events too.
	bad := OrderRecord{ID: "o2", Pending: json.RawMessage(`{not json`)}
	if err := s.Save(bad, Event{Kind: "seen"}); err == nil {
		t.Fatal("Save with invalid Pending JSON should fail")
	}
	if h, _ := s.History("o2"); len(h) != 0 {
		t.Errorf("events of a failed Save were kept: %+v", h)
	}
	if _, ok, _ := s.Order("o2"); ok {
		t.Error("record of a failed Save was kept")
	}
	if h, err := s.History("unknown"); err != nil || len(h) != 0 {
		t.Errorf("History(unknown) = %v, %v", h, err)
	}
	if err := s.Append("", Event{Kind: "x"}); err == nil {
		t.Error("Append without order id should fail")
	}
}

// TestHistoryKeysSortNumerically checks that history past 255 and 65535 events stays in order,
// which needs big-endian keys.
func TestHistoryKeysSortNumerically(t *testing.T) {
	s, _ := openTemp(t)
	const n = 300
	events := make([]Event, n)
	for i := range events {
		events[i] = Event{Kind: "status", Message: fmt.Sprint(i + 1)}
	}
	if err := s.Append("o", events...); err != nil {
		t.Fatal(err)
	}
	h, err := s.History("o")
	if err != nil || len(h) != n {
		t.Fatalf("len = %d, err = %v", len(h), err)
	}
	for i, e := range h {
		if e.Seq != uint64(i+1) || e.Message != fmt.Sprint(i+1) {
			t.Fatalf("event %d = seq %d message %s", i, e.Seq, e.Message)
		}
	}
}

func TestOrdersAndRecent(t *testing.T) {
	s, _ := openTemp(t)
	// More than one page, so that paging is exercised.
	const n = ordersPage*2 + 7
	for i := range n {
		if err := s.PutOrder(OrderRecord{ID: fmt.Sprintf("id-%04d", i), Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	if err := s.Orders(func(r OrderRecord) bool {
		ids = append(ids, r.ID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || ids[0] != "id-0000" || ids[n-1] != fmt.Sprintf("id-%04d", n-1) {
		t.Fatalf("Orders visited %d (first %s)", len(ids), ids[0])
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Fatalf("Orders not in id order or repeated at %d: %s, %s", i, ids[i-1], ids[i])
		}
	}

	// Stopping early, and calling the store from inside fn, both work.
	count := 0
	if err := s.Orders(func(r OrderRecord) bool {
		count++
		r.Phase = "touched"
		if err := s.PutOrder(r); err != nil {
			t.Error(err)
		}
		return count < 3
	}); err != nil {
		t.Fatal(err)
	}
	if count != 3 {
		t.Errorf("Orders did not stop: %d calls", count)
	}

	recent, err := s.Recent(4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recent {
		got = append(got, r.ID)
	}
	// The three touched orders were written last, in this order; then the last one created.
	if want := fmt.Sprintf("id-0002 id-0001 id-0000 id-%04d", n-1); strings.Join(got, " ") != want {
		t.Errorf("Recent = %v, want %s", got, want)
	}
	if r, _ := s.Recent(0); len(r) != 0 {
		t.Error("Recent(0) should be empty")
	}
}

func TestConcurrentReadersDuringWrite(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Save(OrderRecord{ID: "o", Name: "N", Retries: 0}, Event{Kind: "seen"}); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	var wg sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		for i := 1; i <= writes; i++ {
			if err := s.Save(OrderRecord{ID: "o", Name: "N", Retries: i}, Event{Kind: "status", Message: fmt.Sprint(i)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for !stop.Load() {
				rec, ok, err := s.OrderByName("N")
				if err != nil || !ok {
					errs <- fmt.Errorf("read: ok=%v err=%v", ok, err)
					return
				}
				if rec.Retries < last {
					errs <- fmt.Errorf("reader went back in time: %d after %d", rec.Retries, last)
					return
				}
				last = rec.Retries
				h, err := s.History("o")
				if err != nil {
					errs <- err
					return
				}
				// Record and events are committed together: the history has 1 + Retries events at
				// least (the record read earlier cannot be ahead of the history read later).
				if len(h) < 1+rec.Retries {
					errs <- fmt.Errorf("history %d shorter than record %d implies", len(h), rec.Retries)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h, _ := s.History("o")
	if len(h) != writes+1 {
		t.Errorf("history has %d events, want %d", len(h), writes+1)
	}
}

func TestReopenKeepsDataAndRunsMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	var runs atomic.Int32
	migrations := append(DefaultMigrations(), Migration{
		Name: "add a bucket",
		Apply: func(tx *bolt.Tx) error {
			runs.Add(1)
			_, err := tx.CreateBucket([]byte("extra"))
			return err // fails if run twice: the bucket exists
		},
	})

	s, err := Open(path, Options{Migrations: migrations})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(OrderRecord{ID: "o", Name: "7"}, Event{Kind: "seen"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("c", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{Migrations: migrations})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if runs.Load() != 1 {
		t.Errorf("migration ran %d times, want 1", runs.Load())
	}
	if v, _ := s.SchemaVersion(); v != uint64(len(migrations)) {
		t.Errorf("schema version = %d, want %d", v, len(migrations))
	}
	if r, ok, _ := s.OrderByName("7"); !ok || r.ID != "o" {
		t.Error("order lost on reopen")
	}
	if h, _ := s.History("o"); len(h) != 1 {
		t.Errorf("history lost on reopen: %v", h)
	}
	if v, ok, _ := s.Cursor("c"); !ok || v != "v" {
		t.Error("cursor lost on reopen")
	}
	// Seq continues after reopening.
	if err := s.Append("o", Event{Kind: "status"}); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.History("o"); len(h) != 2 || h[1].Seq != 2 {
		t.Errorf("history after reopen = %+v", h)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	extra := append(DefaultMigrations(), Migration{Name: "future", Apply: func(*bolt.Tx) error { return nil }})
	s, err := Open(path, Options{Migrations: extra})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "upgrade shipbridge") {
		t.Fatalf("err = %v, want a newer-schema error", err)
	}
}

func TestFailedMigrationIsNotRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	failing := append(DefaultMigrations(), Migration{Name: "broken", Apply: func(*bolt.Tx) error { return errors.New("boom") }})
	if _, err := Open(path, Options{Migrations: failing}); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err = %v, want the failing migration named", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != uint64(len(DefaultMigrations())) {
		t.Errorf("schema version = %d after a failed migration, want %d", v, len(DefaultMigrations()))
	}
}

func openIDs(t *testing.T, s *Store) []string {
	t.Helper()
	var ids []string
	if err := s.OpenOrders(func(rec OrderRecord) bool {
		ids = append(ids, rec.ID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestOpenOrdersIndex(t *testing.T) {
	s, _ := openTemp(t)
	// More than a page of open orders, and closed ones in between.
	for i := 0; i < 2*ordersPage+10; i++ {
		if err := s.Save(OrderRecord{ID: fmt.Sprintf("o%04d", i), Open: i%3 != 0}); err != nil {
			t.Fatal(err)
		}
	}
	ids := openIDs(t, s)
	want := 0
	for i := 0; i < 2*ordersPage+10; i++ {
		if i%3 != 0 {
			if want >= len(ids) || ids[want] != fmt.Sprintf("o%04d", i) {
				t.Fatalf("open ids %v: position %d is not o%04d", ids, want, i)
			}
			want++
		}
	}
	if len(ids) != want {
		t.Fatalf("%d open ids, want %d", len(ids), want)
	}
	// Closing removes it from the index; reopening adds it back.
	if err := s.Save(OrderRecord{ID: "o0001", Open: false}); err != nil {
		t.Fatal(err)
	}
	if ids := openIDs(t, s); len(ids) != want-1 || ids[0] != "o0002" {
		t.Fatalf("after close: %d ids, first %q", len(ids), ids[0])
	}
	stopped := 0
	if err := s.OpenOrders(func(OrderRecord) bool { stopped++; return stopped < 3 }); err != nil || stopped != 3 {
		t.Fatalf("stop after 3: %d calls, %v", stopped, err)
	}
}

func TestMigrationIndexesOrdersWithWorkflowData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := Open(path, Options{Migrations: DefaultMigrations()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []OrderRecord{
		{ID: "a", Pending: json.RawMessage(`{"trigger":"ready"}`)},
		{ID: "b"},
		{ID: "c", Pending: json.RawMessage(`{"trigger":"ready","settled":true}`)},
	} {
		if err := old.Save(rec); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != uint64(len(DefaultMigrations())) {
		t.Fatalf("schema version %d", v)
	}
	if ids := openIDs(t, s); strings.Join(ids, ",") != "a,c" {
		t.Fatalf("open after migration: %v, want a,c (every record with workflow data)", ids)
	}
}
