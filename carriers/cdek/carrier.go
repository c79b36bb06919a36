// Package cdek registers shipments with CDEK (СДЭК) through its
// integration API v2: a thin tolerant Client, and Carrier, the adapter to
// the carriers boundary. Facts and their sources: reference cdek-api.md and
// CDEK's OpenAPI (tariff table in tariffs_table.go, error codes and order
// statuses in messages.go, one table each).
package cdek

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
)

// Name is the carrier's key.
const Name = "cdek"

// MaxNumberLen is the longest order number sent to CDEK. The create request
// allows 40 characters but the answer declares 30, so 30 is the safe limit.
const MaxNumberLen = 30

// Carrier is the CDEK adapter: it implements carriers.Carrier, Finder,
// FinderAll, Deleter, WaybillPrinter, Checker, Tracker and Idempotent on
// top of Client. Its waits for the workflow are Timings().
type Carrier struct {
	cfg    Config
	client *Client
	log    *zap.Logger

	mu        sync.Mutex
	submitted map[string]time.Time // uuid → when we created it, for the not-found grace
}

var (
	_ carriers.Carrier        = (*Carrier)(nil)
	_ carriers.Finder         = (*Carrier)(nil)
	_ carriers.FinderAll      = (*Carrier)(nil)
	_ carriers.Deleter        = (*Carrier)(nil)
	_ carriers.WaybillPrinter = (*Carrier)(nil)
	_ carriers.Checker        = (*Carrier)(nil)
	_ carriers.Tracker        = (*Carrier)(nil)
	_ carriers.Idempotent     = (*Carrier)(nil)
)

// New builds the CDEK adapter. It checks the configuration (see
// checkConfig) but makes no call to CDEK.
func New(cfg Config) (*Carrier, error) {
	cfg = cfg.withDefaults()
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.Sender.Phone != "" {
		p, err := carriers.NormalizePhone(cfg.Sender.Phone)
		if err != nil {
			return nil, fmt.Errorf("cdek: sender phone: %w", err)
		}
		cfg.Sender.Phone = p
	}
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Carrier{cfg: cfg, client: cl, log: cfg.Logger, submitted: map[string]time.Time{}}, nil
}

// haveOffice and haveAddress report which sending points are configured.
func (c Config) haveOffice() bool { return strings.TrimSpace(c.ShipmentPoint) != "" }

func (c Config) haveAddress() bool {
	f := c.FromLocation
	return strings.TrimSpace(f.Address) != "" && (f.Code != 0 || strings.TrimSpace(f.City) != "" || strings.TrimSpace(f.PostalCode) != "")
}

