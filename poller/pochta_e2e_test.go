package poller

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// pochtaRig is the real cycle against three simulators: MoySklad, CDEK
// (the harness's main carrier, «СДЭК») and Почта России («Почта России»),
// all on one fake clock.
type pochtaRig struct {
	*harness
	post *pochtatest.Server
	cdek *cdektest.Server
	// pc is the real Pochta adapter; batch wraps it when a test holds the
	// batch step back.
	pc    *pochta.Carrier
	batch *holdBatch
}

// holdBatch is the real Pochta adapter whose Batch step can be held back
// (answered with a transient failure without a call), to keep an order
// registered in Pochta's «Новые» (backlog) for a while, as after a crash
// between the create and the batch.
type holdBatch struct {
	*pochta.Carrier
	hold  atomic.Bool
	calls atomic.Int32
}

func (h *holdBatch) Batch(ctx context.Context, reg carriers.Registration, day time.Time) (carriers.Registration, error) {
	h.calls.Add(1)
	if h.hold.Load() {
		return reg, &carriers.Error{Kind: carriers.KindTransient, Carrier: pochta.Name, Op: "add to batch",
			Message: "Почта России временно недоступна; повтор запланирован", Detail: "held by the test"}
	}
	return h.Carrier.Batch(ctx, reg, day)
}

func newPochtaRig(t *testing.T, opts pochtatest.Options, cfg ...func(*Config)) *pochtaRig {
	t.Helper()
	clock := newFakeClock()
	cs := newCDEKSim(t, clock, cdektest.Options{})
	cc, err := cdek.New(cdek.Config{BaseURL: cs.URL(), ClientID: cs.ClientID(), ClientSecret: cs.ClientSecret(), Now: clock.Now,
		ShipmentPoint: "MSK65", PollInterval: 5 * time.Millisecond, Sender: cdek.Sender{Name: "ИП Петров", Phone: "+79990000000"}})
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = clock.Now
	ps := pochtatest.NewServer(opts)
	t.Cleanup(ps.Close)
	pcfg := pochta.DefaultConfig()
	pcfg.BaseURL, pcfg.Token, pcfg.Login, pcfg.Password = ps.URL(), ps.Token(), ps.Login(), ps.Password()
	pcfg.PostofficeCode = ps.Postcode()
	pcfg.Package = pochta.Package{LengthCM: 20, WidthCM: 15, HeightCM: 10}
	pcfg.Now = clock.Now
	pc, err := pochta.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &pochtaRig{harness: newHarnessClock(t, clock, cc, cfg...), post: ps, cdek: cs, pc: pc, batch: &holdBatch{Carrier: pc}}
	r.extra = append(r.extra, extraCarrier{c: r.batch, pr: pcfg.Profile()})
	r.restart()
	return r
}

// addPost adds an order for Почта России, to be held at the post office
// with the index 101000 («до востребования»), plus attrs.
func (r *pochtaRig) addPost(name string, attrs map[string]any) string {
	r.t.Helper()
	a := map[string]any{"Служба доставки": "Почта России", "Код ПВЗ": "101000"}
	for k, v := range attrs {
		a[k] = v
	}
	return r.addOrder(name, a)
}

// orderAt returns the live Pochta order with the barcode, failing when
// there is none.
func (r *pochtaRig) liveByNumber(number string) []pochtatest.OrderInfo {
	var out []pochtatest.OrderInfo
	for _, o := range r.post.Orders() {
		if o.OrderNum == number && !o.Deleted {
			out = append(out, o)
		}
	}
	return out
}

