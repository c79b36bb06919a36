package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesHealthMetricsAndPages(t *testing.T) {
	h := newHarness(t).valid()
	addr := freeAddr(t)
	h.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	h.env["SHIPBRIDGE_SCHEDULE"] = "@every 1h"
	agent := h.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+79161234567"})
	product := h.ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Weight: 1})
	h.ms.AddOrder(moyskladtest.OrderSeed{Name: "H-1", AgentID: agent, StateName: "Готов к отгрузке",
		Positions:  []moyskladtest.PositionSeed{{ProductID: product, Quantity: 1, Price: 10000}},
		Attributes: map[string]any{"Служба доставки": "СДЭК", "Код ПВЗ": "MSK67"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &bytes.Buffer{}, &errOut, WithLookupEnv(h.lookup))
	}()
	waitFor(t, &errOut, "cycle done")
	base := "http://" + addr

	// history works while the daemon holds the store: it asks the daemon.
	code, out, stderr := h.main(context.Background(), "history", "H-1", "--json")
	var hist struct {
		Order struct {
			Name           string `json:"name"`
			TrackingNumber string `json:"tracking_number"`
		}
		Events []struct{ Kind string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || hist.Order.Name != "H-1" || hist.Order.TrackingNumber == "" || len(hist.Events) == 0 {
		t.Errorf("history while running: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	if code, _, stderr := h.main(context.Background(), "history", "NOPE"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("history of an unknown order while running: exit %d, %s", code, stderr)
	}

	// The last cycle succeeded; give the scheduler a moment to record it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := httpGet(t, base+"/healthz")
		if code == 200 && strings.Contains(body, `"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, metrics := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`shipbridge_cycles_total{result="ok"} 1`,
		`shipbridge_api_requests_total{code="200",endpoint="/entity/customerorder",method="GET",system="moysklad"}`,
		`shipbridge_api_requests_total{code="200",endpoint="/entity/customerorder/metadata",method="GET",system="moysklad"} 1`,
		`shipbridge_cycle_duration_seconds_count 1`,
		`shipbridge_last_cycle_failed 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, "ms-token-SECRET") || strings.Contains(metrics, h.cdek.ClientSecret()) {
		t.Error("a secret appears in /metrics")
	}
	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, "Заказы на доставку") || !strings.Contains(body, "СДЭК") {
		t.Errorf("index: %d", code)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run exited %d:\n%s", code, errOut.String())
	}
	// The listener is closed after a stop.
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("HTTP still served after run stopped")
	}
}

func TestRunUnhealthyWhenMoySkladRefuses(t *testing.T) {
	h := newHarness(t).valid()
	addr := freeAddr(t)
	h.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	h.env["SHIPBRIDGE_SCHEDULE"] = "@every 1h"
	h.env["SHIPBRIDGE_MOYSKLAD_TOKEN"] = "wrong-token"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &bytes.Buffer{}, &errOut, WithLookupEnv(h.lookup))
	}()
	waitFor(t, &errOut, "http endpoints listening")
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := httpGet(t, "http://"+addr+"/healthz")
		if code == 503 && strings.Contains(body, "last cycle failed") {
			if strings.Contains(body, "wrong-token") {
				t.Error("healthz shows the token")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz never turned unhealthy: %d %s\n%s", code, body, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, metrics := httpGet(t, "http://"+addr+"/metrics")
	if !strings.Contains(metrics, `shipbridge_cycles_total{result="error"} 1`) || !strings.Contains(metrics, `code="401"`) {
		t.Errorf("metrics do not show the failed cycle and the 401")
	}
	cancel()
	<-done
}
