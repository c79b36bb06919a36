package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/store"
)

const (
	storeOrders      = 100_000
	eventsPerOrder   = 10
	settledPending   = `{"trigger":"ready","trigger_updated":"2026-05-01 10:00:00.000","settled":true}`
	eventDataExample = `{"system":"cdek","method":"GET","url":"/v2/orders/72753034-6d2f-4c35-9d1b-6a1f2e8c1b11","status":200,"duration":84000000}`
)

// fillStore writes n settled orders with events each into a new store at
// path, without fsync (a bulk load), and closes it.
func fillStore(tb testing.TB, path string, n, events int) {
	tb.Helper()
	fillStoreWith(tb, path, n, events, nil)
}

// fillStoreWith is fillStore with the given schema migrations (nil: all of
// them); store.DefaultMigrations()[:2] writes the layout of schema version 2.
func fillStoreWith(tb testing.TB, path string, n, events int, migrations []store.Migration) {
	tb.Helper()
	st, err := store.Open(path, store.Options{NoSync: true, Migrations: migrations})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	evs := make([]store.Event, events)
	for i := range evs {
		evs[i] = store.Event{Kind: "carrier_exchange", Message: "GET /v2/orders/… → 200", Data: json.RawMessage(eventDataExample)}
	}
	for i := 0; i < n; i++ {
		rec := store.OrderRecord{ID: orderID(i), Name: fmt.Sprintf("%05d", i), Carrier: "cdek", Phase: "registered", Attempt: 1,
			Number: fmt.Sprintf("%05d", i), Reference: "72753034-6d2f-4c35-9d1b-6a1f2e8c1b11", TrackingNumber: fmt.Sprint(1100000000 + i),
			LastState: StateRegistered, Pending: json.RawMessage(settledPending)}
		if err := st.Save(rec, evs...); err != nil {
			tb.Fatal(err)
		}
	}
}

func orderID(i int) string { return fmt.Sprintf("%08x-0000-11f1-0a80-%012x", i, i) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleCycle runs cycles with nothing to do, with an empty store and
// with 100,000 finished orders in it, and reports MoySklad requests, CPU
// time (of the whole process, simulator included) and allocations per cycle.
func BenchmarkIdleCycle(b *testing.B) {
	for _, n := range []int{0, storeOrders} {
		// One store and environment for every b.N the sub-benchmark is run
		// with: filling 100,000 orders takes seconds.
		dir := b.TempDir()
		if n > 0 {
			fillStore(b, filepath.Join(dir, "shipbridge.db"), n, 1)
		}
		e := newEnv(b, Options{Scale: 10, Budget: 100_000, Dir: dir})
		b.Run(fmt.Sprintf("stored=%d", n), func(b *testing.B) {
			ctx := context.Background()
			before := e.MS.Requests()
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := e.Cycle(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/cycle")
			b.ReportMetric(float64(e.MS.Requests()-before)/float64(b.N), "moysklad-req/cycle")
		})
	}
}

// BenchmarkStoreScan compares what finding unfinished work reads with
// 100,000 finished orders in the store: every record (store.Orders, what
// the poller did before the open-order index) or the index (OpenOrders).
func BenchmarkStoreScan(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.db")
	fillStore(b, path, storeOrders, 1)
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		name string
		scan func(func(store.OrderRecord) bool) error
	}{{"all-records", st.Orders}, {"open-index", st.OpenOrders}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.scan(func(store.OrderRecord) bool { return true }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStore works on a store of 100,000 orders × 10 events: appending
// an event (one fsync'd transaction), saving a record with an event, the
// lookups of `shipbridge history ORDER` (OrderByName + History), and the
// file's size. It logs how long Open (which checks every page) takes.
func BenchmarkStore(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.db")
	t0 := time.Now()
	fillStore(b, path, storeOrders, eventsPerOrder)
	fill := time.Since(t0)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	cpu0 := cpuTime()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	open, openCPU := time.Since(t0), cpuTime()-cpu0
	defer st.Close()
	b.Logf("filled %d orders × %d events in %s (no fsync); file %.1f MB; Open (page check of the whole file) took %s, %s CPU",
		storeOrders, eventsPerOrder, fill.Round(time.Millisecond), float64(fi.Size())/1e6, open.Round(time.Millisecond), openCPU.Round(time.Millisecond))
	ev := store.Event{Kind: "carrier_exchange", Message: "GET → 200", Data: json.RawMessage(eventDataExample)}
	b.Run("append-event", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := st.Append(orderID(i*7919%storeOrders), ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("save-record+event", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rec, _, err := st.Order(orderID(i * 104729 % storeOrders))
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Save(rec, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("history-by-name", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec, ok, err := st.OrderByName(fmt.Sprintf("%05d", i*7919%storeOrders))
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			evs, err := st.History(rec.ID)
			if err != nil || len(evs) < eventsPerOrder {
				b.Fatal(len(evs), err)
			}
		}
		b.StopTimer()
		// CPU time says more than wall time on a shared machine.
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
	})
	b.Run("file-size", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
		}
		b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
		b.ReportMetric(float64(fi.Size())/storeOrders/1e3, "KB/order")
	})
}

// BenchmarkStoreMigration writes 100,000 orders × 10 events in the layout of
// schema version 2 (a history bucket per order, JSON records), then times
// the Open that migrates it: a backup copy of the file, migration 3 (flat,
// compressed history and records) and the rewrite of the file.
func BenchmarkStoreMigration(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "s.db")
	fillStoreWith(b, path, storeOrders, eventsPerOrder, store.DefaultMigrations()[:2])
	before, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("open-and-migrate", func(b *testing.B) {
		if b.N > 1 {
			b.Skip("migrates once: run with -benchtime 1x")
		}
		cpu0 := cpuTime()
		st, err := store.Open(path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu := cpuTime() - cpu0
		backup := st.MigrationBackup()
		if v, err := st.SchemaVersion(); err != nil || v != uint64(len(store.DefaultMigrations())) {
			b.Fatal(v, err)
		}
		rec, ok, err := st.OrderByName("04242")
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if evs, err := st.History(rec.ID); err != nil || len(evs) != eventsPerOrder {
			b.Fatal(len(evs), err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		after, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		bk, err := os.Stat(backup)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(before.Size())/1e6, "old-MB")
		b.ReportMetric(float64(after.Size())/1e6, "new-MB")
		b.ReportMetric(float64(bk.Size())/1e6, "backup-MB")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
	})
}
