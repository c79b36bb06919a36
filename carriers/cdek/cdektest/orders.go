package cdektest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/shipbridge/shipbridge/internal/simpdf"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// flexInt decodes a number or a numeric string, as CDEK's lenient parser does.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", s)
	}
	*n = flexInt(v)
	return nil
}

// flexStr decodes a string or a number.
type flexStr string

func (f *flexStr) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexStr(s)
		return nil
	}
	*f = flexStr(b)
	return nil
}

type location struct {
	Code        flexInt `json:"code"`
	Region      string  `json:"region"`
	City        string  `json:"city"`
	PostalCode  string  `json:"postal_code"`
	CountryCode string  `json:"country_code"`
	Address     string  `json:"address"`
}

type contact struct {
	Name   string `json:"name"`
	Phones []struct {
		Number string `json:"number"`
	} `json:"phones"`
}

// money is CDEK's MoneyDto ([SPEC]): value, and vat_sum with vat_rate.
type money struct {
	Value   *float64 `json:"value"`
	VatSum  *float64 `json:"vat_sum"`
	VatRate *float64 `json:"vat_rate"`
}

type item struct {
	Name    string   `json:"name"`
	WareKey string   `json:"ware_key"`
	Amount  flexInt  `json:"amount"`
	Weight  *flexInt `json:"weight"`
	Cost    *float64 `json:"cost"`
	Payment *money   `json:"payment"`
}

// checkMoney is CDEK's validation of a money object: since 01.01.2026
// vat_rate is one of 0, 5, 7, 10, 16, 22 or null ([SPEC] MoneyDto), and a
// vat_rate needs its vat_sum. The refusal code is from the error list
// (error_validate_good_vat_rate_*); its exact suffix is not published.
func checkMoney(field string, m *money) []apiErr {
	if m == nil || m.VatRate == nil {
		return nil
	}
	var errs []apiErr
	switch *m.VatRate {
	case 0, 5, 7, 10, 16, 22:
	default:
		errs = append(errs, apiErr{Code: "error_validate_good_vat_rate_incorrect", Message: fmt.Sprintf("Incorrect vat rate %v in [%s]", *m.VatRate, field)})
	}
	if m.VatSum == nil {
		errs = append(errs, empty(field+".vat_sum"))
	}
	return errs
}

type pkg struct {
	Number flexStr `json:"number"`
	Weight flexInt `json:"weight"`
	Length flexInt `json:"length"`
	Width  flexInt `json:"width"`
	Height flexInt `json:"height"`
	Items  []item  `json:"items"`
}

type orderBody struct {
	Type          flexInt   `json:"type"`
	Number        flexStr   `json:"number"`
	TariffCode    flexInt   `json:"tariff_code"`
	Comment       string    `json:"comment"`
	ShipmentPoint string    `json:"shipment_point"`
	DeliveryPoint string    `json:"delivery_point"`
	FromLocation  *location `json:"from_location"`
	ToLocation    *location `json:"to_location"`
	Sender        *contact  `json:"sender"`
	Recipient     *contact  `json:"recipient"`
	Packages      []pkg     `json:"packages"`
	// DeliveryRecipientCost is the e-shop-only delivery charge ([SPEC]).
	DeliveryRecipientCost *money `json:"delivery_recipient_cost"`

	raw map[string]json.RawMessage
}

func empty(field string) apiErr {
	return apiErr{Code: "v2_field_is_empty", Message: "[" + field + "] is empty"}
}

