package moysklad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Meta is MoySklad's reference object: every entity, nested collection and
// list envelope carries one.
type Meta struct {
	Href         string `json:"href,omitempty"`
	MetadataHref string `json:"metadataHref,omitempty"`
	Type         string `json:"type,omitempty"`
	MediaType    string `json:"mediaType,omitempty"`
	UUIDHref     string `json:"uuidHref,omitempty"`
	DownloadHref string `json:"downloadHref,omitempty"`
	Size         int    `json:"size,omitempty"`
	Limit        int    `json:"limit,omitempty"`
	Offset       int    `json:"offset,omitempty"`
	NextHref     string `json:"nextHref,omitempty"`
	PreviousHref string `json:"previousHref,omitempty"`
}

// ID returns the last path segment of Href (the entity id), ignoring any
// query string MoySklad may append.
func (m Meta) ID() string {
	h := m.Href
	if i := strings.IndexAny(h, "?#"); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimRight(h, "/")
	if i := strings.LastIndexByte(h, '/'); i >= 0 {
		return h[i+1:]
	}
	return h
}

// ref returns a minimal copy of m suitable for a request body.
func (m Meta) ref(typ string) Meta {
	r := Meta{Href: m.Href, Type: m.Type, MediaType: "application/json"}
	if r.Type == "" {
		r.Type = typ
	}
	return r
}

// State is a status of a customer order (an entry of metadata.states).
type State struct {
	Meta       Meta   `json:"meta"`
	ID         string `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	Color      int    `json:"color,omitempty"`
	StateType  string `json:"stateType,omitempty"`
	EntityType string `json:"entityType,omitempty"`
}

// AttributeDef describes a custom attribute (доп. поле) of customer orders.
type AttributeDef struct {
	Meta             Meta   `json:"meta"`
	ID               string `json:"id,omitempty"`
	Name             string `json:"name"`
	Type             string `json:"type"`
	Description      string `json:"description,omitempty"`
	Required         bool   `json:"required"`
	Show             bool   `json:"show"`
	CustomEntityMeta *Meta  `json:"customEntityMeta,omitempty"`
}

// Metadata is the answer of GET /entity/customerorder/metadata: the order
// statuses and custom attribute definitions of the account.
//
// The official schema (DocumentMetadata) gives attributes as an
// AttributeMetaInfoList: a collection reference {"meta":{…,"size":N}},
// with "rows" only when expanded; the customerorder doc page shows an
// inline array. All three shapes decode; Client.OrderMetadata completes a
// reference or a short collection from /metadata/attributes, so that
// Attributes is always the full list there.
type Metadata struct {
	Meta       Meta           `json:"meta"`
	States     []State        `json:"states"`
	Attributes []AttributeDef `json:"attributes"`
	// AttributesCollection is the collection meta when the answer gave
	// the attributes as a collection (reference or with rows); nil for an
	// inline array or no attributes field.
	AttributesCollection *Meta `json:"-"`

	attrShape attrShape
}

// attrShape records how the attributes arrived.
type attrShape int

const (
	attrsAbsent     attrShape = iota // no "attributes" field (or null)
	attrsInline                      // an array: the doc page's example
	attrsCollection                  // {"meta":…} with or without "rows": the schema
)

// AttributesComplete reports whether Attributes is known to be the full
// list: an inline array, or a collection whose rows cover its size.
func (md Metadata) AttributesComplete() bool {
	switch md.attrShape {
	case attrsInline:
		return true
	case attrsCollection:
		return md.Attributes != nil && md.AttributesCollection != nil && len(md.Attributes) >= md.AttributesCollection.Size
	}
	return false
}

// decodeAttributeDefs reads "attributes" in any of its three shapes.
func decodeAttributeDefs(raw json.RawMessage) ([]AttributeDef, *Meta, attrShape, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil, nil, attrsAbsent, nil
	}
	switch v[0] {
	case '[':
		var defs []AttributeDef
		if err := json.Unmarshal(v, &defs); err != nil {
			return nil, nil, attrsAbsent, err
		}
		return defs, nil, attrsInline, nil
	case '{':
		var coll struct {
			Meta Meta           `json:"meta"`
			Rows []AttributeDef `json:"rows"`
		}
		if err := json.Unmarshal(v, &coll); err != nil {
			return nil, nil, attrsAbsent, err
		}
		m := coll.Meta
		return coll.Rows, &m, attrsCollection, nil
	}
	return nil, nil, attrsAbsent, fmt.Errorf("moysklad: metadata attributes: neither an array nor a collection: %.40q", v)
}

// UnmarshalJSON decodes the metadata (attributes as an inline array, a
// collection reference or a collection with rows) and fills ids missing
// from the body from the hrefs.
func (md *Metadata) UnmarshalJSON(b []byte) error {
	var w struct {
		Meta       Meta            `json:"meta"`
		States     []State         `json:"states"`
		Attributes json.RawMessage `json:"attributes"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	defs, coll, shape, err := decodeAttributeDefs(w.Attributes)
	if err != nil {
		return err
	}
	*md = Metadata{Meta: w.Meta, States: w.States, Attributes: defs, AttributesCollection: coll, attrShape: shape}
	md.fillIDs()
	return nil
}

