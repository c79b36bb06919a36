package pochta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
)

// Name is the carrier's key.
const Name = "pochta"

// MaxNumberLen is the longest order-num sent. Pochta documents no limit
// (UNCONFIRMED); the CDEK-safe 30 keeps one numbering rule for both.
const MaxNumberLen = 30

// The mail categories shipbridge uses (PRODUCT §2b).
const (
	CategoryOrdinary      = "ORDINARY"
	CategoryDeclaredValue = "WITH_DECLARED_VALUE"
	CategoryCOD           = "WITH_DECLARED_VALUE_AND_CASH_ON_DELIVERY"
)

// Carrier is the Почта России «Отправка» adapter: carriers.Carrier,
// FinderAll, Finder, Batcher, WaybillPrinter, Deleter, Tracker and Checker
// on top of Client. It never checks a batch in: that stays with the shop.
type Carrier struct {
	cfg    Config
	client *Client
	log    *zap.Logger

	batchMu sync.Mutex
	batchKs map[string]*sync.Mutex // one lock per day, mail type and category

	quotaMu     sync.Mutex
	quota       Quota
	quotaWarned bool
}

var (
	_ carriers.Carrier        = (*Carrier)(nil)
	_ carriers.Finder         = (*Carrier)(nil)
	_ carriers.FinderAll      = (*Carrier)(nil)
	_ carriers.Batcher        = (*Carrier)(nil)
	_ carriers.WaybillPrinter = (*Carrier)(nil)
	_ carriers.Deleter        = (*Carrier)(nil)
	_ carriers.Tracker        = (*Carrier)(nil)
	_ carriers.Checker        = (*Carrier)(nil)
)

// New builds the adapter. It checks the configuration but makes no call.
func New(cfg Config) (*Carrier, error) {
	cfg.Enabled = true // building it means using it: the secrets are required
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pochta: %w", err)
	}
	cfg = cfg.withDefaults()
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Carrier{cfg: cfg, client: cl, log: cfg.Logger, batchKs: map[string]*sync.Mutex{}}, nil
}

// Client returns the low-level client the adapter uses.
func (c *Carrier) Client() *Client { return c.client }

// Name returns "pochta".
func (c *Carrier) Name() string { return Name }

// Number returns the order-num: the same rule as CDEK's number (PRODUCT
// §2b, carriers.ShopNumber) within MaxNumberLen.
func (c *Carrier) Number(s carriers.Shipment) string { return carriers.ShopNumber(s, MaxNumberLen) }

// carrierData is what the adapter keeps in Registration.CarrierData:
// Pochta's internal order id (every later call needs it) and the batch.
type carrierData struct {
	ID        int64  `json:"id"`
	Batch     string `json:"batch,omitempty"`
	BatchDate string `json:"batch_date,omitempty"`
}

func (d carrierData) raw() json.RawMessage {
	b, _ := json.Marshal(d)
	return b
}

func readData(raw json.RawMessage) carrierData {
	var d carrierData
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &d)
	}
	return d
}

// idOf is the internal order id of a registration: from CarrierData, else
// the Reference (which is that id as text).
func idOf(reg carriers.Registration) int64 {
	if d := readData(reg.CarrierData); d.ID > 0 {
		return d.ID
	}
	id, err := strconv.ParseInt(strings.TrimSpace(reg.Reference), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// splitName returns the recipient's surname, given name and middle name:
// the workflow's split when it gave one, else Contact.Name split the
// Russian way («Фамилия Имя Отчество»; anything after the third word, such
// as «оглы», stays with the middle name). «Имя Фамилия» and «Имя Отчество
// Фамилия» are recognised by the usual surname and patronymic endings.
func splitName(ct carriers.Contact) (surname, given, middle string) {
	if s, g := strings.TrimSpace(ct.Surname), strings.TrimSpace(ct.GivenName); s != "" && g != "" {
		return s, g, strings.TrimSpace(ct.MiddleName)
	}
	f := strings.Fields(ct.Name)
	switch len(f) {
	case 0:
		return "", "", ""
	case 1:
		return f[0], "", ""
	case 2:
		if !surnameLike(f[0]) && surnameLike(f[1]) && !patronymicLike(f[0]) {
			return f[1], f[0], "" // «Иван Иванов»
		}
		return f[0], f[1], ""
	case 3:
		if patronymicLike(f[1]) && surnameLike(f[2]) && !surnameLike(f[0]) {
			return f[2], f[0], f[1] // «Иван Иванович Иванов»
		}
	}
	return f[0], f[1], strings.Join(f[2:], " ")
}

// surnameLike: the common Russian surname endings (-ов, -ев, -ин, -ский …).
func surnameLike(w string) bool {
	w = strings.ToLower(w)
	for _, suf := range []string{"ов", "ев", "ёв", "ин", "ын", "ова", "ева", "ёва", "ина", "ына", "ский", "ская", "цкий", "цкая"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w) > utf8.RuneCountInString(suf)+1 {
			return true
		}
	}
	return false
}

// patronymicLike: -вич, -вна, -чна, -ична, оглы, кызы.
func patronymicLike(w string) bool {
	w = strings.ToLower(w)
	for _, suf := range []string{"вич", "вна", "чна", "ична", "ич"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w) > 4 {
			return true
		}
	}
	return w == "оглы" || w == "кызы"
}

// phoneDigits is the phone as Pochta stores it: digits only, with the
// country code (7XXXXXXXXXX).
func phoneDigits(raw string) (int64, error) {
	p, err := carriers.NormalizePhone(raw)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimPrefix(p, "+"), 10, 64)
}

// phoneFrom normalises a phone read back from Pochta.
func phoneFrom(s String) string {
	d := strings.TrimSpace(string(s))
	if d == "" || d == "0" {
		return ""
	}
	if !strings.HasPrefix(d, "+") && len(d) == 11 && (d[0] == '7' || d[0] == '8') {
		return "+7" + d[1:]
	}
	if p, err := carriers.NormalizePhone(d); err == nil {
		return p
	}
	if !strings.HasPrefix(d, "+") {
		if p, err := carriers.NormalizePhone("+" + d); err == nil {
			return p
		}
	}
	return ""
}

var federalCities = map[string]bool{"москва": true, "санкт-петербург": true, "севастополь": true}

func cityKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"г. ", "г.", "г ", "город "} {
		s = strings.TrimPrefix(s, p)
	}
	return strings.TrimSpace(s)
}

// structured reports whether the address has every part Pochta requires
// (index, region, place, street, house); a federal city is its own region.
func structured(a *carriers.Address) bool {
	if a == nil {
		return false
	}
	region := strings.TrimSpace(a.Region)
	if region == "" && federalCities[cityKey(a.City)] {
		region = a.City
	}
	return isIndex(strings.TrimSpace(a.PostalCode)) && region != "" && strings.TrimSpace(a.City) != "" &&
		strings.TrimSpace(a.Street) != "" && strings.TrimSpace(a.House) != ""
}