// staticCheck is CDEK's synchronous validation: structure and required
// fields. Anything found here is a 400 with no order created.
func staticCheck(b *orderBody) []apiErr {
	var errs []apiErr
	if b.TariffCode == 0 {
		errs = append(errs, empty("tariff_code"))
	}
	if b.Type != 0 && b.Type != 1 && b.Type != 2 {
		errs = append(errs, apiErr{Code: "v2_invalid_value_type", Message: "Invalid value type in [type] field"})
	}
	if len(string(b.Number)) > 40 {
		errs = append(errs, apiErr{Code: "v2_invalid_value_type", Message: "Invalid value type in [number] field"})
	}
	if b.Recipient == nil {
		errs = append(errs, empty("recipient"))
	} else {
		if strings.TrimSpace(b.Recipient.Name) == "" {
			errs = append(errs, empty("recipient.name"))
		}
		if len(b.Recipient.Phones) == 0 || strings.TrimSpace(b.Recipient.Phones[0].Number) == "" {
			errs = append(errs, empty("recipient.phones"))
		}
	}
	if b.Type == 2 && (b.Sender == nil || b.Sender.Name == "") {
		errs = append(errs, empty("sender.name"))
	}
	if utf8.RuneCountInString(b.Comment) > 255 {
		errs = append(errs, apiErr{Code: "v2_invalid_value_type", Message: "Invalid value type in [comment] field"})
	}
	// The tariff's mode names the fields it needs ([SPEC] OrderCreateRequestDto:
	// shipment_point "если тариф «от склада»", from_location "если тариф «от
	// двери»", to_location "если тариф «до двери»"). CDEK's exact answer to a
	// mismatch is not published; a missing required field is
	// v2_field_is_empty, as in the real 400 (testdata/order_create_400_invalid.json).
	if m, ok := tariffModes[int(b.TariffCode)]; ok {
		switch {
		case m.fromOffice && b.ShipmentPoint == "" && b.FromLocation != nil:
			errs = append(errs, empty("shipment_point"))
		case !m.fromOffice && b.FromLocation == nil && b.ShipmentPoint != "":
			errs = append(errs, empty("from_location"))
		}
		if !m.toOffice && b.ToLocation == nil && b.DeliveryPoint != "" {
			errs = append(errs, empty("to_location"))
		}
	}
	switch {
	case b.ShipmentPoint != "" && b.FromLocation != nil:
		errs = append(errs, apiErr{Code: "v2_shipment_address_multivalued", Message: "Shipment point and from location are both specified"})
	case b.ShipmentPoint == "" && b.FromLocation == nil:
		errs = append(errs, empty("shipment_point"), empty("from_location"))
	case b.FromLocation != nil && strings.TrimSpace(b.FromLocation.Address) == "":
		errs = append(errs, empty("from_location.address"))
	}
	switch {
	case b.DeliveryPoint != "" && b.ToLocation != nil:
		errs = append(errs, apiErr{Code: "v2_delivery_address_multivalued", Message: "Delivery point and to location are both specified"})
	case b.DeliveryPoint == "" && b.ToLocation == nil:
		errs = append(errs, empty("delivery_point"), empty("to_location"))
	case b.ToLocation != nil && strings.TrimSpace(b.ToLocation.Address) == "":
		errs = append(errs, empty("to_location.address"))
	}
	if len(b.Packages) == 0 {
		errs = append(errs, empty("packages"))
	}
	seen := map[string]bool{}
	items := 0
	for i, p := range b.Packages {
		f := fmt.Sprintf("packages[%d]", i)
		if p.Number == "" {
			errs = append(errs, empty(f+".number"))
		} else if seen[string(p.Number)] {
			errs = append(errs, apiErr{Code: "error_validate_package_number_not_unique", Message: "Package number is not unique"})
		}
		seen[string(p.Number)] = true
		if p.Weight <= 0 {
			errs = append(errs, empty(f+".weight"))
		}
		dims := 0
		for _, d := range []flexInt{p.Length, p.Width, p.Height} {
			if d > 0 {
				dims++
			}
		}
		if dims > 0 && dims < 3 {
			errs = append(errs, apiErr{Code: "error_validate_package_one_of_size_is_zero", Message: "One of the package dimensions is zero"})
		}
		if len(p.Items) == 0 && b.Type != 2 {
			errs = append(errs, empty(f+".items"))
		}
		for j, it := range p.Items {
			items++
			g := fmt.Sprintf("%s.items[%d]", f, j)
			if strings.TrimSpace(it.Name) == "" {
				errs = append(errs, empty(g+".name"))
			}
			if strings.TrimSpace(it.WareKey) == "" {
				errs = append(errs, empty(g+".ware_key"))
			} else if !validWareKey(it.WareKey) {
				// [SPEC] ItemRequestDto.ware_key: ≤ 50 characters from the
				// listed set; the code of the refusal is not published.
				errs = append(errs, apiErr{Code: "v2_invalid_value_type", Message: "Invalid value type in [" + g + ".ware_key] field"})
			}
			if it.Amount < 1 || it.Amount > 999 {
				errs = append(errs, empty(g+".amount"))
			}
			if it.Weight == nil {
				errs = append(errs, empty(g+".weight"))
			}
			if it.Cost == nil {
				errs = append(errs, empty(g+".cost"))
			}
			if it.Payment == nil || it.Payment.Value == nil {
				errs = append(errs, empty(g+".payment.value"))
			} else if b.Type == 2 && *it.Payment.Value > 0 {
				errs = append(errs, apiErr{Code: "error_validate_good_payment_not_suite", Message: "Cash on delivery is not allowed for this order type"})
			}
			errs = append(errs, checkMoney(g+".payment", it.Payment)...)
		}
	}
	if items > 126 {
		errs = append(errs, apiErr{Code: "v2_number_items_is_more_126", Message: "Number of items is more than 126"})
	}
	if d := b.DeliveryRecipientCost; d != nil {
		if b.Type == 2 {
			errs = append(errs, apiErr{Code: "error_validate_good_payment_not_suite", Message: "delivery_recipient_cost is allowed only for online-store orders"})
		}
		if d.Value == nil {
			errs = append(errs, empty("delivery_recipient_cost.value"))
		}
		errs = append(errs, checkMoney("delivery_recipient_cost", d)...)
	}
	return errs
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	var body orderBody
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err == nil {
		err = json.Unmarshal(data, &body.raw)
	}
	if err != nil || body.raw == nil {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", apiErr{Code: "v2_internal_error", Message: "Internal error"}))
		return
	}
	if errs := staticCheck(&body); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", errs...))
		return
	}
	if body.Type == 0 {
		body.Type = 1
	}
	s.mu.Lock()
	s.advance()
	now := s.now()
	s.seq++
	o := &order{uuid: newUUID(), seq: s.seq, createdAt: now, body: body}
	o.number = string(body.Number)
	if body.Type == 2 {
		o.number = "" // "number" exists only for online-store orders
	} else if o.number == "" {
		o.number = o.uuid
	}
	o.create = &request{UUID: newUUID(), Type: "CREATE", State: "ACCEPTED", At: now, DueAt: now.Add(s.opts.SettleDelay())}
	o.statuses = []status{{Code: "ACCEPTED", Name: statusNames["ACCEPTED"], At: now}}
	s.orders = append(s.orders, o)
	s.byUUID[o.uuid] = o
	s.creates[string(body.Number)]++
	lose := s.loseCreates > 0
	if lose {
		s.loseCreates--
	}
	resp := map[string]any{
		"entity":           map[string]any{"uuid": o.uuid},
		"requests":         []any{requestJSON(o.create)},
		"related_entities": []any{},
	}
	s.mu.Unlock()
	if lose {
		dropConnection(w)
		return
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// dropConnection closes the connection without an answer, as a network
// failure after CDEK has already acted would look.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func requestJSON(r *request) map[string]any {
	m := map[string]any{"request_uuid": r.UUID, "type": r.Type, "date_time": ts(r.At), "state": r.State}
	if len(r.Errors) > 0 {
		m["errors"] = r.Errors
	}
	if len(r.Warnings) > 0 {
		m["warnings"] = r.Warnings
	}
	return m
}

