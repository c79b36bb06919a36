package cdek_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/carriertest"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
)

func newEnv(t *testing.T, opts cdektest.Options, mut func(*cdek.Config)) (*cdektest.Server, *cdek.Carrier) {
	t.Helper()
	srv := cdektest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := cdek.Config{
		BaseURL: srv.URL(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		HTTPClient:    &http.Client{Timeout: 2 * time.Second},
		Logger:        zap.NewNop(),
		PollInterval:  5 * time.Millisecond,
		MaxWait:       5 * time.Second,
		ShipmentPoint: "MSK65",
		Sender:        cdek.Sender{Name: "Склад", Company: "ООО Ромашка", Phone: "+74951234567"},
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := cdek.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func shipment(key string) carriers.Shipment {
	return carriers.Shipment{
		OrderID: "id-" + key, OrderName: "A-" + key, Attempt: 1,
		Recipient:   carriers.Contact{Name: "Иван Петров", Phone: "+79161234567"},
		PickupPoint: "MSK67",
		Packages: []carriers.Package{{Number: "1", WeightG: 1200, LengthCM: 20, WidthCM: 15, HeightCM: 10, Items: []carriers.Item{
			{Name: "Чайник", WareKey: "KT-1", Cost: 199000, WeightG: 1000, Amount: 1},
			{Name: "Кружка", WareKey: "MG-2", Cost: 25050, Payment: 25050, WeightG: 100, Amount: 2},
		}}},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestContract(t *testing.T) {
	carriertest.Run(t, carriertest.Harness{RequireMark: true, New: func(t *testing.T) carriertest.Instance {
		srv, c := newEnv(t, cdektest.Options{NotFoundWindow: 10 * time.Millisecond}, nil)
		return carriertest.Instance{
			Carrier:        c,
			Shipment:       shipment,
			MakeInvalid:    func(s *carriers.Shipment) { s.Recipient.Phone = "нет"; s.Packages = nil },
			LoseNextCreate: func() { srv.LoseNextCreateResponse(1) },
			CreatesFor:     srv.CreatesForNumber,
			ForbidDelete: func(t *testing.T, reg carriers.Registration) {
				if err := srv.SetOrderStatus(reg.Number, "RECEIVED_AT_SHIPMENT_WAREHOUSE"); err != nil {
					t.Fatal(err)
				}
			},
		}
	}})
}

func TestHappyPathToCDEKNumberAndWaybill(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	s := shipment("happy")
	reg, err := c.Submit(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Status != carriers.StatusPending || reg.Number != "A-happy" {
		t.Fatalf("after submit: %+v (a 202 is not success)", reg)
	}
	done, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference)
	if err != nil {
		t.Fatal(err)
	}
	orders := srv.Orders()
	if len(orders) != 1 || done.TrackingNumber != orders[0].CDEKNumber || done.CarrierStatus != "CREATED" {
		t.Fatalf("registration %+v vs sim %+v", done, orders)
	}
	// The same order by CDEK number.
	byNum, err := c.Client().GetOrderByCDEKNumber(ctx(t), done.TrackingNumber)
	if err != nil || byNum.Entity.UUID != reg.Reference {
		t.Fatalf("by cdek_number: %+v %v", byNum.Entity, err)
	}
	doc, err := c.Waybill(ctx(t), done)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc.Content), "%PDF-") || !strings.Contains(string(doc.Content), done.TrackingNumber) ||
		doc.Filename != "waybill-"+done.TrackingNumber+".pdf" || doc.ContentType != "application/pdf" {
		t.Errorf("waybill %s %s %q", doc.Filename, doc.ContentType, doc.Content[:20])
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 (cached)", n)
	}
}

func submitAndWait(t *testing.T, c *cdek.Carrier, s carriers.Shipment) error {
	t.Helper()
	reg, err := c.Submit(ctx(t), s)
	if err != nil {
		return err
	}
	_, err = carriertest.WaitRegistered(ctx(t), c, reg.Reference)
	return err
}

func TestAsyncInvalidKinds(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*carriers.Shipment)
		code   string
		text   string
	}{
		{"pvz", func(s *carriers.Shipment) { s.PickupPoint = "XXX999" }, "v2_office_by_delivery_point_not_found", "пункт выдачи"},
		{"city", func(s *carriers.Shipment) {
			s.PickupPoint = ""
			s.Address = &carriers.Address{City: "Урюпинск", PostalCode: "403110", Street: "Ленина", House: "1"}
		}, "v2_recipient_location_not_recognized", "город получателя"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newEnv(t, cdektest.Options{}, nil)
			s := shipment(tc.name)
			tc.mutate(&s)
			err := submitAndWait(t, c, s)
			ce := carriertest.CheckError(t, c, err)
			if ce.Kind != carriers.KindRejected || ce.Code != tc.code || !strings.Contains(ce.Message, tc.text) {
				t.Errorf("got %v / %q", ce, ce.Message)
			}
		})
	}
	t.Run("phone", func(t *testing.T) {
		// An international number our own check accepts but CDEK refuses
		// for the recipient's country.
		_, c := newEnv(t, cdektest.Options{}, nil)
		s := shipment("phone")
		s.Recipient.Phone = "+123456789"
		if ps := c.Validate(s); len(ps) != 0 {
			t.Fatalf("validate: %+v", ps)
		}
		ce := carriertest.CheckError(t, c, submitAndWait(t, c, s))
		if ce.Kind != carriers.KindRejected || ce.Code != "ve_receiver_phone_type_incorrect" || !strings.Contains(ce.Message, "телефон") {
			t.Errorf("got %v / %q", ce, ce.Message)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		srv, c := newEnv(t, cdektest.Options{}, nil)
		s := shipment("dup")
		if err := submitAndWait(t, c, s); err != nil {
			t.Fatal(err)
		}
		ce := carriertest.CheckError(t, c, submitAndWait(t, c, s))
		if ce.Kind != carriers.KindRejected || ce.Code != cdek.CodeDuplicateNumber ||
			ce.Message != "Заказ с номером A-dup уже зарегистрирован в СДЭК" {
			t.Errorf("got %v / %q", ce, ce.Message)
		}
		if srv.CreatesForNumber("A-dup") != 2 || srv.ActiveOrdersForNumber("A-dup") != 1 {
			t.Errorf("creates %d active %d", srv.CreatesForNumber("A-dup"), srv.ActiveOrdersForNumber("A-dup"))
		}
		// CDEK now shows the refused duplicate by number, which hides the
		// live original: Find says so instead of "not found".
		_, found, err := c.Find(ctx(t), s)
		var fe *carriers.Error
		if found || !errors.As(err, &fe) || fe.Kind != carriers.KindAmbiguous || fe.Code != cdek.ShadowedCode ||
			!errors.Is(err, cdek.ErrNumberShadowed) || !strings.Contains(fe.Message, "A-dup") {
			t.Errorf("find after duplicate: %v %v", found, err)
		}
	})
}

func TestSynchronousRefusalIsInvalid(t *testing.T) {
	// A door tariff with a shipment point and no from_location is fine, but
	// a missing to_location address is refused at once with HTTP 400.
	srv, c := newEnv(t, cdektest.Options{}, nil)
	req, err := c.BuildRequest(shipment("sync"))
	if err != nil {
		t.Fatal(err)
	}
	req.ShipmentPoint = ""
	_, err = c.Client().CreateOrder(ctx(t), req)
	var ae *cdek.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || strings.Join(ae.Codes(), ",") != "v2_field_is_empty,v2_field_is_empty" {
		t.Fatalf("got %v", err)
	}
	if len(srv.Orders()) != 0 {
		t.Error("a refused request created an order")
	}
}

func TestLostCreateResponseFoundByNumber(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	s := shipment("lost")
	srv.LoseNextCreateResponse(1)
	_, err := c.Submit(ctx(t), s)
	if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindAmbiguous {
		t.Fatalf("kind %v: %v", ce.Kind, err)
	}
	reg, found, err := c.Find(ctx(t), s)
	if err != nil || !found || reg.Reference == "" || reg.Number != "A-lost" {
		t.Fatalf("find: %+v %v %v", reg, found, err)
	}
	if _, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference); err != nil {
		t.Fatal(err)
	}
	if n := srv.CreatesForNumber("A-lost"); n != 1 {
		t.Errorf("creates = %d, want 1", n)
	}
}