// checkConfig refuses settings that cannot work or are unsafe:
//
//   - order_type 2 («доставка»): CDEK keeps no "number" on such orders, so a
//     create whose answer is lost could never be found by number and would
//     be re-sent — a duplicate shipment. Only order_type 1 is accepted.
//   - a default tariff whose start does not fit the configured sending
//     point: «от склада»/«от постамата» tariffs (136, 137, 368 …) need
//     shipment_point, «от двери» tariffs (138, 139, 480 …) need from_location
//     (tariff table: tariffs_table.go). A tariff CDEK does not document is
//     accepted only when exactly one sending point is configured.
//   - a default pickup-point tariff that ends at a door, or a door tariff
//     that ends at an office.
func checkConfig(cfg Config) error {
	if cfg.OrderType == 2 {
		return errors.New("cdek: order_type 2 («доставка») is not supported: CDEK keeps no order number on such orders, " +
			"so an order whose create answer is lost could not be found and would be sent twice; use order_type 1 (online-store contract)")
	}
	if cfg.OrderType != 1 {
		return fmt.Errorf("cdek: order_type must be 1, not %d", cfg.OrderType)
	}
	f := cfg.FromLocation
	if strings.TrimSpace(f.Address) != "" || f.Code != 0 || strings.TrimSpace(f.City) != "" || strings.TrimSpace(f.PostalCode) != "" {
		if !cfg.haveAddress() {
			return errors.New("cdek: from_location needs an address and a city code, a city or a postal code")
		}
		if f.Code < 0 {
			return fmt.Errorf("cdek: from_location.code %d is not a CDEK city code", f.Code)
		}
	}
	if !cfg.haveOffice() && !cfg.haveAddress() {
		return errors.New("cdek: either shipment_point or from_location (address with a city code, city or postal code) is required")
	}
	var problems []string
	for _, t := range []struct {
		key      string
		code     int
		toOffice bool
	}{{"tariff_code", cfg.TariffCode, true}, {"door_tariff_code", cfg.DoorTariffCode, false}} {
		if t.code <= 0 {
			problems = append(problems, fmt.Sprintf("%s %d is not a CDEK tariff code", t.key, t.code))
			continue
		}
		if _, err := sendingPoint(t.code, cfg.haveOffice(), cfg.haveAddress()); err != nil {
			problems = append(problems, t.key+": "+err.Error())
		}
		if err := receivingFits(t.code, t.toOffice); err != nil {
			problems = append(problems, t.key+": "+err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New("cdek: " + strings.Join(problems, "; "))
	}
	return nil
}

// RefusesDuplicateNumber reports that CDEK refuses a second active order
// with the same number (error_validate_im_dep_number_has_already_had_integration):
// carriers.Idempotent. New accepts only order_type 1, where the number is kept.
func (c *Carrier) RefusesDuplicateNumber() bool { return true }

// Client returns the low-level client the adapter uses.
func (c *Carrier) Client() *Client { return c.client }

// Name returns "cdek".
func (c *Carrier) Name() string { return Name }

// Number returns the order's number at CDEK (carriers.ShopNumber within
// MaxNumberLen, 30): the shop's order name when it is printable ASCII
// without spaces, otherwise "SB-" and 16 hex digits of a hash of the order
// id. Attempt n > 1 appends "-n"; if the name and suffix would exceed 30
// characters the hashed form is used.
func (c *Carrier) Number(s carriers.Shipment) string { return carriers.ShopNumber(s, MaxNumberLen) }

// Validate lists, in Russian, what CDEK would refuse in the shipment and a
// manager can fix. It makes no call.
func (c *Carrier) Validate(s carriers.Shipment) []carriers.Problem {
	var ps []carriers.Problem
	add := func(field, msg string, args ...any) {
		ps = append(ps, carriers.Problem{Field: field, Message: fmt.Sprintf(msg, args...)})
	}
	name := strings.TrimSpace(s.Recipient.Name)
	switch {
	case name == "":
		add("recipient.name", "Не указано имя получателя")
	case strings.Contains(name, "/"):
		add("recipient.name", "Имя получателя не должно содержать символ «/»")
	case onlyDigits(name):
		add("recipient.name", "Имя получателя не может состоять только из цифр")
	case utf8.RuneCountInString(name) > 255:
		add("recipient.name", "Имя получателя длиннее 255 символов")
	}
	if strings.TrimSpace(s.Recipient.Phone) == "" {
		add("recipient.phone", "Не указан телефон получателя")
	} else if _, err := carriers.NormalizePhone(s.Recipient.Phone); err != nil {
		add("recipient.phone", "Телефон получателя «%s» не похож на российский или международный номер", s.Recipient.Phone)
	}
	pickup := strings.TrimSpace(s.PickupPoint)
	switch {
	case pickup != "":
		if len(pickup) > 255 {
			add("pickup_point", "Код ПВЗ слишком длинный")
		}
	case s.Address == nil || addressLine(s.Address) == "" && s.Address.City == "" && s.Address.PostalCode == "":
		add("address", "Не указаны ни код ПВЗ, ни адрес доставки")
	default:
		if strings.TrimSpace(s.Address.City) == "" && strings.TrimSpace(s.Address.PostalCode) == "" {
			add("address.city", "В адресе доставки не указан город (или индекс)")
		}
		if addressLine(s.Address) == "" {
			add("address.street", "В адресе доставки не указаны улица и дом")
		}
	}
	if t := strings.TrimSpace(s.Tariff); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n <= 0 {
			add("tariff", "Тариф доставки «%s» должен быть числом — кодом тарифа СДЭК", s.Tariff)
		} else {
			if _, err := sendingPoint(n, c.cfg.haveOffice(), c.cfg.haveAddress()); err != nil {
				add("tariff", "Тариф не подходит к настройкам отправки: %s", err.Error())
			}
			if err := receivingFits(n, pickup != ""); err != nil && (pickup != "" || s.Address != nil) {
				add("tariff", "Тариф не подходит к заказу: %s", err.Error())
			}
		}
	}
	if utf8.RuneCountInString(markSuffix(s.Mark)) > maxCommentLen/2 {
		add("mark", "Служебная метка заказа слишком длинная для комментария СДЭК")
	}
	if len(s.Packages) == 0 {
		add("packages", "В заказе нет позиций для отправки")
	}
	positions := 0
	for i, p := range s.Packages {
		label := packageLabel(p, i)
		if p.WeightG <= 0 {
			add(fmt.Sprintf("packages[%d].weight", i), "Не указан вес посылки %s", label)
		}
		if p.LengthCM < 0 || p.WidthCM < 0 || p.HeightCM < 0 {
			add(fmt.Sprintf("packages[%d].size", i), "Размеры посылки %s не могут быть отрицательными", label)
		}
		if len(p.Items) == 0 && c.cfg.OrderType == 1 {
			add(fmt.Sprintf("packages[%d].items", i), "В посылке %s нет товаров", label)
		}
		for j, it := range p.Items {
			positions++
			f := fmt.Sprintf("packages[%d].items[%d]", i, j)
			if strings.TrimSpace(it.Name) == "" {
				add(f+".name", "У товара №%d нет названия", j+1)
			}
			if it.Amount < 1 || it.Amount > 999 {
				add(f+".amount", "Количество товара «%s» должно быть от 1 до 999 (сейчас %d)", it.Name, it.Amount)
			}
			if it.WeightG < 0 {
				add(f+".weight", "Вес товара «%s» не может быть отрицательным", it.Name)
			}
			if it.Cost < 0 || it.Payment < 0 {
				add(f+".cost", "Цена товара «%s» не может быть отрицательной", it.Name)
			}
			if !vatRateAccepted(it.VAT) {
				add(f+".vat", "СДЭК не принимает ставку НДС %d%% у товара «%s»: с 01.01.2026 допустимы 0, 5, 7, 10, 16 и 22%% или «без НДС» — исправьте ставку в позиции заказа", it.VAT.Rate, it.Name)
			}
		}
	}
	if s.DeliveryCharge < 0 {
		add("delivery_charge", "Стоимость доставки для получателя не может быть отрицательной")
	} else if s.DeliveryCharge > 0 && !vatRateAccepted(s.DeliveryVAT) {
		add("delivery_charge.vat", "СДЭК не принимает ставку НДС %d%% у услуги доставки: с 01.01.2026 допустимы 0, 5, 7, 10, 16 и 22%% или «без НДС» — исправьте ставку в позиции заказа", s.DeliveryVAT.Rate)
	}
	if positions > 126 {
		add("packages.items", "В заказе %d разных товаров, а СДЭК принимает не больше 126", positions)
	}
	return ps
}

func onlyDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) && r != ' ' {
			return false
		}
	}
	return true
}

