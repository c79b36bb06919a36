package bench

import (
	"context"
	"fmt"
	"time"
)

// BurstResult is the outcome of a burst: n orders set to ready at once.
type BurstResult struct {
	Orders, Registered int
	// Wall is the scaled time from the status change to the last order
	// registered on MoySklad; Floor the time the MoySklad budget needs for
	// the list pages and one PUT per order: the floor of the write-back
	// before bulk updates, kept as the reference.
	Wall, Floor time.Duration
	Cycles      int
	// MS and CDEK are the requests of the burst by endpoint; TooMany the
	// 429 answers MoySklad sent.
	MS, CDEK Counts
	TooMany  int
	// MaxWrites is the most writes (PUTs or bulk elements) MoySklad
	// stored for one of the orders.
	MaxWrites int
}

// Ratio is Wall / Floor.
func (r BurstResult) Ratio() float64 { return float64(r.Wall) / float64(r.Floor) }

// MSPerOrder and CDEKPerOrder are requests per registered order.
func (r BurstResult) MSPerOrder() float64 { return float64(r.MS.Total()) / float64(r.Registered) }

// CDEKPerOrder is CDEK requests per registered order.
func (r BurstResult) CDEKPerOrder() float64 { return float64(r.CDEK.Total()) / float64(r.Registered) }

// Burst adds n orders, sets them all to ready at once and runs cycles back
// to back (as a schedule shorter than a cycle does) until every order is
// registered or maxCycles ran. The environment should be warm (see Warm).
func (e *Env) Burst(ctx context.Context, n, maxCycles int) (BurstResult, error) {
	ids := e.AddOrders(fmt.Sprintf("B%d-", n), n)
	return e.BurstOf(ctx, ids, maxCycles, func() error { return e.SetReady(ids...) }, func(ctx context.Context) error { return e.Cycle(ctx) })
}

// BurstOf runs a burst of the given orders: setReady changes their status,
// cycle runs one cycle (in this process or another).
func (e *Env) BurstOf(ctx context.Context, ids []string, maxCycles int, setReady func() error, cycle func(context.Context) error) (BurstResult, error) {
	res := BurstResult{Orders: len(ids), Floor: e.FloorFor(Pages(len(ids)) + len(ids))}
	ms0, cd0, tm0 := e.MSCounts(), e.CDEKCounts(), e.MS.TooManyRequests()
	start := time.Now()
	if err := setReady(); err != nil {
		return res, err
	}
	for res.Cycles < maxCycles {
		res.Cycles++
		if err := cycle(ctx); err != nil {
			return res, err
		}
		if res.Registered = e.Registered(ids); res.Registered == len(ids) {
			break
		}
	}
	// The end is the last registration MoySklad stamped, not the end of
	// the cycle's bookkeeping.
	var last time.Time
	for _, id := range ids {
		if o, ok := e.MS.Order(id); ok && o.StateName == StateRegistered && o.Updated.After(last) {
			last = o.Updated
		}
	}
	res.Wall = last.Sub(start)
	res.MS, res.CDEK = e.MSCounts().Sub(ms0), e.CDEKCounts().Sub(cd0)
	res.TooMany = e.MS.TooManyRequests() - tm0
	for _, id := range ids {
		res.MaxWrites = max(res.MaxWrites, e.MS.PutsPerOrder(id))
	}
	return res, nil
}
