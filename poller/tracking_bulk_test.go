package poller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

const bulkEndpoint = "POST /entity/customerorder"

// trackShip is a tracked shipment of the bulk tests and its new status.
type trackShip struct {
	id, ref string
	status  carriers.TrackStatus
}

// bulkShipments adds n shipments; every fifth is delivered, the others
// have a new in-transit status.
func (e *trackEnv) bulkShipments(prefix string, n int) []trackShip {
	e.t.Helper()
	var ships []trackShip
	for i := range n {
		s := carriers.TrackInTransit
		if i%5 == 0 {
			s = carriers.TrackDelivered
		}
		id, ref := e.shipment(fmt.Sprintf("%s-%03d", prefix, i), time.Hour)
		e.tracker.set(ref, s, string(s), "Статус "+string(s), at)
		ships = append(ships, trackShip{id, ref, s})
	}
	return ships
}

// wantWritten checks that each order has its status and delivery status,
// and was written want times.
func (e *trackEnv) wantWritten(ships []trackShip, want int) {
	e.t.Helper()
	for i, s := range ships {
		o := e.order(s.id)
		state := sRegistered
		if s.status == carriers.TrackDelivered {
			state = sDelivered
		}
		if o.StateName != state || o.Attr(aDeliveryStatus) != "Статус "+string(s.status)+", 03.12.2026 14:05" {
			e.t.Errorf("order %d: state %q, delivery status %q", i, o.StateName, o.Attr(aDeliveryStatus))
		}
		if n := e.ms.PutsPerOrder(s.id); n != want {
			e.t.Errorf("order %d: written %d times, want %d", i, n, want)
		}
		if rec := e.record(s.id); rec.Delivery.Status != string(s.status) {
			e.t.Errorf("order %d: record %+v", i, rec.Delivery)
		}
	}
}

func TestTrackingWritesManyChangesInFewBulkRequests(t *testing.T) {
	e := newTrackEnv(t)
	ships := e.bulkShipments("B", 250)
	before := e.ms.RequestsByEndpoint()
	rep := e.track()
	after := e.ms.RequestsByEndpoint()
	if rep.Checked != 250 || rep.Changed != 250 || rep.Moved != 50 || rep.Reads != 50 || rep.Writes != 250 || rep.WriteRequests != 1 || !rep.Complete {
		t.Errorf("report %+v", rep)
	}
	if n := after[bulkEndpoint] - before[bulkEndpoint]; n != 1 {
		t.Errorf("%d bulk requests for 250 orders, want 1", n)
	}
	if n := after["PUT /entity/customerorder/{id}"] - before["PUT /entity/customerorder/{id}"]; n != 0 {
		t.Errorf("%d PUTs", n)
	}
	e.wantWritten(ships, 1)
	// Each order's history has the request (once) and what was written.
	for _, s := range ships[:2] {
		var posts int
		for _, ev := range e.events(s.id, "moysklad_exchange") {
			if len(ev.Message) > 4 && ev.Message[:4] == "POST" {
				posts++
			}
		}
		kind := "delivery_status"
		if s.status == carriers.TrackDelivered {
			kind = "status"
		}
		if posts != 1 || len(e.events(s.id, kind)) != 1 || len(e.events(s.id, "tracking")) != 1 {
			t.Errorf("history of %s: %+v", s.id, e.events(s.id, ""))
		}
	}
	e.obs.mu.Lock()
	if e.obs.outcomes["cdek/delivered"] != 50 {
		t.Errorf("outcomes %v", e.obs.outcomes)
	}
	e.obs.mu.Unlock()

	// A period later nothing is new: nothing is written.
	e.clock.Advance(61 * time.Minute)
	if rep := e.track(); rep.Checked != 200 || rep.Writes != 0 || rep.WriteRequests != 0 || rep.Reads != 0 {
		t.Errorf("second pass: %+v", rep)
	}
}

func TestTrackingBulkRequestsAreBounded(t *testing.T) {
	// 250 updates, at most 100 per request: the queue goes before a
	// carrier batch could take it past the bound.
	e := newTrackEnv(t, func(c *Config) { c.BulkMaxItems = 100 })
	ships := e.bulkShipments("L", 250)
	rep := e.track()
	if n := e.ms.RequestsByEndpoint()[bulkEndpoint]; n != 3 || rep.WriteRequests != 3 || rep.Writes != 250 {
		t.Errorf("%d bulk requests, report %+v; want 3 (100, 100, 50)", n, rep)
	}
	e.wantWritten(ships, 1)

	// An update waits at most BulkDelay for others (here 2 s, and a carrier
	// batch takes a second): 5 batches of 100 go in 3 requests, 200 + 200
	// + 100, the first two as soon as they are due, before the first
	// shipment of batches 3 and 5.
	d := newTrackEnv(t, func(c *Config) { c.BulkDelay = 2 * time.Second })
	ships = d.bulkShipments("D", 500)
	d.tracker.onTrack = func() { d.clock.Advance(time.Second) }
	rep = d.track()
	if n := d.ms.RequestsByEndpoint()[bulkEndpoint]; n != 3 || rep.Writes != 500 {
		t.Errorf("with BulkDelay: %d bulk requests, report %+v; want 3", n, rep)
	}
	d.wantWritten(ships, 1)

	// PutWriteBack: one PUT per order, as before bulk updates.
	p := newTrackEnv(t, func(c *Config) { c.PutWriteBack = true })
	ships = p.bulkShipments("P", 10)
	rep = p.track()
	by := p.ms.RequestsByEndpoint()
	if by[bulkEndpoint] != 0 || by["PUT /entity/customerorder/{id}"] != 10 || rep.Writes != 10 || rep.WriteRequests != 10 {
		t.Errorf("PutWriteBack: %v, report %+v", by, rep)
	}
	p.wantWritten(ships, 1)
}

