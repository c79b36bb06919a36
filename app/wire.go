package app

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/store"
)

// deps are the long-lived dependencies of `run` and `once`, all built by build.
type deps struct {
	store  *store.Store
	cycler Cycler
}

// build opens the store and builds the cycle. It is the one place where dependencies are
// constructed; run and once only use what it returns.
//
// The poller plugs in here: construct the MoySklad client from cfg.MoySklad, the carriers from
// cfg.Carriers, the poller from them, st, log and now, and assign it to cycler in place of
// storeCycle.
func build(cfg config.Config, log *zap.Logger, now func() time.Time) (*deps, error) {
	st, err := store.Open(cfg.Store.Path, store.Options{Now: now})
	if err != nil {
		return nil, err
	}
	return &deps{
		store:  st,
		cycler: &storeCycle{cfg: cfg, store: st, log: log},
	}, nil
}

// close releases what build acquired.
func (d *deps) close() {
	_ = d.store.Close()
}

// storeCycle is the cycle until the poller is wired in: it reads the store and logs what a poll
// cycle would do. It calls neither MoySklad nor a carrier and changes nothing.
type storeCycle struct {
	cfg   config.Config
	store *store.Store
	log   *zap.Logger
}

// Cycle reads the store and logs the statuses a poll cycle would query.
func (c *storeCycle) Cycle(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	orders := 0
	if err := c.store.Orders(func(store.OrderRecord) bool {
		orders++
		return ctx.Err() == nil
	}); err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	states := c.cfg.MoySklad.States
	var carriers []string
	if c.cfg.Carriers.CDEK.Enabled {
		carriers = append(carriers, "cdek")
	}
	c.log.Info("poll cycle: the poller is not wired in yet, so nothing is polled",
		zap.String("moysklad", c.cfg.MoySklad.BaseURL),
		zap.Strings("trigger_states", []string{states.Ready, states.Delete}),
		zap.Strings("carriers", carriers),
		zap.String("schedule", c.cfg.Schedule),
		zap.String("store", c.store.Path()),
		zap.Int("orders_in_store", orders))
	return nil
}
