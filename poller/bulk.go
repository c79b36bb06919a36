package poller

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/internal/exchange"
	"github.com/shipbridge/shipbridge/moysklad"
)

// BulkUpdater is the bulk write of MoySklad (moysklad.Client has it). When
// Deps.MoySklad has it, and Config.PutWriteBack is false, the outcomes that
// are ready in a cycle are written back together: MoySklad's rate limit
// counts requests, not orders, and one POST of up to 1,000 orders weighs
// what one PUT weighs.
type BulkUpdater interface {
	UpdateOrders(ctx context.Context, updates []moysklad.BulkUpdate) ([]moysklad.BulkResult, error)
}

// Bulk write-back defaults (Config.BulkDelay, BulkMaxItems, BulkMaxBytes).
const (
	// DefaultBulkDelay: an outcome waits at most this long for others to
	// join its request (plus the wait for the request in flight before it).
	DefaultBulkDelay = 2 * time.Second
	// DefaultBulkMaxBytes bounds one request's estimated body: well under
	// MoySklad's 10 MB, and under the client's own bound
	// (moysklad.DefaultBulkMaxBytes), so that one chunk is one request. A
	// CDEK waybill (tens of kilobytes, base64 in the body) makes an order
	// weigh ~50 KB: about 80 such orders per request.
	DefaultBulkMaxBytes = 4 << 20
)

// bulkItemOverhead is the estimated JSON size of one element of a bulk
// request without file contents: the order's meta, the state's meta and
// the attributes' metas (~250 bytes each) and their values.
const bulkItemOverhead = 2048

// batcher gathers a cycle's write-backs into bulk updates. Each order's
// worker hands its update to submit and waits for its own result, then
// goes on exactly as after a PUT. A chunk is sent when it holds BulkMaxItems
// updates or BulkMaxBytes of estimated body, when its first update has
// waited BulkDelay, when every busy worker of the cycle waits for a result
// (nobody can add to it: the cycle's end), or when the cycle is cancelled.
// One request is in flight at a time: what arrives meanwhile joins the
// next chunk, and at most one request body is held in memory.
type batcher struct {
	p    *Poller
	bu   BulkUpdater
	stop context.Context // the cycle's: when it ends, chunks go at once
	send context.Context // requests are not cut off by the cycle's end
	cfg  Config
	// wait bounds the delays' sleeps: the cycle's context, also ended by
	// close.
	wait     context.Context
	endWaits context.CancelFunc

	mu      sync.Mutex
	cur     *chunk   // gathering
	full    []*chunk // closed, waiting to be sent
	busy    int      // workers handling a job
	waiting int      // workers waiting for a result
	closed  bool
	refusal error         // an access refusal a request met (moysklad.IsAccessRefused)
	kick    chan struct{} // wakes the sender (buffered, 1)
	ended   chan struct{} // closed when the sender returns

	// Counts for the cycle's log and for tests.
	requests, items, maxChunk int
}

// chunk is one bulk request being gathered.
type chunk struct {
	items []*bulkItem
	bytes int
	due   bool // its first item has waited BulkDelay, or the cycle ended
}

// bulkItem is one order's update and, once done is closed, its result.
type bulkItem struct {
	id     string
	u      moysklad.OrderUpdate
	size   int
	record func(exchange.Exchange)

	done chan struct{}
	res  moysklad.BulkResult
	n    int           // orders in its request
	took time.Duration // the request's time
}

// newBatcher returns the cycle's batcher, or nil when write-backs go one
// PUT per order (Config.PutWriteBack, or a MoySklad without bulk updates).
// The caller closes it once every worker has returned.
func (p *Poller) newBatcher(ctx context.Context) *batcher {
	bu, ok := p.ms.(BulkUpdater)
	if !ok || p.cfg.PutWriteBack {
		return nil
	}
	b := &batcher{p: p, bu: bu, stop: ctx, send: context.WithoutCancel(ctx), cfg: p.cfg,
		kick: make(chan struct{}, 1), ended: make(chan struct{})}
	b.wait, b.endWaits = context.WithCancel(ctx)
	go b.run()
	return b
}

// begin and end bracket a worker's job: a chunk is sent at once when every
// busy worker waits for a result.
func (b *batcher) begin() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.busy++
	b.mu.Unlock()
}

func (b *batcher) end() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.busy--
	b.mu.Unlock()
	b.wake()
}

func (b *batcher) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// fits reports whether an update of the estimated size can travel in a
// bulk request; a larger one goes alone, by PUT.
func (b *batcher) fits(size int) bool { return size+2 <= b.cfg.BulkMaxBytes }