// advance decides every asynchronous request that is due, in the order
// they fell due. Callers hold s.mu.
func (s *Server) advance() {
	now := s.now()
	type ev struct {
		due time.Time
		seq int
		o   *order
		del bool
	}
	var evs []ev
	for _, o := range s.orders {
		if o.create.State == "ACCEPTED" && !now.Before(o.create.DueAt) {
			evs = append(evs, ev{o.create.DueAt, o.seq, o, false})
		}
		if o.del != nil && (o.del.State == "ACCEPTED" || o.del.State == "WAITING") && !now.Before(o.del.DueAt) {
			evs = append(evs, ev{o.del.DueAt, o.seq, o, true})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].due.Equal(evs[j].due) {
			return evs[i].due.Before(evs[j].due)
		}
		if evs[i].seq != evs[j].seq {
			return evs[i].seq < evs[j].seq
		}
		return !evs[i].del // a create before a delete of the same order
	})
	for _, e := range evs {
		if e.del {
			s.decideDelete(e.o, e.due)
		} else {
			s.decideCreate(e.o, e.due)
		}
	}
	for _, p := range s.prints {
		if p.state == "ACCEPTED" && !now.Before(p.readyAt) {
			s.decidePrint(p)
		}
	}
}

func validPhone(p string) bool {
	p = strings.TrimSpace(p)
	d := strings.TrimPrefix(p, "+")
	if d == "" {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	if strings.HasPrefix(d, "7") {
		return len(d) == 11
	}
	return strings.HasPrefix(p, "+") && len(d) >= 10 && len(d) <= 15
}

func (s *Server) recognised(l *location) bool {
	for _, c := range s.cities {
		if l.Code != 0 && int(l.Code) == c.Code {
			return true
		}
		for _, pc := range c.PostalCodes {
			if l.PostalCode != "" && l.PostalCode == pc {
				return true
			}
		}
		if l.City != "" && strings.EqualFold(strings.TrimSpace(l.City), c.Name) {
			return true
		}
	}
	return false
}

// tariffMode is whether a tariff starts and ends at an office (склад or
// постамат) rather than at a door.
type tariffMode struct{ fromOffice, toOffice bool }

// tariffModes are the tariffs the simulator knows, from [SPEC-common]
// «Приложение 4. Тарифы СДЭК» (the common ones; others are not checked).
var tariffModes = map[int]tariffMode{
	136: {true, true}, 137: {true, false}, 138: {false, true}, 139: {false, false},
	231: {false, false}, 232: {false, true}, 233: {true, false}, 234: {true, true},
	366: {false, true}, 368: {true, true}, 378: {true, true},
	62: {true, true}, 121: {false, false}, 122: {true, false}, 123: {false, true},
	480: {false, false}, 481: {false, true}, 482: {true, false}, 483: {true, true},
	485: {false, true}, 486: {true, true},
}

// validWareKey applies [SPEC] ItemRequestDto.ware_key: at most 50
// characters from «A-z А-я 0-9 ! @ " # № $ ; % ^ : & ? * ( ) _ - + = < > ,
// . { } [ ] / and space».
func validWareKey(k string) bool {
	if utf8.RuneCountInString(k) > 50 {
		return false
	}
	for _, r := range k {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r >= 'А' && r <= 'я':
		case strings.ContainsRune("!@\"#№$;%^:&?*()_-+=<>,.{}[]/ ", r):
		default:
			return false
		}
	}
	return true
}

