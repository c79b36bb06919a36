package poller

// How a tracking pass writes to MoySklad and saves its checks in batches.
//
// Writes. An order whose delivery status changed gets a partial update
// (delivery_status, and the status move when it is due). With a bulk-capable
// MoySklad (BulkUpdater) the pass queues these updates and sends them
// together in POST /entity/customerorder bulk updates
// (moysklad.Client.UpdateOrders, which splits at moysklad.MaxBulkItems and
// its body bound). The queue goes between two carrier batches when the next
// batch could take it past Config.BulkMaxItems or Config.BulkMaxBytes, and
// whenever its oldest update has waited Config.BulkDelay, checked also
// before each shipment of a batch is handed to a worker: a move is decided
// from a read of the order, and the write follows that read within
// BulkDelay and the time of a read or two (the workers' reads in flight).
// The window in which a status a manager sets meanwhile would be
// overwritten thus stays a few seconds, as it was for a PUT that waited for
// the rate limiter. What is left goes at the end of the pass, also when the
// pass stops at its deadline or is cancelled (the reads are done; the
// request runs to completion like a PUT), but not after a failure stopped
// it (drop). Each order's result is handled as its PUT's would be: applied
// → saved with the new status; refused → kept in the store and history,
// not sent again unchanged; not found → kept in the history; answer lost or
// not sent → nothing saved, the pass stops, and the next pass reads the
// order again before it writes (so a move that landed is not repeated, and
// a status a manager chose meanwhile is kept). This is not the
// registration workflow's batcher (bulk.go): that one gathers blocked
// workers' updates within a cycle; here the feeder of a pass's workers
// sends the queue itself, when it is due.
//
// Saves. Each checked shipment's new Delivery (and LastState after a move)
// and its events are collected and saved in one store transaction per
// carrier batch (the unchanged checks, and the writes sent by PUT) and one
// per bulk update (the orders it carried), instead of one fsync'd
// transaction per shipment. A crash loses at most the unsaved checks; the
// next pass asks about them again, which is harmless (see the crash-safety
// note at the top of tracking.go).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/internal/exchange"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
)

// trackItemMaxSize is the largest estimated bulk size of one tracking
// update (updateSize): the overhead and a full-length delivery_status.
const trackItemMaxSize = bulkItemOverhead + 4*deliveryStatusMax

// trackWrite is one order's MoySklad write decided by a pass, and what its
// history and record get once it is answered.
type trackWrite struct {
	carrier string
	rec     store.OrderRecord
	next    store.Delivery
	text    string // the delivery_status value
	u       moysklad.OrderUpdate
	// target is the status key of a move ("" when none is due); keptState
	// the status a manager chose, which stays.
	target, keptState string
	evlog             *eventLog
	// queued is when it joined the bulk queue (the pass's clock).
	queued time.Time
}

// trackSave is one order's save: its record's Delivery (and LastState after
// a move) with events, or only events (appendOnly).
type trackSave struct {
	rec        store.OrderRecord
	d          store.Delivery
	lastState  string
	events     []store.Event
	appendOnly bool
}

// record adds a MoySklad exchange to the order's history.
func (w *trackWrite) record(e exchange.Exchange) {
	msg := fmt.Sprintf("%s %s → %d", e.Method, e.URL, e.Status)
	if e.Err != "" {
		msg = fmt.Sprintf("%s %s → %s", e.Method, e.URL, e.Err)
	}
	w.evlog.add("moysklad_exchange", msg, e)
}

// writeContext is the context of one order's reads and PUT: not cut off
// by the pass's end (within trackWriteTimeout), recording the exchanges in
// the order's history and counting the write requests.
func (tp *trackPass) writeContext(ctx context.Context, w *trackWrite) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trackWriteTimeout)
	return exchange.WithRecorder(wctx, func(e exchange.Exchange) {
		if e.Method != http.MethodGet {
			tp.count(func(r *TrackReport) { r.WriteRequests++ })
		}
		w.record(e)
	}), cancel
}

