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
	cfg, err := load("", nil, env(nil), testModules...)
	if err != nil {
		t.Fatal(err)
	}
	// Load completes each carrier's settings (fake's public test key).
	want := withFake(Default(testModules...), func(s *fakeSettings) { s.APIKey = "public-test-key" })
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
		"fake names":         reflect.DeepEqual(fake(cfg).Names, []string{"Фейк", "Fake"}),
		"fake package":       fake(cfg).Package.LengthCM == 20 && fake(cfg).Timeout == 30*time.Second,
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
  fake:
    names: [fake-express]
    base_url: https://fake.example
    package:
      default_weight_g: 300
`)
	cfg, err := load(path, nil, env(nil), testModules...)
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
	if f := fake(cfg); !reflect.DeepEqual(f.Names, []string{"fake-express"}) || f.BaseURL != "https://fake.example" || f.APIKey != "" {
		t.Errorf("fake from file wrong: %+v", f)
	}
	if p := fake(cfg).Package; p.DefaultWeightG != 300 || p.LengthCM != 20 {
		t.Errorf("package = %+v", p)
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
	path := writeFile(t, "carriers:\n  fake:\n    bsae_url: x\n")
	_, err := load(path, nil, env(nil), testModules...)
	if err == nil || !strings.Contains(err.Error(), `unknown key "carriers.fake.bsae_url"; did you mean carriers.fake.base_url?`) {
		t.Fatalf("err = %v, want the unknown key named with the nearest known one", err)
	}
	if strings.Contains(err.Error(), "has invalid keys") || strings.Contains(err.Error(), "api_key") {
		t.Errorf("err = %v: viper's message, or a key that is not near", err)
	}
	// A carrier the program does not know is unknown too.
	path = writeFile(t, "carriers:\n  boxberry:\n    enabled: true\n")
	if _, err := load(path, nil, env(nil), testModules...); err == nil || !strings.Contains(err.Error(), `unknown key "carriers.boxberry.enabled"`) {
		t.Errorf("err = %v, want the unknown carrier's key named", err)
	}
}

func TestLoadUnknownKeysNamesEachWithItsNeighbours(t *testing.T) {
	path := writeFile(t, `
wrokers: 3
fake:
  api_key: x
carriers:
  fake:
    package:
      depth_cm: 7