// refusingOne is a MoySklad whose bulk updates refuse the order refuse as
// MoySklad refuses an invalid element (an error object in its place of the
// answer), and pass the others on.
type refusingOne struct {
	MoySklad
	refuse string
	mu     sync.Mutex
	tried  int // bulk elements of refuse
}

func (r *refusingOne) UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	i := slices.IndexFunc(updates, func(u moysklad.BulkUpdate) bool { return u.ID == r.refuse })
	if i < 0 {
		return r.MoySklad.(BulkUpdater).UpdateOrders(ctx, updates)
	}
	r.mu.Lock()
	r.tried++
	r.mu.Unlock()
	rest := slices.Delete(slices.Clone(updates), i, i+1)
	res, err := r.MoySklad.(BulkUpdater).UpdateOrders(ctx, rest)
	refused := moysklad.BulkResult{ID: r.refuse, Outcome: moysklad.BulkRefused, Err: &moysklad.Error{StatusCode: http.StatusBadRequest,
		Method: http.MethodPost, Path: "/entity/customerorder", Errors: []moysklad.APIError{{Code: 3006, Error: "Ошибка сохранения"}}}}
	return slices.Insert(res, i, refused), err
}

func TestTrackingBulkRefusedItemIsHandledAsARefusedPut(t *testing.T) {
	e := newTrackEnv(t)
	ships := e.bulkShipments("R", 12)
	bad := ships[3] // in transit
	refusing := &refusingOne{refuse: bad.id}
	e.wrapMS = func(ms MoySklad) MoySklad { refusing.MoySklad = ms; return refusing }
	e.restart()
	rep := e.track()
	if !rep.Complete || rep.Writes != 12 || rep.WriteRequests != 1 || rep.Moved != 3 {
		t.Errorf("report %+v", rep)
	}
	// The others were applied.
	e.wantWritten(append(slices.Clone(ships[:3]), ships[4:]...), 1)
	// The refused one: not written, its status kept in the store and the
	// history, as after a refused PUT.
	if o := e.order(bad.id); o.Attr(aDeliveryStatus) != "" || e.ms.PutsPerOrder(bad.id) != 0 {
		t.Errorf("refused order written: %q", o.Attr(aDeliveryStatus))
	}
	rec := e.record(bad.id)
	if rec.Delivery.Status != "in_transit" || len(e.events(bad.id, "tracking_update_failed")) != 1 || len(e.events(bad.id, "tracking")) != 1 {
		t.Errorf("refused order: record %+v, history %+v", rec.Delivery, e.events(bad.id, ""))
	}
	// The same status is not sent again.
	e.clock.Advance(61 * time.Minute)
	if rep := e.track(); rep.Writes != 0 || refusing.tried != 1 {
		t.Errorf("second pass: %+v, refused order sent %d times", rep, refusing.tried)
	}
}

// losingBulk passes bulk updates on to MoySklad, which stores them, but
// loses the answer of the first one and cancels the pass: a process killed
// while the request was in flight.
type losingBulk struct {
	MoySklad
	cancel context.CancelFunc
	mu     sync.Mutex
	done   bool
}

func (l *losingBulk) UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	res, err := l.MoySklad.(BulkUpdater).UpdateOrders(ctx, updates)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || err != nil {
		return res, err
	}
	l.done = true
	l.cancel()
	lost := fmt.Errorf("%w: %w", moysklad.ErrBulkAnswerLost, errors.New("connection reset by peer"))
	for i := range res {
		res[i] = moysklad.BulkResult{ID: updates[i].ID, Outcome: moysklad.BulkUnknown, Err: lost}
	}
	return res, lost
}

