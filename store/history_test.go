package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestEventCodecRoundTrip(t *testing.T) {
	c := newEventCodec()
	big := strings.Repeat(`{"system":"cdek","method":"GET","url":"https://api.cdek.ru/v2/orders/x","status":200},`, 200)
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 3000)
	for i := range noise {
		noise[i] = 'a' + byte(rng.IntN(26))
	}
	for i, e := range []Event{
		{Seq: 1, At: time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC), Kind: "seen", Message: "В МойСклад: статус «Готов к отгрузке»"},
		{Seq: 2, At: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC), Kind: "", Message: ""},
		{Seq: 1 << 40, At: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Kind: "carrier_exchange", Message: "GET → 200", Data: json.RawMessage(`{"a":1}`)},
		{Seq: 4, At: time.Date(2300, 1, 1, 0, 0, 0, 999999999, time.UTC), Kind: "big", Data: json.RawMessage(`[` + big + `1]`)},
		{Seq: 5, At: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Kind: "noise", Message: string(noise), Data: json.RawMessage(`"` + string(noise) + `"`)},
	} {
		v, err := c.encode(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.decode(itob(e.Seq), v)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.Seq != e.Seq || !got.At.Equal(e.At) || got.Kind != e.Kind || got.Message != e.Message || !bytes.Equal(got.Data, e.Data) {
			t.Errorf("event %d: got %+v, want %+v", i, got, e)
		}
		if e.Kind == "big" && len(v) > len(e.Data)/10 {
			t.Errorf("repetitive data of %d bytes stored in %d", len(e.Data), len(v))
		}
		if e.Kind == "noise" && v[0] != eventFormatRaw && len(v) > len(noise)*2+20 {
			t.Errorf("incompressible event grew to %d bytes", len(v))
		}
		// Every cut and every flipped byte gives an event or an error, never a panic.
		for n := range v {
			_, _ = c.decode(itob(e.Seq), v[:n])
		}
		for range 200 {
			bad := bytes.Clone(v)
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			if got, err := c.decode(itob(e.Seq), bad); err == nil && got.Data != nil && !json.Valid(got.Data) {
				t.Fatalf("decoded invalid JSON data from a damaged value")
			}
		}
	}
	if _, err := c.encode(Event{Kind: "x", Data: json.RawMessage(`{not json`)}); err == nil {
		t.Error("invalid JSON data was accepted")
	}
	if _, err := c.decode([]byte{1, 2}, []byte{0, 0, 0}); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestHistoryOfOrderIsNotAPrefixOfAnother(t *testing.T) {
	s, _ := openTemp(t)
	for _, id := range []string{"a", "ab", "a b", "b"} {
		if err := s.Append(id, Event{Kind: "k", Message: id}, Event{Kind: "k", Message: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "ab", "a b", "b"} {
		h, err := s.History(id)
		if err != nil || len(h) != 2 || h[0].Message != id || h[1].Message != id || h[1].Seq != 2 {
			t.Errorf("History(%q) = %+v, %v", id, h, err)
		}
	}
	if err := s.Save(OrderRecord{ID: "bad\x00id"}); err == nil {
		t.Error("an id with a NUL byte was accepted")
	}
	if err := s.Append("bad\x00id", Event{Kind: "k"}); err == nil {
		t.Error("an id with a NUL byte was accepted by Append")
	}
}

type orderEvents struct {
	id     string
	events []Event
}

// legacyStore writes a store at schema version 2 (a history bucket per order) with n orders.
func legacyStore(t *testing.T, n int) (string, []orderEvents) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shipbridge.db")
	old, err := Open(path, Options{Migrations: DefaultMigrations()[:2], NoSync: true, Now: newClock().now})
	if err != nil {
		t.Fatal(err)
	}
	var want []orderEvents
	for i := range n {
		id := fmt.Sprintf("%08x-0000-11f1-0a80-%012x", i*7919%n, i)
		var evs []Event
		for j := range 1 + i%4 {
			evs = append(evs, Event{Kind: "status", Message: fmt.Sprintf("%d/%d", i, j), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, j))})
		}
		if err := old.Save(OrderRecord{ID: id, Name: fmt.Sprint(i), Open: i%5 == 0}, evs...); err != nil {
			t.Fatal(err)
		}
		h, err := old.History(id)
		if err != nil || len(h) != len(evs) {
			t.Fatalf("legacy history %d: %v", len(h), err)
		}
		want = append(want, orderEvents{id, h})
	}
	if v, _ := old.SchemaVersion(); v != 2 {
		t.Fatalf("legacy store at version %d", v)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

func sameEvents(t *testing.T, what string, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !g.At.Equal(w.At) || g.Kind != w.Kind || g.Message != w.Message || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: event %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func TestMigrationFlattensHistoryAfterABackup(t *testing.T) {
	const n = 2*flattenBatch + 37 // several migration steps
	path, want := legacyStore(t, n)
	before, _ := os.ReadFile(path)

	s, err := Open(path, Options{Now: newClock().now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != uint64(len(DefaultMigrations())) {
		t.Fatalf("schema version %d after migration", v)
	}
	for i, o := range want {
		if rec, ok, err := s.Order(o.id); err != nil || !ok || rec.Name != fmt.Sprint(i) || rec.Open != (i%5 == 0) {
			t.Fatalf("record %s after migration: %+v %v %v", o.id, rec, ok, err)
		}
		got, err := s.History(o.id)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, o.id, got, o.events)
	}
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucketHistory)) != nil {
			return fmt.Errorf("the per-order history bucket is still there")
		}
		return tx.Bucket([]byte(bucketOrders)).ForEach(func(k, v []byte) error {
			if v[0] != recordFormatFlate {
				return fmt.Errorf("record %q not compressed by the migration", k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	// Events continue after the migrated ones.
	last := want[n-1]
	if err := s.Append(last.id, Event{Kind: "after"}); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.History(last.id); h[len(h)-1].Seq != uint64(len(last.events)+1) {
		t.Errorf("seq after migration: %+v", h[len(h)-1])
	}
	// The file was compacted: smaller than the old layout.
	info, _ := os.Stat(path)
	if info.Size() >= int64(len(before)) {
		t.Errorf("migrated file %d bytes, old layout %d", info.Size(), len(before))
	}
	if rep, err := Check(path, Options{Timeout: 100 * time.Millisecond}); err == nil || rep.Orders != 0 {
		// The store is open (locked); Check must say so rather than read it.
		t.Errorf("Check of an open store: %+v, %v", rep, err)
	}

	// The backup is the untouched old store.
	b := s.MigrationBackup()
	if b == "" || !strings.HasPrefix(b, path+".v2-") || !strings.HasSuffix(b, ".bak") {
		t.Fatalf("backup %q", b)
	}
	copyBytes, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(b); info.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", info.Mode().Perm())
	}
	bs, err := Open(writeCopy(t, copyBytes), Options{Migrations: DefaultMigrations()[:2]})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if v, _ := bs.SchemaVersion(); v != 2 {
		t.Errorf("backup at version %d", v)
	}
	got, _ := bs.History(want[7].id)
	sameEvents(t, "backup", got, want[7].events)
}

// TestMigrationNumbersAfterFlatEvents covers a store whose migration was interrupted and then
// written to by an older shipbridge: events already flat stay, the others follow them.
func TestMigrationNumbersAfterFlatEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	old, err := Open(path, Options{Migrations: DefaultMigrations()[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append("a", Event{Kind: "nested", Message: "1"}, Event{Kind: "nested", Message: "2"}); err != nil {
		t.Fatal(err)
	}
	err = old.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte(bucketEvents))
		if err != nil {
			return err
		}
		v, err := old.codec.encode(Event{At: time.Unix(1, 0), Kind: "flat", Message: "0"})
		if err != nil {
			return err
		}
		return b.Put(eventKey(historyPrefix("a"), 1), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.History("a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%d:%s:%s", e.Seq, e.Kind, e.Message))
	}
	if strings.Join(got, " ") != "1:flat:0 2:nested:1 3:nested:2" {
		t.Errorf("history %v", got)
	}
}

func TestCompactHistory(t *testing.T) {
	c := newClock()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Now: c.now, HistoryRetention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := c.now()
	evs := func(n int) []Event {
		var out []Event
		for i := range n {
			out = append(out, Event{At: old.Add(time.Duration(i) * time.Minute), Kind: fmt.Sprintf("k%d", i%2), Message: fmt.Sprint(i), Data: json.RawMessage(`{"x":1}`)})
		}
		return out
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Saving with old events already triggers a background compaction; let it run first.
	must(s.Save(OrderRecord{ID: "done", Name: "1", Phase: "registered", TrackingNumber: "T1", Carrier: "cdek"}, evs(5)...))
	s.compactWG.Wait()
	must(s.Save(OrderRecord{ID: "open", Name: "2", Open: true}, evs(5)...))
	must(s.Save(OrderRecord{ID: "single", Name: "3"}, evs(1)...))
	must(s.Append("orphan", evs(3)...))
	must(s.Save(OrderRecord{ID: "recent", Name: "4"}))
	// A record indexed as open without Open set (migration 2 indexes old records with workflow
	// data that way) counts as unfinished.
	must(s.Save(OrderRecord{ID: "indexed", Name: "5"}, evs(4)...))
	must(s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketOpen)).Put([]byte("indexed"), nil) }))
	s.compactWG.Wait()

	c.mu.Lock()
	c.t = c.t.Add(48 * time.Hour)
	c.mu.Unlock()
	must(s.Append("recent", Event{Kind: "new"}, Event{Kind: "new"}))

	n, err := s.CompactHistory()
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("compacted %d orders, want 1 (done)", n)
	}
	h, _ := s.History("done")
	if len(h) != 1 || h[0].Kind != SummaryKind || h[0].Seq != 5 || !h[0].At.Equal(old.Add(4*time.Minute)) {
		t.Fatalf("compacted history %+v", h)
	}
	var sum HistorySummary
	if err := json.Unmarshal(h[0].Data, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Events != 5 || sum.Kinds["k0"] != 3 || sum.Kinds["k1"] != 2 || sum.Last.Message != "4" || sum.Order.TrackingNumber != "T1" ||
		sum.Order.Phase != "registered" || !sum.FirstAt.Equal(old) || sum.Retention != "24h0m0s" {
		t.Errorf("summary %+v", sum)
	}
	if !strings.Contains(h[0].Message, "5 событий") || !strings.Contains(h[0].Message, "Последнее: 4") {
		t.Errorf("summary message %q", h[0].Message)
	}
	for id, want := range map[string]int{"open": 5, "single": 1, "orphan": 3, "recent": 2, "indexed": 4} {
		if h, _ := s.History(id); len(h) != want {
			t.Errorf("%s: %d events, want %d untouched", id, len(h), want)
		}
	}
	// Numbering continues after the summary; a second run has nothing to do.
	must(s.Append("done", Event{Kind: "reopened"}))
	if h, _ := s.History("done"); len(h) != 2 || h[1].Seq != 6 {
		t.Errorf("after summary: %+v", h)
	}
	if n, err := s.CompactHistory(); err != nil || n != 0 {
		t.Errorf("second run: %d, %v", n, err)
	}
}

func TestSaveCompactsOldHistoryInTheBackground(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Now: c.now, HistoryRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	old := c.now().Add(-2 * time.Hour)
	if err := s.Save(OrderRecord{ID: "o", Name: "1"}, Event{At: old, Kind: "a"}, Event{At: old, Kind: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // waits for the compaction
		t.Fatal(err)
	}
	s, err = Open(path, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, _ := s.History("o"); len(h) != 1 || h[0].Kind != SummaryKind {
		t.Fatalf("history %+v", h)
	}
	// Without a retention nothing is compacted.
	if err := s.Save(OrderRecord{ID: "p", Name: "2"}, Event{At: old, Kind: "a"}, Event{At: old, Kind: "b"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CompactHistory(); n != 0 || err != nil {
		t.Fatalf("compacted %d, %v without a retention", n, err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{HistoryRetention: -time.Hour}); err == nil {
		t.Error("a negative retention was accepted")
	}
}
