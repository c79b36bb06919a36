package poller

import (
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// The country and region of a structured address, as ResolveAddress fills
// them, reach the shipment: the country as ISO alpha-2 (from MoySklad's
// numeric code, an alpha-2 code, or a known name), the region by name; an
// address without a country is Russia's (""); a country shipbridge does not
// know is a problem for the manager, never a silent Russia.
func TestBuildShipmentCountryAndRegion(t *testing.T) {
	ref := &moysklad.Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/country/x", Type: "country"}
	base := func() *moysklad.Address {
		return &moysklad.Address{PostalCode: "050000", City: "Алматы", Street: "пр. Абая", House: "10"}
	}
	cases := []struct {
		name       string
		edit       func(a *moysklad.Address)
		wantCC     string
		wantRegion string
		problem    bool
	}{
		{"no country", func(a *moysklad.Address) {}, "", "", false},
		{"Russia by numeric code", func(a *moysklad.Address) {
			a.CountryMeta, a.Country, a.CountryCode, a.CountryExternalCode = ref, "Россия", "643", "643"
			a.Region, a.RegionCode = "Свердловская обл", "66"
		}, "RU", "Свердловская обл", false},
		{"Kazakhstan by numeric code", func(a *moysklad.Address) { a.CountryMeta, a.Country, a.CountryCode = ref, "Казахстан", "398" }, "KZ", "", false},
		{"Belarus by externalCode only", func(a *moysklad.Address) { a.CountryMeta, a.CountryExternalCode = ref, "112" }, "BY", "", false},
		{"own country with an alpha-2 code", func(a *moysklad.Address) { a.CountryMeta, a.Country, a.CountryCode = ref, "Кыргызстан", "kg" }, "KG", "", false},
		{"own country by name", func(a *moysklad.Address) { a.CountryMeta, a.Country, a.CountryCode = ref, "Армения", "A-1" }, "AM", "", false},
		{"unknown country", func(a *moysklad.Address) {
			a.CountryMeta, a.Country, a.CountryCode = ref, "Панама 2", "PanamaCode"
		}, "", "", true},
		{"unread country", func(a *moysklad.Address) { a.CountryMeta = ref }, "", "", true},
	}
	for _, c := range cases {
		o := goodOrder()
		o.ShipmentAddressFull = base()
		c.edit(o.ShipmentAddressFull)
		s, problems := buildShipment(o, orderFields{}, testProfile, 1)
		if s.Address == nil || s.Address.CountryCode != c.wantCC || s.Address.Region != c.wantRegion {
			t.Errorf("%s: address %+v", c.name, s.Address)
		}
		got := false
		for _, p := range problems {
			if p.Field == "address.country" {
				got = true
				if !strings.Contains(p.Message, "не распознана") {
					t.Errorf("%s: message %q", c.name, p.Message)
				}
			}
		}
		if got != c.problem || (!c.problem && len(problems) != 0) {
			t.Errorf("%s: problems %+v", c.name, problems)
		}
	}
	// A pickup order needs no address: its country is never looked at.
	o := goodOrder()
	o.ShipmentAddressFull = base()
	o.ShipmentAddressFull.CountryMeta = ref
	if _, problems := buildShipment(o, orderFields{PickupPoint: "MSK67"}, testProfile, 1); len(problems) != 0 {
		t.Errorf("pickup order: %+v", problems)
	}
}

// addDoorOrder adds a CDEK door-delivery order (no pickup point) to the
// address.
func (h *harness) addDoorOrder(name, carrier string, a *moysklad.Address) string {
	h.t.Helper()
	return h.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: h.agent, StateName: "Новый", ShipmentAddressFull: a,
		Positions:  []moyskladtest.PositionSeed{{ProductID: h.product, Quantity: 2, Price: 150000}},
		Attributes: map[string]any{"Служба доставки": carrier}})
}

