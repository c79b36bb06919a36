package poller

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

var testProfile = carriers.Profile{WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}

func goodOrder() moysklad.Order {
	return moysklad.Order{
		ID: "a1b2", Name: "00042", Sum: 275000, PayedSum: 0,
		Agent: moysklad.Counterparty{Name: "Иванов Иван", Phone: "8 (916) 123-45-67", Email: "ivan@example.ru"},
		Positions: []moysklad.Position{
			{Quantity: 2, Price: 100000, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "product"}, ID: "p1", Name: "Чайник", Article: "KT-1", Weight: 1.2}},
			{Quantity: 1, Price: 50000, Discount: 10, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "product"}, ID: "p2", Name: "Кружка", Code: "00017", Weight: 0.3}},
			{Quantity: 1, Price: 30000, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "service"}, ID: "s1", Name: "Доставка"}},
		},
	}
}

// checkMoney asserts the invariants of rule 11 on a shipment: the items'
// payments and the delivery charge add up to CashOnDelivery exactly, and no
// unit is charged more than its price.
func checkMoney(t *testing.T, s carriers.Shipment) {
	t.Helper()
	sum := s.DeliveryCharge
	var declared int64
	for _, p := range s.Packages {
		for _, it := range p.Items {
			if it.Payment < 0 || it.Payment > it.Cost {
				t.Errorf("item %q: payment %d, cost %d", it.Name, it.Payment, it.Cost)
			}
			sum += it.Payment * int64(it.Amount)
			declared += it.Cost * int64(it.Amount)
		}
	}
	if sum != s.CashOnDelivery {
		t.Errorf("Σ payment×amount + delivery charge = %d, CashOnDelivery = %d", sum, s.CashOnDelivery)
	}
	if declared != s.DeclaredValue {
		t.Errorf("Σ cost×amount = %d, DeclaredValue = %d", declared, s.DeclaredValue)
	}
	if s.DeliveryCharge < 0 {
		t.Errorf("delivery charge %d", s.DeliveryCharge)
	}
}

func TestBuildShipmentPickupPoint(t *testing.T) {
	s, problems := buildShipment(goodOrder(), orderFields{PickupPoint: "MSK67"}, testProfile, 1)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	if s.Recipient.Phone != "+79161234567" || s.Recipient.Name != "Иванов Иван" || s.Recipient.Email != "ivan@example.ru" {
		t.Errorf("recipient = %+v", s.Recipient)
	}
	if s.Recipient.Surname != "Иванов" || s.Recipient.GivenName != "Иван" || s.Recipient.MiddleName != "" {
		t.Errorf("name parts = %q %q %q", s.Recipient.Surname, s.Recipient.GivenName, s.Recipient.MiddleName)
	}
	if s.PickupPoint != "MSK67" || s.Address != nil {
		t.Errorf("destination = %q %+v", s.PickupPoint, s.Address)
	}
	if s.Mark != "shipbridge:a1b2" {
		t.Errorf("mark = %q", s.Mark)
	}
	if len(s.Packages) != 1 || len(s.Packages[0].Items) != 2 {
		t.Fatalf("packages = %+v (the delivery service is not a parcel item)", s.Packages)
	}
	p := s.Packages[0]
	if p.WeightG != 2*1200+300 || p.LengthCM != 20 {
		t.Errorf("package weight %d, length %d", p.WeightG, p.LengthCM)
	}
	kettle, mug := p.Items[0], p.Items[1]
	if kettle.WareKey != "KT-1" || kettle.Cost != 100000 || kettle.Payment != 100000 || kettle.WeightG != 1200 || kettle.Amount != 2 {
		t.Errorf("kettle = %+v", kettle)
	}
	if mug.WareKey != "00017" || mug.Cost != 45000 || mug.Payment != 45000 {
		t.Errorf("mug = %+v (discount 10%% of 500 ₽ is 450 ₽)", mug)
	}
	if s.DeclaredValue != 245000 || s.CashOnDelivery != 275000 || s.DeliveryCharge != 30000 {
		t.Errorf("declared %d, cod %d, delivery %d", s.DeclaredValue, s.CashOnDelivery, s.DeliveryCharge)
	}
	checkMoney(t, s)
}

// The mark is a function of the order id only: every attempt and retry of
// one order carries the same mark, and another order never carries it.
func TestBuildShipmentMarkStable(t *testing.T) {
	o := goodOrder()
	o.ID = "7944ef04-f831-11e5-7a69-971500188b19"
	s1, _ := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	o.Name = "renamed"
	s2, _ := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 3)
	if s1.Mark != "shipbridge:7944ef04-f831-11e5-7a69-971500188b19" || s2.Mark != s1.Mark {
		t.Errorf("marks %q, %q", s1.Mark, s2.Mark)
	}
	o.ID = "7944ef04-f831-11e5-7a69-971500188b20"
	if s3, _ := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1); s3.Mark == s1.Mark {
		t.Errorf("two orders share the mark %q", s3.Mark)
	}
}

