package carriers

import (
	"fmt"
	"sort"
	"strings"
	"time"
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
	// CashOnDelivery is "auto" (collect what is unpaid), "never", or
	// "attribute" (collect it only from orders whose cash-on-delivery
	// attribute is ticked: the configuration then requires
	// moysklad.attributes.cash_on_delivery, and setup creates it).
	CashOnDelivery string

	// Timings are the carrier's own waits; zero fields take the workflow's
	// defaults.
	Timings Timings
}

// Timings are the waits the workflow keeps for one carrier, tuned to how fast
// it answers.
type Timings struct {
	// FirstPollDelay is how long after an accepted create the first status
	// check is made (asynchronous carriers).
	FirstPollDelay time.Duration
	// ReconcileGrace is how long a create that got no answer may still turn
	// up at the carrier: a "not found" before it has passed proves nothing.
	ReconcileGrace time.Duration
	// SettleTimeout bounds the wait for an asynchronous answer within one
	// cycle.
	SettleTimeout time.Duration
}

// Idempotent is implemented by carriers that refuse a second create with the
// same number (CDEK). A carrier must be Idempotent or a Finder: otherwise a
// create whose answer was lost could only be re-sent blindly.
type Idempotent interface {
	RefusesDuplicateNumber() bool
}

// Capabilities are what a registered carrier can do beyond Carrier, detected
// once by Register. A nil field means the carrier lacks the capability.
type Capabilities struct {
	Finder    Finder
	FinderAll FinderAll
	Deleter   Deleter
	Waybill   WaybillPrinter
	Checker   Checker
	Batcher   Batcher
	Tracker   Tracker
	// Idempotent is true when the carrier refuses a duplicate number.
	Idempotent bool
}

// Detect finds c's capabilities.
func Detect(c Carrier) Capabilities {
	var caps Capabilities
	caps.Finder, _ = c.(Finder)
	caps.FinderAll, _ = c.(FinderAll)
	caps.Deleter, _ = c.(Deleter)
	caps.Waybill, _ = c.(WaybillPrinter)
	caps.Checker, _ = c.(Checker)
	caps.Batcher, _ = c.(Batcher)
	caps.Tracker, _ = c.(Tracker)
	if i, ok := c.(Idempotent); ok {
		caps.Idempotent = i.RefusesDuplicateNumber()
	}
	return caps
}

// CanFind reports whether the carrier can look a shipment up by our number.
func (c Capabilities) CanFind() bool { return c.Finder != nil || c.FinderAll != nil }

// Registry holds the enabled carriers. Build one where the program is wired
// and pass it in; it is not safe to Register while other goroutines read.
type Registry struct {
	entries []entry
}

type entry struct {
	carrier Carrier
	profile Profile
	caps    Capabilities
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
	caps := Detect(c)
	if !caps.Idempotent && !caps.CanFind() {
		return fmt.Errorf("carriers: register %q: the carrier neither refuses a duplicate number nor can find a shipment by number, so a create whose answer is lost could only be re-sent blindly", c.Name())
	}
	r.entries = append(r.entries, entry{carrier: c, profile: p, caps: caps})
	return nil
}

// Capabilities returns the capabilities detected when key was registered.
func (r *Registry) Capabilities(key string) (Capabilities, bool) {
	for _, e := range r.entries {
		if e.carrier.Name() == key {
			return e.caps, true
		}
	}
	return Capabilities{}, false
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
