package pochta

import (
	_ "embed"
	"slices"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// Module is Почта России's carrier module (carriers.Module): the settings carriers.pochta.*,
// their validation, the building of the carrier and what `shipbridge check` says about it.
type Module struct{}

var _ carriers.Module = Module{}

// Key returns "pochta".
func (Module) Key() string { return Name }

// Title returns "Почта России".
func (Module) Title() string { return title }

// Defaults returns DefaultSettings.
func (Module) Defaults() carriers.Settings { return DefaultSettings() }

// ConfigYAML returns Почта России's commented section of config.yaml (settings.yaml).
func (Module) ConfigYAML() string { return settingsYAML }

//go:embed settings.yaml
var settingsYAML string

// title is how check names Почта России.
const title = "Почта России"

// keyPrefix starts every key of Почта России's settings.
const keyPrefix = "carriers." + Name + "."

// Settings are Почта России's settings, the keys carriers.pochta.* (the mapstructure tags),
// PRODUCT.md §2b and §4. There is no test server: BaseURL is production, and tests and the demo
// use a simulator. Config maps them onto the adapter's Config.
type Settings struct {
	// Enabled turns the carrier on (off by default).
	Enabled bool `mapstructure:"enabled"`
	// Names are the values of the order's carrier attribute that select Pochta (case-insensitive).
	Names []string `mapstructure:"names"`
	// BaseURL is the API root, https://otpravka-api.pochta.ru.
	BaseURL string `mapstructure:"base_url"`
	// Token is the application token (Authorization: AccessToken …); Login and Password are the
	// cabinet user's (X-User-Authorization: Basic …). All three are secrets.
	Token    setting.Secret `mapstructure:"token"`
	Login    setting.Secret `mapstructure:"login"`
	Password setting.Secret `mapstructure:"password"`
	// PostofficeCode is the acceptance office (postoffice-code), one of the account's shipping points.
	PostofficeCode string `mapstructure:"postoffice_code"`
	// MailType is the mail-type of every parcel, e.g. POSTAL_PARCEL or ONLINE_PARCEL.
	MailType string `mapstructure:"mail_type"`
	// DeclaredValue sends the goods' value (category WITH_DECLARED_VALUE).
	DeclaredValue bool `mapstructure:"declared_value"`
	// CashOnDelivery is auto (collect the unpaid amount on delivery) or never.
	CashOnDelivery string `mapstructure:"cash_on_delivery"`
	// Package is the box of every parcel and the default weight, as for CDEK.
	Package carriers.PackageSettings `mapstructure:"package"`
}

var _ carriers.Settings = Settings{}

// DefaultSettings returns Почта России's settings when neither a file nor the environment sets
// a key: disabled, production URL, POSTAL_PARCEL, declared value on, cash on delivery auto.
func DefaultSettings() Settings {
	d := DefaultConfig() // the adapter's defaults are the one source
	return Settings{
		Names:          d.Names,
		BaseURL:        d.BaseURL,
		MailType:       d.MailType,
		DeclaredValue:  d.DeclaredValue,
		CashOnDelivery: d.CashOnDelivery,
		Package:        carriers.PackageSettings{LengthCM: 20, WidthCM: 15, HeightCM: 10},
	}
}

// IsEnabled reports whether carriers.pochta.enabled is true.
func (s Settings) IsEnabled() bool { return s.Enabled }

// Complete returns the settings as they are: Почта России fills nothing in.
func (s Settings) Complete() carriers.Settings { return s }

// Config maps the settings onto the adapter's configuration, secrets included: use it only to
// build the carrier. Product weights are in the shop's unit (shop.WeightUnit,
// carriers.cdek.weight_unit: one shop, one unit), kg when no carrier names one.
func (s Settings) Config(shop carriers.Shop) Config {
	cfg := DefaultConfig()
	cfg.Enabled = s.Enabled
	cfg.Names = s.Names
	cfg.BaseURL = s.BaseURL
	cfg.Token, cfg.Login, cfg.Password = s.Token.Value(), s.Login.Value(), s.Password.Value()
	cfg.PostofficeCode = s.PostofficeCode
	cfg.MailType = s.MailType
	cfg.DeclaredValue = s.DeclaredValue
	cfg.CashOnDelivery = s.CashOnDelivery
	if shop.WeightUnit != "" {
		cfg.WeightUnit = shop.WeightUnit
	}
	cfg.Package = Package{LengthCM: s.Package.LengthCM, WidthCM: s.Package.WidthCM, HeightCM: s.Package.HeightCM,
		DefaultWeightG: s.Package.DefaultWeightG}
	return cfg
}

// Validate records every problem of carriers.pochta.*, with the adapter's own rules
// (Config.Validate); without credentials (demo, history) the secrets and the shipping point may
// be missing.
func (s Settings) Validate(ch *setting.Checker, shop carriers.Shop) {
	if len(s.Names) == 0 || slices.ContainsFunc(s.Names, func(n string) bool { return strings.TrimSpace(n) == "" }) {
		ch.Add(keyPrefix+"names", "must list the non-empty values of the carrier attribute that mean Почта России, e.g. [\"Почта России\", \"Почта\"]")
	}
	ch.Required(keyPrefix+"base_url", s.BaseURL)
	s.Package.ValidateSizes(ch, keyPrefix+"package")
	cfg := s.Config(shop)
	cfg.Enabled = true
	if !ch.Credentials {
		// Secrets may be missing; fill placeholders so only the shape of the rest is checked.
		cfg.Token, cfg.Login, cfg.Password = "x", "x", "x"
		if strings.TrimSpace(cfg.PostofficeCode) == "" {
			cfg.PostofficeCode = "000000"
		}
	}
	addProblems(ch, cfg.Validate())
}

// addProblems records the problems the adapter's Config.Validate found, each under its key
// (with the variable to set when it is missing), or under carriers.pochta when it names none.
func addProblems(ch *setting.Checker, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		msg := e.Error()
		key, _, _ := strings.Cut(msg, " ")
		if !strings.HasPrefix(key, keyPrefix) {
			ch.Add("carriers.pochta", "%s", msg)
			continue
		}
		if strings.Contains(msg, " is required") {
			msg += ": set " + setting.EnvName(key)
		}
		ch.AddProblem(setting.Problem{Key: key, Message: msg})
	}
}

// Profile returns the workflow's profile of Почта России (Config.Profile).
func (s Settings) Profile(shop carriers.Shop) carriers.Profile { return s.Config(shop).Profile() }

// Build makes the Почта России adapter (New) from the settings. It makes no call to Pochta.
func (s Settings) Build(env carriers.Env) (carriers.Carrier, error) {
	cfg := s.Config(env.Shop)
	cfg.Logger, cfg.Now, cfg.Observer = env.Logger, env.Now, env.Observer
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
