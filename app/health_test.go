package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// readyOrder adds an order in the ready status with everything CDEK needs.
func (h *harness) readyOrder(name string) {
	agent := h.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+79161234567"})
	product := h.ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Weight: 1})
	h.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: agent, StateName: "Готов к отгрузке",
		Positions:  []moyskladtest.PositionSeed{{ProductID: product, Quantity: 1, Price: 10000}},
		Attributes: map[string]any{"Служба доставки": "СДЭК", "Код ПВЗ": "MSK67"}})
}

// The CDEK simulator refuses a wrong secret with 401 invalid_client, as CDEK
// does. Every order waits then: once must not report success.
func TestOnceFailsWhenCDEKRefusesTheCredentials(t *testing.T) {
	h := newHarness(t).valid()
	h.readyOrder("W-1")
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = "wrong-SECRET-value"
	code, out, errOut := h.main(context.Background(), "once")
	if code != ExitFailure {
		t.Fatalf("once with refused CDEK credentials exited %d, want %d; stderr:\n%s", code, ExitFailure, errOut)
	}
	last := errOut[strings.LastIndex(strings.TrimRight(errOut, "\n"), "\n")+1:]
	for _, want := range []string{"shipbridge: orders are waiting: carrier cdek refuses our credentials", "invalid_client"} {
		if !strings.Contains(last, want) {
			t.Errorf("last stderr line lacks %q: %q", want, last)
		}
	}
	if strings.Contains(errOut, "wrong-SECRET-value") {
		t.Error("the secret reached stderr")
	}
	if out != "" {
		t.Errorf("stdout = %q", out)
	}

	// With the right secret the same order registers and once succeeds.
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = h.cdek.ClientSecret()
	h.env["SHIPBRIDGE_RETRY_BASE"] = "1ms"
	// The order waits for its backoff (at least 30 s by default); a fresh
	// store sees it as new.
	h.env["SHIPBRIDGE_STORE_PATH"] = h.dir + "/fresh.db"
	if code, _, errOut := h.main(context.Background(), "once"); code != 0 {
		t.Fatalf("once with the right credentials: exit %d\n%s", code, errOut)
	}
}

// runDaemon starts `run` with HTTP on a free address and returns its base
// URL, its stderr and a stop function returning the exit status.
func (h *harness) runDaemon(t *testing.T) (base string, errOut *syncBuffer, stop func() int) {
	t.Helper()
	addr := freeAddr(t)
	h.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	if _, ok := h.env["SHIPBRIDGE_SCHEDULE"]; !ok {
		h.env["SHIPBRIDGE_SCHEDULE"] = "@every 1h"
	}
	ctx, cancel := context.WithCancel(context.Background())
	errOut = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &bytes.Buffer{}, errOut, WithLookupEnv(h.lookup))
	}()
	var code int
	stopped := false
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { stop() })
	waitFor(t, errOut, "http endpoints listening")
	return "http://" + addr, errOut, stop
}

func TestHealthzAndMetricsWhenCDEKRefusesTheCredentials(t *testing.T) {
	h := newHarness(t).valid()
	h.readyOrder("W-2")
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = "wrong-SECRET-value"
	base, errOut, stop := h.runDaemon(t)
	waitFor(t, errOut, "cycle done")
	code, body := httpGet(t, base+"/healthz")
	if code != 503 || !strings.Contains(body, "carrier cdek refuses our credentials") || !strings.Contains(body, "invalid_client") {
		t.Errorf("healthz: %d %s", code, body)
	}
	if strings.Contains(body, "wrong-SECRET-value") {
		t.Error("healthz shows the secret")
	}
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`shipbridge_carrier_healthy{carrier="cdek"} 0`,
		`shipbridge_carrier_auth_failures_total{carrier="cdek"} 1`,
		`shipbridge_last_cycle_failed 0`, // the cycle itself ran
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("run exited %d", code)
	}
}

func TestHealthyCarrierHasItsSeries(t *testing.T) {
	h := newHarness(t).valid()
	h.readyOrder("W-3")
	base, errOut, _ := h.runDaemon(t)
	waitFor(t, errOut, "cycle done")
	_, metrics := httpGet(t, base+"/metrics")
	if !strings.Contains(metrics, `shipbridge_carrier_healthy{carrier="cdek"} 1`) {
		t.Errorf("metrics lack a healthy cdek series")
	}
	if strings.Contains(metrics, `shipbridge_carrier_auth_failures_total{`) {
		t.Errorf("auth failures counted with good credentials")
	}
}

// A SIGTERM while orders wait for CDEK is a normal stop: nothing is logged
// at error level.
func TestStopMidCycleIsNotAnError(t *testing.T) {
	h := newHarness(t)
	ms := moyskladtest.NewServer(moyskladtest.Options{Token: "ms-token-SECRET"})
	t.Cleanup(ms.Close)
	moyskladtest.Seed(ms)
	h.withSimulators(ms)
	slow := cdektest.NewServer(cdektest.Options{SettleDelay: func() time.Duration { return time.Hour }})
	t.Cleanup(slow.Close)
	h.cdek = slow
	h.env["SHIPBRIDGE_CARRIERS_CDEK_BASE_URL"] = slow.URL()
	h.readyOrder("W-4")
	_, errOut, stop := h.runDaemon(t)
	waitFor(t, errOut, "cdek order submitted")
	deadline := time.Now().Add(5 * time.Second)
	for len(slow.Orders()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if code := stop(); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, errOut.String())
	}
	logs := errOut.String()
	if !strings.Contains(logs, "shipbridge stopped") {
		t.Fatalf("no clean stop:\n%s", logs)
	}
	if strings.Contains(logs, "ERROR") {
		t.Errorf("a normal stop logged errors:\n%s", logs)
	}
}