// addressText is the address as one line for Pochta's normalisation: the
// free text, else the parts joined.
func addressText(a *carriers.Address) string {
	if a == nil {
		return ""
	}
	var parts []string
	for _, p := range []string{a.PostalCode, a.Region, a.City, a.Street, a.House} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if ap := strings.TrimSpace(a.Apartment); ap != "" && len(parts) > 0 {
		parts = append(parts, "кв. "+ap)
	}
	if t := strings.TrimSpace(a.Text); t != "" {
		if len(parts) < 3 {
			return strings.TrimSpace(strings.Join(append(parts, t), ", "))
		}
	}
	return strings.Join(parts, ", ")
}

// countryName names the address's country for a manager: its name with
// the code («Казахстан (KZ)»), or the code alone.
func countryName(a *carriers.Address) string {
	if n := strings.TrimSpace(a.Country); n != "" {
		return fmt.Sprintf("%s (%s)", n, strings.ToUpper(strings.TrimSpace(a.CountryCode)))
	}
	return a.CountryCode
}

func foreign(a *carriers.Address) bool {
	if a == nil {
		return false
	}
	cc := strings.ToUpper(strings.TrimSpace(a.CountryCode))
	return cc != "" && cc != "RU" && cc != "RUS" && cc != "643"
}

// Validate lists, in Russian, what Pochta would refuse and a manager can
// fix. It makes no call: an address given only as free text is checked by
// Pochta's normalisation in Submit.
func (c *Carrier) Validate(s carriers.Shipment) []carriers.Problem {
	var ps []carriers.Problem
	add := func(field, msg string, args ...any) {
		ps = append(ps, carriers.Problem{Field: field, Message: fmt.Sprintf(msg, args...)})
	}
	surname, given, _ := splitName(s.Recipient)
	switch {
	case surname == "" && strings.TrimSpace(s.Recipient.Company) == "":
		add("recipient.name", "Не указано ФИО получателя")
	case given == "":
		add("recipient.name", "Для Почты России нужны фамилия и имя получателя, а указано только «%s»", strings.TrimSpace(s.Recipient.Name+" "+s.Recipient.Company))
	case utf8.RuneCountInString(s.Recipient.Name) > 255:
		add("recipient.name", "ФИО получателя длиннее 255 символов")
	}
	if strings.TrimSpace(s.Recipient.Phone) == "" {
		add("recipient.phone", "Не указан телефон получателя")
	} else if _, err := phoneDigits(s.Recipient.Phone); err != nil {
		add("recipient.phone", "Телефон получателя «%s» не похож на российский или международный номер", s.Recipient.Phone)
	}
	pickup := strings.TrimSpace(s.PickupPoint)
	switch {
	case pickup != "":
		if !isIndex(pickup) {
			add("pickup_point", "Для Почты России в поле «Код ПВЗ» нужен шестизначный индекс отделения, а указано «%s»", pickup)
		}
	case s.Address == nil || addressText(s.Address) == "":
		add("address", "Не указаны ни индекс отделения, ни адрес доставки")
	case foreign(s.Address):
		add("address.country", "Почта России: shipbridge отправляет посылки только по России, а указана страна «%s»", countryName(s.Address))
	default:
		if pc := strings.TrimSpace(s.Address.PostalCode); pc != "" && !isIndex(pc) {
			add("address.postal_code", "Индекс «%s» должен состоять из шести цифр", pc)
		}
	}
	if strings.TrimSpace(s.Tariff) != "" && !validEnum(strings.TrimSpace(s.Tariff)) {
		add("tariff", "Тариф «%s» не похож на тип отправления Почты России (например, POSTAL_PARCEL)", s.Tariff)
	}
	if len(s.Packages) == 0 {
		add("packages", "В заказе нет позиций для отправки")
	}
	mass := 0
	for i, p := range s.Packages {
		mass += p.WeightG
		if p.LengthCM < 0 || p.WidthCM < 0 || p.HeightCM < 0 {
			add(fmt.Sprintf("packages[%d].size", i), "Размеры посылки не могут быть отрицательными")
		}
		for j, it := range p.Items {
			f := fmt.Sprintf("packages[%d].items[%d]", i, j)
			if strings.TrimSpace(it.Name) == "" {
				add(f+".name", "У товара №%d нет названия", j+1)
			}
			if it.Amount < 1 {
				add(f+".amount", "Количество товара «%s» должно быть не меньше 1 (сейчас %d)", it.Name, it.Amount)
			}
			if it.Cost < 0 || it.Payment < 0 {
				add(f+".cost", "Цена товара «%s» не может быть отрицательной", it.Name)
			}
		}
	}
	if len(s.Packages) > 0 && mass <= 0 {
		add("packages.weight", "Не указан вес посылки")
	}
	if s.CashOnDelivery < 0 || s.DeclaredValue < 0 {
		add("money", "Сумма наложенного платежа и объявленная ценность не могут быть отрицательными")
	}
	return ps
}

func invalid(op string, ps []carriers.Problem) error {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Message
	}
	return &carriers.Error{Kind: carriers.KindInvalid, Carrier: Name, Op: op,
		Message: strings.Join(msgs, "; "), Detail: fmt.Sprintf("%d validation problems", len(ps))}
}

// resolvedAddress is the structured destination of an order.
type resolvedAddress struct {
	Index                         int
	Region, Area, Place, Street   string
	House, Corpus, Building, Room string
	AddressType                   string
}