func packageLabel(p carriers.Package, i int) string {
	if p.Number != "" {
		return "№" + p.Number
	}
	return "№" + strconv.Itoa(i+1)
}

// addressLine is the street part of an address: "street, house, кв. N", or
// the free text when the structured parts are missing.
func addressLine(a *carriers.Address) string {
	var parts []string
	for _, p := range []string{a.Street, a.House} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		if ap := strings.TrimSpace(a.Apartment); ap != "" {
			parts = append(parts, "кв. "+ap)
		}
		return strings.Join(parts, ", ")
	}
	return strings.TrimSpace(a.Text)
}

// BuildRequest maps a shipment onto CDEK's create-order request (PRODUCT
// §2). It does not validate; Submit calls Validate first.
func (c *Carrier) BuildRequest(s carriers.Shipment) (OrderRequest, error) {
	r := OrderRequest{Type: Int(c.cfg.OrderType), Number: c.Number(s), Comment: composeComment(s.Comment, s.Mark)}
	pickup := strings.TrimSpace(s.PickupPoint)
	switch t := strings.TrimSpace(s.Tariff); {
	case t != "":
		n, err := strconv.Atoi(t)
		if err != nil || n <= 0 {
			return OrderRequest{}, fmt.Errorf("tariff %q is not a CDEK tariff code", s.Tariff)
		}
		r.TariffCode = Int(n)
	case pickup != "":
		r.TariffCode = Int(c.cfg.TariffCode)
	default:
		r.TariffCode = Int(c.cfg.DoorTariffCode)
	}
	if pickup != "" {
		r.DeliveryPoint = pickup
	} else if s.Address != nil {
		a := s.Address
		r.ToLocation = &Location{
			PostalCode:  strings.TrimSpace(a.PostalCode),
			City:        strings.TrimSpace(a.City),
			CountryCode: countryCode(a.CountryCode),
			Region:      strings.TrimSpace(a.Region),
			Address:     truncateRunes(addressLine(a), 255),
		}
	} else {
		return OrderRequest{}, errors.New("neither pickup point nor address")
	}
	office, err := sendingPoint(int(r.TariffCode), c.cfg.haveOffice(), c.cfg.haveAddress())
	if err != nil {
		return OrderRequest{}, err
	}
	if office {
		r.ShipmentPoint = strings.TrimSpace(c.cfg.ShipmentPoint)
	} else {
		f := c.cfg.FromLocation
		r.FromLocation = &Location{Code: Int(f.Code), PostalCode: strings.TrimSpace(f.PostalCode), City: strings.TrimSpace(f.City),
			CountryCode: countryCode(f.CountryCode), Address: strings.TrimSpace(f.Address)}
	}
	phone, err := carriers.NormalizePhone(s.Recipient.Phone)
	if err != nil {
		phone = strings.TrimSpace(s.Recipient.Phone)
	}
	r.Recipient = Contact{
		Name:    truncateRunes(strings.TrimSpace(s.Recipient.Name), 255),
		Company: truncateRunes(strings.TrimSpace(s.Recipient.Company), 255),
		Email:   strings.TrimSpace(s.Recipient.Email),
		Phones:  []Phone{{Number: phone}},
	}
	if snd := c.cfg.Sender; snd.Name != "" || snd.Company != "" || snd.Phone != "" {
		r.Sender = &Contact{Name: snd.Name, Company: snd.Company}
		if snd.Phone != "" {
			r.Sender.Phones = []Phone{{Number: snd.Phone}}
		}
	}
	if s.DeliveryCharge > 0 {
		m := money(s.DeliveryCharge, s.DeliveryVAT)
		r.DeliveryRecipientCost = &m
	}
	for i, p := range s.Packages {
		num := p.Number
		if num == "" {
			num = strconv.Itoa(i + 1)
		}
		pk := Package{Number: num, Weight: Int(p.WeightG), Length: Int(p.LengthCM), Width: Int(p.WidthCM), Height: Int(p.HeightCM)}
		used := map[string]bool{}
		for j, it := range p.Items {
			pk.Items = append(pk.Items, Item{
				Name:    truncateRunes(strings.TrimSpace(it.Name), 255),
				WareKey: uniqueWareKey(wareKey(it.WareKey, j), used),
				Payment: money(it.Payment, it.VAT),
				Cost:    roubles(it.Cost),
				Weight:  Int(it.WeightG),
				Amount:  Int(it.Amount),
			})
		}
		r.Packages = append(r.Packages, pk)
	}
	return r, nil
}

// countryCode is the ISO code to send, RU when none is known (CDEK's own
// default, sent explicitly so the order does not depend on it).
func countryCode(s string) string {
	if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
		return s
	}
	return "RU"
}

// maxWareKeyLen is the length limit of items[].ware_key ([SPEC] ItemRequestDto).
const maxWareKeyLen = 50

// wareKey turns an article into a ware_key CDEK accepts. [SPEC]
// ItemRequestDto.ware_key: at most 50 characters from «A-z А-я 0-9 ! @ " # №
// $ ; % ^ : & ? * ( ) _ - + = < > , . { } [ ] / and space». Ё/ё become Е/е
// (outside А-я), every other character becomes "-", runs of spaces collapse;
// an article with nothing left becomes "item-<i+1>". The result depends only
// on the input.
func wareKey(article string, i int) string {
	var b strings.Builder
	n := 0
	lastSpace := false
	for _, r := range strings.TrimSpace(article) {
		switch r {
		case 'Ё':
			r = 'Е'
		case 'ё':
			r = 'е'
		}
		if unicode.IsSpace(r) {
			if lastSpace {
				continue
			}
			r, lastSpace = ' ', true
		} else {
			lastSpace = false
			if !wareKeyRune(r) {
				r = '-'
			}
		}
		if n == maxWareKeyLen {
			break
		}
		b.WriteRune(r)
		n++
	}
	out := strings.TrimSpace(b.String())
	if strings.Trim(out, "-") == "" {
		return "item-" + strconv.Itoa(i+1)
	}
	return out
}

