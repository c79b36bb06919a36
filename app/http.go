package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/web"
)

// serveHTTP starts the HTTP endpoints of `run` on cfg.HTTP.Listen and
// returns a function that shuts them down.
func (e *env) serveHTTP(cfg config.Config, log *zap.Logger, d *deps, sched *Scheduler) (func(), error) {
	health := func() error {
		if _, err := d.store.SchemaVersion(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if last := sched.Last(); last.Err != nil {
			return fmt.Errorf("last cycle failed: %w", explainMetadata(last.Err))
		}
		if p := d.metrics.MoySkladWriteProblem(); p != "" {
			return fmt.Errorf("outcomes are not written back: %s", p)
		}
		if problems := d.metrics.CarrierProblems(); len(problems) > 0 {
			msgs := make([]string, len(problems))
			for i, p := range problems {
				msgs[i] = p.String()
			}
			return fmt.Errorf("orders are waiting: %s", strings.Join(msgs, "; "))
		}
		return nil
	}
	h, err := web.New(d.store, health, d.metrics.Registry, log.Named("http"), e.now)
	if err != nil {
		return nil, err
	}
	// Carriers are shown by the name managers pick on the order in MoySklad.
	titles := map[string]string{}
	for _, name := range d.carriers.Names() {
		if _, pr, ok := d.carriers.Get(name); ok && len(pr.Names) > 0 {
			titles[name] = pr.Names[0]
		}
	}
	h.SetCarrierTitles(titles)
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	srv := web.NewHTTPServer(cfg.HTTP.Listen, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	log.Info("http endpoints listening", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
