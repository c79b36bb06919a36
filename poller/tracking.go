package poller

// Tracking (PRODUCT.md rule 13): after registration, shipbridge follows each
// live parcel at its carrier, writes the carrier's latest status into the
// order's delivery_status attribute, and moves an order still in
// «registered» to «delivered» or «returned».
//
// How a pass spends MoySklad's budget. The pass never runs beside a poll
// cycle: the program runs it after a cycle, in the time left before the next
// scheduled one, and stops it one rate window early (TrackOptions.Deadline),
// so the next cycle finds MoySklad's whole budget free. A cycle that runs long
// takes tracking's time, never the reverse. Within a pass, MoySklad is asked
// only about what changed: one metadata read per pass, one GET before a
// status move (to see whether a manager moved the order elsewhere), and the
// writes of the orders whose delivery status text changed, which travel
// together in bulk updates (POST /entity/customerorder, up to BulkMaxItems
// orders and BulkMaxBytes of body each; see tracking_write.go). Unchanged
// shipments cost no MoySklad request. Without a bulk-capable MoySklad, or
// with Config.PutWriteBack, each order gets its own PUT as before.
//
// How a pass spreads the work. Each pass takes, stalest first, the live
// shipments not asked about for TrackEvery, but no more than its share:
// live × (time since the last pass) / TrackEvery. Passes are due every
// TrackEvery/12, so each shipment is asked about about once per TrackEvery,
// in twelve slices rather than one burst. The first pass ever takes all.
//
// Crash safety. The record's Delivery is saved only after MoySklad took the
// write; a pass cut short leaves the rest stale for the next one. A status
// move first reads the order, so a re-run after a crash between the write
// and the save finds the order already moved and its attribute already
// written, and writes nothing (or, when a manager moved it on meanwhile,
// keeps the manager's status); a re-run of an attribute-only change repeats
// the same write once, which leaves the order as it was. A bulk update whose
// answer is lost is handled as a lost PUT: nothing of its orders is saved,
// the pass stops, and the next pass decides afresh from a new read. The
// checks are saved in batches, one store transaction per carrier batch and
// one per bulk update: a crash loses at most the unsaved checks, which the
// next pass asks about again.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
)

// State keys of tracking, as in the config (moysklad.states.*).
const (
	keyDelivered = "delivered"
	keyReturned  = "returned"
)

const (
	// cursorTrackingPass is the store cursor holding when the last complete
	// tracking pass started (RFC 3339).
	cursorTrackingPass = "tracking.last_pass"
	// defaultTrackMaxAge is tracking.max_age's default: 60 days.
	defaultTrackMaxAge = 1440 * time.Hour
	// trackSlices is how many passes share one TrackEvery.
	trackSlices = 12
	// trackBatch is how many shipments one Tracker.Track call carries.
	trackBatch = 100
	// trackWorkers is how many orders of a batch are written at once.
	trackWorkers = 4
	// trackWriteTimeout bounds one order's MoySklad reads and writes, which
	// run to completion even when the pass is stopped (within the 1 min
	// shutdown_timeout).
	trackWriteTimeout = 30 * time.Second
	// deliveryStatusMax is the length of a MoySklad string attribute.
	deliveryStatusMax = 255
)

// TrackingObserver receives tracking's measurements (for metrics). When the
// poller's Observer implements it, every shipment a carrier answered about is
// counted, with whether its status changed. Methods are called concurrently.
type TrackingObserver interface {
	// ShipmentTracked counts one answered shipment of carrier in status (a
	// carriers.TrackStatus, "unknown" when the carrier could not say).
	ShipmentTracked(carrier, status string, changed bool)
}

// TrackOptions bound one tracking pass.
type TrackOptions struct {
	// Deadline, when set, is when the pass stops starting new work (carrier
	// calls, MoySklad writes): the time left before the next poll cycle,
	// less a rate window.
	Deadline time.Time
}

