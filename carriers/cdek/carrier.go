package cdek

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// Deleter and WaybillPrinter on top of Client.
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
	_ carriers.Deleter        = (*Carrier)(nil)
	_ carriers.WaybillPrinter = (*Carrier)(nil)
)

// New builds the CDEK adapter. It checks the configuration but makes no
// call to CDEK.
func New(cfg Config) (*Carrier, error) {
	cfg = cfg.withDefaults()
	if cfg.ShipmentPoint == "" && (cfg.FromLocation.Address == "" ||
		(cfg.FromLocation.City == "" && cfg.FromLocation.PostalCode == "" && cfg.FromLocation.Code == 0)) {
		return nil, errors.New("cdek: either shipment_point or from_location (address with a city, postal code or city code) is required")
	}
	if cfg.OrderType != 1 && cfg.OrderType != 2 {
		return nil, fmt.Errorf("cdek: order_type must be 1 or 2, not %d", cfg.OrderType)
	}
	if cfg.OrderType == 2 && (cfg.Sender.Name == "" || cfg.Sender.Phone == "") {
		return nil, errors.New("cdek: order_type 2 needs sender name and phone")
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

// Client returns the low-level client the adapter uses.
func (c *Carrier) Client() *Client { return c.client }

// Name returns "cdek".
func (c *Carrier) Name() string { return Name }

// Number returns the order's number at CDEK: the shop's order name when it
// is 1–30 printable ASCII characters without spaces, otherwise "SB-" and
// 16 hex digits of a hash of the order id. Attempt n > 1 appends "-n"; if
// the name and suffix would exceed 30 characters the hashed form is used.
func (c *Carrier) Number(s carriers.Shipment) string {
	if n := strings.TrimSpace(s.Number); n != "" {
		return n
	}
	suffix := ""
	if s.Attempt > 1 {
		suffix = "-" + strconv.Itoa(s.Attempt)
	}
	name := strings.TrimSpace(s.OrderName)
	if plainNumber(name) && len(name)+len(suffix) <= MaxNumberLen {
		return name + suffix
	}
	key := s.OrderID
	if key == "" {
		key = "name:" + s.OrderName
	}
	sum := sha256.Sum256([]byte(key))
	return "SB-" + hex.EncodeToString(sum[:])[:16] + suffix
}

func plainNumber(s string) bool {
	if s == "" || len(s) > MaxNumberLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

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
		if n, err := strconv.Atoi(t); err != nil || n <= 0 {
			add("tariff", "Тариф доставки «%s» должен быть числом — кодом тарифа СДЭК", s.Tariff)
		}
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
		}
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
	r := OrderRequest{Type: Int(c.cfg.OrderType), Comment: truncateRunes(s.Comment, 255)}
	if c.cfg.OrderType == 1 {
		r.Number = c.Number(s)
	}
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
			CountryCode: strings.ToUpper(strings.TrimSpace(a.CountryCode)),
			Region:      strings.TrimSpace(a.Region),
			Address:     truncateRunes(addressLine(a), 255),
		}
	} else {
		return OrderRequest{}, errors.New("neither pickup point nor address")
	}
	if c.cfg.ShipmentPoint != "" {
		r.ShipmentPoint = c.cfg.ShipmentPoint
	} else {
		f := c.cfg.FromLocation
		r.FromLocation = &Location{Code: Int(f.Code), PostalCode: f.PostalCode, City: f.City, CountryCode: f.CountryCode, Address: f.Address}
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
	for i, p := range s.Packages {
		num := p.Number
		if num == "" {
			num = strconv.Itoa(i + 1)
		}
		pk := Package{Number: num, Weight: Int(p.WeightG), Length: Int(p.LengthCM), Width: Int(p.WidthCM), Height: Int(p.HeightCM)}
		for j, it := range p.Items {
			key := strings.TrimSpace(it.WareKey)
			if key == "" {
				key = "item-" + strconv.Itoa(j+1)
			}
			payment := it.Payment
			if c.cfg.OrderType != 1 {
				payment = 0 // cash on delivery exists only for online-store orders
			}
			pk.Items = append(pk.Items, Item{
				Name:    truncateRunes(strings.TrimSpace(it.Name), 255),
				WareKey: truncateRunes(key, 50),
				Payment: Money{Value: roubles(payment)},
				Cost:    roubles(it.Cost),
				Weight:  Int(it.WeightG),
				Amount:  Int(it.Amount),
			})
		}
		r.Packages = append(r.Packages, pk)
	}
	return r, nil
}

