package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

// demoRow returns the line of the demo's outcome table for the order.
func demoRow(t *testing.T, out, order string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, order+"  ") {
			return line
		}
	}
	t.Fatalf("no table row for %s:\n%s", order, out)
	return ""
}

func TestDemo(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // no token, no simulators: the demo brings its own
	start := time.Now()
	code, out, errOut := h.main(context.Background(), "demo")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("demo took %s", took)

	tracking := regexp.MustCompile(`  \d{6,}  `)
	const registered, failed, ready, deleted = "Зарегистрирован перевозчиком", "Ошибка оформления доставки", "Готов к отгрузке", "Заказ на доставку удален"
	const delivered, returned = "Доставлен", "Возврат"
	rows := []struct {
		order string
		want  []string
		track bool
	}{
		{"00101", []string{"СДЭК", delivered, "waybill-", ".pdf", "Вручен, "}, true},            // pickup point, then delivered
		{"00102", []string{"cdek", returned, "waybill-", "Возврат вручен отправителю, "}, true}, // door delivery, then returned
		{"00103", []string{failed, "Не указан телефон получателя"}, false},                      // missing phone
		{"00105", []string{deleted}, false}, // deleted after registration
		{"00106", []string{failed, "v2_office_by_delivery_point_not_found", "пункт выдачи"}, false}, // CDEK's asynchronous refusal
		{"00107", []string{"Деловые Линии", ready}, false},                                          // a carrier shipbridge does not handle: untouched
	}
	for _, r := range rows {
		line := demoRow(t, out, r.order)
		for _, w := range r.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: row lacks %q: %s", r.order, w, line)
			}
		}
		if got := tracking.MatchString(line); got != r.track {
			t.Errorf("%s: tracking number shown = %v, want %v: %s", r.order, got, r.track, line)
		}
	}
	// Untouched, deleted and tracked orders carry no error, the failed ones do.
	for _, order := range []string{"00101", "00102", "00104", "00105", "00107"} {
		if line := demoRow(t, out, order); !strings.HasSuffix(strings.TrimSpace(line), "—") {
			t.Errorf("%s: an error is shown: %s", order, line)
		}
	}
	for _, v := range []string{"✓ 00101  «Доставлен», seen by tracking: Вручен, ", "✓ 00102  «Возврат», seen by tracking: ",
		"✓ 00103  «Ошибка оформления доставки»", "✓ 00105  «Заказ на доставку удален»", "✓ 00106  «Ошибка оформления доставки»",
		"✓ 00107  left in «Готов к отгрузке» for a person: shipbridge does not handle «Деловые Линии»"} {
		if !strings.Contains(out, "\n"+v) {
			t.Errorf("stdout lacks the verdict %q:\n%s", v, out)
		}
	}

	// 00104 is Почта России's: created, put into the day's batch, its forms PDF attached, then
	// delivered and tracked like 00101.
	pochtaRow := demoRow(t, out, "00104")
	{
		for _, w := range []string{"Почта России", delivered, "pochta-", "Вручение адресату, "} {
			if !strings.Contains(pochtaRow, w) {
				t.Errorf("00104 (batched): row lacks %q: %s", w, pochtaRow)
			}
		}
		if !regexp.MustCompile(`  \d{14}  `).MatchString(pochtaRow) {
			t.Errorf("00104: no 14-digit ШПИ: %s", pochtaRow)
		}
		if !strings.Contains(out, "\n✓ 00104  «Доставлен», seen by tracking: Вручение адресату") {
			t.Errorf("00104's verdict:\n%s", out)
		}
		if !strings.Contains(out, "7 of 7 orders reached their expected outcome.") || !strings.Contains(errOut, "demo: every order reached its expected outcome") {
			t.Errorf("summary:\n%s\n%s", out, errOut)
		}
	}
	if strings.Contains(out, "\n✗ ") {
		t.Errorf("a missed expectation:\n%s", out)
	}

	// Every order's timeline follows, from the store.
	for _, want := range []string{"Order 00101 (MoySklad id", "carrier_registered", "Статус доставки: Вручен", "Статус в МойСклад: «Доставлен»",
		"Статус в МойСклад: «Возврат»", "Order 00104 (MoySklad id", "Почта России", "Order 00107 (MoySklad id", "ignored",
		"Order 00105 (MoySklad id", "carrier_deleted", "Order 00106 (MoySklad id", "carrier_rejected", "Order 00103 (MoySklad id", "invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// stdout carries only the report; the logs, with progress, go to stderr.
	if strings.Contains(out, "INFO") || strings.Contains(out, "cycle done") {
		t.Errorf("log lines on stdout:\n%s", out)
	}
	if !regexp.MustCompile(`cycle progress\s+\{"found": 7, "done": 7, "left": 0`).MatchString(errOut) {
		t.Errorf("stderr lacks the first cycle's progress:\n%s", errOut)
	}
	// The tracking pass ran once and moved the parcels the carriers reported.
	if n := strings.Count(errOut, "tracking pass done"); n != 1 {
		t.Errorf("%d tracking passes, want 1:\n%s", n, errOut)
	}
	if !regexp.MustCompile(`tracking pass done.*"moved": [23],`).MatchString(errOut) {
		t.Errorf("the tracking pass moved no orders:\n%s", errOut)
	}
	// The temporary store is gone.
	m := regexp.MustCompile(`"store": "([^"]+)"`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("store path not logged:\n%s", errOut)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary store %s left behind: %v", m[1], err)
	}
}

func TestDemoKeepsItsStoreForHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := filepath.Join(h.dir, "demo.db")
	code, _, errOut := h.main(context.Background(), "demo", "--store", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	h.env["SHIPBRIDGE_STORE_PATH"] = path
	code, out, errOut := h.main(context.Background(), "history", "00105")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"Order 00105", "carrier_delete ", "carrier_deleted", "Заказ на доставку удален", "attempt:           2"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	// The store is never overwritten.
	if code, _, errOut := h.main(context.Background(), "demo", "--store", path); code != ExitUsage || !strings.Contains(errOut, "the file exists") {
		t.Errorf("demo over an existing store: exit %d, %s", code, errOut)
	}
}

func TestOnceLogsProgress(t *testing.T) {
	h := newHarness(t).valid()
	code, _, errOut := h.main(context.Background(), "once")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !regexp.MustCompile(`cycle progress\s+\{"found": 0, "done": 0, "left": 0`).MatchString(errOut) {
		t.Errorf("once does not log found/done/left:\n%s", errOut)
	}
}

// demoWorld is the demo's MoySklad and Почта России simulators, its seeded orders and a store,
// with no workflow run: for the parts of the demo that do not depend on the poller.
type demoWorld struct {
	sims   demoSims
	cfg    config.Config
	orders []demoOrder
	st     *store.Store
}

