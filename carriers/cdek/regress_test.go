package cdek_test

// Regression tests for the CDEK review points (brief items 1–10). Fixtures:
// the simulator (its shapes name their sources in cdektest) and, where
// stated, real bodies from testdata/ (SOURCES.md).

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/carriertest"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
)

// 1. order_type 2 has no number: refused by New.
func TestOrderType2Refused(t *testing.T) {
	_, err := cdek.New(cdek.Config{BaseURL: "https://api.edu.cdek.ru", ClientID: "a", ClientSecret: "b", OrderType: 2,
		ShipmentPoint: "MSK65", Sender: cdek.Sender{Name: "Склад", Phone: "+74951234567"}})
	if err == nil || !strings.Contains(err.Error(), "order_type 2") || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("order_type 2: %v", err)
	}
}

// 2. Tariff and sending point must fit.
func TestTariffAndSendingPoint(t *testing.T) {
	base := func() cdek.Config {
		return cdek.Config{BaseURL: "https://api.edu.cdek.ru", ClientID: "a", ClientSecret: "b"}
	}
	door := cdek.SenderLocation{Code: 44, Address: "ул. Динамовская, 1А"}
	cases := []struct {
		name string
		mut  func(*cdek.Config)
		ok   bool
	}{
		{"office with default 136/137", func(c *cdek.Config) { c.ShipmentPoint = "MSK65" }, true},
		{"door address with default 136/137", func(c *cdek.Config) { c.FromLocation = door }, false},
		{"door address with 138/139", func(c *cdek.Config) { c.FromLocation = door; c.TariffCode, c.DoorTariffCode = 138, 139 }, true},
		{"office with door tariff 139", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.DoorTariffCode = 139 }, false},
		{"pickup tariff ends at a door", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.TariffCode = 137 }, false},
		{"door tariff ends at an office", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.DoorTariffCode = 136 }, false},
		{"unknown tariff, one point", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.TariffCode = 9999 }, true},
		{"unknown tariff, both points", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.FromLocation = door; c.TariffCode = 9999 }, false},
		{"from_location code without address", func(c *cdek.Config) { c.ShipmentPoint = "MSK65"; c.FromLocation = cdek.SenderLocation{Code: 44} }, false},
	}
	for _, tc := range cases {
		cfg := base()
		tc.mut(&cfg)
		_, err := cdek.New(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}

	// A per-order tariff that needs a sending point the settings lack is a
	// problem for the manager, before anything is sent.
	_, c := newEnv(t, cdektest.Options{}, nil) // shipment_point MSK65 only
	s := shipment("tariff")
	s.Tariff = "138" // дверь-склад
	if ps := c.Validate(s); len(ps) != 1 || ps[0].Field != "tariff" || !strings.Contains(ps[0].Message, "from_location") {
		t.Errorf("tariff 138 without from_location: %+v", ps)
	}
	s.Tariff = "137" // склад-дверь, but the order has a pickup point
	if ps := c.Validate(s); len(ps) != 1 || !strings.Contains(ps[0].Message, "ПВЗ") {
		t.Errorf("door tariff with a pickup point: %+v", ps)
	}

	// The simulator refuses what CDEK refuses: a «склад» tariff without
	// shipment_point (v2_field_is_empty, as the real 400 in
	// testdata/order_create_400_invalid.json).
	srv, c := newEnv(t, cdektest.Options{}, nil)
	req, err := c.BuildRequest(shipment("sim"))
	if err != nil {
		t.Fatal(err)
	}
	req.ShipmentPoint = ""
	req.FromLocation = &cdek.Location{Code: 44, Address: "ул. Динамовская, 1А"}
	_, err = c.Client().CreateOrder(ctx(t), req)
	var ae *cdek.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !ae.Has("v2_field_is_empty") || !strings.Contains(ae.Error(), "[shipment_point]") {
		t.Errorf("tariff 136 with from_location: %v", err)
	}
	if len(srv.Orders()) != 0 {
		t.Error("refused request created an order")
	}
}

