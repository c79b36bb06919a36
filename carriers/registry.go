package carriers

import (
	"fmt"
	"sort"
	"strings"
)

// Profile holds the per-carrier settings the workflow needs to turn a shop
// order into a Shipment: how the carrier is named on orders, and how goods
// are weighed, packed and paid for.
type Profile struct {
	// Names are the values of the order's carrier field that select this
	// carrier, matched case-insensitively.
	Names []string
	// WeightUnit is the unit of product weights in the shop: "kg" or "g".
	WeightUnit string
	// DefaultWeightG is used when the goods have no weight; 0 means a
	// missing weight is a problem for the manager to fix.
	DefaultWeightG int
	// LengthCM, WidthCM and HeightCM are the package dimensions.
	LengthCM, WidthCM, HeightCM int
	// CashOnDelivery is "auto" (collect what is unpaid) or "never".
	CashOnDelivery string
}

// Registry holds the enabled carriers. Build one where the program is wired
// and pass it in; it is not safe to Register while other goroutines read.
type Registry struct {
	entries []entry
}

type entry struct {
	carrier Carrier
	profile Profile
}

// Register adds a carrier. Names and carrier keys must be unique.
func (r *Registry) Register(c Carrier, p Profile) error {
	if c == nil || c.Name() == "" {
		return fmt.Errorf("carriers: register: carrier without a name")
	}
	for _, e := range r.entries {
		if e.carrier.Name() == c.Name() {
			return fmt.Errorf("carriers: register: %q registered twice", c.Name())
		}
		for _, n := range p.Names {
			for _, m := range e.profile.Names {
				if normalizeName(n) == normalizeName(m) {
					return fmt.Errorf("carriers: register: name %q used by both %q and %q", n, e.carrier.Name(), c.Name())
				}
			}
		}
	}
	r.entries = append(r.entries, entry{carrier: c, profile: p})
	return nil
}

// Match finds the carrier whose names include value (case-insensitive,
// surrounding spaces ignored).
func (r *Registry) Match(value string) (Carrier, Profile, bool) {
	v := normalizeName(value)
	if v == "" {
		return nil, Profile{}, false
	}
	for _, e := range r.entries {
		for _, n := range e.profile.Names {
			if normalizeName(n) == v {
				return e.carrier, e.profile, true
			}
		}
		if normalizeName(e.carrier.Name()) == v {
			return e.carrier, e.profile, true
		}
	}
	return nil, Profile{}, false
}

// Get returns the carrier registered under key.
func (r *Registry) Get(key string) (Carrier, Profile, bool) {
	for _, e := range r.entries {
		if e.carrier.Name() == key {
			return e.carrier, e.profile, true
		}
	}
	return nil, Profile{}, false
}

// Names returns the keys of the registered carriers, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.carrier.Name())
	}
	sort.Strings(out)
	return out
}

// Carriers returns the registered carriers in registration order.
func (r *Registry) Carriers() []Carrier {
	out := make([]Carrier, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.carrier)
	}
	return out
}

func normalizeName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