// schemaOrder decodes a customerorder given in the shape of the official
// JSON schema (GET /entity/customerorder/{id}?expand=positions.assortment,
// agent; fields as in moysklad/api-remap-1.2-doc _customerOrder.md), so that
// the tests exercise the real JSON names (sum, payedSum, vatEnabled,
// vatIncluded, positions.rows[].discount/vat/vatEnabled, assortment.meta.type).
func schemaOrder(t *testing.T, header string, rows ...string) moysklad.Order {
	t.Helper()
	body := `{
  "meta": {"href": "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/5a0bc3a1-0000-11f1-0a80-000000000042", "type": "customerorder", "mediaType": "application/json"},
  "id": "5a0bc3a1-0000-11f1-0a80-000000000042",
  "name": "00042",
  "agent": {"meta": {"href": "https://api.moysklad.ru/api/remap/1.2/entity/counterparty/6ec0bed7-ffdc-11f1-0a80-97b973066242", "type": "counterparty", "mediaType": "application/json"},
            "companyType": "individual", "name": "Петрова Анна Сергеевна", "phone": "+7 916 123-45-67"},
  ` + header + `,
  "positions": {"meta": {"href": "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/5a0bc3a1-0000-11f1-0a80-000000000042/positions", "type": "customerorderposition", "mediaType": "application/json", "size": ` + fmt.Sprint(len(rows)) + `, "limit": 1000, "offset": 0},
                "rows": [` + strings.Join(rows, ",") + `]}
}`
	var o moysklad.Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatalf("fixture does not decode: %v\n%s", err, body)
	}
	return o
}

// row is one customerorderposition with an expanded assortment.
func row(typ, name string, qty float64, price int64, discount float64, vat int, vatEnabled bool, weight float64) string {
	return fmt.Sprintf(`{"meta": {"type": "customerorderposition", "mediaType": "application/json"},
   "quantity": %v, "price": %d.0, "discount": %v, "vat": %d, "vatEnabled": %v,
   "assortment": {"meta": {"href": "https://api.moysklad.ru/api/remap/1.2/entity/%s/1f0a0000-0000-11f1-0a80-%012d", "type": %q, "mediaType": "application/json"},
                  "name": %q, "article": %q, "weight": %v},
   "shipped": 0, "reserve": 0}`, qty, price, discount, vat, vatEnabled, typ, len(name), typ, name, "A-"+name, weight)
}