`)
	_, err := load(path, nil, env(nil), testModules...)
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, want := range []string{
		`unknown key "wrokers"; did you mean workers?`,
		// The right name at the wrong place.
		`unknown key "fake.api_key"; did you mean carriers.fake.api_key?`,
		// Nothing spelt alike: the keys of the same section.
		`unknown key "carriers.fake.package.depth_cm"; the known keys under carriers.fake.package are carriers.fake.package.length_cm, carriers.fake.package.width_cm, carriers.fake.package.height_cm, carriers.fake.package.default_weight_g`,
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
		"SHIPBRIDGE_CARRIERS_FAKE_API_KEY=set",
		"SHIPBRIDGE_MOYSKLAD_TOKN=secret-value",
		"SHIPBRIDGE_FAKE_API_KEY=x",
		"SHIPBRIDGE_COLOUR=blue",
	}, testModules...)
	want := []string{
		"environment variable SHIPBRIDGE_COLOUR is not a shipbridge setting and is ignored",
		"environment variable SHIPBRIDGE_FAKE_API_KEY is not a shipbridge setting and is ignored; did you mean SHIPBRIDGE_CARRIERS_FAKE_API_KEY (key carriers.fake.api_key)?",
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
	_, err := load("", nil, env(map[string]string{"SHIPBRIDGE_MOYSKLAD_WINDOW": "soon"}), testModules...)
	if err == nil || !strings.Contains(err.Error(), "moysklad.window") {
		t.Fatalf("err = %v, want the bad key named", err)
	}
	// A carrier's key is named in full too.
	_, err = load("", nil, env(map[string]string{"SHIPBRIDGE_CARRIERS_FAKE_PACKAGE_LENGTH_CM": "long"}), testModules...)
	if err == nil || !strings.Contains(err.Error(), "carriers.fake.package.length_cm") {
		t.Fatalf("err = %v, want the carrier's bad key named in full", err)
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
  fake:
    enabled: true
    base_url: https://fake.example
    package:
      width_cm: 40
`)
	cfg, err := load(path, nil, env(map[string]string{
		"SHIPBRIDGE_MOYSKLAD_TOKEN":                  "from-env",
		"SHIPBRIDGE_MOYSKLAD_MAX_PARALLEL":           "3",
		"SHIPBRIDGE_MOYSKLAD_STATES_READY":           "Из окружения",
		"SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_ERROR":       "Причина", // not in the file at all
		"SHIPBRIDGE_CARRIERS_FAKE_ENABLED":           "false",
		"SHIPBRIDGE_CARRIERS_FAKE_NAMES":             "Фейк,Фейк Экспресс",
		"SHIPBRIDGE_CARRIERS_FAKE_PACKAGE_LENGTH_CM": "33",
		"SHIPBRIDGE_CARRIERS_FAKE_API_KEY":           "s3",
		"SHIPBRIDGE_CARRIERS_FAKE_TIMEOUT":           "1m",
		"SHIPBRIDGE_CARRIERS_SPARE_ENABLED":          "true",
		"SHIPBRIDGE_SWEEP_EVERY":                     "5m",
		"SHIPBRIDGE_HTTP_LISTEN":                     "", // set but empty: disables
		"SHIPBRIDGE_LOG_LEVEL":                       "debug",
	}), testModules...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"token":        cfg.MoySklad.Token.Value(),
		"max_parallel": cfg.MoySklad.MaxParallel,
		"ready":        cfg.MoySklad.States.Ready,
		"error attr":   cfg.MoySklad.Attributes.Error,
		"enabled":      fake(cfg).Enabled,
		"names":        fake(cfg).Names,
		"base_url":     fake(cfg).BaseURL,
		"length":       fake(cfg).Package.LengthCM,
		"width":        fake(cfg).Package.WidthCM,
		"secret":       fake(cfg).APIKey.Value(),
		"timeout":      fake(cfg).Timeout,
		"spare":        cfg.Carriers.Sections()[1].Settings.IsEnabled(),
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
		"names":        []string{"Фейк", "Фейк Экспресс"},
		"base_url":     "https://fake.example",
		"length":       33,
		"width":        40,
		"secret":       "s3",
		"timeout":      time.Minute,
		"spare":        true,
		"sweep":        5 * time.Minute,
		"listen":       "",
		"level":        "debug",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env overrides:\n got %v\nwant %v", got, want)
	}
}