// resolveAddress returns the structured address: the shipment's parts when
// they are complete, else Pochta's normalisation of the text, accepted only
// when Pochta rates it good.
func (c *Carrier) resolveAddress(ctx context.Context, s carriers.Shipment) (resolvedAddress, error) {
	const op = "create order"
	if pickup := strings.TrimSpace(s.PickupPoint); pickup != "" {
		// До востребования at that office (reference §2.15; the companion
		// fields Pochta requires here are UNCONFIRMED).
		idx, _ := strconv.Atoi(pickup)
		r := resolvedAddress{Index: idx, AddressType: "DEMAND"}
		if a := s.Address; a != nil {
			r.Region, r.Place = strings.TrimSpace(a.Region), strings.TrimSpace(a.City)
			if r.Region == "" {
				r.Region = r.Place
			}
		}
		return r, nil
	}
	a := s.Address
	if structured(a) {
		idx, _ := strconv.Atoi(strings.TrimSpace(a.PostalCode))
		region := strings.TrimSpace(a.Region)
		if region == "" {
			region = strings.TrimSpace(a.City)
		}
		return resolvedAddress{Index: idx, Region: region, Place: strings.TrimSpace(a.City), Street: strings.TrimSpace(a.Street),
			House: strings.TrimSpace(a.House), Room: strings.TrimSpace(a.Apartment), AddressType: "DEFAULT"}, nil
	}
	text := addressText(a)
	res, err := c.client.CleanAddresses(ctx, map[string]string{"1": text})
	if err != nil {
		return resolvedAddress{}, c.classify("normalize address", err, "", false)
	}
	var got *CleanAddress
	for i := range res {
		if string(res[i].ID) == "1" || got == nil {
			got = &res[i]
		}
	}
	if got == nil {
		return resolvedAddress{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: "normalize address",
			Message: "Почта России не вернула результат проверки адреса; повтор запланирован", Detail: "empty clean/address answer"}
	}
	if !got.Good() || !isIndex(string(got.Index)) {
		var missing []string
		if !isIndex(string(got.Index)) {
			missing = append(missing, "индекс")
		}
		for _, p := range []struct{ v, n string }{{string(got.Region), "регион"}, {string(got.Place), "населённый пункт"}, {string(got.Street), "улица"}, {string(got.House), "дом"}} {
			if strings.TrimSpace(p.v) == "" {
				missing = append(missing, p.n)
			}
		}
		msg := fmt.Sprintf("Почта России не смогла надёжно распознать адрес «%s»", text)
		if len(missing) > 0 {
			msg += "; не хватает: " + strings.Join(missing, ", ")
		}
		msg += ". Укажите адрес полностью: индекс, регион, город, улицу, дом, квартиру"
		return resolvedAddress{}, &carriers.Error{Kind: carriers.KindInvalid, Carrier: Name, Op: op, Message: msg,
			Code: "ADDRESS_" + string(got.QualityCode), Detail: "quality-code " + string(got.QualityCode) + ", validation-code " + string(got.ValidationCode)}
	}
	idx, _ := strconv.Atoi(string(got.Index))
	r := resolvedAddress{Index: idx, Region: string(got.Region), Area: string(got.Area), Place: string(got.Place), Street: string(got.Street),
		House: string(got.House), Corpus: string(got.Corpus), Building: string(got.Building), Room: string(got.Room), AddressType: "DEFAULT"}
	if r.Room == "" && a != nil {
		r.Room = strings.TrimSpace(a.Apartment)
	}
	if t := strings.ToUpper(string(got.AddressType)); t != "" {
		r.AddressType = t
	}
	return r, nil
}

// Category returns the mail-category and the insr-value and payment for a
// shipment (PRODUCT §2b, rule 11): cash on delivery when the customer
// still owes money (insr-value at least the payment — Pochta refuses
// NOT_INSURED_PAYMENT otherwise), declared value when configured, else
// ORDINARY.
func (c *Carrier) Category(s carriers.Shipment) (category string, insr, payment int64) {
	switch {
	case s.CashOnDelivery > 0:
		return CategoryCOD, max(s.DeclaredValue, s.CashOnDelivery), s.CashOnDelivery
	case c.cfg.DeclaredValue && s.DeclaredValue > 0:
		return CategoryDeclaredValue, s.DeclaredValue, 0
	}
	return CategoryOrdinary, 0, 0
}

func (c *Carrier) mailType(s carriers.Shipment) string {
	if t := strings.TrimSpace(s.Tariff); t != "" {
		return strings.ToUpper(t)
	}
	return c.cfg.MailType
}

func vatRate(v carriers.VAT) *int {
	r := -1
	if v.Enabled {
		switch v.Rate {
		case 0, 10, 20:
			r = v.Rate
		default:
			return nil // rates beyond the schema's list (5, 7, 22): UNCONFIRMED, left out
		}
	}
	return &r
}

// BuildRequest maps a shipment onto the create v2 request. addr is the
// resolved destination. It does not validate.
func (c *Carrier) BuildRequest(s carriers.Shipment, addr resolvedAddress) (OrderRequest, error) {
	surname, given, middle := splitName(s.Recipient)
	tel, err := phoneDigits(s.Recipient.Phone)
	if err != nil {
		return OrderRequest{}, fmt.Errorf("recipient phone: %w", err)
	}
	name := strings.TrimSpace(strings.Join(strings.Fields(s.Recipient.Name), " "))
	if name == "" {
		name = strings.TrimSpace(strings.Join([]string{surname, given, middle}, " "))
	}
	category, insr, payment := c.Category(s)
	mass := 0
	var dim Dimension
	for _, p := range s.Packages {
		mass += p.WeightG
		dim.Length, dim.Width, dim.Height = max(dim.Length, p.LengthCM), max(dim.Width, p.WidthCM), max(dim.Height, p.HeightCM)
	}
	r := OrderRequest{
		OrderNum: c.Number(s), MailType: c.mailType(s), MailCategory: category, MailDirect: 643, Mass: mass,
		AddressTypeTo: addr.AddressType, IndexTo: addr.Index, RegionTo: addr.Region, AreaTo: addr.Area, PlaceTo: addr.Place,
		StreetTo: addr.Street, HouseTo: addr.House, CorpusTo: addr.Corpus, BuildingTo: addr.Building, RoomTo: addr.Room,
		RecipientName: truncateRunes(name, 255), Surname: surname, GivenName: given, MiddleName: middle, TelAddress: tel,
		PostofficeCode: c.cfg.PostofficeCode, InsrValue: insr, Payment: payment,
	}
	if dim.Length > 0 && dim.Width > 0 && dim.Height > 0 {
		r.Dimension = &dim
	}
	// The identity mark goes into comment, which Pochta stores and returns
	// (PRODUCT §2b; carriers.Owns). The shop's own comment is used only when
	// there is no mark, so the mark reads back exactly.
	if s.Mark != "" {
		r.Comment = s.Mark
	} else {
		r.Comment = truncateRunes(strings.TrimSpace(s.Comment), 255)
	}
	if payment > 0 {
		// Contents with the amounts to collect, for the COD receipt
		// (goods.items, values per unit in kopecks).
		g := &Goods{}
		for _, p := range s.Packages {
			for _, it := range p.Items {
				g.Items = append(g.Items, GoodsItem{Description: truncateRunes(strings.TrimSpace(it.Name), 128), Quantity: it.Amount,
					Value: it.Payment, InsrValue: it.Cost, ItemNumber: truncateRunes(strings.TrimSpace(it.WareKey), 30), VATRate: vatRate(it.VAT), GoodsType: "GOODS"})
			}
		}
		if s.DeliveryCharge > 0 {
			g.Items = append(g.Items, GoodsItem{Description: "Доставка", Quantity: 1, Value: s.DeliveryCharge, VATRate: vatRate(s.DeliveryVAT), GoodsType: "SERVICE"})
		}
		if len(g.Items) > 0 {
			r.Goods = g
		}
	}
	return r, nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Submit validates, normalises and creates the order with PUT
// /2.0/user/backlog. Pochta answers synchronously with the internal id and
// the ШПИ, so a nil error is a registered shipment. Pochta has no
// idempotency: after an ambiguous outcome the workflow must FindAll before
// calling Submit again.
func (c *Carrier) Submit(ctx context.Context, s carriers.Shipment) (carriers.Registration, error) {
	const op = "create order"
	number := c.Number(s)
	if ps := c.Validate(s); len(ps) > 0 {
		return carriers.Registration{}, invalid(op, ps)
	}
	addr, err := c.resolveAddress(ctx, s)
	if err != nil {
		return carriers.Registration{}, err
	}
	req, err := c.BuildRequest(s, addr)
	if err != nil {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindInvalid, Carrier: Name, Op: op,
			Message: "Данные заказа не подходят для Почты России", Detail: err.Error()}
	}
	c.refreshQuotaIfStale(ctx)
	resp, err := c.client.CreateOrders(ctx, []OrderRequest{req})
	if err != nil {
		return carriers.Registration{}, c.classify(op, err, number, true)
	}
	if len(resp.Orders) > 0 && resp.Orders[0].ResultID > 0 {
		o := resp.Orders[0]
		d := carrierData{ID: int64(o.ResultID)}
		reg := carriers.Registration{Number: number, Reference: strconv.FormatInt(int64(o.ResultID), 10),
			TrackingNumber: strings.TrimSpace(string(o.Barcode)), Status: carriers.StatusRegistered, CarrierStatus: "NEW",
			Mark: req.Comment, RecipientPhone: "+" + strconv.FormatInt(req.TelAddress, 10), CarrierData: d.raw()}
		if s.Mark == "" {
			reg.Mark = ""
		}
		if reg.TrackingNumber == "" {
			reg.Status = carriers.StatusPending // no ШПИ yet; Registration will read it
		}
		c.log.Info("pochta order created", zap.String("number", number), zap.Int64("id", d.ID), zap.String("barcode", reg.TrackingNumber))
		return reg, nil
	}
	var items []ErrorItem
	for _, pe := range resp.Errors {
		items = append(items, pe.Items...)
	}
	if len(items) == 0 {
		// 200 with neither an order nor an error: whether it was created is
		// unknown — reconcile before any re-send.
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: Name, Op: op, HTTPStatus: http.StatusOK,
			Message: "Почта России ответила без номера заказа; проверяем, создан ли он, прежде чем повторить", Detail: "answer has neither orders nor errors"}
	}
	return carriers.Registration{}, c.rejection(op, items, http.StatusOK)
}

