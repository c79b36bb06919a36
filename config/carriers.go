package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// Carriers holds the settings of every carrier the program knows, carriers.<key>.*, each in the
// carrier's own type, in the order of the modules given to Load or Default. Its zero value holds
// no carrier. Copies of a Config are independent: Set replaces the list rather than changing it.
type Carriers struct {
	sections []CarrierSection
}

// CarrierSection is one carrier's module and its settings.
type CarrierSection struct {
	Module   carriers.Module
	Settings carriers.Settings
}

// Key is the carrier's key, the section carriers.<key>.
func (s CarrierSection) Key() string { return s.Module.Key() }

// String lists each carrier's settings with %+v, secrets redacted (setting.Secret).
func (c Carriers) String() string { return c.format("%s:%+v") }

// GoString lists each carrier's settings with %#v, secrets redacted: fmt does not reach the
// secrets' own GoString through the unexported list.
func (c Carriers) GoString() string { return "config.Carriers" + c.format("%q:%#v") }

func (c Carriers) format(item string) string {
	parts := make([]string, len(c.sections))
	for i, s := range c.sections {
		parts[i] = fmt.Sprintf(item, s.Key(), s.Settings)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// MarshalJSON encodes each carrier's settings under its key, secrets redacted.
func (c Carriers) MarshalJSON() ([]byte, error) {
	m := make(map[string]carriers.Settings, len(c.sections))
	for _, s := range c.sections {
		m[s.Key()] = s.Settings
	}
	return json.Marshal(m)
}

func newCarriers(mods []carriers.Module) Carriers {
	var c Carriers
	keys, types := map[string]bool{}, map[reflect.Type]bool{}
	for _, m := range mods {
		s := m.Defaults()
		t := reflect.TypeOf(s)
		switch {
		case keys[m.Key()] || types[t]:
			panic(fmt.Sprintf("config: carrier module %q (settings %v) registered twice", m.Key(), t))
		case t == nil || t.Kind() != reflect.Struct:
			panic(fmt.Sprintf("config: carrier module %q: its settings must be a struct, not %v", m.Key(), t))
		}
		keys[m.Key()], types[t] = true, true
		c.sections = append(c.sections, CarrierSection{Module: m, Settings: s})
	}
	return c
}

// Sections returns every carrier's module and settings, in the order of the modules.
func (c Carriers) Sections() []CarrierSection { return slices.Clone(c.sections) }

// Modules returns the carrier modules, in their order.
func (c Carriers) Modules() []carriers.Module {
	out := make([]carriers.Module, len(c.sections))
	for i, s := range c.sections {
		out[i] = s.Module
	}
	return out
}

// Get returns the settings of the carrier with key.
func (c Carriers) Get(key string) (carriers.Settings, bool) {
	for _, s := range c.sections {
		if s.Module.Key() == key {
			return s.Settings, true
		}
	}
	return nil, false
}

// Set replaces the settings of the carrier whose settings have the type of s, and reports
// whether there is one. The list is replaced, not changed, so other copies of the Config keep
// their settings.
func (c *Carriers) Set(s carriers.Settings) bool {
	for i, sec := range c.sections {
		if reflect.TypeOf(sec.Settings) == reflect.TypeOf(s) {
			c.sections = slices.Clone(c.sections)
			c.sections[i].Settings = s
			return true
		}
	}
	return false
}

// CarrierSettings returns the settings of type T (e.g. cdek.Settings) held in c, and whether the
// carrier is there.
func CarrierSettings[T carriers.Settings](c Carriers) (T, bool) {
	for _, s := range c.sections {
		if t, ok := s.Settings.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// Shop returns the shop-wide settings the carriers read: from the first carrier, in the order
// of the modules, whose settings name them (carriers.ShopSettings), enabled or not.
func (c Config) Shop() carriers.Shop {
	var shop carriers.Shop
	for _, s := range c.Carriers.sections {
		if ss, ok := s.Settings.(carriers.ShopSettings); ok && shop.WeightUnit == "" {
			shop.WeightUnit = ss.Shop().WeightUnit
		}
	}
	return shop
}

// CashOnDeliveryAttribute is the name of the cash-on-delivery attribute
// (moysklad.attributes.cash_on_delivery) when an enabled carrier collects by it (its profile's
// CashOnDelivery is "attribute"), else "": the workflow then neither needs nor reads it.
func (c Config) CashOnDeliveryAttribute() string {
	shop := c.Shop()
	for _, s := range c.Carriers.sections {
		if s.Settings.IsEnabled() && s.Settings.Profile(shop).CashOnDelivery == "attribute" {
			return c.MoySklad.Attributes.CashOnDelivery
		}
	}
	return ""
}

// validateCarriers validates every enabled carrier with its own rules, then the common rules
// that read its profile; at least one carrier must be enabled.
func (c Config) validateCarriers(ch *setting.Checker) {
	shop := c.Shop()
	enabled := 0
	for _, s := range c.Carriers.sections {
		if !s.Settings.IsEnabled() {
			continue
		}
		enabled++
		s.Settings.Validate(ch, shop)
		if s.Settings.Profile(shop).CashOnDelivery == "attribute" && strings.TrimSpace(c.MoySklad.Attributes.CashOnDelivery) == "" {
			ch.Add("moysklad.attributes.cash_on_delivery", "must name the boolean order attribute that marks cash on delivery when carriers.%s.cash_on_delivery is attribute", s.Key())
		}
	}
	if enabled > 0 {
		return
	}
	if len(c.Carriers.sections) == 0 {
		ch.Add("carriers", "holds no carrier: this build of shipbridge knows none")
		return
	}
	others := make([]string, 0, len(c.Carriers.sections)-1)
	for _, s := range c.Carriers.sections[1:] {
		others = append(others, " or carriers."+s.Key()+".enabled")
	}
	ch.Add("carriers."+c.Carriers.sections[0].Key()+".enabled", "is false and no other carrier is enabled: set it%s to true", strings.Join(others, ""))
}
