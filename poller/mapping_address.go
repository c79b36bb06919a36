package poller

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

// mapDestination reads the order's shipment address for a door delivery
// and checks it by one rule, whether the address is structured or free
// text: a door delivery needs a street and a house number. A city or a
// postal code alone («Москва», «101000, Москва») is not an address a
// courier can deliver to.
func mapDestination(o moysklad.Order, problems *problemList) *carriers.Address {
	addr := mapAddress(o)
	if addr == nil {
		problems.add("destination", "Не указан ни код ПВЗ, ни адрес доставки: заполните поле «Код ПВЗ» или адрес доставки заказа")
		return nil
	}
	if a := o.ShipmentAddressFull; a != nil {
		if _, known := countryAlpha2(a); !known {
			problems.add("address.country", "Страна адреса доставки %s не распознана: shipbridge отправляет заказы в Россию и страны, которые обслуживают СДЭК и Почта России (Казахстан, Беларусь, Армения, Киргизия, Узбекистан и др.), и узнаёт страну по коду ISO 3166 (например 643 — Россия, 398 — Казахстан). Выберите страну из стандартного справочника МойСклад или укажите её код ISO в карточке страны", countryLabel(a))
		}
	}
	const example = "например «г. Москва, ул. Тверская, д. 7, кв. 3»"
	switch {
	case addr.Street == "" && addr.House != "" && ruralLocality(addr.City):
		// «д. Горки», house 15: a village without street names.
	case addr.Street != "":
		if addr.House == "" && !houseInStreet(addr.Street) {
			problems.add("address.house", "В адресе доставки не указан номер дома (улица «%s»): для доставки до двери нужны улица и дом — заполните поле «Дом» в адресе доставки заказа или укажите код ПВЗ", shortName(addr.Street))
		}
	case addr.Text != "":
		if fa := parseFreeAddress(addr.Text); !fa.complete() {
			problems.add("address.street", "Адрес доставки «%s» неполный: для доставки до двери нужны улица и номер дома, %s. Дополните адрес или укажите код ПВЗ", shortName(addr.Text), example)
		}
	default:
		place := firstNonEmpty(addr.City, addr.PostalCode)
		problems.add("address.street", "В адресе доставки указан только населённый пункт «%s»: для доставки до двери нужны улица и номер дома, %s. Дополните адрес или укажите код ПВЗ", shortName(place), example)
	}
	return addr
}