// decideCreate is CDEK's business validation of an accepted order.
func (s *Server) decideCreate(o *order, at time.Time) {
	b := &o.body
	var errs []apiErr
	if m, ok := tariffModes[int(b.TariffCode)]; ok && m.toOffice && b.DeliveryPoint == "" {
		errs = append(errs, apiErr{Code: "ve_receiver_pickup_point_empty", Message: "При режиме «до склада» ПВЗ для доставки обязателен"})
	}
	if b.Type == 1 {
		for _, other := range s.orders {
			if other != o && other.number == o.number && other.active() {
				errs = append(errs, apiErr{Code: "error_validate_im_dep_number_has_already_had_integration",
					Message: "Введенный номер отправления ИМ не уникальный. Введите уникальный номер."})
				break
			}
		}
	}
	if b.Recipient != nil {
		for _, p := range b.Recipient.Phones {
			if !validPhone(p.Number) {
				errs = append(errs, apiErr{Code: "ve_receiver_phone_type_incorrect",
					Message: fmt.Sprintf("Некорректный номер телефона получателя: %s", p.Number)})
				break
			}
		}
	}
	if b.ShipmentPoint != "" && !s.points[strings.ToUpper(b.ShipmentPoint)] {
		errs = append(errs, apiErr{Code: "v2_office_by_shipment_point_not_found", Message: "Office not found by shipment_point " + b.ShipmentPoint})
	}
	if b.DeliveryPoint != "" && !s.points[strings.ToUpper(b.DeliveryPoint)] {
		errs = append(errs, apiErr{Code: "v2_office_by_delivery_point_not_found", Message: "Office not found by delivery_point " + b.DeliveryPoint})
	}
	// When both ends fail, CDEK reports only the sender's.
	switch {
	case b.FromLocation != nil && !s.recognised(b.FromLocation):
		errs = append(errs, apiErr{Code: "v2_sender_location_not_recognized", Message: "Sender location is not recognized"})
	case b.ToLocation != nil && !s.recognised(b.ToLocation):
		errs = append(errs, apiErr{Code: "v2_recipient_location_not_recognized", Message: "Recipient location is not recognized"})
	}
	if len(errs) > 0 {
		o.create.State = "INVALID"
		o.create.Errors = errs
		o.statuses = append(o.statuses, status{Code: "INVALID", Name: statusNames["INVALID"], At: at})
		return
	}
	o.create.State = "SUCCESSFUL"
	o.cdekNumber = strconv.Itoa(1100000000 + o.seq)
	o.statuses = append(o.statuses, status{Code: "CREATED", Name: statusNames["CREATED"], At: at})
}

