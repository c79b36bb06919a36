package moysklad_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// The docs' customerorder sample gives the address's country and region as
// bare references; ResolveAddress reads them (the simulator serves the
// entities in the docs' shape), each once per client.
func TestResolveAddressReadsCountryAndRegion(t *testing.T) {
	var list struct {
		Rows []moysklad.Order `json:"rows"`
	}
	readSample(t, "customerorder_list.doc.json", &list)
	a := list.Rows[0].ShipmentAddressFull
	if !a.Unresolved() || a.Country != "" || a.CountryCode != "" || a.Region != "" {
		t.Fatalf("sample address decoded as resolved: %+v", a)
	}
	s := moyskladtest.NewServer(moyskladtest.Options{})
	defer s.Close()
	c := newClient(t, s, nil)
	// The sample's hrefs point at the real service: take the ids only, as
	// the client does.
	if err := c.ResolveAddress(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if a.Country != "Россия" || a.CountryCode != "643" || a.CountryExternalCode != "643" || a.Region != "г Москва" || a.RegionCode != "77" || a.Unresolved() {
		t.Errorf("resolved: %+v", a)
	}
	if n := s.PlaceRequests(); n != 2 {
		t.Errorf("%d place requests, want 2", n)
	}
	// Another address with the same references: from the cache.
	var b moysklad.Address
	raw, _ := json.Marshal(list.Rows[0].ShipmentAddressFull)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	b.Country, b.CountryCode, b.CountryExternalCode, b.Region = "", "", "", ""
	if !b.Unresolved() {
		t.Fatalf("copy is resolved: %+v", b)
	}
	if err := c.ResolveAddress(context.Background(), &b); err != nil || b.CountryCode != "643" || b.Region != "г Москва" {
		t.Errorf("cached: %+v %v", b, err)
	}
	if n := s.PlaceRequests(); n != 2 {
		t.Errorf("%d place requests after a cached resolve, want 2", n)
	}
}

// A foreign order of the simulator: its address refers to Kazakhstan; an
// unknown reference is an error (not found), not a silent default.
func TestResolveAddressForeignAndMissing(t *testing.T) {
	s := moyskladtest.NewServer(moyskladtest.Options{})
	defer s.Close()
	moyskladtest.Seed(s)
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+7 916 123-45-67"})
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "KZ-1", AgentID: agent, StateName: "Новый",
		ShipmentAddressFull: &moysklad.Address{PostalCode: "050000", Country: "Казахстан", City: "Алматы", Street: "пр. Абая", House: "10"}})
	c := newClient(t, s, nil)
	o, err := c.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	a := o.ShipmentAddressFull
	if a == nil || a.CountryMeta == nil || a.CountryMeta.Type != "country" || a.Country != "" || a.RegionMeta != nil {
		t.Fatalf("rendered address: %+v", a)
	}
	if err := c.ResolveAddress(context.Background(), a); err != nil || a.Country != "Казахстан" || a.CountryCode != "398" {
		t.Errorf("resolved: %+v %v", a, err)
	}
	missing := &moysklad.Address{CountryMeta: &moysklad.Meta{Href: s.URL() + "/api/remap/1.2/entity/country/00000000-0000-4000-8000-000000000999", Type: "country"}}
	if err := c.ResolveAddress(context.Background(), missing); !moysklad.IsNotFound(err) {
		t.Errorf("missing country: %v", err)
	}
}

// An expanded reference (name and code inside) needs no request.
func TestAddressDecodesAnExpandedCountry(t *testing.T) {
	var a moysklad.Address
	err := json.Unmarshal([]byte(`{"city":"Минск","country":{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/country/x","type":"country"},"name":"Беларусь","code":"112","externalCode":"112"}}`), &a)
	if err != nil || a.Country != "Беларусь" || a.CountryCode != "112" || a.CountryExternalCode != "112" || a.Unresolved() {
		t.Errorf("%+v %v", a, err)
	}
	out, _ := json.Marshal(a)
	var back map[string]map[string]any
	_ = json.Unmarshal(out, &back)
	if _, has := back["country"]["code"]; has {
		t.Errorf("code written back: %s", out)
	}
}

// Concurrent orders to one country wait for one request.
func TestGetPlaceOneRequestForConcurrentReaders(t *testing.T) {
	s := moyskladtest.NewServer(moyskladtest.Options{})
	defer s.Close()
	c := newClient(t, s, nil)
	m := moysklad.Meta{Href: s.URL() + "/api/remap/1.2/entity/country/9df7c2c3-7782-4c5c-a8ed-1102af611608", Type: "country"}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := c.GetPlace(context.Background(), m); err != nil || p.Code != "643" {
				t.Errorf("%+v %v", p, err)
			}
		}()
	}
	wg.Wait()
	if n := s.PlaceRequests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