// rejection builds the error for errors Pochta listed in a 200 answer.
func (c *Carrier) rejection(op string, items []ErrorItem, status int) *carriers.Error {
	e := &carriers.Error{Carrier: Name, Op: op, Message: russianAll(items), Code: joinCodes(items), Detail: joinDescriptions(items), HTTPStatus: status}
	if quotaRefusal(items) {
		e.Kind, e.QuotaExhausted, e.Message = carriers.KindTransient, true, quotaMessage
		c.quotaSpent()
		return e
	}
	e.Kind = kindOf(items)
	if e.Kind == carriers.KindTransient {
		e.Message += "; повтор запланирован"
	}
	return e
}

func kindOf(items []ErrorItem) carriers.Kind {
	allData, anyConfig, allTransient := len(items) > 0, false, len(items) > 0
	for _, it := range items {
		if !dataCode(it.Code) {
			allData = false
		}
		if configCodes[it.Code] {
			anyConfig = true
		}
		if !transientCodes[it.Code] {
			allTransient = false
		}
	}
	switch {
	case allTransient:
		return carriers.KindTransient
	case anyConfig:
		return carriers.KindConfig
	case allData:
		return carriers.KindInvalid
	}
	return carriers.KindRejected
}

// registrationFrom reads an order found by id or search.
func registrationFrom(o Order, batchDate string) carriers.Registration {
	d := carrierData{ID: int64(o.ID), Batch: strings.TrimSpace(string(o.BatchName))}
	if d.Batch != "" {
		d.BatchDate = batchDate
	}
	reg := carriers.Registration{Number: string(o.OrderNum), Reference: strconv.FormatInt(int64(o.ID), 10),
		TrackingNumber: strings.TrimSpace(string(o.Barcode)), Mark: strings.TrimSpace(string(o.Comment)),
		RecipientPhone: phoneFrom(o.TelAddress), CarrierData: d.raw(), CarrierStatus: "NEW"}
	if d.Batch != "" {
		reg.CarrierStatus = strings.ToUpper(string(o.BatchStatus))
		if reg.CarrierStatus == "" {
			reg.CarrierStatus = "BATCHED"
		}
	}
	switch {
	case bool(o.IsDeleted):
		reg.Status = carriers.StatusCancelled
		reg.CarrierStatus = "DELETED"
		return reg
	case reg.TrackingNumber == "":
		reg.Status = carriers.StatusPending
		return reg
	}
	reg.Status = carriers.StatusRegistered
	if d.Batch != "" {
		switch trackingFrom(reg.Reference, o).Status {
		case carriers.TrackDelivered:
			reg.Status = carriers.StatusDelivered
		case carriers.TrackReturned, carriers.TrackNotDelivered:
			reg.Status = carriers.StatusReturned
		case carriers.TrackInTransit, carriers.TrackAtPickup:
			reg.Status = carriers.StatusInTransit
		}
	}
	return reg
}

// lookup finds the order by internal id, in «Новые» first and then in the
// batches. found is false when Pochta knows it in neither.
func (c *Carrier) lookup(ctx context.Context, op string, id int64) (o Order, batched, found bool, err error) {
	o, err = c.client.GetBacklogOrder(ctx, id)
	if err == nil {
		return o, false, true, nil
	}
	if !IsNotFound(err) {
		return Order{}, false, false, c.classify(op, err, "", false)
	}
	o, err = c.client.GetShipmentOrder(ctx, id)
	if err == nil {
		return o, true, true, nil
	}
	if !IsNotFound(err) {
		return Order{}, false, false, c.classify(op, err, "", false)
	}
	return Order{}, false, false, nil
}

// Registration reads the order by its internal id (the Reference).
func (c *Carrier) Registration(ctx context.Context, reference string) (carriers.Registration, error) {
	const op = "get order"
	id := idOf(carriers.Registration{Reference: reference})
	if id == 0 {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Неверный идентификатор заказа Почты России", Detail: "reference is not an internal order id"}
	}
	o, _, found, err := c.lookup(ctx, op, id)
	if err != nil {
		return carriers.Registration{}, err
	}
	if !found {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Заказ не найден в Почте России", Code: "NOT_FOUND", Detail: "no order with id " + reference}
	}
	return registrationFrom(o, ""), nil
}

// FindAll searches «Новые» and the batches by our number (PRODUCT §2b):
// order-num must match exactly and deleted orders are ignored, because
// Pochta neither refuses a duplicate number nor limits its search to exact
// matches.
func (c *Carrier) FindAll(ctx context.Context, s carriers.Shipment) ([]carriers.Registration, error) {
	const op = "find order"
	number := c.Number(s)
	var out []carriers.Registration
	seen := map[int64]bool{}
	for _, search := range []func(context.Context, string) ([]Order, error){c.client.SearchBacklog, c.client.SearchShipments} {
		orders, err := search(ctx, number)
		if err != nil {
			if IsNotFound(err) {
				continue
			}
			return nil, c.classify(op, err, number, false)
		}
		for _, o := range orders {
			if string(o.OrderNum) != number || bool(o.IsDeleted) || o.ID <= 0 || seen[int64(o.ID)] {
				continue
			}
			seen[int64(o.ID)] = true
			out = append(out, registrationFrom(o, ""))
		}
	}
	return out, nil
}

