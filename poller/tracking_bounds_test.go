package poller

// The tracking pass's bulk writes within their bounds: none after a failure stopped the pass,
// and none over Config.BulkMaxItems (both found in the review of session 3).

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

// stallingMoySklad is a bulk-capable MoySklad that becomes unavailable
// while a pass reads: the reads of the orders in stall hang until the read
// of fail has failed (as an unavailable MoySklad's reads do, after their
// retries); that read takes longer than BulkDelay on the pass's clock.
// Every worker of the pass is thus busy in a read while time passes, and the
// pass's feeder waits to hand the next shipment.
type stallingMoySklad struct {
	MoySklad
	clock  *fakeClock
	fail   string
	stall  map[string]bool
	failed chan struct{}
	once   sync.Once
}

func (f *stallingMoySklad) GetOrder(ctx context.Context, id string) (moysklad.Order, error) {
	if id == f.fail {
		defer f.once.Do(func() { close(f.failed) })
		time.Sleep(100 * time.Millisecond) // the feeder is now waiting for a free worker
		f.clock.Advance(5 * time.Second)   // the read's retries: more than DefaultBulkDelay
		return moysklad.Order{}, &moysklad.Error{StatusCode: http.StatusServiceUnavailable, Method: http.MethodGet, Path: "/entity/customerorder/" + id}
	}
	if f.stall[id] {
		<-f.failed
	}
	return f.MoySklad.GetOrder(ctx, id)
}

func (f *stallingMoySklad) UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	return f.MoySklad.(BulkUpdater).UpdateOrders(ctx, updates)
}

// TestTrackingFailedPassSendsNoAgedBulk: tracking_write.go promises that a
// pass stopped by a failure (MoySklad unavailable) sends no more bulk
// updates; its queued writes are dropped and left to the next pass (commit
// 8f2914a). In trackPass.batch the feeder, once a worker frees, first
// checks queueAged and flushes, and only then looks at the workers' fatal
// error. When every worker was stuck in a read of an unavailable MoySklad
// for longer than BulkDelay, the first read to fail frees a worker and the
// feeder sends the aged queue in a bulk POST to the MoySklad that just
// failed, although the pass has already been stopped.
func TestTrackingFailedPassSendsNoAgedBulk(t *testing.T) {
	e := newTrackEnv(t)
	age := 200 * time.Hour // stalest first: the order of the calls below is the batch's
	add := func(name string, s carriers.TrackStatus) string {
		age -= time.Hour
		id, ref := e.shipment(name, age)
		e.tracker.set(ref, s, string(s), "Статус "+string(s), at)
		return id
	}
	for i := range 10 {
		add(fmt.Sprintf("T-%02d", i), carriers.TrackInTransit) // attribute-only: queued at once
	}
	stall := map[string]bool{}
	for i := range trackWorkers - 1 {
		stall[add(fmt.Sprintf("G-%d", i), carriers.TrackDelivered)] = true // a move: read first
	}
	fail := add("F", carriers.TrackDelivered)
	for i := range 5 {
		add(fmt.Sprintf("X-%d", i), carriers.TrackInTransit)
	}
	e.wrapMS = func(ms MoySklad) MoySklad {
		return &stallingMoySklad{MoySklad: ms, clock: e.clock, fail: fail, stall: stall, failed: make(chan struct{})}
	}
	e.restart()
	rep, err := e.p.Track(context.Background(), TrackOptions{})
	if err == nil || rep.Complete {
		t.Fatalf("the pass did not stop: %+v, %v", rep, err)
	}
	if n := e.ms.RequestsByEndpoint()[bulkEndpoint]; n != 0 {
		t.Errorf("%d bulk request(s) sent after MoySklad failed a read and stopped the pass (report %+v); want none", n, rep)
	}
}

// sizeRecording records how many updates each bulk call carries.
type sizeRecording struct {
	MoySklad
	mu    sync.Mutex
	sizes []int
}

func (s *sizeRecording) UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(updates))
	s.mu.Unlock()
	return s.MoySklad.(BulkUpdater).UpdateOrders(ctx, updates)
}

// TestTrackingBulkHonoursSmallBulkMaxItems: Config.BulkMaxItems
// "bounds one request" (poller.go), and tracking_write.go says the queue
// goes before a batch could take it past the bound. A carrier batch holds
// up to trackBatch (100) shipments and flushDue is only asked between
// batches (or when the queue aged), so with a bound below 100 one batch's
// changes go in one request of up to 100 orders: the client splits only
// at moysklad.MaxBulkItems. (Not reachable with the program's defaults,
// 1000 items and 4 MB; the registration batcher does honour a small bound.)
func TestTrackingBulkHonoursSmallBulkMaxItems(t *testing.T) {
	e := newTrackEnv(t, func(c *Config) { c.BulkMaxItems = 40 })
	e.bulkShipments("S", 100)
	rec := &sizeRecording{}
	e.wrapMS = func(ms MoySklad) MoySklad { rec.MoySklad = ms; return rec }
	e.restart()
	if rep := e.track(); rep.Writes != 100 {
		t.Fatalf("report %+v", rep)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, n := range rec.sizes {
		if n > 40 {
			t.Errorf("a bulk update of %d orders with BulkMaxItems 40 (all: %v)", n, rec.sizes)
		}
	}
}
