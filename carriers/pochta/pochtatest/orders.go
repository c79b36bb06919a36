package pochtatest

import (
	"encoding/json"
	"fmt"
	"github.com/shipbridge/shipbridge/internal/simpdf"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// num decodes a JSON number or numeric string, as Pochta's own types vary.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = num(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", s)
	}
	*n = num(f)
	return nil
}

// orderIn is a create v2 order as the simulator reads it ([SPEC-T]
// create-order-v2 schema field names).
type orderIn struct {
	OrderNum       string `json:"order-num"`
	MailType       string `json:"mail-type"`
	MailCategory   string `json:"mail-category"`
	MailDirect     num    `json:"mail-direct"`
	Mass           num    `json:"mass"`
	AddressTypeTo  string `json:"address-type-to"`
	IndexTo        num    `json:"index-to"`
	RegionTo       string `json:"region-to"`
	PlaceTo        string `json:"place-to"`
	StreetTo       string `json:"street-to"`
	HouseTo        string `json:"house-to"`
	RoomTo         string `json:"room-to"`
	RecipientName  string `json:"recipient-name"`
	Surname        string `json:"surname"`
	GivenName      string `json:"given-name"`
	MiddleName     string `json:"middle-name"`
	TelAddress     num    `json:"tel-address"`
	PostofficeCode string `json:"postoffice-code"`
	InsrValue      num    `json:"insr-value"`
	Payment        num    `json:"payment"`
	Comment        string `json:"comment"`
	Goods          *struct {
		Items []struct {
			Description string `json:"description"`
			Quantity    num    `json:"quantity"`
			Value       num    `json:"value"`
		} `json:"items"`
	} `json:"goods"`
}

type code struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Details     string `json:"details,omitempty"`
}

// Texts from sample order_create_errors_200 and [PSDK] Otpravka/ErrorCode.cs
// @ 15b73589 (the codes' documented texts).
var (
	errEmptyRegion   = code{Code: "EMPTY_REGION_TO", Description: "Регион не заполнен"}
	errEmptyPlace    = code{Code: "EMPTY_PLACE_TO", Description: "Населенный пункт не указан"}
	errEmptyStreet   = code{Code: "EMPTY_STREET_TO", Description: "Не задан адрес (Улица, дом, квартира)."}
	errEmptyMass     = code{Code: "EMPTY_MASS", Description: "Масса не указана"}
	errRecipientName = code{Code: "ILLEGAL_RECIPIENT_NAME", Description: "Недопустимое значение поля \"Имя получателя\"."}
	errInitials      = code{Code: "ILLEGAL_INITIALS", Description: "ФИО некорректно"}
	errMailType      = code{Code: "UNAVAILABLE_MAIL_TYPE", Description: "Тип отправления для данного направления не подключен в настройках пользователя."}
	errCOD           = code{Code: "RESTRICTED_MAIL_CATEGORY", Description: "Для создания отправлений с наложенным платежом необходимо указать номер ЕСПП в настройках сервиса. Обратитесь к вашему персональному менеджеру в Почте или напишите письмо на почтовый ящик support.otpravka@russianpost.ru"}
	errNotInsured    = code{Code: "NOT_INSURED_PAYMENT", Description: "Наложенный платеж превышает объявленную ценность"}
)

var categories = map[string]bool{
	"SIMPLE": true, "ORDERED": true, "ORDINARY": true, "WITH_DECLARED_VALUE": true,
	"WITH_DECLARED_VALUE_AND_CASH_ON_DELIVERY": true, "WITH_DECLARED_VALUE_AND_COMPULSORY_PAYMENT": true, "WITH_COMPULSORY_PAYMENT": true,
}

func (s *Server) point(code string) *ShippingPoint {
	for i := range s.opts.ShippingPoints {
		if s.opts.ShippingPoints[i].Postcode == code {
			return &s.opts.ShippingPoints[i]
		}
	}
	return nil
}

func (s *Server) allowedPostcodes() string {
	var out []string
	for _, p := range s.opts.ShippingPoints {
		if p.Enabled {
			out = append(out, p.Postcode)
		}
	}
	return strings.Join(out, " ")
}