func wareKeyRune(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r >= 'А' && r <= 'я':
		return true
	}
	return strings.ContainsRune("!@\"#№$;%^:&?*()_-+=<>,.{}[]/ ", r)
}

// uniqueWareKey keeps ware keys unique within a package: CDEK would replace
// a repeated one with "{ware_key}_" and 7 random characters ([SPEC]), so a
// repeat gets a deterministic "-2", "-3" … instead.
func uniqueWareKey(key string, used map[string]bool) string {
	out := key
	for n := 2; used[out]; n++ {
		suffix := "-" + strconv.Itoa(n)
		out = truncateRunes(key, maxWareKeyLen-len(suffix)) + suffix
	}
	used[out] = true
	return out
}

// maxCommentLen is the length limit of the order comment ([SPEC]
// OrderCreateRequestDto.comment, maxLength 255).
const maxCommentLen = 255

// markSuffix is how the identity mark is written into the comment.
func markSuffix(mark string) string {
	if mark == "" {
		return ""
	}
	return "[sb:" + mark + "]"
}

// composeComment writes the manager's comment and our identity mark into
// CDEK's order comment, which CDEK keeps and returns in GET /v2/orders
// (sample order_get_accepted_pending_200.json: "comment": "New order"). The
// mark goes last, "[sb:<mark>]"; the manager's comment is shortened so that
// the whole stays within 255 characters and the mark is never cut.
func composeComment(comment, mark string) string {
	comment = strings.TrimSpace(comment)
	suffix := markSuffix(mark)
	if suffix == "" {
		return truncateRunes(comment, maxCommentLen)
	}
	room := maxCommentLen - utf8.RuneCountInString(suffix) - 1
	if room <= 0 || comment == "" {
		return suffix
	}
	return strings.TrimSpace(truncateRunes(comment, room)) + " " + suffix
}

// parseMark reads the identity mark back from an order comment; "" when
// the comment carries none.
func parseMark(comment string) string {
	comment = strings.TrimSpace(comment)
	i := strings.LastIndex(comment, "[sb:")
	if i < 0 || !strings.HasSuffix(comment, "]") || len(comment)-1 < i+4 {
		return ""
	}
	return comment[i+4 : len(comment)-1]
}

func roubles(kopecks int64) Float { return Float(float64(kopecks) / 100) }

// vatRates are the vat_rate values CDEK accepts in money objects "с
// 01.01.2026" ([SPEC] MoneyDto: 0, 5, 7, 10, 16, 22 or null). Older
// documentation lists 0, 10, 12, 20; CDEK's test server still answers 20 on
// services, but an order sent with 20 after the change is refused.
var vatRates = map[int]bool{0: true, 5: true, 7: true, 10: true, 16: true, 22: true}

// vatRateAccepted reports whether CDEK takes v: no VAT always, else one of
// vatRates.
func vatRateAccepted(v carriers.VAT) bool { return !v.Enabled || vatRates[v.Rate] }

// money is CDEK's money object for kopecks including VAT v: vat_rate and
// vat_sum (the VAT inside the value, rounded to the kopeck) when VAT is
// enabled, neither when the item is "без НДС" (vat_rate null).
func money(kopecks int64, v carriers.VAT) Money {
	m := Money{Value: roubles(kopecks)}
	if v.Enabled {
		rate := Float(v.Rate)
		sum := roubles((kopecks*int64(v.Rate)*2 + int64(100+v.Rate)) / (2 * int64(100+v.Rate)))
		m.VatRate, m.VatSum = &rate, &sum
	}
	return m
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Submit validates and sends the shipment. On success the registration is
// StatusPending with the order's uuid as Reference: CDEK's 202 is not yet
// success; follow it with Registration. A 5xx, a lost answer, or a 2xx
// without the order's uuid is KindAmbiguous: the order may exist.
func (c *Carrier) Submit(ctx context.Context, s carriers.Shipment) (carriers.Registration, error) {
	number := c.Number(s)
	if ps := c.Validate(s); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = p.Message
		}
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindInvalid, Carrier: Name, Op: "create order",
			Message: strings.Join(msgs, "; "), Detail: fmt.Sprintf("%d validation problems", len(ps))}
	}
	req, err := c.BuildRequest(s)
	if err != nil {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindInvalid, Carrier: Name, Op: "create order",
			Message: "Данные заказа не подходят для СДЭК: " + err.Error(), Detail: err.Error()}
	}
	resp, err := c.client.CreateOrder(ctx, req)
	if err != nil {
		return carriers.Registration{}, c.classify("create order", err, number, createCall)
	}
	uuid := resp.UUID()
	c.mu.Lock()
	c.submitted[uuid] = c.cfg.Now()
	c.mu.Unlock()
	state := StateAccepted
	if r, ok := LatestRequest(resp.Requests, "CREATE"); ok && r.State != "" {
		state = r.State
	}
	c.log.Info("cdek order submitted", zap.String("number", number), zap.String("uuid", uuid), zap.String("state", state))
	reg := carriers.Registration{Number: number, Reference: uuid, Status: carriers.StatusPending, CarrierStatus: state,
		Mark: parseMark(req.Comment)}
	if len(req.Recipient.Phones) > 0 {
		reg.RecipientPhone = req.Recipient.Phones[0].Number
	}
	return reg, nil
}

// recentlySubmitted reports whether we created the order with this uuid
// within the not-found grace period.
func (c *Carrier) recentlySubmitted(uuid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.submitted[uuid]
	if !ok {
		return false
	}
	if c.cfg.Now().Sub(t) > c.cfg.NotFoundGrace {
		delete(c.submitted, uuid)
		return false
	}
	return true
}

