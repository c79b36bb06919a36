// Package poller is the shipping workflow: each cycle it asks MoySklad for
// orders whose status a manager set to a trigger status, drives every such
// order through its carrier's state machine, and writes the outcome back to
// the order, keeping every step in the order's history.
//
// The state machine is persisted in the store before every remote effect
// (intent before effect), so a crash at any point resumes from the last
// recorded step, and an uncertain carrier call is reconciled by looking the
// shipment up by our number before anything is sent again.
package poller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
)

// MoySklad is what the workflow needs from the MoySklad API.
type MoySklad interface {
	ListOrdersPages(ctx context.Context, q moysklad.ListOrdersQuery, fn func([]moysklad.Order) error) error
	GetOrder(ctx context.Context, id string) (moysklad.Order, error)
	OrderMetadata(ctx context.Context) (moysklad.Metadata, error)
	UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error)
	// ResolveAddress fills the name and codes of a delivery address's
	// country and region (bare references in MoySklad's answer).
	ResolveAddress(ctx context.Context, a *moysklad.Address) error
}

// StateNames are the names of the MoySklad order statuses the workflow uses.
type StateNames struct {
	Ready, Registered, Failed, Delete, Deleted, NotDeleted string
	// Delivered and Returned are where tracking moves an order still in
	// Registered; empty disables the move.
	Delivered, Returned string
}

// AttributeNames are the names of the order attributes the workflow uses.
type AttributeNames struct {
	Carrier, PickupPoint, Tariff, TrackingNumber, Waybill, Error string
	// CashOnDelivery names the boolean attribute that marks an order to be
	// paid on delivery; set it only when a carrier's cash_on_delivery is
	// "attribute" (then the attribute is required).
	CashOnDelivery string
	// DeliveryStatus is the string attribute tracking writes the parcel's
	// latest status into; empty: tracking writes no attribute.
	DeliveryStatus string
}

// Config tunes the workflow. Zero durations and counts get defaults.
type Config struct {
	States     StateNames
	Attributes AttributeNames
	// Workers is how many orders are handled at once (default 128). Each
	// order spends seconds waiting for the carrier's asynchronous steps
	// (CDEK: validation, then the print form), so keeping MoySklad's budget
	// busy takes about budget-rate × carrier-time orders in flight: 15/s ×
	// ~5 s ≈ 75 for a solution token. Workers past that wait for MoySklad
	// with their carrier work done, which hides the last orders' carrier
	// time at the end of a burst.
	Workers int
	// Overlap is how far before the cursor each cycle looks again (default 2m).
	Overlap time.Duration
	// SweepEvery is how often a cycle lists every order in a trigger status,
	// ignoring the cursor (default 15m).
	SweepEvery time.Duration
	// PollInterval is the pause between status checks of a pending carrier
	// request (default 1s).
	PollInterval time.Duration
	// FirstPollDelay is how long after sending a carrier request its status
	// is first checked (default 2s). CDEK decides most requests within
	// 0.3–3 s and recommends waiting 2–3 s before the first GET; checking
	// at once only spends a request.
	FirstPollDelay time.Duration
	// SettleTimeout bounds how long one cycle waits for an order's pending
	// carrier request; after it the order waits for the next cycle
	// (default 60s).
	SettleTimeout time.Duration
	// ReconcileGrace is how long after a create whose answer never came
	// (timeout, lost connection, crash) a "not found" from the carrier is
	// not trusted: the request may still be in flight, or the carrier may
	// not show the new order yet (default 45s, above the carrier client's
	// 30 s timeout).
	ReconcileGrace time.Duration
	// RetryBase and RetryMax bound the backoff between retries of an order
	// after a transient failure (defaults 30s and 30m).
	RetryBase, RetryMax time.Duration
	// TrackEvery is how often each live shipment is asked about
	// (tracking.every); 0 disables tracking. See Track.
	TrackEvery time.Duration
	// TrackMaxAge ends the tracking of a shipment registered longer ago
	// (tracking.max_age; 0 means 1440h).
	TrackMaxAge time.Duration
	// QuickRetry is the first wait before a step that failed transiently is
	// tried again within the same pass (doubled for the second); only when
	// the cycle has the time (default 1s).
	QuickRetry time.Duration
	// TrustNumberOnly lists the carriers whose lookups cannot read
	// Shipment.Mark back yet: for them a found shipment that carries no
	// mark at all (and the same recipient phone, when known) is adopted by
	// its number, as before marks existed. Every other found shipment is
	// adopted only when carriers.Owns says it is the order's.
	TrustNumberOnly []string
	// QuickRetries is how many failed steps of one pass are retried within
	// the pass (default 2); negative turns quick retries off.
	QuickRetries int
	// WaybillWait bounds how long a waybill the carrier keeps failing to
	// give holds back the status and the tracking number (default 2m, from
	// the create): after it the order is written registered without the
	// waybill, which is attached when it comes (WaybillGiveUp bounds that,
	// default 24h).
	WaybillWait, WaybillGiveUp time.Duration
	// PutWriteBack writes each outcome back with its own PUT, as before bulk
	// write-back (for comparison); by default the outcomes ready in a cycle
	// travel together in bulk updates (see BulkUpdater).
	PutWriteBack bool
	// BulkDelay is how long an outcome waits at most for others to join its
	// bulk update (default DefaultBulkDelay); BulkMaxItems (default and at
	// most moysklad.MaxBulkItems) and BulkMaxBytes (default
	// DefaultBulkMaxBytes) bound one request.
	BulkDelay    time.Duration
	BulkMaxItems int
	BulkMaxBytes int
}