// Find is FindAll for a caller that wants one shipment: none → not found;
// several → the one that provably is this order's (carriers.Owns), and an
// error that asks the manager when that does not single one out.
func (c *Carrier) Find(ctx context.Context, s carriers.Shipment) (carriers.Registration, bool, error) {
	regs, err := c.FindAll(ctx, s)
	if err != nil {
		return carriers.Registration{}, false, err
	}
	switch len(regs) {
	case 0:
		return carriers.Registration{}, false, nil
	case 1:
		return regs[0], true, nil
	}
	var owned []carriers.Registration
	for _, r := range regs {
		if carriers.Owns(s, r) {
			owned = append(owned, r)
		}
	}
	if len(owned) == 1 {
		return owned[0], true, nil
	}
	return carriers.Registration{}, false, c.several(c.Number(s), regs)
}

func (c *Carrier) several(number string, regs []carriers.Registration) error {
	var list []string
	for _, r := range regs {
		t := r.TrackingNumber
		if t == "" {
			t = "id " + r.Reference
		}
		list = append(list, t)
	}
	return &carriers.Error{Kind: carriers.KindRejected, Carrier: Name, Op: "find order", Code: "SEVERAL_ORDERS",
		Message: fmt.Sprintf("В Почте России несколько заказов с номером %s (ШПИ: %s); удалите лишние в личном кабинете и повторите", number, strings.Join(list, ", ")),
		Detail:  fmt.Sprintf("%d live orders share order-num %s", len(regs), number)}
}

func (c *Carrier) day(t time.Time) string { return t.In(c.cfg.Location).Format("2006-01-02") }

func (c *Carrier) batchLock(key string) *sync.Mutex {
	c.batchMu.Lock()
	defer c.batchMu.Unlock()
	m := c.batchKs[key]
	if m == nil {
		m = &sync.Mutex{}
		c.batchKs[key] = m
	}
	return m
}

// matchBatch reports whether an open batch takes an order of the day, mail
// type and category at our office. Pochta labels some batches COMBINED
// with the real types in combined-batch-mail-types (sample
// batch_create_200), so COMBINED matches too.
func (c *Carrier) matchBatch(b Batch, day, mailType, category string) bool {
	if !strings.EqualFold(string(b.Status), "CREATED") || strings.TrimSpace(string(b.ListNumberDate)) != day || b.Name == "" {
		return false
	}
	if pc := strings.TrimSpace(string(b.PostofficeCode)); pc != "" && pc != c.cfg.PostofficeCode {
		return false
	}
	switch mt := strings.ToUpper(string(b.MailType)); {
	case mt == mailType:
	case mt == "COMBINED" || mt == "":
		if len(b.CombinedBatchMailTypes) > 0 {
			ok := false
			for _, t := range b.CombinedBatchMailTypes {
				ok = ok || strings.EqualFold(string(t), mailType)
			}
			if !ok {
				return false
			}
		}
	default:
		return false
	}
	cat := strings.ToUpper(string(b.MailCategory))
	return cat == category || cat == "COMBINED" || cat == ""
}

// Batch puts the order into the shipping day's open batch of its mail type
// and category, opening one when there is none. A repeated call finds the
// batch the order is already in (the order is looked up first), so a lost
// answer never opens a second batch. It never checks the batch in.
func (c *Carrier) Batch(ctx context.Context, reg carriers.Registration, day time.Time) (carriers.Registration, error) {
	const op = "add to batch"
	id := idOf(reg)
	if id == 0 {
		return reg, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Заказ ещё не создан в Почте России: добавить его в партию нельзя", Detail: "registration has no internal id"}
	}
	if now := c.cfg.Now(); c.day(day) < c.day(now) {
		day = now // Pochta refuses a past sending date (PAST_DUE_DATE); the parcel goes today
	}
	date := c.day(day)
	if o, err := c.client.GetShipmentOrder(ctx, id); err == nil && !bool(o.IsDeleted) {
		return c.batched(reg, o, date), nil
	} else if err != nil && !IsNotFound(err) {
		return reg, c.classify(op, err, reg.Number, false)
	}
	o, err := c.client.GetBacklogOrder(ctx, id)
	if err != nil {
		if IsNotFound(err) {
			return reg, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op, Code: "NOT_FOUND",
				Message: "Заказ не найден в Почте России (возможно, удалён в личном кабинете)", Detail: fmt.Sprintf("order %d in neither backlog nor batches", id)}
		}
		return reg, c.classify(op, err, reg.Number, false)
	}
	if bool(o.IsDeleted) {
		return reg, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op, Code: "NOT_FOUND",
			Message: "Заказ удалён в Почте России", Detail: fmt.Sprintf("order %d is deleted", id)}
	}
	mailType := strings.ToUpper(string(o.MailType))
	if mailType == "" {
		mailType = c.cfg.MailType
	}
	category := strings.ToUpper(string(o.MailCategory))
	lk := c.batchLock(date + "|" + mailType + "|" + category)
	lk.Lock()
	defer lk.Unlock()

	open, err := c.openBatches(ctx, date, mailType, category)
	if err != nil {
		return reg, c.classify(op, err, reg.Number, false)
	}
	for _, b := range open {
		res, err := c.client.AddToBatch(ctx, string(b.Name), []int64{id})
		if IsNotFound(err) {
			continue // the batch is gone (archived meanwhile)
		}
		if err != nil {
			return reg, c.classify(op, err, reg.Number, true)
		}
		if contains(res.ResultIDs, id) && len(res.Errors) == 0 {
			return c.confirmBatch(ctx, reg, id, string(b.Name), date), nil
		}
		// Refused: perhaps the order got in after all, or the batch is no
		// longer open (checked in meanwhile) — look before anything else.
		if so, err := c.client.GetShipmentOrder(ctx, id); err == nil && !bool(so.IsDeleted) {
			return c.batched(reg, so, date), nil
		}
		c.log.Info("pochta batch refused the order; trying another", zap.String("batch", string(b.Name)), zap.Int64("id", id), zap.String("codes", joinCodes(res.Errors)))
		if !batchSideRefusal(res.Errors) {
			return reg, c.rejection(op, res.Errors, http.StatusOK)
		}
	}
	res, err := c.client.CreateBatch(ctx, []int64{id}, day.In(c.cfg.Location))
	if err != nil {
		return reg, c.classify(op, err, reg.Number, true)
	}
	if len(res.Errors) > 0 || len(res.Batches) == 0 {
		if so, err := c.client.GetShipmentOrder(ctx, id); err == nil && !bool(so.IsDeleted) {
			return c.batched(reg, so, date), nil
		}
		if len(res.Errors) == 0 {
			return reg, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: Name, Op: op, HTTPStatus: http.StatusOK,
				Message: "Почта России не сообщила, в какую партию попал заказ; проверка повторится", Detail: "batch answer without batches"}
		}
		return reg, c.rejection(op, res.Errors, http.StatusOK)
	}
	name := string(res.Batches[0].Name)
	c.log.Info("pochta batch opened", zap.String("batch", name), zap.String("date", date), zap.String("mail_type", mailType), zap.String("category", category))
	return c.confirmBatch(ctx, reg, id, name, date), nil
}

