package moyskladtest

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

// data is the account's content. Every method expects Server.mu held.
type data struct {
	base      string
	accountID string
	states    []*simState
	attrs     []*simAttr
	dicts     map[string]*simDict
	cps       map[string]*simCounterparty
	products  map[string]*simProduct
	orders    map[string]*simOrder
	orderSeq  []*simOrder
	files     map[string]*simFile
	// userPlaces are the countries and regions added by name (see
	// placeByName), by "type/id"; placeGets counts their GETs.
	userPlaces map[string]*simPlace
	placeGets  int
}

func (d *data) init() {
	d.accountID = "84e60e93-f504-11e5-8a84-bae500000008"
	d.dicts = map[string]*simDict{}
	d.cps = map[string]*simCounterparty{}
	d.products = map[string]*simProduct{}
	d.orders = map[string]*simOrder{}
	d.files = map[string]*simFile{}
}

type simState struct {
	id, name, stateType string
	color               int
}

type simAttr struct {
	id, name, typ, description string
	required, show             bool
	dictID                     string // customentity
}

type simDict struct {
	id, name string
	elems    []simElem
}

type simElem struct{ id, name string }

type simCounterparty struct {
	id, name, legalTitle, phone, email, companyType, actualAddress string
	created                                                        time.Time
}

type simProduct struct {
	id, typ, name, code, article string
	weight, volume               float64
	created                      time.Time
	productID                    string         // a variant's product
	components                   []simComponent // a bundle's components
}

type simComponent struct {
	id, productID string
	quantity      float64
}

type simPosition struct {
	id        string
	productID string
	quantity  float64
	price     float64
	discount  float64
	vat       int
}

type simFile struct {
	id, filename string
	content      []byte
}

// attrValue is a stored attribute value: string, float64 (long/double), bool,
// simElemRef (dictionary), or *simFile.
type attrValue any

type simElemRef struct{ dictID, elemID string }

type simOrder struct {
	id, name, description, externalCode string
	created, updated, moment            time.Time
	sum, payedSum                       float64
	stateID                             string
	agentID                             string
	positions                           []simPosition
	shipmentAddress                     string
	shipmentAddressFull                 *moysklad.Address
	attrs                               map[string]attrValue // by attribute id
}

func (s *Server) stamp() time.Time {
	return s.opts.Now().In(moysklad.Moscow).Truncate(time.Millisecond)
}

func (d *data) stateByID(id string) *simState {
	for _, st := range d.states {
		if st.id == id {
			return st
		}
	}
	return nil
}

func (d *data) stateByName(name string) *simState {
	for _, st := range d.states {
		if st.name == name {
			return st
		}
	}
	return nil
}