// WithDefaults returns c with every zero duration and count replaced by its
// default, as New applies them (for callers that scale or display them).
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 128
	}
	if c.WaybillWait <= 0 {
		c.WaybillWait = 2 * time.Minute
	}
	if c.WaybillGiveUp <= 0 {
		c.WaybillGiveUp = 24 * time.Hour
	}
	if c.Overlap <= 0 {
		c.Overlap = 2 * time.Minute
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 15 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.FirstPollDelay <= 0 {
		c.FirstPollDelay = 2 * time.Second
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = time.Minute
	}
	if c.ReconcileGrace <= 0 {
		c.ReconcileGrace = 45 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Minute
	}
	if c.QuickRetry <= 0 {
		c.QuickRetry = time.Second
	}
	if c.QuickRetries == 0 {
		c.QuickRetries = 2
	}
	if c.BulkDelay <= 0 {
		c.BulkDelay = DefaultBulkDelay
	}
	if c.BulkMaxItems <= 0 || c.BulkMaxItems > moysklad.MaxBulkItems {
		c.BulkMaxItems = moysklad.MaxBulkItems
	}
	if c.BulkMaxBytes <= 0 {
		c.BulkMaxBytes = DefaultBulkMaxBytes
	}
}

// Observer receives the workflow's measurements (for metrics). Methods are
// called concurrently.
type Observer interface {
	CycleDone(d time.Duration, err error)
	OrderOutcome(carrier, outcome string)
}

// CarrierObserver is an optional extension of Observer: it hears of every
// carrier failure that leaves an order waiting for a retry (for health: a
// carrier refusing our credentials keeps every order waiting).
type CarrierObserver interface {
	CarrierFailed(carrier string, err error)
}

// carrierFailed tells the Observer of a carrier failure, if it listens.
func (p *Poller) carrierFailed(carrier string, err error) {
	if co, ok := p.obs.(CarrierObserver); ok {
		co.CarrierFailed(carrier, err)
	}
}

// WriteObserver is an optional extension of Observer: it hears whether
// MoySklad accepts our write-backs (for health: a token whose user may read
// but not edit orders, or a revoked token, leaves every outcome unwritten).
type WriteObserver interface {
	// MoySkladWriteFailed hears of a write-back that needs the operator:
	// reason WriteAccess (MoySklad refused the token or its rights) or
	// WriteStuck (an order's write-back failed maxNotWritten times).
	MoySkladWriteFailed(reason string, err error)
	// MoySkladWriteOK hears of a write-back MoySklad applied.
	MoySkladWriteOK()
}

// The reasons of WriteObserver.MoySkladWriteFailed.
const (
	WriteAccess = "access"
	WriteStuck  = "stuck"
)

// writeFailed tells the Observer of a write-back that needs the operator.
func (p *Poller) writeFailed(reason string, err error) {
	if wo, ok := p.obs.(WriteObserver); ok {
		wo.MoySkladWriteFailed(reason, err)
	}
}

// writeOK tells the Observer of a write-back MoySklad applied.
func (p *Poller) writeOK() {
	if wo, ok := p.obs.(WriteObserver); ok {
		wo.MoySkladWriteOK()
	}
}

type nopObserver struct{}

func (nopObserver) CycleDone(time.Duration, error) {}
func (nopObserver) OrderOutcome(string, string)    {}