func newDemoWorld(t *testing.T) *demoWorld {
	t.Helper()
	ms := moyskladtest.NewServer(moyskladtest.Options{})
	t.Cleanup(ms.Close)
	pt := pochtatest.NewServer(pochtatest.Options{})
	t.Cleanup(pt.Close)
	moyskladtest.Seed(ms)
	cfg := config.Default()
	ms.AddState(cfg.MoySklad.States.Delivered, 0x00897B)
	ms.AddState(cfg.MoySklad.States.Returned, 0x6D4C41)
	ms.AddAttribute(cfg.MoySklad.Attributes.DeliveryStatus, "string")
	st, err := store.Open(filepath.Join(t.TempDir(), "demo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &demoWorld{sims: demoSims{ms: ms, pochta: pt}, cfg: cfg, orders: seedDemo(ms, cfg), st: st}
}

func (w *demoWorld) order(t *testing.T, name string) demoOrder {
	t.Helper()
	for _, o := range w.orders {
		if o.name == name {
			return o
		}
	}
	t.Fatalf("no demo order %s", name)
	return demoOrder{}
}

// The report never calls an order done that is not: with no workflow run, every expectation is
// missed, and each verdict says where the order is instead.
func TestDemoVerdictsAreTruthful(t *testing.T) {
	w := newDemoWorld(t)
	verdicts, err := demoVerdicts(w.sims, w.st, w.cfg, w.orders)
	if err != nil {
		t.Fatal(err)
	}
	if len(verdicts) != 7 {
		t.Fatalf("%d verdicts, want 7", len(verdicts))
	}
	for _, v := range verdicts {
		if v.mark != "✗" || !strings.Contains(v.text, "is «Новый»") && v.order != "00107" {
			t.Errorf("%s: %s %s", v.order, v.mark, v.text)
		}
	}
	if v := verdicts[6]; v.order != "00107" || !strings.Contains(v.text, "expected «Готов к отгрузке», is «Новый»") ||
		!strings.Contains(v.text, "leave it to a person") {
		t.Errorf("the unknown carrier's order: %+v", v)
	}
	// An order in its expected status but without the tracking text is not «delivered» either.
	o := w.order(t, "00101")
	if err := w.sims.ms.SetOrderState(o.id, w.cfg.MoySklad.States.Delivered); err != nil {
		t.Fatal(err)
	}
	verdicts, err = demoVerdicts(w.sims, w.st, w.cfg, w.orders)
	if err != nil {
		t.Fatal(err)
	}
	if v := verdicts[0]; v.mark != "✗" || v.text != "«Статус доставки» is empty" {
		t.Errorf("delivered without a delivery status: %+v", v)
	}
	var out strings.Builder
	if err := writeDemoReport(&out, w.sims.ms, w.st, w.cfg, w.orders, verdicts, time.UTC); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n0 of 7 orders reached their expected outcome; 7 did not (✗).\n") {
		t.Errorf("summary:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Order 00104 (MoySklad id "+w.order(t, "00104").id+"): never seen by shipbridge") {
		t.Errorf("timeline of an unseen order:\n%s", out.String())
	}
}

// Once the workflow batches Почта России orders, the demo reports 00104 delivered with
// SetLastOperation, and the carrier's tracking reads «Вручение адресату» back. The registration
// here is the carrier's own (Submit, Batch), not the workflow's.
func TestDemoReportsPochtaParcelOnceBatched(t *testing.T) {
	w := newDemoWorld(t)
	pt := w.sims.pochta
	c, err := pochta.New(func() pochta.Config {
		pc := pochta.DefaultConfig()
		pc.BaseURL, pc.Token, pc.Login, pc.Password, pc.PostofficeCode = pt.URL(), pt.Token(), pt.Login(), pt.Password(), pt.Postcode()
		return pc
	}())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := w.order(t, "00104")
	// The demo's order as the workflow maps it: the free-text address goes through Pochta's
	// normalisation, the name is split by the carrier.
	reg, err := c.Submit(ctx, carriers.Shipment{OrderID: o.id, OrderName: o.name, Attempt: 1, Mark: "shipbridge:" + o.id,
		Recipient: carriers.Contact{Name: "Соколов Андрей Викторович", Phone: "+79037778899"},
		Address:   &carriers.Address{Text: "630099, Новосибирск, ул. Ленина, д. 12, кв. 7"},
		Packages: []carriers.Package{{WeightG: 1800, LengthCM: 20, WidthCM: 15, HeightCM: 10,
			Items: []carriers.Item{{Name: "Набор махровых полотенец, 3 шт.", WareKey: "TWL-3", Amount: 2, Cost: 189000, WeightG: 900}}}},
		DeclaredValue: 378000})
	if err != nil {
		t.Fatal(err)
	}
	// Before the batch the simulator refuses a tracking operation, and the demo reports nothing
	// for an order that is not registered.
	if err := pt.SetLastOperation(reg.TrackingNumber, 2, 1, "Вручение адресату", time.Now()); err == nil {
		t.Fatal("a tracking operation on an order in no batch was accepted")
	}
	if reg, err = c.Batch(ctx, reg, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.st.Save(store.OrderRecord{ID: o.id, Name: o.name, Carrier: pochta.Name, Phase: "registered", Attempt: 1,
		Number: reg.Number, Reference: reg.Reference, TrackingNumber: reg.TrackingNumber, CarrierData: reg.CarrierData}); err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop()
	if n, err := reportParcels(w.sims, w.st, w.cfg, w.orders, time.Now, log); err != nil || n != 0 {
		t.Fatalf("reported %d parcels of orders not registered in MoySklad (%v)", n, err)
	}
	if err := w.sims.ms.SetOrderState(o.id, w.cfg.MoySklad.States.Registered); err != nil {
		t.Fatal(err)
	}
	n, err := reportParcels(w.sims, w.st, w.cfg, w.orders, time.Now, log)
	if err != nil || n != 1 {
		t.Fatalf("reported %d parcels, want 1 (%v)", n, err)
	}
	tr, err := c.Track(ctx, []carriers.Registration{reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 1 || tr[0].Status != carriers.TrackDelivered || tr[0].Name != "Вручение адресату" {
		t.Errorf("tracking after the demo's report: %+v", tr)
	}
	if _, gap := unbatchedPochta(pt, store.OrderRecord{Carrier: pochta.Name, Number: reg.Number}); gap {
		t.Error("a batched order reported as not batched")
	}
}