// fillIDs sets missing ids from the hrefs (the documentation's metadata
// example omits attribute ids).
func (md *Metadata) fillIDs() {
	for i := range md.States {
		if md.States[i].ID == "" {
			md.States[i].ID = md.States[i].Meta.ID()
		}
	}
	for i := range md.Attributes {
		if md.Attributes[i].ID == "" {
			md.Attributes[i].ID = md.Attributes[i].Meta.ID()
		}
	}
}

// StateByName returns the state with the given name (exact match).
func (md Metadata) StateByName(name string) (State, bool) {
	for _, s := range md.States {
		if s.Name == name {
			return s, true
		}
	}
	return State{}, false
}

// AttributeByName returns the attribute definition with the given name (exact match).
func (md Metadata) AttributeByName(name string) (AttributeDef, bool) {
	for _, a := range md.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return AttributeDef{}, false
}

// Attribute is the value of a custom attribute on an entity. Value holds the
// raw JSON; use the typed accessors to read it.
type Attribute struct {
	Meta     Meta            `json:"meta"`
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name,omitempty"`
	Type     string          `json:"type,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
	Download *Meta           `json:"download,omitempty"`
}

func (a Attribute) isNull() bool {
	v := bytes.TrimSpace(a.Value)
	return len(v) == 0 || bytes.Equal(v, []byte("null"))
}

// String returns the value as text: the string of a string, text, link or
// time attribute, the file name of a file attribute, and the name of the
// referenced element of a dictionary (customentity, counterparty, …)
// attribute. Numbers and booleans are formatted. ok is false when there is no value.
func (a Attribute) String() (string, bool) {
	if a.isNull() {
		return "", false
	}
	var s string
	if err := json.Unmarshal(a.Value, &s); err == nil {
		return s, true
	}
	var ref struct {
		Name string `json:"name"`
		Meta *Meta  `json:"meta"`
	}
	if err := json.Unmarshal(a.Value, &ref); err == nil && (ref.Meta != nil || ref.Name != "") {
		return ref.Name, true
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(a.Value))
	d.UseNumber()
	if err := d.Decode(&n); err == nil {
		return n.String(), true
	}
	var b bool
	if err := json.Unmarshal(a.Value, &b); err == nil {
		return strconv.FormatBool(b), true
	}
	return "", false
}

// Ref returns the meta of the referenced element of a dictionary attribute
// (customentity and other entity types).
func (a Attribute) Ref() (Meta, bool) {
	if a.isNull() {
		return Meta{}, false
	}
	var ref struct {
		Meta *Meta `json:"meta"`
	}
	if err := json.Unmarshal(a.Value, &ref); err != nil || ref.Meta == nil {
		return Meta{}, false
	}
	return *ref.Meta, true
}

// Int returns the value of a long attribute. A double with an integral value
// and a string holding an integer are accepted too.
func (a Attribute) Int() (int64, bool) {
	if a.isNull() {
		return 0, false
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(a.Value))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		var s string
		if json.Unmarshal(a.Value, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// Float returns the value of a double or long attribute.
func (a Attribute) Float() (float64, bool) {
	if a.isNull() {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(a.Value, &f); err != nil {
		return 0, false
	}
	return f, true
}

// Bool returns the value of a boolean attribute.
func (a Attribute) Bool() (bool, bool) {
	if a.isNull() {
		return false, false
	}
	var b bool
	if err := json.Unmarshal(a.Value, &b); err != nil {
		return false, false
	}
	return b, true
}

// FileName returns the file name of a file attribute ("" when none is attached).
func (a Attribute) FileName() string {
	if a.Type != "" && a.Type != "file" {
		return ""
	}
	var s string
	if a.isNull() || json.Unmarshal(a.Value, &s) != nil {
		return ""
	}
	return s
}

// Counterparty is the order's agent (buyer).
type Counterparty struct {
	Meta          Meta   `json:"meta"`
	ID            string `json:"id,omitempty"`
	Name          string `json:"name,omitempty"`
	LegalTitle    string `json:"legalTitle,omitempty"`
	Phone         string `json:"phone,omitempty"`
	Email         string `json:"email,omitempty"`
	CompanyType   string `json:"companyType,omitempty"`
	ActualAddress string `json:"actualAddress,omitempty"`
}

// Assortment is the product, service, bundle, variant or consignment of a
// position (Meta.Type, also Type(), tells which). Weight and Volume are in
// the account's units.
//
// In orders returned by ListOrders, ListOrdersPages and GetOrder, Weight is
// the effective weight of one unit (PRODUCT.md rule 12): a product's own;
// a variant's product's (variants have no weight field); a bundle's own,
// else Σ component weight × component quantity; a consignment's
// assortment's; 0 for a service. Elsewhere it is the weight field as
// MoySklad sent it.
type Assortment struct {
	Meta    Meta    `json:"meta"`
	ID      string  `json:"id,omitempty"`
	Name    string  `json:"name,omitempty"`
	Code    string  `json:"code,omitempty"`
	Article string  `json:"article,omitempty"`
	Weight  float64 `json:"weight,omitempty"`
	Volume  float64 `json:"volume,omitempty"`
	// Product is a variant's product: a meta reference, or the product
	// when expanded (schema Variant.product).
	Product *Assortment `json:"product,omitempty"`
	// Components is a bundle's components collection (schema
	// Bundle.components, a BundleComponentList); rows only when present.
	Components *BundleComponents `json:"components,omitempty"`
	// Of is a consignment's assortment (schema Consignment.assortment).
	Of *Assortment `json:"assortment,omitempty"`
	// WeightUnknown is set, with Weight 0, when the client could not learn
	// the effective weight because MoySklad refused a lookup for good (not
	// part of the API's JSON).
	WeightUnknown string `json:"-"`
}

// Type returns the assortment type: product, service, variant, bundle or
// consignment. A service position is not goods (e.g. «Доставка»).
func (a Assortment) Type() string { return a.Meta.Type }

// expanded reports whether the assortment carries its fields, not just a
// reference (every assortment entity has a name).
func (a Assortment) expanded() bool { return a.Name != "" }

// BundleComponents is the components collection of a bundle.
type BundleComponents struct {
	Meta Meta              `json:"meta"`
	Rows []BundleComponent `json:"rows,omitempty"`
}

// BundleComponent is one component of a bundle: Quantity units of Assortment
// (a product, service or variant; never a bundle).
type BundleComponent struct {
	Meta       Meta       `json:"meta"`
	ID         string     `json:"id,omitempty"`
	Quantity   float64    `json:"quantity"`
	Assortment Assortment `json:"assortment"`
}

// Position is a line of a customer order (schema CustomerOrderPosition).
// Price is in kopecks per unit before Discount (percent; negative is a
// markup); VAT is the rate in percent, meaningful when VATEnabled.
type Position struct {
	Meta       Meta       `json:"meta"`
	ID         string     `json:"id,omitempty"`
	Quantity   float64    `json:"quantity"`
	Price      int64      `json:"price"`
	Discount   float64    `json:"discount"`
	VAT        int        `json:"vat"`
	VATEnabled bool       `json:"vatEnabled"` // false with vat 0: "без НДС" (official schema)
	Assortment Assortment `json:"assortment"`
}

// UnmarshalJSON decodes a position; price arrives as a float number of kopecks.
func (p *Position) UnmarshalJSON(b []byte) error {
	type plain Position
	var w struct {
		plain
		Price float64 `json:"price"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Position(w.plain)
	p.Price = kopecks(w.Price)
	return nil
}

