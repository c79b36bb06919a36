package pochta

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/internal/exchange"
)

func testConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.BaseURL = url
	cfg.Token, cfg.Login, cfg.Password = "tok-123", "user@example.com", "p@ss:word"
	cfg.PostofficeCode = "102961"
	return cfg
}

func newCarrierAt(t *testing.T, url string) *Carrier {
	t.Helper()
	c, err := New(testConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSim(t *testing.T, opts pochtatest.Options, edit ...func(*Config)) (*pochtatest.Server, *Carrier) {
	t.Helper()
	sim := pochtatest.NewServer(opts)
	t.Cleanup(sim.Close)
	cfg := testConfig(sim.URL())
	cfg.Token, cfg.Login, cfg.Password = sim.Token(), sim.Login(), sim.Password()
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func goodShipment(key string) carriers.Shipment {
	return carriers.Shipment{
		OrderID: "id-" + key, OrderName: key, Attempt: 1, Mark: "shipbridge:" + key,
		Recipient: carriers.Contact{Name: "Иванов Иван Иванович", Phone: "+79161234567"},
		Address:   &carriers.Address{PostalCode: "115127", City: "Москва", Street: "Варшавское шоссе", House: "37", Apartment: "5"},
		Packages: []carriers.Package{{WeightG: 1200, LengthCM: 30, WidthCM: 20, HeightCM: 10,
			Items: []carriers.Item{{Name: "Книга", WareKey: "B-1", Amount: 2, Cost: 50000, WeightG: 600}}}},
		DeclaredValue: 100000,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func cerr(t *testing.T, err error) *carriers.Error {
	t.Helper()
	var ce *carriers.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *carriers.Error", err, err)
	}
	if ce.Carrier != Name || !hasCyrillic(ce.Message) {
		t.Errorf("error carrier %q message %q: want pochta and Russian", ce.Carrier, ce.Message)
	}
	return ce
}

func TestNumberContract(t *testing.T) {
	c := &Carrier{}
	s := goodShipment("A-100")
	if c.Number(s) != "A-100" || c.Number(s) != c.Number(s) {
		t.Fatalf("Number = %q", c.Number(s))
	}
	seen := map[string]bool{c.Number(s): true}
	for a := 2; a <= 4; a++ {
		s2 := s
		s2.Attempt = a
		if n := c.Number(s2); seen[n] {
			t.Errorf("attempt %d reuses %q", a, n)
		} else {
			seen[n] = true
		}
	}
	ru := goodShipment("Заказ №5")
	if n := c.Number(ru); !strings.HasPrefix(n, "SB-") || len(n) > MaxNumberLen {
		t.Errorf("non-ASCII name → %q", n)
	}
	s.Number = "KEPT-1"
	if c.Number(s) != "KEPT-1" {
		t.Error("a recorded number must be kept")
	}
}

func TestValidateBeforeAnyCall(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("v-1")
	if ps := c.Validate(s); len(ps) != 0 {
		t.Fatalf("good shipment: %+v", ps)
	}
	bad := s
	bad.Recipient = carriers.Contact{Name: "Иванов", Phone: "12"}
	bad.Address = nil
	bad.Packages = []carriers.Package{{WeightG: 0, Items: []carriers.Item{{Name: "", Amount: 0}}}}
	ps := c.Validate(bad)
	fields := map[string]bool{}
	for _, p := range ps {
		fields[p.Field] = true
		if !hasCyrillic(p.Message) {
			t.Errorf("problem %+v is not Russian", p)
		}
	}
	for _, f := range []string{"recipient.name", "recipient.phone", "address", "packages.weight", "packages[0].items[0].name", "packages[0].items[0].amount"} {
		if !fields[f] {
			t.Errorf("missing problem %s in %+v", f, ps)
		}
	}
	_, err := c.Submit(ctx(t), bad)
	if ce := cerr(t, err); ce.Kind != carriers.KindInvalid {
		t.Errorf("kind %v", ce.Kind)
	}
	if n := len(sim.Calls()); n != 0 {
		t.Errorf("an invalid shipment made %d calls: %v", n, sim.Calls())
	}
}

func TestSimRegisterBatchWaybill(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("1001")
	reg, err := c.Submit(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Done() || len(reg.TrackingNumber) != 14 || reg.Number != "1001" || reg.Mark != s.Mark || reg.RecipientPhone != "+79161234567" {
		t.Fatalf("registration = %+v", reg)
	}
	if !carriers.Owns(s, reg) {
		t.Error("our own registration must be ours")
	}
	o := sim.Orders()[0]
	if o.Surname != "Иванов" || o.GivenName != "Иван" || o.MiddleName != "Иванович" || o.TelAddress != 79161234567 ||
		o.IndexTo != 115127 || o.Category != CategoryDeclaredValue || o.InsrValue != 100000 || o.Comment != s.Mark || o.MailType != "POSTAL_PARCEL" {
		t.Errorf("order at Pochta = %+v", o)
	}
	got, err := c.Registration(ctx(t), reg.Reference)
	if err != nil || got.TrackingNumber != reg.TrackingNumber || got.Mark != s.Mark || got.RecipientPhone != "+79161234567" || got.Status != carriers.StatusRegistered {
		t.Fatalf("Registration = %+v, %v", got, err)
	}

	// No forms before the batch.
	_, err = c.Waybill(ctx(t), reg)
	if ce := cerr(t, err); ce.Kind != carriers.KindTransient || ce.Code != "NOT_IN_BATCH" {
		t.Errorf("waybill before batch: %v", err)
	}

	day := time.Now()
	b1, err := c.Batch(ctx(t), reg, day)
	if err != nil {
		t.Fatal(err)
	}
	d1 := readData(b1.CarrierData)
	if d1.Batch == "" || d1.ID == 0 || d1.BatchDate != c.day(day) || b1.TrackingNumber != reg.TrackingNumber || b1.CarrierStatus != "CREATED" {
		t.Fatalf("batched = %+v data %+v", b1, d1)
	}
	// A repeated call finds the batch; a second order joins the same batch.
	again, err := c.Batch(ctx(t), b1, day)
	if err != nil || readData(again.CarrierData).Batch != d1.Batch {
		t.Fatalf("repeated Batch = %+v, %v", again, err)
	}
	reg2, err := c.Submit(ctx(t), goodShipment("1002"))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.Batch(ctx(t), reg2, day)
	if err != nil || readData(b2.CarrierData).Batch != d1.Batch {
		t.Fatalf("second order batch = %+v, %v", b2, err)
	}
	if bs := sim.Batches(); len(bs) != 1 || len(bs[0].OrderIDs) != 2 {
		t.Fatalf("batches = %+v", bs)
	}
	if n := sim.Calls()["POST /1.0/user/shipment"]; n != 1 {
		t.Errorf("batches opened = %d, want 1", n)
	}
	// A declared-value order has another category: its own batch.
	s3 := goodShipment("1003")
	s3.DeclaredValue = 0
	reg3, err := c.Submit(ctx(t), s3)
	if err != nil {
		t.Fatal(err)
	}
	b3, err := c.Batch(ctx(t), reg3, day)
	if err != nil || readData(b3.CarrierData).Batch == d1.Batch {
		t.Fatalf("ORDINARY order joined the WITH_DECLARED_VALUE batch: %+v, %v", b3, err)
	}

	doc, err := c.Waybill(ctx(t), b1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc.Content), "%PDF-") || !strings.Contains(string(doc.Content), "%%EOF") ||
		!strings.Contains(string(doc.Content), reg.TrackingNumber) || doc.ContentType != "application/pdf" || doc.Filename != "pochta-"+reg.TrackingNumber+".pdf" {
		t.Errorf("document %q %q", doc.Filename, doc.ContentType)
	}
}

func TestSimNextDayOpensNewBatch(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	r1, _ := c.Submit(ctx(t), goodShipment("d-1"))
	r2, _ := c.Submit(ctx(t), goodShipment("d-2"))
	today := time.Now()
	b1, err := c.Batch(ctx(t), r1, today)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.Batch(ctx(t), r2, today.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if readData(b1.CarrierData).Batch == readData(b2.CarrierData).Batch {
		t.Error("tomorrow's order joined today's batch")
	}
	if len(sim.Batches()) != 2 {
		t.Errorf("batches = %+v", sim.Batches())
	}
}

func TestSimCheckedInBatchNotReused(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	r1, _ := c.Submit(ctx(t), goodShipment("c-1"))
	b1, err := c.Batch(ctx(t), r1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.CheckIn(readData(b1.CarrierData).Batch); err != nil {
		t.Fatal(err)
	}
	r2, _ := c.Submit(ctx(t), goodShipment("c-2"))
	b2, err := c.Batch(ctx(t), r2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if readData(b2.CarrierData).Batch == readData(b1.CarrierData).Batch {
		t.Error("an order was put into a checked-in batch")
	}
}

func TestSimDuplicateAcceptedAndFindAll(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("77")
	if _, err := c.Submit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	// Pochta has no idempotency: a second create with the same order-num is accepted.
	if _, err := c.Submit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	if n := sim.LiveOrdersForNumber("77"); n != 2 {
		t.Fatalf("live orders = %d, want 2 (the simulator must accept duplicates)", n)
	}
	// An order whose number merely contains ours ("177") is not ours; the
	// simulator's search matches substrings.
	other := goodShipment("177")
	if _, err := c.Submit(ctx(t), other); err != nil {
		t.Fatal(err)
	}
	regs, err := c.FindAll(ctx(t), s)
	if err != nil || len(regs) != 2 {
		t.Fatalf("FindAll = %+v, %v", regs, err)
	}
	for _, r := range regs {
		if r.Number != "77" || !carriers.Owns(s, r) {
			t.Errorf("found %+v", r)
		}
	}
	_, _, err = c.Find(ctx(t), s)
	if ce := cerr(t, err); ce.Code != "SEVERAL_ORDERS" || !strings.Contains(ce.Message, "несколько заказов") {
		t.Errorf("Find with two live orders: %v", err)
	}
}

func TestSimFindPrefersOwned(t *testing.T) {
	_, c := newSim(t, pochtatest.Options{})
	s := goodShipment("88")
	foreignOrder := s
	foreignOrder.Mark = "made by hand"
	if _, err := c.Submit(ctx(t), foreignOrder); err != nil {
		t.Fatal(err)
	}
	reg, found, err := c.Find(ctx(t), s)
	if err != nil || !found || carriers.Owns(s, reg) {
		t.Fatalf("one foreign order: %+v %v %v (found, but not ours)", reg, found, err)
	}
	mine, err := c.Submit(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	reg, found, err = c.Find(ctx(t), s)
	if err != nil || !found || reg.Reference != mine.Reference {
		t.Fatalf("Find = %+v %v %v, want ours %s", reg, found, err, mine.Reference)
	}
}

func TestSimLostCreateFoundOnce(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("L-1")
	sim.LoseNextCreateResponse(1)
	_, err := c.Submit(ctx(t), s)
	if ce := cerr(t, err); ce.Kind != carriers.KindAmbiguous {
		t.Fatalf("lost answer: kind %v (%v)", ce.Kind, err)
	}
	regs, err := c.FindAll(ctx(t), s)
	if err != nil || len(regs) != 1 {
		t.Fatalf("FindAll after a lost create = %+v, %v; want exactly one", regs, err)
	}
	if !carriers.Owns(s, regs[0]) || !regs[0].Done() {
		t.Errorf("found %+v", regs[0])
	}
	if n := sim.CreatesForNumber("L-1"); n != 1 {
		t.Errorf("creates = %d", n)
	}
	// The adopted registration goes on like a fresh one.
	if _, err := c.Batch(ctx(t), regs[0], time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestSimCreate5xxIsAmbiguousAndNothingCreated(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("F-1")
	if _, err := c.RefreshQuota(ctx(t)); err != nil { // fresh quota: Submit makes no limit call
		t.Fatal(err)
	}
	sim.FailNext(1, 502)
	_, err := c.Submit(ctx(t), s)
	if ce := cerr(t, err); ce.Kind != carriers.KindAmbiguous || ce.HTTPStatus != 502 {
		t.Fatalf("5xx on create: %v", err)
	}
	regs, err := c.FindAll(ctx(t), s)
	if err != nil || len(regs) != 0 {
		t.Fatalf("FindAll = %+v, %v", regs, err)
	}
	sim.FailNext(1, 503)
	_, err = c.FindAll(ctx(t), s)
	if ce := cerr(t, err); ce.Kind != carriers.KindTransient {
		t.Errorf("5xx on search: %v", err)
	}
}

func TestSimLostBatchAnswer(t *testing.T) {
	for _, endpoint := range []string{"POST /1.0/user/shipment", "POST /1.0/batch/{name}/shipment"} {
		t.Run(endpoint, func(t *testing.T) {
			sim, c := newSim(t, pochtatest.Options{})
			day := time.Now()
			if endpoint == "POST /1.0/batch/{name}/shipment" {
				first, _ := c.Submit(ctx(t), goodShipment("B-0"))
				if _, err := c.Batch(ctx(t), first, day); err != nil {
					t.Fatal(err)
				}
			}
			reg, err := c.Submit(ctx(t), goodShipment("B-1"))
			if err != nil {
				t.Fatal(err)
			}
			sim.LoseNextResponse(endpoint, 1)
			_, err = c.Batch(ctx(t), reg, day)
			if ce := cerr(t, err); ce.Kind != carriers.KindAmbiguous {
				t.Fatalf("lost batch answer: %v", err)
			}
			got, err := c.Batch(ctx(t), reg, day)
			if err != nil {
				t.Fatal(err)
			}
			bs := sim.Batches()
			if len(bs) != 1 || readData(got.CarrierData).Batch != bs[0].Name {
				t.Fatalf("batches = %+v, registration %s", bs, got.CarrierData)
			}
			if n := sim.Calls()["POST /1.0/user/shipment"]; n != 1 {
				t.Errorf("batch creations = %d, want 1", n)
			}
		})
	}
}

func TestSimDelete(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	day := time.Now()

	// In «Новые».
	s1 := goodShipment("D-1")
	r1, _ := c.Submit(ctx(t), s1)
	if err := c.Delete(ctx(t), r1); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), r1); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if regs, err := c.FindAll(ctx(t), s1); err != nil || len(regs) != 0 {
		t.Errorf("FindAll after delete = %+v, %v (deleted ones are ignored)", regs, err)
	}
	if sim.LiveOrdersForNumber("D-1") != 0 {
		t.Error("still live at Pochta")
	}
	// A new attempt registers again under a new number.
	s1.Attempt = 2
	if r, err := c.Submit(ctx(t), s1); err != nil || r.Number != "D-1-2" {
		t.Fatalf("re-register = %+v, %v", r, err)
	}

	// In a CREATED batch.
	r2, _ := c.Submit(ctx(t), goodShipment("D-2"))
	b2, err := c.Batch(ctx(t), r2, day)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), b2); err != nil {
		t.Fatalf("delete from CREATED batch: %v", err)
	}
	if sim.LiveOrdersForNumber("D-2") != 0 {
		t.Error("batched order still live")
	}

	// Refused after check-in, with Pochta's reason.
	r3, _ := c.Submit(ctx(t), goodShipment("D-3"))
	b3, err := c.Batch(ctx(t), r3, day)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.CheckIn(readData(b3.CarrierData).Batch); err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx(t), b3)
	ce := cerr(t, err)
	if ce.Kind != carriers.KindRejected || ce.Code != "READONLY_STATE" || !strings.Contains(ce.Message, "Изменения в партии недопустимы") || ce.HTTPStatus != 200 {
		t.Errorf("delete after check-in: %+v", ce)
	}
	if sim.LiveOrdersForNumber("D-3") != 1 {
		t.Error("a checked-in order was deleted")
	}

	// Without an id: by number.
	r4, _ := c.Submit(ctx(t), goodShipment("D-4"))
	if err := c.Delete(ctx(t), carriers.Registration{Number: r4.Number}); err != nil || sim.LiveOrdersForNumber("D-4") != 0 {
		t.Errorf("delete by number: %v", err)
	}
}

func TestSimRejectionsIn200(t *testing.T) {
	t.Run("postoffice not of the account", func(t *testing.T) {
		_, c := newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.PostofficeCode = "101000" })
		_, err := c.Submit(ctx(t), goodShipment("R-1"))
		ce := cerr(t, err)
		if ce.Kind != carriers.KindConfig || ce.HTTPStatus != 200 || ce.Code != "ILLEGAL_POSTOFFICE_CODE" || !strings.Contains(ce.Message, "102961 117042 142300") {
			t.Errorf("%+v", ce)
		}
	})
	t.Run("cash on delivery without ЕСПП", func(t *testing.T) {
		sim, c := newSim(t, pochtatest.Options{NoESPP: true})
		s := goodShipment("R-2")
		s.CashOnDelivery = 100000
		_, err := c.Submit(ctx(t), s)
		if ce := cerr(t, err); ce.Kind != carriers.KindConfig || ce.Code != "RESTRICTED_MAIL_CATEGORY" {
			t.Errorf("%+v", ce)
		}
		if sim.LiveOrdersForNumber("R-2") != 0 {
			t.Error("refused order was created")
		}
	})
	t.Run("too heavy", func(t *testing.T) {
		_, c := newSim(t, pochtatest.Options{})
		s := goodShipment("R-3")
		s.Packages[0].WeightG = 25000
		_, err := c.Submit(ctx(t), s)
		if ce := cerr(t, err); ce.Kind != carriers.KindInvalid || ce.Code != "ILLEGAL_MASS_EXCESS" || !strings.Contains(ce.Message, "20 кг") {
			t.Errorf("%+v", ce)
		}
	})
}

func TestSimAddressNormalisation(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("A-1")
	s.Address = &carriers.Address{Text: "г. Москва, Варшавское шоссе, д. 37, кв. 12"}
	if _, err := c.Submit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	o := sim.Orders()[0]
	if o.IndexTo != 115127 {
		t.Errorf("index = %d", o.IndexTo)
	}
	bad := goodShipment("A-2")
	bad.Address = &carriers.Address{Text: "Урюпинск, ул. Мира 1"}
	_, err := c.Submit(ctx(t), bad)
	ce := cerr(t, err)
	if ce.Kind != carriers.KindInvalid || !strings.Contains(ce.Message, "Урюпинск") || !strings.Contains(ce.Code, "UNDEF_02") {
		t.Errorf("%+v", ce)
	}
	noHouse := goodShipment("A-3")
	noHouse.Address = &carriers.Address{City: "Москва", Street: "Тверская"}
	_, err = c.Submit(ctx(t), noHouse)
	if ce := cerr(t, err); ce.Kind != carriers.KindInvalid || !strings.Contains(ce.Message, "дом") {
		t.Errorf("%+v", ce)
	}
	if n := sim.Calls()["PUT /2.0/user/backlog"]; n != 1 {
		t.Errorf("creates = %d: an address Pochta does not rate good must not be sent", n)
	}
}

func TestSimNamesAndMoney(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("N-1")
	s.Recipient = carriers.Contact{Name: "Мамедов Ахмед Рашид оглы", Phone: "8 (916) 123-45-67"}
	s.CashOnDelivery = 150000
	s.DeliveryCharge = 50000
	s.Packages[0].Items[0].Payment = 50000
	if _, err := c.Submit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	s2 := goodShipment("N-2")
	s2.Recipient = carriers.Contact{Name: "ООО Ромашка, Петрова Анна", Surname: "Петрова", GivenName: "Анна", Phone: "+79160000000"}
	if _, err := c.Submit(ctx(t), s2); err != nil {
		t.Fatal(err)
	}
	os := sim.Orders()
	if o := os[0]; o.Surname != "Мамедов" || o.GivenName != "Ахмед" || o.MiddleName != "Рашид оглы" || o.TelAddress != 79161234567 ||
		o.Category != CategoryCOD || o.Payment != 150000 || o.InsrValue != 150000 {
		t.Errorf("COD order = %+v", o)
	}
	if o := os[1]; o.Surname != "Петрова" || o.GivenName != "Анна" || o.MiddleName != "" {
		t.Errorf("split name = %+v", o)
	}
	_, c2 := newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.DeclaredValue = false })
	if cat, insr, pay := c2.Category(goodShipment("x")); cat != CategoryOrdinary || insr != 0 || pay != 0 {
		t.Errorf("declared_value false → %s %d %d", cat, insr, pay)
	}
}

func TestSimTrack(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	r1, _ := c.Submit(ctx(t), goodShipment("T-1"))
	r2, _ := c.Submit(ctx(t), goodShipment("T-2"))
	b1, err := c.Batch(ctx(t), r1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Track(ctx(t), []carriers.Registration{b1, r2})
	if err != nil {
		t.Fatal(err)
	}
	if tr[0].Status != carriers.TrackAccepted || tr[0].Code != "BATCH_CREATED" || tr[1].Status != carriers.TrackAccepted || tr[1].Code != "NEW" {
		t.Errorf("before hand-over: %+v", tr)
	}
	at := time.Date(2026, 12, 3, 14, 5, 0, 0, time.FixedZone("MSK", 3*3600))
	if err := sim.SetLastOperation(b1.TrackingNumber, 2, 1, "Вручение адресату", at); err != nil {
		t.Fatal(err)
	}
	tr, err = c.Track(ctx(t), []carriers.Registration{b1})
	if err != nil {
		t.Fatal(err)
	}
	if tr[0].Status != carriers.TrackDelivered || tr[0].Code != "GIVING.GIVING_RECIPIENT" || tr[0].Name != "Вручение адресату" || !tr[0].At.Equal(at) || tr[0].Reference != b1.Reference {
		t.Errorf("delivered: %+v", tr[0])
	}
	reg, err := c.Registration(ctx(t), b1.Reference)
	if err != nil || reg.Status != carriers.StatusDelivered {
		t.Errorf("Registration after delivery = %+v, %v", reg, err)
	}
	// Deleted orders are unknown; all unknown → tracking unavailable.
	_ = c.Delete(ctx(t), r2)
	if _, err := c.Track(ctx(t), []carriers.Registration{r2}); !errors.Is(err, carriers.ErrTrackingUnavailable) {
		t.Errorf("only unknown orders: %v", err)
	}
}

func TestMapOperation(t *testing.T) {
	cases := []struct {
		typ, attr int
		want      carriers.TrackStatus
	}{
		{1, 1, carriers.TrackInTransit}, {2, 1, carriers.TrackDelivered}, {2, 3, carriers.TrackDelivered},
		{2, 2, carriers.TrackReturned}, {2, 4, carriers.TrackReturned}, {3, 1, carriers.TrackNotDelivered},
		{5, 1, carriers.TrackLost}, {5, 2, carriers.TrackLost}, {5, 3, carriers.TrackInTransit}, {16, 0, carriers.TrackLost},
		{18, 0, carriers.TrackLost}, {6, 3, carriers.TrackAtPickup}, {8, 2, carriers.TrackAtPickup}, {8, 4, carriers.TrackInTransit}, {0, 0, carriers.TrackUnknown},
		{2, 7, carriers.TrackReturned}, {2, 9, carriers.TrackReturned}, {2, 6, carriers.TrackDelivered}, {2, 0, carriers.TrackInTransit},
		{12, 1, carriers.TrackAtPickup},
	}
	for _, tc := range cases {
		if got := MapOperation(tc.typ, tc.attr); got != tc.want {
			t.Errorf("MapOperation(%d, %d) = %q, want %q", tc.typ, tc.attr, got, tc.want)
		}
	}
	o := Order{LastOperType: "GIVING", LastOperAttr: "GIVING_RECIPIENT", HumanOperationName: "Вручение адресату", LastOperDate: "2026-12-03T14:05:00"}
	if tr := trackingFrom("1", o); tr.Status != carriers.TrackDelivered || tr.At.IsZero() || tr.Code != "GIVING.GIVING_RECIPIENT" {
		t.Errorf("textual type: %+v", tr)
	}
	// DELIVERING is «Досылка почты» (forwarding), whatever the name says.
	o = Order{LastOperType: "DELIVERING", LastOperAttr: "DELIVERING_TO_NEW_ADDRESS", HumanOperationName: "Вручение адресату"}
	if tr := trackingFrom("1", o); tr.Status != carriers.TrackInTransit {
		t.Errorf("forwarding: %+v", tr)
	}
}

func TestSimCheck(t *testing.T) {
	_, c := newSim(t, pochtatest.Options{})
	if err := c.Check(ctx(t)); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	_, c = newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.PostofficeCode = "101000" })
	if ce := cerr(t, c.Check(ctx(t))); ce.Kind != carriers.KindConfig || !strings.Contains(ce.Message, "102961") || !strings.Contains(ce.Detail, "102961, 117042, 142300") {
		t.Errorf("foreign office: %+v", ce)
	}
	_, c = newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.PostofficeCode = "117042"; cfg.MailType = "EMS" })
	if ce := cerr(t, c.Check(ctx(t))); ce.Kind != carriers.KindConfig || ce.Code != "UNAVAILABLE_MAIL_TYPE" || !strings.Contains(ce.Detail, "it accepts: POSTAL_PARCEL") {
		t.Errorf("mail type not enabled: %+v", ce)
	}
	_, c = newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.Password = "wrong-secret-pw"; cfg.Token = "wrong-secret-token" })
	err := c.Check(ctx(t))
	if ce := cerr(t, err); ce.Kind != carriers.KindConfig || ce.HTTPStatus != 401 {
		t.Errorf("bad credentials: %+v", ce)
	}
	if s := err.Error(); strings.Contains(s, "wrong-secret") {
		t.Errorf("error leaks a secret: %s", s)
	}
	cfg := testConfig("https://example.invalid")
	for _, s := range []string{cfg.String(), cfg.GoString()} {
		if strings.Contains(s, "tok-123") || strings.Contains(s, "p@ss") {
			t.Errorf("config string leaks a secret: %s", s)
		}
	}
}

