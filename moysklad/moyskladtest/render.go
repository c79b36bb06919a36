package moyskladtest

import (
	"strings"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

const appURL = "https://online.moysklad.ru/app/#"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(moysklad.Moscow).Format("2006-01-02 15:04:05.000")
}

type metaJSON struct {
	Href         string `json:"href"`
	MetadataHref string `json:"metadataHref,omitempty"`
	Type         string `json:"type,omitempty"`
	MediaType    string `json:"mediaType,omitempty"`
	UUIDHref     string `json:"uuidHref,omitempty"`
	DownloadHref string `json:"downloadHref,omitempty"`
	Size         *int   `json:"size,omitempty"`
	Limit        *int   `json:"limit,omitempty"`
	Offset       *int   `json:"offset,omitempty"`
	NextHref     string `json:"nextHref,omitempty"`
	PreviousHref string `json:"previousHref,omitempty"`
}

type metaOnly struct {
	Meta metaJSON `json:"meta"`
}

func intp(i int) *int { return &i }

func (d *data) entityMeta(typ, id, uiPath string) metaJSON {
	m := metaJSON{Href: d.base + "/entity/" + typ + "/" + id, MetadataHref: d.base + "/entity/" + typ + "/metadata",
		Type: typ, MediaType: "application/json"}
	if uiPath != "" {
		m.UUIDHref = appURL + uiPath + "/edit?id=" + id
	}
	return m
}

func (d *data) stateMeta(st *simState) metaJSON {
	return metaJSON{Href: d.base + "/entity/customerorder/metadata/states/" + st.id,
		MetadataHref: d.base + "/entity/customerorder/metadata", Type: "state", MediaType: "application/json"}
}

type stateJSON struct {
	Meta       metaJSON `json:"meta"`
	ID         string   `json:"id"`
	AccountID  string   `json:"accountId"`
	Name       string   `json:"name"`
	Color      int      `json:"color"`
	StateType  string   `json:"stateType"`
	EntityType string   `json:"entityType"`
}

func (d *data) stateJSON(st *simState) stateJSON {
	return stateJSON{Meta: d.stateMeta(st), ID: st.id, AccountID: d.accountID, Name: st.name, Color: st.color,
		StateType: st.stateType, EntityType: "customerorder"}
}

func (d *data) stateAPI(st *simState) moysklad.State {
	m := d.stateMeta(st)
	return moysklad.State{Meta: moysklad.Meta{Href: m.Href, MetadataHref: m.MetadataHref, Type: m.Type, MediaType: m.MediaType},
		ID: st.id, Name: st.name, Color: st.color, StateType: st.stateType, EntityType: "customerorder"}
}

type attrDefJSON struct {
	Meta             metaJSON  `json:"meta"`
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Type             string    `json:"type"`
	Required         bool      `json:"required"`
	Show             bool      `json:"show"`
	Description      string    `json:"description,omitempty"`
	CustomEntityMeta *metaJSON `json:"customEntityMeta,omitempty"`
}

func (d *data) attrMeta(a *simAttr) metaJSON {
	return metaJSON{Href: d.base + "/entity/customerorder/metadata/attributes/" + a.id, Type: "attributemetadata", MediaType: "application/json"}
}

func (d *data) dictMeta(dictID string) metaJSON {
	return metaJSON{Href: d.base + "/context/companysettings/metadata/customEntities/" + dictID,
		Type: "customentitymetadata", MediaType: "application/json"}
}

func (d *data) attrDefJSON(a *simAttr) attrDefJSON {
	j := attrDefJSON{Meta: d.attrMeta(a), ID: a.id, Name: a.name, Type: a.typ, Required: a.required, Show: a.show, Description: a.description}
	if a.dictID != "" {
		m := d.dictMeta(a.dictID)
		j.CustomEntityMeta = &m
	}
	return j
}

