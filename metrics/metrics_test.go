package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
)

// value reads a series of m by metric name and carrier label (-1: absent).
func value(t *testing.T, m *Metrics, name, carrier string) float64 {
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
					if s.GetGauge() != nil {
						return s.GetGauge().GetValue()
					}
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

func TestTroubleReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("plain"), ""},
		{context.DeadlineExceeded, ""},
		{&carriers.Error{Kind: carriers.KindConfig, Carrier: "cdek", HTTPStatus: 401, Code: "invalid_client"}, ReasonCredentials},
		{fmt.Errorf("wrapped: %w", &carriers.Error{Kind: carriers.KindConfig, Carrier: "cdek", HTTPStatus: 403}), ReasonCredentials},
		{&carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 503}, ""},
		{&carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 429}, ""}, // a passing rate limit
		{&carriers.Error{Kind: carriers.KindTransient, Carrier: "pochta", QuotaExhausted: true, Detail: "Превышен лимит количества запросов"}, ReasonQuota},
		{&carriers.Error{Kind: carriers.KindRejected, Carrier: "cdek", Code: "v2_entity_not_found"}, ""},
	} {
		if got := TroubleReason(tc.err); got != tc.want {
			t.Errorf("TroubleReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCarrierHealthFollowsFailuresAndSuccess(t *testing.T) {
	m := New()
	m.CarriersEnabled("cdek", "pochta")
	if got := value(t, m, "shipbridge_carrier_healthy", "cdek"); got != 1 {
		t.Fatalf("healthy at start = %v", got)
	}
	m.CarrierFailed("cdek", &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 502})
	if len(m.CarrierProblems()) != 0 {
		t.Fatal("a transient failure made the carrier unhealthy")
	}
	refused := &carriers.Error{Kind: carriers.KindConfig, Carrier: "cdek", HTTPStatus: 401, Code: "invalid_client", Detail: "Bad client credentials"}
	m.CarrierFailed("cdek", refused)
	m.CarrierFailed("cdek", refused)
	m.CarrierFailed("pochta", &carriers.Error{Kind: carriers.KindTransient, Carrier: "pochta", QuotaExhausted: true})
	p := m.CarrierProblems()
	if len(p) != 2 || p[0].Carrier != "cdek" || p[0].Reason != ReasonCredentials || p[1].Reason != ReasonQuota {
		t.Fatalf("problems = %+v", p)
	}
	if s := p[0].String(); !strings.Contains(s, "carrier cdek refuses our credentials") || !strings.Contains(s, "invalid_client") {
		t.Errorf("problem text %q", s)
	}
	if got := value(t, m, "shipbridge_carrier_auth_failures_total", "cdek"); got != 2 {
		t.Errorf("auth failures = %v", got)
	}
	if got := value(t, m, "shipbridge_carrier_quota_exhausted_total", "pochta"); got != 1 {
		t.Errorf("quota failures = %v", got)
	}
	if got := value(t, m, "shipbridge_carrier_healthy", "cdek"); got != 0 {
		t.Errorf("healthy after refusal = %v", got)
	}
	// A failed order (the carrier refused the data) says nothing about our
	// credentials; a registered one does.
	m.OrderOutcome("cdek", "failed")
	if len(m.CarrierProblems()) != 2 {
		t.Error("a failed order cleared the problem")
	}
	m.OrderOutcome("cdek", "registered")
	if p := m.CarrierProblems(); len(p) != 1 || p[0].Carrier != "pochta" {
		t.Errorf("after a registration: %+v", p)
	}
	if got := value(t, m, "shipbridge_carrier_healthy", "cdek"); got != 1 {
		t.Errorf("healthy after registration = %v", got)
	}
}

func TestWatchQuotaReadsAtScrapeTime(t *testing.T) {
	m := New()
	if got := value(t, m, "shipbridge_carrier_quota_used", "pochta"); got != -1 {
		t.Fatalf("a quota series before any carrier is watched: %v", got)
	}
	var used, allowed int64
	known := false
	m.WatchQuota("pochta", func() (int64, int64, bool) { return used, allowed, known })
	if got := value(t, m, "shipbridge_carrier_quota_allowed", "pochta"); got != -1 {
		t.Errorf("a series while the quota is unknown: %v", got)
	}
	used, allowed, known = 8123, 10000, true
	if got := value(t, m, "shipbridge_carrier_quota_used", "pochta"); got != 8123 {
		t.Errorf("used = %v, want 8123", got)
	}
	if got := value(t, m, "shipbridge_carrier_quota_allowed", "pochta"); got != 10000 {
		t.Errorf("allowed = %v, want 10000", got)
	}
	used = 9000 // the next scrape sees the new value
	if got := value(t, m, "shipbridge_carrier_quota_used", "pochta"); got != 9000 {
		t.Errorf("used after change = %v, want 9000", got)
	}
}

func TestMoySkladWriteProblem(t *testing.T) {
	m := New()
	m.MoySkladWriteFailed("stuck", errors.New("503"))
	if m.MoySkladWriteProblem() != "" {
		t.Error("stuck is not an access problem")
	}
	m.MoySkladWriteFailed("access", errors.New("HTTP 403; code 1017"))
	if p := m.MoySkladWriteProblem(); !strings.Contains(p, "1017") || !strings.Contains(p, "right to edit") {
		t.Errorf("problem %q", p)
	}
	m.MoySkladWriteOK()
	if m.MoySkladWriteProblem() != "" {
		t.Error("not cleared")
	}
}