func (d *data) attrByID(id string) *simAttr {
	for _, a := range d.attrs {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (d *data) attrByName(name string) *simAttr {
	for _, a := range d.attrs {
		if a.name == name {
			return a
		}
	}
	return nil
}

// AddState adds an order status (Regular) and returns it as the API shows it.
func (s *Server) AddState(name string, color int) moysklad.State {
	return s.AddStateOfType(name, color, moysklad.StateRegular)
}

// AddStateOfType adds an order status of the given type (Regular, Successful, Unsuccessful).
func (s *Server) AddStateOfType(name string, color int, stateType string) moysklad.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &simState{id: s.newID(), name: name, color: color, stateType: stateType}
	s.states = append(s.states, st)
	return s.stateAPI(st)
}

// AddAttribute adds a custom attribute of orders of the given type (string,
// text, long, double, boolean, link, file, time).
func (s *Server) AddAttribute(name, typ string) moysklad.AttributeDef {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &simAttr{id: s.newID(), name: name, typ: typ, show: true}
	s.attrs = append(s.attrs, a)
	return s.attrDefAPI(a)
}

// AddDictionary adds a custom dictionary (customentity) with the given
// elements and returns its id.
func (s *Server) AddDictionary(name string, elements ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	dct := &simDict{id: s.newID(), name: name}
	for _, e := range elements {
		dct.elems = append(dct.elems, simElem{id: s.newID(), name: e})
	}
	s.dicts[dct.id] = dct
	return dct.id
}

// AddCustomEntityAttribute adds an order attribute whose values are elements
// of the dictionary dictID.
func (s *Server) AddCustomEntityAttribute(name, dictID string) moysklad.AttributeDef {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dicts[dictID] == nil {
		panic("moyskladtest: unknown dictionary " + dictID)
	}
	a := &simAttr{id: s.newID(), name: name, typ: "customentity", show: true, dictID: dictID}
	s.attrs = append(s.attrs, a)
	return s.attrDefAPI(a)
}

// DictionaryElement returns the meta of a dictionary element by name.
func (s *Server) DictionaryElement(dictID, name string) (moysklad.Meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dct := s.dicts[dictID]
	if dct == nil {
		return moysklad.Meta{}, false
	}
	for _, e := range dct.elems {
		if e.name == name {
			return s.elemMeta(dct, e), true
		}
	}
	return moysklad.Meta{}, false
}

// CounterpartySeed describes a counterparty to add.
type CounterpartySeed struct {
	Name, LegalTitle, Phone, Email, CompanyType, ActualAddress string
}

// AddCounterparty adds a counterparty and returns its id. CompanyType
// defaults to "individual".
func (s *Server) AddCounterparty(c CounterpartySeed) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.CompanyType == "" {
		c.CompanyType = "individual"
	}
	cp := &simCounterparty{id: s.newID(), name: c.Name, legalTitle: c.LegalTitle, phone: c.Phone, email: c.Email,
		companyType: c.CompanyType, actualAddress: c.ActualAddress, created: s.stamp()}
	s.cps[cp.id] = cp
	return cp.id
}

// ProductSeed describes an assortment item to add. Type is product (default),
// service, variant or bundle.
//
// As in MoySklad, a variant has no weight or volume of its own and belongs
// to a product (ProductID); a service has no weight; a bundle has its own
// weight (0: none) and 1–50 Components, each a product, service or
// variant. For seeds written before variants and bundles were modelled:
// a variant without ProductID gets a product of its own (same name,
// carrying Weight and Volume), and a bundle without Components gets one
// component, a product of the same name weighing Weight — the rendered
// entities keep MoySklad's shapes either way. A service's Weight is
// ignored (MoySklad has no such field).
type ProductSeed struct {
	Name, Code, Article, Type string
	Weight, Volume            float64
	ProductID                 string
	Components                []ComponentSeed
}

// ComponentSeed is one component of a seeded bundle.
type ComponentSeed struct {
	ProductID string
	Quantity  float64
}

// AddProduct adds an assortment item and returns its id. It panics on a
// seed MoySklad could not hold (a test bug): a variant with its own weight
// and a product, a variant of something other than a product, a bundle
// with more than 50 components or containing a bundle, an unknown type.
func (s *Server) AddProduct(p ProductSeed) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addProductLocked(p)
}

func (s *Server) addProductLocked(p ProductSeed) string {
	if p.Type == "" {
		p.Type = "product"
	}
	pr := &simProduct{id: s.newID(), typ: p.Type, name: p.Name, code: p.Code, article: p.Article,
		weight: p.Weight, volume: p.Volume, created: s.stamp()}
	switch p.Type {
	case "product":
	case "service":
		pr.weight, pr.volume = 0, 0
	case "variant":
		if p.ProductID == "" {
			p.ProductID = s.addProductLocked(ProductSeed{Name: p.Name, Code: p.Code, Article: p.Article, Weight: p.Weight, Volume: p.Volume})
		} else if p.Weight != 0 || p.Volume != 0 {
			panic("moyskladtest: a variant has no weight or volume of its own; set its product's")
		}
		if parent := s.products[p.ProductID]; parent == nil || parent.typ != "product" {
			panic("moyskladtest: a variant needs the id of a product, got " + p.ProductID)
		}
		pr.weight, pr.volume, pr.productID = 0, 0, p.ProductID
	case "bundle":
		if len(p.Components) == 0 {
			p.Components = []ComponentSeed{{ProductID: s.addProductLocked(ProductSeed{Name: p.Name, Weight: p.Weight}), Quantity: 1}}
		}
		if len(p.Components) > 50 {
			panic("moyskladtest: a bundle has 1–50 components")
		}
		for _, c := range p.Components {
			cp := s.products[c.ProductID]
			if cp == nil || cp.typ == "bundle" || c.Quantity <= 0 {
				panic("moyskladtest: bad bundle component " + c.ProductID)
			}
			pr.components = append(pr.components, simComponent{id: s.newID(), productID: c.ProductID, quantity: c.Quantity})
		}
	default:
		panic("moyskladtest: unknown assortment type " + p.Type)
	}
	s.products[pr.id] = pr
	return pr.id
}