// 2. Check confirms the shipment point through GET /v2/deliverypoints.
func TestCheckShipmentPoint(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{TakeOnlyPoints: []string{"MSK67"}}, nil)
	if err := c.Check(ctx(t)); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	if srv.Calls()["GET /v2/deliverypoints"] != 1 {
		t.Errorf("calls %v", srv.Calls())
	}
	for _, point := range []string{"NOPE1", "MSK67"} {
		_, bad := newEnv(t, cdektest.Options{TakeOnlyPoints: []string{"MSK67"}}, func(cfg *cdek.Config) { cfg.ShipmentPoint = point })
		err := bad.Check(ctx(t))
		if ce := carriertest.CheckError(t, bad, err); ce.Kind != carriers.KindConfig || !strings.Contains(ce.Message, point) {
			t.Errorf("shipment point %s: %v", point, err)
		}
	}
	// Door pick-up: no office to check, the city code is sent.
	_, door := newEnv(t, cdektest.Options{}, func(cfg *cdek.Config) {
		cfg.ShipmentPoint = ""
		cfg.FromLocation = cdek.SenderLocation{Code: 44, Address: "ул. Динамовская, 1А"}
		cfg.TariffCode, cfg.DoorTariffCode = 138, 139
	})
	if err := door.Check(ctx(t)); err != nil {
		t.Errorf("door settings: %v", err)
	}
	if err := submitAndWait(t, door, shipment("door")); err != nil {
		t.Errorf("door pick-up order: %v", err)
	}
}