func (s *Server) decideDelete(o *order, at time.Time) {
	if o.latest().Code == "CREATED" {
		o.del.State = "SUCCESSFUL"
		o.statuses = append(o.statuses, status{Code: "REMOVED", Name: statusNames["REMOVED"], At: at})
		return
	}
	o.del.State = "INVALID"
	o.del.Errors = []apiErr{{Code: "error_validate_order_delete_status",
		Message: "Ошибка удаления заказа. Заказ может быть удален только в статусе Создан."}}
}

func (s *Server) visible(o *order) bool {
	return s.now().Sub(o.createdAt) >= s.opts.NotFoundWindow
}

func (s *Server) orderJSON(o *order) map[string]any {
	e := map[string]any{
		"uuid":        o.uuid,
		"type":        int(o.body.Type),
		"tariff_code": int(o.body.TariffCode),
		"is_return":   false,
		"is_reverse":  false,
	}
	if o.number != "" {
		e["number"] = o.number
	}
	if o.body.Comment != "" {
		e["comment"] = o.body.Comment
	}
	if o.body.ShipmentPoint != "" {
		e["shipment_point"] = o.body.ShipmentPoint
	}
	if o.body.DeliveryPoint != "" {
		e["delivery_point"] = o.body.DeliveryPoint
	}
	for _, k := range []string{"from_location", "to_location", "sender", "recipient"} {
		if v, ok := o.body.raw[k]; ok && string(v) != "null" {
			e[k] = v
		}
	}
	if o.cdekNumber != "" {
		e["cdek_number"] = o.cdekNumber
	}
	var pkgs []map[string]any
	_ = json.Unmarshal(o.body.raw["packages"], &pkgs)
	for i, p := range pkgs {
		p["package_id"] = fmt.Sprintf("%s-%d", o.uuid[:8], i+1)
		if o.cdekNumber != "" {
			p["barcode"] = o.cdekNumber
		}
	}
	e["packages"] = pkgs
	sts := make([]map[string]any, 0, len(o.statuses))
	for i := len(o.statuses) - 1; i >= 0; i-- { // newest first, as CDEK lists them
		st := o.statuses[i]
		m := map[string]any{"code": st.Code, "name": st.Name, "date_time": ts(st.At), "city": "Офис СДЭК", "deleted": st.Deleted}
		if st.Reason != "" {
			m["reason_code"] = st.Reason
		}
		sts = append(sts, m)
	}
	e["statuses"] = sts
	reqs := []any{requestJSON(o.create)}
	if o.del != nil {
		reqs = append(reqs, requestJSON(o.del))
	}
	e["is_return"] = o.isReturn
	related := []any{}
	if o.returnOrder != nil {
		related = append(related, map[string]any{"type": "return_order", "uuid": o.returnOrder.uuid})
	}
	if o.direct != nil {
		related = append(related, map[string]any{"type": "direct_order", "uuid": o.direct.uuid})
	}
	return map[string]any{"entity": e, "requests": reqs, "related_entities": related}
}

func (s *Server) notFound(w http.ResponseWriter, typ, code, msg string) {
	writeJSON(w, s.opts.NotFoundStatus, s.requestEnvelope(typ, apiErr{Code: code, Message: msg}))
}

func (s *Server) handleGet(w http.ResponseWriter, uuid string) {
	if !reUUIDShape.MatchString(uuid) {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("GET", apiErr{Code: "v2_invalid_format", Message: fmt.Sprintf("Invalid value [%s] in [uuid] parameter", uuid)}))
		return
	}
	s.mu.Lock()
	s.advance()
	o := s.byUUID[uuid]
	var body map[string]any
	if o != nil && s.visible(o) {
		body = s.orderJSON(o)
	}
	s.mu.Unlock()
	if body == nil {
		s.notFound(w, "GET", "v2_entity_not_found", "Entity is not found by uuid "+uuid)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleFind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	im, cdek := q.Get("im_number"), q.Get("cdek_number")
	if im == "" && cdek == "" {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("GET", apiErr{Code: "v2_order_number_empty", Message: "Order number or uuid is empty"}))
		return
	}
	s.mu.Lock()
	s.advance()
	var found *order
	for i := len(s.orders) - 1; i >= 0 && found == nil; i-- {
		o := s.orders[i]
		if !s.visible(o) {
			continue
		}
		switch {
		case im != "" && o.number == im:
			// The most recent order with the number, whatever its state
			// ([OLD-DOCS 33828849]: "If several orders match, the most
			// recent is returned"): a refused duplicate hides the live order.
			found = o
		case cdek != "" && o.cdekNumber != "" && o.cdekNumber == cdek:
			found = o
		}
	}
	var body map[string]any
	if found != nil {
		body = s.orderJSON(found)
	}
	s.mu.Unlock()
	switch {
	case body != nil:
		writeJSON(w, http.StatusOK, body)
	case im != "":
		s.notFound(w, "GET", "v2_entity_not_found_im_number", "Entity is not found by number "+im)
	default:
		s.notFound(w, "GET", "v2_order_not_found", "Order not found by cdek_number "+cdek)
	}
}