// Deps are the collaborators of a Poller.
type Deps struct {
	MoySklad MoySklad
	Carriers *carriers.Registry
	Store    *store.Store
	Logger   *zap.Logger
	Now      func() time.Time
	Observer Observer
	// Sleep waits between carrier polls; nil uses a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Poller runs the workflow cycles. One cycle runs at a time per Poller; the
// scheduler around it guarantees that.
type Poller struct {
	cfg   Config
	ms    MoySklad
	reg   *carriers.Registry
	st    *store.Store
	log   *zap.Logger
	now   func() time.Time
	obs   Observer
	sleep func(ctx context.Context, d time.Duration) error

	metaMu sync.Mutex
	meta   *Resolved

	progressMu sync.Mutex
	progress   Progress
}

// Progress tells how far the current or last cycle got.
type Progress struct {
	Found, Done int
	Started     time.Time
	Finished    time.Time
	Err         string
	// Waiting is how many unfinished orders wait for a retry that was not
	// due when the cycle looked; NextRetryAt is when the first is due.
	Waiting     int
	NextRetryAt time.Time
}

// New builds a Poller.
func New(cfg Config, d Deps) *Poller {
	cfg.setDefaults()
	p := &Poller{cfg: cfg, ms: d.MoySklad, reg: d.Carriers, st: d.Store, log: d.Logger, now: d.Now, obs: d.Observer, sleep: d.Sleep}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.obs == nil {
		p.obs = nopObserver{}
	}
	if p.sleep == nil {
		p.sleep = sleepCtx
	}
	if p.reg == nil {
		p.reg = &carriers.Registry{}
	}
	return p
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Progress returns a snapshot of the current or last cycle's progress.
func (p *Poller) Progress() Progress {
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	return p.progress
}

func (p *Poller) setProgress(f func(*Progress)) {
	p.progressMu.Lock()
	f(&p.progress)
	p.progressMu.Unlock()
}

// Cursor names in the store.
const (
	cursorUpdated = "customerorder.updated"
	cursorSweep   = "customerorder.sweep"
)

// ErrInfrastructure wraps failures that stop a whole cycle (MoySklad
// unreachable, configuration missing in MoySklad, store errors), as opposed
// to business outcomes of single orders.
var ErrInfrastructure = errors.New("cycle could not run")

// Cycle runs one poll cycle in three steps: plan (which orders to list,
// from the cursor), dispatch (list them page by page and handle every
// order, each by one worker, plus the unfinished orders the list did not
// bring), and commit (advance the cursor). It returns an error only when
// the cycle could not do its work; orders that fail or wait are outcomes
// recorded on the orders.
func (p *Poller) Cycle(ctx context.Context) (err error) {
	start := p.now()
	p.setProgress(func(pr *Progress) { *pr = Progress{Started: start} })
	defer func() {
		p.obs.CycleDone(p.now().Sub(start), err)
		p.setProgress(func(pr *Progress) {
			pr.Finished = p.now()
			if err != nil {
				pr.Err = err.Error()
			}
		})
	}()

	meta, err := p.metadata(ctx)
	if err != nil {
		return err
	}
	pl, err := p.plan(meta, start)
	if err != nil {
		return err
	}
	d := p.dispatch(ctx, meta, pl)
	return p.commit(ctx, pl, d)
}

// cyclePlan is what a cycle lists.
type cyclePlan struct {
	start time.Time
	query moysklad.ListOrdersQuery
	// sweep lists every order in a trigger status, ignoring the cursor.
	sweep bool
	// from is the cursor (the latest 'updated' handled), when haveCursor.
	from       time.Time
	haveCursor bool
}

// plan reads the cursor and decides what the cycle lists.
func (p *Poller) plan(meta *Resolved, start time.Time) (cyclePlan, error) {
	pl := cyclePlan{start: start}
	cursor, haveCursor, err := p.st.Cursor(cursorUpdated)
	if err != nil {
		return pl, fmt.Errorf("%w: read cursor: %v", ErrInfrastructure, err)
	}
	lastSweep, haveSweep, err := p.st.Cursor(cursorSweep)
	if err != nil {
		return pl, fmt.Errorf("%w: read sweep time: %v", ErrInfrastructure, err)
	}
	pl.haveCursor = haveCursor
	pl.query = moysklad.ListOrdersQuery{StateHrefs: []string{meta.states[keyReady].Meta.Href, meta.states[keyDelete].Meta.Href}}
	pl.sweep = !haveCursor || !haveSweep
	if haveCursor {
		m, perr := moysklad.ParseMoment(cursor)
		if perr != nil {
			p.log.Warn("unreadable cursor; sweeping every order in a trigger status", zap.String("cursor", cursor), zap.Error(perr))
			pl.sweep = true
		} else {
			pl.from = m.Time
		}
	}
	if haveSweep && !pl.sweep {
		if t, perr := time.Parse(time.RFC3339Nano, lastSweep); perr != nil || p.now().Sub(t) >= p.cfg.SweepEvery {
			pl.sweep = true
		}
	}
	if !pl.sweep {
		pl.query.UpdatedFrom = pl.from.Add(-p.cfg.Overlap)
	}
	return pl, nil
}

// dispatched is what the dispatch step did.
type dispatched struct {
	orders                        []moysklad.Order // listed
	resumed                       int
	waiting                       int       // unfinished orders whose retry is not due yet
	next                          time.Time // when the first of them is due
	listErr, resumeErr, storeFail error
}

// job is one order for a worker.
type job struct {
	order   moysklad.Order
	resumed bool
	// deferred: the order only waits for its write-back, held back while
	// the listing paged.
	deferred bool
}

// dispatch lists the planned orders page by page, starting each order as
// soon as its page is read, then resumes the unfinished orders the list did
// not bring, and waits for all of them.
func (p *Poller) dispatch(ctx context.Context, meta *Resolved, pl cyclePlan) dispatched {
	var (
		d       dispatched
		jobs    = &jobQueue[job]{}
		wg      sync.WaitGroup
		failMu  sync.Mutex
		started int
		// gate holds write-backs back while the listing pages. Orders start
		// while later pages load, but a PUT moves an order out of the
		// filtered list and would shift the offsets of the pages still to
		// read. Its batcher gathers the write-backs into bulk updates.
		gate = &writeGate{bulk: p.newBatcher(ctx)}
	)
	fail := func(err error) {
		failMu.Lock()
		if d.storeFail == nil {
			d.storeFail = err
		}
		failMu.Unlock()
	}
	worker := func() {
		defer wg.Done()
		for {
			j, ok := jobs.pop(ctx)
			if !ok {
				return
			}
			gate.bulk.begin()
			err := p.work(ctx, meta, j, gate)
			gate.bulk.end()
			if err != nil {
				p.log.Error("order not handled", zap.String("order", j.order.Name), zap.String("id", j.order.ID), zap.Error(err))
				fail(err)
			}
			if !j.deferred {
				p.markDone()
			}
		}
	}
	// send queues a job, starting workers (up to cfg.Workers) as the work
	// grows; an idle cycle starts none. The queue never blocks the listing:
	// it must end soon, since write-backs wait for it.
	send := func(j job) bool {
		if ctx.Err() != nil {
			return false
		}
		jobs.push(j)
		if started < p.cfg.Workers {
			started++
			wg.Add(1)
			go worker()
		}
		return true
	}
	progressDone := make(chan struct{})
	go p.logProgress(ctx, progressDone)

	// Each page's orders start as soon as the page is read. One job per
	// order: a row seen twice (the order changed while pages were read) is
	// left to the next cycle.
	seen := map[string]bool{}
	d.listErr = p.ms.ListOrdersPages(ctx, pl.query, func(page []moysklad.Order) error {
		for _, o := range page {
			if seen[o.ID] {
				continue
			}
			seen[o.ID] = true
			d.orders = append(d.orders, o)
			p.setProgress(func(pr *Progress) { pr.Found++ })
			if !send(job{order: o}) {
				return ctx.Err()
			}
		}
		return nil
	})
	// The listing is over: write-backs may go, the held ones first.
	for _, o := range gate.open() {
		if !send(job{order: o, deferred: true}) {
			break
		}
	}

	// Orders with unfinished work that the list did not bring (their
	// status change is older than the window) are resumed too.
	if d.listErr == nil {
		var resume []store.OrderRecord
		resume, d.waiting, d.next, d.resumeErr = p.dueUnsettled(seen)
		d.resumed = len(resume)
		p.setProgress(func(pr *Progress) { pr.Found += len(resume) })
		fields := []zap.Field{zap.Int("listed", len(d.orders)), zap.Int("resumed", len(resume)), zap.Bool("sweep", pl.sweep)}
		if d.waiting > 0 {
			fields = append(fields, zap.Int("waiting_for_retry", d.waiting), zap.Time("next_retry_at", d.next))
		}
		p.log.Info("cycle: orders to look at", fields...)
		for _, rec := range resume {
			if !send(job{order: moysklad.Order{ID: rec.ID, Name: rec.Name}, resumed: true}) {
				break
			}
		}
	}
	jobs.close()
	wg.Wait()
	gate.bulk.close()
	close(progressDone)
	return d
}

// work handles one job.
func (p *Poller) work(ctx context.Context, meta *Resolved, j job, gate *writeGate) error {
	o := j.order
	if j.deferred {
		return p.flush(ctx, meta, o, gate)
	}
	if j.resumed {
		fresh, gerr := p.ms.GetOrder(ctx, o.ID)
		switch {
		case moysklad.IsNotFound(gerr):
			// Deleted in MoySklad: settle what the carrier knows (handle
			// sees an order in no status).
			p.log.Warn("resume: the order is gone from MoySklad", zap.String("order", o.Name))
		case gerr != nil:
			p.log.Warn("resume: read order", zap.String("order", o.Name), zap.Error(gerr))
			if derr := p.deferResume(o.ID); derr != nil {
				p.log.Error("resume: save retry time", zap.String("order", o.Name), zap.Error(derr))
			}
			return nil
		default:
			o = fresh
		}
	}
	return p.handle(ctx, meta, o, gate)
}

// commit moves the cursor past the listed orders, once every one of them
// has a record, and notes the sweep.
func (p *Poller) commit(ctx context.Context, pl cyclePlan, d dispatched) error {
	if d.listErr != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: list MoySklad orders: %v", ErrInfrastructure, d.listErr)
	}
	if d.resumeErr != nil {
		return fmt.Errorf("%w: %v", ErrInfrastructure, d.resumeErr)
	}
	if d.storeFail != nil {
		return fmt.Errorf("%w: %v", ErrInfrastructure, d.storeFail)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Every listed order now has a record, so the cursor may move past
	// them; orders still waiting are resumed from the store.
	if max := maxUpdated(d.orders); !max.IsZero() && (!pl.haveCursor || max.After(pl.from)) {
		if err := p.st.SetCursor(cursorUpdated, moysklad.Moment{Time: max}.String()); err != nil {
			return fmt.Errorf("%w: save cursor: %v", ErrInfrastructure, err)
		}
	} else if !pl.haveCursor {
		// Nothing in a trigger status yet: start the cursor at the
		// current time, as MoySklad would stamp a change now.
		if err := p.st.SetCursor(cursorUpdated, moysklad.Moment{Time: pl.start}.String()); err != nil {
			return fmt.Errorf("%w: save cursor: %v", ErrInfrastructure, err)
		}
	}
	if pl.sweep {
		if err := p.st.SetCursor(cursorSweep, pl.start.UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("%w: save sweep time: %v", ErrInfrastructure, err)
		}
	}
	fields := []zap.Field{zap.Int("orders", len(d.orders)+d.resumed), zap.Duration("took", p.now().Sub(pl.start))}
	if n, next, err := p.waiting(); err == nil && n > 0 {
		p.setProgress(func(pr *Progress) { pr.Waiting, pr.NextRetryAt = n, next })
		fields = append(fields, zap.Int("waiting_for_retry", n), zap.Time("next_retry_at", next))
	}
	p.log.Info("cycle done", fields...)
	return nil
}

func (p *Poller) markDone() {
	p.setProgress(func(pr *Progress) { pr.Done++ })
}

// logProgress logs how many orders are done and left while a long cycle
// runs.
func (p *Poller) logProgress(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			pr := p.Progress()
			p.log.Info("cycle progress", zap.Int("found", pr.Found), zap.Int("done", pr.Done), zap.Int("left", pr.Found-pr.Done))
		}
	}
}