// TrackReport says what one tracking pass did.
type TrackReport struct {
	// Live is the number of shipments being tracked; Due those not asked
	// about for TrackEvery; Quota how many of them this pass took.
	Live, Due, Quota int
	// CarrierCalls counts Tracker.Track calls; Checked the shipments they
	// answered about; Changed those whose status changed.
	CarrierCalls, Checked, Changed int
	// Moved counts orders moved to «delivered» or «returned»; Kept orders
	// that a manager had moved elsewhere, which kept their status.
	Moved, Kept int
	// Reads counts MoySklad GETs of orders. Writes counts the orders whose
	// update was sent, one per order whether by PUT or as an element of a
	// bulk update; WriteRequests counts the HTTP requests that carried them
	// (PUTs and bulk POSTs, each attempt, retries included): what the
	// writes cost of MoySklad's budget.
	Reads, Writes, WriteRequests int
	// Complete is true when the pass handled its whole quota.
	Complete bool
}

func (r TrackReport) fields() []zap.Field {
	return []zap.Field{zap.Int("live", r.Live), zap.Int("due", r.Due), zap.Int("quota", r.Quota),
		zap.Int("carrier_calls", r.CarrierCalls), zap.Int("checked", r.Checked), zap.Int("changed", r.Changed),
		zap.Int("moved", r.Moved), zap.Int("kept", r.Kept), zap.Int("moysklad_reads", r.Reads), zap.Int("moysklad_writes", r.Writes),
		zap.Int("moysklad_write_requests", r.WriteRequests),
		zap.Bool("complete", r.Complete)}
}

// trackingMeta is the MoySklad metadata a pass needs.
type trackingMeta struct {
	registered moysklad.State
	// moves holds the target statuses by key; a disabled move is absent.
	moves map[string]moysklad.State
	// attr is the delivery_status attribute; empty ID when none is written.
	attr moysklad.AttributeDef
}

// ResolveTracking checks that MoySklad has what tracking writes: the
// configured «delivered» and «returned» statuses (those with a name) and the
// delivery_status string attribute. It returns nil or a
// *MissingMetadataError; it is exported for `shipbridge check`. The
// «registered» status is Resolve's to check.
func ResolveTracking(md moysklad.Metadata, states StateNames, attrs AttributeNames) error {
	_, err := resolveTracking(md, states, attrs, false)
	return err
}

func resolveTracking(md moysklad.Metadata, states StateNames, attrs AttributeNames, needRegistered bool) (*trackingMeta, error) {
	tm := &trackingMeta{moves: map[string]moysklad.State{}}
	var problems []string
	var items []MetadataProblem
	byName := map[string]moysklad.State{}
	for _, s := range md.States {
		byName[strings.ToLower(strings.TrimSpace(s.Name))] = s
	}
	wanted := []struct{ key, name string }{{keyDelivered, states.Delivered}, {keyReturned, states.Returned}}
	if needRegistered {
		wanted = append([]struct{ key, name string }{{keyRegistered, states.Registered}}, wanted...)
	}
	for _, st := range wanted {
		if strings.TrimSpace(st.name) == "" {
			continue // the move is disabled
		}
		s, ok := byName[strings.ToLower(strings.TrimSpace(st.name))]
		if !ok {
			problems = append(problems, fmt.Sprintf("status %q (moysklad.states.%s)", st.name, st.key))
			items = append(items, MetadataProblem{Kind: "state", Key: st.key, Name: st.name})
			continue
		}
		if st.key == keyRegistered {
			tm.registered = s
		} else {
			tm.moves[st.key] = s
		}
	}
	if name := strings.TrimSpace(attrs.DeliveryStatus); name != "" {
		want := []string{"string", "text"}
		found := false
		for _, a := range md.Attributes {
			if strings.ToLower(strings.TrimSpace(a.Name)) != strings.ToLower(name) {
				continue
			}
			found = true
			if a.Type != "string" && a.Type != "text" {
				problems = append(problems, fmt.Sprintf("attribute %q (moysklad.attributes.delivery_status) has type %s, want %s", attrs.DeliveryStatus, a.Type, strings.Join(want, " or ")))
				items = append(items, MetadataProblem{Kind: "attribute", Key: "delivery_status", Name: attrs.DeliveryStatus, FoundType: a.Type, WantTypes: want})
				break
			}
			tm.attr = a
			break
		}
		if !found {
			problems = append(problems, fmt.Sprintf("attribute %q (moysklad.attributes.delivery_status)", attrs.DeliveryStatus))
			items = append(items, MetadataProblem{Kind: "attribute", Key: "delivery_status", Name: attrs.DeliveryStatus, WantTypes: want})
		}
	}
	if len(problems) > 0 {
		return nil, &MissingMetadataError{Problems: problems, Items: items}
	}
	return tm, nil
}