func TestSimQuota(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	sim, c := newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.Logger = zap.New(core) })
	sim.SetQuota(100, 50)
	q, err := c.RefreshQuota(ctx(t))
	if err != nil || q.Used != 50 || q.Allowed != 100 || q.Ratio() != 0.5 {
		t.Fatalf("quota = %+v, %v", q, err)
	}
	if logs.Len() != 0 {
		t.Errorf("warned at 50 %%")
	}
	sim.SetQuota(100, 85)
	if _, err := c.RefreshQuota(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessage("pochta daily API quota nearly used up").Len() != 1 {
		t.Errorf("no warning at 85 %%: %v", logs.All())
	}
	if got, ok := c.Quota(); !ok || got.Used != 85 {
		t.Errorf("cached quota = %+v %v", got, ok)
	}
	r, _ := c.Submit(ctx(t), goodShipment("Q-1"))
	if _, err := c.Track(ctx(t), []carriers.Registration{r}); !errors.Is(err, carriers.ErrTrackingUnavailable) {
		t.Errorf("tracking at 85 %%: %v", err)
	}
	sim.SetQuota(100, 100)
	_, err = c.Submit(ctx(t), goodShipment("Q-2"))
	if ce := cerr(t, err); ce.Kind != carriers.KindTransient || ce.HTTPStatus != 429 {
		t.Errorf("spent quota: %+v", ce)
	}
	if sim.LiveOrdersForNumber("Q-2") != 0 {
		t.Error("created past the quota")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("disabled default: %v", err)
	}
	cfg.Enabled = true
	err := cfg.Validate()
	for _, k := range []string{"token", "login", "password", "postoffice_code"} {
		if err == nil || !strings.Contains(err.Error(), "carriers.pochta."+k) {
			t.Errorf("missing %s not reported: %v", k, err)
		}
	}
	good := testConfig("https://otpravka-api.pochta.ru")
	good.Enabled = true
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.PostofficeCode = "1029" },
		func(c *Config) { c.MailType = "posylka" },
		func(c *Config) { c.CashOnDelivery = "sometimes" },
		func(c *Config) { c.BaseURL = "ftp://x" },
		func(c *Config) { c.PrintType = "A4" },
		func(c *Config) { c.Package.LengthCM = -1 },
	} {
		c := good
		bad(&c)
		if c.Validate() == nil {
			t.Errorf("accepted %s", c)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without secrets succeeded")
	}
	p := good.Profile()
	if len(p.Names) != 2 || p.CashOnDelivery != "auto" || p.WeightUnit != "kg" || p.Timings.ReconcileGrace == 0 {
		t.Errorf("profile = %+v", p)
	}
	var reg carriers.Registry
	c, _ := New(good)
	if err := reg.Register(c, p); err != nil {
		t.Fatal(err)
	}
	caps, _ := reg.Capabilities(Name)
	if caps.FinderAll == nil || caps.Batcher == nil || caps.Tracker == nil || caps.Deleter == nil || caps.Waybill == nil || caps.Checker == nil || caps.Idempotent {
		t.Errorf("capabilities = %+v", caps)
	}
}