// Registration reads the order by uuid. A CREATE request that CDEK found
// invalid is an *carriers.Error of KindRejected with CDEK's codes; an
// order CDEK does not show yet, right after our Submit, is StatusPending.
// The registration carries the mark and recipient phone CDEK holds.
func (c *Carrier) Registration(ctx context.Context, reference string) (carriers.Registration, error) {
	resp, err := c.client.GetOrder(ctx, reference)
	if err != nil {
		if IsNotFound(err) && c.recentlySubmitted(reference) {
			return carriers.Registration{Reference: reference, Status: carriers.StatusPending, CarrierStatus: StateAccepted}, nil
		}
		return carriers.Registration{}, c.classify("get order", err, "", readCall)
	}
	return c.registrationFrom(resp)
}

// registrationFrom reads an order answer. It returns the registration and,
// for an order CDEK refused, a KindRejected error.
func (c *Carrier) registrationFrom(resp OrderResponse) (carriers.Registration, error) {
	e := resp.Entity
	reg := carriers.Registration{Number: e.Number, Reference: e.UUID, TrackingNumber: strings.TrimSpace(string(e.CDEKNumber)),
		Mark: parseMark(e.Comment)}
	if e.Recipient != nil {
		for _, p := range e.Recipient.Phones {
			if n, err := carriers.NormalizePhone(p.Number); err == nil {
				reg.RecipientPhone = n
				break
			}
			if reg.RecipientPhone == "" {
				reg.RecipientPhone = strings.TrimSpace(p.Number)
			}
		}
	}
	create, hasCreate := LatestRequest(resp.Requests, "CREATE")
	latest, hasStatus := e.LatestStatus()
	if hasStatus {
		reg.CarrierStatus = latest.Code
	} else if hasCreate {
		reg.CarrierStatus = create.State
	}
	if (hasCreate && create.State == StateInvalid) || (hasStatus && latest.Code == "INVALID") {
		reg.Status = carriers.StatusRejected
		items := create.Errors
		msg := russianAll(items, e.Number)
		if msg == "" {
			msg = "СДЭК отклонил заказ"
		}
		return reg, &carriers.Error{Kind: carriers.KindRejected, Carrier: Name, Op: "create order",
			Message: msg, Code: joinCodes(items), Detail: joinMessages(items), HTTPStatus: http.StatusOK}
	}
	if del, ok := LatestRequest(resp.Requests, "DELETE"); ok {
		switch del.State {
		case StateSuccessful:
			reg.Status = carriers.StatusCancelled
			return reg, nil
		case StateAccepted, StateWaiting:
			// The order still reads as created, but it is on its way out.
			reg.Status = carriers.StatusCancelling
			return reg, nil
		}
	}
	switch {
	case hasStatus:
		reg.Status = carriers.StatusUnknown
		if si, ok := lookupStatus(latest.Code, string(latest.ReasonCode)); ok {
			reg.Status = si.status
		}
	case hasCreate && create.State == StateSuccessful && reg.TrackingNumber != "":
		reg.Status = carriers.StatusRegistered
	default:
		reg.Status = carriers.StatusPending
	}
	if hasCreate && (create.State == StateAccepted || create.State == StateWaiting) {
		reg.Status = carriers.StatusPending
	}
	if reg.Status == carriers.StatusPending && reg.TrackingNumber != "" && (!hasCreate || create.State == StateSuccessful) {
		reg.Status = carriers.StatusRegistered
	}
	if reg.Status == carriers.StatusRegistered && reg.TrackingNumber == "" {
		reg.Status = carriers.StatusPending // CREATED without a number yet: wait for it
	}
	return reg, nil
}

// checkNumber is an order number no shop uses: looking it up proves that
// CDEK issues a token and answers, without touching real orders.
const checkNumber = "shipbridge-check-0000"

// Check verifies the settings against CDEK: the configuration checks of
// New; a token; that the configured shipment_point is an office CDEK knows
// and that takes parcels in (GET /v2/deliverypoints?code=); and that the
// base URL is CDEK's API — a lookup of an unused number must get CDEK's own
// JSON "not found" (a 404 from anything else is KindConfig). Problems with
// the settings are KindConfig.
func (c *Carrier) Check(ctx context.Context) error {
	if err := checkConfig(c.cfg); err != nil {
		return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: "check",
			Message: "Настройки СДЭК не подходят друг к другу" + adminHint, Detail: err.Error()}
	}
	if _, err := c.client.GetOrderByIMNumber(ctx, checkNumber); err != nil && !IsNotFound(err) {
		return c.classify("check", err, "", readCall)
	}
	if c.cfg.haveOffice() {
		code := strings.TrimSpace(c.cfg.ShipmentPoint)
		pts, err := c.client.GetDeliveryPoints(ctx, code)
		if IsNotFound(err) {
			pts, err = nil, nil
		}
		if err != nil {
			return c.classify("check shipment point", err, "", readCall)
		}
		var pt *DeliveryPoint
		for i := range pts {
			if strings.EqualFold(pts[i].Code, code) {
				pt = &pts[i]
			}
		}
		switch {
		case pt == nil:
			return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: "check shipment point",
				Message: fmt.Sprintf("СДЭК не знает пункт приёма %q из настроек (shipment_point)%s", code, adminHint),
				Detail:  fmt.Sprintf("GET /v2/deliverypoints?code=%s returned %d offices", code, len(pts))}
		case pt.IsReception != nil && !*pt.IsReception:
			return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: "check shipment point",
				Message: fmt.Sprintf("Пункт %q из настроек (shipment_point) не принимает отправления%s", code, adminHint),
				Detail:  "is_reception is false"}
		}
	}
	return nil
}