// End to end with both simulators: MoySklad renders the address's country
// and region as bare references, the poller reads them (once each, however
// many orders), and CDEK gets country_code KZ for an order to Kazakhstan and
// RU for one to Russia.
func TestForeignOrderReachesCDEKWithItsCountry(t *testing.T) {
	cities := append(cdektest.DefaultCities(), cdektest.City{Code: 4756, Name: "Алматы", PostalCodes: []string{"050000"}})
	h, sim := newCDEKHarness(t, cdektest.Options{Cities: cities})
	kz := &moysklad.Address{PostalCode: "050000", Country: "Казахстан", City: "Алматы", Street: "пр. Абая", House: "10"}
	ids := map[string]string{
		"KZ-1": h.addDoorOrder("KZ-1", "СДЭК", kz),
		"KZ-2": h.addDoorOrder("KZ-2", "СДЭК", &moysklad.Address{PostalCode: "050000", Country: "Казахстан", City: "Алматы", Street: "ул. Сатпаева", House: "3"}),
		"RU-1": h.addDoorOrder("RU-1", "СДЭК", &moysklad.Address{PostalCode: "101000", Country: "Россия", Region: "г Москва", City: "Москва", Street: "Мясницкая", House: "1"}),
	}
	for _, id := range ids {
		h.set(id, sReady)
	}
	for i := 0; i < 4; i++ {
		h.cycle()
		h.clock.Advance(5 * time.Second)
	}
	want := map[string]string{"KZ-1": "KZ", "KZ-2": "KZ", "RU-1": "RU"}
	got := map[string]string{}
	for _, o := range sim.Orders() {
		got[o.Number] = o.ToCountryCode
	}
	for name, id := range ids {
		o := h.order(id)
		if o.StateName != sRegistered {
			t.Errorf("%s: %s %q; history %s", name, o.StateName, o.Attr("Ошибка доставки"), h.timeline(id))
		}
		found := false
		for num, cc := range got {
			if strings.Contains(num, name) || num == h.record(id).Number {
				found = true
				if cc != want[name] {
					t.Errorf("%s: country_code %q at CDEK, want %s", name, cc, want[name])
				}
			}
		}
		if !found {
			t.Errorf("%s: not at CDEK (%v)", name, got)
		}
	}
	// Kazakhstan, Russia, «г Москва»: three entities, each read once.
	if n := h.ms.PlaceRequests(); n != 3 {
		t.Errorf("%d country/region requests, want 3", n)
	}
}

// A Почта России order to Kazakhstan stops at Pochta's foreign-address
// check with a message for the manager; nothing reaches Pochta.
func TestForeignOrderHitsPochtasCountryCheck(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addDoorOrder("PKZ-1", "Почта России", &moysklad.Address{PostalCode: "050000", Country: "Казахстан", City: "Алматы", Street: "пр. Абая", House: "10"})
	r.set(id, sReady)
	r.cycle()
	o := r.order(id)
	if o.StateName != sFailed || !strings.Contains(o.Attr("Ошибка доставки"), "только по России") || !strings.Contains(o.Attr("Ошибка доставки"), "«Казахстан (KZ)»") {
		t.Errorf("%s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), r.timeline(id))
	}
	if n := len(r.post.Orders()); n != 0 {
		t.Errorf("%d orders at Pochta", n)
	}
}

// A Russian door order outside the federal cities: with its region read
// from MoySklad the address is structured for Pochta, so no clean/address
// request (quota) is spent on it.
func TestPochtaStructuredAddressUsesTheRegion(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{})
	id := r.addDoorOrder("PEK-1", "Почта России", &moysklad.Address{PostalCode: "620014", Country: "Россия", Region: "Свердловская обл",
		City: "Екатеринбург", Street: "ул. Малышева", House: "5", Apartment: "12"})
	r.set(id, sReady)
	r.cycle()
	if o := r.order(id); o.StateName != sRegistered {
		t.Fatalf("%s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), r.timeline(id))
	}
	if n := r.post.Calls()["POST /1.0/clean/address"]; n != 0 {
		t.Errorf("%d clean/address requests for a structured address (calls %v)", n, r.post.Calls())
	}
}
