package poller

import (
	"context"
	"fmt"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
)

// Change is the answer of Changed: whether a cycle run now would find work
// that the last cycle did not see, and why (for logs).
type Change struct {
	// Changed is true when a cycle should run now.
	Changed bool
	// Reason says what changed, or why the check could not tell (then
	// Changed is false and the schedule runs the next cycle).
	Reason string
	// Asked tells whether the check sent its MoySklad request.
	Asked bool
}

// Changed is the cheap check `run` makes between scheduled cycles (the
// watch): it tells whether an order in a trigger status changed since the
// last cycle, or an unfinished order's retry fell due since the last cycle
// started, with at most ONE MoySklad request and no write.
//
//   - A retry is read from the store's index of open orders (no request): an
//     order whose next attempt is due now but was not yet due when the last
//     cycle started. Orders that were due then were that cycle's work; the
//     schedule keeps resuming them.
//   - A change is asked of MoySklad with LatestOrder: the newest order in the
//     ready or delete status with updated ≥ the stored cursor. The cursor is
//     the latest 'updated' the last cycle listed (see plan and commit), so
//     the answer is news only when that order's updated is later than the
//     cursor. The overlap a cycle lists again (Config.Overlap) is not asked
//     about: it exists for changes that become visible late, and those the
//     scheduled cycle still finds.
//   - The echo of shipbridge's own writes is no news: an outcome moves the
//     order out of the trigger statuses (so the filter leaves it out), and an
//     order written while it stays in one is recognised by the 'updated'
//     shipbridge last processed or got back from its write
//     (OrderRecord.LastUpdated) when it is the only order after the cursor. When it is not the only one, Changed says
//     "changed": one cycle too many lists it, and moves the cursor past it.
//
// Without a cursor, a completed cycle in this process or the metadata (all
// of which the first cycle provides), Changed sends nothing and says "not
// changed": the schedule runs the cycle. An error is the request's; the
// caller waits for the next check or the schedule.
func (p *Poller) Changed(ctx context.Context) (Change, error) {
	last := p.Progress()
	if last.Started.IsZero() {
		return Change{Reason: "no cycle has run yet"}, nil
	}
	due, name, err := p.retryFellDue(last.Started)
	if err != nil {
		return Change{}, fmt.Errorf("%w: read open orders: %v", ErrInfrastructure, err)
	}
	if due {
		return Change{Changed: true, Reason: "the retry of order " + name + " is due"}, nil
	}

	p.metaMu.Lock()
	meta := p.meta
	p.metaMu.Unlock()
	if meta == nil {
		return Change{Reason: "the MoySklad metadata is not read yet"}, nil
	}
	raw, ok, err := p.st.Cursor(cursorUpdated)
	if err != nil {
		return Change{}, fmt.Errorf("%w: read cursor: %v", ErrInfrastructure, err)
	}
	if !ok {
		return Change{Reason: "no cursor yet"}, nil
	}
	cursor, err := moysklad.ParseMoment(raw)
	if err != nil {
		return Change{Reason: "unreadable cursor (the next cycle sweeps)"}, nil
	}
	q := moysklad.ListOrdersQuery{UpdatedFrom: cursor.Time,
		StateHrefs: []string{meta.states[keyReady].Meta.Href, meta.states[keyDelete].Meta.Href}}
	lo, canAsk := p.ms.(latestOrderer)
	if !canAsk {
		return Change{Reason: "the MoySklad client cannot answer the check"}, nil
	}
	newest, size, found, err := lo.LatestOrder(ctx, q)
	if err != nil {
		return Change{Asked: true}, err
	}
	if !found || !newest.Updated.After(cursor.Time) {
		return Change{Asked: true, Reason: "no order in a trigger status changed"}, nil
	}
	if size == 1 {
		echo, err := p.ownWrite(newest)
		if err != nil {
			return Change{Asked: true}, fmt.Errorf("%w: read order record: %v", ErrInfrastructure, err)
		}
		if echo {
			return Change{Asked: true, Reason: "order " + newest.Name + " changed by shipbridge's own write"}, nil
		}
	}
	return Change{Changed: true, Asked: true,
		Reason: fmt.Sprintf("order %s changed at %s (%d in a trigger status since the cursor)", newest.Name, newest.Updated, size)}, nil
}

// latestOrderer is the MoySklad call of Changed; *moysklad.Client has it.
type latestOrderer interface {
	LatestOrder(ctx context.Context, q moysklad.ListOrdersQuery) (moysklad.OrderStamp, int, bool, error)
}

// CanWatch tells whether the MoySklad client of p answers Changed's request
// (a test double of MoySklad may not).
func (p *Poller) CanWatch() bool {
	_, ok := p.ms.(latestOrderer)
	return ok
}

// retryFellDue reports an unfinished order whose next attempt is due now
// and was not yet due at since, and its name.
func (p *Poller) retryFellDue(since time.Time) (bool, string, error) {
	now := p.now()
	var name string
	err := p.st.OpenOrders(func(rec store.OrderRecord) bool {
		st := decodeState(rec.Pending)
		if st.Settled || st.Trigger == "" || rec.NextAttemptAt.IsZero() {
			return true
		}
		if rec.NextAttemptAt.After(since) && !rec.NextAttemptAt.After(now) {
			name = rec.Name
			return false
		}
		return true
	})
	return name != "", name, err
}

// ownWrite tells whether o's last change is one shipbridge has seen: its
// own write-back (the 'updated' MoySklad answered the PUT with) or a version
// a cycle already processed.
func (p *Poller) ownWrite(o moysklad.OrderStamp) (bool, error) {
	rec, ok, err := p.st.Order(o.ID)
	if err != nil || !ok || rec.LastUpdated == "" {
		return false, err
	}
	mine, perr := moysklad.ParseMoment(rec.LastUpdated)
	if perr != nil {
		return false, nil
	}
	return !o.Updated.After(mine.Time), nil
}
