package pochta

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
)

// A spent daily quota (the simulator's 429 LIMIT_EXCEEDED «Превышен лимит
// количества запросов») is a transient error marked QuotaExhausted; the known
// quota reads as used up and the warning is logged once.
func TestQuotaExhaustedIsMarked(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	sim, c := newSim(t, pochtatest.Options{}, func(cfg *Config) { cfg.Logger = zap.New(core) })
	sim.SetQuota(100, 10)
	if _, err := c.RefreshQuota(ctx(t)); err != nil {
		t.Fatal(err)
	}
	sim.SetQuota(100, 100)
	for i, key := range []string{"QX-1", "QX-2"} {
		_, err := c.Submit(ctx(t), goodShipment(key))
		ce := cerr(t, err)
		if ce.Kind != carriers.KindTransient || !ce.QuotaExhausted || ce.HTTPStatus != http.StatusTooManyRequests || ce.Code != "LIMIT_EXCEEDED" {
			t.Fatalf("submit %d past the quota: %+v", i, ce)
		}
		if sim.LiveOrdersForNumber(key) != 0 {
			t.Errorf("%s created past the quota", key)
		}
	}
	if q, ok := c.Quota(); !ok || q.Used != 100 || q.Allowed != 100 {
		t.Errorf("quota after the refusal = %+v %v, want 100 of 100", q, ok)
	}
	if n := logs.FilterMessage("pochta daily API quota nearly used up").Len(); n != 1 {
		t.Errorf("%d quota warnings, want 1: %v", n, logs.All())
	}
	// A later read that finds the quota spent does not warn again.
	if _, err := c.RefreshQuota(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessage("pochta daily API quota nearly used up").Len(); n != 1 {
		t.Errorf("%d quota warnings after a refresh, want 1", n)
	}
}

// A 429 without the quota's code or words is a passing rate limit, not a
// spent quota.
func TestPlain429IsNotQuota(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	if _, err := c.RefreshQuota(ctx(t)); err != nil { // fresh: Submit's next call is the create
		t.Fatal(err)
	}
	sim.FailNext(1, http.StatusTooManyRequests)
	_, err := c.Submit(ctx(t), goodShipment("R-1"))
	ce := cerr(t, err)
	if ce.Kind != carriers.KindTransient || ce.QuotaExhausted || ce.HTTPStatus != http.StatusTooManyRequests {
		t.Errorf("plain 429: %+v", ce)
	}
}

// The tracking service's wording, «Ошибка авторизации: Превышен лимит
// количества запросов» ([LAPAY-ISS] #35), even with a 403 or in a 200
// envelope, is the quota, not refused credentials.
func TestQuotaWordsOutrankAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"403 D envelope", http.StatusForbidden, `{"code":"3","desc":"Ошибка авторизации: Превышен лимит количества запросов"}`},
		{"429 D envelope", http.StatusTooManyRequests, `{"code":"LIMIT_EXCEEDED","desc":"Превышен лимит количества запросов"}`},
		{"200 B envelope", http.StatusOK, `{"errors":[{"error-code":"LIMIT_EXCEEDED","error-description":"Превышен лимит количества запросов","position":0}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json;charset=UTF-8")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := newCarrierAt(t, srv.URL)
			_, err := c.RefreshQuota(ctx(t))
			ce := cerr(t, err)
			if ce.Kind != carriers.KindTransient || !ce.QuotaExhausted {
				t.Errorf("%s: %+v", tc.name, ce)
			}
		})
	}
	// A refusal of credentials stays a configuration error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"1000","desc":"Unauthorized"}`))
	}))
	t.Cleanup(srv.Close)
	_, err := newCarrierAt(t, srv.URL).RefreshQuota(ctx(t))
	if ce := cerr(t, err); ce.Kind != carriers.KindConfig || ce.QuotaExhausted {
		t.Errorf("401: %+v", ce)
	}
}

// Errors listed in a 200 answer (envelope A of create) with the quota's code.
func TestRejectionWithQuotaCode(t *testing.T) {
	c := newCarrierAt(t, "https://example.invalid")
	e := c.rejection("create order", []ErrorItem{{Code: "LIMIT_EXCEEDED", Description: "Превышен лимит количества запросов", Position: 0}}, http.StatusOK)
	if e.Kind != carriers.KindTransient || !e.QuotaExhausted {
		t.Errorf("rejection: %+v", e)
	}
	e = c.rejection("create order", []ErrorItem{{Code: "EMPTY_INDEX_TO", Position: 0}}, http.StatusOK)
	if e.QuotaExhausted {
		t.Errorf("a data error marked as quota: %+v", e)
	}
}