// TestMoney is rule 11, with orders in the official JSON shape: cash on
// delivery collects exactly sum − payedSum, shared by the items and the
// delivery charge (the service positions), never more than an item's price.
func TestMoney(t *testing.T) {
	kettle := row("product", "Чайник", 2, 100000, 0, 20, true, 1.2) // 2 × 1000 ₽
	mug := row("product", "Кружка", 1, 50000, 10, 20, true, 0.3)    // 500 ₽ − 10 % = 450 ₽
	delivery := row("service", "Доставка", 1, 30000, 0, 20, true, 0)
	const vatIn = `"vatEnabled": true, "vatIncluded": true`
	type want struct {
		cod, delivery, declared int64
		payments                []int64 // per unit, in item order
	}
	cases := []struct {
		name    string
		header  string
		rows    []string
		mode    string
		fields  orderFields
		want    want
		problem string // a problem field, when the order must be refused
	}{
		{"unpaid, with «Доставка»", `"sum": 275000.0, "payedSum": 0.0, ` + vatIn, []string{kettle, mug, delivery}, "auto", orderFields{},
			want{cod: 275000, delivery: 30000, declared: 245000, payments: []int64{100000, 45000}}, ""},
		// owed 175000 of 275000: shares 63636.36, 28636.36 and 19090.9; the
		// kettle's two units take the two spare kopecks.
		{"partly paid, with «Доставка»", `"sum": 275000.0, "payedSum": 100000.0, ` + vatIn, []string{kettle, mug, delivery}, "auto", orderFields{},
			want{cod: 175000, delivery: 19090, declared: 245000, payments: []int64{63637, 28636}}, ""},
		{"partly paid, goods only", `"sum": 245000.0, "payedSum": 45000.0, ` + vatIn, []string{kettle, mug}, "auto", orderFields{},
			want{cod: 200000, delivery: 0, declared: 245000, payments: []int64{81633, 36734}}, ""},
		{"fully paid", `"sum": 275000.0, "payedSum": 275000.0, ` + vatIn, []string{kettle, mug, delivery}, "auto", orderFields{},
			want{cod: 0, delivery: 0, declared: 245000, payments: []int64{0, 0}}, ""},
		{"overpaid (payedSum > sum, as in the doc sample)", `"sum": 275000.0, "payedSum": 365939.0, ` + vatIn, []string{kettle, mug, delivery}, "auto", orderFields{},
			want{cod: 0, delivery: 0, declared: 245000, payments: []int64{0, 0}}, ""},
		{"never", `"sum": 275000.0, "payedSum": 0.0, ` + vatIn, []string{kettle, mug, delivery}, "never", orderFields{},
			want{cod: 0, delivery: 0, declared: 245000, payments: []int64{0, 0}}, ""},
		{"attribute ticked, partly paid", `"sum": 275000.0, "payedSum": 100000.0, ` + vatIn, []string{kettle, mug, delivery}, "attribute",
			orderFields{CashOnDelivery: true, CashOnDeliveryKnown: true},
			want{cod: 175000, delivery: 19090, declared: 245000, payments: []int64{63637, 28636}}, ""},
		{"attribute not ticked: paid online, payment not linked", `"sum": 275000.0, "payedSum": 0.0, ` + vatIn, []string{kettle, mug, delivery}, "attribute",
			orderFields{CashOnDeliveryKnown: true},
			want{cod: 0, delivery: 0, declared: 245000, payments: []int64{0, 0}}, ""},
		{"attribute mode, attribute missing in MoySklad", `"sum": 275000.0, "payedSum": 0.0, ` + vatIn, []string{kettle, mug, delivery}, "attribute",
			orderFields{}, want{}, "cash_on_delivery"},
		// VAT on top of the prices: 1000 ₽ + 20 % = 1200 ₽ a unit.
		{"VAT added on top", `"sum": 240000.0, "payedSum": 0.0, "vatEnabled": true, "vatIncluded": false`, []string{kettle}, "auto", orderFields{},
			want{cod: 240000, delivery: 0, declared: 240000, payments: []int64{120000}}, ""},
		// 2000 ₽ for three units of 1000 ₽: 666.66 each, two kopecks cannot
		// be spread over three units and go to the delivery charge.
		{"indivisible remainder", `"sum": 300000.0, "payedSum": 100000.0`, []string{row("product", "Стакан", 3, 100000, 0, 0, false, 0.2)}, "auto", orderFields{},
			want{cod: 200000, delivery: 2, declared: 300000, payments: []int64{66666}}, ""},
		// MoySklad's sum one kopeck above the positions (its own rounding).
		{"sum above the positions", `"sum": 33334.0, "payedSum": 0.0`, []string{row("product", "Ложка", 3, 11111, 0, 0, false, 0.05)}, "auto", orderFields{},
			want{cod: 33334, delivery: 1, declared: 33333, payments: []int64{11111}}, ""},
		{"a free gift", `"sum": 0.0, "payedSum": 0.0`, []string{row("product", "Подарок", 1, 0, 0, 0, false, 0.1)}, "auto", orderFields{},
			want{cod: 0, delivery: 0, declared: 0, payments: []int64{0}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := schemaOrder(t, c.header, c.rows...)
			pr := testProfile
			pr.CashOnDelivery = c.mode
			f := c.fields
			f.PickupPoint = "MSK67"
			s, problems := buildShipment(o, f, pr, 1)
			if c.problem != "" {
				if !hasProblem(problems, c.problem) {
					t.Fatalf("no %s problem in %+v", c.problem, problems)
				}
				return
			}
			if len(problems) > 0 {
				t.Fatalf("problems: %+v", problems)
			}
			checkMoney(t, s)
			if s.CashOnDelivery != c.want.cod || s.DeliveryCharge != c.want.delivery || s.DeclaredValue != c.want.declared {
				t.Errorf("cod %d, delivery %d, declared %d; want %d, %d, %d", s.CashOnDelivery, s.DeliveryCharge, s.DeclaredValue, c.want.cod, c.want.delivery, c.want.declared)
			}
			items := s.Packages[0].Items
			if len(items) != len(c.want.payments) {
				t.Fatalf("%d items, want %d", len(items), len(c.want.payments))
			}
			for i, p := range c.want.payments {
				if items[i].Payment != p {
					t.Errorf("item %q pays %d a unit, want %d", items[i].Name, items[i].Payment, p)
				}
			}
		})
	}
}

