package config

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// No carrier enabled is a problem of the first carrier's enabled key, naming the others'.
func TestNoCarrierEnabled(t *testing.T) {
	c := withFake(validConfig(), func(s *fakeSettings) {
		s.Enabled = false
		s.Package.LengthCM = -1 // not checked while disabled
	})
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "carriers.fake.enabled" ||
		ps[0].Message != "carriers.fake.enabled is false and no other carrier is enabled: set it or carriers.spare.enabled to true" {
		t.Fatalf("problems = %+v", ps)
	}
	ps = problems(Default().ValidateWithoutCredentials())
	if len(ps) != 1 || ps[0].Key != "carriers" {
		t.Errorf("no carrier at all: %+v", ps)
	}
}

// The rule of cash on delivery by attribute reads the carrier's profile, whichever carrier it is.
func TestCashOnDeliveryAttributeRule(t *testing.T) {
	c := validConfig()
	if got := c.CashOnDeliveryAttribute(); got != "" {
		t.Errorf("auto: attribute %q, want none", got)
	}
	c = withFake(c, func(s *fakeSettings) { s.CashOnDelivery = "attribute" })
	if got := c.CashOnDeliveryAttribute(); got != "Наложенный платёж" {
		t.Errorf("attribute: %q", got)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("attribute named: %v", err)
	}
	c.MoySklad.Attributes.CashOnDelivery = " "
	ps := problems(c.Validate())
	if len(ps) != 1 || ps[0].Key != "moysklad.attributes.cash_on_delivery" ||
		ps[0].Message != "moysklad.attributes.cash_on_delivery must name the boolean order attribute that marks cash on delivery when carriers.fake.cash_on_delivery is attribute" {
		t.Errorf("problems = %+v", ps)
	}
	// A disabled carrier neither needs nor makes the workflow read the attribute.
	c = withFake(c, func(s *fakeSettings) { s.Enabled = false })
	if got := c.CashOnDeliveryAttribute(); got != "" {
		t.Errorf("disabled: attribute %q", got)
	}
	if ps := problems(c.Validate()); len(ps) != 1 || ps[0].Key != "carriers.fake.enabled" {
		t.Errorf("disabled: %+v", ps)
	}
}

// The shop's weight unit comes from the carrier settings that hold it, enabled or not.
func TestShop(t *testing.T) {
	c := Default(testModules...)
	if got := c.Shop().WeightUnit; got != "g" {
		t.Errorf("weight unit %q, want the spare carrier's g", got)
	}
	if got := fake(c).Profile(c.Shop()).WeightUnit; got != "g" {
		t.Errorf("profile weight unit %q", got)
	}
	if got := Default(fakeModule{}).Shop().WeightUnit; got != "" {
		t.Errorf("no carrier holds it: %q", got)
	}
}

// Copies of a Config keep their own carrier settings.
func TestCarrierSettingsAreValues(t *testing.T) {
	a := Default(testModules...)
	b := withFake(a, func(s *fakeSettings) { s.BaseURL = "https://other.example" })
	if fake(a).BaseURL != fakeTestURL || fake(b).BaseURL != "https://other.example" {
		t.Errorf("a %q, b %q", fake(a).BaseURL, fake(b).BaseURL)
	}
	if a.Carriers.Set(struct{ fakeSettings }{}) {
		t.Error("settings of an unknown type were set")
	}
	if s, ok := a.Carriers.Get("spare"); !ok || s.IsEnabled() {
		t.Errorf("Get(spare) = %v, %v", s, ok)
	}
	if _, ok := a.Carriers.Get("cdek"); ok {
		t.Error("a carrier that is not registered was found")
	}
	keys := []string{}
	for _, m := range a.Carriers.Modules() {
		keys = append(keys, m.Key())
	}
	if strings.Join(keys, ",") != "fake,spare" {
		t.Errorf("modules %v", keys)
	}
}

func TestDefaultRefusesATwiceRegisteredCarrier(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Default(fakeModule{}, fakeModule{})
}

// config knows carriers only through carriers.Module: it imports no carrier package, so adding a
// carrier never touches it.
func TestConfigImportsNoCarrier(t *testing.T) {
	for _, dir := range []string{".", "setting"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if path := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(path, "github.com/shipbridge/shipbridge/carriers/") {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
	}
}