// ErrNumberShadowed is wrapped by the error of Find and FindAll when CDEK
// holds a live order with the number but no longer shows it by number:
// CDEK answers GET /v2/orders?im_number= with the most recent order of that
// number, and the most recent one is a later create that CDEK refused as a
// duplicate of the live one. Such an error is a *carriers.Error of
// KindAmbiguous with code ShadowedCode: do not re-send (CDEK would refuse
// again) and do not take the order as unregistered; a person must find the
// live order in CDEK's cabinet.
var ErrNumberShadowed = errors.New("cdek: a live order with this number exists but CDEK shows only a later refused duplicate")

// ShadowedCode is the carriers.Error.Code of an ErrNumberShadowed error.
const ShadowedCode = "cdek_number_shadowed"

// Find looks the shipment up by its number (GET /v2/orders?im_number=).
// CDEK answers only the most recent order with the number, whatever its
// state, so Find reports:
//
//   - a live order: found, with Mark and RecipientPhone for carriers.Owns;
//   - no order, or a deleted one: not found (the number is free);
//   - an order CDEK refused for a reason other than a duplicate number:
//     found, with StatusRejected — the outcome of that create is known (it
//     was refused; Registration gives the reasons), which is not "no
//     shipment". No live order hides behind it: an older live order would
//     have made CDEK refuse it as a duplicate (and should one exist anyway,
//     a re-send is refused as a duplicate, reported as below);
//   - an order CDEK refused as a duplicate number: an error wrapping
//     ErrNumberShadowed (KindAmbiguous, code ShadowedCode), because the live
//     order exists but cannot be reached by number.
//
// A 404 that is not CDEK's JSON answer is never "not found" (KindConfig).
func (c *Carrier) Find(ctx context.Context, s carriers.Shipment) (carriers.Registration, bool, error) {
	number := c.Number(s)
	resp, err := c.client.GetOrderByIMNumber(ctx, number)
	if err != nil {
		if IsNotFound(err) {
			return carriers.Registration{}, false, nil
		}
		return carriers.Registration{}, false, c.classify("find order", err, number, readCall)
	}
	if resp.Entity.Number != "" && resp.Entity.Number != number {
		c.log.Warn("cdek returned an order with another number", zap.String("want", number), zap.String("got", resp.Entity.Number))
		return carriers.Registration{}, false, nil
	}
	reg, err := c.registrationFrom(resp)
	if reg.Number == "" {
		reg.Number = number
	}
	if err != nil || reg.Status == carriers.StatusRejected {
		if create, ok := LatestRequest(resp.Requests, "CREATE"); ok && hasDuplicateCode(create.Errors) {
			if live, ok, err := c.findByTracking(ctx, s, number); err != nil || ok {
				return live, ok, err
			}
			return carriers.Registration{}, false, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: Name, Op: "find order",
				Message: fmt.Sprintf("В СДЭК есть действующий заказ с номером %s, но по номеру СДЭК показывает только более поздний отклонённый дубль %s; "+
					"найдите действующий заказ в личном кабинете СДЭК, повторная отправка не выполняется", number, reg.Reference),
				Code: ShadowedCode, Detail: "most recent order " + reg.Reference + " was refused as a duplicate number", Err: ErrNumberShadowed}
		}
		reg.Status = carriers.StatusRejected
		return reg, true, nil
	}
	if reg.Status == carriers.StatusCancelled {
		return carriers.Registration{}, false, nil
	}
	return reg, true, nil
}

// findByTracking looks for the live order a refused duplicate hides, by the
// tracking number (cdek_number) the shop's order still carries
// (Shipment.KnownTracking): GET /v2/orders?cdek_number=. It reports found
// only for a live order with the same number; the workflow then checks that
// it is the order's own (carriers.Owns).
func (c *Carrier) findByTracking(ctx context.Context, s carriers.Shipment, number string) (carriers.Registration, bool, error) {
	hint := strings.TrimSpace(s.KnownTracking)
	if hint == "" {
		return carriers.Registration{}, false, nil
	}
	resp, err := c.client.GetOrderByCDEKNumber(ctx, hint)
	if err != nil {
		if IsNotFound(err) {
			return carriers.Registration{}, false, nil
		}
		return carriers.Registration{}, false, c.classify("find order by cdek_number", err, number, readCall)
	}
	reg, err := c.registrationFrom(resp)
	if err != nil || resp.Entity.Number != number || !reg.Done() {
		return carriers.Registration{}, false, nil
	}
	if reg.Number == "" {
		reg.Number = number
	}
	return reg, true, nil
}

// FindAll returns the live orders with the shipment's number: at most one,
// since CDEK keeps the number unique among active orders and shows only the
// most recent order by number; none when there is none. When a live order
// is hidden behind a refused duplicate, it returns the ErrNumberShadowed
// error of Find instead of an incomplete list.
func (c *Carrier) FindAll(ctx context.Context, s carriers.Shipment) ([]carriers.Registration, error) {
	reg, found, err := c.Find(ctx, s)
	if err != nil || !found || reg.Status == carriers.StatusRejected {
		return nil, err
	}
	return []carriers.Registration{reg}, nil
}

func hasDuplicateCode(items []ErrorItem) bool {
	for _, it := range items {
		if it.Code == CodeDuplicateNumber || it.Code == CodeDuplicateNumberAlt {
			return true
		}
	}
	return false
}