// keep collects one order's save for the next commit.
func (tp *trackPass) keep(s trackSave) {
	tp.mu.Lock()
	tp.saves = append(tp.saves, s)
	tp.mu.Unlock()
}

// commit saves the collected saves in one store transaction. Each save
// reads the record again and changes only Delivery (and LastState after a
// move), so that nothing the workflow wrote meanwhile is undone; when the
// workflow took the order over (it is no longer a settled registered
// shipment), only the events are kept.
func (tp *trackPass) commit() error {
	tp.mu.Lock()
	saves := tp.saves
	tp.saves = nil
	tp.mu.Unlock()
	if len(saves) == 0 {
		return nil
	}
	err := tp.p.st.Batch(func(b *store.Batch) error {
		for _, s := range saves {
			if err := s.write(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInfrastructure, err)
	}
	return nil
}

// write applies one save within the batch's transaction.
func (s trackSave) write(b *store.Batch) error {
	if s.appendOnly {
		return b.Append(s.rec.ID, s.events...)
	}
	fresh, ok, err := b.Order(s.rec.ID)
	if err != nil {
		return err
	}
	if !ok || Phase(fresh.Phase) != phaseRegistered || fresh.Open || fresh.Reference != s.rec.Reference || fresh.TrackingNumber != s.rec.TrackingNumber {
		return b.Append(s.rec.ID, s.events...)
	}
	fresh.Delivery = s.d
	if s.lastState != "" {
		fresh.LastState = s.lastState
	}
	return b.Save(fresh, s.events...)
}

// enqueue queues the write for the pass's next bulk update; it returns
// false when the pass writes by PUT, or the update is too large for a bulk
// request.
func (tp *trackPass) enqueue(w *trackWrite) bool {
	if tp.bulk == nil {
		return false
	}
	size := updateSize(w.u)
	if size+2 > tp.p.cfg.BulkMaxBytes {
		return false
	}
	w.queued = tp.p.now()
	tp.mu.Lock()
	tp.queue = append(tp.queue, w)
	tp.queueBytes += size + 1
	tp.mu.Unlock()
	return true
}

// flushDue reports whether the queued writes go now, before the next
// carrier batch: that batch could take the queue past a bound, or the
// oldest has waited BulkDelay.
func (tp *trackPass) flushDue() bool {
	cfg := tp.p.cfg
	tp.mu.Lock()
	full := len(tp.queue) > 0 && (len(tp.queue)+trackBatch > cfg.BulkMaxItems ||
		tp.queueBytes+trackBatch*(trackItemMaxSize+1) > cfg.BulkMaxBytes)
	tp.mu.Unlock()
	return full || tp.queueAged()
}

// queueAged reports whether the oldest queued write has waited BulkDelay.
func (tp *trackPass) queueAged() bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.queue) > 0 && tp.p.now().Sub(tp.queue[0].queued) >= tp.p.cfg.BulkDelay
}

// drop gives up the queued writes when the pass stops on a failure
// (MoySklad unavailable, an answer lost, the store failing): nothing more
// is sent; their records stay as they were and their exchanges go into the
// history, as after a lost PUT, and the next pass decides them afresh.
func (tp *trackPass) drop() {
	tp.mu.Lock()
	items := tp.queue
	tp.queue, tp.queueBytes = nil, 0
	tp.mu.Unlock()
	for _, w := range items {
		_ = tp.lost(w, errTrackingStopped)
	}
	if err := tp.commit(); err != nil {
		tp.p.log.Warn("tracking: the history of unsent updates was not saved", zap.Int("orders", len(items)), zap.Error(err))
	}
}

// errTrackingStopped is why drop gave up a write.
var errTrackingStopped = errors.New("tracking pass stopped before the update was sent")

