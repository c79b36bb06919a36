package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTrackingDefaultsAndOverrides(t *testing.T) {
	d := Default()
	if d.Tracking.Every != time.Hour || d.Tracking.MaxAge != 1440*time.Hour || d.MoySklad.States.Delivered != "Доставлен" ||
		d.MoySklad.States.Returned != "Возврат" || d.MoySklad.Attributes.DeliveryStatus != "Статус доставки" {
		t.Errorf("defaults: %+v %+v %+v", d.Tracking, d.MoySklad.States, d.MoySklad.Attributes)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("moysklad:\n  states:\n    returned: \"\"\ntracking:\n  max_age: 720h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SHIPBRIDGE_TRACKING_EVERY": "0"}
	c, err := Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracking.Every != 0 || c.Tracking.MaxAge != 720*time.Hour || c.MoySklad.States.Returned != "" || c.MoySklad.States.Delivered != "Доставлен" {
		t.Errorf("loaded: %+v, returned %q", c.Tracking, c.MoySklad.States.Returned)
	}
}

func TestValidateTracking(t *testing.T) {
	c := validConfig()
	c.MoySklad.States.Returned = "" // disables the move: fine
	if err := c.Validate(); err != nil {
		t.Fatalf("empty returned: %v", err)
	}
	c.Tracking.Every = -time.Minute
	c.MoySklad.States.Delivered = c.MoySklad.States.Registered
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "tracking.every must not be negative") ||
		!strings.Contains(err.Error(), "moysklad.states.delivered must differ from moysklad.states.registered") {
		t.Errorf("%v", err)
	}
	c = validConfig()
	c.Tracking.MaxAge = 0
	c.MoySklad.Attributes.DeliveryStatus = ""
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "tracking.max_age must be a positive duration") ||
		!strings.Contains(err.Error(), "moysklad.attributes.delivery_status is required") {
		t.Errorf("%v", err)
	}
	c.Tracking.Every = 0 // tracking off: neither is needed
	if err := c.Validate(); err != nil {
		t.Errorf("tracking off: %v", err)
	}
}
