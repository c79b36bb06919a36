package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/metrics"
)

// gauge reads a series of the registry by metric name and carrier label (-1: absent).
func gauge(t *testing.T, m *metrics.Metrics, name, carrier string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "carrier" && l.GetValue() == carrier {
					return s.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// The dependencies of `run` export Почта России's quota, as the carrier last read it, on
// /metrics; the warning at 80 % is the carrier's, logged once.
func TestPochtaQuotaOnMetrics(t *testing.T) {
	sim := pochtatest.NewServer(pochtatest.Options{})
	t.Cleanup(sim.Close)
	cfg := config.Default(carrierModules...)
	cfg.Store.Path = filepath.Join(t.TempDir(), "shipbridge.db")
	cfg.MoySklad.Token = "ms-token"
	cd, _ := config.CarrierSettings[cdek.Settings](cfg.Carriers)
	cd.Enabled = false
	cfg.Carriers.Set(cd)
	p, _ := config.CarrierSettings[pochta.Settings](cfg.Carriers)
	p.Enabled, p.BaseURL, p.PostofficeCode = true, sim.URL(), sim.Postcode()
	p.Token, p.Login, p.Password = config.Secret(sim.Token()), config.Secret(sim.Login()), config.Secret(sim.Password())
	cfg.Carriers.Set(p)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	d, err := build(cfg, zap.New(core), time.Now, "shipbridge-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	if got := gauge(t, d.metrics, "shipbridge_carrier_quota_used", "pochta"); got != -1 {
		t.Errorf("a quota series before the quota was read: %v", got)
	}
	c, _, ok := d.carriers.Get(pochta.Name)
	if !ok {
		t.Fatal("pochta not registered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim.SetQuota(10000, 1200)
	if _, err := c.(*pochta.Carrier).RefreshQuota(ctx); err != nil {
		t.Fatal(err)
	}
	if used, allowed := gauge(t, d.metrics, "shipbridge_carrier_quota_used", "pochta"), gauge(t, d.metrics, "shipbridge_carrier_quota_allowed", "pochta"); used != 1200 || allowed != 10000 {
		t.Errorf("quota gauges = %v of %v, want 1200 of 10000", used, allowed)
	}
	if logs.Len() != 0 {
		t.Errorf("warned at 12 %%: %v", logs.All())
	}
	for _, used := range []int{8000, 8500} {
		sim.SetQuota(10000, used)
		if _, err := c.(*pochta.Carrier).RefreshQuota(ctx); err != nil {
			t.Fatal(err)
		}
		if got := gauge(t, d.metrics, "shipbridge_carrier_quota_used", "pochta"); got != float64(used) {
			t.Errorf("used = %v, want %d", got, used)
		}
	}
	if n := logs.FilterMessage("pochta daily API quota nearly used up").Len(); n != 1 || logs.Len() != 1 {
		t.Errorf("%d quota warnings (%d warnings in all) at 80 and 85 %%, want exactly 1: %v", n, logs.Len(), logs.All())
	}
}