func TestVAT(t *testing.T) {
	o := schemaOrder(t, `"sum": 275000.0, "payedSum": 0.0, "vatEnabled": true, "vatIncluded": true`,
		row("product", "Чайник", 2, 100000, 0, 20, true, 1.2),
		row("product", "Книга", 1, 50000, 0, 10, true, 0.3),
		row("product", "Открытка", 1, 10000, 0, 0, false, 0.01),
		row("service", "Доставка", 1, 30000, 0, 20, true, 0))
	s, problems := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := []carriers.VAT{{Enabled: true, Rate: 20}, {Enabled: true, Rate: 10}, {}}
	for i, it := range s.Packages[0].Items {
		if it.VAT != want[i] {
			t.Errorf("%s: VAT %+v, want %+v", it.Name, it.VAT, want[i])
		}
	}
	if s.DeliveryVAT != (carriers.VAT{Enabled: true, Rate: 20}) {
		t.Errorf("delivery VAT %+v", s.DeliveryVAT)
	}
	// An order that does not account VAT has none on any item.
	o.VATEnabled = false
	s, _ = buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	for _, it := range s.Packages[0].Items {
		if it.VAT.Enabled {
			t.Errorf("%s: VAT %+v in an order without VAT", it.Name, it.VAT)
		}
	}
}

// TestAllocateProperties checks the allocation rule on many random orders:
// exact total, no unit above its price, every unit within one kopeck of its
// exact proportional share, and the delivery charge not below its own.
func TestAllocateProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for n := 0; n < 20000; n++ {
		items := make([]carriers.Item, 1+rng.Intn(5))
		var goods int64
		for i := range items {
			items[i] = carriers.Item{Name: fmt.Sprint("item", i), Cost: rng.Int63n(500000), Amount: 1 + rng.Intn(12)}
			if rng.Intn(10) == 0 {
				items[i].Cost = 0
			}
			goods += items[i].Cost * int64(items[i].Amount)
		}
		services := int64(0)
		if rng.Intn(2) == 0 {
			services = rng.Int63n(100000)
		}
		total := goods + services
		owed := rng.Int63n(total + 2)
		if rng.Intn(5) == 0 {
			owed = total
		}
		delivery := allocateCashOnDelivery(items, services, owed)
		sum := delivery
		for _, it := range items {
			sum += it.Payment * int64(it.Amount)
			if it.Payment < 0 || it.Payment > it.Cost {
				t.Fatalf("payment %d for cost %d (owed %d of %d)", it.Payment, it.Cost, owed, total)
			}
			if owed < total {
				// |Payment − Cost×owed/total| < 1, in exact arithmetic.
				exact := new(big.Rat).SetFrac(big.NewInt(it.Cost*owed), big.NewInt(total))
				diff := new(big.Rat).Sub(new(big.Rat).SetInt64(it.Payment), exact)
				if diff.Abs(diff).Cmp(big.NewRat(1, 1)) >= 0 {
					t.Fatalf("payment %d is not within a kopeck of %s", it.Payment, exact.FloatString(2))
				}
			}
		}
		if sum != owed {
			t.Fatalf("Σ = %d, owed %d", sum, owed)
		}
		if owed < total && total > 0 && delivery < services*owed/total {
			t.Fatalf("delivery %d below its share of %d×%d/%d", delivery, services, owed, total)
		}
		if services == 0 && owed <= total {
			units := int64(0)
			for _, it := range items {
				units += int64(it.Amount)
			}
			if delivery >= units && delivery > 0 {
				t.Fatalf("no delivery service, yet a delivery charge of %d for %d units", delivery, units)
			}
		}
	}
}

func TestBuildShipmentAddress(t *testing.T) {
	o := goodOrder()
	o.ShipmentAddressFull = &moysklad.Address{PostalCode: "101000", City: "Москва", Street: "Мясницкая", House: "1", Apartment: "5"}
	s, problems := buildShipment(o, orderFields{}, testProfile, 1)
	if len(problems) != 0 || s.Address == nil || s.Address.City != "Москва" || s.Address.House != "1" {
		t.Fatalf("address = %+v, %v", s.Address, problems)
	}
	o.ShipmentAddressFull = &moysklad.Address{AddInfo: "Москва, Тверская 7, кв 3"}
	s, problems = buildShipment(o, orderFields{}, testProfile, 1)
	if len(problems) != 0 || s.Address == nil || s.Address.Text != "Москва, Тверская 7, кв 3" || s.Address.City != "Москва" {
		t.Errorf("addInfo-only address = %+v, %v", s.Address, problems)
	}
	o.ShipmentAddressFull = nil
	o.ShipmentAddress = "Казань, ул. Баумана, 10"
	s, problems = buildShipment(o, orderFields{}, testProfile, 1)
	if len(problems) != 0 || s.Address == nil || s.Address.Text != "Казань, ул. Баумана, 10" || s.Address.City != "Казань" {
		t.Errorf("text address = %+v, %v", s.Address, problems)
	}
}

