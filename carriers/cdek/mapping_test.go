package cdek

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testConfig() Config {
	return Config{
		BaseURL: "https://api.edu.cdek.ru", ClientID: "id", ClientSecret: "secret",
		// Door pick-up: «от двери» tariffs (138 дверь-склад, 139 дверь-дверь).
		TariffCode: 138, DoorTariffCode: 139,
		FromLocation: SenderLocation{Code: 44, PostalCode: "109044", City: "Москва", Address: "ул. Динамовская, 1А", CountryCode: "RU"},
		Sender:       Sender{Name: "Склад", Company: "ООО Ромашка", Phone: "8 (495) 123-45-67"},
	}
}

func doorShipment() carriers.Shipment {
	return carriers.Shipment{
		OrderID: "3f1c2a7e-0000-4000-8000-000000000001", OrderName: "00042", Attempt: 1,
		Recipient: carriers.Contact{Name: "Иван Петров", Phone: "8 916 123-45-67", Email: "ivan@example.com"},
		Address:   &carriers.Address{CountryCode: "ru", PostalCode: "630032", City: "Новосибирск", Street: "ул. Горская", House: "53", Apartment: "12"},
		Packages: []carriers.Package{{Number: "1", WeightG: 1250, LengthCM: 30, WidthCM: 20, HeightCM: 10, Items: []carriers.Item{
			{Name: "Чайник электрический", WareKey: "KT-100", Cost: 199000, Payment: 199000, WeightG: 1050, Amount: 1},
			{Name: "Кружка", WareKey: "MG-2", Cost: 25050, Payment: 0, WeightG: 100, Amount: 2},
		}}},
		Comment: "Позвонить за час",
		Mark:    "m1-3f1c2a7e-a1",
	}
}

func TestRequestGolden(t *testing.T) {
	c, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.BuildRequest(doorShipment())
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/order_request_golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request differs from %s:\n%s", golden, got)
	}
	// Spot checks that do not depend on the golden file.
	if req.TariffCode != 139 || req.ToLocation.Address != "ул. Горская, 53, кв. 12" || req.ToLocation.CountryCode != "RU" ||
		req.Recipient.Phones[0].Number != "+79161234567" || req.Sender.Phones[0].Number != "+74951234567" ||
		req.Packages[0].Items[1].Cost != 250.5 || req.Packages[0].Items[0].Payment.Value != 1990 || req.Number != "00042" {
		t.Errorf("mapping: %+v", req)
	}
}

func TestBuildRequestPickupAndTariff(t *testing.T) {
	cfg := testConfig()
	cfg.ShipmentPoint = "MSK65" // both sending points: the tariff picks one
	cfg.TariffCode, cfg.DoorTariffCode = 136, 137
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := doorShipment()
	s.Address = nil
	s.PickupPoint = " NSK23 "
	req, _ := c.BuildRequest(s)
	if req.TariffCode != 136 || req.DeliveryPoint != "NSK23" || req.ToLocation != nil || req.ShipmentPoint != "MSK65" || req.FromLocation != nil {
		t.Errorf("pickup mapping: %+v", req)
	}
	s.Tariff = "368"
	req, _ = c.BuildRequest(s)
	if req.TariffCode != 368 || req.ShipmentPoint != "MSK65" || req.FromLocation != nil {
		t.Errorf("tariff override: %+v", req)
	}
	s.Tariff = "138" // дверь-склад: the parcel is collected at from_location
	req, _ = c.BuildRequest(s)
	if req.TariffCode != 138 || req.ShipmentPoint != "" || req.FromLocation == nil || req.FromLocation.Code != 44 || req.FromLocation.CountryCode != "RU" {
		t.Errorf("door tariff override: %+v", req)
	}
	s.Address = &carriers.Address{City: "Москва", Text: "Москва, Тверская 1"}
	s.PickupPoint = ""
	s.Tariff = ""
	req, _ = c.BuildRequest(s)
	if req.ToLocation.Address != "Москва, Тверская 1" || req.TariffCode != 137 {
		t.Errorf("free-text address: %+v", req.ToLocation)
	}
}

