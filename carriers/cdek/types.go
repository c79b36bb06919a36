package cdek

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Int is an integer that CDEK sometimes writes as a JSON string ("2") or
// masks with text. It decodes from a number, a numeric string or null; a
// string that is not a number decodes as 0 so that one odd field cannot
// spoil a whole response. It encodes as a plain JSON number.
type Int int64

// numberText returns the text of a JSON number or numeric string, and
// whether it was quoted; "" for null and for an empty string.
func numberText(b []byte) (text string, quoted bool, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", false, nil
	}
	if b[0] != '"' {
		return string(b), false, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", true, err
	}
	return strings.TrimSpace(s), true, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	s, quoted, err := numberText(b)
	if err != nil || s == "" {
		*n = 0
		return err
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*n = Int(f)
		return nil
	}
	if quoted {
		*n = 0 // a masked or textual value in a response
		return nil
	}
	return fmt.Errorf("cdek: cannot decode %s as an integer", truncate(s, 40))
}

// Float is a decimal that may arrive as a JSON number or a numeric string.
type Float float64

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	s, quoted, err := numberText(b)
	if err != nil || s == "" {
		*f = 0
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err == nil:
		*f = Float(v)
	case quoted:
		*f = 0 // a textual value in a response
	default:
		return fmt.Errorf("cdek: cannot decode %s as a number", truncate(s, 40))
	}
	return nil
}

// String is text that CDEK sometimes sends as a JSON number, such as
// cdek_number ("1100000001" in GET responses, an int64 elsewhere).
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = String(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var num json.Number
		if err := json.Unmarshal(b, &num); err != nil {
			return err
		}
		*s = String(num.String())
	case string(b) == "true" || string(b) == "false":
		*s = String(b)
	default:
		return fmt.Errorf("cdek: cannot decode %s as a string", truncate(string(b), 40))
	}
	return nil
}

// Time is a CDEK timestamp. CDEK writes offsets without a colon
// ("2026-08-01T14:34:18+0000"), which time.RFC3339 rejects; Time also
// accepts RFC 3339, fractional seconds and a bare date.
type Time struct{ time.Time }

// TimeLayout is the layout CDEK uses for date_time fields.
const TimeLayout = "2006-01-02T15:04:05-0700"

var timeLayouts = []string{
	TimeLayout,
	time.RFC3339Nano,
	"2006-01-02T15:04:05-07",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// ParseTime parses a CDEK timestamp in any of the layouts seen in the wild.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cdek: unrecognised timestamp %q", truncate(s, 40))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("cdek: timestamp is not a string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes the timestamp in CDEK's layout.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Format(TimeLayout))
}

// Money is a sum in roubles with optional VAT, as CDEK's money object.
type Money struct {
	Value   Float  `json:"value"`
	VatSum  *Float `json:"vat_sum,omitempty"`
	VatRate *Float `json:"vat_rate,omitempty"`
}

// Phone is one phone number of a contact.
type Phone struct {
	Number     string `json:"number"`
	Additional string `json:"additional,omitempty"`
}

// Contact is a sender or recipient.
type Contact struct {
	Company        string  `json:"company,omitempty"`
	Name           string  `json:"name"`
	ContragentType string  `json:"contragent_type,omitempty"`
	Tin            string  `json:"tin,omitempty"`
	Email          string  `json:"email,omitempty"`
	Phones         []Phone `json:"phones,omitempty"`
}