func TestTokenExpiryMidRun(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	reg, err := c.Submit(ctx(t), shipment("tok"))
	if err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference); err != nil {
		t.Fatalf("request after expiry: %v", err)
	}
	if n := srv.TokensIssued(); n != 2 {
		t.Errorf("tokens issued = %d, want 2 (one refresh)", n)
	}
	if got := srv.Calls()["POST /v2/oauth/token"]; got != 2 {
		t.Errorf("token calls = %d", got)
	}
}

func TestTokenTTLRefreshedEarly(t *testing.T) {
	// With a TTL shorter than the expiry delta every call gets a new token
	// before the old one is refused: no 401 round trips.
	srv, c := newEnv(t, cdektest.Options{TokenTTL: 2 * time.Second}, func(cfg *cdek.Config) { cfg.TokenExpiryDelta = 5 * time.Second })
	for i := 0; i < 3; i++ {
		if _, _, err := c.Find(ctx(t), shipment("ttl")); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokensIssued(); n != 3 {
		t.Errorf("tokens = %d, want 3", n)
	}
}

func TestBadCredentialsAreConfig(t *testing.T) {
	_, c := newEnv(t, cdektest.Options{}, func(cfg *cdek.Config) { cfg.ClientSecret = "wrong-secret-value" })
	_, err := c.Submit(ctx(t), shipment("cred"))
	ce := carriertest.CheckError(t, c, err)
	if ce.Kind != carriers.KindConfig || ce.HTTPStatus != 401 || ce.Code != "invalid_client" {
		t.Errorf("got %v", ce)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Error("secret in the error")
	}
}

func TestServerErrorsOnCreate(t *testing.T) {
	// A 5xx on a create leaves the outcome unknown (reconcile by number,
	// never re-send blindly); a 429 is refused before any work.
	srv, c := newEnv(t, cdektest.Options{}, nil)
	for _, st := range []int{500, 502, 503, 429} {
		srv.FailNext(1, st)
		_, err := c.Submit(ctx(t), shipment("5xx"))
		ce := carriertest.CheckError(t, c, err)
		want := carriers.KindAmbiguous
		if st == 429 {
			want = carriers.KindTransient
		}
		if ce.Kind != want || ce.HTTPStatus != st {
			t.Errorf("HTTP %d: %v, want %v", st, ce, want)
		}
	}
	if n := srv.Calls()["POST /v2/orders"]; n != 4 {
		t.Errorf("creates sent = %d, want 4: a create is never retried inside the call", n)
	}
	if n := srv.CreatesForNumber("A-5xx"); n != 0 {
		t.Errorf("creates = %d", n)
	}
	if err := submitAndWait(t, c, shipment("5xx")); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestTimeoutIsAmbiguous(t *testing.T) {
	var mu sync.Mutex
	slow := false
	srv, c := newEnv(t, cdektest.Options{Latency: func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if slow {
			return 500 * time.Millisecond
		}
		return 0
	}}, func(cfg *cdek.Config) {
		cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
		cfg.Sleep = (&sleeps{}).sleep
	})
	if _, _, err := c.Find(ctx(t), shipment("slow")); err != nil { // fetch a token while fast
		t.Fatal(err)
	}
	mu.Lock()
	slow = true
	mu.Unlock()
	_, err := c.Submit(ctx(t), shipment("slow"))
	if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindAmbiguous {
		t.Errorf("timeout on create: %v", ce)
	}
	_, _, err = c.Find(ctx(t), shipment("slow"))
	if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindTransient {
		t.Errorf("timeout on a lookup: %v", ce)
	}
	_ = srv
}

func TestDeleteAllowedAndRefused(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	ok := shipment("del-ok")
	if err := submitAndWait(t, c, ok); err != nil {
		t.Fatal(err)
	}
	reg, _, _ := c.Find(ctx(t), ok)
	if err := c.Delete(ctx(t), reg); err != nil {
		t.Fatalf("delete in CREATED: %v", err)
	}
	if srv.ActiveOrdersForNumber("A-del-ok") != 0 {
		t.Error("order still active")
	}
	after, err := c.Registration(ctx(t), reg.Reference)
	if err != nil || after.Status != carriers.StatusCancelled {
		t.Errorf("after delete: %+v %v", after, err)
	}
	if err := c.Delete(ctx(t), reg); err != nil {
		t.Errorf("second delete: %v", err)
	}
	// Same number may be registered again once the first is deleted.
	if err := submitAndWait(t, c, ok); err != nil {
		t.Errorf("re-register after delete: %v", err)
	}

	no := shipment("del-no")
	if err := submitAndWait(t, c, no); err != nil {
		t.Fatal(err)
	}
	reg, _, _ = c.Find(ctx(t), no)
	if err := srv.SetOrderStatus("A-del-no", "RECEIVED_AT_SHIPMENT_WAREHOUSE"); err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx(t), reg)
	ce := carriertest.CheckError(t, c, err)
	if ce.Kind != carriers.KindRejected || ce.Code != cdek.CodeDeleteStatus || ce.Message != "СДЭК не удаляет заказ: он уже не в статусе «Создан»" {
		t.Errorf("refused delete: %v / %q", ce, ce.Message)
	}
	if r, err := c.Registration(ctx(t), reg.Reference); err != nil || r.Status != carriers.StatusInTransit {
		t.Errorf("after refusal: %+v %v", r, err)
	}
	// Delete of an order CDEK never had is not an error.
	if err := c.Delete(ctx(t), carriers.Registration{Reference: "00000000-0000-4000-8000-000000000000"}); err != nil {
		t.Errorf("delete of unknown: %v", err)
	}
}

