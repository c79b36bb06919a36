package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the configuration key at fault, e.g. "moysklad.token".
	Key string
	// Message says what is wrong and how to fix it; it starts with the key.
	Message string
}

// ValidationError lists every problem found by Validate.
type ValidationError struct {
	Problems []Problem
}

// Error joins the problems into one line.
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Validate checks everything a command that talks to MoySklad and the carriers needs
// (run, once, check, setup), credentials included. It returns nil or a *ValidationError that
// lists every problem, each naming its key and the fix.
func (c Config) Validate() error {
	return c.validate(true)
}

// ValidateWithoutCredentials checks the same as Validate except that secrets may be missing: for
// commands that never reach the real services (demo) or only read the store (history).
func (c Config) ValidateWithoutCredentials() error {
	return c.validate(false)
}

type checker struct{ problems []Problem }

func (ch *checker) add(key, format string, args ...any) {
	ch.problems = append(ch.problems, Problem{Key: key, Message: key + " " + fmt.Sprintf(format, args...)})
}

func (ch *checker) required(key, value string) bool {
	if strings.TrimSpace(value) == "" {
		ch.add(key, "is required: set %s", EnvName(key))
		return false
	}
	return true
}

func (ch *checker) positive(key string, value int) {
	if value <= 0 {
		ch.add(key, "must be greater than 0, got %d", value)
	}
}

func (ch *checker) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		ch.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
	}
}

func (ch *checker) httpURL(key, value string) {
	if !ch.required(key, value) {
		return
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ch.add(key, "must be an http(s) URL such as https://host/path, got %q", value)
	}
}

func (c Config) validate(credentials bool) error {
	ch := &checker{}

	if ch.required("schedule", c.Schedule) {
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			ch.add("schedule", "is not a valid cron spec (%v): use e.g. \"@every 1m\" or \"*/5 * * * *\"", err)
		}
	}
	if c.WatchEvery < 0 || (c.WatchEvery > 0 && c.WatchEvery < time.Second) {
		ch.add("watch_every", "must be 0 (off) or a duration of at least 1s such as 12s, got %s", c.WatchEvery)
	}
	ch.positive("workers", c.Workers)
	if c.SweepEvery <= 0 {
		ch.add("sweep_every", "must be a positive duration such as 15m, got %s", c.SweepEvery)
	}
	if c.RetryBase <= 0 {
		ch.add("retry_base", "must be a positive duration such as 30s, got %s", c.RetryBase)
	}
	if c.RetryMax < c.RetryBase {
		ch.add("retry_max", "must be at least retry_base (%s), got %s", c.RetryBase, c.RetryMax)
	}
	if c.Overlap < 0 {
		ch.add("overlap", "must not be negative, got %s", c.Overlap)
	}
	if c.OnceTimeout <= 0 {
		ch.add("once_timeout", "must be a positive duration such as 2m, got %s", c.OnceTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		ch.add("shutdown_timeout", "must be a positive duration such as 1m, got %s", c.ShutdownTimeout)
	}

	ch.required("store.path", c.Store.Path)
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ch.oneOf("log.format", c.Log.Format, "console", "json")
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			ch.add("http.listen", "must be host:port such as 127.0.0.1:8080, or empty to disable, got %q", c.HTTP.Listen)
		}
	}

	ms := c.MoySklad
	ch.httpURL("moysklad.base_url", ms.BaseURL)
	if credentials {
		ch.required("moysklad.token", ms.Token.Value())
	}
	ch.positive("moysklad.requests_per_window", ms.RequestsPerWindow)
	if ms.Window <= 0 {
		ch.add("moysklad.window", "must be a positive duration such as 3s, got %s", ms.Window)
	}
	if ms.MaxParallel < 1 || ms.MaxParallel > 5 {
		ch.add("moysklad.max_parallel", "must be between 1 and 5 (MoySklad allows 5 parallel requests), got %d", ms.MaxParallel)
	}
	states := []struct{ key, value string }{
		{"moysklad.states.ready", ms.States.Ready},
		{"moysklad.states.registered", ms.States.Registered},
		{"moysklad.states.failed", ms.States.Failed},
		{"moysklad.states.delete", ms.States.Delete},
		{"moysklad.states.deleted", ms.States.Deleted},
		{"moysklad.states.not_deleted", ms.States.NotDeleted},
	}
	seen := map[string]string{}
	for _, s := range states {
		if !ch.required(s.key, s.value) {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(s.value))
		if other, dup := seen[name]; dup {
			ch.add(s.key, "must differ from %s (both are %q): every status of the workflow needs its own name", other, s.value)
			continue
		}
		seen[name] = s.key
	}
	for _, s := range []struct{ key, value string }{{"moysklad.states.delivered", ms.States.Delivered}, {"moysklad.states.returned", ms.States.Returned}} {
		name := strings.ToLower(strings.TrimSpace(s.value))
		if name == "" {
			continue // empty: tracking never moves an order there
		}
		if other, dup := seen[name]; dup {
			ch.add(s.key, "must differ from %s (both are %q): every status of the workflow needs its own name", other, s.value)
			continue
		}
		seen[name] = s.key
	}
	attrs := []struct{ key, value string }{
		{"moysklad.attributes.carrier", ms.Attributes.Carrier},
		{"moysklad.attributes.pickup_point", ms.Attributes.PickupPoint},
		{"moysklad.attributes.tariff", ms.Attributes.Tariff},
		{"moysklad.attributes.tracking_number", ms.Attributes.TrackingNumber},
		{"moysklad.attributes.waybill", ms.Attributes.Waybill},
		{"moysklad.attributes.error", ms.Attributes.Error},
	}
	if c.Tracking.Every > 0 {
		attrs = append(attrs, struct{ key, value string }{"moysklad.attributes.delivery_status", ms.Attributes.DeliveryStatus})
	}
	seen = map[string]string{}
	for _, a := range attrs {
		if !ch.required(a.key, a.value) {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(a.value))
		if other, dup := seen[name]; dup {
			ch.add(a.key, "must differ from %s (both are %q)", other, a.value)
			continue
		}
		seen[name] = a.key
	}

	if c.Tracking.Every < 0 {
		ch.add("tracking.every", "must not be negative (0 disables tracking), got %s", c.Tracking.Every)
	}
	if c.Tracking.Every > 0 && c.Tracking.MaxAge <= 0 {
		ch.add("tracking.max_age", "must be a positive duration such as 1440h, got %s", c.Tracking.MaxAge)
	}

	cd := c.Carriers.CDEK
	if !cd.Enabled && !c.Carriers.Pochta.Enabled {
		ch.add("carriers.cdek.enabled", "is false and no other carrier is enabled: set it or carriers.pochta.enabled to true")
	} else if cd.Enabled {
		c.validateCDEK(ch, credentials)
	}
	c.validatePochta(ch, credentials)

	if len(ch.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: ch.problems}
}