func TestSecretsNeverRecorded(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	var got []exchange.Exchange
	var mu sync.Mutex
	rctx := exchange.WithRecorder(ctx(t), func(e exchange.Exchange) { mu.Lock(); got = append(got, e); mu.Unlock() })
	reg, err := c.Submit(rctx, goodShipment("S-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch(rctx, reg, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Waybill(rctx, reg); err != nil {
		t.Fatal(err)
	}
	sim.FailNext(1, 500)
	_, err = c.FindAll(rctx, goodShipment("S-1"))
	key := base64.StdEncoding.EncodeToString([]byte(sim.Login() + ":" + sim.Password()))
	texts := []string{err.Error(), fmt.Sprintf("%v %#v", c.Client(), c.Client())}
	for _, e := range got {
		texts = append(texts, fmt.Sprintf("%+v", e))
	}
	if len(got) < 5 {
		t.Fatalf("only %d exchanges recorded", len(got))
	}
	for _, s := range texts {
		for _, secret := range []string{sim.Token(), sim.Password(), key} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q in %s", secret, s)
			}
		}
	}
	var pdf bool
	for _, e := range got {
		if e.System != "pochta" {
			t.Errorf("system %q", e.System)
		}
		pdf = pdf || strings.Contains(e.Response, "bytes of application/pdf")
	}
	if !pdf {
		t.Error("the PDF answer should be summarised, not recorded")
	}
}