// TrackingDue reports whether a tracking pass is due: tracking is enabled
// and the last pass started at least TrackEvery/12 ago (or never ran).
func (p *Poller) TrackingDue() (bool, error) {
	if p.cfg.TrackEvery <= 0 {
		return false, nil
	}
	last, ok, err := p.lastTrackingPass()
	if err != nil {
		return false, err
	}
	return !ok || p.now().Sub(last) >= p.cfg.TrackEvery/trackSlices, nil
}

func (p *Poller) lastTrackingPass() (time.Time, bool, error) {
	v, ok, err := p.st.Cursor(cursorTrackingPass)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: read the last tracking pass: %v", ErrInfrastructure, err)
	}
	if !ok {
		return time.Time{}, false, nil
	}
	t, perr := time.Parse(time.RFC3339Nano, v)
	if perr != nil {
		p.log.Warn("unreadable time of the last tracking pass; tracking as if none ran", zap.String("value", v), zap.Error(perr))
		return time.Time{}, false, nil
	}
	return t, true, nil
}

func (p *Poller) trackMaxAge() time.Duration {
	if p.cfg.TrackMaxAge > 0 {
		return p.cfg.TrackMaxAge
	}
	return defaultTrackMaxAge
}

// trackedSince is when the shipment's registration began: the current
// attempt's carrier intent when known, else when shipbridge first saw the
// order.
func trackedSince(rec store.OrderRecord) time.Time {
	since := rec.CreatedAt
	if st := decodeState(rec.Pending); st.IntentAt.After(since) {
		since = st.IntentAt
	}
	return since
}

// liveShipments returns the shipments to track, and of them the due ones,
// stalest first.
func (p *Poller) liveShipments(now time.Time) (live int, due []store.OrderRecord, err error) {
	maxAge := p.trackMaxAge()
	err = p.st.Orders(func(rec store.OrderRecord) bool {
		// Only settled shipments: an order with unfinished work belongs to
		// the registration workflow until it is done.
		if Phase(rec.Phase) != phaseRegistered || rec.Open || rec.Carrier == "" {
			return true
		}
		if carriers.TrackStatus(rec.Delivery.Status).Final() {
			return true
		}
		if caps, ok := p.reg.Capabilities(rec.Carrier); !ok || caps.Tracker == nil {
			return true
		}
		if now.Sub(trackedSince(rec)) >= maxAge {
			return true
		}
		live++
		if rec.Delivery.CheckedAt.IsZero() || now.Sub(rec.Delivery.CheckedAt) >= p.cfg.TrackEvery {
			due = append(due, rec)
		}
		return true
	})
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrInfrastructure, err)
	}
	sort.SliceStable(due, func(i, j int) bool {
		a, b := due[i].Delivery.CheckedAt, due[j].Delivery.CheckedAt
		if !a.Equal(b) {
			return a.Before(b)
		}
		return trackedSince(due[i]).Before(trackedSince(due[j]))
	})
	return live, due, nil
}

