package moysklad_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// From 2026-12-01 a user token's request costs 4 of the 45 units per 3 s
// (doc _restrictions.md). X-RateLimit-Remaining counts units, so 1 left
// means the next request would get 429: the client must pause although
// Remaining is not 0. Against the simulator (window of a minute, so that
// load cannot refill the budget during the test) the 11th answer says
// Remaining 1; the client's clock is fake, so the pause it takes before
// the 12th request is measured, not slept.
func TestRemainingBelowRequestWeightPauses(t *testing.T) {
	s := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 45, RequestWeight: 4, Window: time.Minute})
	defer s.Close()
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var slept []time.Duration
	// The client's own limiter is deliberately loose (1000 per window), so
	// only the headers can make it wait.
	c := newClient(t, s, func(cfg *moysklad.Config) {
		cfg.RequestsPerWindow, cfg.Window, cfg.RequestWeight, cfg.MaxRetries = 1000, time.Minute, 4, -1
		cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			now, slept = now.Add(d), append(slept, d)
			mu.Unlock()
			return ctx.Err()
		}
	})
	for i := 0; i < 11; i++ {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if c.RateLimitWaits() != 0 {
		t.Fatalf("waited before the budget was spent: %v", slept)
	}
	// The 12th waits for the reset the simulator announced (about a
	// minute); the simulator's own clock has not moved, so it still says 429.
	_ = c.Ping(context.Background())
	mu.Lock()
	defer mu.Unlock()
	var total time.Duration
	for _, d := range slept {
		total += d
	}
	if c.RateLimitWaits() != 1 || total < 50*time.Second {
		t.Errorf("before the 12th request: %d waits, %v", c.RateLimitWaits(), total)
	}
}

// The simulator charges the weight: 11 requests of weight 4 fit in 45 units,
// the 12th is refused; the headers count units.
func TestSimulatorChargesRequestWeight(t *testing.T) {
	s := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 45, RequestWeight: 4, Window: time.Minute})
	defer s.Close()
	c := newClient(t, s, func(cfg *moysklad.Config) { cfg.MaxRetries = -1; cfg.RequestWeight = 1 })
	for i := 0; i < 11; i++ {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	err := c.Ping(context.Background())
	if e, ok := err.(*moysklad.Error); !ok || e.StatusCode != 429 || !e.HasCode(moysklad.CodeRateLimit) || e.RetryAfter <= 0 {
		t.Fatalf("12th request: %v", err)
	}
}

// How Remaining is read: in units against the request weight when the
// headers count units (Limit 45), in requests when they evidently count
// requests (Limit × weight within the 45 units: Limit 11 for weight 4).
func TestRemainingReadWithWeight(t *testing.T) {
	cases := []struct {
		name       string
		limit, rem string
		cfgRPW     int
		wantPause  bool
	}{
		{"units: 3 left, weight 4", "45", "3", 11, true},
		{"units: 4 left, weight 4", "45", "4", 11, false},
		{"units, no Limit header: 2 left, weight 4", "", "2", 11, true},
		{"requests: 3 left", "11", "3", 11, false},
		{"requests: 0 left", "11", "0", 11, true},
		{"solution token: 1 left, weight 1", "45", "1", 45, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.limit != "" {
					w.Header().Set("X-RateLimit-Limit", tc.limit)
				}
				w.Header().Set("X-RateLimit-Remaining", tc.rem)
				w.Header().Set("X-Lognex-Retry-TimeInterval", "3000")
				_, _ = io.WriteString(w, `{"id":"e"}`)
			}))
			defer srv.Close()
			var mu sync.Mutex
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			var waited time.Duration
			c, err := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "t", RequestsPerWindow: tc.cfgRPW, Window: 3 * time.Second,
				Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
				Sleep: func(ctx context.Context, d time.Duration) error {
					mu.Lock()
					now, waited = now.Add(d), waited+d
					mu.Unlock()
					return ctx.Err()
				}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if err := c.Ping(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if (waited > 0) != tc.wantPause {
				t.Errorf("waited %v, want a pause: %v", waited, tc.wantPause)
			}
		})
	}
}