// registeredAtPochta checks that the order is registered in MoySklad with
// the ШПИ of its one live Pochta order under number, which is in a batch,
// and that the forms PDF is attached as the waybill. It returns that order.
func (r *pochtaRig) registeredAtPochta(id, number string) pochtatest.OrderInfo {
	r.t.Helper()
	o := r.order(id)
	live := r.liveByNumber(number)
	if o.StateName != sRegistered || len(live) != 1 {
		r.t.Fatalf("%s: %s %q with %d live Pochta orders under %s; history %s", o.Name, o.StateName, o.Attr("Ошибка доставки"), len(live), number, r.timeline(id))
	}
	if got := o.Attr("Трек-номер"); got != live[0].Barcode || len(got) != 14 {
		r.t.Errorf("%s: tracking %q, Pochta's ШПИ %q", o.Name, got, live[0].Barcode)
	}
	if live[0].Batch == "" {
		r.t.Errorf("%s: registered but not in a batch at Pochta", o.Name)
	}
	f := o.Attributes["Накладная"].File
	if f == nil || !bytes.HasPrefix(f.Content, []byte("%PDF-")) || !bytes.Contains(f.Content, []byte("F7p "+live[0].Barcode)) {
		r.t.Errorf("%s: waybill %v: want the forms PDF of %s", o.Name, f != nil, live[0].Barcode)
	}
	if o.Attr("Ошибка доставки") != "" {
		r.t.Errorf("%s: error %q on a registered order", o.Name, o.Attr("Ошибка доставки"))
	}
	return live[0]
}

// Two Pochta orders of one day go into one batch: one batch at Pochta, both
// orders in it, both registered in MoySklad with their ШПИ and the forms PDF
// attached; each order created once.
func TestPochtaHappyPathOneBatch(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	a := r.addPost("P-100", nil)
	b := r.addPost("P-101", nil)
	r.set(a, sReady)
	r.set(b, sReady)
	r.cycle()

	oa := r.registeredAtPochta(a, "P-100")
	ob := r.registeredAtPochta(b, "P-101")
	bs := r.post.Batches()
	if len(bs) != 1 {
		t.Fatalf("%d batches at Pochta, want 1: %+v", len(bs), bs)
	}
	if len(bs[0].OrderIDs) != 2 || !containsID(bs[0].OrderIDs, oa.ID) || !containsID(bs[0].OrderIDs, ob.ID) || bs[0].Status != "CREATED" {
		t.Fatalf("batch %+v: want both orders (%d, %d), still CREATED", bs[0], oa.ID, ob.ID)
	}
	if oa.Batch != bs[0].Name || ob.Batch != bs[0].Name {
		t.Errorf("orders in batches %q and %q, want %q", oa.Batch, ob.Batch, bs[0].Name)
	}
	if n := r.post.CreatesForNumber("P-100") + r.post.CreatesForNumber("P-101"); n != 2 {
		t.Errorf("%d creates, want 2", n)
	}
	if oa.Comment != markOf(a) {
		t.Errorf("comment %q: want the identity mark %q", oa.Comment, markOf(a))
	}
	if c := r.post.Calls()["POST /1.0/user/shipment"]; c != 1 {
		t.Errorf("%d batch creations, want 1", c)
	}
	for _, id := range []string{a, b} {
		if !r.hasEvent(id, "carrier_batched") {
			t.Errorf("%s: no carrier_batched in the history", id)
		}
	}
	if n := r.cdek.CreatesForNumber("P-100"); n != 0 {
		t.Errorf("a Pochta order went to CDEK")
	}
	// Ready again: re-asserted, not created or batched again.
	r.set(a, sReady)
	r.cycle()
	r.registeredAtPochta(a, "P-100")
	if n := r.post.CreatesForNumber("P-100"); n != 1 || len(r.post.Batches()) != 1 {
		t.Errorf("after ready again: %d creates, %d batches", n, len(r.post.Batches()))
	}
}

