package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func newEnv(tb testing.TB, o Options) *Env {
	tb.Helper()
	if o.Dir == "" {
		o.Dir = tb.TempDir()
	}
	e, err := NewEnv(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	if err := e.Warm(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return e
}

func metricName(endpoint string) string {
	r := strings.NewReplacer(" ", "_", "/", ".", "{", "", "}", "", "?", "_")
	return r.Replace(endpoint)
}

// BenchmarkBurst sets 1,000 orders to ready at once and measures the time
// until all are registered against the floor MoySklad's budget allowed with
// one PUT per order (the list pages + 1,000 PUTs), and the requests spent
// per order, at the user-token budget (11 per 3 s) and the solution-token
// budget (45 per 3 s), with the recommended CDEK poll interval and
// realistic waybills (RealisticWaybillBytes).
//
// The default write-back is bulk, and its runs are in real time (scale 1):
// they are bound by the carrier's asynchronous work, and at a smaller scale
// the process's CPU and the store's fsync, which do not scale, would be
// what is measured. "-put" runs the one-PUT-per-order path
// (poller.Config.PutWriteBack) for comparison, scaled ×10 as before: it is
// bound by MoySklad's budget.
func BenchmarkBurst(b *testing.B) {
	for _, c := range []struct {
		name   string
		budget int
		scale  float64
		put    bool
	}{
		{"budget=11", UserBudget, 1, false},
		{"budget=45", SolutionBudget, 1, false},
		{"budget=11-put", UserBudget, 10, true},
		{"budget=45-put", SolutionBudget, 10, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				e := newEnv(b, Options{Scale: c.scale, Budget: c.budget, CDEKPollInterval: RecommendedCDEKPollInterval,
					PutWriteBack: c.put, WaybillBytes: RealisticWaybillBytes})
				r, err := e.Burst(context.Background(), 1000, 10)
				if err != nil {
					b.Fatal(err)
				}
				reportBurst(b, e, r)
			}
		})
	}
}

func reportBurst(b *testing.B, e *Env, r BurstResult) {
	if r.Registered != r.Orders {
		b.Errorf("%d of %d orders registered after %d cycles", r.Registered, r.Orders, r.Cycles)
	}
	b.ReportMetric(r.Ratio(), "wall/floor")
	b.ReportMetric(e.Real(r.Wall).Seconds(), "real-wall-s")
	b.ReportMetric(e.Real(r.Floor).Seconds(), "real-floor-s")
	b.ReportMetric(r.MSPerOrder(), "moysklad-req/order")
	b.ReportMetric(float64(r.MaxWrites), "max-writes/order")
	b.ReportMetric(r.CDEKPerOrder(), "cdek-req/order")
	b.ReportMetric(float64(r.TooMany), "429s")
	b.ReportMetric(float64(r.Cycles), "cycles")
	for _, k := range r.MS.Keys() {
		b.ReportMetric(float64(r.MS[k])/float64(r.Registered), "ms:"+metricName(k)+"/order")
	}
	for _, k := range r.CDEK.Keys() {
		b.ReportMetric(float64(r.CDEK[k])/float64(r.Registered), "cdek:"+metricName(k)+"/order")
	}
	if r.MaxWrites != 1 {
		b.Errorf("an order was written %d times, want once each", r.MaxWrites)
	}
	b.Logf("wall %s (real %s), floor %s (real %s), ratio %.3f; MoySklad %.4f/order %v; CDEK %v; 429s %d; cycles %d; writes per order ≤ %d",
		r.Wall.Round(time.Millisecond), e.Real(r.Wall).Round(time.Second), r.Floor.Round(time.Millisecond), e.Real(r.Floor).Round(time.Second),
		r.Ratio(), r.MSPerOrder(), r.MS, r.CDEK, r.TooMany, r.Cycles, r.MaxWrites)
}
