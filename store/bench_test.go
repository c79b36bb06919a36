package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time of the process so far: on a busy machine it says more than the
// wall time of a benchmark.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHistoryLookup is the lookup of `shipbridge history ORDER` (OrderByName + History of
// 10 events) on a store of 2,000 orders, with CPU-bound reads (the file is in the page cache).
// bench/store_test.go measures the same on 100,000 orders.
func BenchmarkHistoryLookup(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "s.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	evs := make([]Event, 10)
	for i := range evs {
		evs[i] = Event{Kind: "carrier_exchange", Message: "GET /v2/orders/… → 200",
			Data: json.RawMessage(`{"system":"cdek","method":"GET","url":"/v2/orders/72753034-6d2f-4c35-9d1b-6a1f2e8c1b11","status":200,"duration":84000000}`)}
	}
	const n = 2000
	for i := range n {
		if err := s.Save(OrderRecord{ID: fmt.Sprintf("%08x-0000-11f1-0a80-%012x", i, i), Name: fmt.Sprintf("%05d", i), Carrier: "cdek",
			Phase: "registered", Pending: json.RawMessage(`{"trigger":"ready","settled":true}`)}, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, ok, err := s.OrderByName(fmt.Sprintf("%05d", i*7919%n))
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		h, err := s.History(rec.ID)
		if err != nil || len(h) != 10 {
			b.Fatal(len(h), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}

// BenchmarkSave is the poller's write per step, a record and 3 events, without fsync, so
// that it shows the CPU cost of encoding (the fsync of a real Save costs more).
func BenchmarkSave(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "s.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	evs := make([]Event, 3)
	for i := range evs {
		evs[i] = Event{Kind: "carrier_exchange", Message: "GET /v2/orders/… → 200",
			Data: json.RawMessage(`{"system":"cdek","method":"GET","url":"/v2/orders/72753034-6d2f-4c35-9d1b-6a1f2e8c1b11","status":200,"duration":84000000}`)}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Save(OrderRecord{ID: fmt.Sprintf("%08x-0000-11f1-0a80-%012x", i%5000, i), Name: fmt.Sprintf("%05d", i%5000), Carrier: "cdek",
			Phase: "registered", Pending: json.RawMessage(`{"trigger":"ready","settled":true}`)}, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}
