package pochta

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
)

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultBaseURL is the production «Отправка» API; there is no public
	// test server (reference §2.11).
	DefaultBaseURL  = "https://otpravka-api.pochta.ru"
	DefaultMailType = "POSTAL_PARCEL"
	// DefaultHTTPTimeout: [LAPAY] recommends 120 s for Pochta's services;
	// 60 s keeps a cycle bounded while covering its slow answers.
	DefaultHTTPTimeout    = 60 * time.Second
	DefaultMaxBodyBytes   = 4 << 20
	DefaultMaxPDFBytes    = 20 << 20
	DefaultQuotaRefresh   = 5 * time.Minute
	DefaultQuotaWarnRatio = 0.8
	DefaultPrintType      = "PAPER"
)

// Observer receives one call per HTTP exchange with «Отправка». endpoint is
// a path template such as "/1.0/backlog/{id}"; status is 0 when no response
// was received.
type Observer interface {
	ObserveRequest(method, endpoint string, status int, d time.Duration, err error)
}

// Package is the box every parcel is sent in, and the weight used when the
// goods weigh nothing (as for CDEK).
type Package struct {
	LengthCM, WidthCM, HeightCM int
	DefaultWeightG              int
}

// Config configures the «Отправка» client and the adapter (PRODUCT §4,
// carriers.pochta.*). Start from DefaultConfig: DeclaredValue defaults to
// true there.
type Config struct {
	// Enabled turns the carrier on; Validate requires the secrets and the
	// shipping point only then.
	Enabled bool
	// Names are the values of the order's carrier field that select Pochta.
	Names []string
	// BaseURL is the API root (default DefaultBaseURL, production).
	BaseURL string
	// Token is the application token (Authorization: AccessToken …);
	// Login and Password make the X-User-Authorization Basic key. Secrets.
	Token    string
	Login    string
	Password string
	// PostofficeCode is the acceptance office (postoffice-code), one of the
	// account's shipping points.
	PostofficeCode string
	// MailType is the mail-type of every parcel (default POSTAL_PARCEL).
	MailType string
	// DeclaredValue sends the goods' value as insr-value with category
	// WITH_DECLARED_VALUE (default true in DefaultConfig).
	DeclaredValue bool
	// CashOnDelivery is "auto" (collect what the customer owes) or "never";
	// the workflow applies it when it builds the shipment (Profile).
	CashOnDelivery string
	// WeightUnit is the unit of product weights in the shop: "kg" or "g".
	WeightUnit string
	Package    Package
	// PrintType is the print-type of the forms: PAPER (default) or THERMO.
	PrintType string

	// Location is the time zone of the shipping day (default Europe/Moscow,
	// UTC+3 when the zone database is missing).
	Location *time.Location
	// HTTPClient is used for every call; default: a client with a 60 s timeout.
	HTTPClient *http.Client
	// Logger gets debug lines per request and the quota warning; never secrets.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Observer, when set, is told about every HTTP exchange.
	Observer Observer
	// MaxBodyBytes bounds JSON answers (default 4 MiB); MaxPDFBytes forms (20 MiB).
	MaxBodyBytes int64
	MaxPDFBytes  int64
	// QuotaRefresh is how old the known daily quota may get before Submit or
	// Track read it again (default 5 min); QuotaWarnRatio is the share of the
	// quota at which a warning is logged (default 0.8). Tracking stops at
	// that share too, so registrations keep the rest.
	QuotaRefresh   time.Duration
	QuotaWarnRatio float64
}

// DefaultConfig returns the configuration PRODUCT §4 documents:
// disabled, names «Почта России» and «Почта», production URL, POSTAL_PARCEL,
// declared value on, cash on delivery auto, weights in kg.
func DefaultConfig() Config {
	return Config{
		Names:          []string{"Почта России", "Почта"},
		BaseURL:        DefaultBaseURL,
		MailType:       DefaultMailType,
		DeclaredValue:  true,
		CashOnDelivery: "auto",
		WeightUnit:     "kg",
		PrintType:      DefaultPrintType,
	}
}

// String describes the configuration without the secrets.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return `""`
		}
		return "[redacted]"
	}
	return fmt.Sprintf("pochta.Config{Enabled:%v BaseURL:%q Token:%s Login:%s Password:%s PostofficeCode:%q MailType:%q DeclaredValue:%v}",
		c.Enabled, c.BaseURL, red(c.Token), red(c.Login), red(c.Password), c.PostofficeCode, c.MailType, c.DeclaredValue)
}

