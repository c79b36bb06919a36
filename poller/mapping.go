package poller

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

// maxItemName is the longest item name carriers accept (CDEK: 255).
const maxItemName = 255

// maxQuantity is the largest quantity of one position that is plausible
// for a parcel; anything above is almost surely a typo.
const maxQuantity = 10000

// maxUnitPrice is the highest price of one unit that is plausible for a
// parcel (100 million roubles, in kopecks); it also keeps every money sum
// of an order far from overflowing.
const maxUnitPrice = 10_000_000_000

// markPrefix starts Shipment.Mark: "shipbridge:" + the MoySklad order id.
const markPrefix = "shipbridge:"

// Cash-on-delivery modes (carriers.*.cash_on_delivery).
const (
	// codAuto collects what the customer still owes: sum − payedSum.
	codAuto = "auto"
	// codNever collects nothing.
	codNever = "never"
	// codAttribute collects what is still owed only from orders whose
	// boolean attribute moysklad.attributes.cash_on_delivery is ticked.
	codAttribute = "attribute"
)

// orderFields are the values shipbridge reads from an order's custom
// attributes.
type orderFields struct {
	Carrier     string
	PickupPoint string
	Tariff      string
	Waybill     string // file name of the attached waybill, if any
	// TrackingNumber is the tracking number written on the order by an
	// earlier registration: a lookup hint (carriers.Shipment.KnownTracking).
	TrackingNumber string
	// CashOnDelivery is the value of the order's cash-on-delivery flag
	// (false when empty); CashOnDeliveryKnown tells whether the account has
	// that attribute at all.
	CashOnDelivery      bool
	CashOnDeliveryKnown bool
}

// readFields extracts the configured attributes from an order.
func readFields(o moysklad.Order, attrs attributeSet) orderFields {
	var f orderFields
	f.CashOnDeliveryKnown = attrs.CashOnDelivery.ID != ""
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
		case attrs.TrackingNumber.ID:
			f.TrackingNumber, _ = a.String()
		}
		if f.CashOnDeliveryKnown && a.ID == attrs.CashOnDelivery.ID {
			f.CashOnDelivery, _ = a.Bool()
		}
	}
	f.Carrier = strings.TrimSpace(f.Carrier)
	f.PickupPoint = strings.TrimSpace(f.PickupPoint)
	f.Tariff = strings.TrimSpace(f.Tariff)
	return f
}

// problemList collects the problems a manager can fix.
type problemList []carriers.Problem

func (l *problemList) add(field, msg string, args ...any) {
	*l = append(*l, carriers.Problem{Field: field, Message: fmt.Sprintf(msg, args...)})
}

// buildShipment maps a MoySklad order onto a carrier shipment using the
// carrier's profile. It returns every problem a manager can fix; the
// shipment is only meaningful when there are none.
func buildShipment(o moysklad.Order, f orderFields, p carriers.Profile, attempt int) (carriers.Shipment, []carriers.Problem) {
	var problems problemList
	s := carriers.Shipment{
		OrderID:     o.ID,
		OrderName:   o.Name,
		Attempt:     attempt,
		PickupPoint: f.PickupPoint,
		Tariff:      f.Tariff,
		Mark:        markPrefix + o.ID,
	}
	s.Recipient = mapRecipient(o.Agent, &problems)
	if s.PickupPoint == "" {
		s.Address = mapDestination(o, &problems)
	}
	g := mapGoods(o, p, &problems)
	pkg := carriers.Package{Number: "1", LengthCM: p.LengthCM, WidthCM: p.WidthCM, HeightCM: p.HeightCM, Items: g.items}
	s.DeliveryVAT = g.serviceVAT
	s.DeliveryCharge = allocateCashOnDelivery(pkg.Items, g.services, owedAmount(o, f, p, &problems))
	for _, it := range pkg.Items {
		pkg.WeightG += it.WeightG * it.Amount
		s.DeclaredValue += it.Cost * int64(it.Amount)
		s.CashOnDelivery += it.Payment * int64(it.Amount)
	}
	s.CashOnDelivery += s.DeliveryCharge
	s.Packages = []carriers.Package{pkg}
	return s, problems
}

