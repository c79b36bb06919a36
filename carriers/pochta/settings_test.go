package pochta_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/config"
)

// Почта России's settings as the configuration loads and validates them (carriers.pochta.*),
// alone among the carriers: what config does with any carrier is tested in package config, the
// whole list of carriers in package app.

// withPochta returns the defaults with Почта России alone, enabled, and a MoySklad token,
// edited by edit.
func withPochta(edit func(*pochta.Settings)) config.Config {
	c := config.Default(pochta.Module{})
	c.MoySklad.Token = "t"
	s, _ := config.CarrierSettings[pochta.Settings](c.Carriers)
	s.Enabled = true
	if edit != nil {
		edit(&s)
	}
	c.Carriers.Set(s)
	return c
}

func TestValidatePochta(t *testing.T) {
	c := withPochta(nil)
	err := c.Validate()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("pochta without secrets: %v", err)
	}
	keys := map[string]string{}
	for _, p := range ve.Problems {
		keys[p.Key] = p.Message
	}
	for _, k := range []string{"carriers.pochta.token", "carriers.pochta.login", "carriers.pochta.password", "carriers.pochta.postoffice_code"} {
		if !strings.Contains(keys[k], config.EnvName(k)) {
			t.Errorf("%s not reported with its variable: %q", k, keys[k])
		}
	}
	if len(keys) != 4 {
		t.Errorf("problems %v", keys)
	}
	if err := c.ValidateWithoutCredentials(); err != nil {
		t.Errorf("demo without Pochta secrets: %v", err)
	}
	c = withPochta(func(s *pochta.Settings) {
		s.Token, s.Login, s.Password = "a", "b", "c"
		s.PostofficeCode = "102961"
	})
	if err := c.Validate(); err != nil {
		t.Errorf("complete pochta: %v", err)
	}
	c = withPochta(func(s *pochta.Settings) {
		s.Token, s.Login, s.Password = "a", "b", "c"
		s.PostofficeCode = "10296"
		s.CashOnDelivery = "maybe"
	})
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "carriers.pochta.postoffice_code") || !strings.Contains(err.Error(), "carriers.pochta.cash_on_delivery") {
		t.Errorf("bad values: %v", err)
	}
	s, _ := config.CarrierSettings[pochta.Settings](c.Carriers)
	if pc := s.Config(c.Shop()); pc.Token != "a" || pc.WeightUnit != "kg" || !pc.DeclaredValue || pc.Package.LengthCM != 20 {
		t.Errorf("Config = %s %+v", pc, pc.Package)
	}
	if strings.Contains(c.String(), "= a\n") || strings.Contains(fmt.Sprintf("%v %+v %#v", s, s, s), `"a"`) {
		t.Error("a pochta secret is printed")
	}
}

// The problems the adapter's own rules find keep their messages, under their keys.
func TestValidatePochtaShapes(t *testing.T) {
	c := withPochta(func(s *pochta.Settings) {
		s.PostofficeCode = "12"
		s.MailType = "bad type"
		s.Package.LengthCM = -1
		s.Names = []string{"Почта", " "}
	})
	got := []string{}
	for _, p := range problemsOf(c.ValidateWithoutCredentials()) {
		got = append(got, p.Key+" | "+p.Message)
	}
	want := []string{
		`carriers.pochta.names | carriers.pochta.names must list the non-empty values of the carrier attribute that mean Почта России, e.g. ["Почта России", "Почта"]`,
		`carriers.pochta.package.length_cm | carriers.pochta.package.length_cm must be greater than 0, got -1`,
		`carriers.pochta.postoffice_code | carriers.pochta.postoffice_code "12" is not a 6-digit post office index`,
		`carriers.pochta.mail_type | carriers.pochta.mail_type "bad type" is not a Pochta mail type such as POSTAL_PARCEL`,
		`carriers.pochta.package: | carriers.pochta.package: sizes and default weight must not be negative`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Product weights are in the shop's unit: a unit the adapter refuses is named as before.
	s, _ := config.CarrierSettings[pochta.Settings](c.Carriers)
	if pc := s.Config(carriers.Shop{WeightUnit: "g"}); pc.WeightUnit != "g" || s.Profile(carriers.Shop{WeightUnit: "g"}).WeightUnit != "g" {
		t.Errorf("weight unit %q", pc.WeightUnit)
	}
}

func problemsOf(err error) []config.Problem {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

func TestDefaultSettingsAndBuild(t *testing.T) {
	d := pochta.DefaultSettings()
	if d.Enabled || d.BaseURL != "https://otpravka-api.pochta.ru" || d.MailType != "POSTAL_PARCEL" || !d.DeclaredValue ||
		d.CashOnDelivery != "auto" || d.Package.LengthCM != 20 || d.Token != "" {
		t.Errorf("defaults %+v", d)
	}
	if _, err := d.Build(carriers.Env{}); err == nil || !strings.Contains(err.Error(), "carriers.pochta.token is required") {
		t.Errorf("built without secrets: %v", err)
	}
	d.Token, d.Login, d.Password, d.PostofficeCode = "a", "b", "c", "102961"
	c, err := d.Build(carriers.Env{Shop: carriers.Shop{WeightUnit: "g"}})
	if err != nil || c.Name() != pochta.Name {
		t.Fatalf("build: %v", err)
	}
	if _, ok := c.(carriers.QuotaReporter); !ok {
		t.Error("the quota is not reported")
	}
}
