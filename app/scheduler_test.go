package app

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/poller"
)

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// wrappedJob returns the cron job exactly as cron runs it: the scheduled func inside the chain.
func wrappedJob(t *testing.T, s *Scheduler) func() {
	t.Helper()
	entries := s.cron.Entries()
	if len(entries) != 1 {
		t.Fatalf("%d cron entries, want 1", len(entries))
	}
	return entries[0].WrappedJob.Run
}

func TestPanickingJobDoesNotStopLaterRuns(t *testing.T) {
	log, logs := observed()
	var calls atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := wrappedJob(t, s)
	run() // panics inside; must be recovered and must not leave any lock held
	run()
	run()
	if got := calls.Load(); got != 3 {
		t.Fatalf("cycle ran %d times, want 3: a panic stopped later runs", got)
	}
	if n := logs.FilterMessage("cron: panic").Len(); n != 1 {
		t.Errorf("panic logged %d times, want 1", n)
	}
	if st := s.Last(); st.Err != nil || st.Trigger != "schedule" {
		t.Errorf("last status = %+v, want the last successful scheduled run", st)
	}
	// The manual path shares the lock: it must be free too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.RunNow(ctx); err != nil {
		t.Fatalf("RunNow after a panic: %v", err)
	}
}

// TestPanicWithRealCron checks the same through cron's own loop on a one-second schedule.
func TestPanicWithRealCron(t *testing.T) {
	var calls atomic.Int32
	ran := make(chan struct{}, 10)
	s, err := NewScheduler("@every 1s", CycleFunc(func(context.Context) error {
		n := calls.Add(1)
		ran <- struct{}{}
		if n == 1 {
			panic("first run panics")
		}
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer func() { _ = s.Stop(context.Background()) }()
	deadline := time.After(5 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("only %d runs within 5s: the panic stopped the schedule", calls.Load())
		}
	}
}

func TestManualAndScheduledRunsShareTheLock(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 4)
	var running, maxRunning atomic.Int32
	cycle := CycleFunc(func(ctx context.Context) error {
		n := running.Add(1)
		defer running.Add(-1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		started <- "run"
		<-release
		return nil
	})
	log, logs := observed()
	s, err := NewScheduler("@every 1h", cycle, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := wrappedJob(t, s)

	// A manual run holds the lock: a scheduled tick is skipped.
	manualDone := make(chan error, 1)
	go func() { manualDone <- s.RunNow(context.Background()) }()
	<-started
	scheduled()
	if logs.FilterMessage("scheduled cycle skipped: a cycle is already running").Len() != 1 {
		t.Error("scheduled tick during a manual run was not skipped")
	}

	// A second manual run waits for the first, then runs.
	secondDone := make(chan error, 1)
	go func() { secondDone <- s.RunNow(context.Background()) }()
	select {
	case <-started:
		t.Fatal("second manual run started while the first was running")
	case <-time.After(50 * time.Millisecond):
	}
	release <- struct{}{}
	if err := <-manualDone; err != nil {
		t.Fatal(err)
	}
	<-started
	release <- struct{}{}
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}

	// A scheduled run holds the lock: RunNow waits, and gives up with its context.
	go scheduled()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.RunNow(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunNow while a scheduled run holds the lock = %v, want deadline exceeded", err)
	}
	release <- struct{}{}
	if maxRunning.Load() != 1 {
		t.Errorf("%d cycles ran at once", maxRunning.Load())
	}
}

func TestRunNowReturnsCycleErrorsAndPanics(t *testing.T) {
	want := errors.New("moysklad unreachable")
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error { return want }), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunNow(context.Background()); !errors.Is(err, want) {
		t.Errorf("RunNow = %v, want %v", err, want)
	}
	if st := s.Last(); !errors.Is(st.Err, want) || st.Trigger != "manual" {
		t.Errorf("Last = %+v", st)
	}

	s, _ = NewScheduler("@every 1h", CycleFunc(func(context.Context) error { panic("kaput") }), zap.NewNop(), nil)
	if err := s.RunNow(context.Background()); err == nil || !strings.Contains(err.Error(), "kaput") {
		t.Errorf("RunNow of a panicking cycle = %v", err)
	}
	if err := s.RunNow(context.Background()); err == nil || !strings.Contains(err.Error(), "kaput") {
		t.Errorf("lock not released after a panic: %v", err)
	}
}

func TestStopWaitsForTheCycleInFlight(t *testing.T) {
	entered := make(chan struct{})
	var finished atomic.Bool
	var sawCancel atomic.Bool
	s, err := NewScheduler("@every 1h", CycleFunc(func(ctx context.Context) error {
		close(entered)
		<-ctx.Done() // Stop cancels the cycle's context ...
		sawCancel.Store(true)
		time.Sleep(100 * time.Millisecond) // ... and the step in flight still finishes.
		finished.Store(true)
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	go wrappedJob(t, s)()
	<-entered

	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !sawCancel.Load() || !finished.Load() {
		t.Fatalf("Stop returned before the cycle finished (cancel seen %v, finished %v)", sawCancel.Load(), finished.Load())
	}
	// Nothing runs after Stop.
	if err := s.RunNow(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("RunNow after Stop = %v, want ErrStopped", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStopGivesUpAfterItsDeadline(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	s, err := NewScheduler("@every 1h", CycleFunc(func(ctx context.Context) error {
		close(entered)
		<-release // ignores cancellation
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.RunNow(context.Background()) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want deadline exceeded", err)
	}
	close(release)
}

func TestNewSchedulerRejectsBadSpec(t *testing.T) {
	if _, err := NewScheduler("every minute", CycleFunc(func(context.Context) error { return nil }), zap.NewNop(), nil); err == nil {
		t.Error("bad spec accepted")
	}
}

// watchFunc adapts a function to Watcher.
type watchFunc func(ctx context.Context) (poller.Change, error)

func (f watchFunc) Changed(ctx context.Context) (poller.Change, error) { return f(ctx) }

// manualTicker replaces the watch's ticker with a channel the test sends on; a send returns
// once the watch loop has taken the tick, i.e. after the previous tick was fully handled.
func manualTicker(s *Scheduler) chan time.Time {
	c := make(chan time.Time)
	s.ticker = func(time.Duration) (<-chan time.Time, func()) { return c, func() {} }
	return c
}

func TestWatchRunsACycleOnAChangeOnly(t *testing.T) {
	var cycles, checks atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		cycles.Add(1)
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	answers := []bool{true, false, false}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
		n := checks.Add(1)
		return poller.Change{Changed: answers[min(int(n), len(answers))-1], Reason: "test"}, nil
	}), time.Second)
	tick := manualTicker(s)
	s.Start()
	defer func() { _ = s.Stop(context.Background()) }()

	tick <- time.Now() // changed
	tick <- time.Now() // not changed; this send waits until the first tick was handled
	if got := cycles.Load(); got != 1 {
		t.Fatalf("after a change: %d cycles, want 1", got)
	}
	if st := s.Last(); st.Trigger != "watch" || st.Err != nil {
		t.Errorf("last = %+v, want a watch-triggered cycle", st)
	}
	tick <- time.Now() // waits until the second (no change) was handled
	if got := cycles.Load(); got != 1 {
		t.Fatalf("no change: %d cycles, want still 1", got)
	}
	if got := checks.Load(); got < 2 {
		t.Fatalf("%d checks, want at least 2", got)
	}
}

func TestWatchDoesNotCheckWhileACycleRuns(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var checks atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		close(started)
		<-release
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
		checks.Add(1)
		return poller.Change{Changed: true}, nil
	}), time.Second)
	done := make(chan error)
	go func() { done <- s.RunNow(context.Background()) }()
	<-started
	if s.watchOnce(false) {
		t.Fatal("the watch ran a cycle beside the one in flight")
	}
	if checks.Load() != 0 {
		t.Fatal("the watch asked while a cycle ran")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A scheduled tick that comes while the watch only checks is not lost: the watch runs it.
func TestScheduledTickDuringTheCheckRunsAfterIt(t *testing.T) {
	for _, changed := range []bool{false, true} {
		var cycles atomic.Int32
		s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
			cycles.Add(1)
			return nil
		}), zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		inCheck, answer := make(chan struct{}), make(chan struct{})
		s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
			close(inCheck)
			<-answer
			return poller.Change{Changed: changed}, nil
		}), time.Second)
		ran := make(chan bool)
		go func() { ran <- s.watchOnce(false) }()
		<-inCheck
		wrappedJob(t, s)() // the cron tick, as cron runs it: must not block, must not run beside
		if cycles.Load() != 0 {
			t.Fatal("the scheduled cycle ran during the check")
		}
		close(answer)
		if !<-ran {
			t.Fatalf("changed=%v: the watch did not run the pending scheduled cycle", changed)
		}
		want := "schedule"
		if changed {
			want = "watch"
		}
		if got, st := cycles.Load(), s.Last(); got != 1 || st.Trigger != want {
			t.Errorf("changed=%v: %d cycles, trigger %q; want 1, %q", changed, got, st.Trigger, want)
		}
		// The token is free again.
		wrappedJob(t, s)()
		if got := cycles.Load(); got != 2 {
			t.Errorf("changed=%v: a later tick ran %d cycles in all, want 2", changed, got)
		}
	}
}