func (c Config) validateCDEK(ch *checker, credentials bool) {
	cd := c.Carriers.CDEK
	if len(cd.Names) == 0 || slices.ContainsFunc(cd.Names, func(n string) bool { return strings.TrimSpace(n) == "" }) {
		ch.add("carriers.cdek.names", "must list the non-empty values of the carrier attribute that mean CDEK, e.g. [\"СДЭК\", \"CDEK\"]")
	}
	ch.httpURL("carriers.cdek.base_url", cd.BaseURL)
	if credentials && !IsCDEKTestServer(cd.BaseURL) {
		for _, key := range []string{"carriers.cdek.client_id", "carriers.cdek.client_secret"} {
			value := cd.ClientID
			if key == "carriers.cdek.client_secret" {
				value = cd.ClientSecret
			}
			if strings.TrimSpace(value.Value()) == "" {
				ch.add(key, "is required when carriers.cdek.base_url is not the CDEK test server: set %s", EnvName(key))
			}
		}
	}
	if cd.OrderType != 1 && cd.OrderType != 2 {
		ch.add("carriers.cdek.order_type", "must be 1 (online store) or 2 (delivery), got %d", cd.OrderType)
	}
	ch.positive("carriers.cdek.tariff_code", cd.TariffCode)
	ch.positive("carriers.cdek.door_tariff_code", cd.DoorTariffCode)
	if strings.TrimSpace(cd.ShipmentPoint) == "" {
		loc := cd.FromLocation
		if loc.IsZero() && credentials {
			// Where parcels are handed over is part of what a real CDEK
			// account needs; demo and history work without it.
			ch.add("carriers.cdek.shipment_point", "or carriers.cdek.from_location is required: set %s to the CDEK office where you hand over parcels (e.g. MSK65), or fill carriers.cdek.from_location", EnvName("carriers.cdek.shipment_point"))
		} else if !loc.IsZero() {
			if strings.TrimSpace(loc.Address) == "" {
				ch.add("carriers.cdek.from_location.address", "is required when carriers.cdek.from_location is used: set %s", EnvName("carriers.cdek.from_location.address"))
			}
			if loc.Code == 0 && strings.TrimSpace(loc.City) == "" && strings.TrimSpace(loc.PostalCode) == "" {
				ch.add("carriers.cdek.from_location.city", "or carriers.cdek.from_location.code or carriers.cdek.from_location.postal_code is required when carriers.cdek.from_location is used: set %s", EnvName("carriers.cdek.from_location.city"))
			}
			if len(loc.CountryCode) != 2 {
				ch.add("carriers.cdek.from_location.country_code", "must be an ISO 3166 alpha-2 code such as RU, got %q", loc.CountryCode)
			}
		}
	}
	if cd.OrderType == 2 {
		if strings.TrimSpace(cd.Sender.Name) == "" {
			ch.add("carriers.cdek.sender.name", "is required for carriers.cdek.order_type 2: set %s", EnvName("carriers.cdek.sender.name"))
		}
		if strings.TrimSpace(cd.Sender.Phone) == "" {
			ch.add("carriers.cdek.sender.phone", "is required for carriers.cdek.order_type 2: set %s", EnvName("carriers.cdek.sender.phone"))
		}
	}
	ch.positive("carriers.cdek.package.length_cm", cd.Package.LengthCM)
	ch.positive("carriers.cdek.package.width_cm", cd.Package.WidthCM)
	ch.positive("carriers.cdek.package.height_cm", cd.Package.HeightCM)
	if cd.Package.DefaultWeightG < 0 {
		ch.add("carriers.cdek.package.default_weight_g", "must not be negative (0 means no default), got %d", cd.Package.DefaultWeightG)
	}
	ch.oneOf("carriers.cdek.weight_unit", cd.WeightUnit, "kg", "g")
	ch.oneOf("carriers.cdek.cash_on_delivery", cd.CashOnDelivery, "auto", "never", "attribute")
	if cd.CashOnDelivery == "attribute" && strings.TrimSpace(c.MoySklad.Attributes.CashOnDelivery) == "" {
		ch.add("moysklad.attributes.cash_on_delivery", "must name the boolean order attribute that marks cash on delivery when carriers.cdek.cash_on_delivery is attribute")
	}
	if cd.PrintCopies < 1 || cd.PrintCopies > 10 {
		ch.add("carriers.cdek.print_copies", "must be between 1 and 10, got %d", cd.PrintCopies)
	}
}

