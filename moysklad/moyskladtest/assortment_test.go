package moyskladtest

import (
	"encoding/json"
	"testing"
)

func getJSON(t *testing.T, s *Server, path, query string) map[string]any {
	t.Helper()
	resp, b := raw(t, s, "GET", path, query, s.Token(), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s?%s: %d %s", path, query, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func arr(v any) []any          { a, _ := v.([]any); return a }

// Variants, bundles and services in the official schema's shapes (fixtures
// variant.json, bundle.json of the OpenAPI specification), and MoySklad's
// expand rules: limit ≤ 100 and at most 3 levels.
func TestAssortmentShapesAndExpandRules(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	Seed(s)
	prod := s.AddProduct(ProductSeed{Name: "Футболка", Weight: 0.5, Volume: 0.01})
	variant := s.AddProduct(ProductSeed{Name: "Футболка (XL)", Type: "variant", ProductID: prod})
	svc := s.AddProduct(ProductSeed{Name: "Доставка", Type: "service"})
	bundle := s.AddProduct(ProductSeed{Name: "Набор", Type: "bundle", Components: []ComponentSeed{{ProductID: variant, Quantity: 2}, {ProductID: prod, Quantity: 1}}})
	agent := s.AddCounterparty(CounterpartySeed{Name: "Иван", Phone: "+79990000000"})
	oid := s.AddOrder(OrderSeed{AgentID: agent, StateName: "Новый", Positions: []PositionSeed{{ProductID: variant, Quantity: 1, Price: 100}, {ProductID: bundle, Quantity: 1, Price: 100}}})

	v := getJSON(t, s, "/entity/variant/"+variant, "")
	if _, has := v["weight"]; has {
		t.Errorf("a variant has a weight field: %v", v)
	}
	if p := obj(obj(v["product"])["meta"]); p["type"] != "product" || p["href"] != s.URL()+"/entity/product/"+prod || obj(v["product"])["name"] != nil {
		t.Errorf("variant product %v", v["product"])
	}
	if v := getJSON(t, s, "/entity/variant/"+variant, "expand=product"); obj(v["product"])["weight"] != 0.5 {
		t.Errorf("expanded product %v", v["product"])
	}
	if sv := getJSON(t, s, "/entity/service/"+svc, ""); sv["weight"] != nil {
		t.Errorf("a service has a weight: %v", sv)
	}
	b := getJSON(t, s, "/entity/bundle/"+bundle, "")
	comps := obj(b["components"])
	if b["weight"] != 0.0 || obj(comps["meta"])["size"] != 2.0 || obj(comps["meta"])["type"] != "bundlecomponent" || comps["rows"] != nil {
		t.Errorf("bundle %v", b)
	}
	if b := getJSON(t, s, "/entity/bundle/"+bundle, "expand=components"); len(arr(obj(b["components"])["rows"])) != 2 {
		t.Errorf("expanded components %v", b["components"])
	}
	if resp, _ := raw(t, s, "GET", "/entity/product/"+variant, "", s.Token(), nil); resp.StatusCode != 404 {
		t.Errorf("variant read as a product: %d", resp.StatusCode)
	}

	// The components list: expand honoured with limit ≤ 100 only.
	l := getJSON(t, s, "/entity/bundle/"+bundle+"/components", "limit=100&expand=assortment")
	rows := arr(l["rows"])
	if len(rows) != 2 || obj(obj(rows[0])["assortment"])["name"] != "Футболка (XL)" || obj(rows[0])["quantity"] != 2.0 || obj(l["meta"])["size"] != 2.0 {
		t.Errorf("components %v", l)
	}
	l = getJSON(t, s, "/entity/bundle/"+bundle+"/components", "limit=101&expand=assortment")
	if a := obj(obj(arr(l["rows"])[0])["assortment"]); a["name"] != nil || obj(a["meta"])["type"] != "variant" {
		t.Errorf("expand honoured above limit 100: %v", a)
	}

	// Three levels: positions.assortment.product expands the variant's product…
	o := getJSON(t, s, "/entity/customerorder/"+oid, "expand=positions.assortment.product")
	pos := arr(obj(o["positions"])["rows"])
	if p := obj(obj(obj(pos[0])["assortment"])["product"]); p["weight"] != 0.5 || p["name"] != "Футболка" {
		t.Errorf("3-level expand: %v", p)
	}
	// …but a fourth level is not expanded.
	o = getJSON(t, s, "/entity/customerorder/"+oid, "expand=positions.assortment.components.assortment")
	pos = arr(obj(o["positions"])["rows"])
	crow := arr(obj(obj(obj(pos[1])["assortment"])["components"])["rows"])
	if len(crow) != 2 || obj(obj(crow[0])["assortment"])["name"] != nil {
		t.Errorf("4-level expand: %v", crow)
	}
}

// A seed MoySklad could not hold is a test bug.
func TestAssortmentSeedsMoySkladCannotHold(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	prod := s.AddProduct(ProductSeed{Name: "P", Weight: 1})
	variant := s.AddProduct(ProductSeed{Name: "V", Type: "variant", ProductID: prod})
	bundle := s.AddProduct(ProductSeed{Name: "B", Type: "bundle", Components: []ComponentSeed{{ProductID: prod, Quantity: 1}}})
	for name, seed := range map[string]ProductSeed{
		"variant with weight and product": {Name: "V2", Type: "variant", ProductID: prod, Weight: 1},
		"variant of a variant":            {Name: "V3", Type: "variant", ProductID: variant},
		"bundle in a bundle":              {Name: "B3", Type: "bundle", Components: []ComponentSeed{{ProductID: bundle, Quantity: 1}}},
		"unknown type":                    {Name: "X", Type: "kit"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s accepted", name)
				}
			}()
			s.AddProduct(seed)
		}()
	}
}

// Older seeds (a variant or bundle with just a weight) still give
// MoySklad's shapes, weighing what the seed said.
func TestLegacyAssortmentSeeds(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	v := s.AddProduct(ProductSeed{Name: "V", Type: "variant", Weight: 1.5})
	b := s.AddProduct(ProductSeed{Name: "B", Type: "bundle", Weight: 2})
	svc := s.AddProduct(ProductSeed{Name: "S", Type: "service", Weight: 3})
	vj := getJSON(t, s, "/entity/variant/"+v, "expand=product")
	if _, has := vj["weight"]; has || obj(vj["product"])["weight"] != 1.5 {
		t.Errorf("variant %v", vj)
	}
	bj := getJSON(t, s, "/entity/bundle/"+b, "")
	if bj["weight"] != 2.0 || obj(obj(bj["components"])["meta"])["size"] != 1.0 {
		t.Errorf("bundle %v", bj)
	}
	if sj := getJSON(t, s, "/entity/service/"+svc, ""); sj["weight"] != nil {
		t.Errorf("service %v", sj)
	}
}
