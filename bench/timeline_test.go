package bench

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkBurstTimeline is the 45-per-3-s burst again, reporting where its
// time goes: when the first order is registered (list pages + the first
// order's whole CDEK chain, during which MoySklad's budget idles) and the
// pace of the rest against the budget's. It measures the one-PUT-per-order
// write-back (poller.Config.PutWriteBack), whose pace the budget sets.
func BenchmarkBurstTimeline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e := newEnv(b, Options{Scale: 10, Budget: SolutionBudget, PutWriteBack: true})
		ids := e.AddOrders("T-", 1000)
		start := time.Now()
		r, err := e.BurstOf(context.Background(), ids, 10, func() error { return e.SetReady(ids...) }, func(ctx context.Context) error { return e.Cycle(ctx) })
		if err != nil {
			b.Fatal(err)
		}
		var ts []time.Duration
		for _, id := range ids {
			if o, ok := e.MS.Order(id); ok && o.StateName == StateRegistered {
				ts = append(ts, o.Updated.Sub(start))
			}
		}
		if len(ts) != len(ids) {
			b.Fatalf("%d of %d registered", len(ts), len(ids))
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		first := e.Real(ts[0])
		pace := float64(ts[len(ts)-1]-ts[0]) / float64(e.FloorFor(len(ts)-1))
		b.ReportMetric(first.Seconds(), "real-first-registered-s")
		b.ReportMetric(pace, "rest/budget-pace")
		b.ReportMetric(float64(r.Wall)/float64(r.Floor), "wall/floor")
		b.Logf("first registered after %s (real), the other %d at %.3f× the budget's pace; wall/floor %.3f", first, len(ts)-1, pace, float64(r.Wall)/float64(r.Floor))
	}
}