// submit hands one order's update to the next bulk request and waits for
// its result. It never returns before the request carrying it has been
// answered (or has failed), so the caller decides as after a PUT.
func (b *batcher) submit(id string, u moysklad.OrderUpdate, size int, record func(exchange.Exchange)) *bulkItem {
	it := &bulkItem{id: id, u: u, size: size, record: record, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		// Not possible: the cycle closes the batcher after its workers.
		b.mu.Unlock()
		it.res = moysklad.BulkResult{ID: id, Outcome: moysklad.BulkNotSent, Err: moysklad.ErrBulkNotSent}
		close(it.done)
		return it
	}
	if b.cur != nil && (len(b.cur.items) >= b.cfg.BulkMaxItems || b.cur.bytes+size+1 > b.cfg.BulkMaxBytes) {
		b.full = append(b.full, b.cur)
		b.cur = nil
	}
	if b.cur == nil {
		c := &chunk{}
		b.cur = c
		go b.expire(c)
	}
	b.cur.items = append(b.cur.items, it)
	b.cur.bytes += size + 1
	if len(b.cur.items) >= b.cfg.BulkMaxItems {
		b.full = append(b.full, b.cur)
		b.cur = nil
	}
	b.waiting++
	b.mu.Unlock()
	b.wake()
	<-it.done
	return it
}

// expire marks c due after BulkDelay (at once when the cycle ends). It
// waits with Deps.Sleep, so a test clock drives it.
func (b *batcher) expire(c *chunk) {
	_ = b.p.sleep(b.wait, b.cfg.BulkDelay)
	b.mu.Lock()
	c.due = true
	b.mu.Unlock()
	b.wake()
}

// next takes the chunk to send now, if any.
func (b *batcher) next() *chunk {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.full) > 0 {
		c := b.full[0]
		b.full[0] = nil
		b.full = b.full[1:]
		return c
	}
	c := b.cur
	if c == nil {
		return nil
	}
	if c.due || b.waiting >= b.busy || b.closed || b.stop.Err() != nil {
		b.cur = nil
		return c
	}
	return nil
}

// run is the sender: one request at a time.
func (b *batcher) run() {
	defer close(b.ended)
	for {
		if c := b.next(); c != nil {
			b.flush(c)
			continue
		}
		b.mu.Lock()
		done := b.closed && b.cur == nil && len(b.full) == 0
		b.mu.Unlock()
		if done {
			return
		}
		<-b.kick
	}
}

// flush sends one chunk and hands every item its result.
func (b *batcher) flush(c *chunk) {
	updates := make([]moysklad.BulkUpdate, len(c.items))
	for i, it := range c.items {
		updates[i] = moysklad.BulkUpdate{ID: it.id, Update: it.u}
	}
	// Every order's history gets the request's exchange (without bodies:
	// they would repeat every other order's update).
	ctx := exchange.WithRecorder(b.send, func(e exchange.Exchange) {
		e.Request, e.Response = "", ""
		for _, it := range c.items {
			if it.record != nil {
				it.record(e)
			}
		}
	})
	start := time.Now()
	res, err := b.bu.UpdateOrders(ctx, updates)
	took := time.Since(start)
	if err != nil {
		b.p.log.Warn("MoySklad bulk update failed", zap.Int("orders", len(c.items)), zap.Error(err))
	}
	b.mu.Lock()
	if moysklad.IsAccessRefused(err) && b.refusal == nil {
		b.refusal = err
	}
	b.requests++
	b.items += len(c.items)
	b.maxChunk = max(b.maxChunk, len(c.items))
	b.waiting -= len(c.items)
	b.mu.Unlock()
	for i, it := range c.items {
		if i < len(res) {
			it.res = res[i]
		} else {
			it.res = moysklad.BulkResult{ID: it.id, Outcome: moysklad.BulkUnknown, Err: moysklad.ErrBulkAnswerLost}
		}
		it.n, it.took = len(c.items), took
		it.u = moysklad.OrderUpdate{} // the waybill's bytes are not kept here
		close(it.done)
	}
}

// denied returns the access refusal a request of the cycle met, if any.
func (b *batcher) denied() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refusal
}

// close ends the sender once every chunk is sent; the cycle calls it after
// its workers have returned. It logs what the cycle sent.
func (b *batcher) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wake()
	<-b.ended
	b.endWaits()
	if b.requests > 0 {
		b.p.log.Info("bulk write-back", zap.Int("requests", b.requests), zap.Int("orders", b.items), zap.Int("largest", b.maxChunk))
	}
}

// updateSize estimates the JSON size of u in a bulk request: file contents
// travel base64-encoded.
func updateSize(u moysklad.OrderUpdate) int {
	n := bulkItemOverhead
	for _, a := range u.Attributes {
		if a.File != nil {
			n += a.File.EncodedSize() + 2*len(a.File.Filename)
		}
		if s, ok := a.Value.(string); ok {
			n += 2 * len(s) // escapes, UTF-8
		}
	}
	return n
}
