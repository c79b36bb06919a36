package poller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/shipbridge/shipbridge/moysklad"
)

// fakeBulk records the requests a batcher sends and answers every update
// as applied, unless answer says otherwise.
type fakeBulk struct {
	MoySklad
	mu       sync.Mutex
	requests [][]string // ids per request
	answer   func(id string) moysklad.BulkResult
}

func (f *fakeBulk) UpdateOrders(_ context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	f.mu.Lock()
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	f.requests = append(f.requests, ids)
	f.mu.Unlock()
	res := make([]moysklad.BulkResult, len(us))
	for i, u := range us {
		res[i] = moysklad.BulkResult{ID: u.ID, Outcome: moysklad.BulkApplied}
		if f.answer != nil {
			res[i] = f.answer(u.ID)
		}
	}
	return res, nil
}

func (f *fakeBulk) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []int
	for _, r := range f.requests {
		n = append(n, len(r))
	}
	return n
}

// heldSleep is a Deps.Sleep that returns only when released or when ctx
// ends: the batch delay passes when the test says so. Each sleep that
// begins is announced on started (buffered), so a test can wait for the
// batcher to be in its delay instead of sleeping itself.
type heldSleep struct{ release, started chan struct{} }

func (h heldSleep) sleep(ctx context.Context, _ time.Duration) error {
	select {
	case h.started <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newTestBatcher(t *testing.T, ctx context.Context, cfg Config) (*batcher, *fakeBulk, heldSleep) {
	t.Helper()
	fb := &fakeBulk{}
	hs := heldSleep{release: make(chan struct{}), started: make(chan struct{}, 16)}
	p := New(cfg, Deps{MoySklad: fb, Logger: zaptest.NewLogger(t), Sleep: hs.sleep})
	b := p.newBatcher(ctx)
	if b == nil {
		t.Fatal("no batcher for a MoySklad with bulk updates")
	}
	t.Cleanup(func() {
		close(hs.release)
		b.close()
	})
	return b, fb, hs
}

// submitAll submits one update per id, each from its own busy worker, and
// returns the results by id.
func submitAll(b *batcher, ids []string, size int) map[string]*bulkItem {
	var mu sync.Mutex
	out := map[string]*bulkItem{}
	var wg sync.WaitGroup
	for range ids {
		b.begin()
	}
	for _, id := range ids {
		wg.Go(func() {
			defer b.end()
			it := b.submit(id, moysklad.OrderUpdate{}, size, nil)
			mu.Lock()
			out[id] = it
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("o%d", i)
	}
	return out
}

// When every busy worker waits for a result, nobody can add to the chunk:
// it goes at once, as one request, without waiting for the delay.
func TestBatcherSendsWhenEveryWorkerWaits(t *testing.T) {
	b, fb, _ := newTestBatcher(t, context.Background(), Config{})
	res := submitAll(b, ids(7), 100)
	if got := fb.sizes(); len(got) != 1 || got[0] != 7 {
		t.Fatalf("requests %v, want one of 7", got)
	}
	for id, it := range res {
		if it.res.Outcome != moysklad.BulkApplied || it.res.ID != id || it.n != 7 {
			t.Errorf("%s: %+v (request of %d)", id, it.res, it.n)
		}
	}
}

// A chunk is bounded by BulkMaxItems and by BulkMaxBytes.
func TestBatcherBounds(t *testing.T) {
	b, fb, _ := newTestBatcher(t, context.Background(), Config{BulkMaxItems: 3})
	submitAll(b, ids(7), 100)
	total := 0
	for _, n := range fb.sizes() {
		if n > 3 {
			t.Errorf("a request of %d updates, bound 3", n)
		}
		total += n
	}
	if total != 7 || len(fb.sizes()) != 3 {
		t.Errorf("requests %v, want 3 carrying 7", fb.sizes())
	}

	b2, fb2, _ := newTestBatcher(t, context.Background(), Config{BulkMaxBytes: 1000})
	submitAll(b2, ids(6), 300) // three fit in 1,000 bytes (with separators)
	for _, n := range fb2.sizes() {
		if n > 3 {
			t.Errorf("a request of %d × 300 bytes, bound 1,000", n)
		}
	}
	if !b2.fits(900) || b2.fits(999) {
		t.Error("fits: an update alone must fit the bound with its brackets")
	}
}

// While another worker is still busy, an update waits for the delay (or
// for that worker), not longer.
func TestBatcherDelay(t *testing.T) {
	b, fb, hs := newTestBatcher(t, context.Background(), Config{})
	b.begin() // another order, still at its carrier
	b.begin()
	done := make(chan *bulkItem)
	go func() { defer b.end(); done <- b.submit("a", moysklad.OrderUpdate{}, 100, nil) }()
	waitStarted(t, hs)
	// The batcher is in its delay: nothing has gone yet.
	select {
	case <-done:
		t.Fatal("sent before the delay while another worker may still add to it")
	default:
	}
	if n := len(fb.sizes()); n != 0 {
		t.Fatalf("%d requests before the delay passed", n)
	}
	hs.release <- struct{}{} // the delay has passed
	if it := <-done; it.res.Outcome != moysklad.BulkApplied || len(fb.sizes()) != 1 {
		t.Fatalf("%+v, requests %v", it.res, fb.sizes())
	}
	b.end()
}

// When the cycle ends (shutdown), what is gathered goes at once, on a
// context that is not cancelled, so its answer is recorded.
func TestBatcherCycleEndFlushes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, fb, hs := newTestBatcher(t, ctx, Config{})
	b.begin()
	b.begin()
	done := make(chan *bulkItem)
	go func() { defer b.end(); done <- b.submit("a", moysklad.OrderUpdate{}, 100, nil) }()
	waitStarted(t, hs) // the update is gathered and waits for company
	cancel()
	select {
	case it := <-done:
		if it.res.Outcome != moysklad.BulkApplied || len(fb.sizes()) != 1 {
			t.Fatalf("%+v, requests %v", it.res, fb.sizes())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not sent after the cycle ended")
	}
	b.end()
}

// waitStarted waits until the batcher begins its delay (a guard, not a
// clock: it only fails a test that would otherwise hang).
func waitStarted(t *testing.T, hs heldSleep) {
	t.Helper()
	select {
	case <-hs.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the batcher never began its delay")
	}
}

// Each update gets its own outcome from the answer.
func TestBatcherPerItemResults(t *testing.T) {
	b, fb, _ := newTestBatcher(t, context.Background(), Config{})
	refusal := &moysklad.Error{StatusCode: 200, Errors: []moysklad.APIError{{Code: 3006, Error: "bad"}}}
	fb.answer = func(id string) moysklad.BulkResult {
		switch id {
		case "o1":
			return moysklad.BulkResult{ID: id, Outcome: moysklad.BulkRefused, Err: refusal}
		case "o2":
			return moysklad.BulkResult{ID: id, Outcome: moysklad.BulkUnknown, Err: moysklad.ErrBulkAnswerLost}
		}
		return moysklad.BulkResult{ID: id, Outcome: moysklad.BulkApplied}
	}
	res := submitAll(b, ids(3), 100)
	want := map[string]moysklad.BulkOutcome{"o0": moysklad.BulkApplied, "o1": moysklad.BulkRefused, "o2": moysklad.BulkUnknown}
	for id, o := range want {
		if res[id].res.Outcome != o {
			t.Errorf("%s: %s, want %s", id, res[id].res.Outcome, o)
		}
	}
}

// PutWriteBack, or a MoySklad without bulk updates, keeps one PUT per order.
func TestNoBatcherForPutWriteBack(t *testing.T) {
	if p := New(Config{PutWriteBack: true}, Deps{MoySklad: &fakeBulk{}}); p.newBatcher(context.Background()) != nil {
		t.Error("PutWriteBack: a batcher")
	}
	if p := New(Config{}, Deps{MoySklad: &lossyMoySklad{}}); p.newBatcher(context.Background()) != nil {
		t.Error("a MoySklad without UpdateOrders: a batcher")
	}
}

// A burst of orders in one cycle is written back in bulk updates: no PUT,
// each order written exactly once, every order registered.
func TestBulkWriteBackWorkflow(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, func(c *Config) { c.Workers = 16 })
	var orders []string
	for i := range 12 {
		id := h.addOrder(fmt.Sprintf("BW%d", i), nil)
		h.set(id, sReady)
		orders = append(orders, id)
	}
	before := h.ms.RequestsByEndpoint()
	h.cycle()
	after := h.ms.RequestsByEndpoint()
	posts := after["POST /entity/customerorder"] - before["POST /entity/customerorder"]
	if puts := after["PUT /entity/customerorder/{id}"] - before["PUT /entity/customerorder/{id}"]; puts != 0 || posts == 0 || posts > len(orders) {
		t.Errorf("%d PUTs and %d bulk POSTs for %d orders", puts, posts, len(orders))
	}
	for _, id := range orders {
		o := h.order(id)
		if o.StateName != sRegistered || o.Puts != 1 || o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File == nil {
			t.Errorf("%s: %s, %d writes, tracking %q%s", o.Name, o.StateName, o.Puts, o.Attr("Трек-номер"), h.timeline(id))
		}
		rec := h.record(id)
		if rec.Open || !decodeState(rec.Pending).Settled {
			t.Errorf("%s: not settled: %+v", o.Name, rec)
		}
		if !h.hasEvent(id, "moysklad_exchange") {
			t.Errorf("%s: the bulk exchange is not in the history", o.Name)
		}
	}
}

// bulkFaults stands between the poller and the MoySklad client; fault,
// when set, answers the bulk requests (calling the client or not).
type bulkFaults struct {
	MoySklad
	bulk  BulkUpdater
	fault func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error)
}

func (f *bulkFaults) UpdateOrders(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	if f.fault != nil {
		return f.fault(ctx, us)
	}
	return f.bulk.UpdateOrders(ctx, us)
}

func lostAll(us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
	res := make([]moysklad.BulkResult, len(us))
	for i, u := range us {
		res[i] = moysklad.BulkResult{ID: u.ID, Outcome: moysklad.BulkUnknown, Err: moysklad.ErrBulkAnswerLost}
	}
	return res, moysklad.ErrBulkAnswerLost
}

func (h *harness) wrapBulk(f *bulkFaults) {
	h.wrapMS = func(ms MoySklad) MoySklad { f.MoySklad = ms; f.bulk = ms.(BulkUpdater); return f }
	h.restart()
}

// MoySklad stored the bulk update but its answer was lost, and the process
// died (restart from the same store): the next pass re-reads the order,
// finds our status there and settles it — no second write, no second
// shipment.
func TestBulkAnswerLostAfterApplied(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	f := &bulkFaults{}
	var once atomic.Bool
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		res, err := f.bulk.UpdateOrders(ctx, us)
		if once.Swap(true) || err != nil {
			return res, err
		}
		return lostAll(us) // stored, but the answer never came
	}
	h.wrapBulk(f)
	id := h.addOrder("BL1", nil)
	h.set(id, sReady)
	h.cycle()
	if !h.hasEvent(id, "moysklad_update_failed") {
		t.Fatalf("the lost answer is not recorded:%s", h.timeline(id))
	}
	if rec := h.record(id); !rec.Open || decodeState(rec.Pending).WriteBack == nil {
		t.Fatalf("the pending write-back is gone before it was confirmed: %+v", rec)
	}
	h.restart()
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 {
		t.Fatalf("state %s, %d writes%s", o.StateName, o.Puts, h.timeline(id))
	}
	if rec := h.record(id); rec.Open || !decodeState(rec.Pending).Settled || rec.LastState != sRegistered {
		t.Errorf("record not settled: %+v", rec)
	}
	if h.hasEvent(id, "left_trigger") {
		t.Error("our own write-back was taken for a manager's change")
	}
	if n := fc.createsFor("BL1"); n != 1 {
		t.Errorf("%d creates at the carrier", n)
	}
}

// The bulk request never reached MoySklad but the answer is unknown: the
// next pass re-reads the order (still ready) and writes it once.
func TestBulkAnswerLostNotApplied(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	f := &bulkFaults{}
	var once atomic.Bool
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		if once.Swap(true) {
			return f.bulk.UpdateOrders(ctx, us)
		}
		return lostAll(us) // never sent, but the caller cannot know
	}
	h.wrapBulk(f)
	id := h.addOrder("BL2", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sReady || o.Puts != 0 {
		t.Fatalf("state %s, %d writes", o.StateName, o.Puts)
	}
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil {
		t.Fatalf("state %s, %d writes%s", o.StateName, o.Puts, h.timeline(id))
	}
	if n := fc.createsFor("BL2"); n != 1 {
		t.Errorf("%d creates at the carrier", n)
	}
}

// An element MoySklad refuses in a bulk answer is handled as a refused PUT:
// after two refusals the waybill is dropped and the order still gets its
// status and tracking number, saying why the waybill is missing. The other
// orders of the same request are not affected.
func TestBulkElementRefused(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	var refused atomic.Int32
	var bad string
	f := &bulkFaults{}
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		// Refuse the bad order's update while it carries a file; send the
		// rest (and later versions of it) on.
		var pass []moysklad.BulkUpdate
		res := make([]moysklad.BulkResult, len(us))
		var idx []int
		for i, u := range us {
			file := false
			for _, a := range u.Update.Attributes {
				file = file || a.File != nil
			}
			if u.ID == bad && file {
				refused.Add(1)
				res[i] = moysklad.BulkResult{ID: u.ID, Outcome: moysklad.BulkRefused,
					Err: &moysklad.Error{StatusCode: 200, Errors: []moysklad.APIError{{Code: 14005, Error: "file too large"}}}}
				continue
			}
			pass = append(pass, u)
			idx = append(idx, i)
		}
		if len(pass) > 0 {
			got, err := f.bulk.UpdateOrders(ctx, pass)
			if err != nil {
				return nil, err
			}
			for k, i := range idx {
				res[i] = got[k]
			}
		}
		return res, nil
	}
	h.wrapBulk(f)
	good := h.addOrder("BR0", nil)
	bad = h.addOrder("BR1", nil)
	h.set(good, sReady)
	h.set(bad, sReady)
	for range 4 {
		h.cycle()
	}
	o := h.order(bad)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" || !strings.Contains(o.Attr("Ошибка доставки"), "Накладную не удалось прикрепить") {
		t.Fatalf("state %s, tracking %q, error %q%s", o.StateName, o.Attr("Трек-номер"), o.Attr("Ошибка доставки"), h.timeline(bad))
	}
	if n := refused.Load(); n != 2 {
		t.Errorf("refused %d times, want 2", n)
	}
	if g := h.order(good); g.StateName != sRegistered || g.Puts != 1 || g.Attributes["Накладная"].File == nil {
		t.Errorf("the other order: %s, %d writes", g.StateName, g.Puts)
	}
}

// A write-back too large for a bulk request travels alone, by PUT.
func TestBulkTooLargeGoesByPut(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, func(c *Config) { c.BulkMaxBytes = bulkItemOverhead + 10 })
	id := h.addOrder("BT1", nil)
	h.set(id, sReady)
	before := h.ms.RequestsByEndpoint()
	h.cycle()
	after := h.ms.RequestsByEndpoint()
	if o := h.order(id); o.StateName != sRegistered || o.Puts != 1 {
		t.Fatalf("state %s, %d writes%s", o.StateName, o.Puts, h.timeline(id))
	}
	if after["PUT /entity/customerorder/{id}"]-before["PUT /entity/customerorder/{id}"] != 1 {
		t.Errorf("requests %v → %v", before, after)
	}
}