func (s *Server) handleDelete(w http.ResponseWriter, uuid string) {
	s.mu.Lock()
	s.advance()
	o := s.byUUID[uuid]
	if o == nil || !s.visible(o) {
		s.mu.Unlock()
		s.notFound(w, "DELETE", "v2_entity_not_found", "Entity is not found by uuid "+uuid)
		return
	}
	if o.del != nil && (o.del.State == "ACCEPTED" || o.del.State == "WAITING") {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("DELETE", apiErr{Code: "v2_similar_request_still_processed", Message: "Similar request is still being processed " + uuid}))
		return
	}
	now := s.now()
	d := &request{UUID: newUUID(), Type: "DELETE", State: "ACCEPTED", At: now, DueAt: now.Add(s.opts.SettleDelay())}
	if o.create.State == "ACCEPTED" {
		d.State = "WAITING" // waits for the create request on the same order
		if d.DueAt.Before(o.create.DueAt) {
			d.DueAt = o.create.DueAt
		}
	}
	o.del = d
	resp := map[string]any{"entity": map[string]any{"uuid": o.uuid}, "requests": []any{requestJSON(d)}, "related_entities": []any{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, resp)
}

// ---- print forms ----

func (s *Server) handlePrintCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Orders []struct {
			OrderUUID  string  `json:"order_uuid"`
			CDEKNumber flexStr `json:"cdek_number"`
		} `json:"orders"`
		CopyCount flexInt `json:"copy_count"`
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", apiErr{Code: "v2_internal_error", Message: "Internal error"}))
		return
	}
	if len(body.Orders) == 0 {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", empty("orders")))
		return
	}
	if len(body.Orders) > 100 {
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", apiErr{Code: "v2_invalid_value_type", Message: "No more than 100 orders per print form"}))
		return
	}
	p := &printForm{uuid: newUUID(), copies: int(body.CopyCount)}
	if p.copies <= 0 {
		p.copies = 2
	}
	for _, o := range body.Orders {
		if o.OrderUUID == "" && o.CDEKNumber == "" {
			writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", apiErr{Code: "orders_number_is_empty", Message: "Order number is empty"}))
			return
		}
		p.orders = append(p.orders, printRef{OrderUUID: o.OrderUUID, CDEKNumber: string(o.CDEKNumber)})
	}
	s.mu.Lock()
	s.advance()
	for _, ref := range p.orders {
		if o := s.findRef(ref); o != nil && (o.create.State != "SUCCESSFUL" || o.cdekNumber == "") {
			s.mu.Unlock()
			// An order without a CDEK number yet cannot be printed
			// ([SPEC-common] v2_entity_not_ready), refused at once.
			writeJSON(w, http.StatusBadRequest, s.requestEnvelope("CREATE", apiErr{Code: "v2_entity_not_ready", Message: "v2_entity_not_ready"}))
			return
		}
	}
	now := s.now()
	p.createdAt = now
	p.readyAt = now.Add(s.opts.PrintDelay())
	p.state = "ACCEPTED"
	p.req = request{UUID: newUUID(), Type: "CREATE", State: "ACCEPTED", At: now}
	s.prints[p.uuid] = p
	resp := map[string]any{"entity": map[string]any{"uuid": p.uuid}, "requests": []any{requestJSON(&p.req)}, "related_entities": []any{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, resp)
}