// Track runs one tracking pass: it asks each carrier about its due live
// shipments (see the top of this file for which, how many and why), and for
// each whose status changed writes delivery_status, moves an order still in
// «registered» to «delivered» or «returned», appends the change to the
// order's history and saves it in the record's Delivery. It returns an error
// when the pass could not run (MoySklad unreachable or missing the statuses
// and attribute, the store failing); a carrier without tracking, or one that
// fails, changes nothing.
//
// Track must not run beside Cycle: the program runs it after a cycle.
func (p *Poller) Track(ctx context.Context, opts TrackOptions) (TrackReport, error) {
	var rep TrackReport
	if p.cfg.TrackEvery <= 0 {
		rep.Complete = true
		return rep, nil
	}
	start := p.now()
	// The cycle's metadata (read once, cached until MoySklad refuses a
	// status or attribute); read again once when tracking's statuses are
	// missing from it, as after `shipbridge setup` created them.
	meta, err := p.metadata(ctx)
	if err != nil {
		return rep, err
	}
	tm, err := resolveTracking(meta.md, p.cfg.States, p.cfg.Attributes, true)
	if err != nil {
		p.invalidateMetadata()
		if meta, err = p.metadata(ctx); err != nil {
			return rep, err
		}
		if tm, err = resolveTracking(meta.md, p.cfg.States, p.cfg.Attributes, true); err != nil {
			return rep, fmt.Errorf("%w: %w", ErrInfrastructure, err)
		}
	}
	last, haveLast, err := p.lastTrackingPass()
	if err != nil {
		return rep, err
	}
	live, due, err := p.liveShipments(start)
	if err != nil {
		return rep, err
	}
	rep.Live, rep.Due = live, len(due)
	// This pass's share of the period: live × elapsed / TrackEvery.
	elapsed := p.cfg.TrackEvery
	if haveLast && start.Sub(last) < elapsed {
		elapsed = max(start.Sub(last), 0)
	}
	quota := int(math.Ceil(float64(live) * float64(elapsed) / float64(p.cfg.TrackEvery)))
	quota = min(quota, len(due))
	due = due[:quota]
	rep.Quota = quota

	byCarrier := map[string][]store.OrderRecord{}
	var keys []string
	for _, rec := range due {
		if _, ok := byCarrier[rec.Carrier]; !ok {
			keys = append(keys, rec.Carrier)
		}
		byCarrier[rec.Carrier] = append(byCarrier[rec.Carrier], rec)
	}
	sort.Strings(keys)

	pass := &trackPass{p: p, tm: tm, rep: &rep, opts: opts}
	if bu, ok := p.ms.(BulkUpdater); ok && !p.cfg.PutWriteBack {
		pass.bulk = bu
	}
	complete := true
	var ferr error
work:
	for _, key := range keys {
		caps, _ := p.reg.Capabilities(key)
		recs := byCarrier[key]
		for len(recs) > 0 {
			if pass.stopped(ctx) {
				complete = false
				break work
			}
			n := min(trackBatch, len(recs))
			batch := recs[:n]
			recs = recs[n:]
			ok, err := pass.batch(ctx, key, caps.Tracker, batch)
			if err == nil && pass.flushDue() {
				err = pass.flush(ctx)
			}
			if err != nil {
				ferr = err
				break work
			}
			if !ok {
				break // this carrier is not answering now; the others may
			}
		}
	}
	// What waits for a bulk update goes now, also when the pass stops at its
	// deadline or is cancelled: its reads are done, and its request runs to
	// completion like a PUT. After a failure nothing more is sent.
	if ferr == nil {
		ferr = pass.flush(ctx)
	} else {
		pass.drop()
	}
	if ferr != nil {
		p.log.Warn("tracking pass stopped", append(rep.fields(), zap.Error(ferr))...)
		return rep, ferr
	}
	if complete && !pass.cut {
		rep.Complete = true
		if err := p.st.SetCursor(cursorTrackingPass, start.UTC().Format(time.RFC3339Nano)); err != nil {
			return rep, fmt.Errorf("%w: save the time of the tracking pass: %v", ErrInfrastructure, err)
		}
	}
	p.log.Info("tracking pass done", append(rep.fields(), zap.Duration("took", p.now().Sub(start)))...)
	return rep, nil
}

// trackPass is one running pass.
type trackPass struct {
	p    *Poller
	tm   *trackingMeta
	opts TrackOptions

	// bulk, when set, carries the pass's writes in bulk updates; nil: one
	// PUT per order.
	bulk BulkUpdater

	mu  sync.Mutex
	rep *TrackReport
	// cut is set when the pass stopped before it applied every answer.
	cut bool
	// saves are the checks decided and not yet saved (see commit).
	saves []trackSave
	// queue holds the writes waiting for the next bulk update; queueBytes
	// is their estimated body size.
	queue      []*trackWrite
	queueBytes int
}

func (tp *trackPass) count(f func(*TrackReport)) {
	tp.mu.Lock()
	f(tp.rep)
	tp.mu.Unlock()
}

// stopped reports whether the pass must start no new work.
func (tp *trackPass) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	return !tp.opts.Deadline.IsZero() && !tp.p.now().Before(tp.opts.Deadline)
}