func maxUpdated(orders []moysklad.Order) time.Time {
	var max time.Time
	for _, o := range orders {
		if o.Updated.After(max) {
			max = o.Updated.Time
		}
	}
	return max
}

// jobQueue is an unbounded FIFO of a cycle's work.
type jobQueue[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	ready  chan struct{} // signalled (non-blocking) on push and close
}

func (q *jobQueue[T]) signal() chan struct{} {
	if q.ready == nil {
		q.ready = make(chan struct{}, 1)
	}
	return q.ready
}

func (q *jobQueue[T]) push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	sig := q.signal()
	q.mu.Unlock()
	select {
	case sig <- struct{}{}:
	default:
	}
}

// close lets pop return false once the queue is empty.
func (q *jobQueue[T]) close() {
	q.mu.Lock()
	q.closed = true
	sig := q.signal()
	q.mu.Unlock()
	select {
	case sig <- struct{}{}:
	default:
	}
}

// pop returns the next item, waiting for one; false when the queue is
// closed and empty, or ctx is done.
func (q *jobQueue[T]) pop(ctx context.Context) (T, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			more := len(q.items) > 0 || q.closed
			sig := q.signal()
			q.mu.Unlock()
			if more {
				// Pass the wake-up on to another waiting worker.
				select {
				case sig <- struct{}{}:
				default:
				}
			}
			return v, true
		}
		closed := q.closed
		sig := q.signal()
		q.mu.Unlock()
		if closed {
			select {
			case sig <- struct{}{}: // wake the next waiter to see it too
			default:
			}
			var zero T
			return zero, false
		}
		if ctx.Err() != nil {
			var zero T
			return zero, false
		}
		select {
		case <-sig:
		case <-ctx.Done():
		}
	}
}

