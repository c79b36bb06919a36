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

// newCarriers builds the registry of enabled carriers. A new carrier is
// one more block here.
func newCarriers(cfg config.Config, log *zap.Logger, now func() time.Time, m *metrics.Metrics) (*carriers.Registry, error) {
	reg := &carriers.Registry{}
	if c := cfg.Carriers.CDEK; c.Enabled {
		carrier, err := cdek.New(cdek.Config{
			BaseURL:        c.BaseURL,
			ClientID:       c.ClientID.Value(),
			ClientSecret:   c.ClientSecret.Value(),
			Logger:         log.Named("cdek"),
			Now:            now,
			Observer:       m.API("cdek"),
			OrderType:      c.OrderType,
			TariffCode:     c.TariffCode,
			DoorTariffCode: c.DoorTariffCode,
			ShipmentPoint:  c.ShipmentPoint,
			FromLocation: cdek.SenderLocation{
				Code: c.FromLocation.Code, PostalCode: c.FromLocation.PostalCode, City: c.FromLocation.City,
				Address: c.FromLocation.Address, CountryCode: c.FromLocation.CountryCode,
			},
			Sender:      cdek.Sender{Name: c.Sender.Name, Company: c.Sender.Company, Phone: c.Sender.Phone},
			PrintCopies: c.PrintCopies,
		})
		if err != nil {
			return nil, fmt.Errorf("carriers.cdek: %w", err)
		}
		if err := reg.Register(carrier, carriers.Profile{
			Names:          c.Names,
			WeightUnit:     c.WeightUnit,
			DefaultWeightG: c.Package.DefaultWeightG,
			LengthCM:       c.Package.LengthCM,
			WidthCM:        c.Package.WidthCM,
			HeightCM:       c.Package.HeightCM,
			CashOnDelivery: c.CashOnDelivery,
			// CDEK decides most creates within 0.3–3 s and recommends a
			// first GET after 2–3 s; its client times out after 30 s, so
			// a "not found" is trusted 45 s after a create with no answer.
			Timings: carriers.Timings{FirstPollDelay: 2 * time.Second, ReconcileGrace: 45 * time.Second},
		}); err != nil {
			return nil, err
		}
	}
	if c := cfg.PochtaConfig(); c.Enabled {
		c.Logger, c.Now, c.Observer = log.Named("pochta"), now, m.API("pochta")
		carrier, err := pochta.New(c)
		if err != nil {
			return nil, fmt.Errorf("carriers.pochta: %w", err)
		}
		if err := reg.Register(carrier, c.Profile()); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// quotaCarrier is a carrier that knows its request quota (Почта России).
type quotaCarrier interface {
	Quota() (pochta.Quota, bool)
}

// watchQuotas exports the quota of each carrier that has one on /metrics,
// read at scrape time.
func watchQuotas(reg *carriers.Registry, m *metrics.Metrics) {
	if c, _, ok := reg.Get(pochta.Name); ok {
		if qc, ok := c.(quotaCarrier); ok {
			m.WatchQuota(pochta.Name, func() (int64, int64, bool) {
				q, ok := qc.Quota()
				return q.Used, q.Allowed, ok
			})
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
			TrackingNumber: a.TrackingNumber, Waybill: a.Waybill, Error: a.Error, CashOnDelivery: codAttribute(cfg),
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

// codAttribute is the name of the cash-on-delivery attribute when a carrier
// collects by it (cash_on_delivery: attribute), else "": the workflow then
// neither needs nor reads it.
func codAttribute(cfg config.Config) string {
	if cfg.Carriers.CDEK.Enabled && cfg.Carriers.CDEK.CashOnDelivery == "attribute" {
		return cfg.MoySklad.Attributes.CashOnDelivery
	}
	return ""
}