// mapRecipient maps the order's counterparty onto the recipient: its name
// (split into surname, given name and patronymic when it is a person's),
// its phone in international form and its e-mail.
func mapRecipient(a moysklad.Counterparty, problems *problemList) carriers.Contact {
	var c carriers.Contact
	name := strings.TrimSpace(a.Name)
	if name == "" {
		name = strings.TrimSpace(a.LegalTitle)
	}
	if name == "" {
		problems.add("recipient.name", "Не указан получатель: у контрагента нет наименования")
	}
	c.Name = name
	if a.CompanyType != "legal" {
		c.Surname, c.GivenName, c.MiddleName = splitPersonName(name)
	}
	c.Email = strings.TrimSpace(a.Email)
	phone, err := carriers.NormalizePhone(a.Phone)
	switch err {
	case nil:
		c.Phone = phone
	case carriers.ErrPhoneEmpty:
		problems.add("recipient.phone", "Не указан телефон получателя: заполните поле «Телефон» у контрагента")
	default:
		problems.add("recipient.phone", "Телефон получателя «%s» не похож на номер: укажите его в виде +7XXXXXXXXXX или с кодом страны", strings.TrimSpace(a.Phone))
	}
	return c
}

// splitPersonName splits a person's full name into surname, given name and
// patronymic. It answers three empty parts when the name does not look like
// a person's (a company, initials, digits, one word or more than three).
//
// The rules: a leading «ИП» (individual entrepreneur) is dropped; the rest
// must be two or three words of letters (a hyphen or apostrophe inside a
// word is allowed), or three words and «оглы»/«кызы». Cyrillic names follow
// the Russian order «Фамилия Имя Отчество», except that a patronymic in the
// second place means «Имя Отчество Фамилия», and of two words the one that
// looks more like a surname (-ов, -ева, -ский, -ина, …) is the surname.
// Latin names follow the order «Given [Middle] Surname».
func splitPersonName(name string) (surname, given, middle string) {
	words := strings.Fields(name)
	if len(words) > 0 {
		switch strings.ToUpper(strings.Trim(words[0], ".")) {
		case "ИП", "И.П":
			words = words[1:]
		}
	}
	if len(words) >= 3 && strings.EqualFold(words[0], "Индивидуальный") && strings.EqualFold(words[1], "предприниматель") {
		words = words[2:]
	}
	if n := len(words); n == 4 {
		switch strings.ToLower(words[3]) {
		case "оглы", "кызы", "улы", "уулу", "угли":
			words = append(words[:2:2], words[2]+" "+words[3])
		}
	}
	if len(words) < 2 || len(words) > 3 {
		return "", "", ""
	}
	latin := 0
	for _, w := range words {
		switch nameScript(strings.Fields(w)[0]) {
		case scriptNone:
			return "", "", ""
		case scriptLatin:
			latin++
		}
	}
	for _, w := range words {
		if isCompanyWord(w) {
			return "", "", ""
		}
	}
	if latin != 0 && latin != len(words) {
		return "", "", "" // mixed scripts
	}
	if latin == len(words) {
		if len(words) == 2 {
			return words[1], words[0], ""
		}
		return words[2], words[0], words[1]
	}
	if len(words) == 2 {
		if surnameScore(words[1]) > surnameScore(words[0]) {
			return words[1], words[0], ""
		}
		return words[0], words[1], ""
	}
	if !isPatronymic(words[2]) && isPatronymic(words[1]) {
		return words[2], words[0], words[1]
	}
	return words[0], words[1], words[2]
}

type script int

const (
	scriptNone script = iota
	scriptCyrillic
	scriptLatin
)

// nameScript tells whether w is a name word: letters of one script, with an
// inner hyphen or apostrophe (Салтыков-Щедрин, O'Neil).
func nameScript(w string) script {
	sc := scriptNone
	prev := rune(0)
	for i, r := range w {
		var rs script
		switch {
		case unicode.Is(unicode.Cyrillic, r):
			rs = scriptCyrillic
		case unicode.Is(unicode.Latin, r):
			rs = scriptLatin
		case (r == '-' || r == '\'' || r == '’') && i > 0 && i < len(w)-1 && unicode.IsLetter(prev):
			prev = r
			continue
		default:
			return scriptNone
		}
		if sc != scriptNone && sc != rs {
			return scriptNone
		}
		sc, prev = rs, r
	}
	return sc
}

// isCompanyWord reports a legal form that marks a company name.
func isCompanyWord(w string) bool {
	switch strings.ToUpper(strings.Trim(w, ".,«»\"")) {
	case "ООО", "ОАО", "ЗАО", "ПАО", "АО", "НКО", "АНО", "ГУП", "МУП", "ФГУП", "ТСЖ", "СНТ", "НП", "ОДО",
		"LLC", "LTD", "INC", "GMBH", "CORP":
		return true
	}
	return false
}