// flush sends the queued writes in bulk updates and handles each order's
// result as its PUT's, then saves their checks in one transaction. It
// returns an error when the pass must stop (an answer lost, MoySklad
// unavailable, the store failing).
func (tp *trackPass) flush(ctx context.Context) error {
	tp.mu.Lock()
	items := tp.queue
	tp.queue, tp.queueBytes = nil, 0
	tp.mu.Unlock()
	for len(items) > 0 {
		n := tp.chunkLen(items)
		if err := tp.send(ctx, items[:n]); err != nil {
			// The pass stops: what was not sent is given up as drop does.
			for _, w := range items[n:] {
				_ = tp.lost(w, errTrackingStopped)
			}
			if cerr := tp.commit(); cerr != nil {
				tp.p.log.Warn("tracking: the history of unsent updates was not saved", zap.Int("orders", len(items)-n), zap.Error(cerr))
			}
			return err
		}
		items = items[n:]
	}
	return nil
}

// chunkLen is how many of the queued writes, from the first, go in one
// bulk request: at most Config.BulkMaxItems, and within Config.BulkMaxBytes
// by their estimated size (always at least one).
func (tp *trackPass) chunkLen(items []*trackWrite) int {
	cfg := tp.p.cfg
	n, size := 0, 2
	for n < len(items) && n < cfg.BulkMaxItems {
		s := updateSize(items[n].u) + 1
		if n > 0 && size+s > cfg.BulkMaxBytes {
			break
		}
		n, size = n+1, size+s
	}
	return max(n, 1)
}

// send sends one bulk request of queued writes and handles each order's
// result as its PUT's, then saves their checks in one transaction.
func (tp *trackPass) send(ctx context.Context, items []*trackWrite) error {
	updates := make([]moysklad.BulkUpdate, len(items))
	for i, w := range items {
		updates[i] = moysklad.BulkUpdate{ID: w.rec.ID, Update: w.u}
	}
	// Every order's history gets the request's exchange, without bodies
	// (they would repeat every other order's update); the request runs to
	// completion when the pass is stopped.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trackWriteTimeout)
	defer cancel()
	wctx = exchange.WithRecorder(wctx, func(e exchange.Exchange) {
		tp.count(func(r *TrackReport) { r.WriteRequests++ })
		e.Request, e.Response = "", ""
		for _, w := range items {
			w.record(e)
		}
	})
	res, err := tp.bulk.UpdateOrders(wctx, updates)
	if err != nil {
		tp.p.log.Warn("MoySklad bulk update of delivery statuses failed", zap.Int("orders", len(items)), zap.Error(err))
	}
	var fatal error
	for i, w := range items {
		r := moysklad.BulkResult{ID: w.rec.ID, Outcome: moysklad.BulkUnknown, Err: moysklad.ErrBulkAnswerLost}
		if i < len(res) {
			r = res[i]
		}
		var ferr error
		switch {
		case r.Outcome == moysklad.BulkNotSent && errors.Is(r.Err, moysklad.ErrBulkItemTooLarge):
			// Larger than estimated: alone, by PUT.
			pctx, pcancel := tp.writeContext(ctx, w)
			ferr = tp.put(pctx, w)
			pcancel()
		case r.Outcome == moysklad.BulkNotSent:
			// Certainly not stored (429 after the retries, an earlier
			// request's answer lost, …): the next pass writes it.
			ferr = tp.lost(w, r.Err)
		case r.Outcome == moysklad.BulkApplied:
			tp.count(func(r *TrackReport) { r.Writes++ })
			ferr = tp.done(w, true)
		case r.Outcome == moysklad.BulkRefused:
			tp.count(func(r *TrackReport) { r.Writes++ })
			ferr = tp.failed(w, r.Err)
		default: // BulkUnknown: the answer was lost, as a lost PUT's
			tp.count(func(r *TrackReport) { r.Writes++ })
			ferr = tp.lost(w, r.Err)
		}
		if ferr != nil && fatal == nil {
			fatal = ferr
		}
	}
	if err := tp.commit(); err != nil {
		return err
	}
	return fatal
}
