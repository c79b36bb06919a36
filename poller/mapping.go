package poller

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

// maxItemName is the longest item name carriers accept (CDEK: 255).
const maxItemName = 255

// maxQuantity is the largest quantity of one position that is plausible
// for a parcel; anything above is almost surely a typo.
const maxQuantity = 10000

// orderFields are the values shipbridge reads from an order's custom
// attributes.
type orderFields struct {
	Carrier     string
	PickupPoint string
	Tariff      string
	Waybill     string // file name of the attached waybill, if any
}

// readFields extracts the configured attributes from an order.
func readFields(o moysklad.Order, attrs attributeSet) orderFields {
	var f orderFields
	for _, a := range o.Attributes {
		switch a.ID {
		case attrs.Carrier.ID:
			f.Carrier, _ = a.String()
		case attrs.PickupPoint.ID:
			f.PickupPoint, _ = a.String()
		case attrs.Tariff.ID:
			if n, ok := a.Int(); ok {
				f.Tariff = strconv.FormatInt(n, 10)
			} else {
				f.Tariff, _ = a.String()
			}
		case attrs.Waybill.ID:
			f.Waybill = a.FileName()
		}
	}
	f.Carrier = strings.TrimSpace(f.Carrier)
	f.PickupPoint = strings.TrimSpace(f.PickupPoint)
	f.Tariff = strings.TrimSpace(f.Tariff)
	return f
}

// buildShipment maps a MoySklad order onto a carrier shipment using the
// carrier's profile. It returns every problem a manager can fix; the
// shipment is only meaningful when there are none.
func buildShipment(o moysklad.Order, f orderFields, p carriers.Profile, attempt int) (carriers.Shipment, []carriers.Problem) {
	var problems []carriers.Problem
	add := func(field, msg string, args ...any) {
		problems = append(problems, carriers.Problem{Field: field, Message: fmt.Sprintf(msg, args...)})
	}
	s := carriers.Shipment{
		OrderID:     o.ID,
		OrderName:   o.Name,
		Attempt:     attempt,
		PickupPoint: f.PickupPoint,
		Tariff:      f.Tariff,
	}

	// Recipient.
	name := strings.TrimSpace(o.Agent.Name)
	if name == "" {
		name = strings.TrimSpace(o.Agent.LegalTitle)
	}
	if name == "" {
		add("recipient.name", "Не указан получатель: у контрагента нет наименования")
	}
	s.Recipient.Name = name
	s.Recipient.Email = strings.TrimSpace(o.Agent.Email)
	phone, err := carriers.NormalizePhone(o.Agent.Phone)
	switch err {
	case nil:
		s.Recipient.Phone = phone
	case carriers.ErrPhoneEmpty:
		add("recipient.phone", "Не указан телефон получателя: заполните поле «Телефон» у контрагента")
	default:
		add("recipient.phone", "Телефон получателя «%s» не похож на номер: укажите его в виде +7XXXXXXXXXX или с кодом страны", strings.TrimSpace(o.Agent.Phone))
	}

	// Destination.
	if s.PickupPoint == "" {
		s.Address = mapAddress(o)
		if s.Address == nil {
			add("destination", "Не указан ни код ПВЗ, ни адрес доставки: заполните поле «Код ПВЗ» или адрес доставки заказа")
		}
	}

	// Goods.
	pkg := carriers.Package{Number: "1", LengthCM: p.LengthCM, WidthCM: p.WidthCM, HeightCM: p.HeightCM}
	unitFactor := 1000.0 // kg → g
	if strings.EqualFold(p.WeightUnit, "g") {
		unitFactor = 1
	}
	collect := p.CashOnDelivery != "never" && o.PayedSum < o.Sum
	var weightless []int // indexes into pkg.Items of goods without a weight
	totalUnits := 0
	for _, pos := range o.Positions {
		a := pos.Assortment
		if a.Meta.Type == "service" {
			continue // services (delivery, packing) are not goods in the parcel
		}
		itemName := strings.TrimSpace(a.Name)
		if itemName == "" {
			itemName = "Товар"
		}
		if utf8.RuneCountInString(itemName) > maxItemName {
			itemName = string([]rune(itemName)[:maxItemName])
		}
		if pos.Quantity <= 0 {
			add("positions.quantity", "Количество товара «%s» должно быть больше нуля", shortName(itemName))
			continue
		}
		if pos.Quantity != math.Trunc(pos.Quantity) {
			add("positions.quantity", "Дробное количество товара «%s» (%s): служба доставки принимает только целые штуки", shortName(itemName), strconv.FormatFloat(pos.Quantity, 'f', -1, 64))
			continue
		}
		if pos.Quantity > maxQuantity {
			add("positions.quantity", "Слишком большое количество товара «%s» (%s): проверьте позицию", shortName(itemName), strconv.FormatFloat(pos.Quantity, 'f', -1, 64))
			continue
		}
		amount := int(pos.Quantity)
		unitPrice := int64(math.Round(float64(pos.Price) * (1 - pos.Discount/100)))
		item := carriers.Item{
			Name:    itemName,
			WareKey: firstNonEmpty(a.Article, a.Code, a.ID, a.Meta.ID()),
			Cost:    unitPrice,
			WeightG: int(math.Round(a.Weight * unitFactor)),
			Amount:  amount,
		}
		if collect {
			item.Payment = unitPrice
		}
		if item.WeightG <= 0 {
			item.WeightG = 0
			weightless = append(weightless, len(pkg.Items))
		}
		totalUnits += amount
		pkg.Items = append(pkg.Items, item)
	}
	if len(o.Positions) == 0 {
		add("positions", "В заказе нет товаров: добавьте позиции")
	} else if len(pkg.Items) == 0 && !hasProblem(problems, "positions.quantity") {
		add("positions", "В заказе нет товаров для отправки: только услуги")
	}
	if len(weightless) > 0 {
		if p.DefaultWeightG <= 0 {
			for _, i := range weightless {
				add("positions.weight", "У товара «%s» не указан вес: заполните вес в карточке товара", shortName(pkg.Items[i].Name))
			}
		} else {
			// Spread the configured default weight over the units whose
			// weight is unknown, at least a gram each.
			units := 0
			for _, i := range weightless {
				units += pkg.Items[i].Amount
			}
			per := p.DefaultWeightG / units
			if per < 1 {
				per = 1
			}
			for _, i := range weightless {
				pkg.Items[i].WeightG = per
			}
		}
	}
	for _, it := range pkg.Items {
		pkg.WeightG += it.WeightG * it.Amount
		s.DeclaredValue += it.Cost * int64(it.Amount)
		s.CashOnDelivery += it.Payment * int64(it.Amount)
	}
	_ = totalUnits
	s.Packages = []carriers.Package{pkg}
	return s, problems
}

