package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/poller"
)

// trackingCycler is the Cycler of `run`, `once` and `demo` when tracking is on (tracking.every >
// 0): the poll cycle first, then, when one is due, a tracking pass (PRODUCT.md rule 13).
//
// Registration keeps MoySklad's whole budget: the pass never runs beside a cycle (the scheduler
// runs one Cycle at a time), and under `run` it stops starting work margin before the next
// scheduled cycle — one MoySklad rate window plus time for the last request to end — so that the
// next cycle finds every request of the window free. A cycle that runs long leaves tracking less
// time, or none; tracking never delays a cycle by more than its last request.
type trackingCycler struct {
	p      *poller.Poller
	log    *zap.Logger
	now    func() time.Time
	margin time.Duration
	// next returns the next scheduled cycle after t; nil when there is no schedule (`once`,
	// `demo`): the pass is then bounded only by the context.
	next func(t time.Time) time.Time
}

// trackingRequestTime is how long the last MoySklad request of a pass may take to end, on top
// of the rate window its slot is held for.
const trackingRequestTime = 2 * time.Second

func newTrackingCycler(p *poller.Poller, log *zap.Logger, now func() time.Time, window time.Duration) *trackingCycler {
	if now == nil {
		now = time.Now
	}
	return &trackingCycler{p: p, log: log, now: now, margin: window + trackingRequestTime}
}

// bound makes each pass end margin before the next tick of the cron spec.
func (c *trackingCycler) bound(spec string) error {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", spec, err)
	}
	c.next = s.Next
	return nil
}

// Cycle runs the poll cycle, then a tracking pass when one is due. A failed pass is logged and
// does not fail the cycle: registration ran.
func (c *trackingCycler) Cycle(ctx context.Context) error {
	start := c.now()
	if err := c.p.Cycle(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	due, err := c.p.TrackingDue()
	if err != nil {
		c.log.Warn("tracking: cannot tell whether a pass is due", zap.Error(err))
		return nil
	}
	if !due {
		return nil
	}
	var opts poller.TrackOptions
	if c.next != nil {
		opts.Deadline = c.next(start).Add(-c.margin)
		if !c.now().Before(opts.Deadline) {
			c.log.Debug("tracking: no time left before the next cycle; the pass waits")
			return nil
		}
	}
	if _, err := c.p.Track(ctx, opts); err != nil && ctx.Err() == nil {
		var mm *poller.MissingMetadataError
		if errors.As(err, &mm) {
			c.log.Error("tracking pass cannot run: run `shipbridge setup`", zap.Error(err))
			return nil
		}
		c.log.Warn("tracking pass failed; the next one continues", zap.Error(err))
	}
	return nil
}
