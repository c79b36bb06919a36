package poller

import (
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

var testProfile = carriers.Profile{WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}

func goodOrder() moysklad.Order {
	return moysklad.Order{
		ID: "a1b2", Name: "00042", Sum: 250000, PayedSum: 0,
		Agent: moysklad.Counterparty{Name: "Иванов Иван", Phone: "8 (916) 123-45-67", Email: "ivan@example.ru"},
		Positions: []moysklad.Position{
			{Quantity: 2, Price: 100000, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "product"}, ID: "p1", Name: "Чайник", Article: "KT-1", Weight: 1.2}},
			{Quantity: 1, Price: 50000, Discount: 10, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "product"}, ID: "p2", Name: "Кружка", Code: "00017", Weight: 0.3}},
			{Quantity: 1, Price: 30000, Assortment: moysklad.Assortment{Meta: moysklad.Meta{Type: "service"}, ID: "s1", Name: "Доставка"}},
		},
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
	if s.PickupPoint != "MSK67" || s.Address != nil {
		t.Errorf("destination = %q %+v", s.PickupPoint, s.Address)
	}
	if len(s.Packages) != 1 || len(s.Packages[0].Items) != 2 {
		t.Fatalf("packages = %+v", s.Packages)
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
	if s.DeclaredValue != 245000 || s.CashOnDelivery != 245000 {
		t.Errorf("declared %d, cod %d", s.DeclaredValue, s.CashOnDelivery)
	}
}

func TestBuildShipmentPaidAndNever(t *testing.T) {
	o := goodOrder()
	o.PayedSum = o.Sum
	s, _ := buildShipment(o, orderFields{PickupPoint: "X"}, testProfile, 1)
	if s.CashOnDelivery != 0 || s.Packages[0].Items[0].Payment != 0 {
		t.Errorf("paid order collects %d", s.CashOnDelivery)
	}
	o.PayedSum = 0
	pr := testProfile
	pr.CashOnDelivery = "never"
	s, _ = buildShipment(o, orderFields{PickupPoint: "X"}, pr, 1)
	if s.CashOnDelivery != 0 {
		t.Errorf("never collects %d", s.CashOnDelivery)
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
	s, _ = buildShipment(o, orderFields{}, testProfile, 1)
	if s.Address == nil || s.Address.Text != "Москва, Тверская 7, кв 3" {
		t.Errorf("addInfo-only address = %+v", s.Address)
	}
	o.ShipmentAddressFull = nil
	o.ShipmentAddress = "Казань, ул. Баумана, 10"
	s, _ = buildShipment(o, orderFields{}, testProfile, 1)
	if s.Address == nil || s.Address.Text != "Казань, ул. Баумана, 10" || s.Address.City != "Казань" {
		t.Errorf("text address = %+v", s.Address)
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
	for _, want := range []string{"Телефон получателя «позвоните Ивану»", "ни код ПВЗ, ни адрес", "Дробное количество товара «Чайник» (1.5)", "не указан вес"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
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

func TestCityAndPostalCodeInText(t *testing.T) {
	cases := []struct{ text, city, postal string }{
		{"г. Москва, ул. Мясницкая, д. 1", "Москва", ""},
		{"101000, г. Москва, ул. Мясницкая, 1", "Москва", "101000"},
		{"420111, Казань, Баумана 10", "Казань", "420111"},
		{"Новосибирск", "Новосибирск", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		if got := cityIn(c.text); got != c.city {
			t.Errorf("cityIn(%q) = %q, want %q", c.text, got, c.city)
		}
		if got := postalCodeIn(c.text); got != c.postal {
			t.Errorf("postalCodeIn(%q) = %q, want %q", c.text, got, c.postal)
		}
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