func TestWatchWaitsForTheScheduleAfterAFailedCycle(t *testing.T) {
	fail := atomic.Bool{}
	fail.Store(true)
	var checks atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		if fail.Load() {
			return errors.New("MoySklad unreachable")
		}
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
		checks.Add(1)
		return poller.Change{Changed: true}, nil
	}), time.Second)
	if err := s.RunNow(context.Background()); err == nil {
		t.Fatal("want the cycle's error")
	}
	if s.watchOnce(false) || checks.Load() != 0 {
		t.Fatalf("after a failed cycle the watch checked (%d) or ran a cycle", checks.Load())
	}
	fail.Store(false)
	wrappedJob(t, s)() // the schedule's next cycle succeeds
	if !s.watchOnce(false) || checks.Load() != 1 {
		t.Fatalf("after a good cycle: %d checks, want 1 and a cycle", checks.Load())
	}
}

func TestWatchErrorsAndPanicsRunNoCycle(t *testing.T) {
	log, logs := observed()
	var cycles atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		cycles.Add(1)
		return nil
	}), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
		if n.Add(1) == 1 {
			return poller.Change{}, errors.New("429")
		}
		panic("watch boom")
	}), time.Second)
	if s.watchOnce(false) {
		t.Error("a failed check ran a cycle")
	}
	if logs.FilterMessageSnippet("could not tell").Len() != 1 {
		t.Error("the failed check was not logged")
	}
	if s.watchOnce(false) {
		t.Error("a panicking check ran a cycle")
	}
	if logs.FilterMessageSnippet("panicked").Len() != 1 {
		t.Error("the panic was not logged")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.RunNow(ctx); err != nil || cycles.Load() != 1 {
		t.Fatalf("the lock was not given back: %v, %d cycles", err, cycles.Load())
	}
}