func TestBatchPastDayGoesToday(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	reg, _ := c.Submit(ctx(t), goodShipment("P-1"))
	got, err := c.Batch(ctx(t), reg, time.Now().Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := readData(got.CarrierData); d.BatchDate != c.day(time.Now()) || sim.Batches()[0].Date != d.BatchDate {
		t.Errorf("batch date %+v / %+v", d, sim.Batches())
	}
}

func TestSimBatchListFilteredByLabel(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{ListFiltersByLabel: true})
	day := time.Now()
	for _, k := range []string{"W-1", "W-2", "W-3"} {
		reg, err := c.Submit(ctx(t), goodShipment(k))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Batch(ctx(t), reg, day); err != nil {
			t.Fatal(err)
		}
	}
	if bs := sim.Batches(); len(bs) != 1 || len(bs[0].OrderIDs) != 3 {
		t.Errorf("batches = %+v, want one with three orders", bs)
	}
	// An ORDINARY order must not end up in the declared-value batch.
	s := goodShipment("W-4")
	s.DeclaredValue = 0
	reg, _ := c.Submit(ctx(t), s)
	got, err := c.Batch(ctx(t), reg, day)
	if err != nil {
		t.Fatal(err)
	}
	bs := sim.Batches()
	if len(bs) != 2 || readData(got.CarrierData).Batch != bs[1].Name || bs[1].Category != CategoryOrdinary {
		t.Errorf("batches = %+v", bs)
	}
}