// writeGate holds write-backs back until the cycle's listing has ended.
type writeGate struct {
	// bulk gathers write-backs into bulk updates; nil: one PUT each.
	bulk     *batcher
	mu       sync.Mutex
	opened   bool
	deferred []moysklad.Order
	// refusal is MoySklad's access refusal of a write in this cycle
	// (moysklad.IsAccessRefused): the cycle sends no more writes.
	refusal error
}

// deny records an access refusal of a write: the cycle's other write-backs
// are kept for a later cycle instead of being sent to be refused alike.
func (g *writeGate) deny(err error) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refusal == nil {
		g.refusal = err
	}
}

// denied returns the cycle's access refusal of a write, if any (also one
// its bulk requests met).
func (g *writeGate) denied() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	err := g.refusal
	g.mu.Unlock()
	if err == nil && g.bulk != nil {
		err = g.bulk.denied()
	}
	return err
}

// hold keeps o's write-back for later and reports true, unless the gate is
// already open.
func (g *writeGate) hold(o moysklad.Order) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return false
	}
	g.deferred = append(g.deferred, o)
	return true
}

// open lets write-backs through and returns the orders held so far.
func (g *writeGate) open() []moysklad.Order {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = true
	d := g.deferred
	g.deferred = nil
	return d
}

// waiting returns how many unfinished orders wait for a retry that is not
// due yet, and when the first is due.
func (p *Poller) waiting() (int, time.Time, error) {
	now := p.now()
	n := 0
	var next time.Time
	err := p.st.OpenOrders(func(rec store.OrderRecord) bool {
		if rec.NextAttemptAt.After(now) {
			n++
			if next.IsZero() || rec.NextAttemptAt.Before(next) {
				next = rec.NextAttemptAt
			}
		}
		return true
	})
	return n, next, err
}