// PositionSeed is a line of a seeded order. Price is in kopecks.
type PositionSeed struct {
	ProductID string
	Quantity  float64
	Price     int64
	Discount  float64
	VAT       int
}

// File is a file attribute value for seeding and inspection.
type File struct {
	Name    string
	Content []byte
}

// OrderSeed describes an order to add. Sum 0 means Σ price × quantity.
// Attributes are keyed by attribute name; values are string, int/int64,
// float64, bool, File, or (for dictionary attributes) the element name.
type OrderSeed struct {
	Name, Description, ExternalCode string
	AgentID                         string
	StateName                       string
	Positions                       []PositionSeed
	ShipmentAddress                 string
	ShipmentAddressFull             *moysklad.Address
	Sum, PayedSum                   int64
	Moment                          time.Time
	Attributes                      map[string]any
}

// AddOrder adds an order and returns its id. It panics on references to
// unknown states, counterparties, products or attributes (a test bug).
func (s *Server) AddOrder(o OrderSeed) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	ord := &simOrder{id: s.newID(), name: o.Name, description: o.Description, externalCode: o.ExternalCode,
		created: now, updated: now, moment: o.Moment, agentID: o.AgentID,
		shipmentAddress: o.ShipmentAddress, shipmentAddressFull: o.ShipmentAddressFull,
		payedSum: float64(o.PayedSum), attrs: map[string]attrValue{}}
	if ord.name == "" {
		ord.name = fmt.Sprintf("%05d", len(s.orderSeq)+1)
	}
	if ord.externalCode == "" {
		ord.externalCode = "ext-" + ord.id[:8]
	}
	if ord.moment.IsZero() {
		ord.moment = now.Truncate(time.Minute)
	}
	if o.AgentID != "" && s.cps[o.AgentID] == nil {
		panic("moyskladtest: unknown counterparty " + o.AgentID)
	}
	if o.StateName != "" {
		st := s.stateByName(o.StateName)
		if st == nil {
			panic("moyskladtest: unknown state " + o.StateName)
		}
		ord.stateID = st.id
	}
	var sum float64
	for _, p := range o.Positions {
		if s.products[p.ProductID] == nil {
			panic("moyskladtest: unknown product " + p.ProductID)
		}
		ord.positions = append(ord.positions, simPosition{id: s.newID(), productID: p.ProductID,
			quantity: p.Quantity, price: float64(p.Price), discount: p.Discount, vat: p.VAT})
		sum += float64(p.Price) * p.Quantity * (1 - p.Discount/100)
	}
	ord.sum = math.Round(sum)
	if o.Sum != 0 {
		ord.sum = float64(o.Sum)
	}
	names := make([]string, 0, len(o.Attributes))
	for n := range o.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := s.setAttrByNameLocked(ord, n, o.Attributes[n]); err != nil {
			panic("moyskladtest: " + err.Error())
		}
	}
	s.orders[ord.id] = ord
	s.orderSeq = append(s.orderSeq, ord)
	return ord.id
}