// Location is an address with the city identified by code, postal code or
// name (CDEK's LocationDto).
type Location struct {
	Code        Int    `json:"code,omitempty"`
	CityUUID    string `json:"city_uuid,omitempty"`
	City        string `json:"city,omitempty"`
	FiasGUID    string `json:"fias_guid,omitempty"`
	KladrCode   string `json:"kladr_code,omitempty"`
	PostalCode  string `json:"postal_code,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	Country     string `json:"country,omitempty"`
	Region      string `json:"region,omitempty"`
	RegionCode  Int    `json:"region_code,omitempty"`
	SubRegion   string `json:"sub_region,omitempty"`
	Longitude   Float  `json:"longitude,omitempty"`
	Latitude    Float  `json:"latitude,omitempty"`
	Address     string `json:"address"`
}

// Item is one line of goods in a package. Cost and payment are per unit, in
// roubles; weight is per unit, in grams.
type Item struct {
	Name        string `json:"name"`
	WareKey     string `json:"ware_key"`
	Payment     Money  `json:"payment"`
	Cost        Float  `json:"cost"`
	Weight      Int    `json:"weight"`
	WeightGross Int    `json:"weight_gross,omitempty"`
	Amount      Int    `json:"amount"`
	Marking     string `json:"marking,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Package is one box: weight in grams, dimensions in centimetres.
type Package struct {
	Number       string `json:"number"`
	Weight       Int    `json:"weight"`
	Length       Int    `json:"length,omitempty"`
	Width        Int    `json:"width,omitempty"`
	Height       Int    `json:"height,omitempty"`
	Comment      string `json:"comment,omitempty"`
	Items        []Item `json:"items,omitempty"`
	PackageID    string `json:"package_id,omitempty"`
	Barcode      string `json:"barcode,omitempty"`
	WeightVolume Int    `json:"weight_volume,omitempty"`
	WeightCalc   Int    `json:"weight_calc,omitempty"`
}

// Service is an additional service (CDEK Appendix 6).
type Service struct {
	Code      string `json:"code"`
	Parameter String `json:"parameter,omitempty"`
	Sum       Float  `json:"sum,omitempty"`
	TotalSum  Float  `json:"total_sum,omitempty"`
}

// OrderRequest is the body of POST /v2/orders (OrderCreateRequestDto).
type OrderRequest struct {
	Type          Int       `json:"type,omitempty"`
	Number        string    `json:"number,omitempty"`
	TariffCode    Int       `json:"tariff_code"`
	Comment       string    `json:"comment,omitempty"`
	ShipmentPoint string    `json:"shipment_point,omitempty"`
	DeliveryPoint string    `json:"delivery_point,omitempty"`
	FromLocation  *Location `json:"from_location,omitempty"`
	ToLocation    *Location `json:"to_location,omitempty"`
	Sender        *Contact  `json:"sender,omitempty"`
	Recipient     Contact   `json:"recipient"`
	Services      []Service `json:"services,omitempty"`
	// DeliveryRecipientCost is the delivery charge collected from the
	// recipient (type 1 only), VAT included ([SPEC] OrderRequest).
	DeliveryRecipientCost *Money    `json:"delivery_recipient_cost,omitempty"`
	Packages              []Package `json:"packages"`
	Print                 string    `json:"print,omitempty"`
	DeveloperKey          string    `json:"developer_key,omitempty"`
}

// ErrorItem is one error or warning in a CDEK answer.
type ErrorItem struct {
	Code           string `json:"code"`
	Message        string `json:"message"`
	AdditionalCode string `json:"additional_code,omitempty"`
}

// Request states of an asynchronous CDEK request.
const (
	StateAccepted   = "ACCEPTED"
	StateWaiting    = "WAITING"
	StateSuccessful = "SUCCESSFUL"
	StateInvalid    = "INVALID"
)

// Request is the state of one asynchronous request on an entity. Type is
// kept as a plain string: CDEK sends values beyond its documented enum
// (e.g. CREATE_REFUSAL).
type Request struct {
	RequestUUID string      `json:"request_uuid,omitempty"`
	Type        string      `json:"type"`
	DateTime    Time        `json:"date_time"`
	State       string      `json:"state"`
	Errors      []ErrorItem `json:"errors,omitempty"`
	Warnings    []ErrorItem `json:"warnings,omitempty"`
}

// RelatedEntity links an order to its print forms, returns and so on.
type RelatedEntity struct {
	UUID       string `json:"uuid,omitempty"`
	Type       string `json:"type"`
	URL        string `json:"url,omitempty"`
	CDEKNumber String `json:"cdek_number,omitempty"`
	CreateTime Time   `json:"create_time"`
}

// EntityRef is the entity part of an asynchronous answer: only the uuid.
type EntityRef struct {
	UUID string `json:"uuid"`
}

// EntityResponse is CDEK's answer to an asynchronous write (create order,
// delete order, create print form): the entity's uuid and the request state.
type EntityResponse struct {
	Entity          *EntityRef      `json:"entity,omitempty"`
	Requests        []Request       `json:"requests"`
	RelatedEntities []RelatedEntity `json:"related_entities"`
	// Errors and Warnings hold the top-level envelope some answers use.
	Errors   []ErrorItem `json:"errors,omitempty"`
	Warnings []ErrorItem `json:"warnings,omitempty"`
}

// UUID returns the entity's uuid, or "" when the answer has none.
func (r EntityResponse) UUID() string {
	if r.Entity == nil {
		return ""
	}
	return r.Entity.UUID
}

// OrderStatus is one entry of an order's status history. Deleted is
// CDEK's «Признак удаления статуса» (OrderStatusDto.deleted): true means
// CDEK revoked the status (only final ones can be), false that it is
// active; a revoked status is history, never the order's current state.
type OrderStatus struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	DateTime   Time   `json:"date_time"`
	ReasonCode String `json:"reason_code,omitempty"`
	City       string `json:"city,omitempty"`
	Deleted    bool   `json:"deleted"`
}

