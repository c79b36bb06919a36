package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/poller"
)

// Cycler runs one poll cycle. It is the seam where the poller plugs into the daemon.
//
// ctx is cancelled when shipbridge is asked to stop (SIGTERM, SIGINT, or the once_timeout of
// `shipbridge once`). A Cycler checks ctx between steps, lets the step in flight finish
// (its own I/O can use context.WithoutCancel(ctx) with a timeout), records it, and returns.
// An error means the cycle could not run (configuration, MoySklad unreachable, authentication);
// business failures of single orders are outcomes, not errors.
type Cycler interface {
	Cycle(ctx context.Context) error
}

// CycleFunc adapts a function to Cycler.
type CycleFunc func(ctx context.Context) error

// Cycle calls f(ctx).
func (f CycleFunc) Cycle(ctx context.Context) error { return f(ctx) }

// Watcher tells, cheaply, whether a cycle run now would find work the last cycle did not see
// (*poller.Poller: one MoySklad request at most). An error means it could not tell.
type Watcher interface {
	Changed(ctx context.Context) (poller.Change, error)
}

// ErrStopped is returned by RunNow once Stop has been called.
var ErrStopped = errors.New("scheduler stopped")

// RunStatus describes the last cycle run by a Scheduler.
type RunStatus struct {
	// Trigger is "schedule", "manual" or "watch" (the watch saw a change between scheduled cycles).
	Trigger string
	// Started is when the cycle started; zero when no cycle has run yet.
	Started time.Time
	// Duration is how long it ran.
	Duration time.Duration
	// Err is the cycle's error, or the panic it raised; nil on success.
	Err error
}

// Scheduler runs a Cycler on a cron schedule, on demand with RunNow, and, with Watch, whenever a
// Watcher sees a change between scheduled cycles — never two cycles at a time: every run holds
// one lock token, a scheduled tick that finds a cycle running is skipped (a tick that finds only
// the watch's check waits for it), and a panicking cycle is logged without stopping later runs.
type Scheduler struct {
	log   *zap.Logger
	cycle Cycler
	now   func() time.Time
	cron  *cron.Cron

	// lock holds one token; whoever holds it runs the cycle. released is signalled (without
	// blocking) whenever the token is given back, for the watch waiting for a cycle to end.
	lock     chan struct{}
	released chan struct{}
	// ctx is passed to every cycle; cancel is called by Stop.
	ctx    context.Context
	cancel context.CancelFunc

	stopOnce sync.Once
	stopErr  error

	mu   sync.Mutex
	last RunStatus
	// checking is true while the watch holds the token for its check; a scheduled tick that
	// arrives meanwhile sets tickPending, and the watch runs that cycle after its check.
	checking, tickPending bool

	watch      Watcher
	watchEvery time.Duration
	// ticker makes the watch's ticker; tests replace it.
	ticker func(d time.Duration) (<-chan time.Time, func())
	loops  sync.WaitGroup
}

