package config

import (
	"net"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/shipbridge/shipbridge/config/setting"
)

// Problem is one thing wrong with the configuration.
type Problem = setting.Problem

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

func (c Config) validate(credentials bool) error {
	ch := &setting.Checker{Credentials: credentials}
	c.validateCycle(ch)
	c.validateLocal(ch)
	c.validateMoySklad(ch)
	c.validateStates(ch)
	c.validateAttributes(ch)
	c.validateTracking(ch)
	c.validateCarriers(ch)
	if len(ch.Problems()) == 0 {
		return nil
	}
	return &ValidationError{Problems: ch.Problems()}
}

// validateCycle checks the schedule and the timings of the poll cycle.
func (c Config) validateCycle(ch *setting.Checker) {
	if ch.Required("schedule", c.Schedule) {
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			ch.Add("schedule", "is not a valid cron spec (%v): use e.g. \"@every 1m\" or \"*/5 * * * *\"", err)
		}
	}
	if c.WatchEvery < 0 || (c.WatchEvery > 0 && c.WatchEvery < time.Second) {
		ch.Add("watch_every", "must be 0 (off) or a duration of at least 1s such as 12s, got %s", c.WatchEvery)
	}
	ch.Positive("workers", c.Workers)
	positiveDuration(ch, "sweep_every", c.SweepEvery, "15m")
	positiveDuration(ch, "retry_base", c.RetryBase, "30s")
	if c.RetryMax < c.RetryBase {
		ch.Add("retry_max", "must be at least retry_base (%s), got %s", c.RetryBase, c.RetryMax)
	}
	if c.Overlap < 0 {
		ch.Add("overlap", "must not be negative, got %s", c.Overlap)
	}
	positiveDuration(ch, "once_timeout", c.OnceTimeout, "2m")
	positiveDuration(ch, "shutdown_timeout", c.ShutdownTimeout, "1m")
}

// positiveDuration records a problem when d is not positive; example is a good value.
func positiveDuration(ch *setting.Checker, key string, d time.Duration, example string) {
	if d <= 0 {
		ch.Add(key, "must be a positive duration such as %s, got %s", example, d)
	}
}

// validateLocal checks what concerns this host: the store, logging and the HTTP endpoints.
func (c Config) validateLocal(ch *setting.Checker) {
	ch.Required("store.path", c.Store.Path)
	ch.OneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ch.OneOf("log.format", c.Log.Format, "console", "json")
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			ch.Add("http.listen", "must be host:port such as 127.0.0.1:8080, or empty to disable, got %q", c.HTTP.Listen)
		}
	}
}

// validateMoySklad checks the MoySklad client's keys: the address, the token and the rate limit.
func (c Config) validateMoySklad(ch *setting.Checker) {
	ms := c.MoySklad
	ch.HTTPURL("moysklad.base_url", ms.BaseURL)
	if ch.Credentials {
		ch.Required("moysklad.token", ms.Token.Value())
	}
	ch.Positive("moysklad.requests_per_window", ms.RequestsPerWindow)
	positiveDuration(ch, "moysklad.window", ms.Window, "3s")
	if ms.MaxParallel < 1 || ms.MaxParallel > 5 {
		ch.Add("moysklad.max_parallel", "must be between 1 and 5 (MoySklad allows 5 parallel requests), got %d", ms.MaxParallel)
	}
}

// named is a configured name in MoySklad and its key.
type named struct{ key, value string }

// validateStates checks that the workflow's statuses are named, and each differently; the
// statuses of tracking may be empty (tracking then never moves an order there).
func (c Config) validateStates(ch *setting.Checker) {
	s := c.MoySklad.States
	seen := map[string]string{}
	const why = ": every status of the workflow needs its own name"
	distinct(ch, seen, true, why, []named{
		{"moysklad.states.ready", s.Ready},
		{"moysklad.states.registered", s.Registered},
		{"moysklad.states.failed", s.Failed},
		{"moysklad.states.delete", s.Delete},
		{"moysklad.states.deleted", s.Deleted},
		{"moysklad.states.not_deleted", s.NotDeleted},
	})
	distinct(ch, seen, false, why, []named{{"moysklad.states.delivered", s.Delivered}, {"moysklad.states.returned", s.Returned}})
}

// validateAttributes checks that the workflow's attributes are named, and each differently;
// tracking's attribute only while tracking is on. The cash-on-delivery attribute is the
// carriers' concern (validateCarriers).
func (c Config) validateAttributes(ch *setting.Checker) {
	a := c.MoySklad.Attributes
	attrs := []named{
		{"moysklad.attributes.carrier", a.Carrier},
		{"moysklad.attributes.pickup_point", a.PickupPoint},
		{"moysklad.attributes.tariff", a.Tariff},
		{"moysklad.attributes.tracking_number", a.TrackingNumber},
		{"moysklad.attributes.waybill", a.Waybill},
		{"moysklad.attributes.error", a.Error},
	}
	if c.Tracking.Every > 0 {
		attrs = append(attrs, named{"moysklad.attributes.delivery_status", a.DeliveryStatus})
	}
	distinct(ch, map[string]string{}, true, "", attrs)
}

// distinct records a problem for each name equal (case and surrounding spaces aside) to an
// earlier one in seen, which it extends; why ends the message. Required names must be set;
// others are skipped when empty.
func distinct(ch *setting.Checker, seen map[string]string, required bool, why string, names []named) {
	for _, n := range names {
		if required && !ch.Required(n.key, n.value) {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(n.value))
		if name == "" {
			continue
		}
		if other, dup := seen[name]; dup {
			ch.Add(n.key, "must differ from %s (both are %q)%s", other, n.value, why)
			continue
		}
		seen[name] = n.key
	}
}

// validateTracking checks tracking's period and the age at which it stops.
func (c Config) validateTracking(ch *setting.Checker) {
	if c.Tracking.Every < 0 {
		ch.Add("tracking.every", "must not be negative (0 disables tracking), got %s", c.Tracking.Every)
	}
	if c.Tracking.Every > 0 && c.Tracking.MaxAge <= 0 {
		ch.Add("tracking.max_age", "must be a positive duration such as 1440h, got %s", c.Tracking.MaxAge)
	}
}