// TestDoorAddressNeedsStreetAndHouse is issue #12.4: one rule for the
// structured and the free-text address — a door delivery needs a street and
// a house.
func TestDoorAddressNeedsStreetAndHouse(t *testing.T) {
	cases := []struct {
		name  string
		full  *moysklad.Address
		text  string
		field string // the problem expected, "" when the address is accepted
		say   string // a fragment of the manager's message
	}{
		{"structured, complete", &moysklad.Address{PostalCode: "101000", City: "Москва", Street: "ул. Мясницкая", House: "1"}, "", "", ""},
		{"structured, house inside the street", &moysklad.Address{City: "Москва", Street: "Тверская 7"}, "", "", ""},
		{"structured, city only", &moysklad.Address{City: "Москва"}, "", "address.street", "только населённый пункт «Москва»"},
		{"structured, postal code and city only", &moysklad.Address{PostalCode: "101000", City: "Москва"}, "", "address.street", "улица и номер дома"},
		{"structured, street without a house", &moysklad.Address{City: "Москва", Street: "ул. Тверская"}, "", "address.house", "не указан номер дома"},
		{"structured, house written as «ул. Ленина, д. 5»", &moysklad.Address{City: "Пермь", Street: "ул. Ленина, д. 5"}, "", "", ""},
		{"structured, a number is not a street", &moysklad.Address{City: "Пермь", Street: "5"}, "", "address.house", "не указан номер дома"},
		{"structured, «ул. 8 Марта» has no house", &moysklad.Address{City: "Москва", Street: "ул. 8 Марта"}, "", "address.house", "«ул. 8 Марта»"},
		{"structured city, street in addInfo", &moysklad.Address{City: "Москва", AddInfo: "ул. Тверская, д. 7"}, "", "", ""},
		{"structured city, addInfo without a street", &moysklad.Address{City: "Москва", AddInfo: "позвонить за час"}, "", "address.street", "неполный"},
		{"text, city only", nil, "Москва", "address.street", "«Москва» неполный"},
		{"text, postal code and city", nil, "101000, Москва", "address.street", "«101000, Москва» неполный"},
		{"addInfo, city only", &moysklad.Address{AddInfo: "г. Москва"}, "", "address.street", "неполный"},
		{"structured village, house without a street", &moysklad.Address{City: "д. Горки", House: "15"}, "", "", ""},
		{"structured village without a house", &moysklad.Address{City: "село Алабушево"}, "", "address.street", "только населённый пункт"},
		{"structured town, house without a street", &moysklad.Address{City: "Москва", House: "7"}, "", "address.street", "только населённый пункт «Москва»"},
		{"text, village and house", nil, "Московская обл., с. Алабушево, 14", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := goodOrder()
			o.ShipmentAddressFull, o.ShipmentAddress = c.full, c.text
			_, problems := buildShipment(o, orderFields{}, testProfile, 1)
			if c.field == "" {
				if len(problems) > 0 {
					t.Fatalf("refused: %+v", problems)
				}
				return
			}
			if !hasProblem(problems, c.field) {
				t.Fatalf("no %s problem: %+v", c.field, problems)
			}
			if text := problemsText(problems); !strings.Contains(text, c.say) || !strings.Contains(text, "код ПВЗ") {
				t.Errorf("the manager reads:\n%s\nwant %q and the pickup-point way out", text, c.say)
			}
		})
	}
	// A pickup point needs no address at all.
	o := goodOrder()
	o.ShipmentAddress = "Москва"
	if _, problems := buildShipment(o, orderFields{PickupPoint: "MSK67"}, testProfile, 1); len(problems) > 0 {
		t.Errorf("pickup point with a vague address: %+v", problems)
	}
}

