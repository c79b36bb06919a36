package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/metrics"
	"github.com/shipbridge/shipbridge/store"
)

func newTestServer(t *testing.T, health Health) (*httptest.Server, *store.Store, *metrics.Metrics) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := metrics.New()
	h, err := New(st, health, m.Registry, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st, m
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthz(t *testing.T) {
	var healthErr error
	srv, _, _ := newTestServer(t, func() error { return healthErr })
	if code, body, _ := get(t, srv.URL+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthy: %d %s", code, body)
	}
	healthErr = errors.New("last cycle failed: MoySklad unreachable")
	if code, body, _ := get(t, srv.URL+"/healthz"); code != 503 || !strings.Contains(body, "MoySklad unreachable") {
		t.Errorf("unhealthy: %d %s", code, body)
	}
}

func TestMetricsMove(t *testing.T) {
	srv, _, m := newTestServer(t, func() error { return nil })
	_, before, _ := get(t, srv.URL+"/metrics")
	if !strings.Contains(before, "go_goroutines") {
		t.Fatalf("no Go metrics:\n%.500s", before)
	}
	m.CycleDone(2*time.Second, nil)
	m.OrderOutcome("cdek", "registered")
	m.API("moysklad").ObserveRequest("GET", "/entity/customerorder", 200, 80*time.Millisecond, nil)
	m.API("cdek").ObserveRequest("POST", "/v2/orders", 0, time.Second, errors.New("timeout"))
	m.API("moysklad").ObserveRateLimitWait(300 * time.Millisecond)
	_, after, _ := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`shipbridge_cycles_total{result="ok"} 1`,
		`shipbridge_orders_total{carrier="cdek",outcome="registered"} 1`,
		`shipbridge_api_requests_total{code="200",endpoint="/entity/customerorder",method="GET",system="moysklad"} 1`,
		`shipbridge_api_requests_total{code="0",endpoint="/v2/orders",method="POST",system="cdek"} 1`,
		`shipbridge_rate_limit_waits_total 1`,
		`shipbridge_cycle_duration_seconds_count 1`,
		`shipbridge_last_cycle_failed 0`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(after, `shipbridge_last_successful_cycle_timestamp_seconds 0`) {
		t.Error("last success time not set")
	}
}

func TestPagesRenderAndEscape(t *testing.T) {
	srv, st, _ := newTestServer(t, func() error { return nil })
	evil := `<script>alert("x")</script>`
	if err := st.Save(store.OrderRecord{ID: "id-1", Name: "00042" + evil, Carrier: "cdek", Phase: "registered", TrackingNumber: "1234567890", Error: "ошибка " + evil, LastState: "Зарегистрирован перевозчиком"},
		store.Event{Kind: "seen", Message: "Статус " + evil}); err != nil {
		t.Fatal(err)
	}
	code, body, hdr := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "1234567890") || !strings.Contains(body, "Зарегистрирован перевозчиком") || !strings.Contains(body, `href="/orders/id-1"`) {
		t.Fatalf("index: %d\n%s", code, body)
	}
	if strings.Contains(body, evil) || !strings.Contains(body, "&lt;script&gt;") {
		t.Error("index does not escape order data")
	}
	if hdr.Get("Content-Security-Policy") == "" || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("missing security headers")
	}
	code, body, _ = get(t, srv.URL+"/orders/id-1")
	if code != 200 || !strings.Contains(body, "История") || !strings.Contains(body, "seen") {
		t.Fatalf("order page: %d\n%s", code, body)
	}
	if strings.Contains(body, evil) {
		t.Error("order page does not escape")
	}
	if code, _, _ := get(t, srv.URL+"/orders/nope"); code != 404 {
		t.Errorf("unknown order: %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/static/../../etc/passwd"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestBackupEndpoint(t *testing.T) {
	srv, st, _ := newTestServer(t, func() error { return nil })
	if err := st.Save(store.OrderRecord{ID: "id-9", Name: "00009"}); err != nil {
		t.Fatal(err)
	}
	code, body, hdr := get(t, srv.URL+"/backup")
	if code != 200 || len(body) < 4096 || !strings.Contains(hdr.Get("Content-Disposition"), "shipbridge-") {
		t.Fatalf("backup: %d, %d bytes, %v", code, len(body), hdr)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok, _ := c.OrderByName("00009"); !ok {
		t.Error("backup lacks the order")
	}
}

func TestOrderJSON(t *testing.T) {
	srv, st, _ := newTestServer(t, func() error { return nil })
	if err := st.Save(store.OrderRecord{ID: "id-7", Name: "00007", TrackingNumber: "123"}, store.Event{Kind: "seen", Message: "m"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id-7", "00007"} {
		code, body, hdr := get(t, srv.URL+"/api/orders/"+key)
		var h OrderHistory
		if code != 200 || hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &h) != nil ||
			h.Order.TrackingNumber != "123" || len(h.Events) != 1 || h.Events[0].Kind != "seen" {
			t.Errorf("%s: %d %s", key, code, body)
		}
	}
	if code, _, _ := get(t, srv.URL+"/api/orders/nope"); code != 404 {
		t.Errorf("unknown: %d", code)
	}
}
