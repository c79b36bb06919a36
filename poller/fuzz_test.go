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
	"github.com/shipbridge/shipbridge/moysklad"
)

// FuzzBuildShipment maps arbitrary MoySklad orders: the mapping never
// panics; every problem names a field and is explained in Russian; an
// order without problems always yields a CDEK request that CDEK's own
// limits accept (number, phone, weights, amounts, names, money).
func FuzzBuildShipment(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var c struct {
			Order json.RawMessage `json:"order"`
		}
		if json.Unmarshal(b, &c) == nil {
			f.Add([]byte(c.Order), 1, 0, false)
		}
	}
	f.Add([]byte(`{"id":"x","name":"1","agent":{"name":"А","phone":"+79161234567"},"positions":{"rows":[{"quantity":1,"price":1e300,"assortment":{"meta":{"type":"product"},"name":"x","weight":1e300}}]},"attributes":[{"id":"5a1c0e7e-0000-11f1-0a80-000000000002","value":"MSK1"}]}`), 2, 500, true)
	f.Add([]byte(`{"id":"","name":"","agent":{"name":"Б","phone":"8 916 123 45 67"},"positions":{"rows":[{"quantity":999,"price":-5,"assortment":{"meta":{"type":"product"},"name":"","weight":9e12}}]},"shipmentAddress":"г. , ,"}`), 1, 0, false)
	carrier := corpusCarrier(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, data []byte, attempt, defaultWeight int, grams bool) {
		var o moysklad.Order
		if json.Unmarshal(data, &o) != nil {
			return
		}
		if attempt < 1 || attempt > 1000 {
			attempt = 1 // one more per deletion: never more than a few
		}
		pr := carriers.Profile{Names: []string{"СДЭК"}, WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}
		if defaultWeight > 0 && defaultWeight < 1_000_000 {
			pr.DefaultWeightG = defaultWeight
		}
		if grams {
			pr.WeightUnit = "g"
		}
		checkMapping(t, carrier, o, pr, attempt)
	})
}

var fieldRE = regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$`)

// checkMapping maps o and checks the invariants of FuzzBuildShipment.
func checkMapping(t *testing.T, carrier *cdek.Carrier, o moysklad.Order, pr carriers.Profile, attempt int) {
	t.Helper()
	s, problems := buildShipment(o, readFields(o, corpusAttrs), pr, attempt)
	problems = append(problems, carrier.Validate(s)...)
	for _, p := range problems {
		if !fieldRE.MatchString(p.Field) || !cyrillic.MatchString(p.Message) || !utf8.ValidString(p.Message) {
			t.Fatalf("problem %+v: the field must be named and the message Russian", p)
		}
	}
	number := carrier.Number(s)
	if !printableASCII.MatchString(number) || carrier.Number(s) != number {
		t.Fatalf("number %q (attempt %d) is not a stable 1–30 character ASCII code", number, attempt)
	}
	if len(problems) > 0 {
		_ = problemsText(problems)
		return
	}
	r, err := carrier.BuildRequest(s)
	if err != nil {
		t.Fatalf("valid shipment, but BuildRequest: %v", err)
	}
	if len(r.Packages) != 1 || r.Packages[0].Weight <= 0 || len(r.Packages[0].Items) == 0 {
		t.Fatalf("packages %+v", r.Packages)
	}
	if len(r.Recipient.Phones) != 1 || !regexp.MustCompile(`^\+[1-9]\d{7,14}$`).MatchString(r.Recipient.Phones[0].Number) {
		t.Fatalf("phones %+v", r.Recipient.Phones)
	}
	if (r.DeliveryPoint == "") == (r.ToLocation == nil) {
		t.Fatalf("delivery_point %q, to_location %+v", r.DeliveryPoint, r.ToLocation)
	}
	total := int64(0)
	for _, it := range r.Packages[0].Items {
		if it.Amount < 1 || it.Amount > 999 || it.Weight <= 0 || utf8.RuneCountInString(it.Name) > 255 || !utf8.ValidString(it.Name) ||
			it.Cost < 0 || it.Payment.Value < 0 || it.Payment.Value > it.Cost {
			t.Fatalf("item %+v", it)
		}
		total += int64(it.Weight) * int64(it.Amount)
	}
	if total != int64(r.Packages[0].Weight) {
		t.Fatalf("package weight %d, items weigh %d", r.Packages[0].Weight, total)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("the request cannot be encoded: %v", err)
	}
}

// FuzzMappingFields fuzzes the fields a manager types, inside a well-formed
// order, so that the fuzzer spends its time on the mapping rather than on
// JSON syntax.
func FuzzMappingFields(f *testing.F) {
	f.Add("Иванов Иван", "+7 916 123-45-67", "Чайник", 2.0, 1.2, int64(150000), 0.0, "MSK67", "", "", int64(0), 1)
	f.Add("", "8 916 123 45 67", "", 1.5, 0.0, int64(0), 10.0, "", "г. Москва, ул. Тверская, д. 7", "", int64(100), 2)
	f.Add("ООО «Ромашка» 🌸", "+375 29 123-45-67", "Набор", 999.0, 1e-9, int64(-1), 100.0, "", "", "Казань, Баумана 1", int64(1e12), 3)
	f.Add("1234", "восемь", "x", -1.0, -3.0, int64(9e18), 250.0, " msk67 ", "190000", "", int64(-5), 0)
	carrier := corpusCarrier(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, name, phone, item string, qty, weight float64, price int64, discount float64, pickup, address, addInfo string, payed int64, attempt int) {
		// MoySklad's answers are JSON: their strings are valid UTF-8 after decoding.
		for _, p := range []*string{&name, &phone, &item, &pickup, &address, &addInfo} {
			*p = strings.ToValidUTF8(*p, "\uFFFD")
		}
		if math.IsNaN(qty) || math.IsInf(qty, 0) || math.IsNaN(weight) || math.IsInf(weight, 0) || math.IsNaN(discount) || math.IsInf(discount, 0) {
			return // JSON has no NaN or infinity
		}
		o := moysklad.Order{ID: "0b2e8f4c-0000-11f1-0a80-000000000001", Name: name, Sum: price, PayedSum: payed,
			Agent: moysklad.Counterparty{Name: name, Phone: phone},
			Positions: []moysklad.Position{{Quantity: qty, Price: price, Discount: discount,
				Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "product"}, ID: "p1", Name: item, Article: item, Weight: weight}}},
			ShipmentAddress: address}
		if addInfo != "" {
			o.ShipmentAddressFull = &moysklad.Address{AddInfo: addInfo}
		}
		if pickup != "" {
			raw, _ := json.Marshal(pickup)
			o.Attributes = []moysklad.Attribute{{ID: corpusAttrs.PickupPoint.ID, Type: "string", Value: raw}}
		}
		if attempt < 1 || attempt > 1000 {
			attempt = 1
		}
		pr := carriers.Profile{Names: []string{"СДЭК"}, WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}
		checkMapping(t, carrier, o, pr, attempt)
	})
}