// TestFreeTextAddress is the free-text heuristic on real-looking addresses.
func TestFreeTextAddress(t *testing.T) {
	cases := []struct {
		text   string
		ok     bool
		city   string
		postal string
	}{
		// Accepted: a street (street word, or a part of its own next to the
		// city) and a house number.
		{"г. Москва, ул. Мясницкая, д. 1", true, "Москва", ""},
		{"101000, г. Москва, ул. Мясницкая, 1", true, "Москва", "101000"},
		{"420111, Казань, Баумана 10", true, "Казань", "420111"},
		{"Казань, ул. Баумана, 10", true, "Казань", ""},
		{"190000, г. Санкт-Петербург, Невский пр., д. 28", true, "Санкт-Петербург", "190000"},
		{"Москва, Тверская 7, кв 3", true, "Москва", ""},
		{"Тверская 7, Москва", true, "Москва", ""},
		{"Москва, Ленинский проспект 45-12", true, "Москва", ""},
		{"Россия, Московская обл., г Химки, ул Ленина, 5", true, "Химки", ""},
		{"Московская область, Химки, Ленина, 5", true, "Химки", ""},
		{"125009, Россия, г Москва, Москва, ул Тверская, 1, 123, addInfo", true, "Москва", "125009"},
		{"г.Москва,ул.Тверская,д.7", true, "Москва", ""},
		{"Новосибирск, пр-т Карла Маркса 12к2", true, "Новосибирск", ""},
		{"Екатеринбург, мкр Академический, 5/2", true, "Екатеринбург", ""},
		{"Москва, Зеленоград, корп. 1106", true, "Москва", ""},
		{"Москва, ул. 8 Марта, 5", true, "Москва", ""},
		{"Краснодарский край, ст-ца Каневская, ул. Горького, 40а", true, "Каневская", ""},
		{"Пермь\nул. Ленина 50\nкв 12", true, "Пермь", ""},
		// Refused: a city, a postal code, a street or a house alone.
		{"Москва", false, "Москва", ""},
		{"101000, Москва", false, "Москва", "101000"},
		{"101000 Москва", false, "Москва", "101000"},
		{"Россия, 101000, г. Москва", false, "Москва", "101000"},
		{"Москва 7", false, "", ""},
		{"Москва, 7", false, "Москва", ""},
		{"Москва, д. 7", false, "Москва", ""},
		{"Москва, Тверская", false, "Москва", ""},
		{"Москва, ул. Тверская", false, "Москва", ""},
		{"Москва, ул. 8 Марта", false, "Москва", ""},
		{"Москва, кв. 5", false, "Москва", ""},
		{"г Москва, Москва", false, "Москва", ""},
		{"Москва, до востребования", false, "Москва", ""},
		// A village: houses numbered without streets.
		{"село Алабушево, 14-1", true, "Алабушево", ""},
		{"Тверская обл., Калининский р-н, д. Горки, д. 15", true, "Горки", ""},
		{"142100, Московская область, пос. Дубровицы, 3", true, "Дубровицы", "142100"},
		{"х. Весёлый, 12", true, "Весёлый", ""},
		{"село Алабушево", false, "Алабушево", ""},
		{"д. Горки, ул. Садовая", false, "Горки", ""},
		{"пгт Новый, 5", false, "Новый", ""},
		{"Московская обл., Одинцовский р-н", false, "", ""},
		{"Новосибирск", false, "Новосибирск", ""},
		{"", false, "", ""},
	}
	for _, c := range cases {
		fa := parseFreeAddress(c.text)
		if got := fa.complete(); got != c.ok {
			t.Errorf("%q: street %v, house %v; want accepted=%v", c.text, fa.street, fa.house, c.ok)
		}
		if fa.city != c.city {
			t.Errorf("%q: city %q, want %q", c.text, fa.city, c.city)
		}
		if got := postalCodeIn(c.text); got != c.postal {
			t.Errorf("postalCodeIn(%q) = %q, want %q", c.text, got, c.postal)
		}
	}
}

func TestSplitPersonName(t *testing.T) {
	cases := []struct{ name, surname, given, middle string }{
		{"Иванов Иван Иванович", "Иванов", "Иван", "Иванович"},
		{"  Петрова   Анна  Сергеевна ", "Петрова", "Анна", "Сергеевна"},
		{"иванов иван", "иванов", "иван", ""},
		{"Иванов Иван", "Иванов", "Иван", ""},
		{"Иван Иванов", "Иванов", "Иван", ""},
		{"Анна Смирнова", "Смирнова", "Анна", ""},
		{"Кристина Иванова", "Иванова", "Кристина", ""},
		{"Путин Владимир", "Путин", "Владимир", ""},
		{"Владимир Путин", "Путин", "Владимир", ""},
		{"Иван Иванович Иванов", "Иванов", "Иван", "Иванович"},
		{"Ольга Ильинична Петрова", "Петрова", "Ольга", "Ильинична"},
		{"Салтыков-Щедрин Михаил Евграфович", "Салтыков-Щедрин", "Михаил", "Евграфович"},
		{"Мамедов Рашид Ильхам оглы", "Мамедов", "Рашид", "Ильхам оглы"},
		{"ИП Петров Пётр Петрович", "Петров", "Пётр", "Петрович"},
		{"И.П. Сидоров Олег", "Сидоров", "Олег", ""},
		{"Индивидуальный предприниматель Козлов Игорь Павлович", "Козлов", "Игорь", "Павлович"},
		{"John Smith", "Smith", "John", ""},
		{"Mary Ann Jones", "Jones", "Mary", "Ann"},
		// Not a person's name, or not splittable: the parts stay empty.
		{"Иван", "", "", ""},
		{"ИП Иванов", "", "", ""},
		{"ООО «Ромашка»", "", "", ""},
		{"ООО Ромашка Плюс", "", "", ""},
		{"АО Альфа", "", "", ""},
		{"Иванов И.И.", "", "", ""},
		{"Иванов Иван 2", "", "", ""},
		{"Иванов Иван Иванович Петров", "", "", ""},
		{"Ivanov Иван", "", "", ""},
		{"Иванов/Петров", "", "", ""},
		{"", "", "", ""},
	}
	for _, c := range cases {
		s, g, m := splitPersonName(c.name)
		if s != c.surname || g != c.given || m != c.middle {
			t.Errorf("splitPersonName(%q) = %q %q %q, want %q %q %q", c.name, s, g, m, c.surname, c.given, c.middle)
		}
	}
	// A legal entity's name is never split, even when it reads like a person's.
	var ps problemList
	c := mapRecipient(moysklad.Counterparty{Name: "Иванов Иван Иванович", CompanyType: "legal", Phone: "+79161234567"}, &ps)
	if c.Surname != "" || c.GivenName != "" || c.Name != "Иванов Иван Иванович" {
		t.Errorf("legal entity = %+v", c)
	}
	// The legal title stands in for an empty name.
	c = mapRecipient(moysklad.Counterparty{LegalTitle: "Индивидуальный предприниматель Козлов Игорь Павлович", CompanyType: "entrepreneur", Phone: "+79161234567"}, &ps)
	if c.Surname != "Козлов" || len(ps) != 0 {
		t.Errorf("entrepreneur = %+v, %v", c, ps)
	}
}