// mapAddress reads the shipment address of an order: the structured one when
// it has a city or a street, else its free text. The structured address's
// country (ISO alpha-2; "" for none, which the carriers take as Russia) and
// region name come from the entities resolveAddress read.
func mapAddress(o moysklad.Order) *carriers.Address {
	if a := o.ShipmentAddressFull; a != nil {
		cc, _ := countryAlpha2(a)
		addr := &carriers.Address{
			CountryCode: cc,
			Country:     strings.TrimSpace(a.Country),
			PostalCode:  strings.TrimSpace(a.PostalCode),
			Region:      strings.TrimSpace(a.Region),
			City:        strings.TrimSpace(a.City),
			Street:      strings.TrimSpace(a.Street),
			House:       strings.TrimSpace(a.House),
			Apartment:   strings.TrimSpace(a.Apartment),
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

// freeAddress is what parseFreeAddress found in a free-text address.
type freeAddress struct {
	city   string // the locality, as written
	rural  bool   // the locality is marked as a village («село», «д.», «пос.», «хутор»…)
	street bool   // a street part was found
	house  bool   // a house number was found
}

// complete reports whether a courier can deliver to the address: a street
// and a house number, or — in a village, where houses are often numbered
// without streets («село Алабушево, 14») — a house number alone.
func (fa freeAddress) complete() bool {
	return fa.house && (fa.street || fa.rural)
}

// Word lists of the free-text address heuristic, lower case, without dots.
var (
	streetWords = wordSet("ул улица пр пр-т пр-кт просп проспект пер переулок ш шоссе б-р бул бульвар пл площадь " +
		"наб набережная пр-д проезд туп тупик ал аллея линия мкр мкрн микрорайон кв-л квартал тракт дорога " +
		"просек спуск въезд тер территория снт городок")
	houseWords  = wordSet("д дом вл влд владение корп корпус к стр строение лит литера")
	aptWords    = wordSet("кв квартира оф офис эт этаж под подъезд пом помещение комн комната домофон")
	regionWords = wordSet("обл область край респ республика ао округ р-н район мо")
	cityWords   = wordSet("г город гор пгт пос посёлок поселок п с село д дер деревня рп ст-ца станица х хутор аул")
	countries   = wordSet("россия рф russia")
	// ruralWords are the locality words of villages, whose houses may be
	// numbered without a street; a town («г.», «пгт», «рп») needs a street.
	ruralWords = wordSet("с село д дер деревня п пос посёлок поселок х хутор аул ст-ца станица")
)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// houseNumber matches a house number token: 7, 7а, 12к2, 14-1, 5/2.
var houseNumber = regexp.MustCompile(`^\d{1,5}[a-zа-яё]{0,3}\d{0,4}([/-]\d{1,5}[a-zа-яё]{0,3})?$`)

// addrPart is one comma-separated part of a free-text address.
type addrPart struct {
	orig  []string // tokens as written
	low   []string // the same, lower case, without surrounding dots
	kind  partKind
	house bool // the part holds a house number
}

type partKind int

const (
	partSkip   partKind = iota // postal code, country, region, apartment
	partCity                   // «г. Москва», «село Алабушево»
	partHouse                  // «д. 7», «7», «корп. 2»
	partStreet                 // «ул. Тверская», «Невский пр.»
	partName                   // unmarked words: a city or a street
)

// splitAddress cuts a free-text address into classified parts.
func splitAddress(text string) []addrPart {
	var parts []addrPart
	for _, raw := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
		raw = strings.NewReplacer(".", ". ", "№", " ").Replace(raw)
		var p addrPart
		for _, tok := range strings.Fields(raw) {
			low := strings.ToLower(strings.Trim(tok, "."))
			if low == "" || (len(low) == 6 && isDigits(low)) {
				continue // a postal code or a stray dot
			}
			p.orig = append(p.orig, strings.TrimRight(tok, "."))
			p.low = append(p.low, low)
		}
		if len(p.low) == 0 {
			continue
		}
		p.kind, p.house = classifyPart(p.low)
		parts = append(parts, p)
	}
	return parts
}

// classifyPart tells what one part of a free-text address is, and whether
// it holds a house number. A number counts as a house number when it
// follows a house word («д. 7») or the street's name («Тверская 7»), or
// starts a part without a street word («7 кв. 3»); not after an apartment
// word («кв. 3») nor right after a street word («ул. 8 Марта»).
func classifyPart(low []string) (partKind, bool) {
	first := low[0]
	next := ""
	if len(low) > 1 {
		next = low[1]
	}
	switch {
	case countries[strings.Join(low, " ")] || strings.Join(low, " ") == "российская федерация":
		return partSkip, false
	case aptWords[first]:
		return partSkip, false
	case houseWords[first] && houseNumber.MatchString(next):
		return partHouse, true
	case cityWords[first] && next != "" && !houseNumber.MatchString(next) && !anyIn(low, streetWords):
		return partCity, false
	}
	hasStreetWord := anyIn(low, streetWords)
	if !hasStreetWord && anyIn(low, regionWords) {
		return partSkip, false
	}
	if !hasStreetWord && houseNumber.MatchString(first) {
		return partHouse, true
	}
	named, house := false, false
	for i, w := range low {
		switch {
		case houseNumber.MatchString(w):
			prev := ""
			if i > 0 {
				prev = low[i-1]
			}
			if houseWords[prev] || (named && !aptWords[prev]) {
				house = true
			}
		case aptWords[w]:
			// what follows is an apartment, an office or a floor
		case streetWords[w] || houseWords[w]:
		case hasLetter(w):
			named = true
		}
	}
	if hasStreetWord {
		return partStreet, house
	}
	return partName, house
}

// parseFreeAddress reads a free-text Russian address. The locality is the
// part marked «г.», «село», … or else the first unmarked part without a
// house number. A street is a part with a street word (ул., пр-т, пер., …),
// or an unmarked part other than the locality when a locality was found
// («Казань, Баумана 10»). A house is a house number in a street part or a
// part of its own («…, д. 7», «…, 7»). Postal codes, the country, region
// and district parts, apartments and floors are ignored.
func parseFreeAddress(text string) freeAddress {
	var fa freeAddress
	parts := splitAddress(text)
	city := -1
	for i, p := range parts {
		if p.kind == partCity {
			city = i
			break
		}
	}
	if city < 0 {
		for i, p := range parts {
			if p.kind == partName && !p.house {
				city = i
				break
			}
		}
	}
	if city >= 0 {
		c := parts[city]
		words := c.orig
		if c.kind == partCity {
			words = words[1:]
		}
		fa.city = strings.Join(words, " ")
		fa.rural = c.kind == partCity && ruralWords[c.low[0]]
	}
	for i, p := range parts {
		switch {
		case i == city:
		case p.kind == partStreet:
			fa.street = true
			fa.house = fa.house || p.house
		case p.kind == partName && city >= 0:
			if strings.EqualFold(strings.Join(p.orig, " "), fa.city) {
				continue // «г Москва, Москва»: the city twice
			}
			fa.street = true
			fa.house = fa.house || p.house
		case p.kind == partHouse:
			fa.house = true
		}
	}
	return fa
}

// ruralLocality reports whether a structured city field names a village by
// its marker («д. Горки», «село Алабушево»).
func ruralLocality(city string) bool {
	parts := splitAddress(city)
	return len(parts) == 1 && parts[0].kind == partCity && ruralWords[parts[0].low[0]]
}

// houseInStreet reports whether a structured street field also holds the
// house number («Тверская 7», «ул. Ленина, д. 5»).
func houseInStreet(street string) bool {
	named, house := false, false
	for _, p := range splitAddress(street) {
		named = named || p.kind == partStreet || p.kind == partName
		house = house || p.house
	}
	return named && house
}

// cityIn guesses the city of a free-text Russian address (see
// parseFreeAddress). Carriers need a city to route a parcel; when the guess
// is wrong they say so.
func cityIn(text string) string { return parseFreeAddress(text).city }

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

func anyIn(words []string, set map[string]bool) bool {
	for _, w := range words {
		if set[w] {
			return true
		}
	}
	return false
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