// tokenBody is the real token answer (testdata/oauth_token_200.json).
func tokenBody(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/oauth_token_200.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeCDEK serves a real token and then whatever answer the test gives.
func fakeCDEK(t *testing.T, status int, contentType string, body []byte) *cdek.Carrier {
	tok := tokenBody(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(tok)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	c, err := cdek.New(cdek.Config{BaseURL: ts.URL, ClientID: "a", ClientSecret: "b", ShipmentPoint: "MSK65",
		Logger: zap.NewNop(), Sleep: (&sleeps{}).sleep})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 3. A 404 that is not CDEK's JSON answer is never "not found".
func TestForeign404IsNotNotFound(t *testing.T) {
	html := []byte("<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>")
	c := fakeCDEK(t, 404, "text/html", html)
	_, found, err := c.Find(ctx(t), shipment("x"))
	if found || carriers.KindOf(err) != carriers.KindConfig {
		t.Errorf("Find behind an HTML 404: %v %v", found, err)
	}
	if err := c.Check(ctx(t)); carriers.KindOf(err) != carriers.KindConfig {
		t.Errorf("Check behind an HTML 404 passed: %v", err)
	}
	_, err = c.Registration(ctx(t), "72753031-7310-4448-b6fa-bf474772be48")
	if carriers.KindOf(err) != carriers.KindConfig || cdek.IsNotFound(err) {
		t.Errorf("Registration behind an HTML 404: %v", err)
	}

	// A wrong base URL: even the token endpoint answers 404.
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	wrong, err := cdek.New(cdek.Config{BaseURL: ts.URL, ClientID: "a", ClientSecret: "b", ShipmentPoint: "MSK65", Sleep: (&sleeps{}).sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Check(ctx(t)); carriers.KindOf(err) != carriers.KindConfig {
		t.Errorf("Check with a wrong base URL: %v", err)
	}

	// CDEK's own JSON 404 (real body, testdata/error_404_entity_not_found.json)
	// is "not found".
	real404, err := os.ReadFile("testdata/error_404_entity_not_found.json")
	if err != nil {
		t.Fatal(err)
	}
	c = fakeCDEK(t, 404, "application/json", real404)
	if _, found, err := c.Find(ctx(t), shipment("x")); found || err != nil {
		t.Errorf("Find with CDEK's 404: %v %v", found, err)
	}
	if err := c.Check(ctx(t)); err == nil || carriers.KindOf(err) != carriers.KindConfig || !strings.Contains(carriers.ManagerMessage(err), "MSK65") {
		// the lookup passes; the delivery-point check then gets "not
		// found" for the shipment point: a wrong setting
		t.Errorf("Check: %v", err)
	}
}

// 4. The simulator answers the most recent order by number, whatever its
// state; Find tells a refused duplicate from "no shipment"; FindAll.
func TestMostRecentByNumber(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	s := shipment("recent")
	if err := submitAndWait(t, c, s); err != nil {
		t.Fatal(err)
	}
	all, err := c.FindAll(ctx(t), s)
	if err != nil || len(all) != 1 || all[0].Status != carriers.StatusRegistered {
		t.Fatalf("FindAll of a live order: %+v %v", all, err)
	}
	if err := submitAndWait(t, c, s); carriers.KindOf(err) != carriers.KindRejected {
		t.Fatalf("duplicate: %v", err)
	}
	resp, err := c.Client().GetOrderByIMNumber(ctx(t), "A-recent")
	if err != nil || resp.Entity.UUID == all[0].Reference {
		t.Fatalf("simulator must answer the refused duplicate (most recent): %+v %v", resp.Entity, err)
	}
	if st, _ := resp.Entity.LatestStatus(); st.Code != "INVALID" {
		t.Errorf("most recent status %s", st.Code)
	}
	if _, err := c.FindAll(ctx(t), s); !errors.Is(err, cdek.ErrNumberShadowed) || carriers.KindOf(err) != carriers.KindAmbiguous {
		t.Errorf("FindAll with a shadowed live order: %v", err)
	}
	if srv.ActiveOrdersForNumber("A-recent") != 1 {
		t.Error("the live order is gone")
	}
	// The shop's order still carries the live order's tracking number: with
	// it as a hint, the live order is reached by cdek_number.
	hinted := s
	hinted.KnownTracking = all[0].TrackingNumber
	got, err := c.FindAll(ctx(t), hinted)
	if err != nil || len(got) != 1 || got[0].Reference != all[0].Reference || got[0].Mark != s.Mark {
		t.Errorf("FindAll with the tracking hint: %+v %v", got, err)
	}
	// A hint that names another order's parcel finds nothing of this number.
	other := shipment("other")
	if err := submitAndWait(t, c, other); err != nil {
		t.Fatal(err)
	}
	otherReg, _ := c.FindAll(ctx(t), other)
	hinted.KnownTracking = otherReg[0].TrackingNumber
	if _, err := c.FindAll(ctx(t), hinted); !errors.Is(err, cdek.ErrNumberShadowed) {
		t.Errorf("a hint of another number: %v", err)
	}

	// Refused for another reason: Find reports the refused order (its
	// outcome is known, it is not "no shipment"); no live order can hide
	// behind it, so FindAll lists none.
	bad := shipment("badphone")
	bad.Recipient.Phone = "+123456789"
	if err := submitAndWait(t, c, bad); carriers.KindOf(err) != carriers.KindRejected {
		t.Fatalf("bad phone: %v", err)
	}
	if reg, found, err := c.Find(ctx(t), bad); !found || err != nil || reg.Status != carriers.StatusRejected || reg.Reference == "" {
		t.Errorf("Find of a refused order: %+v %v %v", reg, found, err)
	}
	if all, err := c.FindAll(ctx(t), bad); err != nil || len(all) != 0 {
		t.Errorf("FindAll of a refused order: %+v %v", all, err)
	}
	// Deleted: the number is free.
	del := shipment("deleted")
	if err := submitAndWait(t, c, del); err != nil {
		t.Fatal(err)
	}
	reg, _, _ := c.Find(ctx(t), del)
	if err := c.Delete(ctx(t), reg); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Find(ctx(t), del); found || err != nil {
		t.Errorf("Find of a deleted order: %v %v", found, err)
	}
	if all, err := c.FindAll(ctx(t), shipment("never")); err != nil || len(all) != 0 {
		t.Errorf("FindAll unknown: %v %v", all, err)
	}
}

// 5. Print forms: an order that is not ready is refused synchronously with
// 400 v2_entity_not_ready, which is transient (see also
// TestWaybillBeforeCreatedFails for the adapter).
func TestPrintNotReadyIsTransient(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{SettleDelay: func() time.Duration { return time.Hour }}, nil)
	reg, err := c.Submit(ctx(t), shipment("print"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Client().CreateWaybill(ctx(t), []string{reg.Reference}, 2)
	var ae *cdek.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !ae.Has(cdek.CodeEntityNotReady) {
		t.Fatalf("simulator: %v", err)
	}
	_, err = c.Waybill(ctx(t), reg)
	if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindTransient || ce.HTTPStatus != 400 {
		t.Errorf("waybill: %v", ce)
	}
	if srv.Calls()["GET /v2/print/orders/{uuid}"] != 0 {
		t.Error("polled a print form that was refused")
	}
}

// 6. ware_key and country code.
func TestWareKeyAndCountry(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	s := shipment("ware")
	s.Packages[0].Items[0].WareKey = "чайник~/ёмкость"
	s.Packages[0].Items[1].WareKey = "чайник~/ёмкость" // same article twice in one package
	s.PickupPoint = ""
	s.Address = &carriers.Address{City: "Москва", PostalCode: "101000", Street: "Тверская", House: "1"}
	req, err := c.BuildRequest(s)
	if err != nil {
		t.Fatal(err)
	}
	k0, k1 := req.Packages[0].Items[0].WareKey, req.Packages[0].Items[1].WareKey
	if k0 != "чайник-/емкость" || k1 != "чайник-/емкость-2" || req.ToLocation.CountryCode != "RU" {
		t.Errorf("keys %q %q country %q", k0, k1, req.ToLocation.CountryCode)
	}
	if err := submitAndWait(t, c, s); err != nil {
		t.Errorf("sanitised order refused: %v", err)
	}
	// The simulator refuses a ware_key with characters CDEK does not accept.
	req.Number = "A-ware-raw"
	req.Packages[0].Items[0].WareKey = "ключ~"
	_, err = c.Client().CreateOrder(ctx(t), req)
	var ae *cdek.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Error(), "ware_key") {
		t.Errorf("raw ware_key: %v", err)
	}
	_ = srv
}

// 7. Idempotent calls are retried inside the call, with the injected
// sleeper; a create never is.
func TestRetriesInsideTheCall(t *testing.T) {
	var sl sleeps
	srv, c := newEnv(t, cdektest.Options{}, func(cfg *cdek.Config) { cfg.Sleep = sl.sleep })
	if _, _, err := c.Find(ctx(t), shipment("warm")); err != nil { // token
		t.Fatal(err)
	}
	srv.FailNext(2, 502)
	if _, found, err := c.Find(ctx(t), shipment("r")); err != nil || found {
		t.Fatalf("lookup after two 502s: %v %v", found, err)
	}
	ds := sl.got()
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	if len(ds) != 2 || ds[0] < 200*time.Millisecond || ds[0] > 600*time.Millisecond || ds[1] < 600*time.Millisecond ||
		ds[1] > 1800*time.Millisecond || total > 3*time.Second {
		t.Errorf("waits %v (total %v)", ds, total)
	}
	srv.FailNext(3, 500)
	if _, _, err := c.Find(ctx(t), shipment("r")); carriers.KindOf(err) != carriers.KindTransient {
		t.Errorf("after 3 failures: %v", err)
	}
	if n := srv.Calls()["GET /v2/orders?im_number"]; n != 1+3+3 {
		t.Errorf("lookups %d, want 7", n)
	}
	srv.FailNext(1, 503)
	if _, err := c.Submit(ctx(t), shipment("r")); carriers.KindOf(err) != carriers.KindAmbiguous {
		t.Errorf("create after a 503: %v", err)
	}
	if n := srv.Calls()["POST /v2/orders"]; n != 1 {
		t.Errorf("create sent %d times", n)
	}
	// The token request too.
	srv2, c2 := newEnv(t, cdektest.Options{}, func(cfg *cdek.Config) { cfg.Sleep = sl.sleep })
	srv2.FailNextToken(1, 503)
	if _, _, err := c2.Find(ctx(t), shipment("tok")); err != nil {
		t.Errorf("token after a 503: %v", err)
	}
	if n := srv2.Calls()["POST /v2/oauth/token"]; n != 2 || srv2.TokensIssued() != 1 {
		t.Errorf("token calls %d issued %d", n, srv2.TokensIssued())
	}
}

// 8. A 2xx on create whose body carries errors instead of the order is an
// unknown outcome. Fixture: CDEK's request envelope ([SPEC]
// ResponseDtoRootEntityDto; reference §8.1) with v2_internal_error, no entity.
func TestCreate2xxWithErrorsIsAmbiguous(t *testing.T) {
	body := []byte(`{"requests":[{"request_uuid":"538aed98-3c14-4e2c-9ac0-7443f95a7da3","type":"CREATE","date_time":"2026-08-01T14:34:18+0000","state":"INVALID",` +
		`"errors":[{"code":"v2_internal_error","message":"Internal error"}]}],"related_entities":[]}`)
	for _, st := range []int{200, 202} {
		c := fakeCDEK(t, st, "application/json", body)
		_, err := c.Submit(ctx(t), shipment("amb"))
		if ce := carriertest.CheckError(t, c, err); ce.Kind != carriers.KindAmbiguous || ce.Code != "v2_internal_error" {
			t.Errorf("HTTP %d: %v", st, ce)
		}
	}
	// An unknown code in a synchronous refusal of a create: ambiguous too.
	c := fakeCDEK(t, 400, "application/json", []byte(`{"requests":[{"type":"CREATE","state":"INVALID","errors":[{"code":"v2_brand_new_code","message":"?"}]}]}`))
	if _, err := c.Submit(ctx(t), shipment("amb")); carriers.KindOf(err) != carriers.KindAmbiguous {
		t.Errorf("unknown code on create: %v", err)
	}
	if _, err := c.Registration(ctx(t), "72753031-7310-4448-b6fa-bf474772be48"); carriers.KindOf(err) != carriers.KindTransient {
		t.Errorf("unknown code on a read: %v", err)
	}
}

// 9. The identity mark and the recipient phone round-trip through CDEK.
func TestMarkAndPhoneRoundTrip(t *testing.T) {
	_, c := newEnv(t, cdektest.Options{}, nil)
	s := shipment("mark")
	s.Mark = "sb1-7f3a9c"
	s.Comment = strings.Repeat("Позвонить заранее. ", 20) // longer than CDEK's 255
	s.Recipient.Phone = "+79161234567"                    // normalised by the workflow (carriers.Contact.Phone)
	reg, err := c.Submit(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Mark != s.Mark || reg.RecipientPhone != "+79161234567" {
		t.Errorf("submit: %+v", reg)
	}
	done, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference)
	if err != nil {
		t.Fatal(err)
	}
	found, ok, err := c.Find(ctx(t), s)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, r := range []carriers.Registration{done, found} {
		if r.Mark != s.Mark || r.RecipientPhone != "+79161234567" || !carriers.Owns(s, r) {
			t.Errorf("read back: %+v", r)
		}
	}
	other := s
	other.Mark = "sb1-other"
	if carriers.Owns(other, found) {
		t.Error("another order's mark adopted")
	}
	resp, err := c.Client().GetOrder(ctx(t), reg.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(resp.Entity.Comment); n > 255 || !strings.HasPrefix(resp.Entity.Comment, "Позвонить заранее.") ||
		!strings.HasSuffix(resp.Entity.Comment, "[sb:sb1-7f3a9c]") {
		t.Errorf("comment (%d chars): %q", n, resp.Entity.Comment)
	}
	caps := carriers.Detect(c)
	if !caps.Idempotent || caps.FinderAll == nil || caps.Tracker == nil || caps.Checker == nil {
		t.Errorf("capabilities %+v", caps)
	}
	// The profile's waits are Timings, and a "not found" is trusted no sooner than the client does.
	if tm := cdek.Timings(); tm.FirstPollDelay <= 0 || tm.ReconcileGrace < cdek.DefaultNotFoundGrace {
		t.Errorf("timings %+v", tm)
	}
	if p := cdek.DefaultSettings().Profile(carriers.Shop{}); p.Timings != cdek.Timings() {
		t.Errorf("profile timings %+v, want cdek.Timings() %+v", p.Timings, cdek.Timings())
	}
}

// inflight counts concurrent order GETs.
type inflight struct {
	cur, max atomic.Int32
	mu       sync.Mutex
}

func (f *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v2/orders/") {
		n := f.cur.Add(1)
		f.mu.Lock()
		if n > f.max.Load() {
			f.max.Store(n)
		}
		f.mu.Unlock()
		defer f.cur.Add(-1)
		time.Sleep(5 * time.Millisecond)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// 10. Tracking through the simulator's statuses.
func TestTrack(t *testing.T) {
	fl := &inflight{}
	srv, c := newEnv(t, cdektest.Options{}, func(cfg *cdek.Config) {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Second, Transport: fl}
	})
	var regs []carriers.Registration
	for _, k := range []string{"t-del", "t-ret", "t-lost", "t-pick", "t-new"} {
		s := shipment(k)
		reg, err := c.Submit(ctx(t), s)
		if err != nil {
			t.Fatal(err)
		}
		done, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference)
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, done)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.SetStatus(regs[0].Reference, "RECEIVED_AT_SHIPMENT_WAREHOUSE", ""))
	must(srv.SetStatus(regs[0].Reference, "TAKEN_BY_COURIER", ""))
	got, err := c.Track(ctx(t), regs[:1])
	if err != nil || got[0].Status != carriers.TrackInTransit || got[0].Name != "Выдан на доставку" {
		t.Fatalf("in transit: %+v %v", got, err)
	}
	must(srv.SetStatus(regs[0].Reference, "DELIVERED", ""))
	must(srv.SetStatus(regs[1].Reference, "NOT_DELIVERED", "11"))
	must(srv.SetStatus(regs[2].Reference, "NOT_DELIVERED", "26"))
	must(srv.SetStatus(regs[3].Reference, "ACCEPTED_AT_PICK_UP_POINT", ""))
	unknown := carriers.Registration{Reference: "00000000-0000-4000-8000-000000000000"}
	got, err = c.Track(ctx(t), append(regs, unknown))
	if err != nil {
		t.Fatal(err)
	}
	want := []carriers.TrackStatus{carriers.TrackDelivered, carriers.TrackNotDelivered, carriers.TrackLost, carriers.TrackAtPickup,
		carriers.TrackAccepted, carriers.TrackUnknown}
	for i, w := range want {
		if got[i].Status != w || (w != carriers.TrackUnknown && (got[i].At.IsZero() || got[i].Name == "")) {
			t.Errorf("%d: %+v, want %s", i, got[i], w)
		}
	}
	if !got[0].Status.Final() || got[0].Code != "DELIVERED" || got[0].Name != "Вручен" {
		t.Errorf("delivered: %+v", got[0])
	}
	// The refused parcel comes back: its return order is delivered to us.
	if _, err := srv.ReturnToSender(regs[1].Reference); err != nil {
		t.Fatal(err)
	}
	got, err = c.Track(ctx(t), regs[1:2])
	if err != nil || got[0].Status != carriers.TrackReturned || !got[0].Status.Final() {
		t.Errorf("returned: %+v %v", got, err)
	}
	if m := fl.max.Load(); m < 1 || m > 4 {
		t.Errorf("concurrent order GETs: %d, want 1..4", m)
	}
}

// Tracking a «Вручен» CDEK revoked (deleted: true in the statuses): the
// parcel is where its newest live status puts it, not delivered; a revoked
// «Не вручен» does not start the return either.
func TestTrackRevokedFinalStatus(t *testing.T) {
	srv, c := newEnv(t, cdektest.Options{}, nil)
	var regs []carriers.Registration
	for _, k := range []string{"rv-del", "rv-nd"} {
		reg, err := c.Submit(ctx(t), shipment(k))
		if err != nil {
			t.Fatal(err)
		}
		done, err := carriertest.WaitRegistered(ctx(t), c, reg.Reference)
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, done)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.SetStatus(regs[0].Reference, "DELIVERED", ""))
	must(srv.SetStatus(regs[1].Reference, "NOT_DELIVERED", "11"))
	got, err := c.Track(ctx(t), regs)
	if err != nil || got[0].Status != carriers.TrackDelivered || got[1].Status != carriers.TrackNotDelivered {
		t.Fatalf("before the revocation: %+v %v", got, err)
	}
	must(srv.RevokeStatus(regs[0].Reference, "ACCEPTED_AT_PICK_UP_POINT"))
	must(srv.RevokeStatus(regs[1].Reference, "TAKEN_BY_COURIER"))
	got, err = c.Track(ctx(t), regs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status != carriers.TrackAtPickup || got[0].Code != "ACCEPTED_AT_PICK_UP_POINT" || got[0].Status.Final() {
		t.Errorf("revoked delivered: %+v", got[0])
	}
	if got[1].Status != carriers.TrackInTransit || got[1].Code != "TAKEN_BY_COURIER" {
		t.Errorf("revoked not delivered: %+v", got[1])
	}
	for _, reg := range regs {
		r, err := c.Registration(ctx(t), reg.Reference)
		if err != nil || r.Status == carriers.StatusDelivered || r.Status == carriers.StatusReturned {
			t.Errorf("registration after the revocation: %+v %v", r, err)
		}
	}
	// Revoked with nothing newer: back to the status before it.
	must(srv.SetStatus(regs[0].Reference, "DELIVERED", ""))
	must(srv.RevokeStatus(regs[0].Reference, ""))
	got, err = c.Track(ctx(t), regs[:1])
	if err != nil || got[0].Status != carriers.TrackAtPickup || got[0].Code != "ACCEPTED_AT_PICK_UP_POINT" {
		t.Errorf("revoked delivered, nothing newer: %+v %v", got, err)
	}
	if err := srv.RevokeStatus(regs[0].Reference, "DELIVERED"); err == nil {
		t.Error("revoked a status that is not final")
	}
}