// batch asks the carrier about one batch of shipments and applies the
// answers. ok is false when the carrier gave no answer; err is a failure
// that stops the pass (MoySklad unavailable, the store failing).
func (tp *trackPass) batch(ctx context.Context, carrier string, tr carriers.Tracker, recs []store.OrderRecord) (ok bool, err error) {
	p := tp.p
	regs := make([]carriers.Registration, len(recs))
	byRef := map[string]int{}
	for i, rec := range recs {
		regs[i] = carriers.Registration{Number: rec.Number, Reference: rec.Reference, TrackingNumber: rec.TrackingNumber,
			Status: carriers.StatusRegistered, CarrierData: rec.CarrierData}
		if rec.Reference != "" {
			byRef[rec.Reference] = i
		}
	}
	tctx := ctx
	if !tp.opts.Deadline.IsZero() {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, tp.opts.Deadline.Sub(p.now()))
		defer cancel()
	}
	tp.count(func(r *TrackReport) { r.CarrierCalls++ })
	answers, terr := tr.Track(tctx, regs)
	switch {
	case errors.Is(terr, carriers.ErrTrackingUnavailable):
		p.log.Debug("carrier offers no tracking now; nothing changes", zap.String("carrier", carrier), zap.Int("shipments", len(recs)))
		return false, nil
	case terr != nil:
		p.log.Warn("carrier tracking failed; nothing changes", zap.String("carrier", carrier), zap.Int("shipments", len(recs)),
			zap.String("kind", carriers.KindOf(terr).String()), zap.Error(terr))
		return false, nil
	}
	now := p.now()
	type item struct {
		rec store.OrderRecord
		tr  carriers.Tracking
	}
	var items []item
	seen := map[int]bool{}
	for i, a := range answers {
		idx := -1
		switch {
		case i < len(regs) && (a.Reference == "" || a.Reference == regs[i].Reference):
			idx = i
		case a.Reference != "":
			if j, found := byRef[a.Reference]; found {
				idx = j
			}
		}
		if idx < 0 || seen[idx] {
			p.log.Warn("carrier tracking answer matches no shipment asked about", zap.String("carrier", carrier), zap.String("reference", a.Reference))
			continue
		}
		seen[idx] = true
		items = append(items, item{rec: recs[idx], tr: a})
	}

	var (
		wg    sync.WaitGroup
		next  = make(chan item)
		fatal error
		fmu   sync.Mutex
	)
	for range min(trackWorkers, len(items)) {
		wg.Go(func() {
			for it := range next {
				if err := tp.apply(ctx, carrier, it.rec, it.tr, now); err != nil {
					fmu.Lock()
					if fatal == nil {
						fatal = err
					}
					fmu.Unlock()
				}
			}
		})
	}
	stopNow := func() bool {
		fmu.Lock()
		defer fmu.Unlock()
		return fatal != nil
	}
	for _, it := range items {
		// A failure stops the feeding before anything more is sent: the
		// queue is then dropped, not flushed to a MoySklad that just failed.
		if stopNow() || tp.stopped(ctx) {
			tp.cut = true
			break
		}
		if tp.queueAged() {
			// A move's write goes within BulkDelay (and a read or two) of
			// the read it was decided on, also while a batch is being
			// handled.
			if err := tp.flush(ctx); err != nil {
				fmu.Lock()
				if fatal == nil {
					fatal = err
				}
				fmu.Unlock()
				tp.cut = true
				break
			}
		}
		next <- it
	}
	close(next)
	wg.Wait()
	// The batch's checks are saved together, also when the pass stops: what
	// MoySklad took is recorded.
	if err := tp.commit(); err != nil {
		return true, err
	}
	return true, fatal
}

// sameDelivery reports whether the carrier said nothing new.
func sameDelivery(a, b store.Delivery) bool {
	return a.Status == b.Status && a.Code == b.Code && a.Name == b.Name && a.At.Equal(b.At)
}

// moveFor returns the status key an order still in «registered» moves to
// for the parcel status, "" when none (or the move is disabled).
func (tm *trackingMeta) moveFor(s carriers.TrackStatus) string {
	key := ""
	switch s {
	case carriers.TrackDelivered:
		key = keyDelivered
	case carriers.TrackNotDelivered, carriers.TrackReturned:
		key = keyReturned
	}
	if _, ok := tm.moves[key]; !ok {
		return ""
	}
	return key
}