// deferResume gives an order whose resume failed a retry time, so that an
// unreadable order is not asked for every cycle.
func (p *Poller) deferResume(id string) error {
	rec, ok, err := p.st.Order(id)
	if err != nil || !ok {
		return err
	}
	rec.Retries++
	rec.NextAttemptAt = p.now().Add(p.backoff(rec.Retries))
	return p.st.Save(rec)
}

// dueUnsettled returns the stored orders whose last action is not finished
// and whose next attempt is due, except those in skip, and how many wait
// for a retry that is not due yet, and when the first of them is due. It reads only the
// store's index of open orders, not every record.
func (p *Poller) dueUnsettled(skip map[string]bool) ([]store.OrderRecord, int, time.Time, error) {
	now := p.now()
	var out []store.OrderRecord
	waiting := 0
	var next time.Time
	var closeErr error
	err := p.st.OpenOrders(func(rec store.OrderRecord) bool {
		if skip[rec.ID] {
			return true
		}
		st := decodeState(rec.Pending)
		if st.Settled || st.Trigger == "" {
			if rec.Open {
				return true // not possible: save keeps both in step
			}
			// Indexed by the store's migration but finished: take it
			// out of the index once.
			if closeErr = p.st.Save(rec); closeErr != nil {
				return false
			}
			return true
		}
		if rec.NextAttemptAt.After(now) {
			waiting++
			if next.IsZero() || rec.NextAttemptAt.Before(next) {
				next = rec.NextAttemptAt
			}
			return true
		}
		out = append(out, rec)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.Before(out[j].UpdatedAt) })
	if err == nil {
		err = closeErr
	}
	return out, waiting, next, err
}