// isPatronymic reports a Russian patronymic (Иванович, Петровна, Ильич,
// Фоминична) or a Turkic one with «оглы»/«кызы».
func isPatronymic(w string) bool {
	w = strings.ToLower(w)
	if strings.Contains(w, " ") {
		return true // «… оглы»
	}
	for _, suf := range []string{"ович", "евич", "ёвич", "ич", "овна", "евна", "ёвна", "ична", "инична"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w) > utf8.RuneCountInString(suf)+1 {
			return true
		}
	}
	return false
}

// surnameScore rates how much w looks like a Russian surname: 2 for the
// endings only surnames have (-ов, -ева, -ский, -енко, …), 1 for those that
// given names share (-ин, -ина: Ильин but Марина), else 0.
func surnameScore(w string) int {
	w = strings.ToLower(w)
	for _, suf := range []string{"ов", "ев", "ёв", "ова", "ева", "ёва", "ский", "ская", "цкий", "цкая", "ых", "их", "енко", "ук", "юк", "дзе", "швили", "ян", "янц"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w) > utf8.RuneCountInString(suf)+1 {
			return 2
		}
	}
	for _, suf := range []string{"ин", "ын", "ина", "ына"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w) > utf8.RuneCountInString(suf)+1 {
			return 1
		}
	}
	return 0
}

// orderGoods are an order's parcel items and its delivery charge before the
// cash on delivery is allocated.
type orderGoods struct {
	items []carriers.Item // Payment is left 0
	// services is what the order's service positions («Доставка», …) cost
	// in all, in kopecks, VAT included; serviceVAT the VAT of the largest.
	services   int64
	serviceVAT carriers.VAT
}

// positionKind names what a position's assortment is, for the manager.
func positionKind(typ string) string {
	switch typ {
	case "variant":
		return "модификация"
	case "bundle":
		return "комплект"
	case "service":
		return "услуга"
	}
	return "товар"
}

// mapGoods turns the order's positions into parcel items (products,
// variants, bundles) and a delivery charge (services). Weights come as the
// moysklad client resolves them: the assortment weight of a position is the
// effective weight of one unit (a variant's is its product's, a bundle
// without a weight of its own has its components'); 0 means unknown.
func mapGoods(o moysklad.Order, p carriers.Profile, problems *problemList) orderGoods {
	var g orderGoods
	unitFactor := 1000.0 // kg → g
	if strings.EqualFold(p.WeightUnit, "g") {
		unitFactor = 1
	}
	type weightless struct {
		item int    // index into g.items
		text string // the problem, should no default weight be configured
	}
	var unknown []weightless
	var largestService int64 = -1
	for n, pos := range o.Positions {
		a := pos.Assortment
		price, vat := unitPrice(o, pos)
		if price > maxUnitPrice {
			problems.add("positions.price", "Слишком большая цена позиции «%s» (%s ₽): проверьте позицию", shortName(firstNonEmpty(a.Name, "без названия")), strconv.FormatInt(price/100, 10))
			continue
		}
		if a.Meta.Type == "service" {
			// Services (delivery, packing) are not goods in the parcel: they
			// are what the customer pays for delivery.
			if pos.Quantity > maxQuantity {
				problems.add("positions.quantity", "Слишком большое количество услуги «%s» (%s): проверьте позицию", shortName(firstNonEmpty(a.Name, "без названия")), strconv.FormatFloat(pos.Quantity, 'f', -1, 64))
				continue
			}
			if pos.Quantity > 0 {
				line := int64(math.Round(float64(price) * pos.Quantity))
				g.services += line
				if line > largestService {
					largestService, g.serviceVAT = line, vat
				}
			}
			continue
		}
		itemName := strings.TrimSpace(a.Name)
		if itemName == "" {
			itemName = "Товар"
		}
		if utf8.RuneCountInString(itemName) > maxItemName {
			itemName = string([]rune(itemName)[:maxItemName])
		}
		switch {
		case !(pos.Quantity > 0): // also NaN
			problems.add("positions.quantity", "Количество товара «%s» должно быть больше нуля", shortName(itemName))
			continue
		case pos.Quantity != math.Trunc(pos.Quantity):
			problems.add("positions.quantity", "Дробное количество товара «%s» (%s): служба доставки принимает только целые штуки", shortName(itemName), strconv.FormatFloat(pos.Quantity, 'f', -1, 64))
			continue
		case pos.Quantity > maxQuantity:
			problems.add("positions.quantity", "Слишком большое количество товара «%s» (%s): проверьте позицию", shortName(itemName), strconv.FormatFloat(pos.Quantity, 'f', -1, 64))
			continue
		}
		item := carriers.Item{
			Name:    itemName,
			WareKey: firstNonEmpty(a.Article, a.Code, a.ID, a.Meta.ID()),
			Cost:    price,
			Amount:  int(pos.Quantity),
			VAT:     vat,
		}
		if w := a.Weight * unitFactor; w > 0 && !math.IsInf(w, 0) && w < math.MaxInt32 {
			item.WeightG = max(1, int(math.Round(w))) // a weight below half a gram is still a weight
		} else {
			msg := weightProblem(a.Meta.Type, itemName, n+1)
			if a.WeightUnknown != "" {
				msg = fmt.Sprintf("Не удалось узнать вес позиции %d «%s»: МойСклад не отдаёт карточку товара (удалена или нет доступа) — проверьте товар в заказе", n+1, shortName(itemName))
			}
			unknown = append(unknown, weightless{len(g.items), msg})
		}
		g.items = append(g.items, item)
	}
	if len(o.Positions) == 0 {
		problems.add("positions", "В заказе нет товаров: добавьте позиции")
	} else if len(g.items) == 0 && !hasProblem(*problems, "positions.quantity") && !hasProblem(*problems, "positions.price") {
		problems.add("positions", "В заказе нет товаров для отправки: только услуги")
	}
	if len(unknown) > 0 {
		if p.DefaultWeightG <= 0 {
			for _, u := range unknown {
				problems.add("positions.weight", "%s", u.text)
			}
		} else {
			// Spread the configured default weight over the units whose
			// weight is unknown, at least a gram each.
			units := 0
			for _, u := range unknown {
				units += g.items[u.item].Amount
			}
			per := max(1, p.DefaultWeightG/units)
			for _, u := range unknown {
				g.items[u.item].WeightG = per
			}
		}
	}
	return g
}