func roubles(kopecks int64) Float { return Float(float64(kopecks) / 100) }

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Submit validates and sends the shipment. On success the registration is
// StatusPending with the order's uuid as Reference: CDEK's 202 is not yet
// success; follow it with Registration.
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
			Message: "Данные заказа не подходят для СДЭК", Detail: err.Error()}
	}
	resp, err := c.client.CreateOrder(ctx, req)
	if err != nil {
		return carriers.Registration{}, c.classify("create order", err, number, true)
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
	return carriers.Registration{Number: number, Reference: uuid, Status: carriers.StatusPending, CarrierStatus: state}, nil
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
func (c *Carrier) Registration(ctx context.Context, reference string) (carriers.Registration, error) {
	resp, err := c.client.GetOrder(ctx, reference)
	if err != nil {
		if IsNotFound(err) && c.recentlySubmitted(reference) {
			return carriers.Registration{Reference: reference, Status: carriers.StatusPending, CarrierStatus: StateAccepted}, nil
		}
		return carriers.Registration{}, c.classify("get order", err, "", false)
	}
	return c.registrationFrom(resp)
}

// registrationFrom reads an order answer. It returns the registration and,
// for an order CDEK refused, a KindRejected error.
func (c *Carrier) registrationFrom(resp OrderResponse) (carriers.Registration, error) {
	e := resp.Entity
	reg := carriers.Registration{Number: e.Number, Reference: e.UUID, TrackingNumber: strings.TrimSpace(string(e.CDEKNumber))}
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
		reg.Status = MapStatus(latest.Code)
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

// Check obtains a token and looks up an order number that does not exist:
// "not found" is the expected, successful answer.
func (c *Carrier) Check(ctx context.Context) error {
	_, err := c.client.GetOrderByIMNumber(ctx, checkNumber)
	if err == nil || IsNotFound(err) {
		return nil
	}
	return c.classify("check", err, "", false)
}

// Find looks the shipment up by its number. Orders CDEK refused or that
// were deleted do not count: they do not block the number.
func (c *Carrier) Find(ctx context.Context, s carriers.Shipment) (carriers.Registration, bool, error) {
	number := c.Number(s)
	resp, err := c.client.GetOrderByIMNumber(ctx, number)
	if err != nil {
		if IsNotFound(err) {
			return carriers.Registration{}, false, nil
		}
		return carriers.Registration{}, false, c.classify("find order", err, number, false)
	}
	if resp.Entity.Number != "" && resp.Entity.Number != number {
		c.log.Warn("cdek returned an order with another number", zap.String("want", number), zap.String("got", resp.Entity.Number))
		return carriers.Registration{}, false, nil
	}
	reg, err := c.registrationFrom(resp)
	if err != nil || reg.Status == carriers.StatusCancelled || reg.Status == carriers.StatusRejected {
		return carriers.Registration{}, false, nil
	}
	if reg.Number == "" {
		reg.Number = number
	}
	return reg, true, nil
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
			return c.classify("delete order", err, reg.Number, false)
		}
		uuid = resp.Entity.UUID
	}
	// Look first: an order already deleted would only get a confusing refusal.
	resp, err := c.client.GetOrder(ctx, uuid)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.classify("delete order", err, reg.Number, false)
	}
	if gone(resp) {
		return nil
	}
	accepted, err := c.client.DeleteOrder(ctx, uuid)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return c.classify("delete order", err, reg.Number, true)
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
			return c.classify("delete order", err, reg.Number, false)
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
			kind := carriers.KindRejected
			for _, it := range del.Errors {
				if it.Code == CodeStillProcessed {
					kind = carriers.KindTransient
				}
			}
			return &carriers.Error{Kind: kind, Carrier: Name, Op: "delete order", Message: msg,
				Code: joinCodes(del.Errors), Detail: joinMessages(del.Errors), HTTPStatus: http.StatusOK}
		}
	}
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
	t := time.NewTimer(c.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Waybill orders the waybill print form, waits until CDEK has rendered it
// and downloads the PDF.
func (c *Carrier) Waybill(ctx context.Context, reg carriers.Registration) (carriers.Document, error) {
	const op = "get waybill"
	if reg.Reference == "" {
		return carriers.Document{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: Name, Op: op,
			Message: "Заказ ещё не зарегистрирован в СДЭК: накладную получить нельзя", Detail: "registration has no reference"}
	}
	created, err := c.client.CreateWaybill(ctx, []string{reg.Reference}, c.cfg.PrintCopies)
	if err != nil {
		return carriers.Document{}, c.classify(op, err, reg.Number, false)
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
			return carriers.Document{}, c.classify(op, err, reg.Number, false)
		}
		switch pr.Entity.LatestStatus() {
		case "READY":
			link = pr.Entity.URL
			if link == "" {
				link = "/v2/print/orders/" + printUUID + ".pdf"
			}
		case "INVALID":
			items := collectErrors(pr.Requests)
			kind := carriers.KindRejected
			for _, it := range items {
				if it.Code == CodeEntityNotReady {
					kind = carriers.KindTransient
				}
			}
			msg := russianAll(items, reg.Number)
			if msg == "" {
				msg = "СДЭК не смог сформировать накладную"
			}
			return carriers.Document{}, &carriers.Error{Kind: kind, Carrier: Name, Op: op, Message: msg,
				Code: joinCodes(items), Detail: joinMessages(items), HTTPStatus: http.StatusOK}
		case "REMOVED":
			return carriers.Document{}, &carriers.Error{Kind: carriers.KindTransient, Carrier: Name, Op: op,
				Message: "Срок хранения накладной в СДЭК истёк; она будет запрошена заново", Code: "REMOVED"}
		}
	}
	pdf, err := c.client.DownloadWaybill(ctx, link)
	if err != nil {
		return carriers.Document{}, c.classify(op, err, reg.Number, false)
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

// classify turns a client error into a *carriers.Error. mutating says
// whether the request could have changed something at CDEK, which makes a
// lost answer ambiguous rather than transient.
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
		au *AuthError
		te *TransportError
	)
	switch {
	case errors.As(err, &au):
		e.HTTPStatus, e.Code, e.Detail = au.Status, au.Code, au.Description
		e.Err = nil
		if au.CredentialsRefused() {
			e.Kind = carriers.KindConfig
			e.Message = "СДЭК не принял ключи интеграции (client_id / client_secret); обратитесь к администратору"
		} else {
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
		switch {
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			e.Kind = carriers.KindConfig
			e.Message = "СДЭК отказал в доступе к API; обратитесь к администратору"
		case ae.Status == http.StatusTooManyRequests || ae.Status >= 500:
			e.Kind = carriers.KindTransient
			e.Message = fmt.Sprintf("СДЭК временно недоступен (HTTP %d); повтор запланирован", ae.Status)
		case ae.Has(CodeStillProcessed):
			e.Kind = carriers.KindTransient
			e.Message = russian(ErrorItem{Code: CodeStillProcessed}, number)
		case ae.NotFound():
			e.Kind = carriers.KindNotFound
			e.Message = "Заказ не найден в СДЭК"
		default:
			e.Kind = carriers.KindRejected
			if allData(ae.Items) {
				e.Kind = carriers.KindInvalid
			}
			e.Message = russianAll(ae.Items, number)
			if e.Message == "" {
				e.Message = fmt.Sprintf("СДЭК отклонил запрос (HTTP %d)", ae.Status)
			}
		}
	case errors.As(err, &te):
		if mutating && te.Sent {
			e.Kind = carriers.KindAmbiguous
			e.Message = "СДЭК не ответил на запрос; проверяем, выполнен ли он, прежде чем повторить"
		} else {
			e.Kind = carriers.KindTransient
			e.Message = "СДЭК не отвечает; повтор запланирован"
		}
	case errors.Is(err, ErrBadUUID):
		e.Kind = carriers.KindNotFound
		e.Message = "Неверный идентификатор заказа СДЭК"
	case errors.Is(err, context.DeadlineExceeded) && mutating:
		e.Kind = carriers.KindAmbiguous
		e.Message = "СДЭК не ответил вовремя; проверяем, выполнен ли запрос, прежде чем повторить"
	default:
		e.Kind = carriers.KindTransient
		e.Message = "СДЭК временно недоступен; повтор запланирован"
	}
	return e
}

func allData(items []ErrorItem) bool {
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		if !dataCodes[it.Code] {
			return false
		}
	}
	return true
}