func TestNumber(t *testing.T) {
	c, _ := New(testConfig())
	cases := []struct {
		name, id string
		attempt  int
		want     string
	}{
		{"00042", "x", 1, "00042"},
		{"00042", "x", 0, "00042"},
		{"00042", "x", 2, "00042-2"},
		{"00042", "x", 3, "00042-3"},
	}
	for _, tc := range cases {
		if got := c.Number(carriers.Shipment{OrderName: tc.name, OrderID: tc.id, Attempt: tc.attempt}); got != tc.want {
			t.Errorf("Number(%q, %d) = %q, want %q", tc.name, tc.attempt, got, tc.want)
		}
	}
	long := strings.Repeat("9", 29)
	for _, s := range []carriers.Shipment{
		{OrderName: "Заказ 42", OrderID: "id-1"},
		{OrderName: "with space", OrderID: "id-1"},
		{OrderName: strings.Repeat("A", 31), OrderID: "id-1"},
		{OrderName: long, OrderID: "id-1", Attempt: 2},
	} {
		n := c.Number(s)
		if !strings.HasPrefix(n, "SB-") || len(n) > MaxNumberLen || n != c.Number(s) {
			t.Errorf("Number(%q) = %q", s.OrderName, n)
		}
	}
	a := c.Number(carriers.Shipment{OrderName: "Заказ", OrderID: "id-1"})
	b := c.Number(carriers.Shipment{OrderName: "Заказ", OrderID: "id-2"})
	a2 := c.Number(carriers.Shipment{OrderName: "Заказ", OrderID: "id-1", Attempt: 2})
	if a == b || a2 != a+"-2" {
		t.Errorf("hashed numbers: %q %q %q", a, b, a2)
	}
	if n := c.Number(carriers.Shipment{OrderName: long, OrderID: "id-1"}); n != long {
		t.Errorf("29 chars kept: %q", n)
	}
}

func TestValidate(t *testing.T) {
	c, _ := New(testConfig())
	if ps := c.Validate(doorShipment()); len(ps) != 0 {
		t.Fatalf("good shipment: %+v", ps)
	}
	bad := carriers.Shipment{
		Recipient: carriers.Contact{Name: "", Phone: "позвонить"},
		Address:   &carriers.Address{Street: "Ленина", House: "1"},
		Tariff:    "быстрый",
		Packages:  []carriers.Package{{WeightG: 0, Items: []carriers.Item{{Name: "", Amount: 0}}}, {WeightG: 10}},
	}
	fields := map[string]bool{}
	for _, p := range c.Validate(bad) {
		fields[p.Field] = true
		if p.Message == "" {
			t.Errorf("empty message for %s", p.Field)
		}
	}
	for _, f := range []string{"recipient.name", "recipient.phone", "address.city", "tariff", "packages[0].weight",
		"packages[0].items[0].name", "packages[0].items[0].amount", "packages[1].items"} {
		if !fields[f] {
			t.Errorf("no problem for %s (got %v)", f, fields)
		}
	}
	none := carriers.Shipment{Recipient: carriers.Contact{Name: "12345", Phone: "+79161234567"}}
	fields = map[string]bool{}
	for _, p := range c.Validate(none) {
		fields[p.Field] = true
	}
	if !fields["address"] || !fields["packages"] || !fields["recipient.name"] {
		t.Errorf("empty shipment problems: %v", fields)
	}
}

func TestNewConfigChecks(t *testing.T) {
	cfg := testConfig()
	cfg.FromLocation = SenderLocation{}
	if _, err := New(cfg); err == nil {
		t.Error("no shipment point nor from location accepted")
	}
	cfg = testConfig()
	cfg.ClientSecret = ""
	if _, err := New(cfg); err == nil {
		t.Error("missing secret accepted")
	}
	cfg = testConfig()
	cfg.ClientSecret = "s3cr3t-value"
	for _, s := range []string{cfg.String(), cfg.GoString()} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Errorf("secret in %q", s)
		}
	}
}