func (d *data) attrDefAPI(a *simAttr) moysklad.AttributeDef {
	j := d.attrDefJSON(a)
	def := moysklad.AttributeDef{Meta: moysklad.Meta{Href: j.Meta.Href, Type: j.Meta.Type, MediaType: j.Meta.MediaType},
		ID: a.id, Name: a.name, Type: a.typ, Description: a.description, Required: a.required, Show: a.show}
	if j.CustomEntityMeta != nil {
		def.CustomEntityMeta = &moysklad.Meta{Href: j.CustomEntityMeta.Href, Type: j.CustomEntityMeta.Type, MediaType: j.CustomEntityMeta.MediaType}
	}
	return def
}

func (d *data) elemMetaJSON(dct *simDict, e simElem) metaJSON {
	return metaJSON{Href: d.base + "/entity/customentity/" + dct.id + "/" + e.id,
		MetadataHref: d.base + "/context/companysettings/metadata/customEntities/" + dct.id,
		Type:         "customentity", MediaType: "application/json",
		UUIDHref: appURL + "custom_" + dct.id + "/edit?id=" + e.id}
}

func (d *data) elemMeta(dct *simDict, e simElem) moysklad.Meta {
	m := d.elemMetaJSON(dct, e)
	return moysklad.Meta{Href: m.Href, MetadataHref: m.MetadataHref, Type: m.Type, MediaType: m.MediaType, UUIDHref: m.UUIDHref}
}

type counterpartyJSON struct {
	Meta          metaJSON `json:"meta"`
	ID            string   `json:"id"`
	AccountID     string   `json:"accountId"`
	Shared        bool     `json:"shared"`
	Version       int      `json:"version"`
	Updated       string   `json:"updated"`
	Name          string   `json:"name"`
	ExternalCode  string   `json:"externalCode"`
	Archived      bool     `json:"archived"`
	Created       string   `json:"created"`
	CompanyType   string   `json:"companyType"`
	LegalTitle    string   `json:"legalTitle,omitempty"`
	Email         string   `json:"email,omitempty"`
	Phone         string   `json:"phone,omitempty"`
	ActualAddress string   `json:"actualAddress,omitempty"`
	Tags          []string `json:"tags"`
	SalesAmount   float64  `json:"salesAmount"`
}

func (d *data) counterpartyJSON(c *simCounterparty) counterpartyJSON {
	return counterpartyJSON{Meta: d.entityMeta("counterparty", c.id, "company"), ID: c.id, AccountID: d.accountID,
		Updated: fmtTime(c.created), Name: c.name, ExternalCode: "cp-" + c.id[:8], Created: fmtTime(c.created),
		CompanyType: c.companyType, LegalTitle: c.legalTitle, Email: c.email, Phone: c.phone,
		ActualAddress: c.actualAddress, Tags: []string{}}
}

// productJSON is an assortment entity. Sources: schema Product / Bundle
// (own "weight", "volume"), schema Variant (no weight or volume; "product"
// is a meta reference, the product itself when expanded) and Service (no
// weight), as in the schema's fixtures product.json, variant.json,
// bundle.json; a bundle's "components" is a BundleComponentList reference
// {"meta":{…,"size"}} with rows only when expanded (doc _bundle.md: the
// field is a MetaArray with +Expand).
type productJSON struct {
	Meta         metaJSON        `json:"meta"`
	ID           string          `json:"id"`
	AccountID    string          `json:"accountId"`
	Shared       bool            `json:"shared"`
	Version      int             `json:"version"`
	Updated      string          `json:"updated"`
	Name         string          `json:"name"`
	Code         string          `json:"code,omitempty"`
	ExternalCode string          `json:"externalCode"`
	Archived     bool            `json:"archived"`
	PathName     string          `json:"pathName,omitempty"`
	Article      string          `json:"article,omitempty"`
	Weight       *float64        `json:"weight,omitempty"`
	Volume       *float64        `json:"volume,omitempty"`
	Product      any             `json:"product,omitempty"`
	Components   *componentsJSON `json:"components,omitempty"`
}

type componentsJSON struct {
	Meta metaJSON        `json:"meta"`
	Rows []componentJSON `json:"rows,omitempty"`
}

// componentJSON is a BundleComponent (schema bundleComponent.yaml, fixture
// bundle_component.json).
type componentJSON struct {
	Meta       metaJSON `json:"meta"`
	ID         string   `json:"id"`
	AccountID  string   `json:"accountId"`
	Assortment any      `json:"assortment"`
	Quantity   float64  `json:"quantity"`
}