func TestSplitName(t *testing.T) {
	cases := []struct {
		in      carriers.Contact
		s, g, m string
	}{
		{carriers.Contact{Name: "Иванов Иван Иванович"}, "Иванов", "Иван", "Иванович"},
		{carriers.Contact{Name: "  Иван   Иванов "}, "Иванов", "Иван", ""},
		{carriers.Contact{Name: "Иван Иванович Иванов"}, "Иванов", "Иван", "Иванович"},
		{carriers.Contact{Name: "Петрова Анна"}, "Петрова", "Анна", ""},
		{carriers.Contact{Name: "Анна Петрова"}, "Петрова", "Анна", ""},
		{carriers.Contact{Name: "Ким Ли"}, "Ким", "Ли", ""},
		{carriers.Contact{Name: "Мамедов Ахмед Рашид оглы"}, "Мамедов", "Ахмед", "Рашид оглы"},
		{carriers.Contact{Name: "Иванов"}, "Иванов", "", ""},
		{carriers.Contact{Name: "Иван Иванов", Surname: "Сидоров", GivenName: "Пётр", MiddleName: "Ильич"}, "Сидоров", "Пётр", "Ильич"},
	}
	for _, tc := range cases {
		s, g, m := splitName(tc.in)
		if s != tc.s || g != tc.g || m != tc.m {
			t.Errorf("splitName(%+v) = %q %q %q, want %q %q %q", tc.in, s, g, m, tc.s, tc.g, tc.m)
		}
	}
}