// Delete deletes the order and waits for CDEK's verdict. CDEK deletes only
// orders in status CREATED; a refusal is KindRejected with CDEK's reason.
// An order that is already gone is not an error.
func (c *Carrier) Delete(ctx context.Context, reg carriers.Registration) error {
	uuid := reg.Reference
	if uuid == "" {
		if reg.Number == "" {
			return nil // nothing was ever registered
		}
		resp, err := c.client.GetOrderByIMNumber(ctx, reg.Number)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return c.classify("delete order", err, reg.Number, readCall)
		}
		uuid = resp.Entity.UUID
	}
	// Look first: an order already deleted would only get a confusing refusal.
	resp, err := c.client.GetOrder(ctx, uuid)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.classify("delete order", err, reg.Number, readCall)
	}
	if gone(resp) {
		return nil
	}
	accepted, err := c.client.DeleteOrder(ctx, uuid)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return c.classify("delete order", err, reg.Number, deleteCall)
	}
	var ours string // our DELETE request, to tell it from earlier ones
	if r, ok := LatestRequest(accepted.Requests, "DELETE"); ok {
		ours = r.RequestUUID
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.MaxWait)
	defer cancel()
	for {
		if err := c.pause(ctx); err != nil {
			return &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: "delete order",
				Message: "СДЭК ещё не подтвердил удаление заказа; проверка повторится", Err: err}
		}
		resp, err := c.client.GetOrder(ctx, uuid)
		if IsNotFound(err) {
			return nil // CDEK stops showing a deleted order
		}
		if err != nil {
			return c.classify("delete order", err, reg.Number, readCall)
		}
		del, ok := deleteRequest(resp.Requests, ours)
		switch {
		case gone(resp):
			return nil
		case ok && del.State == StateInvalid:
			msg := russianAll(del.Errors, reg.Number)
			if msg == "" {
				msg = "СДЭК отказался удалить заказ"
			}
			return &carriers.Error{Kind: refusalKind(del.Errors), Carrier: Name, Op: "delete order", Message: msg,
				Code: joinCodes(del.Errors), Detail: joinMessages(del.Errors), HTTPStatus: http.StatusOK}
		}
	}
}

// refusalKind is the kind of an asynchronous refusal (an INVALID request):
// transient when every code says so (the entity is busy or not ready yet),
// else KindRejected.
func refusalKind(items []ErrorItem) carriers.Kind {
	if k, ok := codesKind(items, false); ok && k == carriers.KindTransient {
		for _, it := range items {
			if _, known := lookupCode(it.Code); !known {
				return carriers.KindRejected
			}
		}
		return carriers.KindTransient
	}
	return carriers.KindRejected
}

// deleteRequest finds our DELETE request by its uuid, or the latest one
// when CDEK gave none.
func deleteRequest(reqs []Request, uuid string) (Request, bool) {
	if uuid != "" {
		for _, r := range reqs {
			if r.RequestUUID == uuid {
				return r, true
			}
		}
		return Request{}, false
	}
	return LatestRequest(reqs, "DELETE")
}

// gone reports whether an order is deleted at CDEK.
func gone(resp OrderResponse) bool {
	if del, ok := LatestRequest(resp.Requests, "DELETE"); ok && del.State == StateSuccessful {
		return true
	}
	if st, ok := resp.Entity.LatestStatus(); ok && st.Code == "REMOVED" {
		return true
	}
	return false
}

func (c *Carrier) pause(ctx context.Context) error {
	return c.cfg.Sleep(ctx, c.cfg.PollInterval)
}

// Waybill orders the waybill print form, waits until CDEK has rendered it
// and downloads the PDF. An order CDEK has not finished creating
// (v2_entity_not_ready, synchronous or in the print form) is transient.
func (c *Carrier) Waybill(ctx context.Context, reg carriers.Registration) (carriers.Document, error) {
	const op = "get waybill"
	if reg.Reference == "" {
		return carriers.Document{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Заказ ещё не зарегистрирован в СДЭК: накладную получить нельзя", Detail: "registration has no reference"}
	}
	created, err := c.client.CreateWaybill(ctx, []string{reg.Reference}, c.cfg.PrintCopies)
	if err != nil {
		return carriers.Document{}, c.classify(op, err, reg.Number, readCall)
	}
	printUUID := created.UUID()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.MaxWait)
	defer cancel()
	var link string
	for link == "" {
		if err := c.pause(ctx); err != nil {
			return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op,
				Message: "СДЭК ещё не подготовил накладную; повтор запланирован", Err: err}
		}
		pr, err := c.client.GetWaybill(ctx, printUUID)
		if IsNotFound(err) {
			continue // not visible yet
		}
		if err != nil {
			return carriers.Document{}, c.classify(op, err, reg.Number, readCall)
		}
		switch pr.Entity.LatestStatus() {
		case "READY":
			link = pr.Entity.URL
			if link == "" {
				link = "/v2/print/orders/" + printUUID + ".pdf"
			}
		case "INVALID":
			var items []ErrorItem
			if r, ok := LatestRequest(pr.Requests, "CREATE"); ok {
				items = r.Errors
			}
			msg := russianAll(items, reg.Number)
			if msg == "" {
				msg = "СДЭК не смог сформировать накладную"
			}
			return carriers.Document{}, &carriers.Error{Kind: refusalKind(items), Carrier: Name, Op: op, Message: msg,
				Code: joinCodes(items), Detail: joinMessages(items), HTTPStatus: http.StatusOK}
		case "REMOVED":
			return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op,
				Message: "Срок хранения накладной в СДЭК истёк; она будет запрошена заново", Code: "REMOVED"}
		}
	}
	pdf, err := c.client.DownloadWaybill(ctx, link)
	if err != nil {
		return carriers.Document{}, c.classify(op, err, reg.Number, readCall)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op,
			Message: "СДЭК прислал накладную в неожиданном формате; повтор запланирован", Detail: "downloaded file is not a PDF"}
	}
	name := reg.TrackingNumber
	if name == "" {
		name = reg.Number
	}
	return carriers.Document{Filename: "waybill-" + safeFilename(name) + ".pdf", ContentType: "application/pdf", Content: pdf}, nil
}

