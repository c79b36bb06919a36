package poller

import (
	"context"
	"sync"
	"time"
)

// fakeClock is the tests' clock: it moves only when a test advances it or
// the code under test sleeps (a sleep advances it at once, so grace periods,
// backoffs and the carrier's first-poll delay pass without real waiting).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
}

// Now returns the fake time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep is Deps.Sleep on the fake clock: it advances the clock by d, unless
// ctx is done.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// stamps returns a clock for the MoySklad simulator's data: the fake time,
// but never the same millisecond twice, as a manager's clicks and our own
// updates are never stamped alike (MoySklad's 'updated' has millisecond
// precision, and the fake clock may stand still between two changes).
func (c *fakeClock) stamps() func() time.Time {
	var mu sync.Mutex
	var last time.Time
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := c.Now().Truncate(time.Millisecond)
		if !t.After(last) {
			t = last.Add(time.Millisecond)
		}
		last = t
		return t
	}
}
