package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkLatency measures the time from a manager's status change to
// `registered` on MoySklad while orders arrive one by one (60 orders at
// random times over five schedule periods), with cycles on a ticker as the
// cron schedule runs them: `@every 1m` (the default) and `@every 10s`.
// Percentiles are reported in real time (measured × scale).
func BenchmarkLatency(b *testing.B) {
	for _, c := range []struct {
		name   string
		every  time.Duration
		scale  float64
		orders int
	}{{"every=1m", time.Minute, 20, 60}, {"every=10s", 10 * time.Second, 10, 60}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				e := newEnv(b, Options{Scale: c.scale, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval})
				lat := runArrivals(b, e, e.S(c.every), c.orders)
				p50, p95 := Percentile(lat, 50), Percentile(lat, 95)
				b.ReportMetric(e.Real(p50).Seconds(), "real-p50-s")
				b.ReportMetric(e.Real(p95).Seconds(), "real-p95-s")
				b.ReportMetric(e.Real(Percentile(lat, 100)).Seconds(), "real-max-s")
				b.Logf("%d orders; real p50 %s, p95 %s, max %s", len(lat), e.Real(p50).Round(100*time.Millisecond),
					e.Real(p95).Round(100*time.Millisecond), e.Real(Percentile(lat, 100)).Round(100*time.Millisecond))
			}
		})
	}
}

const debugLatency = false

// runArrivals sets n orders to ready at uniformly random times over five
// periods while a ticker runs a cycle every period, and returns each order's
// latency to `registered` (scaled time).
func runArrivals(tb testing.TB, e *Env, period time.Duration, n int) []time.Duration {
	tb.Helper()
	ids := e.AddOrders(fmt.Sprintf("L%d-", int(period/time.Millisecond)), n)
	rng := rand.New(rand.NewPCG(7, 11))
	span := 5 * period
	offsets := make([]time.Duration, n)
	for i := range offsets {
		offsets[i] = time.Duration(rng.Float64() * float64(span))
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		setAt  = make(map[string]time.Time, n)
		wg     sync.WaitGroup
		cycErr error
	)
	start := time.Now()
	wg.Add(1)
	go func() { // the manager
		defer wg.Done()
		for i, id := range ids {
			time.Sleep(time.Until(start.Add(offsets[i])))
			if err := e.SetReady(id); err != nil {
				tb.Error(err)
				return
			}
			mu.Lock()
			setAt[id] = time.Now()
			mu.Unlock()
		}
	}()
	// The scheduler: a cycle every period, skipped while one runs.
	tick := time.NewTicker(period)
	defer tick.Stop()
	deadline := start.Add(span + 20*period)
	for time.Now().Before(deadline) {
		<-tick.C
		c0 := time.Now()
		err := e.Cycle(ctx)
		if debugLatency {
			pr := e.P.Progress()
			tb.Logf("cycle at %s took %s, found %d", c0.Sub(start).Round(time.Millisecond), time.Since(c0).Round(time.Millisecond), pr.Found)
		}
		if err != nil {
			cycErr = err
			break
		}
		mu.Lock()
		all := len(setAt) == n
		mu.Unlock()
		if all && e.Registered(ids) == n {
			break
		}
	}
	wg.Wait()
	if cycErr != nil {
		tb.Fatal(cycErr)
	}
	var lat []time.Duration
	for _, id := range ids {
		o, ok := e.MS.Order(id)
		if !ok || o.StateName != StateRegistered {
			tb.Errorf("order %s not registered", id)
			continue
		}
		lat = append(lat, o.Updated.Sub(setAt[id]))
	}
	return lat
}