// TestEveryKeyHasAnEnvVariable guards the explicit binding: each key of the struct must be
// overridable, including keys that no file mentions.
func TestEveryKeyHasAnEnvVariable(t *testing.T) {
	fields := Fields(Default(testModules...))
	if len(fields) < 45 {
		t.Fatalf("only %d keys found; the struct walk is broken", len(fields))
	}
	for _, f := range fields {
		if f.Env != "SHIPBRIDGE_"+strings.ToUpper(strings.ReplaceAll(f.Key, ".", "_")) {
			t.Errorf("%s: env %s", f.Key, f.Env)
		}
		value := "7"
		switch f.Key {
		case "carriers.fake.enabled":
			value = "false"
		case "carriers.spare.enabled":
			value = "true"
		case "schedule", "log.level", "log.format":
			value = "x7"
		}
		if _, isDuration := f.raw.(time.Duration); isDuration {
			value = "7s"
		}
		cfg, err := load("", nil, env(map[string]string{f.Env: value}), testModules...)
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
	c := Default(testModules...)
	c.MoySklad.Token = "tok"
	return withFake(c, func(s *fakeSettings) { s.APIKey = "key" })
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
	// A carrier's secret is required only with credentials too.
	c = withFake(validConfig(), func(s *fakeSettings) { s.APIKey = "" })
	if ps := problems(c.Validate()); len(ps) != 1 || ps[0].Message != "carriers.fake.api_key is required: set SHIPBRIDGE_CARRIERS_FAKE_API_KEY" {
		t.Errorf("problems = %+v", ps)
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
	c.MoySklad.Attributes.Error = " накладная "
	c = withFake(c, func(s *fakeSettings) {
		s.BaseURL, s.APIKey, s.Package.WidthCM = "ftp://fake.example", "", 0
	})

	want := map[string]string{
		"moysklad.token":                  "moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN",
		"schedule":                        "schedule is not a valid cron spec",
		"log.level":                       `log.level must be one of debug, info, warn, error, got "loud"`,
		"http.listen":                     "http.listen must be host:port",
		"moysklad.max_parallel":           "moysklad.max_parallel must be between 1 and 5",
		"moysklad.states.deleted":         "moysklad.states.deleted must differ from moysklad.states.ready",
		"moysklad.attributes.error":       `moysklad.attributes.error must differ from moysklad.attributes.waybill (both are " накладная ")`,
		"carriers.fake.base_url":          `carriers.fake.base_url must be an http(s) URL such as https://host/path, got "ftp://fake.example"`,
		"carriers.fake.api_key":           "carriers.fake.api_key is required: set SHIPBRIDGE_CARRIERS_FAKE_API_KEY",
		"carriers.fake.package.width_cm":  "carriers.fake.package.width_cm must be greater than 0, got 0",
		"carriers.fake.package.height_cm": "", // still valid: must not be reported
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
	if len(got) != 10 {
		t.Errorf("got %d problems, want 10: %v", len(got), got)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	cfg, err := load("", nil, env(map[string]string{
		"SHIPBRIDGE_MOYSKLAD_TOKEN":        "ms-token-SECRET",
		"SHIPBRIDGE_CARRIERS_FAKE_API_KEY": "fake-key-SECRET",
	}), testModules...)
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
		"carriers": fmt.Sprintf("%v %+v %#v %s", cfg.Carriers, cfg.Carriers, cfg.Carriers, cfg.Carriers),
	}
	for name, view := range views {
		if strings.Contains(view, "SECRET") {
			t.Errorf("%s leaks a secret: %s", name, view)
		}
	}
	if !strings.Contains(string(js), `"fake":{"Enabled":true,`) || !strings.Contains(string(js), `"APIKey":"[redacted]"`) {
		t.Errorf("JSON should show the carriers' settings, secrets redacted: %s", js)
	}
	if !strings.Contains(cfg.String(), "moysklad.token = [redacted]\n") {
		t.Errorf("String() should show that the token is set:\n%s", cfg.String())
	}
	if !strings.Contains(cfg.String(), "carriers.fake.names = [Фейк, Fake]\n") || !strings.Contains(cfg.String(), "moysklad.window = 3s\n") ||
		!strings.Contains(cfg.String(), "sweep_every = 15m\n") {
		t.Errorf("String() should show ordinary values:\n%s", cfg.String())
	}
	if !strings.Contains(cfg.String(), "carriers.fake.api_key = [redacted]\n") || !strings.Contains(cfg.String(), "carriers.fake.timeout = 30s\n") {
		t.Errorf("String() should show the carrier's keys, its secret redacted:\n%s", cfg.String())
	}
	if got := Default(testModules...).String(); !strings.Contains(got, "moysklad.token = \n") || !strings.Contains(got, "carriers.fake.api_key = \n") {
		t.Errorf("an unset token should show empty:\n%s", got)
	}
}

func TestRetryBounds(t *testing.T) {
	c := Default(testModules...)
	if c.RetryBase != 30*time.Second || c.RetryMax != 30*time.Minute {
		t.Errorf("defaults %s %s", c.RetryBase, c.RetryMax)
	}
	c.RetryBase, c.RetryMax = time.Minute, time.Second
	err := c.ValidateWithoutCredentials()
	if err == nil || !strings.Contains(err.Error(), "retry_max must be at least retry_base") {
		t.Errorf("err = %v", err)
	}
}
