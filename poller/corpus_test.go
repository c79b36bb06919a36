package poller

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// corpusCase is one fixture of testdata/corpus: a MoySklad customerorder
// in the API's JSON shape and what must become of it.
type corpusCase struct {
	file        string
	Description string `json:"description"`
	// Carrier is the carrier whose Validate the case runs: "cdek" (the
	// default) or "pochta".
	Carrier string          `json:"carrier"`
	Order   json.RawMessage `json:"order"`
	Attempt int             `json:"attempt"`
	Profile struct {
		DefaultWeightG int    `json:"default_weight_g"`
		WeightUnit     string `json:"weight_unit"`
		CashOnDelivery string `json:"cash_on_delivery"`
	} `json:"profile"`
	// Bug, when set, names a known defect the case exposes; such cases run
	// only with -tags shipbridge_bugs (see corpus_bugs_test.go).
	Bug    string `json:"bug"`
	Expect struct {
		Outcome string `json:"outcome"` // "ok" or "invalid"
		// invalid: every field must be among the problems, every message
		// fragment in the text for the manager (case-insensitive).
		Fields   []string `json:"fields"`
		Messages []string `json:"messages"`
		// ok: the fields of CDEK's request that are given are checked.
		Number        string   `json:"number"`
		NumberRE      string   `json:"number_re"`
		Phone         string   `json:"phone"`
		RecipientName string   `json:"recipient_name"`
		DeliveryPoint string   `json:"delivery_point"`
		TariffCode    int      `json:"tariff_code"`
		WeightG       int      `json:"weight_g"`
		Items         int      `json:"items"`
		CODRub        *float64 `json:"cod_rub"`
		DeclaredRub   *float64 `json:"declared_rub"`
		MaxItemName   int      `json:"max_item_name"`
		WareKeys      []string `json:"ware_keys"`
		ToCity        string   `json:"to_city"`
		ToPostal      string   `json:"to_postal"`
		ToAddress     string   `json:"to_address"`
		// ok: the fields of the carrier-neutral shipment that are given are
		// checked (money in kopecks; name_parts is surname, given name,
		// patronymic).
		ShipmentCODKop    *int64   `json:"shipment_cod_kop"`
		DeliveryChargeKop *int64   `json:"delivery_charge_kop"`
		NameParts         []string `json:"name_parts"`
	} `json:"expect"`
}

// Attribute ids used by the fixtures.
var corpusAttrs = attributeSet{
	Carrier:        moysklad.AttributeDef{ID: "5a1c0e7e-0000-11f1-0a80-000000000001", Name: "Служба доставки", Type: "string"},
	PickupPoint:    moysklad.AttributeDef{ID: "5a1c0e7e-0000-11f1-0a80-000000000002", Name: "Код ПВЗ", Type: "string"},
	Tariff:         moysklad.AttributeDef{ID: "5a1c0e7e-0000-11f1-0a80-000000000003", Name: "Тариф доставки", Type: "long"},
	CashOnDelivery: moysklad.AttributeDef{ID: "5a1c0e7e-0000-11f1-0a80-000000000009", Name: "Наложенный платёж", Type: "boolean"},
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c corpusCase
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.file = filepath.Base(f)
		if c.Attempt == 0 {
			c.Attempt = 1
		}
		cases = append(cases, c)
	}
	if len(cases) < 40 {
		t.Fatalf("the corpus has %d cases, want at least 40", len(cases))
	}
	return cases
}

func (c corpusCase) profile() carriers.Profile {
	p := carriers.Profile{Names: []string{"СДЭК", "CDEK"}, WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto",
		DefaultWeightG: c.Profile.DefaultWeightG}
	if c.Profile.WeightUnit != "" {
		p.WeightUnit = c.Profile.WeightUnit
	}
	if c.Profile.CashOnDelivery != "" {
		p.CashOnDelivery = c.Profile.CashOnDelivery
	}
	return p
}

func (c corpusCase) skipKnownBug(t *testing.T) {
	t.Helper()
	if c.Bug != "" && !runKnownBugs {
		t.Skipf("known bug (run with -tags shipbridge_bugs): %s", c.Bug)
	}
}

