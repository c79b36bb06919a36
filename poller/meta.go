package poller

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipbridge/shipbridge/moysklad"
)

// State keys, as in the config (moysklad.states.*).
const (
	keyReady      = "ready"
	keyRegistered = "registered"
	keyFailed     = "failed"
	keyDelete     = "delete"
	keyDeleted    = "deleted"
	keyNotDeleted = "not_deleted"
)

// attributeSet holds the Resolved order attributes. An optional attribute
// that is missing has an empty ID.
type attributeSet struct {
	Carrier, PickupPoint, Tariff, TrackingNumber, Waybill, Error moysklad.AttributeDef
	// CashOnDelivery is the boolean «Наложенный платёж» flag, used by
	// carriers with cash_on_delivery "attribute"; needed only when named.
	CashOnDelivery moysklad.AttributeDef
}

// Resolved is the MoySklad metadata the workflow needs, looked up by the
// configured names.
type Resolved struct {
	states map[string]moysklad.State // by key
	attrs  attributeSet
	// md is the metadata it was resolved from (the tracking pass resolves
	// its own statuses and attribute from it without another request).
	md moysklad.Metadata
}

// trigger returns the key ("ready" or "delete") of the order's status when
// it is a trigger status, else "".
func (r *Resolved) trigger(o moysklad.Order) string {
	id := o.State.Meta.ID()
	if id == "" {
		id = o.State.ID
	}
	for _, k := range []string{keyReady, keyDelete} {
		if s := r.states[k]; s.ID == id || s.Meta.ID() == id {
			return k
		}
	}
	return ""
}

// MissingMetadataError lists the statuses and attributes that the config
// names but MoySklad does not have (or has with the wrong type).
type MissingMetadataError struct {
	// Problems are the items as sentences, for logs.
	Problems []string
	// Items are the same problems, structured.
	Items []MetadataProblem
}

// MetadataProblem is one missing or mistyped status or attribute.
type MetadataProblem struct {
	// Kind is "state" or "attribute"; Key the config key below
	// moysklad.states or moysklad.attributes; Name the configured name.
	Kind, Key, Name string
	// FoundType is the type MoySklad has (empty: missing); WantTypes the
	// types the workflow accepts.
	FoundType string
	WantTypes []string
}

func (e *MissingMetadataError) Error() string {
	return "MoySklad is missing: " + strings.Join(e.Problems, "; ") + " (run `shipbridge setup`, or fix the names in the config)"
}

// Resolve looks up the configured statuses and attributes in the metadata.
// It is exported for `shipbridge check`.
func Resolve(md moysklad.Metadata, states StateNames, attrs AttributeNames) (*Resolved, error) {
	r := &Resolved{states: map[string]moysklad.State{}, md: md}
	var (
		problems []string
		items    []MetadataProblem
	)
	byName := map[string]moysklad.State{}
	for _, s := range md.States {
		byName[strings.ToLower(strings.TrimSpace(s.Name))] = s
	}
	for _, st := range []struct{ key, name string }{
		{keyReady, states.Ready}, {keyRegistered, states.Registered}, {keyFailed, states.Failed},
		{keyDelete, states.Delete}, {keyDeleted, states.Deleted}, {keyNotDeleted, states.NotDeleted},
	} {
		s, ok := byName[strings.ToLower(strings.TrimSpace(st.name))]
		if !ok {
			problems = append(problems, fmt.Sprintf("status %q (moysklad.states.%s)", st.name, st.key))
			items = append(items, MetadataProblem{Kind: "state", Key: st.key, Name: st.name})
			continue
		}
		r.states[st.key] = s
	}
	attrByName := map[string]moysklad.AttributeDef{}
	for _, a := range md.Attributes {
		attrByName[strings.ToLower(strings.TrimSpace(a.Name))] = a
	}
	for _, at := range []struct {
		key, name string
		dst       *moysklad.AttributeDef
		types     []string
		optional  bool
	}{
		{"carrier", attrs.Carrier, &r.attrs.Carrier, []string{"string", "customentity", "text"}, false},
		{"pickup_point", attrs.PickupPoint, &r.attrs.PickupPoint, []string{"string", "text"}, false},
		{"tariff", attrs.Tariff, &r.attrs.Tariff, []string{"long", "string"}, true},
		{"tracking_number", attrs.TrackingNumber, &r.attrs.TrackingNumber, []string{"string"}, false},
		{"waybill", attrs.Waybill, &r.attrs.Waybill, []string{"file"}, false},
		{"error", attrs.Error, &r.attrs.Error, []string{"text", "string"}, false},
		{"cash_on_delivery", attrs.CashOnDelivery, &r.attrs.CashOnDelivery, []string{"boolean"}, attrs.CashOnDelivery == ""},
	} {
		a, ok := attrByName[strings.ToLower(strings.TrimSpace(at.name))]
		if !ok {
			if !at.optional {
				problems = append(problems, fmt.Sprintf("attribute %q (moysklad.attributes.%s)", at.name, at.key))
				items = append(items, MetadataProblem{Kind: "attribute", Key: at.key, Name: at.name, WantTypes: at.types})
			}
			continue
		}
		typeOK := false
		for _, t := range at.types {
			if a.Type == t {
				typeOK = true
			}
		}
		if !typeOK {
			problems = append(problems, fmt.Sprintf("attribute %q (moysklad.attributes.%s) has type %s, want %s", at.name, at.key, a.Type, strings.Join(at.types, " or ")))
			items = append(items, MetadataProblem{Kind: "attribute", Key: at.key, Name: at.name, FoundType: a.Type, WantTypes: at.types})
			continue
		}
		*at.dst = a
	}
	if len(problems) > 0 {
		return nil, &MissingMetadataError{Problems: problems, Items: items}
	}
	return r, nil
}

// metadata returns the Resolved metadata, reading it from MoySklad once and
// again after invalidate.
func (p *Poller) metadata(ctx context.Context) (*Resolved, error) {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta != nil {
		return p.meta, nil
	}
	md, err := p.ms.OrderMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: read MoySklad order metadata: %v", ErrInfrastructure, err)
	}
	r, err := Resolve(md, p.cfg.States, p.cfg.Attributes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInfrastructure, err)
	}
	p.meta = r
	return r, nil
}

// invalidateMetadata makes the next cycle read the metadata again, e.g.
// after MoySklad refused a status or attribute.
func (p *Poller) invalidateMetadata() {
	p.metaMu.Lock()
	p.meta = nil
	p.metaMu.Unlock()
}
