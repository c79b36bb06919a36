package moysklad

import (
	"context"
	"sync"
	"time"
)

// windowLimiter admits at most n requests per window in the strict sense a
// server applies: in any interval of length window, the server sees at most n
// arrivals.
//
// A token bucket (burst n, refill n/window) does not guarantee that: a full
// bucket plus the refill admits up to 2n-1 starts in one window. Nor does a
// sliding log of *start* times, because a request sent early may arrive late
// (connection set-up, scheduling) and crowd the next window.
//
// This limiter therefore holds a slot from the moment a request starts until
// its answer is received, and keeps the slot for one more window after that.
// A new request starts at s only when fewer than n slots are held, i.e. fewer
// than n earlier requests are in flight or ended after s-window. Because an
// earlier request arrived at the server no later than it ended (a_k <= e_k)
// and the new one arrives no earlier than it starts (a >= s), every earlier
// request the server still counts at a (a_k > a-window >= s-window) is one the
// limiter counted: the server never sees more than n in a window.
//
// It can also be paused (everyone waits) until a given time, which the client
// does when MoySklad reports that the budget is spent or answers 429.
type windowLimiter struct {
	n      int
	window time.Duration
	margin time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	mu          sync.Mutex
	slots       []*slot
	pausedUntil time.Time
}

// slot is one admitted request; end is set when its answer arrived.
type slot struct {
	end  time.Time
	done bool
}

func newWindowLimiter(n int, window, margin time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *windowLimiter {
	return &windowLimiter{n: n, window: window, margin: margin, now: now, sleep: sleep}
}

// acquire blocks until a request may start and returns its slot (to be
// released when the answer is in) and how long the caller waited.
func (l *windowLimiter) acquire(ctx context.Context) (*slot, time.Duration, error) {
	var waited time.Duration
	hold := l.window + l.margin
	for {
		if err := ctx.Err(); err != nil {
			return nil, waited, err
		}
		l.mu.Lock()
		now := l.now()
		keep := l.slots[:0]
		for _, s := range l.slots {
			if !s.done || now.Sub(s.end) < hold {
				keep = append(keep, s)
			}
		}
		for i := len(keep); i < len(l.slots); i++ {
			l.slots[i] = nil
		}
		l.slots = keep
		var next time.Time
		if len(l.slots) >= l.n {
			for _, s := range l.slots {
				if s.done {
					if t := s.end.Add(hold); next.IsZero() || t.Before(next) {
						next = t
					}
				}
			}
			if next.IsZero() { // all n in flight: poll for a release
				next = now.Add(l.window/50 + time.Millisecond)
			}
		}
		if now.Before(l.pausedUntil) && l.pausedUntil.After(next) {
			next = l.pausedUntil
		}
		if next.IsZero() {
			s := &slot{}
			l.slots = append(l.slots, s)
			l.mu.Unlock()
			return s, waited, nil
		}
		l.mu.Unlock()
		d := next.Sub(now)
		if err := l.sleep(ctx, d); err != nil {
			return nil, waited, err
		}
		waited += d
	}
}

// release marks the slot's request as answered now.
func (l *windowLimiter) release(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.end, s.done = l.now(), true
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