// weightProblem tells the manager which position has no weight and where
// to fill it in.
func weightProblem(typ, name string, n int) string {
	switch typ {
	case "variant":
		return fmt.Sprintf("У модификации «%s» (позиция %d) не указан вес: модификация весит столько, сколько её товар, — заполните вес в карточке товара", shortName(name), n)
	case "bundle":
		return fmt.Sprintf("У комплекта «%s» (позиция %d) не указан вес: заполните вес комплекта или вес каждого его компонента", shortName(name), n)
	}
	return fmt.Sprintf("У товара «%s» (позиция %d) не указан вес: заполните вес в карточке товара", shortName(name), n)
}

// unitPrice is what one unit of a position costs the customer, in kopecks:
// the price after the position's discount (a negative discount is a
// markup), plus VAT when the order adds VAT on top of its prices
// (vatEnabled and not vatIncluded). vat is the position's VAT: none when
// the order or the position does not account VAT.
func unitPrice(o moysklad.Order, pos moysklad.Position) (price int64, vat carriers.VAT) {
	if o.VATEnabled && pos.VATEnabled {
		vat = carriers.VAT{Enabled: true, Rate: pos.VAT}
	}
	f := float64(pos.Price) * (100 - pos.Discount) / 100
	if vat.Enabled && !o.VATIncluded {
		f = f * float64(100+vat.Rate) / 100
	}
	switch {
	case !(f > 0): // negative or NaN
		return 0, vat
	case f > maxUnitPrice:
		return maxUnitPrice + 1, vat
	}
	return int64(math.Round(f)), vat
}

// owedAmount is what the carrier must collect from the recipient (rule
// 11): what the customer still owes, sum − payedSum, never below 0; 0 with
// cash_on_delivery "never", and in mode "attribute" 0 unless the order's
// cash-on-delivery attribute is ticked.
func owedAmount(o moysklad.Order, f orderFields, p carriers.Profile, problems *problemList) int64 {
	switch p.CashOnDelivery {
	case codNever:
		return 0
	case codAttribute:
		if !f.CashOnDeliveryKnown {
			problems.add("cash_on_delivery", "В МойСклад нет доп. поля заказа для наложенного платежа, а настройки shipbridge требуют его (cash_on_delivery: attribute): создайте поле командой «shipbridge setup» или измените настройки")
			return 0
		}
		if !f.CashOnDelivery {
			return 0
		}
	}
	return max(0, o.Sum) - min(max(0, o.PayedSum), max(0, o.Sum))
}