// check returns every problem of one order, all at once, as Pochta does.
func (s *Server) check(o *orderIn) []code {
	var errs []code
	pc := strings.TrimSpace(o.PostofficeCode)
	p := s.point(pc)
	switch {
	case pc == "":
		errs = append(errs, code{Code: "EMPTY_POSTOFFICE_CODE", Description: "Индекс приемного почтового отделения не задан", Details: s.allowedPostcodes()})
	case p == nil || !p.Enabled:
		errs = append(errs, code{Code: "ILLEGAL_POSTOFFICE_CODE", Description: "Индекс приемного почтового отделения некорректен", Details: s.allowedPostcodes()})
	}
	if p != nil && p.Enabled && !contains(p.MailTypes, o.MailType) {
		errs = append(errs, errMailType)
	}
	if !categories[o.MailCategory] {
		errs = append(errs, code{Code: "ILLEGAL_MAIL_CATEGORY", Description: fmt.Sprintf("Категория '%s' не поддерживается для данного вида отправления на данном направлении", o.MailCategory), Details: o.MailCategory})
	}
	if strings.TrimSpace(o.RecipientName) == "" {
		errs = append(errs, errRecipientName)
	}
	if strings.TrimSpace(o.Surname) == "" || strings.TrimSpace(o.GivenName) == "" {
		errs = append(errs, errInitials)
	}
	if o.AddressTypeTo != "DEMAND" || strings.TrimSpace(o.RegionTo) != "" {
		if strings.TrimSpace(o.RegionTo) == "" {
			errs = append(errs, errEmptyRegion)
		}
		if strings.TrimSpace(o.PlaceTo) == "" {
			errs = append(errs, errEmptyPlace)
		}
	}
	if o.AddressTypeTo == "DEFAULT" && (strings.TrimSpace(o.StreetTo) == "" || strings.TrimSpace(o.HouseTo) == "") {
		errs = append(errs, errEmptyStreet)
	}
	if o.IndexTo < 100000 || o.IndexTo > 999999 {
		errs = append(errs, code{Code: "EMPTY_INDEX_TO", Description: "Почтовый индекс не указан"})
	}
	switch {
	case o.Mass <= 0:
		errs = append(errs, errEmptyMass)
	case o.Mass > 20000 && o.MailType == "POSTAL_PARCEL":
		errs = append(errs, code{Code: "ILLEGAL_MASS_EXCESS", Description: "Вес отправления не должен превышать 20 кг"})
	}
	if strings.HasPrefix(o.MailCategory, "WITH_DECLARED_VALUE") && o.InsrValue <= 0 {
		errs = append(errs, code{Code: "EMPTY_INSR_VALUE", Description: "Объявленная сумма не указана"})
	}
	if o.MailCategory == "WITH_DECLARED_VALUE_AND_CASH_ON_DELIVERY" {
		if s.opts.NoESPP {
			errs = append(errs, errCOD)
		}
		if o.Payment > o.InsrValue {
			errs = append(errs, errNotInsured)
		}
		if o.TelAddress == 0 {
			errs = append(errs, code{Code: "EMPTY_TELADDRESS", Description: "Телефон получателя является обязательным для данного вида отправления"})
		}
	}
	return errs
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// barcode makes a 14-digit domestic ШПИ with a mod-10 check digit.
func (s *Server) barcode() string {
	s.nextBar++
	base := strconv.FormatInt(s.nextBar, 10)
	sum := 0
	for i, r := range base {
		d := int(r - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return base + strconv.Itoa((10-sum%10)%10)
}

func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// handleCreate: PUT /2.0/user/backlog. HTTP 200 always for a readable body
// (sample order_create_errors_200; [PSDK] asserts 200 for rejections);
// created orders in "orders", refused positions in envelope A "errors".
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in []orderIn
	if err := readBody(r, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, envelopeD("1000", "Cannot parse request body: "+err.Error(), ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type created struct {
		Barcode  string `json:"barcode"`
		OrderNum string `json:"order-num"`
		ResultID int64  `json:"result-id"`
	}
	type posErr struct {
		ErrorCodes []code `json:"error-codes"`
		Position   int    `json:"position"`
	}
	var orders []created
	var errs []posErr
	for i := range in {
		o := in[i]
		s.creates[o.OrderNum]++
		if problems := s.check(&o); len(problems) > 0 {
			errs = append(errs, posErr{ErrorCodes: problems, Position: i})
			continue
		}
		s.nextID++
		ord := &order{id: s.nextID, barcode: s.barcode(), req: o, createdAt: s.now()}
		s.orders = append(s.orders, ord)
		s.byID[ord.id] = ord
		orders = append(orders, created{Barcode: ord.barcode, OrderNum: o.OrderNum, ResultID: ord.id})
	}
	out := map[string]any{}
	if len(orders) > 0 || len(errs) == 0 {
		if orders == nil {
			orders = []created{}
		}
		out["orders"] = orders
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

// orderJSON renders an order as the searches return it (samples
// backlog_search_200 / shipment_search_200; tracking fields per [SPEC-T]).
func (s *Server) orderJSON(o *order) map[string]any {
	q := o.req
	rate := 16500 + int64(q.Mass/1000)*2000
	m := map[string]any{
		"id": o.id, "barcode": o.barcode, "order-num": q.OrderNum, "mail-type": q.MailType, "mail-category": q.MailCategory,
		"mail-direct": 643, "mail-rank": "WO_RANK", "mass": int64(q.Mass), "address-type-to": q.AddressTypeTo,
		"index-to": int64(q.IndexTo), "str-index-to": strconv.FormatInt(int64(q.IndexTo), 10),
		"region-to": q.RegionTo, "place-to": q.PlaceTo, "street-to": q.StreetTo, "house-to": q.HouseTo,
		"recipient-name": q.RecipientName, "surname": q.Surname, "given-name": q.GivenName,
		"postoffice-code": q.PostofficeCode, "payment-method": "CASHLESS", "transport-type": "SURFACE",
		"manual-address-input": false, "version": 0, "postmarks": []string{"NONSTANDARD"},
		"ground-rate": rate, "ground-rate-with-vat": rate * 12 / 10, "ground-rate-wo-vat": rate,
		"total-rate-wo-vat": rate, "total-vat": rate / 5, "delivery-time": map[string]any{"max-days": 3},
	}
	if q.RoomTo != "" {
		m["room-to"] = q.RoomTo
	}
	if q.MiddleName != "" {
		m["middle-name"] = q.MiddleName
	}
	if q.TelAddress != 0 {
		m["tel-address"] = int64(q.TelAddress)
	}
	if q.Comment != "" {
		m["comment"] = q.Comment
	}
	if q.InsrValue != 0 {
		m["insr-value"] = int64(q.InsrValue)
	}
	if q.Payment != 0 {
		m["payment"] = int64(q.Payment)
	}
	if o.deleted {
		m["is-deleted"] = true
	}
	if b := s.batches[o.batch]; b != nil {
		m["batch-name"] = b.name
		m["batch-status"] = b.status
		m["batch-category"] = s.label(b.category)
	}
	if o.last != nil {
		// last-oper-type/attr as the text the real service sends
		// (SetLastOperation, textOperation), or number strings.
		m["last-oper-type"] = o.last.typ
		m["last-oper-attr"] = o.last.attr
		m["last-oper-date"] = o.last.at.In(s.msk).Format("2006-01-02T15:04:05.000-07:00")
		m["human-operation-name"] = o.last.name
	}
	return m
}

func (s *Server) label(v string) string {
	if s.opts.PlainBatchLabels {
		return v
	}
	return "COMBINED"
}

// handleSearch: GET /1.0/backlog/search and /1.0/shipment/search?query=.
// The query matches a barcode exactly or an order-num as a substring.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, batched bool) {
	q := strings.TrimSpace(r.URL.Query().Get("query"))
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	if q != "" {
		for _, o := range s.orders {
			if (o.batch != "") != batched {
				continue
			}
			if o.barcode == q || strings.Contains(o.req.OrderNum, q) {
				out = append(out, s.orderJSON(o))
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleGetOrder: GET /1.0/backlog/{id} (not batched) and /1.0/shipment/{id}
// (batched); anything else is 1001 RESOURCE_NOT_FOUND (sample).
func (s *Server) handleGetOrder(w http.ResponseWriter, idText string, batched bool) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byID[id]
	if o == nil || o.deleted || (o.batch != "") != batched {
		entity := "ComplexOrderV2"
		if batched {
			entity = "ShipmentTuple"
		}
		notFound(w, entity, id)
		return
	}
	writeJSON(w, http.StatusOK, s.orderJSON(o))
}

type bError struct {
	ErrorCode        string `json:"error-code,omitempty"`
	ErrorDescription string `json:"error-description,omitempty"`
	Position         int    `json:"position"`
}

// handleDelete: DELETE /1.0/backlog and DELETE /1.0/shipment with ids;
// envelope B ({"result-ids","errors"}, sample error_not_found_error_code).
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, batched bool) {
	var idsIn []num
	if err := readBody(r, &idsIn); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resIDs := []int64{}
	var errs []bError
	for i, n := range idsIn {
		o := s.byID[int64(n)]
		switch {
		case o == nil || o.deleted || (o.batch != "") != batched:
			errs = append(errs, bError{ErrorCode: "NOT_FOUND", ErrorDescription: "Отправление не найдено", Position: i})
		case batched && o.last != nil:
			errs = append(errs, bError{ErrorCode: "DELIVERY_IN_PROGRESS", ErrorDescription: "Отправление уже отправлено", Position: i})
		case batched && s.batches[o.batch].status != "CREATED":
			errs = append(errs, bError{ErrorCode: "READONLY_STATE", ErrorDescription: "Изменения в партии недопустимы", Position: i})
		default:
			o.deleted = true
			resIDs = append(resIDs, o.id)
		}
	}
	out := map[string]any{"result-ids": resIDs}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) batchJSON(b *batch) map[string]any {
	count, mass := 0, int64(0)
	for _, id := range b.orderIDs {
		if o := s.byID[id]; o != nil && !o.deleted {
			count++
			mass += int64(o.req.Mass)
		}
	}
	p := s.point(b.office)
	name := "ОПС " + b.office
	if p != nil && p.Address != "" {
		name = p.Address
	}
	return map[string]any{
		"batch-name": b.name, "batch-status": b.status, "batch-status-date": b.statusAt.Format("2006-01-02T15:04:05.000Z"),
		"combined-batch-mail-types": []string{b.mailType}, "courier-order-statuses": []string{"NOT_REQUIRED"},
		"international": false, "list-number-date": b.date,
		"mail-category": s.label(b.category), "mail-category-text": "Комбинированно", "mail-rank": "WO_RANK",
		"mail-type": s.label(b.mailType), "mail-type-text": "Комбинированно", "payment-method": "CASHLESS",
		"postmarks": []string{"NONSTANDARD"}, "postoffice-code": b.office, "postoffice-name": name,
		"shipment-count": count, "shipment-mass": mass, "shipping-notice-type": "SIMPLE",
		"transport-type": "SURFACE", "use-online-balance": false, "wo-mass": false,
	}
}

// handleBatchCreate: POST /1.0/user/shipment?sending-date= with ids. Every
// call opens new batches, one per mail type and category («Если заказы
// относятся к разным типам и категориям – создается несколько партий»).
func (s *Server) handleBatchCreate(w http.ResponseWriter, r *http.Request) {
	var idsIn []num
	if err := readBody(r, &idsIn); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	date := s.today()
	if d := r.URL.Query().Get("sending-date"); d != "" {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			writeJSON(w, http.StatusBadRequest, envelopeD("1000", "Illegal sending-date: "+d, ""))
			return
		}
		if d < date {
			writeJSON(w, http.StatusOK, map[string]any{"errors": []bError{{ErrorCode: "PAST_DUE_DATE", ErrorDescription: "Дата отправки просрочена", Position: 0}}})
			return
		}
		date = d
	}
	resIDs := []int64{}
	var errs []bError
	groups := map[string]*batch{}
	var made []*batch
	for i, n := range idsIn {
		o := s.byID[int64(n)]
		if o == nil || o.deleted || o.batch != "" {
			errs = append(errs, bError{ErrorCode: "NOT_FOUND", ErrorDescription: "Отправление не найдено", Position: i})
			continue
		}
		key := o.req.MailType + "|" + o.req.MailCategory + "|" + o.req.PostofficeCode
		b := groups[key]
		if b == nil {
			b = &batch{name: strconv.Itoa(s.nextBatch), status: "CREATED", statusAt: s.now(), date: date,
				mailType: o.req.MailType, category: o.req.MailCategory, office: o.req.PostofficeCode, createdAt: s.now()}
			s.nextBatch++
			s.batches[b.name] = b
			groups[key] = b
			made = append(made, b)
		}
		b.orderIDs = append(b.orderIDs, o.id)
		o.batch = b.name
		resIDs = append(resIDs, o.id)
	}
	out := map[string]any{"result-ids": resIDs}
	bs := []map[string]any{}
	for _, b := range made {
		bs = append(bs, s.batchJSON(b))
	}
	out["batches"] = bs
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

// handleBatchAdd: POST /1.0/batch/{name}/shipment with ids — partial
// success, errors per position; type and category must match the batch.
func (s *Server) handleBatchAdd(w http.ResponseWriter, r *http.Request, name string) {
	var idsIn []num
	if err := readBody(r, &idsIn); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[name]
	if b == nil {
		notFound(w, "ShipmentBatchTuple", name)
		return
	}
	resIDs := []int64{}
	var errs []bError
	for i, n := range idsIn {
		o := s.byID[int64(n)]
		switch {
		case b.status != "CREATED":
			errs = append(errs, bError{ErrorCode: "READONLY_STATE", ErrorDescription: "Изменения в партии недопустимы", Position: i})
		case o == nil || o.deleted:
			errs = append(errs, bError{ErrorCode: "NOT_FOUND", ErrorDescription: "Отправление не найдено", Position: i})
		case o.batch != "":
			// [PSDK] AddExistingOrdersToTheBatch: an unreadable error (message "null").
			errs = append(errs, bError{Position: i})
		case o.req.MailType != b.mailType:
			errs = append(errs, bError{ErrorCode: "DIFFERENT_MAIL_TYPE", ErrorDescription: "Типы почтовых отправлений не совпадают", Position: i})
		case o.req.MailCategory != b.category:
			errs = append(errs, bError{ErrorCode: "DIFFERENT_MAIL_CATEGORY", ErrorDescription: "Категории почтовых отправления не совпадают", Position: i})
		default:
			o.batch = b.name
			b.orderIDs = append(b.orderIDs, o.id)
			resIDs = append(resIDs, o.id)
		}
	}
	out := map[string]any{"result-ids": resIDs, "batches": []map[string]any{s.batchJSON(b)}}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

// handleBatchList: GET /1.0/batch — only CREATED batches ([LAPAY-ISS] #22),
// filtered by the camelCase mailType / mailCategory.
func (s *Server) handleBatchList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mt, mc := q.Get("mailType"), q.Get("mailCategory")
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n, b := range s.batches {
		bt, bc := b.mailType, b.category
		if s.opts.ListFiltersByLabel {
			bt, bc = s.label(bt), s.label(bc)
		}
		if b.status == "CREATED" && (mt == "" || bt == mt) && (mc == "" || bc == mc) {
			names = append(names, n)
		}
	}
	sortNames(names)
	out := []map[string]any{}
	for _, n := range names {
		out = append(out, s.batchJSON(s.batches[n]))
	}
	writeJSON(w, http.StatusOK, out)
}

func sortNames(names []string) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && batchLess(names[j], names[j-1]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

func (s *Server) handleBatchGet(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[name]
	if b == nil {
		notFound(w, "ShipmentBatchTuple", name)
		return
	}
	writeJSON(w, http.StatusOK, s.batchJSON(b))
}

// handleCheckin: POST /1.0/batch/{name}/checkin → envelope C.
func (s *Server) handleCheckin(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[name]
	if b == nil {
		notFound(w, "ShipmentBatchTuple", name)
		return
	}
	if b.status != "CREATED" {
		writeJSON(w, http.StatusOK, map[string]any{"error-code": "READONLY_STATE", "f103-sent": false})
		return
	}
	b.status, b.statusAt, b.f103Sent = "FROZEN", s.now(), true
	writeJSON(w, http.StatusOK, map[string]any{"f103-sent": true})
}

// handleBacklogForms: GET /1.0/forms/backlog/{id}/forms — not for parcels:
// "internal error 1002: Forbidden mail type" ([PSDK] GetPrintForms).
func (s *Server) handleBacklogForms(w http.ResponseWriter, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byID[id]
	if o == nil || o.deleted || o.batch != "" {
		notFound(w, "BacklogTuple", id)
		return
	}
	writeJSON(w, http.StatusBadRequest, envelopeD("1002", "Forbidden mail type", ""))
}

// handleForms: GET /1.0/forms/{id}/forms or f7pdf — a PDF for a batched
// order; an order still in «Новые» gets the 1002 refusal its parcel type
// gets on the backlog forms (the exact answer here is UNCONFIRMED).
func (s *Server) handleForms(w http.ResponseWriter, r *http.Request, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	o := s.byID[id]
	if o == nil || o.deleted {
		s.mu.Unlock()
		notFound(w, "ShipmentTuple", id)
		return
	}
	if o.batch == "" {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, envelopeD("1002", "Forbidden mail type", ""))
		return
	}
	lines := []string{"F7p " + o.barcode, "Order " + o.req.OrderNum, "Batch " + o.batch, "To " + strconv.FormatInt(int64(o.req.IndexTo), 10)}
	s.mu.Unlock()
	if d := r.URL.Query().Get("sending-date"); d != "" {
		lines = append(lines, "Sending date "+d)
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(MakePDF(lines))
}

var (
	reHouse = regexp.MustCompile(`^[\s,]*(?:д\.?|дом)?\s*(\d+[а-яa-z]?(?:/\d+)?)`)
	reRoom  = regexp.MustCompile(`(?:кв\.?|квартира|оф\.?|офис)\s*(\d+)`)
	reIndex = regexp.MustCompile(`\b(\d{6})\b`)
)

// handleCleanAddress: POST /1.0/clean/address [{"id","original-address"}]
// → one normalised address per input with quality-code and
// validation-code ([PSDK] AddressClean, AddressQuality, AddressValidation).
func (s *Server) handleCleanAddress(w http.ResponseWriter, r *http.Request) {
	var in []struct {
		ID              string `json:"id"`
		OriginalAddress string `json:"original-address"`
	}
	if err := readBody(r, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	out := []map[string]any{}
	for _, a := range in {
		m := s.clean(a.OriginalAddress)
		m["id"] = a.ID
		m["original-address"] = a.OriginalAddress
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) clean(text string) map[string]any {
	low := strings.ToLower(text)
	m := map[string]any{"address-type": "DEFAULT"}
	var place *Place
	for i := range s.opts.Gazetteer {
		for _, k := range s.opts.Gazetteer[i].Keys {
			if strings.Contains(low, k) {
				place = &s.opts.Gazetteer[i]
				break
			}
		}
		if place != nil {
			break
		}
	}
	if place == nil {
		m["quality-code"], m["validation-code"] = "UNDEF_02", "NOT_VALIDATED_HAS_NO_MAIN_POINTS"
		return m
	}
	m["region"], m["place"], m["index"] = place.Region, place.Place, place.Index
	if idx := reIndex.FindStringSubmatch(low); idx != nil && idx[1][:3] == place.Index[:3] {
		m["index"] = idx[1]
	}
	var street *Street
	rest := ""
	for i := range place.Streets {
		for _, al := range place.Streets[i].Aliases {
			if at := strings.Index(low, al); at >= 0 {
				street, rest = &place.Streets[i], low[at+len(al):]
				break
			}
		}
		if street != nil {
			break
		}
	}
	if street == nil {
		m["quality-code"], m["validation-code"] = "UNDEF_03", "NOT_VALIDATED_HAS_UNPARSED_PARTS"
		return m
	}
	m["street"] = street.Name
	h := reHouse.FindStringSubmatch(rest)
	if h == nil {
		m["quality-code"], m["validation-code"] = "UNDEF_04", "NOT_VALIDATED_HOUSE_WITHOUT_STREET_OR_NP"
		return m
	}
	m["house"] = h[1]
	if room := reRoom.FindStringSubmatch(rest); room != nil {
		m["room"] = room[1]
	}
	m["quality-code"], m["validation-code"] = "GOOD", "VALIDATED"
	return m
}

// givenNames is the simulator's small dictionary of first names.
var givenNames = map[string]bool{
	"иван": true, "пётр": true, "петр": true, "сергей": true, "алексей": true, "ахмед": true, "дмитрий": true,
	"анна": true, "мария": true, "елена": true, "ольга": true, "ирина": true, "марина": true, "наталья": true,
}

// handleCleanPhysical: POST /1.0/clean/physical [{"id","original-fio"}] →
// surname, name, middle-name and quality-code ([PSDK] FullName): a word
// from the dictionary is the name, a -вич/-вна word (or «… оглы») the
// middle name, the rest the surname; EDITED when all is clear, else
// NOT_SURE, which the real service answers for most names.
func (s *Server) handleCleanPhysical(w http.ResponseWriter, r *http.Request) {
	var in []struct {
		ID          string `json:"id"`
		OriginalFIO string `json:"original-fio"`
	}
	if err := readBody(r, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	out := []map[string]any{}
	for _, n := range in {
		var surname, given, middle []string
		for _, word := range strings.Fields(n.OriginalFIO) {
			low := strings.ToLower(word)
			switch {
			case givenNames[low] && len(given) == 0:
				given = append(given, word)
			case strings.HasSuffix(low, "вич") || strings.HasSuffix(low, "вна") || strings.HasSuffix(low, "чна") || low == "оглы" || low == "кызы":
				middle = append(middle, word)
			default:
				surname = append(surname, word)
			}
		}
		q := "EDITED"
		if len(given) == 0 || len(surname) != 1 {
			q = "NOT_SURE"
		}
		m := map[string]any{"id": n.ID, "original-fio": n.OriginalFIO, "quality-code": q}
		if len(surname) > 0 {
			m["surname"] = strings.Join(surname, " ")
		}
		if len(given) > 0 {
			m["name"] = given[0]
		}
		if len(middle) > 0 {
			m["middle-name"] = strings.Join(middle, " ")
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleLimit: GET /1.0/settings/limit ([PSDK] GetApiLimit). The request
// itself is not counted (UNCONFIRMED).
func (s *Server) handleLimit(w http.ResponseWriter) {
	s.mu.Lock()
	s.rollQuota()
	out := map[string]any{"allowed-count": s.opts.DailyQuota, "current-count": s.used}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleShippingPoints: GET /1.0/user-shipping-points ([PSDK] ShippingPoint
// field names; values in the shape a public test fixture shows).
func (s *Server) handleShippingPoints(w http.ResponseWriter) {
	out := []map[string]any{}
	for _, p := range s.opts.ShippingPoints {
		var products []map[string]any
		for _, mt := range p.MailTypes {
			for _, cat := range []string{"ORDINARY", "WITH_DECLARED_VALUE", "WITH_DECLARED_VALUE_AND_CASH_ON_DELIVERY"} {
				products = append(products, map[string]any{"mail-type": mt, "mail-category": cat, "product-type": mt + "_" + cat})
			}
		}
		out = append(out, map[string]any{
			"operator-postcode": p.Postcode, "enabled": p.Enabled, "ops-address": p.Address,
			"available-mail-types": p.MailTypes, "available-products": products, "courier-call": false,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// MakePDF renders a minimal one-page PDF with the lines of text: enough for
// a client to see "%PDF-" … "%%EOF" and for a person to read it.
func MakePDF(lines []string) []byte { return simpdf.Page(lines, 12, 780, 16) }