func safeFilename(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "order"
	}
	return b.String()
}

// callKind is what a failed call could have done at CDEK.
type callKind int

const (
	readCall   callKind = iota // a lookup: nothing changed
	createCall                 // POST /v2/orders: an order may exist
	deleteCall                 // DELETE /v2/orders/{uuid}: harmless to repeat
)

// classify turns a client error into a *carriers.Error:
//
//   - CDEK's codes decide through errorCodes (the most cautious kind of
//     all the codes wins); for a create a transient or unknown code is
//     KindAmbiguous, for other calls an unknown code is transient;
//   - a 2xx without the entity on a create, a 5xx on a create and a lost
//     answer to a sent create are KindAmbiguous (reconcile by number);
//   - a 5xx or 429 elsewhere is transient (after the client's own retries);
//   - 401/403 and refused credentials are KindConfig; so is a 404 that is
//     not CDEK's JSON (a wrong base URL), never KindNotFound.
func (c *Carrier) classify(op string, err error, number string, ck callKind) error {
	if err == nil {
		return nil
	}
	var ce *carriers.Error
	if errors.As(err, &ce) {
		return ce
	}
	create := ck == createCall
	e := &carriers.Error{Carrier: Name, Op: op, Err: err}
	var (
		ae *APIError
		au *AuthError
		te *TransportError
	)
	switch {
	case errors.As(err, &au):
		e.HTTPStatus, e.Code, e.Detail = au.Status, au.Code, au.Description
		e.Err = nil
		switch {
		case au.Status == http.StatusNotFound:
			e.Kind = carriers.KindConfig
			e.Message = "По адресу API СДЭК из настроек (base_url) не отвечает СДЭК (HTTP 404)" + adminHint
		case au.CredentialsRefused():
			e.Kind = carriers.KindConfig
			e.Message = "СДЭК не принял ключи интеграции (client_id / client_secret)" + adminHint
		default:
			e.Kind = carriers.KindTransient
			e.Message = "Не удалось получить доступ к API СДЭК; повтор запланирован"
			e.Err = au
		}
	case errors.As(err, &ae):
		e.HTTPStatus, e.Code, e.Detail = ae.Status, joinCodes(ae.Items), joinMessages(ae.Items)
		if e.Detail == "" {
			e.Detail = ae.Body
		}
		e.Err = nil
		msg := russianAll(ae.Items, number)
		switch {
		case create && ae.Status >= 200 && ae.Status < 300:
			e.Kind = carriers.KindAmbiguous
			e.Message = "СДЭК ответил на создание заказа без его идентификатора; проверяем по номеру, создан ли заказ, прежде чем повторить"
			if msg != "" {
				e.Message += " (" + msg + ")"
			}
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			e.Kind = carriers.KindConfig
			e.Message = "СДЭК отказал в доступе к API" + adminHint
		case ae.Status == http.StatusTooManyRequests:
			e.Kind = carriers.KindTransient
			e.Message = "СДЭК ограничил частоту запросов (HTTP 429); повтор запланирован"
		case ae.Status >= 500 && create:
			e.Kind = carriers.KindAmbiguous
			e.Message = fmt.Sprintf("СДЭК ответил ошибкой HTTP %d на создание заказа; проверяем по номеру, создан ли заказ, прежде чем повторить", ae.Status)
		case ae.Status >= 500:
			e.Kind = carriers.KindTransient
			e.Message = fmt.Sprintf("СДЭК временно недоступен (HTTP %d); повтор запланирован", ae.Status)
		case ae.Foreign && ae.Status == http.StatusNotFound:
			e.Kind = carriers.KindConfig
			e.Message = "По адресу API СДЭК из настроек (base_url) отвечает не СДЭК (HTTP 404)" + adminHint
		case ae.Foreign && create:
			e.Kind = carriers.KindAmbiguous
			e.Message = fmt.Sprintf("На создание заказа пришёл ответ не от СДЭК (HTTP %d); проверяем по номеру, создан ли заказ, прежде чем повторить", ae.Status)
		case ae.Foreign:
			e.Kind = carriers.KindTransient
			e.Message = fmt.Sprintf("Пришёл ответ не от СДЭК (HTTP %d); повтор запланирован", ae.Status)
		default:
			e.Kind, _ = codesKind(ae.Items, create)
			if e.Kind == 0 {
				e.Kind = carriers.KindTransient
			}
			e.Message = msg
			if e.Kind == carriers.KindAmbiguous {
				e.Message = "СДЭК не подтвердил и не отклонил создание заказа; проверяем по номеру, создан ли он, прежде чем повторить (" + msg + ")"
			}
		}
	case errors.As(err, &te):
		if ck != readCall && te.Sent {
			e.Kind = carriers.KindAmbiguous
			e.Message = "СДЭК не ответил на запрос; проверяем, выполнен ли он, прежде чем повторить"
		} else {
			e.Kind = carriers.KindTransient
			e.Message = "СДЭК не отвечает; повтор запланирован"
		}
	case errors.Is(err, ErrBadUUID):
		e.Kind = carriers.KindNotFound
		e.Message = "Неверный идентификатор заказа СДЭК"
	case errors.Is(err, context.DeadlineExceeded) && ck != readCall:
		e.Kind = carriers.KindAmbiguous
		e.Message = "СДЭК не ответил вовремя; проверяем, выполнен ли запрос, прежде чем повторить"
	default:
		e.Kind = carriers.KindTransient
		e.Message = "СДЭК временно недоступен; повтор запланирован"
	}
	return e
}
