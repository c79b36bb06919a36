package cdek

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readSample(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSamplesAllCovered fails when a sample is added to testdata without a
// decoding test below.
func TestSamplesAllCovered(t *testing.T) {
	covered := map[string]bool{
		"oauth_token_200.json": true, "order_create_request_type2.json": true, "order_create_202.json": true,
		"order_create_400_invalid.json": true, "order_get_accepted_pending_200.json": true,
		"order_get_successful_200.json": true, "order_delete_202.json": true, "print_orders_get_ready_200.json": true,
		"print_barcodes_get_ready_200.json": true, "webhook_order_status.json": true, "webhook_print_form.json": true,
		"error_404_entity_not_found.json": true, "error_400_toplevel_errors.json": true,
		"order_request_golden.json": true,
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 13 {
		t.Fatalf("only %d samples in testdata", len(files))
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("sample %s has no decoding test", f)
		}
	}
	src, err := os.ReadFile("testdata/SOURCES.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range covered {
		if !strings.Contains(string(src), "`"+name+"`") {
			t.Errorf("SOURCES.md does not mention %s", name)
		}
	}
}

func TestSampleToken(t *testing.T) {
	var tok TokenResponse
	readSample(t, "oauth_token_200.json", &tok)
	if tok.AccessToken != "fixture.jwt.token" || tok.TokenType != "bearer" || tok.ExpiresIn != 3599 ||
		tok.Scope != "location:all order:all payment:all" || tok.JTI != "00000000-0000-4000-8000-000000000000" {
		t.Errorf("token = %+v", tok)
	}
	if strings.Contains(tok.String(), "fixture.jwt.token") {
		t.Error("String() leaks the token")
	}
}

func TestSampleCreateRequestType2(t *testing.T) {
	var r OrderRequest
	readSample(t, "order_create_request_type2.json", &r)
	if r.Type != 2 || r.Number != "" || r.TariffCode != 480 || r.Comment != "Test order" || r.ShipmentPoint != "" {
		t.Errorf("top level = %+v", r)
	}
	if r.FromLocation == nil || r.FromLocation.City != "Москва" || r.FromLocation.Address != "Русаковская улица, 31" ||
		r.FromLocation.Longitude != 37.678685 || r.FromLocation.Latitude != 55.788576 {
		t.Errorf("from_location = %+v", r.FromLocation)
	}
	if r.ToLocation == nil || r.ToLocation.Address != "Русаковская улица, 26к1" {
		t.Errorf("to_location = %+v", r.ToLocation)
	}
	if len(r.Packages) != 1 || r.Packages[0].Weight != 1000 || r.Packages[0].Length != 10 || r.Packages[0].Comment != "Test" {
		t.Errorf("packages = %+v", r.Packages)
	}
	if r.Sender == nil || r.Sender.Name != "Basilio" || r.Sender.Company != "Burattino" || r.Sender.Phones[0].Number != "+71234567890" {
		t.Errorf("sender = %+v", r.Sender)
	}
	if r.Recipient.Name != "Alice" || r.Recipient.Email != "alice@example.com" || r.Recipient.Phones[0].Number != "+79876543210" {
		t.Errorf("recipient = %+v", r.Recipient)
	}
}

func TestSampleCreate202(t *testing.T) {
	var r EntityResponse
	readSample(t, "order_create_202.json", &r)
	if r.UUID() != "11111111-1111-4111-8111-111111111111" || len(r.Requests) != 1 || len(r.RelatedEntities) != 0 {
		t.Fatalf("response = %+v", r)
	}
	q := r.Requests[0]
	if q.Type != "CREATE" || q.State != StateAccepted || q.RequestUUID != "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1" ||
		!q.DateTime.Equal(time.Date(2026, 8, 1, 14, 34, 18, 0, time.UTC)) {
		t.Errorf("request = %+v", q)
	}
}

func TestSampleCreate400Invalid(t *testing.T) {
	data, err := os.ReadFile("testdata/order_create_400_invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newAPIError("POST", "/v2/orders", 400, data)
	if got := strings.Join(e.Codes(), ","); got != "v2_field_is_empty,v2_field_is_empty" {
		t.Errorf("codes = %s", got)
	}
	if e.Items[0].Message != "[shipment_point] is empty" || e.Items[1].Message != "[from_location] is empty" {
		t.Errorf("items = %+v", e.Items)
	}
	if e.NotFound() || e.tokenRefused() {
		t.Error("misclassified")
	}
	if m := russianAll(e.Items, "X"); !strings.Contains(m, "shipment_point") || !strings.Contains(m, "from_location") {
		t.Errorf("russian = %q", m)
	}
	var r EntityResponse
	readSample(t, "order_create_400_invalid.json", &r)
	if r.UUID() != "" || r.Requests[0].State != StateInvalid || !r.Requests[0].DateTime.Equal(mustTime(t, "2026-07-06T07:36:06Z")) {
		t.Errorf("envelope = %+v", r)
	}
}

func TestSampleOrderAcceptedPending(t *testing.T) {
	var r OrderResponse
	readSample(t, "order_get_accepted_pending_200.json", &r)
	e := r.Entity
	if e.UUID != "4336f0b2-ad33-41b4-a3cd-760e3b678e8a" || e.Type != 1 || e.TariffCode != 139 || e.CDEKNumber != "" ||
		e.Number != "991cd44b-de7b-4289-b7cd-f551aedc8324" {
		t.Errorf("entity = %+v", e)
	}
	if e.ToLocation.Code != 270 || e.ToLocation.City != "Новосибирск" || e.FromLocation.Code != 44 {
		t.Errorf("locations %+v %+v", e.FromLocation, e.ToLocation)
	}
	p := e.Packages[0]
	if p.Number != "bar-001" || p.Weight != 4000 || p.Width != 0 /* masked "***" */ || p.Items[0].Amount != 2 ||
		p.Items[0].Cost != 300 || p.Items[0].Payment.Value != 3000 || p.Items[0].Weight != 700 || p.Items[0].WareKey != "***" {
		t.Errorf("package = %+v", p)
	}
	st, _ := e.LatestStatus()
	if st.Code != "ACCEPTED" || !st.DateTime.Equal(time.Date(2025, 12, 8, 4, 29, 56, 0, time.UTC)) {
		t.Errorf("status = %+v", st)
	}
	c := &Carrier{cfg: Config{}.withDefaults(), submitted: map[string]time.Time{}}
	reg, err := c.registrationFrom(r)
	if err != nil || reg.Status != "pending" || reg.TrackingNumber != "" || reg.CarrierStatus != "ACCEPTED" {
		t.Errorf("registration = %+v, %v", reg, err)
	}
}

func TestSampleOrderSuccessful(t *testing.T) {
	var r OrderResponse
	readSample(t, "order_get_successful_200.json", &r)
	e := r.Entity
	if e.CDEKNumber != "1100000001" || e.Number != "fixture-order-1" || e.DeliveryPoint != "NSK23" || e.ShipmentPoint != "MSK65" ||
		e.DeliveryMode != "4" || e.TariffCode != 136 {
		t.Errorf("entity = %+v", e)
	}
	if e.DeliveryDetail.TotalSum != 708.9 || e.DeliveryDetail.DeliverySum != 590 {
		t.Errorf("delivery detail = %+v", e.DeliveryDetail)
	}
	if e.Services[0].Code != "INSURANCE" || e.Services[0].Parameter != "100.00" {
		t.Errorf("services = %+v", e.Services)
	}
	if e.Packages[0].Barcode != "1100000001" || e.Packages[0].WeightCalc != 200 || e.Packages[0].Items[0].Name != "Тестовый товар" {
		t.Errorf("package = %+v", e.Packages[0])
	}
	st, _ := e.LatestStatus()
	if st.Code != "CREATED" || st.Name != "Создан" {
		t.Errorf("latest status = %+v", st)
	}
	c := &Carrier{cfg: Config{}.withDefaults(), submitted: map[string]time.Time{}}
	reg, err := c.registrationFrom(r)
	if err != nil || reg.Status != "registered" || reg.TrackingNumber != "1100000001" || reg.Number != "fixture-order-1" ||
		reg.Reference != "11111111-1111-4111-8111-111111111111" || !reg.Done() {
		t.Errorf("registration = %+v, %v", reg, err)
	}
}

func TestSampleDelete202(t *testing.T) {
	var r EntityResponse
	readSample(t, "order_delete_202.json", &r)
	q, ok := LatestRequest(r.Requests, "DELETE")
	if r.UUID() != "11111111-1111-4111-8111-111111111111" || !ok || q.State != StateAccepted || q.RequestUUID != "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa2" {
		t.Errorf("delete = %+v", r)
	}
}

func TestSamplePrintForms(t *testing.T) {
	var w PrintResponse
	readSample(t, "print_orders_get_ready_200.json", &w)
	if w.Entity.UUID != "33333333-3333-4333-8333-333333333333" || w.Entity.CopyCount != 2 || w.Entity.LatestStatus() != "READY" ||
		w.Entity.URL != "https://api.edu.cdek.ru/v2/print/orders/33333333-3333-4333-8333-333333333333.pdf" ||
		w.Entity.Orders[0].OrderUUID != "11111111-1111-4111-8111-111111111111" || w.Requests[0].State != StateSuccessful {
		t.Errorf("waybill = %+v", w.Entity)
	}
	var b PrintResponse
	readSample(t, "print_barcodes_get_ready_200.json", &b)
	if b.Entity.Format != "A6" || b.Entity.Lang != "RUS" || b.Entity.CopyCount != 1 || b.Entity.LatestStatus() != "READY" ||
		!strings.HasSuffix(b.Entity.URL, "/v2/print/barcodes/44444444-4444-4444-8444-444444444444.pdf") {
		t.Errorf("barcode = %+v", b.Entity)
	}
}

func TestSampleWebhooks(t *testing.T) {
	var st WebhookEvent
	readSample(t, "webhook_order_status.json", &st)
	a := st.Attributes
	if st.Type != "ORDER_STATUS" || st.UUID != "72753031-1820-4f99-9240-aab139f05ca5" || a.CDEKNumber != "1100285492" ||
		a.Number != "17011574744791" || a.Code != "RECEIVED_AT_SHIPMENT_WAREHOUSE" || a.StatusCode != "3" ||
		a.CityCode != "270" || a.CityName != "Новосибирск" || !a.StatusDateTime.Equal(time.Date(2023, 11, 28, 7, 44, 45, 0, time.UTC)) {
		t.Errorf("order status webhook = %+v", st)
	}
	if MapStatus(a.Code) != "in_transit" {
		t.Errorf("status %s maps to %s", a.Code, MapStatus(a.Code))
	}
	var pf WebhookEvent
	readSample(t, "webhook_print_form.json", &pf)
	if pf.Type != "PRINT_FORM" || pf.Attributes.Type != "BARCODE" || !strings.HasPrefix(pf.Attributes.URL, "http://api.cdek.ru/") {
		t.Errorf("print form webhook = %+v", pf)
	}
	c, err := NewClient(Config{BaseURL: "https://api.cdek.ru", ClientID: "a", ClientSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.downloadURL(pf.Attributes.URL)
	if err != nil || u.String() != "https://api.cdek.ru/v2/print/barcodes/72753031-e1f1-4fc8-97ee-d58a010b6a67.pdf" {
		t.Errorf("normalised URL = %v, %v", u, err)
	}
}

func TestSampleErrors(t *testing.T) {
	data, _ := os.ReadFile("testdata/error_404_entity_not_found.json")
	e := newAPIError("DELETE", "/v2/webhooks/{uuid}", 404, data)
	if !e.NotFound() || !e.Has("v2_entity_not_found") || !strings.Contains(e.Items[0].Message, "55555555-5555-4555-8555-555555555555") {
		t.Errorf("404 = %+v", e)
	}
	e400 := newAPIError("DELETE", "/v2/orders/{uuid}", 400, data)
	if !e400.NotFound() {
		t.Error("400 with v2_entity_not_found is not-found")
	}
	data, _ = os.ReadFile("testdata/error_400_toplevel_errors.json")
	top := newAPIError("GET", "/v2/location/regions", 400, data)
	if len(top.Items) != 1 || top.Items[0].Code != "v2_field_is_empty" || top.Items[0].Message != "[size] is empty" || top.NotFound() {
		t.Errorf("top-level = %+v", top)
	}
	junk := newAPIError("GET", "/v2/orders", 502, []byte("<html>Bad gateway</html>"))
	if len(junk.Items) != 0 || !strings.Contains(junk.Error(), "Bad gateway") {
		t.Errorf("junk = %v", junk)
	}
}
