package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/app"
	"github.com/shipbridge/shipbridge/config"
)

// BenchmarkLatency measures the time from a manager's status change to
// `registered` on MoySklad while orders arrive one by one (60 orders at
// random times over five schedule periods). Percentiles are reported in
// real time (measured × scale).
//
//   - every=1m: the defaults of `run` — app.Scheduler on "@every 1m" with the
//     watch checking every watch_every (12 s), both scaled — the daemon
//     exactly as app.daemon wires it.
//   - every=1m,watch=off and every=10s: cycles on a ticker only, as the
//     cron schedule runs them without the watch (the figures before it).
func BenchmarkLatency(b *testing.B) {
	watchEvery := config.Default().WatchEvery
	for _, c := range []struct {
		name   string
		every  time.Duration
		watch  time.Duration
		scale  float64
		orders int
	}{
		{"every=1m", time.Minute, watchEvery, 20, 60},
		{"every=1m,watch=off", time.Minute, 0, 20, 60},
		{"every=10s", 10 * time.Second, 0, 10, 60},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				e := newEnv(b, Options{Scale: c.scale, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval})
				var lat []time.Duration
				if c.watch > 0 {
					lat = runArrivalsDaemon(b, e, c.every, c.watch, c.orders)
				} else {
					lat = runArrivals(b, e, e.S(c.every), c.orders)
				}
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

// BenchmarkIdleBudget measures what an idle `run` at the defaults spends of
// a user token's MoySklad budget: the scheduler on "@every 1m" with the
// watch every watch_every (both scaled ×20), no order in a trigger status,
// for ten real minutes after the first cycle. It reports MoySklad requests
// per real minute and their share of 11 per 3 s = 220 per minute.
func BenchmarkIdleBudget(b *testing.B) {
	const scale, minutes = 20, 10
	for i := 0; i < b.N; i++ {
		e := newEnv(b, Options{Scale: scale, Budget: UserBudget})
		s := startDaemon(b, e, time.Minute, config.Default().WatchEvery)
		before := e.MSCounts()
		time.Sleep(e.S(minutes * time.Minute))
		got := e.MSCounts().Sub(before)
		if err := s.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		perMin := float64(got.Total()) / minutes
		budget := float64(UserBudget) * float64(time.Minute/MoySkladWindow)
		b.ReportMetric(perMin, "req/min")
		b.ReportMetric(100*perMin/budget, "%-of-budget")
		b.Logf("idle %d real minutes: %d MoySklad requests %v = %.2f/min, %.2f %% of %v per minute",
			minutes, got.Total(), map[string]int(got), perMin, 100*perMin/budget, budget)
	}
}

// startDaemon starts app.Scheduler over e as `run` does: the cron schedule
// every `every`, the watch every `watch` (real times, scaled here), and the
// first cycle at once.
func startDaemon(tb testing.TB, e *Env, every, watch time.Duration) *app.Scheduler {
	tb.Helper()
	spec := fmt.Sprintf("@every %s", e.S(every))
	s, err := app.NewScheduler(spec, e, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.Watch(e.P, e.S(watch))
	s.Start()
	if err := s.RunNow(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// runArrivalsDaemon is runArrivals with the daemon of startDaemon running
// the cycles instead of a ticker.
func runArrivalsDaemon(tb testing.TB, e *Env, every, watch time.Duration, n int) []time.Duration {
	tb.Helper()
	period := e.S(every)
	ids := e.AddOrders(fmt.Sprintf("W%d-", int(period/time.Millisecond)), n)
	offsets := arrivalOffsets(n, 5*period)
	s := startDaemon(tb, e, every, watch)
	setAt := make(map[string]time.Time, n)
	start := time.Now()
	for i, id := range ids { // the manager
		time.Sleep(time.Until(start.Add(offsets[i])))
		if err := e.SetReady(id); err != nil {
			tb.Fatal(err)
		}
		setAt[id] = time.Now()
	}
	deadline := time.Now().Add(20 * period)
	for e.Registered(ids) < n && time.Now().Before(deadline) {
		time.Sleep(period / 100)
	}
	if err := s.Stop(context.Background()); err != nil {
		tb.Fatal(err)
	}
	// The stop cancels a cycle in flight: not a failure.
	if st := s.Last(); st.Err != nil && !errors.Is(st.Err, context.Canceled) {
		tb.Fatalf("last cycle: %v", st.Err)
	}
	return latencies(tb, e, ids, setAt)
}

// arrivalOffsets are n uniformly random times in [0, span), sorted (fixed seed).
func arrivalOffsets(n int, span time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(7, 11))
	offsets := make([]time.Duration, n)
	for i := range offsets {
		offsets[i] = time.Duration(rng.Float64() * float64(span))
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	return offsets
}

// latencies returns each order's time from setAt to its registration (its
// 'updated' when registered), failing for an order not registered.
func latencies(tb testing.TB, e *Env, ids []string, setAt map[string]time.Time) []time.Duration {
	tb.Helper()
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

const debugLatency = false

// runArrivals sets n orders to ready at uniformly random times over five
// periods while a ticker runs a cycle every period, and returns each order's
// latency to `registered` (scaled time).
func runArrivals(tb testing.TB, e *Env, period time.Duration, n int) []time.Duration {
	tb.Helper()
	ids := e.AddOrders(fmt.Sprintf("L%d-", int(period/time.Millisecond)), n)
	span := 5 * period
	offsets := arrivalOffsets(n, span)
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
	return latencies(tb, e, ids, setAt)
}