// openBatches lists the open batches that may take an order of the day,
// mail type and category, oldest first. Pochta filters GET /1.0/batch by
// mailType/mailCategory, but it labels some batches COMBINED (sample
// batch_create_200) and whether the filter sees through that label is
// UNCONFIRMED; when the filtered list has no match, the unfiltered one is
// searched too. A wrong guess costs one refused add (DIFFERENT_*), never a
// wrong batch: Pochta checks the type and category itself.
func (c *Carrier) openBatches(ctx context.Context, date, mailType, category string) ([]Batch, error) {
	var open []Batch
	for _, filter := range [][2]string{{mailType, category}, {"", ""}} {
		batches, err := c.client.ListBatches(ctx, filter[0], filter[1])
		if err != nil && !IsNotFound(err) {
			return nil, err
		}
		for _, b := range batches {
			if c.matchBatch(b, date, mailType, category) {
				open = append(open, b)
			}
		}
		if len(open) > 0 {
			break
		}
	}
	sort.SliceStable(open, func(i, j int) bool { return batchLess(string(open[i].Name), string(open[j].Name)) })
	return open, nil
}

// batchSideRefusal: the batch, not the order, is the problem, so another
// (new) batch may take it.
func batchSideRefusal(items []ErrorItem) bool {
	for _, it := range items {
		switch {
		case it.Code == "READONLY_STATE", it.Code == "ALL_SHIPMENTS_SENT", it.Code == "PAST_DUE_DATE",
			it.Code == "NOT_FOUND" && it.Position < 0, strings.HasPrefix(it.Code, "DIFFERENT_"),
			strings.HasPrefix(it.Code, "UNEXPECTED_"), strings.HasPrefix(it.Code, "ABSENT_"):
		default:
			return false
		}
	}
	return len(items) > 0
}

func batchLess(a, b string) bool {
	x, ex := strconv.Atoi(a)
	y, ey := strconv.Atoi(b)
	if ex == nil && ey == nil {
		return x < y
	}
	return a < b
}

func contains(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// confirmBatch re-reads the batched order (barcode and batch name as Pochta
// now holds them, reference §2.15 step 4); a failed re-read keeps what the
// batch answer said.
func (c *Carrier) confirmBatch(ctx context.Context, reg carriers.Registration, id int64, name, date string) carriers.Registration {
	if o, err := c.client.GetShipmentOrder(ctx, id); err == nil && !bool(o.IsDeleted) {
		return c.batched(reg, o, date)
	}
	d := readData(reg.CarrierData)
	d.ID, d.Batch, d.BatchDate = id, name, date
	reg.CarrierData = d.raw()
	reg.CarrierStatus = "CREATED"
	return reg
}

func (c *Carrier) batched(reg carriers.Registration, o Order, date string) carriers.Registration {
	prev := readData(reg.CarrierData)
	r := registrationFrom(o, date)
	if prev.Batch == string(o.BatchName) && prev.BatchDate != "" {
		d := readData(r.CarrierData)
		d.BatchDate = prev.BatchDate
		r.CarrierData = d.raw()
	}
	if r.Number == "" {
		r.Number = reg.Number
	}
	return r
}

// Waybill downloads every print form of the batched order (GET
// /1.0/forms/{id}/forms) as one PDF. Pochta prints parcels' forms only
// for orders inside a batch (reference §2.5).
func (c *Carrier) Waybill(ctx context.Context, reg carriers.Registration) (carriers.Document, error) {
	const op = "get waybill"
	id := idOf(reg)
	if id == 0 {
		return carriers.Document{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Заказ ещё не создан в Почте России: накладную получить нельзя", Detail: "registration has no internal id"}
	}
	d := readData(reg.CarrierData)
	if d.Batch == "" {
		o, err := c.client.GetShipmentOrder(ctx, id)
		if IsNotFound(err) {
			return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op, Code: "NOT_IN_BATCH",
				Message: "Заказ ещё не добавлен в партию Почты России; бланки будут получены после этого", Detail: fmt.Sprintf("order %d is not in a batch", id)}
		}
		if err != nil {
			return carriers.Document{}, c.classify(op, err, reg.Number, false)
		}
		d.Batch = string(o.BatchName)
	}
	var date time.Time
	if d.BatchDate != "" {
		date, _ = time.ParseInLocation("2006-01-02", d.BatchDate, c.cfg.Location)
	}
	data, ct, err := c.client.Forms(ctx, id, date, c.cfg.PrintType)
	if err != nil {
		return carriers.Document{}, c.classify(op, err, reg.Number, false)
	}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op,
			Message: "Почта России прислала бланки в неожиданном формате; повтор запланирован", Detail: "forms answer is " + ct + ", not a PDF"}
	}
	name := reg.TrackingNumber
	if name == "" {
		name = reg.Number
	}
	return carriers.Document{Filename: "pochta-" + safeFilename(name) + ".pdf", ContentType: "application/pdf", Content: data}, nil
}

func safeFilename(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
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

// Delete deletes the order from «Новые» (DELETE /1.0/backlog) or from a
// batch still in status CREATED (DELETE /1.0/shipment). Once the batch is
// checked in or handed over Pochta refuses: KindRejected with its reason.
// An order already gone is not an error.
func (c *Carrier) Delete(ctx context.Context, reg carriers.Registration) error {
	const op = "delete order"
	id := idOf(reg)
	if id == 0 {
		if reg.Number == "" {
			return nil // nothing was ever registered
		}
		regs, err := c.FindAll(ctx, carriers.Shipment{Number: reg.Number})
		if err != nil {
			return err
		}
		switch len(regs) {
		case 0:
			return nil
		case 1:
			id = idOf(regs[0])
		default:
			return c.several(reg.Number, regs)
		}
	}
	if o, err := c.client.GetBacklogOrder(ctx, id); err == nil && !bool(o.IsDeleted) {
		res, err := c.client.DeleteBacklog(ctx, []int64{id})
		if err != nil {
			return c.classify(op, err, reg.Number, true)
		}
		if contains(res.ResultIDs, id) && len(res.Errors) == 0 {
			c.log.Info("pochta order deleted from backlog", zap.Int64("id", id))
			return nil
		}
		if !onlyNotFound(res.Errors) {
			return c.deleteRefused(op, res.Errors, reg)
		}
		// Not in «Новые» any more (moved into a batch meanwhile): go on.
	} else if err != nil && !IsNotFound(err) {
		return c.classify(op, err, reg.Number, false)
	}
	o, err := c.client.GetShipmentOrder(ctx, id)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.classify(op, err, reg.Number, false)
	}
	if bool(o.IsDeleted) {
		return nil
	}
	res, err := c.client.DeleteShipments(ctx, []int64{id})
	if err != nil {
		return c.classify(op, err, reg.Number, true)
	}
	if contains(res.ResultIDs, id) && len(res.Errors) == 0 {
		c.log.Info("pochta order deleted from batch", zap.Int64("id", id), zap.String("batch", string(o.BatchName)))
		return nil
	}
	if len(res.Errors) == 0 {
		return &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: Name, Op: op, HTTPStatus: http.StatusOK,
			Message: "Почта России не подтвердила удаление заказа; проверка повторится", Detail: "delete answer without result-ids or errors"}
	}
	if onlyNotFound(res.Errors) {
		if _, err := c.client.GetShipmentOrder(ctx, id); IsNotFound(err) {
			return nil
		}
	}
	e := c.deleteRefused(op, res.Errors, reg)
	if st := strings.ToUpper(string(o.BatchStatus)); st != "" && st != "CREATED" {
		e.Message = fmt.Sprintf("Партия %s уже передана в отделение (%s) — удалить заказ через API Почты России нельзя: %s",
			o.BatchName, strings.ToLower(batchStatusNames[st]), e.Message)
	}
	return e
}

