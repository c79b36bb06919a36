package moysklad_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// weightAccount seeds products of every assortment kind (shaped by the
// simulator as the official schema has them: variants without weight and
// with a product reference, bundles with a components collection).
type weightAccount struct {
	s                                             *moyskladtest.Server
	product, variant, heavyBundle, kitBundle, svc string
	agent                                         string
	ready                                         string
}

func newWeightAccount(t *testing.T) weightAccount {
	t.Helper()
	s := newSim(t, moyskladtest.Options{})
	moyskladtest.Seed(s)
	w := weightAccount{s: s, ready: moyskladtest.DefaultStates[0].Name}
	w.agent = s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иван", Phone: "+79991234567"})
	w.product = s.AddProduct(moyskladtest.ProductSeed{Name: "Футболка", Weight: 0.5})
	w.variant = s.AddProduct(moyskladtest.ProductSeed{Name: "Футболка (XL)", Type: "variant", ProductID: w.product})
	other := s.AddProduct(moyskladtest.ProductSeed{Name: "Кружка", Weight: 0.25})
	w.svc = s.AddProduct(moyskladtest.ProductSeed{Name: "Доставка", Type: "service"})
	w.heavyBundle = s.AddProduct(moyskladtest.ProductSeed{Name: "Набор с весом", Type: "bundle", Weight: 2,
		Components: []moyskladtest.ComponentSeed{{ProductID: other, Quantity: 1}}})
	w.kitBundle = s.AddProduct(moyskladtest.ProductSeed{Name: "Набор без веса", Type: "bundle",
		Components: []moyskladtest.ComponentSeed{{ProductID: other, Quantity: 2}, {ProductID: w.variant, Quantity: 3}, {ProductID: w.svc, Quantity: 1}}})
	return w
}

func (w weightAccount) order(name string, ids ...string) string {
	var ps []moyskladtest.PositionSeed
	for _, id := range ids {
		ps = append(ps, moyskladtest.PositionSeed{ProductID: id, Quantity: 1, Price: 10000})
	}
	return w.s.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: w.agent, StateName: w.ready, Positions: ps})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// PRODUCT.md rule 12: variants weigh their product, bundles their own
