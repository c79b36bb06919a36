package pochta

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixed serves one body for every request and checks the two
// authorization headers on each.
func fixed(t *testing.T, status int, contentType string, body []byte) (*Client, *http.Request) {
	t.Helper()
	var last http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = *r
		if r.Header.Get("Authorization") != "AccessToken tok-123" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user@example.com:p@ss:word"))
		if r.Header.Get("X-User-Authorization") != want {
			t.Errorf("X-User-Authorization = %q, want %q", r.Header.Get("X-User-Authorization"), want)
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	cl, err := NewClient(Config{BaseURL: ts.URL, Token: "tok-123", Login: "user@example.com", Password: "p@ss:word"})
	if err != nil {
		t.Fatal(err)
	}
	return cl, &last
}

func TestSampleCreateV2(t *testing.T) {
	cl, req := fixed(t, 200, "application/json;charset=UTF-8", sample(t, "order_create_v2_200.reconstructed.json"))
	resp, err := cl.CreateOrders(context.Background(), []OrderRequest{{OrderNum: "3"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPut || req.URL.Path != "/2.0/user/backlog" {
		t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if len(resp.Orders) != 1 || len(resp.Errors) != 0 {
		t.Fatalf("resp = %+v", resp)
	}
	o := resp.Orders[0]
	if o.ResultID != 310115153 || o.Barcode != "80093053624992" || o.OrderNum != "3" {
		t.Errorf("order = %+v", o)
	}
}

func TestSampleCreateErrorsIn200(t *testing.T) {
	body := sample(t, "order_create_errors_200.json")
	cl, _ := fixed(t, 200, "application/json", body)
	resp, err := cl.CreateOrders(context.Background(), []OrderRequest{{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Orders) != 0 || len(resp.Errors) != 1 || resp.Errors[0].Position != 0 {
		t.Fatalf("resp = %+v", resp)
	}
	items := resp.Errors[0].Items
	want := []string{"ILLEGAL_MAIL_CATEGORY", "EMPTY_POSTOFFICE_CODE", "ILLEGAL_RECIPIENT_NAME", "EMPTY_REGION_TO", "EMPTY_PLACE_TO", "EMPTY_MASS"}
	if len(items) != len(want) {
		t.Fatalf("items = %+v", items)
	}
	for i, w := range want {
		if items[i].Code != w || items[i].Position != 0 {
			t.Errorf("item %d = %+v, want %s", i, items[i], w)
		}
	}
	if items[1].Details != "102961 117042 142300" || items[3].Description != "Регион не заполнен" || items[0].Details != "ORDINARY" {
		t.Errorf("details/descriptions: %+v", items)
	}
	// Through the adapter: a rejection in HTTP 200, every code reported.
	c := newCarrierAt(t, cl.base.String())
	_, err = c.Submit(context.Background(), goodShipment("s-1"))
	var ce *carriers.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Submit err = %v", err)
	}
	if ce.HTTPStatus != 200 || ce.Kind != carriers.KindConfig {
		t.Errorf("kind %v status %d, want config in HTTP 200 (EMPTY_POSTOFFICE_CODE is the account's setting)", ce.Kind, ce.HTTPStatus)
	}
	for _, w := range want {
		if !strings.Contains(ce.Code, w) || !strings.Contains(ce.Message, w) {
			t.Errorf("code %q / message %q lacks %s", ce.Code, ce.Message, w)
		}
	}
	if !strings.Contains(ce.Message, "Масса не указана") || !strings.Contains(ce.Message, "допустимые индексы: 102961 117042 142300") {
		t.Errorf("message = %q", ce.Message)
	}
}

func TestSampleNotFound1001(t *testing.T) {
	for _, status := range []int{404, 400, 200} { // the HTTP status was not recorded
		cl, req := fixed(t, status, "application/json", sample(t, "error_1001_resource_not_found.json"))
		_, err := cl.GetBacklogOrder(context.Background(), 123)
		if !IsNotFound(err) {
			t.Fatalf("status %d: err = %v, want not found", status, err)
		}
		if req.URL.Path != "/1.0/backlog/123" {
			t.Errorf("path %s", req.URL.Path)
		}
		var ae *APIError
		errors.As(err, &ae)
		if ae.Items[0].Code != "1001" || ae.Items[0].SubCode != "RESOURCE_NOT_FOUND" || ae.Items[0].Description != "Instance ComplexOrderV2 not found for params: 123" {
			t.Errorf("items = %+v", ae.Items)
		}
	}
}

func TestSampleNotFoundEnvelopeB(t *testing.T) {
	cl, req := fixed(t, 200, "application/json", sample(t, "error_not_found_error_code.json"))
	res, err := cl.DeleteBacklog(context.Background(), []int64{42})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodDelete || req.URL.Path != "/1.0/backlog" {
		t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if len(res.ResultIDs) != 0 || len(res.Errors) != 1 || res.Errors[0].Code != "NOT_FOUND" || res.Errors[0].Position != 0 {
		t.Errorf("res = %+v", res)
	}
}

func TestSampleCheckinEnvelopeC(t *testing.T) {
	items := ParseErrors(sample(t, "checkin_offline_balance_forbidden.json"))
	if len(items) != 1 || items[0].Code != "OFFLINE_BALANCE_FORBIDDEN" || items[0].Position != -1 {
		t.Fatalf("items = %+v", items)
	}
	if kindOf(items) != carriers.KindConfig {
		t.Errorf("kind = %v, want config", kindOf(items))
	}
	env, _ := parseEnvelope(sample(t, "checkin_offline_balance_forbidden.json"))
	if env.F103Sent == nil || bool(*env.F103Sent) {
		t.Errorf("f103-sent = %v", env.F103Sent)
	}
}

func TestSampleBacklogSearch(t *testing.T) {
	cl, req := fixed(t, 200, "application/json", sample(t, "backlog_search_200.reconstructed.json"))
	orders, err := cl.SearchBacklog(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/1.0/backlog/search" || req.URL.Query().Get("query") != "1" {
		t.Errorf("request %s", req.URL)
	}
	if len(orders) != 1 {
		t.Fatalf("orders = %+v", orders)
	}
	o := orders[0]
	if o.ID != 115322331 || o.Barcode != "80082240994512" || o.OrderNum != "1" || o.MailType != "POSTAL_PARCEL" ||
		o.MailCategory != "ORDINARY" || o.Mass != 1000 || o.IndexTo != 115551 || o.RegionTo != "Москва" ||
		o.StreetTo != "Каширское шоссе" || o.HouseTo != "92" || o.RoomTo != "1" || o.RecipientName != "Иванов Иван" ||
		o.Surname != "Иванов" || o.GivenName != "Иван" || o.PostofficeCode != "109012" || o.TotalRateWoVAT != 16500 ||
		o.TotalVAT != 3300 || o.IsDeleted || o.BatchName != "" {
		t.Errorf("order = %+v", o)
	}
	reg := registrationFrom(o, "")
	if reg.Reference != "115322331" || reg.TrackingNumber != "80082240994512" || reg.Status != carriers.StatusRegistered || reg.CarrierStatus != "NEW" {
		t.Errorf("registration = %+v", reg)
	}
}

func TestSampleShipmentSearch(t *testing.T) {
	cl, req := fixed(t, 200, "application/json", sample(t, "shipment_search_200.reconstructed.json"))
	orders, err := cl.SearchShipments(context.Background(), "80083740712514")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/1.0/shipment/search" {
		t.Errorf("path %s", req.URL.Path)
	}
	if len(orders) != 1 {
		t.Fatalf("orders = %+v", orders)
	}
	o := orders[0]
	if o.ID != 115527611 || o.Barcode != "80083740712514" || o.OrderNum != "223" || o.BatchName != "24" ||
		o.BatchStatus != "CREATED" || o.BatchCategory != "COMBINED" || o.LastOperType != "" {
		t.Errorf("order = %+v", o)
	}
	tr := trackingFrom("115527611", o)
	if tr.Status != carriers.TrackAccepted || tr.Code != "BATCH_CREATED" || tr.Name != "Партия создана" {
		t.Errorf("tracking = %+v", tr)
	}
	reg := registrationFrom(o, "2019-09-20")
	d := readData(reg.CarrierData)
	if d.ID != 115527611 || d.Batch != "24" || d.BatchDate != "2019-09-20" || reg.CarrierStatus != "CREATED" || reg.Status != carriers.StatusRegistered {
		t.Errorf("registration = %+v data %+v", reg, d)
	}
}

func TestSampleBatchCreate(t *testing.T) {
	cl, req := fixed(t, 200, "application/json", sample(t, "batch_create_200.reconstructed.json"))
	res, err := cl.CreateBatch(context.Background(), []int64{115527611}, time.Date(2019, 9, 20, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/1.0/user/shipment" || req.URL.Query().Get("sending-date") != "2019-09-20" {
		t.Errorf("request %s %s", req.Method, req.URL)
	}
	if len(res.Batches) != 1 || len(res.ResultIDs) != 1 || res.ResultIDs[0] != 115527611 || len(res.Errors) != 0 {
		t.Fatalf("res = %+v", res)
	}
	b := res.Batches[0]
	if b.Name != "24" || b.Status != "CREATED" || b.ListNumberDate != "2019-09-20" || b.MailType != "COMBINED" ||
		b.MailCategory != "COMBINED" || len(b.CombinedBatchMailTypes) != 1 || b.CombinedBatchMailTypes[0] != "POSTAL_PARCEL" ||
		b.PostofficeCode != "109012" || b.ShipmentCount != 1 || b.StatusDate != "2019-09-03T11:37:17.589Z" {
		t.Errorf("batch = %+v", b)
	}
	c := &Carrier{cfg: Config{PostofficeCode: "109012"}}
	if !c.matchBatch(b, "2019-09-20", "POSTAL_PARCEL", "ORDINARY") {
		t.Error("the COMBINED batch of the day should take a POSTAL_PARCEL order")
	}
	if c.matchBatch(b, "2019-09-21", "POSTAL_PARCEL", "ORDINARY") || c.matchBatch(b, "2019-09-20", "EMS", "ORDINARY") {
		t.Error("a batch of another day or mail type must not match")
	}
	c.cfg.PostofficeCode = "101000"
	if c.matchBatch(b, "2019-09-20", "POSTAL_PARCEL", "ORDINARY") {
		t.Error("a batch of another office must not match")
	}
}