// DeliveryDetail is the cost of the delivery.
type DeliveryDetail struct {
	DeliverySum Float `json:"delivery_sum"`
	TotalSum    Float `json:"total_sum"`
}

// Order is the entity of GET /v2/orders (OrderResponseDto), the fields a
// shipping workflow needs; unknown fields are ignored.
type Order struct {
	UUID           string          `json:"uuid"`
	Type           Int             `json:"type"`
	Number         string          `json:"number"`
	CDEKNumber     String          `json:"cdek_number"`
	TariffCode     Int             `json:"tariff_code"`
	Comment        string          `json:"comment"`
	ShipmentPoint  string          `json:"shipment_point"`
	DeliveryPoint  string          `json:"delivery_point"`
	DeliveryMode   String          `json:"delivery_mode"`
	IsReturn       bool            `json:"is_return"`
	IsReverse      bool            `json:"is_reverse"`
	Sender         *Contact        `json:"sender"`
	Recipient      *Contact        `json:"recipient"`
	FromLocation   *Location       `json:"from_location"`
	ToLocation     *Location       `json:"to_location"`
	Services       []Service       `json:"services"`
	Packages       []Package       `json:"packages"`
	Statuses       []OrderStatus   `json:"statuses"`
	DeliveryDetail *DeliveryDetail `json:"delivery_detail"`
}

// relatedUUID returns the uuid of the first related entity of the type
// (e.g. "return_order"), "" when there is none.
func (r OrderResponse) relatedUUID(typ string) string {
	for _, e := range r.RelatedEntities {
		if strings.EqualFold(e.Type, typ) && e.UUID != "" {
			return e.UUID
		}
	}
	return ""
}

// LatestStatus returns the active status with the greatest date_time (CDEK
// lists them newest first, but the order is not promised, so the position
// in the array is never used). Statuses CDEK revoked (deleted: true, «статус
// удалён»; only final ones such as DELIVERED or NOT_DELIVERED can be) are
// skipped: the order is wherever its newest live status puts it. Statuses
// with the same time are told apart by how far along they are (ACCEPTED,
// CREATED, movement, final). ok is false when the order has no active
// status.
func (o Order) LatestStatus() (OrderStatus, bool) {
	var best OrderStatus
	found := false
	for _, s := range o.Statuses {
		if s.Deleted {
			continue
		}
		if !found || s.DateTime.After(best.DateTime.Time) || (s.DateTime.Equal(best.DateTime.Time) && orderStatusRank(s.Code) > orderStatusRank(best.Code)) {
			best, found = s, true
		}
	}
	return best, found
}

func orderStatusRank(code string) int {
	switch strings.ToUpper(code) {
	case "ACCEPTED":
		return 0
	case "CREATED":
		return 1
	case "DELIVERED", "NOT_DELIVERED", "REMOVED", "INVALID", "POSTOMAT_RECEIVED":
		return 3
	}
	return 2
}

// OrderResponse is the answer of GET /v2/orders/{uuid} and of the lookups
// by number.
type OrderResponse struct {
	Entity          *Order          `json:"entity,omitempty"`
	Requests        []Request       `json:"requests"`
	RelatedEntities []RelatedEntity `json:"related_entities"`
}