// allocateCashOnDelivery splits owed, the amount to collect, between the
// items' per-unit Payment and the delivery charge, which it returns; the
// items' Cost must be set. Afterwards Σ Payment×Amount + delivery == owed
// exactly, and no unit is charged more than its Cost.
//
// The rule. Let goods = Σ Cost×Amount, services the cost of the order's
// service positions and total = goods + services.
//   - owed ≥ total (nothing paid yet): every unit is charged its Cost and
//     the delivery charge is owed − goods (the services' cost, plus any
//     kopecks by which MoySklad's rounded sum exceeds the positions').
//   - 0 < owed < total (partly paid): the payment is shared in proportion
//     to prices. Each unit is charged floor(Cost × owed / total), and the
//     delivery charge gets the rest: its own share floor(services × owed /
//     total) plus spare kopecks, fewer than the parcel's units, that the
//     rounding down left over. Those spare kopecks go back to the goods
//     where they fit exactly: a line that lost a fraction is raised by one
//     kopeck per unit, and the lines raised are those whose units add up
//     to as many of the spare kopecks as possible (preferring the lines
//     that lost the largest fractions). Every unit is thus within one
//     kopeck of its exact share and never above its Cost; what cannot be
//     spread evenly over a line's units stays on the delivery charge (for
//     2000 ₽ owed on three units of 1000 ₽: 666.66 ₽ a unit and 0.02 ₽
//     delivery).
//   - owed ≤ 0: nothing is collected.
func allocateCashOnDelivery(items []carriers.Item, services, owed int64) (delivery int64) {
	for i := range items {
		items[i].Payment = 0
	}
	if owed <= 0 {
		return 0
	}
	var goods int64
	for _, it := range items {
		goods += it.Cost * int64(it.Amount)
	}
	total := goods + services
	if owed >= total {
		for i := range items {
			items[i].Payment = items[i].Cost
		}
		return owed - goods
	}
	// Here 0 < owed < total, so every quotient below is less than its
	// first factor and fits in 64 bits.
	share := func(part int64) (q, r uint64) {
		hi, lo := bits.Mul64(uint64(part), uint64(owed))
		return bits.Div64(hi, lo, uint64(total))
	}
	var lines []roundedLine
	collected := int64(0)
	for i := range items {
		q, r := share(items[i].Cost)
		items[i].Payment = int64(q)
		collected += int64(q) * int64(items[i].Amount)
		if r > 0 {
			lines = append(lines, roundedLine{i, r, int64(items[i].Amount)})
		}
	}
	delivery = owed - collected
	own, _ := share(services)
	spare := delivery - int64(own)
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].rem > lines[b].rem })
	for _, l := range raiseLines(lines, spare) {
		items[l.item].Payment++
		delivery -= l.units
	}
	return delivery
}

// roundedLine is an item whose share lost a fraction when rounded down.
type roundedLine struct {
	item  int
	rem   uint64 // the lost fraction, in units of 1/total
	units int64
}

// maxSpareExact bounds the exact search of raiseLines; above it (orders of
// thousands of units) the lines are raised greedily.
const maxSpareExact = 20000

// raiseLines picks lines, in the given order of preference, whose units add
// up to as many of the spare kopecks as possible without exceeding them.
func raiseLines(lines []roundedLine, spare int64) []roundedLine {
	if spare <= 0 || len(lines) == 0 {
		return nil
	}
	var picked []roundedLine
	if spare > maxSpareExact {
		for _, l := range lines {
			if l.units <= spare {
				picked = append(picked, l)
				spare -= l.units
			}
		}
		return picked
	}
	// 0/1 knapsack on reachability: from[c] is the first line (in order of
	// preference) by which c kopecks became reachable, -1 if unreachable.
	from := make([]int, spare+1)
	for c := range from {
		from[c] = -1
	}
	reach := make([]bool, spare+1)
	reach[0] = true
	for i, l := range lines {
		for c := spare; c >= l.units; c-- {
			if !reach[c] && reach[c-l.units] {
				reach[c], from[c] = true, i
			}
		}
	}
	best := spare
	for !reach[best] {
		best--
	}
	for c := best; c > 0; {
		l := lines[from[c]]
		picked = append(picked, l)
		c -= l.units
	}
	return picked
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