func TestTolerantDecoding(t *testing.T) {
	for _, s := range []string{"2026-08-01T14:34:18+0000", "2026-08-01T14:34:18Z", "2026-08-01T14:34:18.123456Z",
		"2026-08-01T17:34:18+03:00", "2026-08-01T21:34:18+0700"} {
		v, err := ParseTime(s)
		if err != nil || !v.Truncate(time.Second).Equal(time.Date(2026, 8, 1, 14, 34, 18, 0, time.UTC)) {
			t.Errorf("ParseTime(%q) = %v, %v", s, v, err)
		}
	}
	var o struct {
		N1 String `json:"n1"`
		N2 String `json:"n2"`
		I  Int    `json:"i"`
		F  Float  `json:"f"`
		T  Time   `json:"t"`
	}
	if err := json.Unmarshal([]byte(`{"n1":1100000001,"n2":"1100000002","i":"7","f":"12.5","t":null}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.N1 != "1100000001" || o.N2 != "1100000002" || o.I != 7 || o.F != 12.5 || !o.T.IsZero() {
		t.Errorf("decoded %+v", o)
	}
	var r OrderResponse
	if err := json.Unmarshal([]byte(`{"entity":{"uuid":"u","statuses":[]},"requests":[{"type":"CREATE_REFUSAL","state":"ACCEPTED","date_time":"2026-01-01T00:00:00+0000","extra":{"x":1}}],"unknown":[1]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Requests[0].Type != "CREATE_REFUSAL" {
		t.Errorf("request type %q", r.Requests[0].Type)
	}
}

func TestStatusMap(t *testing.T) {
	for code, want := range map[string]carriers.Status{
		"ACCEPTED": carriers.StatusPending, "CREATED": carriers.StatusRegistered, "REMOVED": carriers.StatusCancelled,
		"DELIVERED": carriers.StatusDelivered, "NOT_DELIVERED": carriers.StatusReturned, "TAKEN_BY_COURIER": carriers.StatusInTransit,
		"INVALID": carriers.StatusRejected, "SOMETHING_NEW": carriers.StatusUnknown,
	} {
		if got := MapStatus(code); got != want {
			t.Errorf("MapStatus(%s) = %s, want %s", code, got, want)
		}
	}
}

func TestDownloadURLRefusesForeignHost(t *testing.T) {
	c, _ := NewClient(Config{BaseURL: "https://api.edu.cdek.ru", ClientID: "a", ClientSecret: "b"})
	if _, err := c.downloadURL("https://evil.example.com/v2/print/orders/x.pdf"); err == nil {
		t.Error("token would be sent to a foreign host")
	}
	u, err := c.downloadURL("http://api.edu.cdek.ru/v2/print/orders/x.pdf")
	if err != nil || u.Scheme != "https" {
		t.Errorf("http link not upgraded: %v %v", u, err)
	}
	u, err = c.downloadURL("/v2/print/orders/x.pdf")
	if err != nil || u.String() != "https://api.edu.cdek.ru/v2/print/orders/x.pdf" {
		t.Errorf("relative link: %v %v", u, err)
	}
}

// TestMoneyVATAndDeliveryCharge: items carry the position's VAT in payment
// (vat_rate and vat_sum, [SPEC] MoneyDto), the delivery charge travels as
// delivery_recipient_cost, and a rate CDEK no longer takes (20 % after
// 01.01.2026) is a problem for the manager before anything is sent.
func TestMoneyVATAndDeliveryCharge(t *testing.T) {
	c, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := doorShipment()
	s.Packages[0].Items[0].VAT = carriers.VAT{Enabled: true, Rate: 22}
	s.DeliveryCharge, s.DeliveryVAT = 35000, carriers.VAT{Enabled: true, Rate: 22}
	req, err := c.BuildRequest(s)
	if err != nil {
		t.Fatal(err)
	}
	p := req.Packages[0].Items[0].Payment
	// 1990 ₽ with 22 % inside: 1990 × 22 / 122 = 358.85 ₽.
	if p.VatRate == nil || *p.VatRate != 22 || p.VatSum == nil || *p.VatSum != 358.85 {
		t.Errorf("item payment = %+v", p)
	}
	if q := req.Packages[0].Items[1].Payment; q.VatRate != nil || q.VatSum != nil {
		t.Errorf("an item without VAT must send vat_rate null: %+v", q)
	}
	d := req.DeliveryRecipientCost
	// 350 ₽ with 22 % inside: 63.11 ₽.
	if d == nil || d.Value != 350 || d.VatRate == nil || *d.VatRate != 22 || *d.VatSum != 63.11 {
		t.Errorf("delivery_recipient_cost = %+v", d)
	}
	s.DeliveryCharge = 0
	if req, _ := c.BuildRequest(s); req.DeliveryRecipientCost != nil {
		t.Error("no delivery charge must send no delivery_recipient_cost")
	}
	s.Packages[0].Items[0].VAT.Rate = 20
	ps := c.Validate(s)
	found := false
	for _, p := range ps {
		if p.Field == "packages[0].items[0].vat" && strings.Contains(p.Message, "20%") {
			found = true
		}
	}
	if !found {
		t.Errorf("a 20 %% VAT rate passed validation: %+v", ps)
	}
}