func onlyNotFound(items []ErrorItem) bool {
	for _, it := range items {
		if it.Code != "NOT_FOUND" {
			return false
		}
	}
	return len(items) > 0
}

func (c *Carrier) deleteRefused(op string, items []ErrorItem, reg carriers.Registration) *carriers.Error {
	e := c.rejection(op, items, http.StatusOK)
	if e.Kind != carriers.KindTransient {
		e.Kind = carriers.KindRejected
	}
	return e
}

// Track reports the last tracking operation «Отправка» holds for each
// batched order (last-oper-type/attr/date, reference §2.8); an order still
// in «Новые» or in a batch not handed over is TrackAccepted. When the daily
// quota is nearly spent, tracking yields to registrations:
// carriers.ErrTrackingUnavailable.
func (c *Carrier) Track(ctx context.Context, regs []carriers.Registration) ([]carriers.Tracking, error) {
	const op = "track"
	if len(regs) == 0 {
		return nil, nil
	}
	c.refreshQuotaIfStale(ctx)
	if q, ok := c.Quota(); ok && q.Allowed > 0 && float64(q.Used+int64(2*len(regs))) >= c.cfg.QuotaWarnRatio*float64(q.Allowed) {
		return nil, carriers.ErrTrackingUnavailable
	}
	out := make([]carriers.Tracking, 0, len(regs))
	known, failures := 0, 0
	var firstErr error
	// fail records a parcel Pochta did not answer for: it is left out of
	// the answer (the poller matches answers by Reference), so its status
	// stays and the next pass asks again; the parcels already read are
	// kept — each cost a request of the daily quota.
	fail := func(r carriers.Registration, err error) (stop bool) {
		e := c.classify(op, err, r.Number, false)
		c.log.Warn("pochta tracking of one parcel failed; it is asked again next pass",
			zap.String("number", r.Number), zap.String("reference", r.Reference), zap.Error(e))
		if firstErr == nil {
			firstErr = e
		}
		failures++
		// A refusal of the account, or several failures in a row, will not
		// get better within this call: stop spending requests.
		k := carriers.KindOf(e)
		return k == carriers.KindConfig || failures >= trackFailuresInARow
	}
parcels:
	for _, r := range regs {
		t := carriers.Tracking{Reference: r.Reference}
		id := idOf(r)
		if id == 0 {
			out = append(out, t)
			continue
		}
		o, err := c.client.GetShipmentOrder(ctx, id)
		if err == nil {
			failures = 0
			if !bool(o.IsDeleted) {
				var understood bool
				t, understood = trackingOf(r.Reference, o)
				if !understood {
					c.log.Warn("pochta tracking operation not understood; the parcel stays in transit",
						zap.String("number", r.Number), zap.String("reference", r.Reference),
						zap.String("last_oper_type", string(o.LastOperType)), zap.String("last_oper_attr", string(o.LastOperAttr)),
						zap.String("name", string(o.HumanOperationName)))
				}
				known++
			}
			out = append(out, t)
			continue
		}
		if !IsNotFound(err) {
			if fail(r, err) {
				break parcels
			}
			continue
		}
		bo, err := c.client.GetBacklogOrder(ctx, id)
		switch {
		case err == nil && !bool(bo.IsDeleted):
			failures = 0
			t.Status, t.Code, t.Name = carriers.TrackAccepted, "NEW", "Зарегистрирован, ещё не в партии"
			known++
		case err != nil && !IsNotFound(err):
			if fail(r, err) {
				break parcels
			}
			continue
		}
		out = append(out, t)
	}
	if known == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, carriers.ErrTrackingUnavailable
	}
	return out, nil
}

// trackFailuresInARow is how many parcels in a row Pochta may fail to
// answer for before Track stops asking and returns what it has.
const trackFailuresInARow = 3

// Quota is the account's daily request quota as last read.
type Quota struct {
	Used    int64
	Allowed int64
	// At is when it was read.
	At time.Time
}

// Ratio is Used/Allowed, 0 when Allowed is unknown.
func (q Quota) Ratio() float64 {
	if q.Allowed <= 0 {
		return 0
	}
	return float64(q.Used) / float64(q.Allowed)
}

// Quota returns the quota as last read, without a call (for a /metrics
// gauge); ok is false before the first read.
func (c *Carrier) Quota() (q Quota, ok bool) {
	c.quotaMu.Lock()
	defer c.quotaMu.Unlock()
	return c.quota, !c.quota.At.IsZero()
}

// RefreshQuota reads GET /1.0/settings/limit and logs a warning when the
// used share reaches QuotaWarnRatio (once until it falls below again).
func (c *Carrier) RefreshQuota(ctx context.Context) (Quota, error) {
	l, err := c.client.Limit(ctx)
	if err != nil {
		return Quota{}, c.classify("read quota", err, "", false)
	}
	q := Quota{Used: int64(l.CurrentCount), Allowed: int64(l.AllowedCount), At: c.cfg.Now()}
	c.quotaMu.Lock()
	c.quota = q
	warn := q.Allowed > 0 && q.Ratio() >= c.cfg.QuotaWarnRatio
	first := warn && !c.quotaWarned
	c.quotaWarned = warn
	c.quotaMu.Unlock()
	if first {
		c.log.Warn("pochta daily API quota nearly used up", zap.Int64("used", q.Used), zap.Int64("allowed", q.Allowed),
			zap.Float64("ratio", q.Ratio()))
	}
	return q, nil
}

// quotaMessage tells the manager that the day's requests are spent.
const quotaMessage = "Исчерпан суточный лимит запросов к API Почты России; повтор запланирован после его обновления"

// quotaRefusal reports whether Pochta refused because the account's request
// quota is spent: code LIMIT_EXCEEDED (the simulator's, UNCONFIRMED for
// «Отправка») or the words «Превышен лимит» that the tracking service
// answers ([LAPAY-ISS] #35, reference §2.8). The refusal of a spent quota
// is otherwise undocumented (reference §2.10), so both are accepted.
func quotaRefusal(items []ErrorItem) bool {
	for _, it := range items {
		if strings.EqualFold(it.Code, "LIMIT_EXCEEDED") || strings.EqualFold(it.SubCode, "LIMIT_EXCEEDED") {
			return true
		}
		for _, text := range []string{it.Description, it.Details} {
			if strings.Contains(strings.ToLower(text), "превышен лимит") {
				return true
			}
		}
	}
	return false
}