// validatePochta checks carriers.pochta.* with the carrier package's own rules (pochta.Config.Validate)
// when it is enabled; without credentials (demo, history) the secrets may be missing.
func (c Config) validatePochta(ch *checker, credentials bool) {
	pc := c.Carriers.Pochta
	if !pc.Enabled {
		return
	}
	if len(pc.Names) == 0 || slices.ContainsFunc(pc.Names, func(n string) bool { return strings.TrimSpace(n) == "" }) {
		ch.add("carriers.pochta.names", "must list the non-empty values of the carrier attribute that mean Почта России, e.g. [\"Почта России\", \"Почта\"]")
	}
	ch.required("carriers.pochta.base_url", pc.BaseURL)
	ch.positive("carriers.pochta.package.length_cm", pc.Package.LengthCM)
	ch.positive("carriers.pochta.package.width_cm", pc.Package.WidthCM)
	ch.positive("carriers.pochta.package.height_cm", pc.Package.HeightCM)
	pcfg := c.PochtaConfig()
	if !credentials {
		// Secrets may be missing; fill placeholders so only the shape of the rest is checked.
		pcfg.Token, pcfg.Login, pcfg.Password = "x", "x", "x"
		if strings.TrimSpace(pcfg.PostofficeCode) == "" {
			pcfg.PostofficeCode = "000000"
		}
	}
	if err := pcfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			msg := e.Error()
			key, _, _ := strings.Cut(msg, " ")
			if strings.HasPrefix(key, "carriers.pochta.") {
				if strings.Contains(msg, " is required") {
					msg += ": set " + EnvName(key)
				}
				ch.problems = append(ch.problems, Problem{Key: key, Message: msg})
			} else {
				ch.add("carriers.pochta", "%s", msg)
			}
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