func kopecks(f float64) int64 { return int64(math.Round(f)) }

// Address is the structured shipment address (shipmentAddressFull).
// MoySklad gives its country and region as bare references (meta only,
// «Метаданные страны» / «Метаданные региона» in the customerorder docs):
// their hrefs are in CountryMeta / RegionMeta, and Country, CountryCode,
// CountryExternalCode, Region and RegionCode stay empty until
// Client.ResolveAddress reads the entities (or MoySklad sent them
// expanded).
type Address struct {
	PostalCode  string
	City        string
	Street      string
	House       string
	Apartment   string
	AddInfo     string
	Comment     string
	Country     string
	Region      string
	CountryMeta *Meta
	RegionMeta  *Meta
	// CountryCode and CountryExternalCode are the country entity's code and
	// externalCode (for MoySklad's built-in countries the ISO 3166 numeric
	// code, e.g. "643"); RegionCode is the region's code (e.g. "77").
	CountryCode         string
	CountryExternalCode string
	RegionCode          string
}

// Unresolved reports whether the address refers to a country or region
// whose name is not known yet (Client.ResolveAddress reads them).
func (a *Address) Unresolved() bool {
	if a == nil {
		return false
	}
	return (a.CountryMeta != nil && a.CountryMeta.Href != "" && a.Country == "" && a.CountryCode == "" && a.CountryExternalCode == "") ||
		(a.RegionMeta != nil && a.RegionMeta.Href != "" && a.Region == "")
}

