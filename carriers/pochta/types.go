package pochta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Int is an integer that «Отправка» writes as a JSON number in one answer and
// as a string in another (index-to is an int in create but a string in the
// calculator; last-oper-type is a string enum in one schema and an int in
// another — reference §2.8, §2.12 item 6). It decodes from a number, a
// numeric string or null; a non-numeric string decodes as 0 so one odd field
// cannot spoil a whole answer. It encodes as a JSON number.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	s := string(b)
	quoted := b[0] == '"'
	if quoted {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	if s == "" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > -9.2e18 && f < 9.2e18 {
		*n = Int(f)
		return nil
	}
	if quoted || s == "true" || s == "false" {
		*n = 0
		return nil
	}
	return fmt.Errorf("pochta: cannot decode %s as an integer", truncate(s, 40))
}

// String is text that may arrive as a JSON string, number or boolean
// (barcode, batch-name, last-oper-attr, tel-address: the schemas disagree).
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
		return fmt.Errorf("pochta: cannot decode %s as a string", truncate(string(b), 40))
	}
	return nil
}

// Bool is a flag that may arrive as true/false, 0/1 or "true"/"false"
// (sms-notice-recipient is a bool in one SDK and an int on the wire).
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *Bool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	switch strings.ToLower(s) {
	case "true", "1":
		*v = true
	default:
		*v = false
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Dimension is a parcel's size in centimetres.
type Dimension struct {
	Length int `json:"length"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

// GoodsItem is one line of the order's contents (goods.items[]): value and
// insr-value in kopecks per unit ([SPEC-T] create-order-v2 schema).
type GoodsItem struct {
	Description string `json:"description"`
	Quantity    int    `json:"quantity"`
	Value       int64  `json:"value"`
	InsrValue   int64  `json:"insr-value,omitempty"`
	ItemNumber  string `json:"item-number,omitempty"`
	// VATRate is -1 for "без НДС", else the percentage; nil leaves it out.
	VATRate   *int   `json:"vat-rate,omitempty"`
	GoodsType string `json:"goods-type,omitempty"`
}

// Goods is the order's contents.
type Goods struct {
	Items []GoodsItem `json:"items"`
}

// OrderRequest is one element of the PUT /2.0/user/backlog body (reference
// §2.3.1, [SPEC-T] create-order-v2 schema; wire names as sent by [PSDK]'s
// CreateTestOrder). Money in kopecks, mass in grams, sizes in cm.
type OrderRequest struct {
	OrderNum       string     `json:"order-num"`
	MailType       string     `json:"mail-type"`
	MailCategory   string     `json:"mail-category"`
	MailDirect     int        `json:"mail-direct"`
	Mass           int        `json:"mass"`
	Dimension      *Dimension `json:"dimension,omitempty"`
	AddressTypeTo  string     `json:"address-type-to"`
	IndexTo        int        `json:"index-to,omitempty"`
	RegionTo       string     `json:"region-to,omitempty"`
	AreaTo         string     `json:"area-to,omitempty"`
	PlaceTo        string     `json:"place-to,omitempty"`
	StreetTo       string     `json:"street-to,omitempty"`
	HouseTo        string     `json:"house-to,omitempty"`
	CorpusTo       string     `json:"corpus-to,omitempty"`
	BuildingTo     string     `json:"building-to,omitempty"`
	RoomTo         string     `json:"room-to,omitempty"`
	RecipientName  string     `json:"recipient-name"`
	Surname        string     `json:"surname"`
	GivenName      string     `json:"given-name"`
	MiddleName     string     `json:"middle-name,omitempty"`
	TelAddress     int64      `json:"tel-address,omitempty"`
	PostofficeCode string     `json:"postoffice-code"`
	Fragile        bool       `json:"fragile"`
	InsrValue      int64      `json:"insr-value,omitempty"`
	Payment        int64      `json:"payment,omitempty"`
	Comment        string     `json:"comment,omitempty"`
	Goods          *Goods     `json:"goods,omitempty"`
}

// CreatedOrder is one element of the create v2 answer's orders array
// (sample order_create_v2_200.reconstructed.json).
type CreatedOrder struct {
	ResultID  Int    `json:"result-id"`
	Barcode   String `json:"barcode"`
	OrderNum  String `json:"order-num"`
	GroupName String `json:"group-name"`
	// Position is not in the sample; kept in case Pochta numbers the
	// created orders like the rejected ones.
	Position *Int `json:"position"`
}

// CreateResponse is the answer of PUT /2.0/user/backlog: created orders
// and, inside the same HTTP 200, per-position errors (envelope A).
type CreateResponse struct {
	Orders []CreatedOrder
	Errors []PositionErrors
}

// PositionErrors are the errors of one input position.
type PositionErrors struct {
	Position int
	Items    []ErrorItem
}

// Order is an order as the searches and lookups return it (samples
// backlog_search_200 and shipment_search_200; [SPEC-T]
// search-order-with-track schema for the last-oper fields).
type Order struct {
	ID             Int    `json:"id"`
	Barcode        String `json:"barcode"`
	OrderNum       String `json:"order-num"`
	IsDeleted      Bool   `json:"is-deleted"`
	MailType       String `json:"mail-type"`
	MailCategory   String `json:"mail-category"`
	Mass           Int    `json:"mass"`
	IndexTo        Int    `json:"index-to"`
	RegionTo       String `json:"region-to"`
	PlaceTo        String `json:"place-to"`
	StreetTo       String `json:"street-to"`
	HouseTo        String `json:"house-to"`
	RoomTo         String `json:"room-to"`
	RecipientName  String `json:"recipient-name"`
	Surname        String `json:"surname"`
	GivenName      String `json:"given-name"`
	MiddleName     String `json:"middle-name"`
	TelAddress     String `json:"tel-address"`
	PostofficeCode String `json:"postoffice-code"`
	Comment        String `json:"comment"`
	InsrValue      Int    `json:"insr-value"`
	Payment        Int    `json:"payment"`
	TotalRateWoVAT Int    `json:"total-rate-wo-vat"`
	TotalVAT       Int    `json:"total-vat"`
	// Batch fields, present for orders inside a batch.
	BatchName     String `json:"batch-name"`
	BatchStatus   String `json:"batch-status"`
	BatchCategory String `json:"batch-category"`
	// Tracking fields, present once the parcel has operations (§2.8).
	LastOperType       String `json:"last-oper-type"`
	LastOperAttr       String `json:"last-oper-attr"`
	LastOperDate       String `json:"last-oper-date"`
	HumanOperationName String `json:"human-operation-name"`
}

// Batch is a партия (sample batch_create_200.reconstructed.json).
type Batch struct {
	Name                   String   `json:"batch-name"`
	Status                 String   `json:"batch-status"`
	StatusDate             String   `json:"batch-status-date"`
	ListNumberDate         String   `json:"list-number-date"`
	MailType               String   `json:"mail-type"`
	MailCategory           String   `json:"mail-category"`
	CombinedBatchMailTypes []String `json:"combined-batch-mail-types"`
	PostofficeCode         String   `json:"postoffice-code"`
	ShipmentCount          Int      `json:"shipment-count"`
}

// BatchResponse is the answer of POST /1.0/user/shipment and POST
// /1.0/batch/{name}/shipment: batches, moved ids and per-position errors
// (envelope B).
type BatchResponse struct {
	Batches   []Batch
	ResultIDs []int64
	Errors    []ErrorItem
}

// ResultResponse is the answer of the delete calls: deleted ids and
// per-position errors (envelope B).
type ResultResponse struct {
	ResultIDs []int64
	Errors    []ErrorItem
}

// CleanAddress is one answer of POST /1.0/clean/address ([PSDK]
// AddressClean.cs / Address.cs; reference §2.12 item 4).
type CleanAddress struct {
	ID              String `json:"id"`
	OriginalAddress String `json:"original-address"`
	AddressType     String `json:"address-type"`
	Index           String `json:"index"`
	Region          String `json:"region"`
	Area            String `json:"area"`
	Place           String `json:"place"`
	Location        String `json:"location"`
	Street          String `json:"street"`
	House           String `json:"house"`
	Corpus          String `json:"corpus"`
	Building        String `json:"building"`
	Letter          String `json:"letter"`
	Slash           String `json:"slash"`
	Room            String `json:"room"`
	QualityCode     String `json:"quality-code"`
	ValidationCode  String `json:"validation-code"`
}

// Good reports whether Pochta rates the address good enough to send a
// parcel to without a human looking at it: quality GOOD and validation
// VALIDATED, CONFIRMED_MANUALLY or OVERRIDDEN (reference §2.12 item 4).
func (a CleanAddress) Good() bool {
	if strings.ToUpper(string(a.QualityCode)) != "GOOD" {
		return false
	}
	switch strings.ToUpper(string(a.ValidationCode)) {
	case "VALIDATED", "CONFIRMED_MANUALLY", "OVERRIDDEN":
		return true
	}
	return false
}

// Limit is the account's request quota (GET /1.0/settings/limit, [PSDK]
// ApiLimit / GetApiLimit; [SPEC-T] settings-limit schema).
type Limit struct {
	AllowedCount Int `json:"allowed-count"`
	CurrentCount Int `json:"current-count"`
}

// Product is a mail type and category a shipping point accepts.
type Product struct {
	MailType     String `json:"mail-type"`
	MailCategory String `json:"mail-category"`
	ProductType  String `json:"product-type"`
}

// ShippingPoint is one of the account's acceptance offices (GET
// /1.0/user-shipping-points; [PSDK] ShippingPoint: available-mail-types,
// available-products; a public Joomla plugin reads user-available-* names,
// so both spellings are accepted).
type ShippingPoint struct {
	OperatorPostcode       String    `json:"operator-postcode"`
	Enabled                *Bool     `json:"enabled"`
	OpsAddress             String    `json:"ops-address"`
	AvailableMailTypes     []String  `json:"available-mail-types"`
	AvailableProducts      []Product `json:"available-products"`
	UserAvailableMailTypes []String  `json:"user-available-mail-types"`
	UserAvailableProducts  []Product `json:"user-available-products"`
}

// Accepts reports whether the point lists the mail type (in either
// spelling of the lists). A point that lists no mail types at all is taken
// to accept every type: the lists are undocumented.
func (p ShippingPoint) Accepts(mailType string) bool {
	listed := false
	for _, lst := range [][]String{p.AvailableMailTypes, p.UserAvailableMailTypes} {
		for _, t := range lst {
			listed = true
			if strings.EqualFold(string(t), mailType) {
				return true
			}
		}
	}
	for _, lst := range [][]Product{p.AvailableProducts, p.UserAvailableProducts} {
		for _, pr := range lst {
			listed = true
			if strings.EqualFold(string(pr.MailType), mailType) {
				return true
			}
		}
	}
	return !listed
}

// IsEnabled reports whether the point is enabled (absent means enabled).
func (p ShippingPoint) IsEnabled() bool { return p.Enabled == nil || bool(*p.Enabled) }

// MailTypes lists the mail types the point names in any of its lists,
// each once, in the order first seen.
func (p ShippingPoint) MailTypes() []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		t = strings.ToUpper(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, lst := range [][]String{p.AvailableMailTypes, p.UserAvailableMailTypes} {
		for _, t := range lst {
			add(string(t))
		}
	}
	for _, lst := range [][]Product{p.AvailableProducts, p.UserAvailableProducts} {
		for _, pr := range lst {
			add(string(pr.MailType))
		}
	}
	return out
}

// CleanName is one answer of POST /1.0/clean/physical, Pochta's FIO
// normalisation ([PSDK] FullName.cs; quality EDITED, CONFIRMED_MANUALLY or
// NOT_SURE — NOT_SURE for most real names, reference §2.12 item 4).
type CleanName struct {
	ID          String `json:"id"`
	OriginalFIO String `json:"original-fio"`
	Surname     String `json:"surname"`
	Name        String `json:"name"`
	MiddleName  String `json:"middle-name"`
	QualityCode String `json:"quality-code"`
}