func (s *Server) findRef(ref printRef) *order {
	if ref.OrderUUID != "" {
		return s.byUUID[ref.OrderUUID]
	}
	for _, o := range s.orders {
		if o.cdekNumber != "" && o.cdekNumber == ref.CDEKNumber {
			return o
		}
	}
	return nil
}

func (s *Server) decidePrint(p *printForm) {
	for _, ref := range p.orders {
		o := s.findRef(ref)
		id := ref.OrderUUID + ref.CDEKNumber
		switch {
		case o == nil:
			p.errors = append(p.errors, apiErr{Code: "v2_entity_not_found", Message: "Entity is not found by uuid " + id})
		case o.cdekNumber == "" || o.create.State != "SUCCESSFUL":
			p.errors = append(p.errors, apiErr{Code: "v2_entity_not_ready", Message: "Entity is not ready " + id})
		}
	}
	if len(p.errors) > 0 {
		p.state, p.req.State, p.req.Errors = "INVALID", "INVALID", p.errors
		return
	}
	p.state, p.req.State = "READY", "SUCCESSFUL"
}

func (s *Server) printJSON(p *printForm) map[string]any {
	orders := make([]map[string]any, 0, len(p.orders))
	for _, o := range p.orders {
		m := map[string]any{}
		if o.OrderUUID != "" {
			m["order_uuid"] = o.OrderUUID
		} else {
			m["cdek_number"] = o.CDEKNumber
		}
		orders = append(orders, m)
	}
	sts := []map[string]any{{"code": "ACCEPTED", "name": "Принят", "date_time": ts(p.createdAt)}}
	e := map[string]any{"uuid": p.uuid, "orders": orders, "copy_count": p.copies, "type": "tpl_russia"}
	switch {
	case p.state == "READY" && s.now().After(p.readyAt.Add(time.Hour)):
		sts = append(sts, map[string]any{"code": "PROCESSING", "name": "Формируется", "date_time": ts(p.readyAt)},
			map[string]any{"code": "READY", "name": "Сформирован", "date_time": ts(p.readyAt)},
			map[string]any{"code": "REMOVED", "name": "Удален", "date_time": ts(p.readyAt.Add(time.Hour))})
	case p.state == "READY":
		sts = append(sts, map[string]any{"code": "PROCESSING", "name": "Формируется", "date_time": ts(p.readyAt)},
			map[string]any{"code": "READY", "name": "Сформирован", "date_time": ts(p.readyAt)})
		e["url"] = s.ts.URL + "/v2/print/orders/" + p.uuid + ".pdf"
	case p.state == "INVALID":
		sts = append(sts, map[string]any{"code": "INVALID", "name": "Некорректный запрос", "date_time": ts(p.readyAt)})
	}
	e["statuses"] = sts
	return map[string]any{"entity": e, "requests": []any{requestJSON(&p.req)}, "related_entities": []any{}}
}

func (s *Server) handlePrintGet(w http.ResponseWriter, uuid string) {
	s.mu.Lock()
	s.advance()
	p := s.prints[uuid]
	var body map[string]any
	if p != nil {
		body = s.printJSON(p)
	}
	s.mu.Unlock()
	if body == nil {
		s.notFound(w, "GET", "v2_entity_not_found", "Entity is not found by uuid "+uuid)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handlePrintDownload(w http.ResponseWriter, uuid string) {
	s.mu.Lock()
	s.advance()
	p := s.prints[uuid]
	var lines []string
	ready := p != nil && p.state == "READY" && !s.now().After(p.readyAt.Add(time.Hour))
	if ready {
		lines = append(lines, "CDEK waybill (shipbridge simulator)", fmt.Sprintf("Copies: %d", p.copies))
		for _, ref := range p.orders {
			if o := s.findRef(ref); o != nil {
				lines = append(lines, fmt.Sprintf("Order %s  CDEK number %s", o.number, o.cdekNumber))
			}
		}
	}
	s.mu.Unlock()
	switch {
	case p == nil:
		s.notFound(w, "GET", "v2_entity_not_found", "Entity is not found by uuid "+uuid)
	case !ready:
		writeJSON(w, http.StatusBadRequest, s.requestEnvelope("GET", apiErr{Code: "v2_entity_not_ready", Message: "Entity is not ready " + uuid}))
	default:
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write(MakePDF(lines))
	}
}

// MakePDF renders a minimal, valid one-page PDF with the given ASCII lines.
func MakePDF(lines []string) []byte { return simpdf.Page(lines, 14, 790, 18) }