// quotaSpent records that Pochta refused for the quota: the known quota is
// marked used up (for the /metrics gauge and tracking's restraint) and the
// warning is logged once, as RefreshQuota would, without a further call.
func (c *Carrier) quotaSpent() {
	c.quotaMu.Lock()
	if c.quota.At.IsZero() || c.quota.Allowed <= 0 {
		c.quotaMu.Unlock()
		return // the allowed count is unknown: nothing to mark
	}
	c.quota.Used = max(c.quota.Used, c.quota.Allowed)
	q := c.quota
	first := !c.quotaWarned
	c.quotaWarned = true
	c.quotaMu.Unlock()
	if first {
		c.log.Warn("pochta daily API quota nearly used up", zap.Int64("used", q.Used), zap.Int64("allowed", q.Allowed),
			zap.Float64("ratio", q.Ratio()))
	}
}

func (c *Carrier) refreshQuotaIfStale(ctx context.Context) {
	q, ok := c.Quota()
	if ok && c.cfg.Now().Sub(q.At) < c.cfg.QuotaRefresh {
		return
	}
	if _, err := c.RefreshQuota(ctx); err != nil {
		c.log.Debug("pochta quota not read", zap.Error(err))
	}
}

// Check makes the two side-effect-free calls reference §2.11 allows: the
// quota, and the account's shipping points — postoffice_code must be one
// of them, enabled, and accept the configured mail type.
func (c *Carrier) Check(ctx context.Context) error {
	const op = "check"
	if _, err := c.RefreshQuota(ctx); err != nil {
		return err
	}
	points, err := c.client.ShippingPoints(ctx)
	if err != nil {
		return c.classify(op, err, "", false)
	}
	var codes []string
	for _, p := range points {
		code := strings.TrimSpace(string(p.OperatorPostcode))
		codes = append(codes, code)
		if code != c.cfg.PostofficeCode {
			continue
		}
		if !p.IsEnabled() {
			return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: op, Code: "POSTOFFICE_DISABLED",
				Message: fmt.Sprintf("Точка сдачи %s отключена в аккаунте Почты России", code),
				Detail:  fmt.Sprintf("shipping point %s (postoffice_code) is disabled in the account", code)}
		}
		if !p.Accepts(c.cfg.MailType) {
			return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: op, Code: "UNAVAILABLE_MAIL_TYPE",
				Message: fmt.Sprintf("Тип отправления %s не подключен для точки сдачи %s в аккаунте Почты России", c.cfg.MailType, code),
				Detail:  fmt.Sprintf("shipping point %s does not accept mail type %s; it accepts: %s", code, c.cfg.MailType, strings.Join(p.MailTypes(), ", "))}
		}
		return nil
	}
	return &carriers.Error{Kind: carriers.KindConfig, Carrier: Name, Op: op, Code: "ILLEGAL_POSTOFFICE_CODE",
		Message: fmt.Sprintf("Индекс места приёма %s не входит в точки сдачи аккаунта Почты России (доступны: %s)", c.cfg.PostofficeCode, strings.Join(codes, ", ")),
		Detail:  fmt.Sprintf("postoffice_code %s is not one of the account's shipping points: %s", c.cfg.PostofficeCode, strings.Join(codes, ", "))}
}

// classify turns a client error into a *carriers.Error. mutating says
// whether the request could have changed something at Pochta, which makes
// a lost answer ambiguous rather than transient.
func (c *Carrier) classify(op string, err error, number string, mutating bool) error {
	if err == nil {
		return nil
	}
	var ce *carriers.Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &carriers.Error{Carrier: Name, Op: op, Err: err}
	var (
		ae *APIError
		te *TransportError
	)
	switch {
	case errors.As(err, &ae):
		e.HTTPStatus, e.Code, e.Detail = ae.Status, joinCodes(ae.Items), joinDescriptions(ae.Items)
		if e.Detail == "" {
			e.Detail = ae.Body
		}
		e.Err = nil
		switch {
		case quotaRefusal(ae.Items):
			// Checked first: the tracking service words it «Ошибка авторизации:
			// Превышен лимит количества запросов» ([LAPAY-ISS] #35), which must
			// not read as refused credentials.
			e.Kind, e.QuotaExhausted = carriers.KindTransient, true
			e.Message = quotaMessage
			c.quotaSpent()
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			e.Kind = carriers.KindConfig
			e.Message = "Почта России не приняла ключи доступа (токен или логин и пароль); обратитесь к администратору"
		case ae.Status == http.StatusTooManyRequests:
			// A 429 without the quota's words: a passing rate limit.
			e.Kind = carriers.KindTransient
			e.Message = "Почта России просит реже обращаться к API; повтор запланирован"
		case ae.Status >= 500 || ae.Status == http.StatusRequestTimeout:
			e.Kind = carriers.KindTransient
			if mutating {
				// A 5xx after sending: Pochta may still have acted (no
				// idempotency), so reconcile before any re-send.
				e.Kind = carriers.KindAmbiguous
			}
			e.Message = fmt.Sprintf("Почта России временно недоступна (HTTP %d); повтор запланирован", ae.Status)
		case ae.Status == http.StatusProxyAuthRequired:
			// 407 "Error namespace or mask or method not found": a wrong path ([PSDK]).
			e.Kind = carriers.KindConfig
			e.Message = "API Почты России не знает такого метода; проверьте carriers.pochta.base_url"
		case ae.NotFound():
			e.Kind = carriers.KindNotFound
			e.Message = "Заказ не найден в Почте России"
		default:
			e.Kind = kindOf(ae.Items)
			e.Message = russianAll(ae.Items)
			if e.Message == "" {
				e.Kind = carriers.KindRejected
				e.Message = fmt.Sprintf("Почта России отклонила запрос (HTTP %d)", ae.Status)
			}
		}
	case errors.As(err, &te):
		if mutating && te.Sent {
			e.Kind = carriers.KindAmbiguous
			e.Message = "Почта России не ответила на запрос; проверяем, выполнен ли он, прежде чем повторить"
		} else {
			e.Kind = carriers.KindTransient
			e.Message = "Почта России не отвечает; повтор запланирован"
		}
	case errors.Is(err, context.DeadlineExceeded) && mutating:
		e.Kind = carriers.KindAmbiguous
		e.Message = "Почта России не ответила вовремя; проверяем, выполнен ли запрос, прежде чем повторить"
	default:
		e.Kind = carriers.KindTransient
		e.Message = "Почта России временно недоступна; повтор запланирован"
	}
	_ = number
	return e
}

var _ carriers.QuotaReporter = (*Carrier)(nil)

// QuotaUsage returns the daily quota as last read (Quota), for /metrics
// (carriers.QuotaReporter).
func (c *Carrier) QuotaUsage() (used, allowed int64, known bool) {
	q, ok := c.Quota()
	return q.Used, q.Allowed, ok
}