type namedRef struct {
	Meta Meta   `json:"meta"`
	Name string `json:"name,omitempty"`
	// Code and ExternalCode are read when MoySklad sends the entity
	// expanded; never written.
	Code         string `json:"code,omitempty"`
	ExternalCode string `json:"externalCode,omitempty"`
}

type addressWire struct {
	PostalCode string    `json:"postalCode,omitempty"`
	Country    *namedRef `json:"country,omitempty"`
	Region     *namedRef `json:"region,omitempty"`
	City       string    `json:"city,omitempty"`
	Street     string    `json:"street,omitempty"`
	House      string    `json:"house,omitempty"`
	Apartment  string    `json:"apartment,omitempty"`
	AddInfo    string    `json:"addInfo,omitempty"`
	Comment    string    `json:"comment,omitempty"`
}

// UnmarshalJSON decodes shipmentAddressFull.
func (a *Address) UnmarshalJSON(b []byte) error {
	var w addressWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = Address{PostalCode: w.PostalCode, City: w.City, Street: w.Street, House: w.House,
		Apartment: w.Apartment, AddInfo: w.AddInfo, Comment: w.Comment}
	if w.Country != nil {
		a.Country, a.CountryCode, a.CountryExternalCode = w.Country.Name, w.Country.Code, w.Country.ExternalCode
		m := w.Country.Meta
		a.CountryMeta = &m
	}
	if w.Region != nil {
		a.Region, a.RegionCode = w.Region.Name, w.Region.Code
		m := w.Region.Meta
		a.RegionMeta = &m
	}
	return nil
}

// MarshalJSON encodes the address in MoySklad's shape.
func (a Address) MarshalJSON() ([]byte, error) {
	w := addressWire{PostalCode: a.PostalCode, City: a.City, Street: a.Street, House: a.House,
		Apartment: a.Apartment, AddInfo: a.AddInfo, Comment: a.Comment}
	if a.CountryMeta != nil || a.Country != "" {
		w.Country = &namedRef{Name: a.Country}
		if a.CountryMeta != nil {
			w.Country.Meta = *a.CountryMeta
		}
	}
	if a.RegionMeta != nil || a.Region != "" {
		w.Region = &namedRef{Name: a.Region}
		if a.RegionMeta != nil {
			w.Region.Meta = *a.RegionMeta
		}
	}
	return json.Marshal(w)
}

// Order is a MoySklad customer order (customerorder) with the fields
// shipbridge needs. Money is in kopecks.
type Order struct {
	Meta         Meta
	ID           string
	Name         string
	Description  string
	ExternalCode string
	Updated      Moment
	Moment       Moment
	Sum          int64
	PayedSum     int64
	// VATEnabled tells whether the order accounts VAT at all; VATIncluded
	// whether its prices include VAT (false: VAT is added on top of them,
	// and Sum includes it). Official schema: customerorder vatEnabled,
	// vatIncluded.
	VATEnabled  bool
	VATIncluded bool
	// State always has Meta; Name etc. when expanded.
	State State
	// Agent always has Meta; the other fields when expanded.
	Agent Counterparty
	// Positions are the expanded rows; PositionsTotal is positions.meta.size.
	Positions           []Position
	PositionsTotal      int
	PositionsMeta       Meta
	ShipmentAddress     string
	ShipmentAddressFull *Address
	Attributes          []Attribute
}

