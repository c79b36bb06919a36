package cdek

import (
	_ "embed"
	"net/url"
	"slices"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// Module is CDEK's carrier module (carriers.Module): the settings carriers.cdek.*, their
// validation, the building of the carrier and what `shipbridge check` says about it.
type Module struct{}

var _ carriers.Module = Module{}

// Key returns "cdek".
func (Module) Key() string { return Name }

// Title returns "CDEK".
func (Module) Title() string { return title }

// Defaults returns DefaultSettings.
func (Module) Defaults() carriers.Settings { return DefaultSettings() }

// ConfigYAML returns CDEK's commented section of config.yaml (settings.yaml).
func (Module) ConfigYAML() string { return settingsYAML }

//go:embed settings.yaml
var settingsYAML string

// title is how check names CDEK.
const title = "CDEK"

// keyPrefix starts every key of CDEK's settings.
const keyPrefix = "carriers." + Name + "."

// TestBaseURL is the address of CDEK's public test server, the default carriers.cdek.base_url;
// ProductionBaseURL is CDEK's production API.
const (
	TestBaseURL       = "https://api.edu.cdek.ru"
	ProductionBaseURL = "https://api.cdek.ru"
)

// The public test account of CDEK, published in CDEK's API documentation ("Подключение к
// сервису"). It is shared by all integrators, works only on api.edu.cdek.ru, and is filled in by
// Settings.Complete (when the configuration is loaded) when base_url is the test server and no
// credentials are configured.
const (
	testClientID     = "wqGwiQx0gg8mLtiEKsUinjVSICCjtTEP"
	testClientSecret = "RmAmgvSgSl1yirlz9QupbzOJVqhCxcP5"
)

// IsTestServer reports whether baseURL points at CDEK's public test server api.edu.cdek.ru.
func IsTestServer(baseURL string) bool {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	return err == nil && strings.EqualFold(u.Hostname(), "api.edu.cdek.ru")
}

// Settings are CDEK's settings, the keys carriers.cdek.* (the mapstructure tags). Build maps
// them onto Config.
type Settings struct {
	// Enabled turns the carrier on.
	Enabled bool `mapstructure:"enabled"`
	// Names are the values of the order's carrier attribute that select CDEK (case-insensitive).
	Names []string `mapstructure:"names"`
	// BaseURL is the API root: TestBaseURL or ProductionBaseURL.
	BaseURL string `mapstructure:"base_url"`
	// ClientID and ClientSecret are the OAuth client credentials. Both default to CDEK's public test
	// account when BaseURL is the test server (Complete). Both are secrets.
	ClientID     setting.Secret `mapstructure:"client_id"`
	ClientSecret setting.Secret `mapstructure:"client_secret"`
	// OrderType is 1 (online store, "интернет-магазин") or 2 (delivery, "доставка").
	OrderType int `mapstructure:"order_type"`
	// TariffCode is the default tariff when the order has a pickup point; DoorTariffCode when it has
	// only an address. The order's tariff attribute overrides both.
	TariffCode     int `mapstructure:"tariff_code"`
	DoorTariffCode int `mapstructure:"door_tariff_code"`
	// ShipmentPoint is the CDEK office where parcels are handed over; when empty, FromLocation is used.
	ShipmentPoint string                   `mapstructure:"shipment_point"`
	FromLocation  SenderLocation           `mapstructure:"from_location"`
	Sender        Sender                   `mapstructure:"sender"`
	Package       carriers.PackageSettings `mapstructure:"package"`
	// WeightUnit is the unit of the product weights in MoySklad: kg or g. It is the shop's unit,
	// so every carrier reads it (Shop).
	WeightUnit string `mapstructure:"weight_unit"`
	// CashOnDelivery is auto (collect the unpaid amount, sum − payedSum, on delivery), never, or
	// attribute (collect it only from orders whose attribute moysklad.attributes.cash_on_delivery
	// is ticked).
	CashOnDelivery string `mapstructure:"cash_on_delivery"`
	// PrintCopies is the number of waybill copies on one PDF.
	PrintCopies int `mapstructure:"print_copies"`
}

var (
	_ carriers.Settings     = Settings{}
	_ carriers.ShopSettings = Settings{}
)

// DefaultSettings returns CDEK's settings when neither a file nor the environment sets a key:
// enabled, on the test server, online-store orders with tariffs 136 and 137. The credentials
// are empty; Complete fills in the public test account.
func DefaultSettings() Settings {
	return Settings{
		Enabled:        true,
		Names:          []string{"СДЭК", "CDEK"},
		BaseURL:        TestBaseURL,
		OrderType:      1,
		TariffCode:     136,
		DoorTariffCode: 137,
		FromLocation:   SenderLocation{CountryCode: "RU"},
		Package:        carriers.PackageSettings{LengthCM: 20, WidthCM: 15, HeightCM: 10},
		WeightUnit:     "kg",
		CashOnDelivery: "auto",
		PrintCopies:    2,
	}
}

// IsEnabled reports whether carriers.cdek.enabled is true.
func (s Settings) IsEnabled() bool { return s.Enabled }

// Complete fills in CDEK's public test account when BaseURL is the test server and neither
// credential is configured.
func (s Settings) Complete() carriers.Settings {
	if IsTestServer(s.BaseURL) && s.ClientID == "" && s.ClientSecret == "" {
		s.ClientID, s.ClientSecret = testClientID, testClientSecret
	}
	return s
}

// Shop returns the shop-wide settings CDEK's keys hold: carriers.cdek.weight_unit is the unit
// of every product weight in MoySklad.
func (s Settings) Shop() carriers.Shop { return carriers.Shop{WeightUnit: s.WeightUnit} }

// Validate records every problem of carriers.cdek.*; without credentials (demo, history) the
// client id and secret and the place where parcels are handed over may be missing.
func (s Settings) Validate(ch *setting.Checker, _ carriers.Shop) {
	s.validateAccount(ch)
	s.validateSending(ch)
	s.validateParcels(ch)
}

// validateAccount checks the names, the address and the credentials.
func (s Settings) validateAccount(ch *setting.Checker) {
	if len(s.Names) == 0 || slices.ContainsFunc(s.Names, func(n string) bool { return strings.TrimSpace(n) == "" }) {
		ch.Add(keyPrefix+"names", "must list the non-empty values of the carrier attribute that mean CDEK, e.g. [\"СДЭК\", \"CDEK\"]")
	}
	ch.HTTPURL(keyPrefix+"base_url", s.BaseURL)
	if !ch.Credentials || IsTestServer(s.BaseURL) {
		return
	}
	for _, c := range []struct {
		key   string
		value setting.Secret
	}{{keyPrefix + "client_id", s.ClientID}, {keyPrefix + "client_secret", s.ClientSecret}} {
		if strings.TrimSpace(c.value.Value()) == "" {
			ch.Add(c.key, "is required when carriers.cdek.base_url is not the CDEK test server: set %s", setting.EnvName(c.key))
		}
	}
}

// validateSending checks the order type, the tariffs, where parcels are handed over and the
// sender.
func (s Settings) validateSending(ch *setting.Checker) {
	if s.OrderType != 1 && s.OrderType != 2 {
		ch.Add(keyPrefix+"order_type", "must be 1 (online store) or 2 (delivery), got %d", s.OrderType)
	}
	ch.Positive(keyPrefix+"tariff_code", s.TariffCode)
	ch.Positive(keyPrefix+"door_tariff_code", s.DoorTariffCode)
	if strings.TrimSpace(s.ShipmentPoint) == "" {
		s.validateFromLocation(ch)
	}
	if s.OrderType == 2 {
		for _, f := range []struct{ key, value string }{{"sender.name", s.Sender.Name}, {"sender.phone", s.Sender.Phone}} {
			if strings.TrimSpace(f.value) == "" {
				ch.Add(keyPrefix+f.key, "is required for carriers.cdek.order_type 2: set %s", setting.EnvName(keyPrefix+f.key))
			}
		}
	}
}

// validateFromLocation checks the pick-up address used when there is no shipment point. Where
// parcels are handed over is part of what a real CDEK account needs; demo and history work
// without it.
func (s Settings) validateFromLocation(ch *setting.Checker) {
	loc := s.FromLocation
	if loc.IsZero() {
		if ch.Credentials {
			ch.Add(keyPrefix+"shipment_point", "or carriers.cdek.from_location is required: set %s to the CDEK office where you hand over parcels (e.g. MSK65), or fill carriers.cdek.from_location", setting.EnvName(keyPrefix+"shipment_point"))
		}
		return
	}
	if strings.TrimSpace(loc.Address) == "" {
		ch.Add(keyPrefix+"from_location.address", "is required when carriers.cdek.from_location is used: set %s", setting.EnvName(keyPrefix+"from_location.address"))
	}
	if loc.Code == 0 && strings.TrimSpace(loc.City) == "" && strings.TrimSpace(loc.PostalCode) == "" {
		ch.Add(keyPrefix+"from_location.city", "or carriers.cdek.from_location.code or carriers.cdek.from_location.postal_code is required when carriers.cdek.from_location is used: set %s", setting.EnvName(keyPrefix+"from_location.city"))
	}
	if len(loc.CountryCode) != 2 {
		ch.Add(keyPrefix+"from_location.country_code", "must be an ISO 3166 alpha-2 code such as RU, got %q", loc.CountryCode)
	}
}

// validateParcels checks the package, the weight unit, cash on delivery and the waybill copies.
func (s Settings) validateParcels(ch *setting.Checker) {
	s.Package.ValidateSizes(ch, keyPrefix+"package")
	if s.Package.DefaultWeightG < 0 {
		ch.Add(keyPrefix+"package.default_weight_g", "must not be negative (0 means no default), got %d", s.Package.DefaultWeightG)
	}
	ch.OneOf(keyPrefix+"weight_unit", s.WeightUnit, "kg", "g")
	ch.OneOf(keyPrefix+"cash_on_delivery", s.CashOnDelivery, "auto", "never", "attribute")
	if s.PrintCopies < 1 || s.PrintCopies > 10 {
		ch.Add(keyPrefix+"print_copies", "must be between 1 and 10, got %d", s.PrintCopies)
	}
}

// Profile returns the workflow's profile of CDEK: its names, the shop's weight unit, the
// package, cash on delivery, and CDEK's waits (Timings).
func (s Settings) Profile(carriers.Shop) carriers.Profile {
	return carriers.Profile{
		Names:          s.Names,
		WeightUnit:     s.WeightUnit,
		DefaultWeightG: s.Package.DefaultWeightG,
		LengthCM:       s.Package.LengthCM,
		WidthCM:        s.Package.WidthCM,
		HeightCM:       s.Package.HeightCM,
		CashOnDelivery: s.CashOnDelivery,
		Timings:        Timings(),
	}
}

// Config maps the settings onto the adapter's configuration, secrets included: use it only to
// build the carrier.
func (s Settings) Config() Config {
	return Config{
		BaseURL:        s.BaseURL,
		ClientID:       s.ClientID.Value(),
		ClientSecret:   s.ClientSecret.Value(),
		OrderType:      s.OrderType,
		TariffCode:     s.TariffCode,
		DoorTariffCode: s.DoorTariffCode,
		ShipmentPoint:  s.ShipmentPoint,
		FromLocation:   s.FromLocation,
		Sender:         s.Sender,
		PrintCopies:    s.PrintCopies,
	}
}

// Build makes the CDEK adapter (New) from the settings. It makes no call to CDEK.
func (s Settings) Build(env carriers.Env) (carriers.Carrier, error) {
	cfg := s.Config()
	cfg.Logger, cfg.Now, cfg.Observer = env.Logger, env.Now, env.Observer
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
