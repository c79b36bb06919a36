package cdek_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/config"
)

// CDEK's settings as the configuration loads and validates them (carriers.cdek.*), alone among
// the carriers: what config does with any carrier is tested in package config, the whole list
// of carriers in package app.

// load loads the configuration with CDEK only, from file (when not empty) and the environment.
func load(t *testing.T, file string, env map[string]string) (config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(file+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(path, func(name string) (string, bool) { v, ok := env[name]; return v, ok }, cdek.Module{})
}

// settings returns CDEK's settings of c.
func settings(c config.Config) cdek.Settings {
	s, _ := config.CarrierSettings[cdek.Settings](c.Carriers)
	return s
}

// validConfig is the defaults with a MoySklad token and a shipment point, edited by edit.
func validConfig(edit func(*cdek.Settings)) config.Config {
	c := config.Default(cdek.Module{})
	c.MoySklad.Token = "tok"
	s := settings(c)
	s.ShipmentPoint = "MSK65"
	if edit != nil {
		edit(&s)
	}
	c.Carriers.Set(s)
	return c
}

func problems(err error) []config.Problem {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

func TestDefaultSettings(t *testing.T) {
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := settings(cfg)
	checks := map[string]bool{
		"enabled":     s.Enabled,
		"names":       reflect.DeepEqual(s.Names, []string{"СДЭК", "CDEK"}),
		"tariffs":     s.OrderType == 1 && s.TariffCode == 136 && s.DoorTariffCode == 137,
		"misc":        s.WeightUnit == "kg" && s.CashOnDelivery == "auto" && s.PrintCopies == 2,
		"test server": s.BaseURL == "https://api.edu.cdek.ru" && cdek.IsTestServer(s.BaseURL),
		"package":     s.Package == carriers.PackageSettings{LengthCM: 20, WidthCM: 15, HeightCM: 10},
		"location":    s.FromLocation == cdek.SenderLocation{CountryCode: "RU"},
		// Loading fills in CDEK's public test account on the test server.
		"test account": s.ClientID.Value() == "wqGwiQx0gg8mLtiEKsUinjVSICCjtTEP" && s.ClientSecret.Value() == "RmAmgvSgSl1yirlz9QupbzOJVqhCxcP5",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s is wrong: %+v", name, s)
		}
	}
	if d := cdek.DefaultSettings(); d.ClientID != "" || d.ClientSecret != "" {
		t.Error("the defaults themselves carry credentials")
	}
	if got := cfg.Shop().WeightUnit; got != "kg" {
		t.Errorf("shop weight unit %q: carriers.cdek.weight_unit is the shop's", got)
	}
}

func TestCDEKTestCredentials(t *testing.T) {
	cfg, err := load(t, "", map[string]string{"SHIPBRIDGE_CARRIERS_CDEK_BASE_URL": "https://api.cdek.ru"})
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(cfg); s.ClientID != "" || s.ClientSecret != "" {
		t.Error("test credentials must not be used for production")
	}
	cfg, err = load(t, "", map[string]string{"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID": "mine", "SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET": "mine2"})
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(cfg); s.ClientID.Value() != "mine" || s.ClientSecret.Value() != "mine2" {
		t.Error("configured credentials must win over the test account")
	}
	// A user who set only the secret keeps an empty client id: the test account is filled in only
	// when neither is configured.
	cfg, err = load(t, "", map[string]string{"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET": "s3"})
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(cfg); s.ClientID != "" || s.ClientSecret.Value() != "s3" {
		t.Errorf("client_id = %q, want empty", s.ClientID.Value())
	}
}

func TestSettingsFromFileAndEnvironment(t *testing.T) {
	cfg, err := load(t, `
carriers:
  cdek:
    enabled: true
    names: [cdek-express]
    shipment_point: MSK65
    from_location:
      city: Казань
    package:
      default_weight_g: 300
`, map[string]string{
		"SHIPBRIDGE_CARRIERS_CDEK_ENABLED":               "false",
		"SHIPBRIDGE_CARRIERS_CDEK_NAMES":                 "СДЭК,Сдэк Экспресс",
		"SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_CITY":    "Москва",
		"SHIPBRIDGE_CARRIERS_CDEK_PACKAGE_LENGTH_CM":     "33",
		"SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_ADDRESS": "ул. Ленина, 1",
		"SHIPBRIDGE_CARRIERS_CDEK_SENDER_PHONE":          "+79990000000",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := settings(cfg)
	got := map[string]any{"enabled": s.Enabled, "names": s.Names, "point": s.ShipmentPoint, "city": s.FromLocation.City,
		"address": s.FromLocation.Address, "length": s.Package.LengthCM, "width": s.Package.WidthCM,
		"weight": s.Package.DefaultWeightG, "phone": s.Sender.Phone}
	want := map[string]any{"enabled": false, "names": []string{"СДЭК", "Сдэк Экспресс"}, "point": "MSK65", "city": "Москва",
		"address": "ул. Ленина, 1", "length": 33, "width": 15, "weight": 300, "phone": "+79990000000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("file and environment:\n got %v\nwant %v", got, want)
	}
}

func TestUnknownCDEKKeys(t *testing.T) {
	_, err := load(t, "carriers:\n  cdek:\n    tarif_code: 1\n", nil)
	if err == nil || !strings.Contains(err.Error(), `unknown key "carriers.cdek.tarif_code"; did you mean carriers.cdek.tariff_code?`) {
		t.Fatalf("err = %v, want the unknown key named with the nearest known one", err)
	}
	if strings.Contains(err.Error(), "has invalid keys") || strings.Contains(err.Error(), "door_tariff_code") {
		t.Errorf("err = %v: viper's message, or a key that is not near", err)
	}
	_, err = load(t, "cdek:\n  client_id: x\ncarriers:\n  cdek:\n    from_location:\n      zip: \"101000\"\n", nil)
	for _, want := range []string{
		// The right name at the wrong place.
		`unknown key "cdek.client_id"; did you mean carriers.cdek.client_id?`,
		// Nothing spelt alike: the keys of the same section.
		`unknown key "carriers.cdek.from_location.zip"; the known keys under carriers.cdek.from_location are carriers.cdek.from_location.code, carriers.cdek.from_location.postal_code, carriers.cdek.from_location.city`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err lacks %q:\n%v", want, err)
		}
	}
	got := config.UnknownEnv([]string{"SHIPBRIDGE_CDEK_CLIENT_ID=x", "SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET=y"}, cdek.Module{})
	if len(got) != 1 || got[0] != "environment variable SHIPBRIDGE_CDEK_CLIENT_ID is not a shipbridge setting and is ignored; did you mean SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID (key carriers.cdek.client_id)?" {
		t.Errorf("UnknownEnv = %q", got)
	}
}

func TestValidateOK(t *testing.T) {
	if err := validConfig(nil).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := validConfig(func(s *cdek.Settings) {
		s.ShipmentPoint = ""
		s.BaseURL = cdek.ProductionBaseURL
		s.ClientID, s.ClientSecret = "", ""
		s.OrderType = 2
		s.WeightUnit = "lb"
	})
	c.MoySklad.Token = ""
	c.Schedule = "every minute"
	c.Log.Level = "loud"
	c.HTTP.Listen = "8080"
	c.MoySklad.MaxParallel = 9
	c.MoySklad.States.Deleted = c.MoySklad.States.Ready

	want := map[string]string{
		"moysklad.token":                "moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN",
		"schedule":                      "schedule is not a valid cron spec",
		"log.level":                     `log.level must be one of debug, info, warn, error, got "loud"`,
		"http.listen":                   "http.listen must be host:port",
		"moysklad.max_parallel":         "moysklad.max_parallel must be between 1 and 5",
		"moysklad.states.deleted":       "moysklad.states.deleted must differ from moysklad.states.ready",
		"carriers.cdek.shipment_point":  "carriers.cdek.shipment_point or carriers.cdek.from_location is required: set SHIPBRIDGE_CARRIERS_CDEK_SHIPMENT_POINT",
		"carriers.cdek.client_id":       "carriers.cdek.client_id is required when carriers.cdek.base_url is not the CDEK test server: set SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID",
		"carriers.cdek.client_secret":   "set SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET",
		"carriers.cdek.sender.name":     "carriers.cdek.sender.name is required for carriers.cdek.order_type 2",
		"carriers.cdek.sender.phone":    "carriers.cdek.sender.phone is required",
		"carriers.cdek.weight_unit":     `carriers.cdek.weight_unit must be one of kg, g, got "lb"`,
		"carriers.cdek.print_copies":    "", // still valid: must not be reported
		"carriers.cdek.from_location.*": "",
	}
	got := map[string]string{}
	for _, p := range problems(c.Validate()) {
		got[p.Key] = p.Message
	}
	for key, prefix := range want {
		msg, ok := got[key]
		if prefix == "" {
			if ok {
				t.Errorf("%s reported although valid: %s", key, msg)
			}
			continue
		}
		if !ok || !strings.HasPrefix(msg, prefix) && !strings.Contains(msg, prefix) {
			t.Errorf("%s: got %q, want it to contain %q", key, msg, prefix)
		}
	}
	if len(got) != 12 {
		t.Errorf("got %d problems, want 12: %v", len(got), got)
	}
}

func TestValidateFromLocation(t *testing.T) {
	c := validConfig(func(s *cdek.Settings) {
		s.ShipmentPoint = ""
		s.FromLocation = cdek.SenderLocation{City: "Москва", CountryCode: "RU"}
	})
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "carriers.cdek.from_location.address" ||
		ps[0].Message != "carriers.cdek.from_location.address is required when carriers.cdek.from_location is used: set SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_ADDRESS" {
		t.Fatalf("problems = %+v", ps)
	}
	c = validConfig(func(s *cdek.Settings) {
		s.ShipmentPoint = ""
		s.FromLocation = cdek.SenderLocation{Address: "ул. Ленина, 1", CountryCode: "RUS"}
	})
	got := []string{}
	for _, p := range problems(c.Validate()) {
		got = append(got, p.Message)
	}
	if want := []string{
		"carriers.cdek.from_location.city or carriers.cdek.from_location.code or carriers.cdek.from_location.postal_code is required when carriers.cdek.from_location is used: set SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_CITY",
		`carriers.cdek.from_location.country_code must be an ISO 3166 alpha-2 code such as RU, got "RUS"`,
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%q\nwant\n%q", got, want)
	}
	c = validConfig(func(s *cdek.Settings) {
		s.ShipmentPoint = ""
		s.FromLocation = cdek.SenderLocation{City: "Москва", Address: "ул. Ленина, 1", CountryCode: "RU"}
	})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDisabledCDEKIsReported(t *testing.T) {
	c := validConfig(func(s *cdek.Settings) {
		s.Enabled = false
		s.TariffCode = -1 // not checked while disabled
	})
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "carriers.cdek.enabled" {
		t.Fatalf("problems = %+v", ps)
	}
}

func TestValidateWithoutCredentialsNeedsNoShipmentPoint(t *testing.T) {
	c := config.Default(cdek.Module{})
	if err := c.ValidateWithoutCredentials(); err != nil {
		t.Errorf("defaults without credentials: %v", err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "carriers.cdek.shipment_point") {
		t.Errorf("Validate should still require the shipment point: %v", err)
	}
}

// cash_on_delivery: attribute needs moysklad.attributes.cash_on_delivery: a rule of the common
// configuration, which reads CDEK's profile.
func TestCashOnDeliveryByAttribute(t *testing.T) {
	c := validConfig(func(s *cdek.Settings) { s.CashOnDelivery = "attribute" })
	if got := c.CashOnDeliveryAttribute(); got != "Наложенный платёж" {
		t.Errorf("attribute %q", got)
	}
	c.MoySklad.Attributes.CashOnDelivery = ""
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Message != "moysklad.attributes.cash_on_delivery must name the boolean order attribute that marks cash on delivery when carriers.cdek.cash_on_delivery is attribute" {
		t.Errorf("problems = %+v", ps)
	}
	c = validConfig(func(s *cdek.Settings) { s.CashOnDelivery = "sometimes" })
	if ps := problems(c.Validate()); len(ps) != 1 || ps[0].Message != `carriers.cdek.cash_on_delivery must be one of auto, never, attribute, got "sometimes"` {
		t.Errorf("problems = %+v", ps)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	cfg, err := load(t, "", map[string]string{
		"SHIPBRIDGE_MOYSKLAD_TOKEN":              "ms-token-SECRET",
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID":     "cdek-id-SECRET",
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET": "cdek-pass-SECRET",
	})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := settings(cfg)
	for name, view := range map[string]string{
		"String":   cfg.String(),
		"%v":       fmt.Sprintf("%v", cfg),
		"%+v":      fmt.Sprintf("%+v", cfg),
		"%#v":      fmt.Sprintf("%#v", cfg),
		"settings": fmt.Sprintf("%v %+v %#v", s, s, s),
		"json":     string(js),
		"redacted": fmt.Sprint(cfg.Redacted()),
	} {
		if strings.Contains(view, "SECRET") {
			t.Errorf("%s leaks a secret: %s", name, view)
		}
	}
	for _, want := range []string{"carriers.cdek.client_id = [redacted]\n", "carriers.cdek.client_secret = [redacted]\n", "carriers.cdek.names = [СДЭК, CDEK]\n"} {
		if !strings.Contains(cfg.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, cfg.String())
		}
	}
}

func TestBuildAndProfile(t *testing.T) {
	s := validConfig(nil).Carriers.Sections()[0].Settings.Complete() // the test account
	c, err := s.Build(carriers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != cdek.Name {
		t.Errorf("name %q", c.Name())
	}
	p := s.Profile(carriers.Shop{WeightUnit: "g"})
	if !reflect.DeepEqual(p.Names, []string{"СДЭК", "CDEK"}) || p.WeightUnit != "kg" || p.LengthCM != 20 || p.CashOnDelivery != "auto" ||
		p.Timings != cdek.Timings() {
		t.Errorf("profile %+v", p)
	}
	// The adapter's own rules still refuse what cannot work (order type 2).
	bad := settings(validConfig(func(s *cdek.Settings) { s.OrderType = 2 })).Complete()
	if _, err := bad.Build(carriers.Env{}); err == nil || !strings.Contains(err.Error(), "order_type 2") {
		t.Errorf("order type 2 built: %v", err)
	}
}

// report records check's lines.
type report struct{ lines []string }

func (r *report) OK(format string, args ...any) {
	r.lines = append(r.lines, "✓ "+fmt.Sprintf(format, args...))
}
func (r *report) Warn(format string, args ...any) {
	r.lines = append(r.lines, "! "+fmt.Sprintf(format, args...))
}
func (r *report) Bad(fix, format string, args ...any) {
	r.lines = append(r.lines, "✗ "+fmt.Sprintf(format, args...)+" — fix: "+fix)
}

func TestReportCheck(t *testing.T) {
	for _, c := range []struct {
		base string
		err  error
		want string
	}{
		{cdek.TestBaseURL, nil, "✓ CDEK: https://api.edu.cdek.ru (CDEK's test server) issued a token and answered an order lookup"},
		{cdek.ProductionBaseURL, &carriers.Error{Kind: carriers.KindConfig},
			"✗ CDEK at https://api.cdek.ru refused the credentials: config — fix: set SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID and SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET to the API keys of your CDEK account"},
		{cdek.ProductionBaseURL, context.DeadlineExceeded,
			"✗ CDEK at https://api.cdek.ru: context deadline exceeded — fix: check SHIPBRIDGE_CARRIERS_CDEK_BASE_URL and the network (no answer)"},
		{cdek.ProductionBaseURL, &carriers.Error{Kind: carriers.KindTransient},
			"✗ CDEK at https://api.cdek.ru: the check failed: transient — fix: check SHIPBRIDGE_CARRIERS_CDEK_BASE_URL; CDEK may be unavailable, try again later"},
	} {
		r := &report{}
		s := cdek.DefaultSettings()
		s.BaseURL = c.base
		s.ReportCheck(r, nil, c.err)
		if len(r.lines) != 1 || r.lines[0] != c.want {
			t.Errorf("%v:\n got %q\nwant %q", c.err, r.lines, c.want)
		}
	}
}