// apply handles one shipment's answer: it decides what to write to
// MoySklad, and queues the write for the pass's next bulk update (or sends
// it by PUT) and the check for the batch's save. It returns an error only
// when the pass must stop.
func (tp *trackPass) apply(ctx context.Context, carrier string, rec store.OrderRecord, tr carriers.Tracking, now time.Time) error {
	p := tp.p
	next := store.Delivery{Status: string(tr.Status), Code: tr.Code, Name: tr.Name, At: tr.At, CheckedAt: now}
	label := string(tr.Status)
	if label == "" {
		label = "unknown"
	}
	nothingKnown := tr.Status == carriers.TrackUnknown && tr.Code == "" && tr.Name == ""
	changed := !nothingKnown && !sameDelivery(rec.Delivery, next)
	tp.count(func(r *TrackReport) {
		r.Checked++
		if changed {
			r.Changed++
		}
	})
	if o, ok := p.obs.(TrackingObserver); ok {
		o.ShipmentTracked(carrier, label, changed)
	}
	if !changed {
		// Only when it was asked about; the status stays.
		d := rec.Delivery
		d.CheckedAt = now
		tp.keep(trackSave{rec: rec, d: d})
		return nil
	}

	w := &trackWrite{carrier: carrier, rec: rec, next: next, text: deliveryText(tr), evlog: &eventLog{now: p.now}}
	// The order's MoySklad exchanges go into its history; they run to
	// completion when the pass is stopped, so the answer is recorded.
	wctx, cancel := tp.writeContext(ctx, w)
	defer cancel()

	prevText := deliveryText(carriers.Tracking{Status: carriers.TrackStatus(rec.Delivery.Status), Name: rec.Delivery.Name, At: rec.Delivery.At})
	change := map[string]any{"carrier": carrier, "status": tr.Status, "code": tr.Code, "name": tr.Name, "at": tr.At,
		"previous_status": rec.Delivery.Status, "previous_code": rec.Delivery.Code, "text": w.text}
	w.evlog.add("tracking", "Статус доставки: "+orDash(w.text), change)

	w.target = tp.tm.moveFor(tr.Status)
	haveAttr := tp.tm.attr.ID != ""
	if w.target != "" {
		// A status move: only an order still in «registered» moves, so read
		// where it is now (a manager may have moved it).
		tp.count(func(r *TrackReport) { r.Reads++ })
		o, err := p.ms.GetOrder(wctx, rec.ID)
		if err != nil {
			return tp.failed(w, err)
		}
		targetState := tp.tm.moves[w.target]
		switch {
		case sameState(tp.tm.registered, o.State):
			w.u.State = &targetState.Meta
		case sameState(targetState, o.State):
			// Already there: an earlier write landed.
		default:
			w.keptState = o.State.Name
			if w.keptState == "" {
				w.keptState = o.State.Meta.ID()
			}
		}
		if haveAttr && w.text != "" && currentText(o, tp.tm.attr) != w.text {
			w.u.Attributes = append(w.u.Attributes, moysklad.StringValue(tp.tm.attr.Meta, w.text))
		}
	} else if haveAttr && w.text != "" && w.text != prevText {
		w.u.Attributes = append(w.u.Attributes, moysklad.StringValue(tp.tm.attr.Meta, w.text))
	}

	if w.u.State == nil && len(w.u.Attributes) == 0 {
		return tp.done(w, false)
	}
	if tp.enqueue(w) {
		return nil
	}
	return tp.put(wctx, w)
}

// put sends one order's write by PUT and handles the answer.
func (tp *trackPass) put(wctx context.Context, w *trackWrite) error {
	tp.count(func(r *TrackReport) { r.Writes++ })
	if _, err := tp.p.ms.UpdateOrder(wctx, w.rec.ID, w.u); err != nil {
		return tp.failed(w, err)
	}
	return tp.done(w, true)
}

// done finishes an order whose write MoySklad took (written), or which
// needed none: its history tells what was written or kept, and its check
// is saved with the new delivery status.
func (tp *trackPass) done(w *trackWrite, written bool) error {
	p := tp.p
	lastState := ""
	if written {
		summary := map[string]any{"delivery_status": w.text}
		if w.u.State != nil {
			lastState = tp.tm.moves[w.target].Name
			summary["state"] = lastState
			w.evlog.add("status", fmt.Sprintf("Статус в МойСклад: «%s»", lastState), summary)
			tp.count(func(r *TrackReport) { r.Moved++ })
			p.obs.OrderOutcome(w.carrier, w.target)
		} else {
			w.evlog.add("delivery_status", "В МойСклад записан статус доставки", summary)
		}
	}
	if w.keptState != "" {
		tp.count(func(r *TrackReport) { r.Kept++ })
		w.evlog.add("tracking_kept_state", fmt.Sprintf("Заказ в статусе «%s»: статус не меняется, записан только статус доставки", w.keptState),
			map[string]any{"state": w.keptState, "would_move_to": tp.tm.moves[w.target].Name})
	}
	tp.keep(trackSave{rec: w.rec, d: w.next, lastState: lastState, events: w.evlog.take()})
	return nil
}

