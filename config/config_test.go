package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a LookupFunc over a fixed map, so tests never read the real environment.
func env(m map[string]string) LookupFunc {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load("", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Carriers.CDEK.ClientID = cdekTestClientID
	want.Carriers.CDEK.ClientSecret = cdekTestClientSecret
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults differ:\n got %s\nwant %s", cfg, want)
	}
	checks := map[string]any{
		"schedule":           cfg.Schedule == "@every 1m",
		"store.path":         cfg.Store.Path == "shipbridge.db",
		"http.listen":        cfg.HTTP.Listen == "127.0.0.1:8080",
		"moysklad window":    cfg.MoySklad.RequestsPerWindow == 11 && cfg.MoySklad.Window == 3*time.Second && cfg.MoySklad.MaxParallel == 4,
		"states.ready":       cfg.MoySklad.States.Ready == "Готов к отгрузке",
		"states.not_deleted": cfg.MoySklad.States.NotDeleted == "Заказ на доставку НЕ удален",
		"attributes.waybill": cfg.MoySklad.Attributes.Waybill == "Накладная",
		"cdek names":         reflect.DeepEqual(cfg.Carriers.CDEK.Names, []string{"СДЭК", "CDEK"}),
		"cdek tariffs":       cfg.Carriers.CDEK.OrderType == 1 && cfg.Carriers.CDEK.TariffCode == 136 && cfg.Carriers.CDEK.DoorTariffCode == 137,
		"cdek misc":          cfg.Carriers.CDEK.WeightUnit == "kg" && cfg.Carriers.CDEK.CashOnDelivery == "auto" && cfg.Carriers.CDEK.PrintCopies == 2,
		"cdek test server":   cfg.Carriers.CDEK.BaseURL == "https://api.edu.cdek.ru",
		"operational":        cfg.Workers == 128 && cfg.SweepEvery == 15*time.Minute && cfg.Overlap == 2*time.Minute && cfg.OnceTimeout == 2*time.Minute,
		"no file":            cfg.File == "",
	}
	for name, ok := range checks {
		if ok != true {
			t.Errorf("default %s is wrong", name)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := writeFile(t, `
schedule: "*/5 * * * *"
log:
  format: json
moysklad:
  window: 1500ms
  states:
    ready: "Собран"
carriers:
  cdek:
    names: [cdek-express]
    shipment_point: MSK65
    package:
      default_weight_g: 300
`)
	cfg, err := load(path, nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path {
		t.Errorf("File = %q, want %q", cfg.File, path)
	}
	if cfg.Schedule != "*/5 * * * *" || cfg.Log.Format != "json" || cfg.MoySklad.Window != 1500*time.Millisecond {
		t.Errorf("file values not applied: %s", cfg)
	}
	if cfg.MoySklad.States.Ready != "Собран" || cfg.MoySklad.States.Registered != "Зарегистрирован перевозчиком" {
		t.Errorf("nested file value or its sibling default wrong: %+v", cfg.MoySklad.States)
	}
	if !reflect.DeepEqual(cfg.Carriers.CDEK.Names, []string{"cdek-express"}) || cfg.Carriers.CDEK.ShipmentPoint != "MSK65" {
		t.Errorf("cdek from file wrong: %+v", cfg.Carriers.CDEK)
	}
	if cfg.Carriers.CDEK.Package.DefaultWeightG != 300 || cfg.Carriers.CDEK.Package.LengthCM != 20 {
		t.Errorf("package = %+v", cfg.Carriers.CDEK.Package)
	}
}

func TestLoadExplicitFileMustExist(t *testing.T) {
	_, err := load(filepath.Join(t.TempDir(), "missing.yaml"), nil, env(nil))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("err = %v, want an error naming the missing file", err)
	}
}

func TestLoadSearchPaths(t *testing.T) {
	dir := t.TempDir()
	second := filepath.Join(dir, "etc.yaml")
	if err := os.WriteFile(second, []byte("workers: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load("", []string{filepath.Join(dir, "absent.yaml"), second}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != second || cfg.Workers != 3 {
		t.Errorf("File = %q workers = %d, want the second search path read", cfg.File, cfg.Workers)
	}
}

func TestLoadDefaultSearchesWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("workers: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workers != 5 || cfg.File != "config.yaml" {
		t.Errorf("workers = %d file = %q, want ./config.yaml read", cfg.Workers, cfg.File)
	}
}

func TestLoadUnknownKey(t *testing.T) {
	path := writeFile(t, "carriers:\n  cdek:\n    tarif_code: 1\n")
	_, err := load(path, nil, env(nil))
	if err == nil || !strings.Contains(err.Error(), `unknown key "carriers.cdek.tarif_code"; did you mean carriers.cdek.tariff_code?`) {
		t.Fatalf("err = %v, want the unknown key named with the nearest known one", err)
	}
	if strings.Contains(err.Error(), "has invalid keys") || strings.Contains(err.Error(), "door_tariff_code") {
		t.Errorf("err = %v: viper's message, or a key that is not near", err)
	}
}

func TestLoadUnknownKeysNamesEachWithItsNeighbours(t *testing.T) {
	path := writeFile(t, `
wrokers: 3
cdek:
  client_id: x
carriers:
  cdek:
    from_location:
      zip: "101000"
`)
	_, err := load(path, nil, env(nil))
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, want := range []string{
		`unknown key "wrokers"; did you mean workers?`,
		// The right name at the wrong place.
		`unknown key "cdek.client_id"; did you mean carriers.cdek.client_id?`,
		// Nothing spelt alike: the keys of the same section.
		`unknown key "carriers.cdek.from_location.zip"; the known keys under carriers.cdek.from_location are carriers.cdek.from_location.code, carriers.cdek.from_location.postal_code, carriers.cdek.from_location.city`,
		path,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err lacks %q:\n%v", want, err)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"HOME=/root",
		"SHIPBRIDGE_WORKERS=4",
		"SHIPBRIDGE_MOYSKLAD_TOKN=secret-value",
		"SHIPBRIDGE_CDEK_CLIENT_ID=x",
		"SHIPBRIDGE_COLOUR=blue",
	})
	want := []string{
		"environment variable SHIPBRIDGE_CDEK_CLIENT_ID is not a shipbridge setting and is ignored; did you mean SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID (key carriers.cdek.client_id)?",
		"environment variable SHIPBRIDGE_COLOUR is not a shipbridge setting and is ignored",
		"environment variable SHIPBRIDGE_MOYSKLAD_TOKN is not a shipbridge setting and is ignored; did you mean SHIPBRIDGE_MOYSKLAD_TOKEN (key moysklad.token)?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("UnknownEnv =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(strings.Join(got, ""), "secret-value") {
		t.Error("a value was printed")
	}
}

func TestLoadBadType(t *testing.T) {
	_, err := load("", nil, env(map[string]string{"SHIPBRIDGE_MOYSKLAD_WINDOW": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "moysklad.window") {
		t.Fatalf("err = %v, want the bad key named", err)
	}
}

func TestEnvOverridesFileForNestedKeys(t *testing.T) {
	path := writeFile(t, `
moysklad:
  token: from-file
  max_parallel: 2
  states:
    ready: "Из файла"
carriers:
  cdek:
    enabled: true
    from_location:
      city: Казань
`)
	cfg, err := load(path, nil, env(map[string]string{
		"SHIPBRIDGE_MOYSKLAD_TOKEN":                      "from-env",
		"SHIPBRIDGE_MOYSKLAD_MAX_PARALLEL":               "3",
		"SHIPBRIDGE_MOYSKLAD_STATES_READY":               "Из окружения",
		"SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_ERROR":           "Причина", // not in the file at all
		"SHIPBRIDGE_CARRIERS_CDEK_ENABLED":               "false",
		"SHIPBRIDGE_CARRIERS_CDEK_NAMES":                 "СДЭК,Сдэк Экспресс",
		"SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_CITY":    "Москва",
		"SHIPBRIDGE_CARRIERS_CDEK_PACKAGE_LENGTH_CM":     "33",
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET":         "s3",
		"SHIPBRIDGE_CARRIERS_CDEK_FROM_LOCATION_ADDRESS": "ул. Ленина, 1",
		"SHIPBRIDGE_SWEEP_EVERY":                         "5m",
		"SHIPBRIDGE_HTTP_LISTEN":                         "", // set but empty: disables
		"SHIPBRIDGE_LOG_LEVEL":                           "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"token":        cfg.MoySklad.Token.Value(),
		"max_parallel": cfg.MoySklad.MaxParallel,
		"ready":        cfg.MoySklad.States.Ready,
		"error attr":   cfg.MoySklad.Attributes.Error,
		"enabled":      cfg.Carriers.CDEK.Enabled,
		"names":        cfg.Carriers.CDEK.Names,
		"city":         cfg.Carriers.CDEK.FromLocation.City,
		"address":      cfg.Carriers.CDEK.FromLocation.Address,
		"length":       cfg.Carriers.CDEK.Package.LengthCM,
		"secret":       cfg.Carriers.CDEK.ClientSecret.Value(),
		"sweep":        cfg.SweepEvery,
		"listen":       cfg.HTTP.Listen,
		"level":        cfg.Log.Level,
	}
	want := map[string]any{
		"token":        "from-env",
		"max_parallel": 3,
		"ready":        "Из окружения",
		"error attr":   "Причина",
		"enabled":      false,
		"names":        []string{"СДЭК", "Сдэк Экспресс"},
		"city":         "Москва",
		"address":      "ул. Ленина, 1",
		"length":       33,
		"secret":       "s3",
		"sweep":        5 * time.Minute,
		"listen":       "",
		"level":        "debug",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env overrides:\n got %v\nwant %v", got, want)
	}
	// A user who set only the secret keeps an empty client id: the test account is filled in only
	// when neither is configured.
	if cfg.Carriers.CDEK.ClientID != "" {
		t.Errorf("client_id = %q, want empty", cfg.Carriers.CDEK.ClientID.Value())
	}
}

// TestEveryKeyHasAnEnvVariable guards the explicit binding: each key of the struct must be
// overridable, including keys that no file mentions.
func TestEveryKeyHasAnEnvVariable(t *testing.T) {
	fields := Fields(Default())
	if len(fields) < 50 {
		t.Fatalf("only %d keys found; the struct walk is broken", len(fields))
	}
	for _, f := range fields {
		if f.Env != "SHIPBRIDGE_"+strings.ToUpper(strings.ReplaceAll(f.Key, ".", "_")) {
			t.Errorf("%s: env %s", f.Key, f.Env)
		}
		value := "7"
		switch f.Key {
		case "carriers.cdek.enabled", "carriers.pochta.declared_value":
			value = "false"
		case "carriers.pochta.enabled":
			value = "true"
		case "schedule", "log.level", "log.format":
			value = "x7"
		}
		if _, isDuration := f.raw.(time.Duration); isDuration {
			value = "7s"
		}
		cfg, err := load("", nil, env(map[string]string{f.Env: value}))
		if err != nil {
			t.Errorf("%s=%s: %v", f.Env, value, err)
			continue
		}
		var after string
		for _, g := range Fields(cfg) {
			if g.Key == f.Key {
				after = fmt.Sprint(g.raw)
			}
		}
		if after == fmt.Sprint(f.raw) {
			t.Errorf("%s=%s did not change %s (still %s)", f.Env, value, f.Key, after)
		}
	}
}

func validConfig() Config {
	c := Default()
	c.MoySklad.Token = "tok"
	c.Carriers.CDEK.ShipmentPoint = "MSK65"
	return c
}

func problems(err error) []Problem {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

func TestValidateOK(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateTokenRequired(t *testing.T) {
	c := validConfig()
	c.MoySklad.Token = ""
	err := c.Validate()
	ps := problems(err)
	if len(ps) != 1 || ps[0].Key != "moysklad.token" ||
		ps[0].Message != "moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN" {
		t.Fatalf("problems = %+v", ps)
	}
	if !strings.Contains(err.Error(), "moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN") {
		t.Errorf("Error() = %q", err)
	}
	if err := c.ValidateWithoutCredentials(); err != nil {
		t.Errorf("ValidateWithoutCredentials: %v, want nil", err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := validConfig()
	c.MoySklad.Token = ""
	c.Schedule = "every minute"
	c.Log.Level = "loud"
	c.HTTP.Listen = "8080"
	c.MoySklad.MaxParallel = 9
	c.MoySklad.States.Deleted = c.MoySklad.States.Ready
	c.Carriers.CDEK.ShipmentPoint = ""
	c.Carriers.CDEK.BaseURL = CDEKProductionBaseURL
	c.Carriers.CDEK.ClientID, c.Carriers.CDEK.ClientSecret = "", ""
	c.Carriers.CDEK.OrderType = 2
	c.Carriers.CDEK.WeightUnit = "lb"

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
	c := validConfig()
	c.Carriers.CDEK.ShipmentPoint = ""
	c.Carriers.CDEK.FromLocation = Location{City: "Москва", CountryCode: "RU"}
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "carriers.cdek.from_location.address" {
		t.Fatalf("problems = %+v", ps)
	}
	c.Carriers.CDEK.FromLocation.Address = "ул. Ленина, 1"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDisabledCDEKIsReported(t *testing.T) {
	c := validConfig()
	c.Carriers.CDEK.Enabled = false
	c.Carriers.CDEK.TariffCode = -1 // not checked while disabled
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "carriers.cdek.enabled" {
		t.Fatalf("problems = %+v", ps)
	}
}

func TestCDEKTestCredentials(t *testing.T) {
	cfg, err := load("", nil, env(map[string]string{"SHIPBRIDGE_CARRIERS_CDEK_BASE_URL": "https://api.cdek.ru"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Carriers.CDEK.ClientID != "" || cfg.Carriers.CDEK.ClientSecret != "" {
		t.Error("test credentials must not be used for production")
	}
	cfg, err = load("", nil, env(map[string]string{"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID": "mine", "SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET": "mine2"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Carriers.CDEK.ClientID.Value() != "mine" || cfg.Carriers.CDEK.ClientSecret.Value() != "mine2" {
		t.Error("configured credentials must win over the test account")
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	cfg, err := load("", nil, env(map[string]string{
		"SHIPBRIDGE_MOYSKLAD_TOKEN":              "ms-token-SECRET",
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID":     "cdek-id-SECRET",
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET": "cdek-pass-SECRET",
	}))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]string{
		"String":   cfg.String(),
		"%v":       fmt.Sprintf("%v", cfg),
		"%+v":      fmt.Sprintf("%+v", cfg),
		"%#v":      fmt.Sprintf("%#v", cfg),
		"%s token": fmt.Sprintf("%s %q %x", cfg.MoySklad.Token, cfg.MoySklad.Token, cfg.MoySklad.Token),
		"json":     string(js),
		"redacted": fmt.Sprint(cfg.Redacted()),
	}
	for name, view := range views {
		if strings.Contains(view, "SECRET") {
			t.Errorf("%s leaks a secret: %s", name, view)
		}
	}
	if !strings.Contains(cfg.String(), "moysklad.token = [redacted]\n") {
		t.Errorf("String() should show that the token is set:\n%s", cfg.String())
	}
	if !strings.Contains(cfg.String(), "carriers.cdek.names = [СДЭК, CDEK]\n") || !strings.Contains(cfg.String(), "moysklad.window = 3s\n") ||
		!strings.Contains(cfg.String(), "sweep_every = 15m\n") {
		t.Errorf("String() should show ordinary values:\n%s", cfg.String())
	}
	if got := Default().String(); !strings.Contains(got, "moysklad.token = \n") {
		t.Errorf("an unset token should show empty:\n%s", got)
	}
}

// TestShippedConfigYAML keeps ../config.yaml, the starting point shipped with shipbridge, loadable
// and equal to the defaults, with every non-secret key present and no secret value in it.
func TestShippedConfigYAML(t *testing.T) {
	const path = "../config.yaml"
	cfg, err := load(path, nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Carriers.CDEK.ClientID = cdekTestClientID
	want.Carriers.CDEK.ClientSecret = cdekTestClientSecret
	want.File = path
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config.yaml differs from the defaults:\n got %s\nwant %s", cfg, want)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, f := range Fields(Default()) {
		last := f.Key[strings.LastIndex(f.Key, ".")+1:]
		if f.Secret {
			if !strings.Contains(text, "# "+last+":") || !strings.Contains(text, f.Env) {
				t.Errorf("config.yaml should document secret %s as a comment naming %s", f.Key, f.Env)
			}
			continue
		}
		if !strings.Contains(text, "\n"+strings.Repeat("  ", strings.Count(f.Key, "."))+last+":") {
			t.Errorf("config.yaml lacks key %s", f.Key)
		}
	}
}

func TestValidateWithoutCredentialsNeedsNoShipmentPoint(t *testing.T) {
	c := Default()
	if err := c.ValidateWithoutCredentials(); err != nil {
		t.Errorf("defaults without credentials: %v", err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "carriers.cdek.shipment_point") {
		t.Errorf("Validate should still require the shipment point: %v", err)
	}
}

func TestRetryBounds(t *testing.T) {
	c := Default()
	if c.RetryBase != 30*time.Second || c.RetryMax != 30*time.Minute {
		t.Errorf("defaults %s %s", c.RetryBase, c.RetryMax)
	}
	c.RetryBase, c.RetryMax = time.Minute, time.Second
	err := c.ValidateWithoutCredentials()
	if err == nil || !strings.Contains(err.Error(), "retry_max must be at least retry_base") {
		t.Errorf("err = %v", err)
	}
}

func TestValidatePochta(t *testing.T) {
	c := Default()
	c.MoySklad.Token = "t"
	c.Carriers.CDEK.Enabled = false
	c.Carriers.Pochta.Enabled = true
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("pochta without secrets: %v", err)
	}
	keys := map[string]string{}
	for _, p := range ve.Problems {
		keys[p.Key] = p.Message
	}
	for _, k := range []string{"carriers.pochta.token", "carriers.pochta.login", "carriers.pochta.password", "carriers.pochta.postoffice_code"} {
		if !strings.Contains(keys[k], EnvName(k)) {
			t.Errorf("%s not reported with its variable: %q", k, keys[k])
		}
	}
	if _, ok := keys["carriers.cdek.enabled"]; ok {
		t.Error("CDEK off is fine while Pochta is on")
	}
	if err := c.ValidateWithoutCredentials(); err != nil {
		t.Errorf("demo without Pochta secrets: %v", err)
	}
	c.Carriers.Pochta.Token, c.Carriers.Pochta.Login, c.Carriers.Pochta.Password = "a", "b", "c"
	c.Carriers.Pochta.PostofficeCode = "102961"
	if err := c.Validate(); err != nil {
		t.Errorf("complete pochta: %v", err)
	}
	c.Carriers.Pochta.PostofficeCode = "10296"
	c.Carriers.Pochta.CashOnDelivery = "maybe"
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "carriers.pochta.postoffice_code") || !strings.Contains(err.Error(), "carriers.pochta.cash_on_delivery") {
		t.Errorf("bad values: %v", err)
	}
	if pc := c.PochtaConfig(); pc.Token != "a" || pc.WeightUnit != "kg" || !pc.DeclaredValue || pc.Package.LengthCM != 20 {
		t.Errorf("PochtaConfig = %s %+v", pc, pc.Package)
	}
	if strings.Contains(c.String(), "= a\n") {
		t.Error("a pochta secret is printed")
	}
}