// NewScheduler returns a scheduler that runs cycle on the robfig/cron v3 spec (standard five
// fields or a descriptor such as "@every 1m"). It does not start until Start is called. now is
// the clock for RunStatus; nil means time.Now.
func NewScheduler(spec string, cycle Cycler, log *zap.Logger, now func() time.Time) (*Scheduler, error) {
	if now == nil {
		now = time.Now
	}
	cl := cronLogger{log.Sugar()}
	s := &Scheduler{
		log:   log,
		cycle: cycle,
		now:   now,
		// Recover must be inside SkipIfStillRunning: in robfig/cron v3.0.1 a panic that passes
		// through SkipIfStillRunning never gives its token back, and every later run is skipped
		// (robfig/cron#366).
		cron:     cron.New(cron.WithLogger(cl), cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl))),
		lock:     make(chan struct{}, 1),
		released: make(chan struct{}, 1),
	}
	s.lock <- struct{}{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if _, err := s.cron.AddFunc(spec, s.scheduled); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// Watch makes the scheduler ask w every `every` between cycles whether something changed, and
// run a cycle right away when it did. Call it before Start; every ≤ 0 or a nil w leaves the
// watch off. A check is skipped while a cycle runs, and after a cycle that failed (the schedule
// tries again, so a MoySklad outage is not asked about every few seconds).
func (s *Scheduler) Watch(w Watcher, every time.Duration) {
	if w == nil || every <= 0 {
		return
	}
	s.watch, s.watchEvery = w, every
}

// Start starts the cron schedule, and the watch if there is one, each in its own goroutine.
func (s *Scheduler) Start() {
	s.cron.Start()
	if s.watch != nil {
		tick := s.ticker
		if tick == nil {
			tick = func(d time.Duration) (<-chan time.Time, func()) {
				t := time.NewTicker(d)
				return t.C, t.Stop
			}
		}
		c, stop := tick(s.watchEvery)
		s.loops.Go(func() {
			defer stop()
			for {
				select {
				case <-s.ctx.Done():
					return
				case <-c:
					s.watchOnce(true)
				}
			}
		})
	}
}

// watchOnce is one tick of the watch. It takes the token — when a cycle runs, it waits for
// that cycle to end if wait is set (orders set ready while the cycle ran are then seen at once),
// else it does nothing — and holds it while it asks the Watcher, so no cycle starts meanwhile and
// the answer compares with the cursor of a finished cycle. It then runs a cycle under the same
// token when the Watcher saw a change or a scheduled tick came during the check. It reports
// whether it ran a cycle.
func (s *Scheduler) watchOnce(wait bool) (ran bool) {
	for {
		s.mu.Lock()
		select {
		case <-s.lock:
		default:
			s.mu.Unlock()
			if !wait {
				s.log.Debug("watch: a cycle is running; no check")
				return false
			}
			select {
			case <-s.released:
				continue
			case <-s.ctx.Done():
				return false
			}
		}
		break // the token is ours, and mu is held
	}
	if s.ctx.Err() != nil {
		s.release()
		s.mu.Unlock()
		return false
	}
	s.checking = true
	lastErr := s.last.Err
	s.mu.Unlock()

	held := true
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("watch: check or cycle panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
		s.mu.Lock()
		s.checking, s.tickPending = false, false
		s.mu.Unlock()
		if held {
			s.release()
		}
	}()

	var change poller.Change
	if lastErr == nil {
		var err error
		change, err = s.watch.Changed(s.ctx)
		if err != nil {
			change = poller.Change{}
		}
		switch {
		case err != nil && s.ctx.Err() == nil:
			s.log.Warn("watch: could not tell whether an order changed; the schedule runs the next cycle", zap.Error(err))
		case change.Changed:
			s.log.Info("watch: a change since the last cycle; running a cycle now", zap.String("reason", change.Reason))
		default:
			s.log.Debug("watch: nothing new", zap.String("reason", change.Reason))
		}
	} else {
		s.log.Debug("watch: the last cycle failed; the schedule runs the next one", zap.Error(lastErr))
	}

	s.mu.Lock()
	s.checking = false
	pending := s.tickPending
	s.tickPending = false
	if s.ctx.Err() != nil || (!change.Changed && !pending) {
		// Given back under mu: a scheduled tick either saw checking (and set tickPending,
		// read above) or finds the token.
		s.release()
		held = false
		s.mu.Unlock()
		return false
	}
	s.mu.Unlock()
	trigger := "watch"
	if !change.Changed {
		trigger = "schedule"
	}
	// A panic is recovered above (with its stack) after run has recorded it.
	_ = s.run(s.ctx, trigger)
	return true
}

// release gives the lock token back and wakes the watch if it waits for it.
func (s *Scheduler) release() {
	s.lock <- struct{}{}
	select {
	case s.released <- struct{}{}:
	default:
	}
}

// scheduled is the cron job: it runs a cycle unless one is already running. A tick that comes
// while the watch only checks is handed to the watch, which runs the cycle after its check.
func (s *Scheduler) scheduled() {
	s.mu.Lock()
	select {
	case <-s.lock:
		s.mu.Unlock()
	default:
		if s.checking {
			s.tickPending = true
			s.mu.Unlock()
			s.log.Debug("scheduled cycle runs after the watch's check")
			return
		}
		s.mu.Unlock()
		s.log.Debug("scheduled cycle skipped: a cycle is already running")
		return
	}
	defer s.release()
	if s.ctx.Err() != nil {
		return
	}
	// A panic propagates to cron.Recover, which logs it with its stack.
	_ = s.run(s.ctx, "schedule")
}

// RunNow runs one cycle now and returns its error. It waits while another cycle runs, and gives
// up when ctx is done or the scheduler is stopped. The cycle's context is cancelled when either ctx
// is done or Stop is called. A panic in the cycle is returned as an error.
func (s *Scheduler) RunNow(ctx context.Context) (err error) {
	select {
	case <-s.lock:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ErrStopped
	}
	defer s.release()
	if s.ctx.Err() != nil {
		return ErrStopped
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	defer func() {
		if r := recover(); r != nil {
			s.log.Error("cycle panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("cycle panicked: %v", r)
		}
	}()
	return s.run(ctx, "manual")
}

// run calls the cycle, logs its outcome and records it as the last status.
func (s *Scheduler) run(ctx context.Context, trigger string) (err error) {
	start := s.now()
	s.log.Debug("cycle started", zap.String("trigger", trigger))
	defer func() {
		status := RunStatus{Trigger: trigger, Started: start, Duration: s.now().Sub(start), Err: err}
		if r := recover(); r != nil {
			status.Err = fmt.Errorf("cycle panicked: %v", r)
			s.record(status)
			panic(r)
		}
		s.record(status)
		if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// A stop (SIGTERM) cancelled the cycle: a normal end, not a failure.
			s.log.Info("cycle interrupted by the stop; unfinished orders resume next start", zap.String("trigger", trigger))
			return
		}
		if err != nil {
			s.log.Error("cycle failed", zap.String("trigger", trigger), zap.Duration("duration", status.Duration), zap.Error(err))
			return
		}
		s.log.Debug("cycle finished", zap.String("trigger", trigger), zap.Duration("duration", status.Duration))
	}()
	return s.cycle.Cycle(ctx)
}

func (s *Scheduler) record(st RunStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = st
}

// Last returns the status of the last cycle that finished.
func (s *Scheduler) Last() RunStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Stop stops the schedule, cancels the context of the cycle in flight, and waits for that cycle
// to return, or for ctx to be done (then it returns an error and the cycle is abandoned). After
// Stop no cycle starts again. Calling Stop again returns the first result.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		cronDone := s.cron.Stop()
		s.cancel()
		select {
		case <-s.lock:
			// Keep the token: no cycle may start after Stop.
		case <-ctx.Done():
			s.stopErr = fmt.Errorf("the cycle in flight did not finish in time: %w", ctx.Err())
			return
		}
		select {
		case <-cronDone.Done():
		case <-ctx.Done():
			s.stopErr = fmt.Errorf("the scheduler did not stop in time: %w", ctx.Err())
			return
		}
		loopsDone := make(chan struct{})
		go func() { s.loops.Wait(); close(loopsDone) }()
		select {
		case <-loopsDone:
		case <-ctx.Done():
			s.stopErr = fmt.Errorf("the watch did not stop in time: %w", ctx.Err())
		}
	})
	return s.stopErr
}

// cronLogger adapts zap to cron.Logger. cron's chatty Info messages (wake, run, skip) become
// Debug; its errors (a recovered panic, with the stack) stay errors.
type cronLogger struct{ l *zap.SugaredLogger }

// Info logs at debug level.
func (c cronLogger) Info(msg string, keysAndValues ...any) {
	c.l.Debugw("cron: "+msg, keysAndValues...)
}

// Error logs at error level.
func (c cronLogger) Error(err error, msg string, keysAndValues ...any) {
	c.l.Errorw("cron: "+msg, append([]any{"error", err}, keysAndValues...)...)
}