// failed handles a MoySklad failure of one order: an order gone from
// MoySklad, or a write MoySklad refused (never repeated unchanged), keeps its
// new delivery status in the store and history only; an unavailable MoySklad
// stops the pass with nothing saved, so the next pass tries again.
func (tp *trackPass) failed(w *trackWrite, err error) error {
	switch {
	case moysklad.IsNotFound(err):
		w.evlog.add("tracking_order_gone", "Заказ удалён в МойСклад: статус доставки сохранён только в истории", map[string]any{"error": err.Error()})
		tp.keep(trackSave{rec: w.rec, d: w.next, events: w.evlog.take()})
		return nil
	case moysklad.IsRetryable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return tp.lost(w, err)
	default:
		// A refusal (4xx) is not sent again unchanged: the status is kept
		// in the store, and the next change of it is written afresh.
		tp.p.log.Error("MoySklad refused the tracking update; the next status change is written again", zap.String("order", w.rec.Name), zap.Error(err))
		w.evlog.add("tracking_update_failed", fmt.Sprintf("МойСклад не принял статус доставки (%v); он сохранён в истории, следующий статус будет записан заново", err), nil)
		tp.keep(trackSave{rec: w.rec, d: w.next, events: w.evlog.take()})
		return nil
	}
}

// lost handles an order whose read or write got no answer (MoySklad
// unavailable, an answer lost, the pass cut off): the record stays as it
// was, so the next pass asks the carrier again, reads the order again and
// writes what is still missing; the exchanges are kept in the history, and
// the change is recorded when the next pass writes it. The pass stops.
func (tp *trackPass) lost(w *trackWrite, err error) error {
	var keep []store.Event
	for _, e := range w.evlog.take() {
		if e.Kind != "tracking" {
			keep = append(keep, e)
		}
	}
	tp.keep(trackSave{rec: w.rec, events: keep, appendOnly: true})
	return fmt.Errorf("MoySklad unavailable for tracking: %w", err)
}

// eventLog gathers one order's events until they are saved.
type eventLog struct {
	now    func() time.Time
	mu     sync.Mutex
	events []store.Event
}

func (l *eventLog) add(kind, msg string, data any) {
	ev := store.Event{At: l.now(), Kind: kind, Message: msg}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			ev.Data = b
		}
	}
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// take returns the events gathered so far and forgets them.
func (l *eventLog) take() []store.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events
	l.events = nil
	return evs
}

// currentText returns the order's value of the attribute.
func currentText(o moysklad.Order, attr moysklad.AttributeDef) string {
	for _, a := range o.Attributes {
		if a.ID == attr.ID || (a.Meta.Href != "" && a.Meta.Href == attr.Meta.Href) {
			s, _ := a.String()
			return s
		}
	}
	return ""
}

// genericStatusNames name the carrier-neutral statuses in Russian, for a
// carrier answer without a name of its own.
var genericStatusNames = map[carriers.TrackStatus]string{
	carriers.TrackAccepted:     "Принят службой доставки",
	carriers.TrackInTransit:    "В пути",
	carriers.TrackAtPickup:     "Ожидает в пункте выдачи",
	carriers.TrackDelivered:    "Вручен получателю",
	carriers.TrackNotDelivered: "Не вручен, возвращается отправителю",
	carriers.TrackReturned:     "Возвращён отправителю",
	carriers.TrackLost:         "Утерян",
}

// deliveryText is the delivery_status value: «<carrier's Russian status
// name>, DD.MM.YYYY HH:MM» in Moscow time (PRODUCT.md §1); "" when nothing
// is known.
func deliveryText(tr carriers.Tracking) string {
	name := strings.TrimSpace(tr.Name)
	if name == "" {
		name = genericStatusNames[tr.Status]
	}
	if name == "" {
		return ""
	}
	if !tr.At.IsZero() {
		name += ", " + tr.At.In(moysklad.Moscow).Format("02.01.2006 15:04")
	}
	return truncateRunes(name, deliveryStatusMax)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