type positionsWire struct {
	Meta Meta       `json:"meta"`
	Rows []Position `json:"rows,omitempty"`
}

type orderWire struct {
	Meta                Meta          `json:"meta"`
	ID                  string        `json:"id"`
	Name                string        `json:"name"`
	Description         string        `json:"description,omitempty"`
	ExternalCode        string        `json:"externalCode,omitempty"`
	Updated             Moment        `json:"updated"`
	Moment              Moment        `json:"moment"`
	Sum                 float64       `json:"sum"`
	PayedSum            float64       `json:"payedSum"`
	VATEnabled          bool          `json:"vatEnabled"`
	VATIncluded         bool          `json:"vatIncluded"`
	State               *State        `json:"state,omitempty"`
	Agent               *Counterparty `json:"agent,omitempty"`
	Positions           positionsWire `json:"positions"`
	ShipmentAddress     string        `json:"shipmentAddress,omitempty"`
	ShipmentAddressFull *Address      `json:"shipmentAddressFull,omitempty"`
	Attributes          []Attribute   `json:"attributes,omitempty"`
}

// UnmarshalJSON decodes a customerorder in MoySklad's JSON shape.
func (o *Order) UnmarshalJSON(b []byte) error {
	var w orderWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("moysklad: decode customerorder: %w", err)
	}
	*o = Order{Meta: w.Meta, ID: w.ID, Name: w.Name, Description: w.Description,
		ExternalCode: w.ExternalCode, Updated: w.Updated, Moment: w.Moment,
		Sum: kopecks(w.Sum), PayedSum: kopecks(w.PayedSum), VATEnabled: w.VATEnabled, VATIncluded: w.VATIncluded,
		Positions: w.Positions.Rows, PositionsTotal: w.Positions.Meta.Size, PositionsMeta: w.Positions.Meta,
		ShipmentAddress: w.ShipmentAddress, ShipmentAddressFull: w.ShipmentAddressFull, Attributes: w.Attributes}
	if o.ID == "" {
		o.ID = o.Meta.ID()
	}
	if w.State != nil {
		o.State = *w.State
		if o.State.ID == "" {
			o.State.ID = o.State.Meta.ID()
		}
	}
	if w.Agent != nil {
		o.Agent = *w.Agent
		if o.Agent.ID == "" {
			o.Agent.ID = o.Agent.Meta.ID()
		}
	}
	for i := range o.Positions {
		a := &o.Positions[i].Assortment
		if a.ID == "" {
			a.ID = a.Meta.ID()
		}
	}
	if o.PositionsTotal < len(o.Positions) {
		o.PositionsTotal = len(o.Positions)
	}
	return nil
}

// MarshalJSON encodes the order in MoySklad's JSON shape, so that an Order
// survives a JSON round trip (e.g. when stored in history).
func (o Order) MarshalJSON() ([]byte, error) {
	w := orderWire{Meta: o.Meta, ID: o.ID, Name: o.Name, Description: o.Description,
		ExternalCode: o.ExternalCode, Updated: o.Updated, Moment: o.Moment,
		Sum: float64(o.Sum), PayedSum: float64(o.PayedSum), VATEnabled: o.VATEnabled, VATIncluded: o.VATIncluded,
		ShipmentAddress: o.ShipmentAddress, ShipmentAddressFull: o.ShipmentAddressFull, Attributes: o.Attributes}
	if o.State.Meta.Href != "" || o.State.ID != "" {
		s := o.State
		w.State = &s
	}
	if o.Agent.Meta.Href != "" || o.Agent.ID != "" {
		a := o.Agent
		w.Agent = &a
	}
	w.Positions.Meta = o.PositionsMeta
	w.Positions.Meta.Size = o.PositionsTotal
	w.Positions.Rows = o.Positions
	return json.Marshal(w)
}

// Attribute returns the order's value of the attribute with the given id.
func (o Order) Attribute(id string) (Attribute, bool) {
	for _, a := range o.Attributes {
		if a.ID == id || a.Meta.ID() == id {
			return a, true
		}
	}
	return Attribute{}, false
}

// AttributeByName returns the order's value of the attribute with the given name.
func (o Order) AttributeByName(name string) (Attribute, bool) {
	for _, a := range o.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}