func containsID(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// Pochta refuses an order inside an HTTP 200 answer: the order fails, with
// Pochta's code and its Russian text on it, and nothing is left at Pochta.
func TestPochtaRejectionInside200(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	heavy := r.ms.AddProduct(moyskladtest.ProductSeed{Name: "Гиря", Article: "W-16", Weight: 11})
	id := r.ms.AddOrder(moyskladtest.OrderSeed{Name: "P-200", AgentID: r.agent, StateName: "Новый",
		Positions:  []moyskladtest.PositionSeed{{ProductID: heavy, Quantity: 2, Price: 150000}},
		Attributes: map[string]any{"Служба доставки": "Почта России", "Код ПВЗ": "101000"}})
	r.set(id, sReady)
	r.cycle()
	o := r.order(id)
	msg := o.Attr("Ошибка доставки")
	if o.StateName != sFailed || !strings.Contains(msg, "ILLEGAL_MASS_EXCESS") || !strings.Contains(msg, "Вес отправления не должен превышать 20 кг") {
		t.Fatalf("state %s, error %q; history %s", o.StateName, msg, r.timeline(id))
	}
	if n := len(r.liveByNumber("P-200")); n != 0 || r.post.CreatesForNumber("P-200") != 1 {
		t.Fatalf("%d live, %d creates", n, r.post.CreatesForNumber("P-200"))
	}
	if rec := r.record(id); Phase(rec.Phase) != phaseNone {
		t.Errorf("phase %s after a refusal", rec.Phase)
	}
}

// The answer to a create is lost after Pochta made the order: shipbridge
// finds it by number and mark and adopts it; exactly one order at Pochta.
func TestPochtaLostCreateResponse(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-300", nil)
	r.set(id, sReady)
	r.post.LoseNextCreateResponse(1)
	r.cycle()
	r.cycle()
	r.registeredAtPochta(id, "P-300")
	if n := r.post.CreatesForNumber("P-300"); n != 1 {
		t.Errorf("%d creates, want exactly 1 (no blind re-send)", n)
	}
	if !r.hasEvent(id, "carrier_found") {
		t.Errorf("the order was not found and adopted; history %s", r.timeline(id))
	}
}

// The answer to the batch creation is lost after Pochta opened the batch:
// the repeated step finds the order in its batch; one batch, and the next
// order of the day joins it.
func TestPochtaLostBatchAnswer(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	a := r.addPost("P-400", nil)
	r.set(a, sReady)
	r.post.LoseNextResponse("POST /1.0/user/shipment", 1)
	r.cycle()
	r.cycle()
	r.registeredAtPochta(a, "P-400")
	if bs := r.post.Batches(); len(bs) != 1 || len(bs[0].OrderIDs) != 1 {
		t.Fatalf("batches %+v, want one with the order", bs)
	}
	if c := r.post.Calls()["POST /1.0/user/shipment"]; c != 1 {
		t.Errorf("%d batch creations, want 1", c)
	}
	// The answer to adding the next order to that batch is lost too.
	b := r.addPost("P-401", nil)
	r.set(b, sReady)
	r.post.LoseNextResponse("POST /1.0/batch/{name}/shipment", 1)
	r.cycle()
	r.cycle()
	r.registeredAtPochta(b, "P-401")
	if bs := r.post.Batches(); len(bs) != 1 || len(bs[0].OrderIDs) != 2 {
		t.Fatalf("batches %+v, want one with both orders", bs)
	}
}

// Delete of an order still in Pochta's «Новые» (its batch step not done
// yet), and of one in a batch still CREATED: both deleted at Pochta.
func TestPochtaDeleteInBacklogAndInBatch(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{}, noQuickRetries)
	inBacklog := r.addPost("P-500", nil)
	inBatch := r.addPost("P-501", nil)

	r.batch.hold.Store(true)
	r.set(inBacklog, sReady)
	r.cycle()
	if o := r.order(inBacklog); o.StateName != sReady || len(r.liveByNumber("P-500")) != 1 || r.liveByNumber("P-500")[0].Batch != "" {
		t.Fatalf("want the order created and waiting for its batch: %s, %+v", o.StateName, r.liveByNumber("P-500"))
	}
	r.set(inBacklog, sDelete)
	r.cycle()
	if o := r.order(inBacklog); o.StateName != sDeleted || o.Attr("Трек-номер") != "" {
		t.Fatalf("backlog delete: %s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), r.timeline(inBacklog))
	}
	if n := len(r.liveByNumber("P-500")); n != 0 || r.post.Calls()["DELETE /1.0/backlog"] != 1 {
		t.Fatalf("%d live, %d backlog deletes", n, r.post.Calls()["DELETE /1.0/backlog"])
	}
	r.batch.hold.Store(false)

	r.set(inBatch, sReady)
	r.cycle()
	r.registeredAtPochta(inBatch, "P-501")
	r.set(inBatch, sDelete)
	r.cycle()
	if o := r.order(inBatch); o.StateName != sDeleted || o.Attr("Трек-номер") != "" || o.Attributes["Накладная"].File != nil {
		t.Fatalf("batch delete: %s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), r.timeline(inBatch))
	}
	if n := len(r.liveByNumber("P-501")); n != 0 || r.post.Calls()["DELETE /1.0/shipment"] != 1 {
		t.Fatalf("%d live, %d batch deletes", n, r.post.Calls()["DELETE /1.0/shipment"])
	}

	// Ready again after the deletion: a new order under P-501-2.
	r.set(inBatch, sReady)
	r.cycle()
	r.registeredAtPochta(inBatch, "P-501-2")
	if n := len(r.liveByNumber("P-501")); n != 0 {
		t.Errorf("%d live orders under the deleted number", n)
	}
	if rec := r.record(inBatch); rec.Number != "P-501-2" || rec.Attempt != 2 {
		t.Errorf("record number %s, attempt %d", rec.Number, rec.Attempt)
	}
}

// Once the shop checked the batch in, Pochta refuses the delete: the order
// is «не удален» with Pochta's reason, and its shipment stays.
func TestPochtaDeleteRefusedAfterCheckIn(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-600", nil)
	r.set(id, sReady)
	r.cycle()
	live := r.registeredAtPochta(id, "P-600")
	if err := r.post.CheckIn(live.Batch); err != nil {
		t.Fatal(err)
	}
	r.set(id, sDelete)
	r.cycle()
	o := r.order(id)
	msg := o.Attr("Ошибка доставки")
	if o.StateName != sNotDeleted || !strings.Contains(msg, "READONLY_STATE") || !strings.Contains(msg, "Изменения в партии недопустимы") || !strings.Contains(msg, live.Batch) {
		t.Fatalf("state %s, error %q; history %s", o.StateName, msg, r.timeline(id))
	}
	if n := len(r.liveByNumber("P-600")); n != 1 {
		t.Fatalf("%d live orders, want the one that could not be deleted", n)
	}
	if got := o.Attr("Трек-номер"); got != live.Barcode {
		t.Errorf("tracking %q after a refused delete, want %q", got, live.Barcode)
	}
	if rec := r.record(id); Phase(rec.Phase) != phaseRegistered {
		t.Errorf("phase %s", rec.Phase)
	}
}

// A CDEK order and a Pochta order in the same cycle, each at its carrier.
func TestCDEKAndPochtaInOneCycle(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	c := r.addOrder("M-1", nil)
	p := r.addPost("M-2", nil)
	r.set(c, sReady)
	r.set(p, sReady)
	r.cycle()
	if o := r.order(c); o.StateName != sRegistered || o.Attr("Трек-номер") == "" || r.cdek.ActiveOrdersForNumber("M-1") != 1 {
		t.Fatalf("CDEK order: %s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), r.timeline(c))
	}
	r.registeredAtPochta(p, "M-2")
	if r.cdek.CreatesForNumber("M-2") != 0 || r.post.CreatesForNumber("M-1") != 0 {
		t.Fatal("an order went to the other carrier")
	}
	if r.hasEvent(c, "carrier_batch") {
		t.Error("the CDEK order was batched")
	}
	if rec := r.record(p); rec.Carrier != pochta.Name {
		t.Errorf("record carrier %q", rec.Carrier)
	}
}

// A Pochta order whose store was lost is set to «delete»: shipbridge asks
// Pochta under the order's numbers, finds its live order (number and mark)
// and deletes it — never «удален» without a call.
func TestPochtaDeleteAfterLostStore(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-800", nil)
	r.set(id, sReady)
	r.cycle()
	r.registeredAtPochta(id, "P-800")
	r.loseStore()
	r.set(id, sDelete)
	r.cycle()
	if o := r.order(id); o.StateName != sDeleted {
		t.Fatalf("state %s; history %s", o.StateName, r.timeline(id))
	}
	if n := len(r.liveByNumber("P-800")); n != 0 {
		t.Fatalf("%d live Pochta orders left", n)
	}
	if c := r.post.Calls()["DELETE /1.0/shipment"]; c != 1 {
		t.Errorf("%d batch deletes, want 1", c)
	}
	if !r.hasEvent(id, "carrier_found") {
		t.Errorf("no carrier_found; history %s", r.timeline(id))
	}
}

// After a lost store, a Pochta order under the number that shipbridge did
// not make for this order (another mark) is never deleted.
func TestPochtaDeleteAfterLostStoreLeavesForeignOrder(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-810", nil)
	other := r.addPost("P-810", nil) // a second MoySklad order with the same name
	r.set(other, sReady)
	r.cycle()
	r.registeredAtPochta(other, "P-810")
	r.loseStore()
	r.set(id, sDelete)
	r.cycle()
	if o := r.order(id); o.StateName != sNotDeleted {
		t.Fatalf("state %s; history %s", o.StateName, r.timeline(id))
	}
	if n := len(r.liveByNumber("P-810")); n != 1 {
		t.Fatalf("%d live Pochta orders, want the other order's one", n)
	}
}

// A 5xx to the create is ambiguous at Pochta (no idempotency: the request
// may have been processed behind the gateway). Nothing is found, so the
// create is re-sent only after the reconcile grace — then exactly once.
func TestPochtaCreate5xxResentAfterGrace(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{}, noQuickRetries)
	if _, err := r.pc.RefreshQuota(t.Context()); err != nil { // the next Pochta request is the create
		t.Fatal(err)
	}
	id := r.addPost("P-900", nil)
	r.set(id, sReady)
	r.post.FailNext(1, 502)
	r.cycle()
	if o := r.order(id); o.StateName != sReady || r.post.CreatesForNumber("P-900") != 0 {
		t.Fatalf("after the 502: %s, %d creates processed", o.StateName, r.post.CreatesForNumber("P-900"))
	}
	for i := 0; i < 5; i++ {
		r.clock.Advance(10 * time.Second)
		r.cycle()
	}
	if n := r.post.Calls()["PUT /2.0/user/backlog"]; n != 1 {
		t.Fatalf("%d create requests within the grace, want 1 (no re-send before it)", n)
	}
	r.clock.Advance(pochta.Timings().ReconcileGrace)
	r.cycle()
	r.cycle()
	r.registeredAtPochta(id, "P-900")
	if n := r.post.CreatesForNumber("P-900"); n != 1 {
		t.Errorf("%d creates processed, want 1", n)
	}
}

// Pochta does not refuse a second order under a number, so after a lost
// store a «ready» set again must find the order's live shipment and keep
// it, not create a second one.
func TestPochtaReadyAgainAfterLostStore(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-700", nil)
	r.set(id, sReady)
	r.cycle()
	first := r.registeredAtPochta(id, "P-700")
	r.loseStore()
	r.set(id, sReady)
	r.cycle()
	again := r.registeredAtPochta(id, "P-700")
	if again.ID != first.ID || r.post.CreatesForNumber("P-700") != 1 {
		t.Fatalf("a second Pochta order %d (first %d), %d creates; history %s", again.ID, first.ID, r.post.CreatesForNumber("P-700"), r.timeline(id))
	}
}

// The same after a deletion and a re-registration under P-710-2: the live
// order is under the second attempt's number, which a lost store forgot.
func TestPochtaReadyAgainAfterLostStoreSecondAttempt(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addPost("P-710", nil)
	r.set(id, sReady)
	r.cycle()
	r.set(id, sDelete)
	r.cycle()
	r.set(id, sReady)
	r.cycle()
	first := r.registeredAtPochta(id, "P-710-2")
	r.loseStore()
	r.set(id, sReady)
	r.cycle()
	live := r.liveByNumber("P-710")
	if o := r.order(id); o.StateName != sRegistered || len(live) != 0 || len(r.liveByNumber("P-710-2")) != 1 {
		t.Fatalf("%s; live under P-710: %d, under P-710-2: %d; history %s", o.StateName, len(live), len(r.liveByNumber("P-710-2")), r.timeline(id))
	}
	if got := r.order(id).Attr("Трек-номер"); got != first.Barcode {
		t.Errorf("tracking %q, want the live order's %q", got, first.Barcode)
	}
}