var uiPathOf = map[string]string{"product": "good", "service": "good", "variant": "feature", "bundle": "bundle"}

func fp(f float64) *float64 { return &f }

// assortmentRef is the meta-only reference to an assortment entity.
func (d *data) assortmentRef(p *simProduct) metaOnly {
	return metaOnly{d.entityMeta(p.typ, p.id, uiPathOf[p.typ])}
}

// productJSON renders an assortment entity; ex holds the expand paths
// relative to it ("product", "components", "components.assortment").
func (d *data) productJSON(p *simProduct, ex expandSet) productJSON {
	j := productJSON{Meta: d.entityMeta(p.typ, p.id, uiPathOf[p.typ]), ID: p.id, AccountID: d.accountID,
		Updated: fmtTime(p.created), Name: p.name, Code: p.code, ExternalCode: "pr-" + p.id[:8],
		Article: p.article}
	switch p.typ {
	case "product", "bundle":
		j.Weight, j.Volume = fp(p.weight), fp(p.volume)
	}
	if p.typ == "variant" {
		parent := d.products[p.productID]
		if ex["product"] {
			j.Product = d.productJSON(parent, expandSet{})
		} else {
			j.Product = d.assortmentRef(parent)
		}
	}
	if p.typ == "bundle" {
		j.Components = &componentsJSON{Meta: d.componentsMeta(p)}
		if ex["components"] {
			for i := range p.components {
				j.Components.Rows = append(j.Components.Rows, d.componentJSON(p, i, ex["components.assortment"]))
			}
		}
	}
	return j
}

func (d *data) componentsMeta(p *simProduct) metaJSON {
	return metaJSON{Href: d.base + "/entity/bundle/" + p.id + "/components", Type: "bundlecomponent",
		MediaType: "application/json", Size: intp(len(p.components)), Limit: intp(1000), Offset: intp(0)}
}

func (d *data) componentJSON(b *simProduct, i int, expandAssortment bool) componentJSON {
	c := b.components[i]
	pr := d.products[c.productID]
	var asg any = d.assortmentRef(pr)
	if expandAssortment {
		asg = d.productJSON(pr, expandSet{})
	}
	return componentJSON{Meta: metaJSON{Href: d.base + "/entity/bundle/" + b.id + "/components/" + c.id, Type: "bundlecomponent",
		MediaType: "application/json"}, ID: c.id, AccountID: d.accountID, Assortment: asg, Quantity: c.quantity}
}

type positionJSON struct {
	Meta       metaJSON `json:"meta"`
	ID         string   `json:"id"`
	AccountID  string   `json:"accountId"`
	Quantity   float64  `json:"quantity"`
	Price      float64  `json:"price"`
	Discount   float64  `json:"discount"`
	VAT        int      `json:"vat"`
	VATEnabled bool     `json:"vatEnabled"`
	Assortment any      `json:"assortment"`
	Shipped    float64  `json:"shipped"`
	Reserve    float64  `json:"reserve"`
}

// positionJSON renders a position; ex holds the expand paths relative to
// the position ("assortment", "assortment.product", …).
func (d *data) positionJSON(o *simOrder, p simPosition, ex expandSet) positionJSON {
	pr := d.products[p.productID]
	var asg any = d.assortmentRef(pr)
	if ex["assortment"] {
		asg = d.productJSON(pr, ex.under("assortment"))
	}
	return positionJSON{Meta: metaJSON{Href: d.base + "/entity/customerorder/" + o.id + "/positions/" + p.id,
		MetadataHref: d.base + "/entity/customerorder/metadata", Type: "customerorderposition", MediaType: "application/json"},
		ID: p.id, AccountID: d.accountID, Quantity: p.quantity, Price: p.price, Discount: p.discount,
		VAT: p.vat, VATEnabled: p.vat > 0, Assortment: asg}
}