// GoString is String, so %#v does not print the secrets either.
func (c Config) GoString() string { return c.String() }

// Validate checks the configuration as the config file sets it. When the
// carrier is disabled only the shape of optional values is checked.
func (c Config) Validate() error {
	var errs []error
	if c.Enabled {
		if strings.TrimSpace(c.Token) == "" {
			errs = append(errs, errors.New("carriers.pochta.token is required"))
		}
		if strings.TrimSpace(c.Login) == "" {
			errs = append(errs, errors.New("carriers.pochta.login is required"))
		}
		if c.Password == "" {
			errs = append(errs, errors.New("carriers.pochta.password is required"))
		}
		if strings.TrimSpace(c.PostofficeCode) == "" {
			errs = append(errs, errors.New("carriers.pochta.postoffice_code is required (one of the account's shipping points)"))
		}
	}
	if pc := strings.TrimSpace(c.PostofficeCode); pc != "" && !isIndex(pc) {
		errs = append(errs, fmt.Errorf("carriers.pochta.postoffice_code %q is not a 6-digit post office index", c.PostofficeCode))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("carriers.pochta.base_url %q is not an http(s) URL", c.BaseURL))
		}
	}
	if mt := c.MailType; mt != "" && !validEnum(mt) {
		errs = append(errs, fmt.Errorf("carriers.pochta.mail_type %q is not a Pochta mail type such as POSTAL_PARCEL", mt))
	}
	switch c.CashOnDelivery {
	case "", "auto", "never":
	default:
		errs = append(errs, fmt.Errorf("carriers.pochta.cash_on_delivery must be auto or never, not %q", c.CashOnDelivery))
	}
	switch c.WeightUnit {
	case "", "kg", "g":
	default:
		errs = append(errs, fmt.Errorf("carriers.pochta.weight_unit must be kg or g, not %q", c.WeightUnit))
	}
	switch c.PrintType {
	case "", "PAPER", "THERMO":
	default:
		errs = append(errs, fmt.Errorf("carriers.pochta.print_type must be PAPER or THERMO, not %q", c.PrintType))
	}
	p := c.Package
	if p.LengthCM < 0 || p.WidthCM < 0 || p.HeightCM < 0 || p.DefaultWeightG < 0 {
		errs = append(errs, errors.New("carriers.pochta.package: sizes and default weight must not be negative"))
	}
	return errors.Join(errs...)
}

func isIndex(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validEnum(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.MailType == "" {
		c.MailType = DefaultMailType
	}
	if c.PrintType == "" {
		c.PrintType = DefaultPrintType
	}
	if c.CashOnDelivery == "" {
		c.CashOnDelivery = "auto"
	}
	if c.WeightUnit == "" {
		c.WeightUnit = "kg"
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Europe/Moscow")
		if err != nil {
			loc = time.FixedZone("MSK", 3*60*60)
		}
		c.Location = loc
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPDFBytes <= 0 {
		c.MaxPDFBytes = DefaultMaxPDFBytes
	}
	if c.QuotaRefresh <= 0 {
		c.QuotaRefresh = DefaultQuotaRefresh
	}
	if c.QuotaWarnRatio <= 0 || c.QuotaWarnRatio > 1 {
		c.QuotaWarnRatio = DefaultQuotaWarnRatio
	}
	return c
}

// Timings are the workflow waits suited to Pochta: the create is
// synchronous (the ШПИ comes back at once), so there is nothing to poll
// for; a create whose answer was lost is visible to the searches as soon
// as it exists, with a short margin for replication (UNCONFIRMED: no
// source measures it).
func Timings() carriers.Timings {
	return carriers.Timings{
		FirstPollDelay: time.Second,
		ReconcileGrace: 2 * time.Minute,
		SettleTimeout:  30 * time.Second,
	}
}

// Profile returns the workflow profile of this configuration.
func (c Config) Profile() carriers.Profile {
	c = c.withDefaults()
	return carriers.Profile{
		Names:          c.Names,
		WeightUnit:     c.WeightUnit,
		DefaultWeightG: c.Package.DefaultWeightG,
		LengthCM:       c.Package.LengthCM,
		WidthCM:        c.Package.WidthCM,
		HeightCM:       c.Package.HeightCM,
		CashOnDelivery: c.CashOnDelivery,
		Timings:        Timings(),
	}
}