// mapAddress reads the shipment address of an order: the structured one when
// it has a city, else its free text.
func mapAddress(o moysklad.Order) *carriers.Address {
	if a := o.ShipmentAddressFull; a != nil {
		addr := &carriers.Address{
			PostalCode: strings.TrimSpace(a.PostalCode),
			Region:     strings.TrimSpace(a.Region),
			City:       strings.TrimSpace(a.City),
			Street:     strings.TrimSpace(a.Street),
			House:      strings.TrimSpace(a.House),
			Apartment:  strings.TrimSpace(a.Apartment),
		}
		if addr.City != "" || addr.Street != "" {
			if addr.Street == "" {
				addr.Text = strings.TrimSpace(a.AddInfo)
			}
			return addr
		}
		if t := strings.TrimSpace(a.AddInfo); t != "" {
			addr.Text = t
			if addr.PostalCode == "" {
				addr.PostalCode = postalCodeIn(t)
			}
			addr.City = cityIn(t)
			return addr
		}
	}
	if t := strings.TrimSpace(o.ShipmentAddress); t != "" {
		return &carriers.Address{Text: t, PostalCode: postalCodeIn(t), City: cityIn(t)}
	}
	return nil
}

// cityIn guesses the city of a free-text Russian address: the part marked
// "г." or "город", else the first part that is not a postal code. Carriers
// need a city to route a parcel; when the guess is wrong they say so.
func cityIn(text string) string {
	parts := strings.Split(text, ",")
	for _, p := range parts {
		p = strings.TrimSpace(p)
		for _, prefix := range []string{"г.", "г ", "город "} {
			if strings.HasPrefix(strings.ToLower(p), prefix) {
				return strings.TrimSpace(p[len(prefix):])
			}
		}
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && postalCodeIn(p) != p {
			return p
		}
	}
	return ""
}

// postalCodeIn returns the first six-digit Russian postal code in text.
func postalCodeIn(text string) string {
	run := 0
	for i, r := range text {
		if r >= '0' && r <= '9' {
			run++
			continue
		}
		if run == 6 {
			return text[i-6 : i]
		}
		run = 0
	}
	if run == 6 {
		return text[len(text)-6:]
	}
	return ""
}

func hasProblem(ps []carriers.Problem, field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}

func shortName(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// mergeProblems adds the carrier's problems to the mapping's, leaving out
// those about something the mapping already reported (the same fault seen
// twice would read as two).
func mergeProblems(mapping, carrier []carriers.Problem) []carriers.Problem {
	seen := map[string]bool{}
	for _, p := range mapping {
		seen[problemGroup(p.Field)] = true
	}
	out := mapping
	for _, p := range carrier {
		if !seen[problemGroup(p.Field)] {
			out = append(out, p)
		}
	}
	return out
}

// problemGroup maps a problem's field to the thing a manager fixes.
func problemGroup(field string) string {
	head, _, _ := strings.Cut(field, ".")
	switch head {
	case "destination", "address", "pickup_point":
		return "destination"
	case "positions", "packages":
		return "goods"
	}
	return field
}

// problemsText joins problems into the text a manager reads in the order's
// error field, one per line, without repeats.
func problemsText(ps []carriers.Problem) string {
	seen := map[string]bool{}
	var lines []string
	for _, p := range ps {
		if seen[p.Message] {
			continue
		}
		seen[p.Message] = true
		lines = append(lines, "• "+p.Message)
	}
	return "Заказ не отправлен в службу доставки. Исправьте и снова установите статус:\n" + strings.Join(lines, "\n")
}