// Never two cycles at once, whoever starts them (run with -race).
func TestWatchScheduleAndManualNeverOverlap(t *testing.T) {
	var inFlight, maxInFlight, cycles atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		cycles.Add(1)
		time.Sleep(50 * time.Microsecond)
		inFlight.Add(-1)
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) { return poller.Change{Changed: true}, nil }), time.Second)
	tick := manualTicker(s)
	s.Start()
	job := wrappedJob(t, s)
	done := make(chan struct{})
	for _, f := range []func(){
		func() {
			for range 100 {
				tick <- time.Now()
			}
		},
		func() {
			for range 100 {
				job()
			}
		},
		func() {
			for range 100 {
				_ = s.RunNow(context.Background())
			}
		},
	} {
		go func() { f(); done <- struct{}{} }()
	}
	for range 3 {
		<-done
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("%d cycles ran at once", m)
	}
	if cycles.Load() < 100 {
		t.Errorf("only %d cycles ran", cycles.Load())
	}
}

func TestStopEndsTheWatchInItsCheck(t *testing.T) {
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error { return nil }), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	inCheck := make(chan struct{})
	s.Watch(watchFunc(func(ctx context.Context) (poller.Change, error) {
		close(inCheck)
		<-ctx.Done() // a request cut by the stop
		return poller.Change{Changed: true}, ctx.Err()
	}), time.Second)
	tick := manualTicker(s)
	s.Start()
	tick <- time.Now()
	<-inCheck
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if s.Last().Started != (time.Time{}) {
		t.Error("a cycle ran after the stop")
	}
	if s.watchOnce(false) {
		t.Error("the watch ran after the stop")
	}
}

