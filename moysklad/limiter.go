package moysklad

import (
	"context"
	"sync"
	"time"
)

// windowLimiter admits at most n request starts in any interval of length
// window (a sliding log). Unlike a token bucket with burst n, which can admit
// up to 2n-1 starts in one window (a full bucket plus the refill), a sliding
// log never exceeds n in any window measured by the same clock; margin pads
// each window to absorb the difference between the moment a request leaves
// the client and the moment the server counts it.
//
// It can also be paused (everyone waits) until a given time, which the client
// does when MoySklad reports that the budget is exhausted or answers 429.
type windowLimiter struct {
	n      int
	window time.Duration
	margin time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	mu          sync.Mutex
	starts      []time.Time // ring of the last n admitted starts, oldest first
	pausedUntil time.Time
}

func newWindowLimiter(n int, window, margin time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *windowLimiter {
	return &windowLimiter{n: n, window: window, margin: margin, now: now, sleep: sleep, starts: make([]time.Time, 0, n)}
}

// wait blocks until a start is admitted and records it. It returns how long
// the caller waited.
func (l *windowLimiter) wait(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		l.mu.Lock()
		now := l.now()
		var next time.Time
		if len(l.starts) >= l.n {
			if free := l.starts[0].Add(l.window + l.margin); now.Before(free) {
				next = free
			}
		}
		if now.Before(l.pausedUntil) && l.pausedUntil.After(next) {
			next = l.pausedUntil
		}
		if next.IsZero() {
			if len(l.starts) >= l.n {
				copy(l.starts, l.starts[1:])
				l.starts = l.starts[:l.n-1]
			}
			l.starts = append(l.starts, now)
			l.mu.Unlock()
			return waited, nil
		}
		l.mu.Unlock()
		d := next.Sub(now)
		if err := l.sleep(ctx, d); err != nil {
			return waited, err
		}
		waited += d
	}
}

// pause makes every caller wait until now+d (extending, never shortening, an
// earlier pause).
func (l *windowLimiter) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}