func TestBuildShipmentProblemsAllReported(t *testing.T) {
	o := goodOrder()
	o.Agent.Phone = "позвоните Ивану"
	o.Positions[0].Quantity = 1.5
	o.Positions[1].Assortment.Weight = 0
	_, problems := buildShipment(o, orderFields{}, testProfile, 1)
	fields := map[string]bool{}
	for _, p := range problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"recipient.phone", "destination", "positions.quantity", "positions.weight"} {
		if !fields[f] {
			t.Errorf("missing problem %s in %v", f, problems)
		}
	}
	text := problemsText(problems)
	for _, want := range []string{"Телефон получателя «позвоните Ивану»", "ни код ПВЗ, ни адрес", "Дробное количество товара «Чайник» (1.5)", "У товара «Кружка» (позиция 2) не указан вес"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// TestWeight is rule 12 with positions as the moysklad client returns them:
// the assortment weight of a variant is its product's, of a bundle its own
// or its components'; 0 after that resolution means unknown, and the
// problem names the position.
func TestWeight(t *testing.T) {
	cases := []struct {
		name    string
		rows    []string
		unit    string
		weightG int    // the package, when accepted
		problem string // a fragment of the message, when refused
	}{
		{"variant with its product's weight", []string{row("variant", "Футболка (XL, синяя)", 3, 99000, 0, 20, true, 0.2)}, "kg", 600, ""},
		{"bundle with its components' weight", []string{row("bundle", "Набор посуды", 1, 500000, 0, 20, true, 3.5)}, "kg", 3500, ""},
		{"weights in grams", []string{row("product", "Чайник", 2, 100000, 0, 20, true, 1200), row("variant", "Кружка (белая)", 1, 50000, 0, 20, true, 300)}, "g", 2700, ""},
		{"less than a gram is still a weight", []string{row("product", "Марка", 1, 5000, 0, 0, false, 0.0002)}, "kg", 1, ""},
		{"variant whose product has no weight", []string{row("product", "Чайник", 1, 100000, 0, 20, true, 1.2), row("variant", "Футболка (XL, синяя)", 1, 99000, 0, 20, true, 0)}, "kg", 0,
			"У модификации «Футболка (XL, синяя)» (позиция 2) не указан вес"},
		{"bundle with no weight anywhere", []string{row("bundle", "Набор посуды", 1, 500000, 0, 20, true, 0)}, "kg", 0,
			"У комплекта «Набор посуды» (позиция 1) не указан вес: заполните вес комплекта или вес каждого его компонента"},
		{"product without a weight", []string{row("product", "Коврик для мыши", 1, 50000, 0, 20, true, 0)}, "kg", 0,
			"У товара «Коврик для мыши» (позиция 1) не указан вес"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := schemaOrder(t, `"sum": 0.0, "payedSum": 0.0`, c.rows...)
			pr := testProfile
			pr.WeightUnit = c.unit
			s, problems := buildShipment(o, orderFields{PickupPoint: "X"}, pr, 1)
			if c.problem == "" {
				if len(problems) > 0 || s.Packages[0].WeightG != c.weightG {
					t.Fatalf("weight %d g, want %d; problems %+v", s.Packages[0].WeightG, c.weightG, problems)
				}
				return
			}
			if text := problemsText(problems); !hasProblem(problems, "positions.weight") || !strings.Contains(text, c.problem) {
				t.Errorf("the manager reads:\n%s\nwant %q", text, c.problem)
			}
			// A configured default weight stands in for the unknown one.
			pr.DefaultWeightG = 500
			if s, problems = buildShipment(o, orderFields{PickupPoint: "X"}, pr, 1); len(problems) > 0 || s.Packages[0].WeightG <= 0 {
				t.Errorf("with a default weight: %d g, %+v", s.Packages[0].WeightG, problems)
			}
		})
	}
}