func corpusCarrier(t testing.TB, baseURL string) *cdek.Carrier {
	t.Helper()
	c, err := cdek.New(cdek.Config{BaseURL: baseURL, ClientID: "sim-client", ClientSecret: "sim-secret", ShipmentPoint: "MSK65"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func corpusPochta(t testing.TB) *pochta.Carrier {
	t.Helper()
	c, err := pochta.New(pochta.Config{Enabled: true, BaseURL: "http://127.0.0.1:1", Token: "t", Login: "l", Password: "p",
		PostofficeCode: "102961", MailType: "POSTAL_PARCEL", DeclaredValue: true, CashOnDelivery: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var cyrillic = regexp.MustCompile(`\p{Cyrillic}`)

// TestCorpus maps every fixture and runs the CDEK adapter's Validate and
// BuildRequest: each ends in a correct request or in Russian messages that
// name the field; none panics.
func TestCorpus(t *testing.T) {
	carrier := corpusCarrier(t, "http://127.0.0.1:1") // no call is made
	post := corpusPochta(t)
	for _, c := range loadCorpus(t) {
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			c.skipKnownBug(t)
			var o moysklad.Order
			if err := json.Unmarshal(c.Order, &o); err != nil {
				t.Fatalf("the order does not decode with the moysklad types: %v", err)
			}
			f := readFields(o, corpusAttrs)
			s, problems := buildShipment(o, f, c.profile(), c.Attempt)
			if c.Carrier == "pochta" {
				problems = append(problems, post.Validate(s)...)
				switch c.Expect.Outcome {
				case "invalid":
					checkInvalid(t, c, problems)
				case "ok":
					if len(problems) > 0 {
						t.Fatalf("%s: unexpected problems %+v", c.Description, problems)
					}
					checkShipment(t, c, o, f, s)
				default:
					t.Fatalf("unknown outcome %q", c.Expect.Outcome)
				}
				return
			}
			problems = append(problems, carrier.Validate(s)...)
			switch c.Expect.Outcome {
			case "invalid":
				checkInvalid(t, c, problems)
			case "ok":
				if len(problems) > 0 {
					t.Fatalf("%s: unexpected problems %+v", c.Description, problems)
				}
				checkShipment(t, c, o, f, s)
				req, err := carrier.BuildRequest(s)
				if err != nil {
					t.Fatalf("BuildRequest: %v", err)
				}
				checkRequest(t, c, o, req)
			default:
				t.Fatalf("bad expect.outcome %q", c.Expect.Outcome)
			}
		})
	}
}

func checkInvalid(t *testing.T, c corpusCase, problems []carriers.Problem) {
	t.Helper()
	if len(problems) == 0 {
		t.Fatalf("%s: no problem found", c.Description)
	}
	for _, want := range c.Expect.Fields {
		found := false
		for _, p := range problems {
			if p.Field == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem for field %q; problems %+v", want, problems)
		}
	}
	for _, p := range problems {
		if p.Field == "" || !cyrillic.MatchString(p.Message) {
			t.Errorf("problem without a field or not in Russian: %+v", p)
		}
	}
	text := strings.ToLower(problemsText(problems))
	for _, frag := range c.Expect.Messages {
		if !strings.Contains(text, strings.ToLower(frag)) {
			t.Errorf("the manager's text lacks %q:\n%s", frag, text)
		}
	}
}

// checkShipment checks the carrier-neutral shipment of a valid fixture:
// the invariants of rules 11 and 7 on every one (the amount collected is
// what the customer still owes in the profile's mode, split exactly between
// the items and the delivery charge, no unit above its price; the mark is
// the order's), and the fixture's expected money and name parts.
func checkShipment(t *testing.T, c corpusCase, o moysklad.Order, f orderFields, s carriers.Shipment) {
	t.Helper()
	checkMoney(t, s)
	owed := max(0, o.Sum-o.PayedSum)
	switch pr := c.profile(); {
	case pr.CashOnDelivery == "never", pr.CashOnDelivery == "attribute" && !f.CashOnDelivery:
		owed = 0
	}
	if s.CashOnDelivery != owed {
		t.Errorf("collects %d kopecks, the customer owes %d (sum %d, payedSum %d)", s.CashOnDelivery, owed, o.Sum, o.PayedSum)
	}
	if s.Mark != "shipbridge:"+o.ID {
		t.Errorf("mark %q", s.Mark)
	}
	e := c.Expect
	if e.ShipmentCODKop != nil && s.CashOnDelivery != *e.ShipmentCODKop {
		t.Errorf("cash on delivery %d kopecks, want %d", s.CashOnDelivery, *e.ShipmentCODKop)
	}
	if e.DeliveryChargeKop != nil && s.DeliveryCharge != *e.DeliveryChargeKop {
		t.Errorf("delivery charge %d kopecks, want %d", s.DeliveryCharge, *e.DeliveryChargeKop)
	}
	if e.NameParts != nil {
		got := []string{s.Recipient.Surname, s.Recipient.GivenName, s.Recipient.MiddleName}
		if strings.Join(got, "|") != strings.Join(e.NameParts, "|") {
			t.Errorf("name parts %q, want %q", got, e.NameParts)
		}
	}
}

var printableASCII = regexp.MustCompile(`^[!-~]{1,30}$`)

func checkRequest(t *testing.T, c corpusCase, o moysklad.Order, r cdek.OrderRequest) {
	t.Helper()
	e := c.Expect
	// Invariants of every request.
	if !printableASCII.MatchString(r.Number) {
		t.Errorf("number %q is not 1–30 printable ASCII characters", r.Number)
	}
	if len(r.Recipient.Phones) != 1 || !regexp.MustCompile(`^\+[1-9]\d{7,14}$`).MatchString(r.Recipient.Phones[0].Number) {
		t.Errorf("phones %+v", r.Recipient.Phones)
	}
	if (r.DeliveryPoint == "") == (r.ToLocation == nil) {
		t.Errorf("exactly one of delivery_point and to_location: %q %+v", r.DeliveryPoint, r.ToLocation)
	}
	if len(r.Packages) != 1 || r.Packages[0].Weight <= 0 || r.Packages[0].Number != "1" {
		t.Fatalf("packages %+v", r.Packages)
	}
	pkg := r.Packages[0]
	var cod, declared float64
	sumW := 0
	for _, it := range pkg.Items {
		if it.Amount < 1 || it.Amount > 999 || it.Weight <= 0 || utf8.RuneCountInString(it.Name) > 255 || it.WareKey == "" {
			t.Errorf("item %+v", it)
		}
		if float64(it.Payment.Value) > float64(it.Cost)+1e-9 {
			t.Errorf("item %q collects %v for a unit that costs %v", it.Name, it.Payment.Value, it.Cost)
		}
		cod += float64(it.Payment.Value) * float64(it.Amount)
		declared += float64(it.Cost) * float64(it.Amount)
		sumW += int(it.Weight) * int(it.Amount)
	}
	if sumW != int(pkg.Weight) {
		t.Errorf("package weight %d ≠ Σ item weight × amount %d", pkg.Weight, sumW)
	}
	// The expected fields.
	if e.Number != "" && r.Number != e.Number {
		t.Errorf("number %q, want %q", r.Number, e.Number)
	}
	if e.NumberRE != "" {
		if !regexp.MustCompile(e.NumberRE).MatchString(r.Number) {
			t.Errorf("number %q does not match %s", r.Number, e.NumberRE)
		}
		// Stable: derived from the id, not from chance.
		o2 := o
		s2, _ := buildShipment(o2, readFields(o2, corpusAttrs), c.profile(), c.Attempt)
		if r2, _ := corpusCarrier(t, "http://127.0.0.1:1").BuildRequest(s2); r2.Number != r.Number {
			t.Errorf("number not stable: %q then %q", r.Number, r2.Number)
		}
	}
	if e.Phone != "" && r.Recipient.Phones[0].Number != e.Phone {
		t.Errorf("phone %q, want %q", r.Recipient.Phones[0].Number, e.Phone)
	}
	if e.RecipientName != "" && r.Recipient.Name != e.RecipientName {
		t.Errorf("recipient %q, want %q", r.Recipient.Name, e.RecipientName)
	}
	if e.DeliveryPoint != "" && r.DeliveryPoint != e.DeliveryPoint {
		t.Errorf("delivery_point %q, want %q", r.DeliveryPoint, e.DeliveryPoint)
	}
	if e.TariffCode != 0 && int(r.TariffCode) != e.TariffCode {
		t.Errorf("tariff_code %d, want %d", r.TariffCode, e.TariffCode)
	}
	if e.WeightG != 0 && int(pkg.Weight) != e.WeightG {
		t.Errorf("weight %d g, want %d", pkg.Weight, e.WeightG)
	}
	if e.Items != 0 && len(pkg.Items) != e.Items {
		t.Errorf("%d items, want %d", len(pkg.Items), e.Items)
	}
	if e.CODRub != nil && math.Abs(cod-*e.CODRub) > 0.005 {
		t.Errorf("cash on delivery %.2f ₽, want %.2f", cod, *e.CODRub)
	}
	if e.DeclaredRub != nil && math.Abs(declared-*e.DeclaredRub) > 0.005 {
		t.Errorf("declared value %.2f ₽, want %.2f", declared, *e.DeclaredRub)
	}
	if e.MaxItemName != 0 {
		for _, it := range pkg.Items {
			if n := utf8.RuneCountInString(it.Name); n != e.MaxItemName {
				t.Errorf("item name has %d characters, want %d", n, e.MaxItemName)
			}
		}
	}
	for i, k := range e.WareKeys {
		if i < len(pkg.Items) && pkg.Items[i].WareKey != k {
			t.Errorf("ware_key %q, want %q", pkg.Items[i].WareKey, k)
		}
	}
	if e.ToCity != "" || e.ToPostal != "" || e.ToAddress != "" {
		l := r.ToLocation
		if l == nil {
			t.Fatalf("no to_location")
		}
		if e.ToCity != "" && l.City != e.ToCity {
			t.Errorf("to_location.city %q, want %q", l.City, e.ToCity)
		}
		if e.ToPostal != "" && l.PostalCode != e.ToPostal {
			t.Errorf("to_location.postal_code %q, want %q", l.PostalCode, e.ToPostal)
		}
		if e.ToAddress != "" && l.Address != e.ToAddress {
			t.Errorf("to_location.address %q, want %q", l.Address, e.ToAddress)
		}
	}
}

// TestCorpusFullCycle puts the fixtures into the MoySklad simulator and runs
// the real cycle against both simulators: invalid orders end failed with
// the manager's text and never reach CDEK; valid ones are registered.
func TestCorpusFullCycle(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{})
	type placed struct {
		c    corpusCase
		id   string
		name string
	}
	var all []placed
	for _, c := range loadCorpus(t) {
		if c.Bug != "" && !runKnownBugs {
			continue
		}
		if c.Carrier == "pochta" {
			continue // this cycle runs CDEK; Pochta's full cycles are in pochta_e2e_test.go
		}
		var o moysklad.Order
		if err := json.Unmarshal(c.Order, &o); err != nil {
			t.Fatal(err)
		}
		pr := c.profile()
		if pr.DefaultWeightG != 0 || pr.WeightUnit != "kg" || pr.CashOnDelivery != "auto" || c.Attempt != 1 {
			continue // the harness has one carrier profile
		}
		attrs := map[string]any{}
		f := readFields(o, corpusAttrs)
		if f.Carrier != "" {
			attrs["Служба доставки"] = f.Carrier
		}
		if f.PickupPoint != "" {
			attrs["Код ПВЗ"] = f.PickupPoint
		}
		if f.Tariff != "" {
			n, ok := o.Attributes[len(o.Attributes)-1].Int()
			if !ok {
				continue // a text tariff cannot be put into a long attribute
			}
			attrs["Тариф доставки"] = n
		}
		name := o.Name
		if c.Expect.Number == "" && c.Expect.NumberRE == "" {
			name = "K-" + strings.SplitN(c.file, "-", 2)[0] // the fixtures share names
		}
		agent := h.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: o.Agent.Name, LegalTitle: o.Agent.LegalTitle, Phone: o.Agent.Phone, Email: o.Agent.Email})
		var ps []moyskladtest.PositionSeed
		for _, p := range o.Positions {
			a := p.Assortment
			pid := h.ms.AddProduct(moyskladtest.ProductSeed{Name: a.Name, Code: a.Code, Article: a.Article, Type: a.Meta.Type, Weight: a.Weight})
			ps = append(ps, moyskladtest.PositionSeed{ProductID: pid, Quantity: p.Quantity, Price: p.Price, Discount: p.Discount})
		}
		id := h.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: agent, StateName: "Новый", Positions: ps,
			ShipmentAddress: o.ShipmentAddress, ShipmentAddressFull: o.ShipmentAddressFull, PayedSum: o.PayedSum, Attributes: attrs})
		h.set(id, sReady)
		all = append(all, placed{c, id, name})
	}
	if len(all) < 30 {
		t.Fatalf("only %d fixtures could be placed", len(all))
	}
	h.cycle()
	h.cycle()
	carrier := corpusCarrier(t, sim.URL())
	for _, p := range all {
		o := h.order(p.id)
		number := carrier.Number(carriers.Shipment{OrderID: p.id, OrderName: p.name, Attempt: 1})
		switch p.c.Expect.Outcome {
		case "invalid":
			if o.StateName != sFailed {
				t.Errorf("%s: status %s, want failed", p.c.file, o.StateName)
			}
			text := strings.ToLower(o.Attr("Ошибка доставки"))
			for _, frag := range p.c.Expect.Messages {
				if !strings.Contains(text, strings.ToLower(frag)) {
					t.Errorf("%s: error attribute lacks %q: %s", p.c.file, frag, text)
				}
			}
			if n := sim.CreatesForNumber(number); n != 0 {
				t.Errorf("%s: invalid order reached CDEK %d times", p.c.file, n)
			}
		case "ok":
			if o.StateName != sRegistered || sim.ActiveOrdersForNumber(number) != 1 {
				t.Errorf("%s: status %s (error %q), %d live CDEK orders for %s", p.c.file, o.StateName, o.Attr("Ошибка доставки"), sim.ActiveOrdersForNumber(number), number)
			}
		}
	}
	// Nothing reached CDEK but the valid orders.
	valid := map[string]bool{}
	for _, p := range all {
		if p.c.Expect.Outcome == "ok" {
			valid[carrier.Number(carriers.Shipment{OrderID: p.id, OrderName: p.name, Attempt: 1})] = true
		}
	}
	for _, co := range sim.Orders() {
		if !valid[co.Number] {
			t.Errorf("CDEK received order %s, which is not a valid fixture", co.Number)
		}
	}
}