// LatestRequest returns the most recent request of the given type (e.g.
// "CREATE", "DELETE") by date_time, not by position; of two with the same
// time the later entry wins. ok is false when there is none.
func LatestRequest(reqs []Request, typ string) (Request, bool) {
	var best Request
	found := false
	for _, r := range reqs {
		if !strings.EqualFold(r.Type, typ) {
			continue
		}
		if !found || !r.DateTime.Before(best.DateTime.Time) {
			best, found = r, true
		}
	}
	return best, found
}

// PrintOrder names one order in a print request: by uuid or CDEK number.
type PrintOrder struct {
	OrderUUID  string `json:"order_uuid,omitempty"`
	CDEKNumber String `json:"cdek_number,omitempty"`
}

// PrintRequest is the body of POST /v2/print/orders.
type PrintRequest struct {
	Orders    []PrintOrder `json:"orders"`
	CopyCount int          `json:"copy_count,omitempty"`
	Type      string       `json:"type,omitempty"`
}

// PrintStatus is one status of a print form: ACCEPTED, PROCESSING, READY,
// INVALID or REMOVED.
type PrintStatus struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	DateTime Time   `json:"date_time"`
}

// PrintForm is a waybill or barcode print form.
type PrintForm struct {
	UUID      string        `json:"uuid"`
	Orders    []PrintOrder  `json:"orders"`
	CopyCount Int           `json:"copy_count"`
	Type      string        `json:"type,omitempty"`
	Format    string        `json:"format,omitempty"`
	Lang      string        `json:"lang,omitempty"`
	URL       string        `json:"url,omitempty"`
	Statuses  []PrintStatus `json:"statuses"`
}

// LatestStatus returns the print form's most recent status code by
// date_time ("" when there is none). Statuses with the same time (CDEK
// writes ACCEPTED and PROCESSING in the same second, sample
// print_orders_get_ready_200.json) are told apart by their order in
// «Приложение 10»: ACCEPTED, PROCESSING, READY, INVALID, REMOVED.
func (p PrintForm) LatestStatus() string {
	var best PrintStatus
	for i, s := range p.Statuses {
		if i == 0 || s.DateTime.After(best.DateTime.Time) || (s.DateTime.Equal(best.DateTime.Time) && printStatusRank(s.Code) > printStatusRank(best.Code)) {
			best = s
		}
	}
	return best.Code
}

func printStatusRank(code string) int {
	switch strings.ToUpper(code) {
	case "ACCEPTED":
		return 0
	case "PROCESSING":
		return 1
	case "READY":
		return 2
	case "INVALID":
		return 3
	case "REMOVED":
		return 4
	}
	return -1
}

// PrintResponse is the answer of GET /v2/print/orders/{uuid}.
type PrintResponse struct {
	Entity          *PrintForm      `json:"entity,omitempty"`
	Requests        []Request       `json:"requests"`
	RelatedEntities []RelatedEntity `json:"related_entities"`
}

// TokenResponse is the body of a successful POST /v2/oauth/token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   Int    `json:"expires_in"`
	Scope       string `json:"scope"`
	JTI         string `json:"jti"`
}

// String hides the token.
func (t TokenResponse) String() string {
	return fmt.Sprintf("TokenResponse{type=%s expires_in=%d scope=%q token=[redacted]}", t.TokenType, t.ExpiresIn, t.Scope)
}

// WebhookEvent is a webhook delivery (ORDER_STATUS, PRINT_FORM, ...).
type WebhookEvent struct {
	Type       string            `json:"type"`
	DateTime   Time              `json:"date_time"`
	UUID       string            `json:"uuid"`
	Attributes WebhookAttributes `json:"attributes"`
}

// WebhookAttributes holds the attributes of the ORDER_STATUS and
// PRINT_FORM webhooks.
type WebhookAttributes struct {
	IsReturn       bool   `json:"is_return"`
	IsReverse      bool   `json:"is_reverse"`
	IsClientReturn bool   `json:"is_client_return"`
	CDEKNumber     String `json:"cdek_number"`
	Number         string `json:"number"`
	Code           string `json:"code"`
	StatusCode     String `json:"status_code"`
	StatusDateTime Time   `json:"status_date_time"`
	CityName       string `json:"city_name"`
	CityCode       String `json:"city_code"`
	Deleted        bool   `json:"deleted"`
	// Type and URL are set for PRINT_FORM.
	Type string `json:"type"`
	URL  string `json:"url"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