func TestNotFoundRightAfterCreateIsPending(t *testing.T) {
	for _, st := range []int{400, 404} {
		srv, c := newEnv(t, cdektest.Options{NotFoundWindow: 150 * time.Millisecond, NotFoundStatus: st}, nil)
		reg, err := c.Submit(ctx(t), shipment("lag"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Registration(ctx(t), reg.Reference)
		if err != nil || r.Status != carriers.StatusPending {
			t.Fatalf("HTTP %d: right after create: %+v %v", st, r, err)
		}
		if _, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference); err != nil {
			t.Fatal(err)
		}
		// A uuid we never created is not found.
		_, err = c.Registration(ctx(t), "00000000-0000-4000-8000-000000000000")
		if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindNotFound {
			t.Errorf("unknown uuid: %v", ce)
		}
		_ = srv
	}
}

func TestWaybillBeforeCreatedFails(t *testing.T) {
	_, c := newEnv(t, cdektest.Options{SettleDelay: func() time.Duration { return time.Second }}, nil)
	reg, err := c.Submit(ctx(t), shipment("early"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Waybill(ctx(t), reg)
	if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindTransient || ce.Code != cdek.CodeEntityNotReady {
		t.Errorf("waybill too early: %v", ce)
	}
}

type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) ObserveRequest(method, endpoint string, status int, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method+" "+endpoint+" "+http.StatusText(status))
}

func TestObserverAndFailRate(t *testing.T) {
	rec := &recorder{}
	var sl sleeps
	srv, c := newEnv(t, cdektest.Options{FailRate: 0.5, Seed: 7}, func(cfg *cdek.Config) { cfg.Observer = rec; cfg.Sleep = sl.sleep })
	transient, okCount := 0, 0
	for i := 0; i < 20; i++ {
		_, _, err := c.Find(ctx(t), shipment("rate"))
		switch carriers.KindOf(err) {
		case 0:
			okCount++
		case carriers.KindTransient:
			transient++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	// Each lookup is tried up to 3 times, so most succeed despite the
	// 50 % failure rate; every try is observed and was served.
	gets := srv.Calls()["GET /v2/orders?im_number"]
	if okCount < 15 || gets <= 20 || transient+okCount != 20 {
		t.Errorf("fail rate 0.5: %d failures, %d successes, %d GETs", transient, okCount, gets)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != 1+gets || rec.calls[0] != "POST /v2/oauth/token OK" {
		t.Errorf("observed %d calls for %d GETs: %v", len(rec.calls), gets, rec.calls[:min(3, len(rec.calls))])
	}
	if n := len(sl.got()); n != gets-20 {
		t.Errorf("%d waits between tries for %d GETs", n, gets)
	}
}

func TestCheckCapability(t *testing.T) {
	sim := cdektest.NewServer(cdektest.Options{})
	defer sim.Close()
	good, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(), ShipmentPoint: "MSK65"})
	if err != nil {
		t.Fatal(err)
	}
	var c carriers.Carrier = good
	ck, ok := c.(carriers.Checker)
	if !ok {
		t.Fatal("cdek does not implement carriers.Checker")
	}
	if err := ck.Check(context.Background()); err != nil {
		t.Errorf("check with good credentials: %v", err)
	}
	bad, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: "wrong", ShipmentPoint: "MSK65"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Check(context.Background())
	if carriers.KindOf(err) != carriers.KindConfig || strings.Contains(err.Error(), "wrong") {
		t.Errorf("check with bad credentials: kind %v, err %v", carriers.KindOf(err), err)
	}
}
