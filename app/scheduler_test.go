package app

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
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
