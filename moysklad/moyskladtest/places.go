package moyskladtest

import (
	"fmt"
	"strings"

	"github.com/shipbridge/shipbridge/moysklad"
)

// simPlace is a country or region entity. Its shape follows the JSON API
// docs (github.com/moysklad/api-remap-1.2-doc, md/dictionaries/_country.md
// «Получить Страну» and md/dictionaries/_region.md «Получить Регионы»): meta,
// id, updated, name, code, externalCode, and for countries description; a
// region has version. Built-in countries carry their ISO 3166 numeric code
// in code and externalCode; regions their two-digit code.
type simPlace struct {
	typ, id, name, description, code, externalCode string
}

// builtinPlaces are the countries and regions every account has. Россия's
// and «г Москва»'s ids are the ones of the docs' customerorder sample; the
// rest are made up in the same form.
var builtinPlaces = []simPlace{
	{"country", "9df7c2c3-7782-4c5c-a8ed-1102af611608", "Россия", "Российская Федерация", "643", "643"},
	{"country", "3f2a7a06-5c5e-4b8e-9a4e-2b0c5d8e1398", "Казахстан", "Республика Казахстан", "398", "398"},
	{"country", "5b7e9d3c-1a2b-4c3d-8e4f-6a7b8c9d0112", "Беларусь", "Республика Беларусь", "112", "112"},
	{"country", "7c8d9e0f-2b3c-4d5e-9f60-7b8c9d0e1051", "Армения", "Республика Армения", "051", "051"},
	{"country", "8d9e0f1a-3c4d-4e5f-a071-8c9d0e1f2417", "Киргизия", "Киргизская Республика", "417", "417"},
	{"country", "9e0f1a2b-4d5e-4f60-b182-9d0e1f2a3860", "Узбекистан", "Республика Узбекистан", "860", "860"},
	{"country", "000d77a9-3000-4f81-a995-6b9cffdee1d2", "Марокко", "Королевство Марокко", "504", "504"},
	{"region", "00000000-0000-0000-0000-000000000077", "г Москва", "", "77", "77"},
	{"region", "00000000-0000-0000-0000-000000000078", "г Санкт-Петербург", "", "78", "78"},
	{"region", "00000000-0000-0000-0000-000000000050", "Московская обл", "", "50", "50"},
	{"region", "00000000-0000-0000-0000-000000000066", "Свердловская обл", "", "66", "66"},
	{"region", "00000000-0000-0000-0000-000000000054", "Новосибирская обл", "", "54", "54"},
	{"region", "00000000-0000-0000-0000-000000000016", "Респ Татарстан", "", "16", "16"},
	{"region", "00000000-0000-0000-0000-000000000023", "Краснодарский край", "", "23", "23"},
}

// place finds the country or region by id.
func (d *data) place(typ, id string) *simPlace {
	for i := range builtinPlaces {
		if p := &builtinPlaces[i]; p.typ == typ && p.id == id {
			return p
		}
	}
	return d.userPlaces[typ+"/"+id]
}

// placeByName finds the country or region by name, or adds it as a
// user-created one (a country with the code given, "" for none; MoySklad
// lets an account create its own countries with any code).
func (d *data) placeByName(typ, name, code string) *simPlace {
	for i := range builtinPlaces {
		if p := &builtinPlaces[i]; p.typ == typ && strings.EqualFold(p.name, name) {
			return p
		}
	}
	for _, p := range d.userPlaces {
		if p.typ == typ && strings.EqualFold(p.name, name) {
			return p
		}
	}
	if d.userPlaces == nil {
		d.userPlaces = map[string]*simPlace{}
	}
	p := &simPlace{typ: typ, id: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012x", len(d.userPlaces)+1), name: name, code: code, externalCode: code}
	d.userPlaces[typ+"/"+p.id] = p
	return p
}

// addressRef is the reference an order's shipmentAddressFull carries for
// its country or region: meta only, as MoySklad renders it (the docs'
// customerorder sample). A reference the address already has (written
// through the API) is kept; a seed's name is looked up.
func (d *data) addressRef(typ, name, code string, m *moysklad.Meta) *metaOnly {
	switch {
	case m != nil && m.Href != "":
		return &metaOnly{d.entityMeta(typ, m.ID(), "")}
	case name != "":
		return &metaOnly{d.entityMeta(typ, d.placeByName(typ, name, code).id, "")}
	}
	return nil
}

// placeJSON renders a country or region as GET /entity/{type}/{id} does.
func (d *data) placeJSON(p *simPlace) map[string]any {
	ui := ""
	if p.typ == "country" {
		ui = "country"
	}
	j := map[string]any{"meta": d.entityMeta(p.typ, p.id, ui), "id": p.id, "updated": "2018-11-29 00:00:00",
		"name": p.name, "externalCode": p.externalCode}
	if p.code != "" {
		j["code"] = p.code
	}
	if p.description != "" {
		j["description"] = p.description
	}
	if p.typ == "region" {
		j["version"] = 0
		j["accountId"] = d.accountID
	}
	return j
}

// PlaceRequests reports how many GETs of countries and regions the server
// answered.
func (s *Server) PlaceRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placeGets
}

func (s *Server) servePlace(typ string, seg []string, get bool) reply {
	if len(seg) != 3 {
		return notFoundPath(strings.Join(seg, "/"))
	}
	if !get {
		return methodNotAllowed()
	}
	s.placeGets++
	p := s.place(typ, seg[2])
	if p == nil {
		return notFoundObj(typ, seg[2])
	}
	return jsonReply(200, s.placeJSON(p))
}