type attrValueJSON struct {
	Meta     metaJSON  `json:"meta"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Value    any       `json:"value"`
	Download *metaJSON `json:"download,omitempty"`
}

type namedRefJSON struct {
	Meta metaJSON `json:"meta"`
	Name string   `json:"name"`
}

type positionsJSON struct {
	Meta metaJSON       `json:"meta"`
	Rows []positionJSON `json:"rows,omitempty"`
}

type addressJSON struct {
	PostalCode string    `json:"postalCode,omitempty"`
	Country    *metaOnly `json:"country,omitempty"`
	Region     *metaOnly `json:"region,omitempty"`
	City       string    `json:"city,omitempty"`
	Street     string    `json:"street,omitempty"`
	House      string    `json:"house,omitempty"`
	Apartment  string    `json:"apartment,omitempty"`
	AddInfo    string    `json:"addInfo,omitempty"`
	Comment    string    `json:"comment,omitempty"`
}

type orderJSON struct {
	Meta                metaJSON        `json:"meta"`
	ID                  string          `json:"id"`
	AccountID           string          `json:"accountId"`
	Updated             string          `json:"updated"`
	Name                string          `json:"name"`
	Description         string          `json:"description,omitempty"`
	ExternalCode        string          `json:"externalCode"`
	Owner               metaOnly        `json:"owner"`
	Shared              bool            `json:"shared"`
	Group               metaOnly        `json:"group"`
	Moment              string          `json:"moment"`
	Applicable          bool            `json:"applicable"`
	Created             string          `json:"created"`
	Printed             bool            `json:"printed"`
	Published           bool            `json:"published"`
	VATEnabled          bool            `json:"vatEnabled"`
	VATIncluded         bool            `json:"vatIncluded"`
	Sum                 float64         `json:"sum"`
	Organization        metaOnly        `json:"organization"`
	Agent               any             `json:"agent,omitempty"`
	State               any             `json:"state,omitempty"`
	Attributes          []attrValueJSON `json:"attributes,omitempty"`
	Files               metaOnly        `json:"files"`
	Positions           positionsJSON   `json:"positions"`
	ReservedSum         float64         `json:"reservedSum"`
	PayedSum            float64         `json:"payedSum"`
	ShippedSum          float64         `json:"shippedSum"`
	InvoicedSum         float64         `json:"invoicedSum"`
	ShipmentAddress     string          `json:"shipmentAddress,omitempty"`
	ShipmentAddressFull *addressJSON    `json:"shipmentAddressFull,omitempty"`
}

// expandSet is the parsed expand parameter: every requested path and its
// prefixes ("positions.assortment" also sets "positions").
type expandSet map[string]bool

// under returns the paths below prefix, relative to it.
func (ex expandSet) under(prefix string) expandSet {
	out := expandSet{}
	for k := range ex {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			out[rest] = true
		}
	}
	return out
}

func (d *data) orderJSON(o *simOrder, ex expandSet, maxPositions int) orderJSON {
	const (
		ownerID = "faba7f37-2e58-11e6-8a84-bae500000028"
		groupID = "f97aa1fb-2e58-11e6-8a84-bae500000002"
		orgID   = "850c8195-f504-11e5-8a84-bae50000015e"
	)
	j := orderJSON{Meta: d.entityMeta("customerorder", o.id, "customerorder"), ID: o.id, AccountID: d.accountID,
		Updated: fmtTime(o.updated), Name: o.name, Description: o.description, ExternalCode: o.externalCode,
		Owner: metaOnly{d.entityMeta("employee", ownerID, "employee")}, Group: metaOnly{d.entityMeta("group", groupID, "")},
		Moment: fmtTime(o.moment), Applicable: true, Created: fmtTime(o.created), VATEnabled: true, VATIncluded: true,
		Sum: o.sum, Organization: metaOnly{d.entityMeta("organization", orgID, "mycompany")},
		PayedSum: o.payedSum, ShipmentAddress: o.shipmentAddress}
	j.Meta.MetadataHref = ""
	j.Files = metaOnly{metaJSON{Href: d.base + "/entity/customerorder/" + o.id + "/files", Type: "files",
		MediaType: "application/json", Size: intp(0), Limit: intp(1000), Offset: intp(0)}}
	if cp := d.cps[o.agentID]; cp != nil {
		if ex["agent"] {
			j.Agent = d.counterpartyJSON(cp)
		} else {
			j.Agent = metaOnly{d.entityMeta("counterparty", cp.id, "company")}
		}
	}
	if st := d.stateByID(o.stateID); st != nil {
		if ex["state"] {
			j.State = d.stateJSON(st)
		} else {
			j.State = metaOnly{d.stateMeta(st)}
		}
	}
	j.Attributes = d.orderAttrsJSON(o)
	pm := metaJSON{Href: d.base + "/entity/customerorder/" + o.id + "/positions",
		MetadataHref: d.base + "/entity/customerorder/metadata", Type: "customerorderposition",
		MediaType: "application/json", Size: intp(len(o.positions)), Limit: intp(1000), Offset: intp(0)}
	j.Positions.Meta = pm
	if ex["positions"] {
		n := min(len(o.positions), maxPositions)
		j.Positions.Meta.Limit = intp(maxPositions)
		for _, p := range o.positions[:n] {
			j.Positions.Rows = append(j.Positions.Rows, d.positionJSON(o, p, ex.under("positions")))
		}
	}
	if a := o.shipmentAddressFull; a != nil {
		aj := &addressJSON{PostalCode: a.PostalCode, City: a.City, Street: a.Street, House: a.House,
			Apartment: a.Apartment, AddInfo: a.AddInfo, Comment: a.Comment}
		aj.Country = d.addressRef("country", a.Country, a.CountryCode, a.CountryMeta)
		aj.Region = d.addressRef("region", a.Region, a.RegionCode, a.RegionMeta)
		j.ShipmentAddressFull = aj
	}
	return j
}

func (d *data) orderAttrsJSON(o *simOrder) []attrValueJSON {
	var out []attrValueJSON
	for _, a := range d.attrs { // definition order, like MoySklad
		v, ok := o.attrs[a.id]
		if !ok {
			continue
		}
		aj := attrValueJSON{Meta: d.attrMeta(a), ID: a.id, Name: a.name, Type: a.typ}
		switch x := v.(type) {
		case *simFile:
			aj.Value = x.filename
			aj.Download = &metaJSON{Href: d.base + "/download/" + x.id, MediaType: "application/octet-stream"}
		case simElemRef:
			dct := d.dicts[x.dictID]
			for _, e := range dct.elems {
				if e.id == x.elemID {
					aj.Value = namedRefJSON{Meta: d.elemMetaJSON(dct, e), Name: e.name}
				}
			}
		case float64:
			if a.typ == "long" {
				aj.Value = int64(x)
			} else {
				aj.Value = x
			}
		default:
			aj.Value = x
		}
		out = append(out, aj)
	}
	return out
}

func (d *data) metadataJSON(expandAttributes bool) map[string]any {
	states := make([]stateJSON, 0, len(d.states))
	for _, st := range d.states {
		states = append(states, d.stateJSON(st))
	}
	// Attributes as the official schema has them (DocumentMetadata.attributes
	// is an AttributeMetaInfoList) and as the schema's own fixture
	// tests/fixtures/document_metadata.json shows: a collection reference
	// with size and no rows; the rows are at …/metadata/attributes.
	// With expand=attributes the rows come inline (the schema's fixture
	// document_metadata_expanded.json).
	type collection struct {
		Meta metaJSON      `json:"meta"`
		Rows []attrDefJSON `json:"rows,omitempty"`
	}
	attrs := collection{Meta: metaJSON{Href: d.base + "/entity/customerorder/metadata/attributes", Type: "attributemetadata",
		MediaType: "application/json", Size: intp(len(d.attrs)), Limit: intp(1000), Offset: intp(0)}}
	if expandAttributes {
		attrs.Rows = []attrDefJSON{}
		for _, a := range d.attrs {
			attrs.Rows = append(attrs.Rows, d.attrDefJSON(a))
		}
	}
	return map[string]any{
		"meta":         metaJSON{Href: d.base + "/entity/customerorder/metadata", MediaType: "application/json"},
		"attributes":   attrs,
		"states":       states,
		"createShared": false,
	}
}