// weight or else their components'; the result is in Assortment.Weight,
// which is what the poller reads.
func TestEffectiveWeights(t *testing.T) {
	w := newWeightAccount(t)
	id := w.order("W-1", w.product, w.variant, w.heavyBundle, w.kitBundle, w.svc)
	w.order("W-2", w.variant, w.kitBundle) // same lookups: cached within one call
	c := newClient(t, w.s, nil)
	want := map[string]float64{w.product: 0.5, w.variant: 0.5, w.heavyBundle: 2, w.kitBundle: 0.25*2 + 0.5*3, w.svc: 0}
	check := func(o moysklad.Order) {
		t.Helper()
		for _, p := range o.Positions {
			if got := p.Assortment.Weight; !near(got, want[p.Assortment.ID]) {
				t.Errorf("order %s: %s %q weighs %v, want %v", o.Name, p.Assortment.Type(), p.Assortment.Name, got, want[p.Assortment.ID])
			}
		}
	}
	before := w.s.RequestsByEndpoint()
	orders, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 2 {
		t.Fatalf("%d orders", len(orders))
	}
	for _, o := range orders {
		check(o)
	}
	// Lookups of one call are cached: the variant's product once, the
	// weightless bundle's components once; the bundle with a weight and
	// the expanded product need nothing.
	after := w.s.RequestsByEndpoint()
	delta := func(ep string) int { return after[ep] - before[ep] }
	if delta("GET /entity/product/{id}") != 1 || delta("GET /entity/bundle/{id}/components") != 1 || delta("GET /entity/variant/{id}") != 0 || delta("GET /entity/bundle/{id}") != 0 {
		t.Errorf("lookups %v", after)
	}
	// The same through GetOrder and ListOrdersPages.
	o, err := c.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	check(o)
	if len(o.Positions) != 5 || o.Positions[4].Assortment.Type() != "service" {
		t.Errorf("positions %+v", o.Positions)
	}
	err = c.ListOrdersPages(context.Background(), moysklad.ListOrdersQuery{}, func(page []moysklad.Order) error {
		for _, o := range page {
			check(o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Positions read from …/positions (more than were expanded) resolve too.
func TestEffectiveWeightsOfPositionsReadSeparately(t *testing.T) {
	s := newSim(t, moyskladtest.Options{ExpandedPositions: 2})
	w := weightAccountOn(t, s)
	id := w.order("W-3", w.variant, w.kitBundle, w.variant, w.product, w.kitBundle)
	c := newClient(t, s, nil)
	o, err := c.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Positions) != 5 {
		t.Fatalf("%d positions", len(o.Positions))
	}
	for _, p := range o.Positions {
		want := 0.5
		if p.Assortment.Type() == "bundle" {
			want = 2 // 4 variants of 0.5
		}
		if !near(p.Assortment.Weight, want) {
			t.Errorf("%s weighs %v, want %v", p.Assortment.Type(), p.Assortment.Weight, want)
		}
	}
	if n := s.RequestsByEndpoint()["GET /entity/customerorder/{id}/positions"]; n != 1 {
		t.Errorf("positions read %d times", n)
	}
}

func weightAccountOn(t *testing.T, s *moyskladtest.Server) weightAccount {
	t.Helper()
	moyskladtest.Seed(s)
	w := weightAccount{s: s, ready: moyskladtest.DefaultStates[0].Name}
	w.agent = s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иван", Phone: "+79991234567"})
	w.product = s.AddProduct(moyskladtest.ProductSeed{Name: "Футболка", Weight: 0.5})
	w.variant = s.AddProduct(moyskladtest.ProductSeed{Name: "Футболка (XL)", Type: "variant", ProductID: w.product})
	w.kitBundle = s.AddProduct(moyskladtest.ProductSeed{Name: "Набор", Type: "bundle",
		Components: []moyskladtest.ComponentSeed{{ProductID: w.variant, Quantity: 4}}})
	return w
}

// Variant and bundle resolved from the official schema's own fixtures
// (tests/fixtures/variant.json, product.json, bundle.json): a variant
// reference in a position leads to the variant, whose product reference
// leads to the product's weight; a bundle with a weight keeps it.
func TestEffectiveWeightsFromSchemaFixtures(t *testing.T) {
	variant := string(readSample(t, "oas_variant.schema.json", nil))
	product := string(readSample(t, "oas_product.schema.json", nil))
	bundle := string(readSample(t, "oas_bundle.schema.json", nil))
	// The position's variant is a bare reference (as when expand was not
	// honoured), so the positions are read again and the variant by href.
	rows := `[{"quantity":1,"price":100,"assortment":{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/variant/c52d1e78-26b4-11f1-0a83-1f25000001bf","type":"variant"}}},
	{"quantity":1,"price":100,"assortment":` + bundle + `}]`
	order := `{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247","type":"customerorder"},
	"id":"22591b08-2859-11f1-0a83-1f2500000247","name":"00001","sum":0,"positions":{"meta":{"href":"x","type":"customerorderposition","size":2},
	"rows":` + rows + `}}`
	fs, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"GET /entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247":           fixed(order),
		"GET /entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247/positions": fixed(`{"meta":{"size":2},"rows":` + rows + `}`),
		"GET /entity/variant/c52d1e78-26b4-11f1-0a83-1f25000001bf":                 fixed(variant),
		// The variant's product (the fixture product.json carries another id;
		// only its shape and weight matter here).
		"GET /entity/product/d6877ac4-26ae-11f1-0a83-1f2500000149": fixed(product),
	})
	o, err := c.GetOrder(context.Background(), "22591b08-2859-11f1-0a83-1f2500000247")
	if err != nil {
		t.Fatalf("%v (requests %v)", err, fs.requests())
	}
	if len(o.Positions) != 2 || !near(o.Positions[0].Assortment.Weight, 0.5) || !near(o.Positions[1].Assortment.Weight, 1) {
		t.Fatalf("weights %+v (requests %v)", o.Positions, fs.requests())
	}

	// The fixture shapes themselves.
	var v, b moysklad.Assortment
	readSample(t, "oas_variant.schema.json", &v)
	readSample(t, "oas_bundle.schema.json", &b)
	if v.Type() != "variant" || v.Weight != 0 || v.Product == nil || v.Product.Meta.Type != "product" {
		t.Errorf("variant %+v", v)
	}
	if b.Weight != 1 || b.Components == nil || b.Components.Meta.Size != 1 || len(b.Components.Rows) != 1 ||
		b.Components.Rows[0].Quantity != 1 || b.Components.Rows[0].Assortment.Type() != "product" {
		t.Errorf("bundle %+v", b)
	}
}

// A lookup MoySklad refuses for good (403, 404) leaves that position's
// weight unknown — never a silent weight — and does not fail the order or
// the listing; a lookup that fails for now (5xx) is an error.
func TestEffectiveWeightLookupFailure(t *testing.T) {
	order := `{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247","type":"customerorder"},
	"name":"00001","positions":{"meta":{"size":1},"rows":[{"quantity":1,"price":100,"assortment":{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/variant/c52d1e78-26b4-11f1-0a83-1f25000001bf","type":"variant"},"name":"v"}}]}}`
	status := 403
	_, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"GET /entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247": fixed(order),
		// The variant came without its product reference and cannot be read.
		"GET /entity/variant/c52d1e78-26b4-11f1-0a83-1f25000001bf": func(*http.Request) (int, string) {
			if status == 403 {
				return 403, `{"errors":[{"error":"Доступ запрещен","code":1016}]}`
			}
			return status, `{"errors":[{"error":"Внутренняя ошибка","code":1000}]}`
		},
	})
	o, err := c.GetOrder(context.Background(), "22591b08-2859-11f1-0a83-1f2500000247")
	if err != nil {
		t.Fatalf("a refused lookup failed the order: %v", err)
	}
	if a := o.Positions[0].Assortment; a.Weight != 0 || !strings.Contains(a.WeightUnknown, "variant") {
		t.Fatalf("assortment = %+v", a)
	}
	status = 500
	_, err = c.GetOrder(context.Background(), "22591b08-2859-11f1-0a83-1f2500000247")
	var e *moysklad.Error
	if err == nil || !strings.Contains(err.Error(), "weight of variant") || !errors.As(err, &e) || e.StatusCode != 500 {
		t.Fatalf("err = %v", err)
	}
}