func TestWatchOffWithoutInterval(t *testing.T) {
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error { return nil }), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) { return poller.Change{Changed: true}, nil }), 0)
	if s.watch != nil {
		t.Fatal("watch_every 0 must leave the watch off")
	}
}

// TestRunWatchRegistersBeforeTheSchedule: with the schedule an hour away, an order a manager
// sets ready after the first cycle is registered by a watch-triggered cycle; an idle daemon's
// checks are one request each.
func TestRunWatchRegistersBeforeTheSchedule(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_SCHEDULE"] = "@every 1h"
	h.env["SHIPBRIDGE_WATCH_EVERY"] = "1s"
	agent := h.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+79161234567"})
	product := h.ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Weight: 1})
	id := h.ms.AddOrder(moyskladtest.OrderSeed{Name: "W-1", AgentID: agent, StateName: "Новый",
		Positions:  []moyskladtest.PositionSeed{{ProductID: product, Quantity: 1, Price: 10000}},
		Attributes: map[string]any{"Служба доставки": "СДЭК", "Код ПВЗ": "MSK67"}})
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &bytes.Buffer{}, &errOut, WithLookupEnv(h.lookup))
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited %d:\n%s", code, errOut.String())
		}
	}()
	waitFor(t, &errOut, "cycle done")
	// Two idle checks: one list request each, no cycle.
	before := h.ms.RequestsByEndpoint()
	time.Sleep(2500 * time.Millisecond)
	after := h.ms.RequestsByEndpoint()
	if got := after["GET /entity/customerorder"] - before["GET /entity/customerorder"]; got < 1 || got > 3 {
		t.Errorf("idle for 2.5 s at watch_every 1s: %d list requests, want 2–3 (1 on a loaded machine)", got)
	}
	total := 0
	for k, v := range after {
		total += v - before[k]
	}
	if total != after["GET /entity/customerorder"]-before["GET /entity/customerorder"] {
		t.Errorf("idle checks sent other requests: before %v after %v", before, after)
	}

	if err := h.ms.SetOrderState(id, "Готов к отгрузке"); err != nil {
		t.Fatal(err)
	}
	set := time.Now()
	for {
		if o, _ := h.ms.Order(id); o.StateName == "Зарегистрирован перевозчиком" {
			break
		}
		if time.Since(set) > 15*time.Second {
			t.Fatalf("not registered 15 s after the status change (schedule: 1h):\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(errOut.String(), "watch: a change since the last cycle") {
		t.Errorf("the cycle was not the watch's:\n%s", errOut.String())
	}
}

// The watch's tick that finds a cycle running checks right after that cycle, not a tick later.
func TestWatchTickDuringACycleChecksWhenItEnds(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	var cycles, checks atomic.Int32
	s, err := NewScheduler("@every 1h", CycleFunc(func(context.Context) error {
		if cycles.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return nil
	}), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(watchFunc(func(context.Context) (poller.Change, error) {
		checks.Add(1)
		if cycles.Load() != 1 {
			t.Error("checked beside a running cycle")
		}
		return poller.Change{Changed: true}, nil
	}), time.Second)
	done := make(chan error)
	go func() { done <- s.RunNow(context.Background()) }()
	<-started
	ran := make(chan bool)
	go func() { ran <- s.watchOnce(true) }()
	select {
	case <-ran:
		t.Fatal("the watch did not wait for the cycle in flight")
	case <-time.After(20 * time.Millisecond):
	}
	if checks.Load() != 0 {
		t.Fatal("checked while the cycle ran")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !<-ran || checks.Load() != 1 || cycles.Load() != 2 || s.Last().Trigger != "watch" {
		t.Fatalf("after the cycle: %d checks, %d cycles, last %+v", checks.Load(), cycles.Load(), s.Last())
	}
}
