package app

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/metrics"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/poller"
	"github.com/shipbridge/shipbridge/store"
)

// deps are the long-lived dependencies of `run` and `once`, all built by build.
type deps struct {
	store    *store.Store
	metrics  *metrics.Metrics
	moysklad *moysklad.Client
	carriers *carriers.Registry
	poller   *poller.Poller
	cycler   Cycler
	// tracking runs the tracking pass after each cycle; nil when tracking is disabled.
	tracking *trackingCycler
}

// build opens the store and builds the API clients, the carriers and the
// poller. It is the one place where dependencies are constructed; the
// commands only use what it returns.
func build(cfg config.Config, log *zap.Logger, now func() time.Time, userAgent string) (*deps, error) {
	m := metrics.New()
	ms, err := newMoySklad(cfg, log, now, m, userAgent)
	if err != nil {
		return nil, err
	}
	reg, err := newCarriers(cfg, log, now, m)
	if err != nil {
		return nil, err
	}
	watchQuotas(reg, m)
	st, err := store.Open(cfg.Store.Path, store.Options{Now: now, HistoryRetention: cfg.Store.HistoryRetention, Logger: log.Named("store")})
	if err != nil {
		return nil, err
	}
	p := poller.New(pollerConfig(cfg), poller.Deps{
		MoySklad: ms, Carriers: reg, Store: st, Logger: log.Named("poller"), Now: now, Observer: m,
	})
	d := &deps{store: st, metrics: m, moysklad: ms, carriers: reg, poller: p, cycler: p}
	if cfg.Tracking.Every > 0 {
		d.tracking = newTrackingCycler(p, log.Named("tracking"), now, cfg.MoySklad.Window)
		d.cycler = d.tracking
	}
	return d, nil
}

// close releases what build acquired.
func (d *deps) close() {
	_ = d.store.Close()
}

func newMoySklad(cfg config.Config, log *zap.Logger, now func() time.Time, m *metrics.Metrics, userAgent string) (*moysklad.Client, error) {
	return moysklad.New(moysklad.Config{
		BaseURL:           cfg.MoySklad.BaseURL,
		Token:             cfg.MoySklad.Token.Value(),
		RequestsPerWindow: cfg.MoySklad.RequestsPerWindow,
		Window:            cfg.MoySklad.Window,
		MaxParallel:       cfg.MoySklad.MaxParallel,
		Logger:            log.Named("moysklad"),
		Now:               now,
		Observer:          m.API("moysklad"),
		UserAgent:         userAgent,
	})
}

// carrierModules is the one registration block: every carrier shipbridge knows, in the order
// check reports them. Configuration loading (the keys carriers.<key>.* and their
// SHIPBRIDGE_CARRIERS_<KEY>_* variables), validation, building, check, setup and config.yaml go
// through this list; a new carrier is one more line here (see README, "Adding a carrier").
var carrierModules = []carriers.Module{
	cdek.Module{},
	pochta.Module{},
}

// newCarriers builds the registry of enabled carriers.
func newCarriers(cfg config.Config, log *zap.Logger, now func() time.Time, m *metrics.Metrics) (*carriers.Registry, error) {
	reg, _, err := buildCarriers(cfg, log, now, m, func(s config.CarrierSection) bool { return s.Settings.IsEnabled() })
	return reg, err
}

// builtCarrier is a carrier built from its settings.
type builtCarrier struct {
	section config.CarrierSection
	carrier carriers.Carrier
}

// buildCarriers builds and registers the carriers of cfg that use selects, in the order of the
// modules.
func buildCarriers(cfg config.Config, log *zap.Logger, now func() time.Time, m *metrics.Metrics,
	use func(config.CarrierSection) bool) (*carriers.Registry, []builtCarrier, error) {
	reg := &carriers.Registry{}
	var built []builtCarrier
	shop := cfg.Shop()
	for _, s := range cfg.Carriers.Sections() {
		if !use(s) {
			continue
		}
		key := s.Key()
		carrier, err := s.Settings.Build(carriers.Env{Logger: log.Named(key), Now: now, Observer: m.API(key), Shop: shop})
		if err != nil {
			return nil, nil, fmt.Errorf("carriers.%s: %w", key, err)
		}
		if err := reg.Register(carrier, s.Settings.Profile(shop)); err != nil {
			return nil, nil, err
		}
		built = append(built, builtCarrier{section: s, carrier: carrier})
	}
	return reg, built, nil
}

// watchQuotas exports the quota of each carrier that has one (carriers.QuotaReporter) on
// /metrics, read at scrape time.
func watchQuotas(reg *carriers.Registry, m *metrics.Metrics) {
	for _, c := range reg.Carriers() {
		if qr, ok := c.(carriers.QuotaReporter); ok {
			m.WatchQuota(c.Name(), qr.QuotaUsage)
		}
	}
}

// pollerConfig maps the configuration onto the workflow's settings.
func pollerConfig(cfg config.Config) poller.Config {
	s, a := cfg.MoySklad.States, cfg.MoySklad.Attributes
	settle := time.Minute
	if half := cfg.OnceTimeout / 2; half > 0 && half < settle {
		settle = half
	}
	return poller.Config{
		States: poller.StateNames{Ready: s.Ready, Registered: s.Registered, Failed: s.Failed,
			Delete: s.Delete, Deleted: s.Deleted, NotDeleted: s.NotDeleted, Delivered: s.Delivered, Returned: s.Returned},
		Attributes: poller.AttributeNames{Carrier: a.Carrier, PickupPoint: a.PickupPoint, Tariff: a.Tariff,
			TrackingNumber: a.TrackingNumber, Waybill: a.Waybill, Error: a.Error, CashOnDelivery: cfg.CashOnDeliveryAttribute(),
			DeliveryStatus: a.DeliveryStatus},
		TrackEvery:    cfg.Tracking.Every,
		TrackMaxAge:   cfg.Tracking.MaxAge,
		Workers:       cfg.Workers,
		Overlap:       cfg.Overlap,
		SweepEvery:    cfg.SweepEvery,
		RetryBase:     cfg.RetryBase,
		RetryMax:      cfg.RetryMax,
		SettleTimeout: settle,
	}
}