// The order and position money/VAT fields the mapping uses, from the
// official schema's customer_order.json fixture (values changed in the
// test to be non-zero; the shape is the fixture's).
func TestOrderMoneyAndVATFieldsFromSchemaFixture(t *testing.T) {
	var m map[string]any
	readSample(t, "oas_customer_order.schema.json", &m)
	m["sum"], m["payedSum"], m["vatIncluded"] = 123456.0, 23456.0, false
	pos := m["positions"].(map[string]any)["rows"].([]any)[0].(map[string]any)
	pos["price"], pos["discount"], pos["vat"], pos["vatEnabled"] = 99999.6, 12.5, 20.0, true
	pos["assortment"].(map[string]any)["meta"].(map[string]any)["type"] = "service"
	b, _ := json.Marshal(m)
	var o moysklad.Order
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Sum != 123456 || o.PayedSum != 23456 || !o.VATEnabled || o.VATIncluded {
		t.Errorf("order money %+v", o)
	}
	p := o.Positions[0]
	if p.Price != 100000 || p.Discount != 12.5 || p.VAT != 20 || !p.VATEnabled || p.Assortment.Type() != "service" {
		t.Errorf("position %+v", p)
	}
	// And as the fixture has them.
	var raw moysklad.Order
	readSample(t, "oas_customer_order.schema.json", &raw)
	if !raw.VATEnabled || !raw.VATIncluded || raw.Positions[0].VATEnabled || raw.Positions[0].Assortment.Type() != "product" {
		t.Errorf("fixture order %+v", raw)
	}
	// A JSON round trip (history) keeps them.
	b, _ = json.Marshal(o)
	var back moysklad.Order
	if err := json.Unmarshal(b, &back); err != nil || back.VATEnabled != o.VATEnabled || back.VATIncluded != o.VATIncluded || back.Positions[0].VATEnabled != p.VATEnabled {
		t.Errorf("round trip %v %+v", err, back)
	}
}