func TestBuildShipmentDefaultWeight(t *testing.T) {
	o := goodOrder()
	o.Positions[0].Assortment.Weight = 0
	o.Positions[1].Assortment.Weight = 0
	pr := testProfile
	pr.DefaultWeightG = 900
	s, problems := buildShipment(o, orderFields{PickupPoint: "X"}, pr, 1)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	if s.Packages[0].Items[0].WeightG != 300 || s.Packages[0].WeightG != 900 {
		t.Errorf("weights: item %d, package %d", s.Packages[0].Items[0].WeightG, s.Packages[0].WeightG)
	}
}

func TestBuildShipmentNoGoods(t *testing.T) {
	o := goodOrder()
	o.Positions = nil
	_, problems := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	if len(problems) != 1 || problems[0].Field != "positions" {
		t.Errorf("problems = %v", problems)
	}
	o = goodOrder()
	o.Positions = o.Positions[2:] // only the delivery service
	_, problems = buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "только услуги") {
		t.Errorf("problems = %v", problems)
	}
}

func TestBuildShipmentAbsurdPrice(t *testing.T) {
	o := goodOrder()
	o.Positions[0].Price = 9e15
	_, problems := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	if !hasProblem(problems, "positions.price") || !strings.Contains(problemsText(problems), "Слишком большая цена позиции «Чайник»") {
		t.Errorf("problems = %v", problems)
	}
}

func TestBuildShipmentLongNameAndGrams(t *testing.T) {
	o := goodOrder()
	o.Positions[0].Assortment.Name = strings.Repeat("Ж", 300)
	o.Positions[0].Assortment.Weight = 1200
	o.Positions[1].Assortment.Weight = 300
	pr := testProfile
	pr.WeightUnit = "g"
	s, _ := buildShipment(o, orderFields{PickupPoint: "X"}, pr, 1)
	if n := len([]rune(s.Packages[0].Items[0].Name)); n != maxItemName {
		t.Errorf("name has %d runes", n)
	}
	if s.Packages[0].WeightG != 2700 {
		t.Errorf("weight in grams = %d", s.Packages[0].WeightG)
	}
}

func TestReadFieldsCashOnDelivery(t *testing.T) {
	attrs := corpusAttrs
	attrs.CashOnDelivery = moysklad.AttributeDef{ID: "5a1c0e7e-0000-11f1-0a80-000000000009", Name: "Наложенный платёж", Type: "boolean"}
	o := goodOrder()
	o.Attributes = []moysklad.Attribute{{ID: attrs.CashOnDelivery.ID, Name: "Наложенный платёж", Type: "boolean", Value: json.RawMessage(`true`)}}
	if f := readFields(o, attrs); !f.CashOnDelivery || !f.CashOnDeliveryKnown {
		t.Errorf("ticked: %+v", f)
	}
	o.Attributes = nil // MoySklad omits a boolean attribute that was never ticked
	if f := readFields(o, attrs); f.CashOnDelivery || !f.CashOnDeliveryKnown {
		t.Errorf("empty: %+v", f)
	}
	plain := corpusAttrs
	plain.CashOnDelivery = moysklad.AttributeDef{}
	if f := readFields(o, plain); f.CashOnDeliveryKnown {
		t.Errorf("not configured: %+v", f)
	}
}

func TestMergeProblemsDropsRepeats(t *testing.T) {
	mapping := []carriers.Problem{{Field: "recipient.phone", Message: "Не указан телефон получателя: заполните поле"}, {Field: "destination", Message: "Не указан ни код ПВЗ, ни адрес"}}
	carrier := []carriers.Problem{{Field: "recipient.phone", Message: "Не указан телефон получателя"}, {Field: "address", Message: "Не указаны ни код ПВЗ, ни адрес доставки"},
		{Field: "tariff", Message: "Тариф доставки «x» должен быть числом"}}
	got := mergeProblems(mapping, carrier)
	if len(got) != 3 || got[2].Field != "tariff" {
		t.Errorf("merged = %+v", got)
	}
}