func TestTrackingLostBulkAnswerDoesNotMoveTwice(t *testing.T) {
	e := newTrackEnv(t)
	ships := e.bulkShipments("C", 12)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.wrapMS = func(ms MoySklad) MoySklad { return &losingBulk{MoySklad: ms, cancel: cancel} }
	e.restart()
	rep, err := e.p.Track(ctx, TrackOptions{})
	if err == nil || !errors.Is(err, moysklad.ErrBulkAnswerLost) || rep.Complete {
		t.Fatalf("the pass did not stop: %+v, %v", rep, err)
	}
	// Every update landed; no record knows it, and the history has the
	// exchange.
	for i, s := range ships {
		if e.ms.PutsPerOrder(s.id) != 1 {
			t.Fatalf("order %d not written", i)
		}
		if rec := e.record(s.id); rec.Delivery.Status != "" {
			t.Fatalf("order %d: delivery saved after a lost answer: %+v", i, rec.Delivery)
		}
		if len(e.events(s.id, "moysklad_exchange")) == 0 || len(e.events(s.id, "tracking")) != 0 {
			t.Errorf("order %d: history %+v", i, e.events(s.id, ""))
		}
	}
	// Meanwhile a manager moved a delivered order on (say, to «Новый»).
	undone := ships[5]
	if err := e.ms.SetOrderState(undone.id, "Новый"); err != nil {
		t.Fatal(err)
	}

	// Restart and run again.
	e.wrapMS = nil
	e.restart()
	rep = e.track()
	if !rep.Complete || rep.Moved != 0 || rep.Kept != 1 || rep.Reads != 3 {
		t.Errorf("re-run: %+v", rep)
	}
	for i, s := range ships {
		o := e.order(s.id)
		want, writes := sRegistered, 2 // an attribute-only change is written once more
		switch {
		case s.id == undone.id:
			want, writes = "Новый", 1
		case s.status == carriers.TrackDelivered:
			want, writes = sDelivered, 1 // read, found moved and written: nothing written
		}
		if o.StateName != want || o.Attr(aDeliveryStatus) != "Статус "+string(s.status)+", 03.12.2026 14:05" {
			t.Errorf("order %d: state %q, delivery status %q", i, o.StateName, o.Attr(aDeliveryStatus))
		}
		if n := e.ms.PutsPerOrder(s.id); n != writes {
			t.Errorf("order %d: written %d times, want %d", i, n, writes)
		}
		if rec := e.record(s.id); rec.Delivery.Status != string(s.status) || len(e.events(s.id, "tracking")) != 1 {
			t.Errorf("order %d: record %+v", i, rec.Delivery)
		}
	}
	if kept := e.events(undone.id, "tracking_kept_state"); len(kept) != 1 {
		t.Errorf("manager's status: %+v", e.events(undone.id, ""))
	}
	// A third pass, a period later, has nothing to write.
	e.clock.Advance(61 * time.Minute)
	if rep := e.track(); rep.Writes != 0 || rep.Reads != 0 || rep.Checked != 9 {
		t.Errorf("third pass: %+v", rep)
	}
}

// failingGet is a bulk-capable MoySklad whose reads of one order fail as
// an unavailable MoySklad's do.
type failingGet struct {
	MoySklad
	fail string
}

func (f *failingGet) GetOrder(ctx context.Context, id string) (moysklad.Order, error) {
	if id == f.fail {
		return moysklad.Order{}, &moysklad.Error{StatusCode: http.StatusServiceUnavailable, Method: http.MethodGet, Path: "/entity/customerorder/" + id}
	}
	return f.MoySklad.GetOrder(ctx, id)
}

func (f *failingGet) UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	return f.MoySklad.(BulkUpdater).UpdateOrders(ctx, updates)
}

func TestTrackingStoppedByAFailureSendsNoMoreBulk(t *testing.T) {
	e := newTrackEnv(t)
	ships := e.bulkShipments("F", 30)
	e.wrapMS = func(ms MoySklad) MoySklad { return &failingGet{MoySklad: ms, fail: ships[25].id} } // delivered
	e.restart()
	rep, err := e.p.Track(context.Background(), TrackOptions{})
	if err == nil || rep.Complete {
		t.Fatalf("the pass did not stop: %+v, %v", rep, err)
	}
	if n := e.ms.RequestsByEndpoint()[bulkEndpoint]; n != 0 || rep.Writes != 0 {
		t.Errorf("%d bulk requests after MoySklad failed, report %+v", n, rep)
	}
	for i, s := range ships {
		if rec := e.record(s.id); rec.Delivery.Status != "" || len(e.events(s.id, "tracking")) != 0 {
			t.Errorf("order %d: saved though not written: %+v", i, rec.Delivery)
		}
	}
	// MoySklad is back: the next pass writes everything, once.
	e.wrapMS = nil
	e.restart()
	e.clock.Advance(5 * time.Minute)
	if rep := e.track(); !rep.Complete || rep.Writes != 30 || rep.WriteRequests != 1 {
		t.Errorf("after the outage: %+v", rep)
	}
	e.wantWritten(ships, 1)
}
