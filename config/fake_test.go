package config

import (
	"errors"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// The tests of this package use two made-up carriers, so that what config does with any
// carrier's settings is tested apart from CDEK's and Почта России's own rules (tested in their
// packages): fake, enabled by default, with a secret, a list, a duration and a nested section;
// and spare, disabled by default, which holds the shop's weight unit.

// testModules are the carriers of these tests, in order.
var testModules = []carriers.Module{fakeModule{}, spareModule{}}

type fakeModule struct{}

func (fakeModule) Key() string        { return "fake" }
func (fakeModule) Title() string      { return "Fake" }
func (fakeModule) ConfigYAML() string { return "fake:\n  enabled: true\n" }
func (fakeModule) Defaults() carriers.Settings {
	return fakeSettings{Enabled: true, Names: []string{"Фейк", "Fake"}, BaseURL: fakeTestURL, CashOnDelivery: "auto",
		Timeout: 30 * time.Second, Package: carriers.PackageSettings{LengthCM: 20, WidthCM: 15, HeightCM: 10}}
}

// fakeTestURL is fake's test server: Complete fills in its public key there.
const fakeTestURL = "https://test.fake.example"

type fakeSettings struct {
	Enabled        bool                     `mapstructure:"enabled"`
	Names          []string                 `mapstructure:"names"`
	BaseURL        string                   `mapstructure:"base_url"`
	APIKey         setting.Secret           `mapstructure:"api_key"`
	CashOnDelivery string                   `mapstructure:"cash_on_delivery"`
	Timeout        time.Duration            `mapstructure:"timeout"`
	Package        carriers.PackageSettings `mapstructure:"package"`
}

func (s fakeSettings) IsEnabled() bool { return s.Enabled }

func (s fakeSettings) Complete() carriers.Settings {
	if s.BaseURL == fakeTestURL && s.APIKey == "" {
		s.APIKey = "public-test-key"
	}
	return s
}

func (s fakeSettings) Validate(ch *setting.Checker, _ carriers.Shop) {
	ch.HTTPURL("carriers.fake.base_url", s.BaseURL)
	if ch.Credentials {
		ch.Required("carriers.fake.api_key", s.APIKey.Value())
	}
	s.Package.ValidateSizes(ch, "carriers.fake.package")
}

func (s fakeSettings) Profile(shop carriers.Shop) carriers.Profile {
	return carriers.Profile{Names: s.Names, WeightUnit: shop.WeightUnit, CashOnDelivery: s.CashOnDelivery}
}

func (s fakeSettings) Build(carriers.Env) (carriers.Carrier, error) {
	return nil, errors.New("a fake carrier is never built")
}

func (s fakeSettings) ReportCheck(carriers.CheckReport, carriers.Carrier, error) {}

type spareModule struct{}

func (spareModule) Key() string                 { return "spare" }
func (spareModule) Title() string               { return "Spare" }
func (spareModule) ConfigYAML() string          { return "spare:\n  enabled: false\n" }
func (spareModule) Defaults() carriers.Settings { return spareSettings{WeightUnit: "g"} }

type spareSettings struct {
	Enabled    bool   `mapstructure:"enabled"`
	WeightUnit string `mapstructure:"weight_unit"`
}

func (s spareSettings) IsEnabled() bool                                           { return s.Enabled }
func (s spareSettings) Complete() carriers.Settings                               { return s }
func (s spareSettings) Shop() carriers.Shop                                       { return carriers.Shop{WeightUnit: s.WeightUnit} }
func (s spareSettings) Validate(*setting.Checker, carriers.Shop)                  {}
func (s spareSettings) Profile(carriers.Shop) carriers.Profile                    { return carriers.Profile{} }
func (s spareSettings) ReportCheck(carriers.CheckReport, carriers.Carrier, error) {}
func (s spareSettings) Build(carriers.Env) (carriers.Carrier, error) {
	return nil, errors.New("a spare carrier is never built")
}

// fake returns the fake carrier's settings of c.
func fake(c Config) fakeSettings {
	s, _ := CarrierSettings[fakeSettings](c.Carriers)
	return s
}

// withFake returns c with the fake carrier's settings changed by edit.
func withFake(c Config, edit func(*fakeSettings)) Config {
	s := fake(c)
	edit(&s)
	c.Carriers.Set(s)
	return c
}