func TestSimCleanNames(t *testing.T) {
	_, c := newSim(t, pochtatest.Options{})
	got, err := c.Client().CleanNames(ctx(t), map[string]string{"1": "Иван Иванович Иванов", "2": "Ким Ли"})
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	by := map[string]CleanName{}
	for _, n := range got {
		by[string(n.ID)] = n
	}
	if n := by["1"]; n.Surname != "Иванов" || n.Name != "Иван" || n.MiddleName != "Иванович" || n.QualityCode != "EDITED" || n.OriginalFIO != "Иван Иванович Иванов" {
		t.Errorf("%+v", n)
	}
	if n := by["2"]; n.QualityCode != "NOT_SURE" {
		t.Errorf("%+v", n)
	}
}

// The demo's free-text and structured addresses (app/demo.go seeds) go through.
func TestSimDemoAddresses(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	s := goodShipment("00104")
	s.Address = &carriers.Address{Text: "630099, Новосибирск, ул. Ленина, д. 12, кв. 7"}
	if _, err := c.Submit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	s2 := goodShipment("00102")
	s2.Address = &carriers.Address{PostalCode: "191186", City: "Санкт-Петербург", Street: "Невский проспект", House: "28", Apartment: "15"}
	if _, err := c.Submit(ctx(t), s2); err != nil {
		t.Fatal(err)
	}
	os := sim.Orders()
	if os[0].IndexTo != 630099 || os[1].IndexTo != 191186 {
		t.Errorf("orders = %+v", os)
	}
	if n := sim.Calls()["POST /1.0/clean/address"]; n != 1 {
		t.Errorf("clean/address calls = %d, want 1 (only for the free text)", n)
	}
}