func (s *Server) setAttrByNameLocked(ord *simOrder, name string, v any) error {
	a := s.attrByName(name)
	if a == nil {
		return fmt.Errorf("unknown attribute %q", name)
	}
	if v == nil {
		delete(ord.attrs, a.id)
		return nil
	}
	var val attrValue
	switch a.typ {
	case "string", "text", "link", "time":
		sv, ok := v.(string)
		if !ok {
			return fmt.Errorf("attribute %q (%s) needs a string, got %T", name, a.typ, v)
		}
		val = sv
	case "long":
		switch n := v.(type) {
		case int:
			val = float64(n)
		case int64:
			val = float64(n)
		default:
			return fmt.Errorf("attribute %q (long) needs an int, got %T", name, v)
		}
	case "double":
		switch n := v.(type) {
		case int:
			val = float64(n)
		case int64:
			val = float64(n)
		case float64:
			val = n
		default:
			return fmt.Errorf("attribute %q (double) needs a number, got %T", name, v)
		}
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("attribute %q (boolean) needs a bool, got %T", name, v)
		}
		val = b
	case "file":
		f, ok := v.(File)
		if !ok {
			return fmt.Errorf("attribute %q (file) needs a moyskladtest.File, got %T", name, v)
		}
		val = s.storeFile(f.Name, f.Content)
	case "customentity":
		en, ok := v.(string)
		if !ok {
			return fmt.Errorf("attribute %q (customentity) needs an element name, got %T", name, v)
		}
		dct := s.dicts[a.dictID]
		found := false
		for _, e := range dct.elems {
			if e.name == en {
				val, found = simElemRef{dct.id, e.id}, true
			}
		}
		if !found {
			return fmt.Errorf("dictionary %q has no element %q", dct.name, en)
		}
	default:
		return fmt.Errorf("attribute %q has unsupported type %s", name, a.typ)
	}
	ord.attrs[a.id] = val
	return nil
}

func (s *Server) storeFile(name string, content []byte) *simFile {
	f := &simFile{id: s.newID(), filename: name, content: bytes.Clone(content)}
	s.files[f.id] = f
	return f
}

// SetOrderState changes an order's status as a manager in the UI would
// (updated moves to now).
func (s *Server) SetOrderState(id, stateName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ord := s.orders[id]
	if ord == nil {
		return fmt.Errorf("moyskladtest: no order %s", id)
	}
	st := s.stateByName(stateName)
	if st == nil {
		return fmt.Errorf("moyskladtest: no state %q", stateName)
	}
	ord.stateID = st.id
	ord.updated = s.stamp()
	return nil
}

// SetOrderAttribute sets (nil: clears) an attribute by name as a manager would.
func (s *Server) SetOrderAttribute(id, attrName string, value any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ord := s.orders[id]
	if ord == nil {
		return fmt.Errorf("moyskladtest: no order %s", id)
	}
	if err := s.setAttrByNameLocked(ord, attrName, value); err != nil {
		return fmt.Errorf("moyskladtest: %w", err)
	}
	ord.updated = s.stamp()
	return nil
}

// UpdateOrder applies f to the order's editable fields as a manager would
// (updated moves to now).
func (s *Server) UpdateOrder(id string, f func(*OrderEdit)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ord := s.orders[id]
	if ord == nil {
		return fmt.Errorf("moyskladtest: no order %s", id)
	}
	e := OrderEdit{Name: ord.name, Description: ord.description, ShipmentAddress: ord.shipmentAddress,
		ShipmentAddressFull: ord.shipmentAddressFull, AgentID: ord.agentID, PayedSum: int64(ord.payedSum)}
	f(&e)
	if e.AgentID != "" && s.cps[e.AgentID] == nil {
		return fmt.Errorf("moyskladtest: no counterparty %s", e.AgentID)
	}
	if e.Name != "" {
		ord.name = e.Name
	}
	ord.description, ord.shipmentAddress, ord.shipmentAddressFull = e.Description, e.ShipmentAddress, e.ShipmentAddressFull
	ord.agentID, ord.payedSum = e.AgentID, float64(e.PayedSum)
	ord.updated = s.stamp()
	return nil
}

// OrderEdit holds the fields UpdateOrder lets a test change.
type OrderEdit struct {
	// Name renames the order (as a manager can in the UI).
	Name                string
	Description         string
	ShipmentAddress     string
	ShipmentAddressFull *moysklad.Address
	AgentID             string
	PayedSum            int64
}

// UpdateCounterparty changes a counterparty's phone and email (empty: unchanged).
func (s *Server) UpdateCounterparty(id string, c CounterpartySeed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.cps[id]
	if cp == nil {
		return fmt.Errorf("moyskladtest: no counterparty %s", id)
	}
	if c.Name != "" {
		cp.name = c.Name
	}
	if c.Phone != "" {
		cp.phone = c.Phone
	}
	if c.Email != "" {
		cp.email = c.Email
	}
	return nil
}

// AttrSnapshot is an attribute value as stored.
type AttrSnapshot struct {
	Type string
	// Value is string (string, text, link, time, dictionary element name,
	// file name), int64 (long), float64 (double) or bool.
	Value any
	// File is the attached file of a file attribute.
	File *File
	// DownloadHref is the API download link of an attached file.
	DownloadHref string
}

// OrderSnapshot is a copy of an order's state for assertions.
type OrderSnapshot struct {
	ID, Name, StateID, StateName, AgentID string
	Updated                               time.Time
	Sum, PayedSum                         int64
	Positions                             int
	Attributes                            map[string]AttrSnapshot // by attribute name
	Puts                                  int
}

// Attr returns the value of the attribute with the given name as a string
// ("" when unset); numbers and booleans are formatted.
func (o OrderSnapshot) Attr(name string) string {
	a, ok := o.Attributes[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(a.Value)
}

// Order returns a snapshot of the order with the given id.
func (s *Server) Order(id string) (OrderSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ord := s.orders[id]
	if ord == nil {
		return OrderSnapshot{}, false
	}
	return s.snapshotLocked(ord), true
}

// OrderByName returns a snapshot of the first order with the given name.
func (s *Server) OrderByName(name string) (OrderSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ord := range s.orderSeq {
		if ord.name == name {
			return s.snapshotLocked(ord), true
		}
	}
	return OrderSnapshot{}, false
}

// OrderIDs returns the ids of all orders in creation order.
func (s *Server) OrderIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.orderSeq))
	for i, o := range s.orderSeq {
		out[i] = o.id
	}
	return out
}

func (s *Server) snapshotLocked(ord *simOrder) OrderSnapshot {
	snap := OrderSnapshot{ID: ord.id, Name: ord.name, StateID: ord.stateID, AgentID: ord.agentID,
		Updated: ord.updated, Sum: int64(ord.sum), PayedSum: int64(ord.payedSum), Positions: len(ord.positions),
		Attributes: map[string]AttrSnapshot{}, Puts: s.putsTotal[ord.id]}
	if st := s.stateByID(ord.stateID); st != nil {
		snap.StateName = st.name
	}
	for id, v := range ord.attrs {
		a := s.attrByID(id)
		if a == nil {
			continue
		}
		as := AttrSnapshot{Type: a.typ}
		switch x := v.(type) {
		case *simFile:
			as.Value = x.filename
			as.File = &File{Name: x.filename, Content: bytes.Clone(x.content)}
			as.DownloadHref = s.base + "/download/" + x.id
		case simElemRef:
			as.Value = s.elemName(x)
		case float64:
			if a.typ == "long" {
				as.Value = int64(x)
			} else {
				as.Value = x
			}
		default:
			as.Value = x
		}
		snap.Attributes[a.name] = as
	}
	return snap
}

func (d *data) elemName(r simElemRef) string {
	if dct := d.dicts[r.dictID]; dct != nil {
		for _, e := range dct.elems {
			if e.id == r.elemID {
				return e.name
			}
		}
	}
	return ""
}
