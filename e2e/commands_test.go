package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// TestOnceRegistersReadyOrder: `shipbridge once` takes a ready order through
// the whole workflow and exits 0.
func TestOnceRegistersReadyOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	id := w.addOrder("E2E-1")
	other := w.addOrder("E2E-2")
	w.set(id, sReady)

	p, code := w.run(60*time.Second, "once")
	if code != 0 {
		t.Fatalf("once exited %d; stderr:\n%s", code, tail(p.stderr.String(), 4000))
	}
	o := w.order(id)
	if o.StateName != sRegistered {
		t.Fatalf("status %q, error %q; stderr:\n%s", o.StateName, o.Attr(aError), tail(p.stderr.String(), 4000))
	}
	tracking := o.Attr(aTracking)
	wb := o.Attributes[aWaybill].File
	if tracking == "" || wb == nil || !strings.HasPrefix(string(wb.Content), "%PDF") || o.Attr(aError) != "" {
		t.Errorf("tracking %q, waybill %v, error %q", tracking, wb != nil, o.Attr(aError))
	}
	var live int
	for _, co := range w.cdek.Orders() {
		if co.Number == "E2E-1" && co.CDEKNumber == tracking && !co.Deleted {
			live++
		}
	}
	if live != 1 || w.cdek.CreatesForNumber("E2E-1") != 1 {
		t.Errorf("CDEK: %d live orders with the tracking number, %d creates", live, w.cdek.CreatesForNumber("E2E-1"))
	}
	if n := w.order(other); n.StateName != sNew || n.Puts != 0 {
		t.Errorf("an order in no trigger status was touched: %s, %d PUTs", n.StateName, n.Puts)
	}
	if p.stdout.String() != "" {
		t.Errorf("once wrote to stdout (only a command's own output belongs there): %q", p.stdout.String())
	}
	checkJSONLogs(t, p.stderr.String())

	// A second run is a no-op for the settled order: no new PUT, no new create.
	puts := o.Puts
	if _, code := w.run(60*time.Second, "once"); code != 0 {
		t.Fatalf("second once exited %d", code)
	}
	if o := w.order(id); o.Puts != puts || w.cdek.CreatesForNumber("E2E-1") != 1 {
		t.Errorf("second once: PUTs %d→%d, creates %d", puts, o.Puts, w.cdek.CreatesForNumber("E2E-1"))
	}
}

// checkJSONLogs asserts that every stderr line is a JSON object (log.format json).
func checkJSONLogs(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
			return
		}
	}
}

// TestOnceMoySkladRefusesToken: `shipbridge once` cannot run when MoySklad
// refuses the token, and says so with a non-zero exit status.
func TestOnceMoySkladRefusesToken(t *testing.T) {
	w := newWorld(t, worldOptions{})
	id := w.addOrder("E2E-TOK")
	w.set(id, sReady)
	w.env["SHIPBRIDGE_MOYSKLAD_TOKEN"] = "wrong-token-" + randomHex(8)
	p, code := w.run(60*time.Second, "once")
	if code == 0 {
		t.Fatalf("once exited 0 with a refused token; stderr:\n%s", tail(p.stderr.String(), 3000))
	}
	if o := w.order(id); o.StateName != sReady || o.Puts != 0 {
		t.Errorf("order changed: %s, %d PUTs", o.StateName, o.Puts)
	}
	if strings.Contains(p.stderr.String(), w.env["SHIPBRIDGE_MOYSKLAD_TOKEN"]) {
		t.Error("the refused token appears in stderr")
	}
}

// TestOnceMoySkladUnreachable: nothing listens at the MoySklad URL.
func TestOnceMoySkladUnreachable(t *testing.T) {
	t.Parallel() // the client retries the refused connection for ~15 s
	w := newWorld(t, worldOptions{})
	w.env["SHIPBRIDGE_MOYSKLAD_BASE_URL"] = "http://" + freePort(t) + "/api/remap/1.2"
	p, code := w.run(90*time.Second, "once")
	if code == 0 {
		t.Fatalf("once exited 0 with MoySklad unreachable; stderr:\n%s", tail(p.stderr.String(), 3000))
	}
}

// TestRunDaemon: `shipbridge run` processes orders on its schedule, serves
// /healthz and /metrics, stops on SIGTERM with exit 0 and leaves a store
// that opens; `history ORDER --json` then prints the timeline as JSON.
func TestRunDaemon(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	addr := freePort(t)
	w.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	first := w.addOrder("E2E-RUN-1")
	w.set(first, sReady)

	p := w.start("run")
	base := "http://" + addr
	ctx := context.Background()
	if !eventually(20*time.Second, func() bool {
		code, _, err := httpGet(ctx, base+"/healthz")
		return err == nil && code == 200
	}) {
		t.Fatalf("/healthz never answered 200; stderr:\n%s", tail(p.stderr.String(), 4000))
	}
	if !eventually(20*time.Second, func() bool { return w.order(first).StateName == sRegistered }) {
		t.Fatalf("first order: %s %q", w.order(first).StateName, w.order(first).Attr(aError))
	}
	// An order set ready while the daemon runs is picked up by a scheduled cycle.
	second := w.addOrder("E2E-RUN-2")
	w.set(second, sReady)
	if !eventually(20*time.Second, func() bool { return w.order(second).StateName == sRegistered }) {
		t.Fatalf("second order: %s %q", w.order(second).StateName, w.order(second).Attr(aError))
	}
	// …and a delete as well.
	w.set(first, sDelete)
	if !eventually(20*time.Second, func() bool { return w.order(first).StateName == sDeleted }) {
		t.Fatalf("delete: %s %q", w.order(first).StateName, w.order(first).Attr(aError))
	}
	if n := w.cdek.ActiveOrdersForNumber("E2E-RUN-1"); n != 0 {
		t.Errorf("deleted order still live at CDEK: %d", n)
	}

	code, metrics, err := httpGet(ctx, base+"/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, want := range []string{"shipbridge_cycles_total", `shipbridge_orders_total{carrier="cdek",outcome="registered"}`, "shipbridge_api_requests_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, page, err := httpGet(ctx, base+"/"); err != nil || code != 200 || !strings.Contains(page, "E2E-RUN-2") {
		t.Errorf("orders page: %d %v, mentions E2E-RUN-2: %v", code, err, strings.Contains(page, "E2E-RUN-2"))
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("run exited %d after SIGTERM; stderr:\n%s", code, tail(p.stderr.String(), 4000))
	}
	checkJSONLogs(t, p.stderr.String())
	st := w.openStore()
	evs, err := st.History(second)
	st.Close()
	if err != nil || len(evs) == 0 {
		t.Fatalf("history of the second order: %d events, %v", len(evs), err)
	}

	// history --json, if the command exists in this build.
	hp, code := w.run(30*time.Second, "history", "E2E-RUN-2", "--json")
	if code != 0 && strings.Contains(hp.stderr.String(), "unknown command") {
		t.Skip("`shipbridge history` is not in this build yet")
	}
	if code != 0 {
		t.Fatalf("history exited %d; stderr:\n%s", code, tail(hp.stderr.String(), 3000))
	}
	out := hp.stdout.String()
	if !json.Valid([]byte(out)) {
		t.Fatalf("history --json printed invalid JSON:\n%s", tail(out, 3000))
	}
	if !strings.Contains(out, "E2E-RUN-2") && !strings.Contains(out, second) {
		t.Errorf("history --json does not name the order: %s", tail(out, 2000))
	}
	if _, code := w.run(30*time.Second, "history", "NO-SUCH-ORDER", "--json"); code == 0 {
		t.Error("history of an unknown order exited 0")
	}
}

// withPochta enables Почта России against a simulator in the test process.
func (w *world) withPochta() *pochtatest.Server {
	w.t.Helper()
	sim := pochtatest.NewServer(pochtatest.Options{Token: "pochtatoken-" + randomHex(8), Password: "pochtapw-" + randomHex(8)})
	w.t.Cleanup(sim.Close)
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_ENABLED"] = "true"
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_BASE_URL"] = sim.URL()
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_TOKEN"] = sim.Token()
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_LOGIN"] = sim.Login()
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_PASSWORD"] = sim.Password()
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = sim.Postcode()
	return sim
}

// TestDemoCommand: `shipbridge demo` runs on its own simulators, with no credentials and no
// configuration, prints every order's outcome and verdict, and exits 0 within seconds.
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	start := time.Now()
	p, code := w.run(60*time.Second, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d; stdout:\n%s\nstderr:\n%s", code, tail(p.stdout.String(), 4000), tail(p.stderr.String(), 4000))
	}
	t.Logf("demo took %s", time.Since(start))
	out := p.stdout.String()
	for _, want := range []string{"Outcomes, as the orders now look in MoySklad:", "Expected outcomes", "✓ 00101  «Доставлен», seen by tracking",
		"✓ 00102  «Возврат», seen by tracking", "Order 00104 (MoySklad id", "Почта России", "Деловые Линии"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, tail(out, 4000))
		}
	}
	// 00104 (Почта России) is registered, batched and delivered like the CDEK orders.
	if strings.Contains(out, "\n✗ ") {
		t.Errorf("a missed expectation:\n%s", tail(out, 4000))
	}
	if !regexp.MustCompile(`\n✓ 00104  `).MatchString(out) {
		t.Errorf("no verdict for 00104:\n%s", tail(out, 4000))
	}
	checkJSONLogs(t, p.stderr.String())
}

// TestCheckPochta: `shipbridge check` with Почта России enabled reports the quota and the
// shipping point, and fails, with the fix, on a postoffice_code that is not the account's.
func TestCheckPochta(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	sim := w.withPochta()
	sim.SetQuota(5000, 100)
	w.env["SHIPBRIDGE_TRACKING_EVERY"] = "0" // the world's MoySklad lacks tracking's statuses
	p, code := w.run(60*time.Second, "check")
	if code != 0 {
		t.Fatalf("check exited %d; stdout:\n%s\nstderr:\n%s", code, p.stdout.String(), tail(p.stderr.String(), 3000))
	}
	for _, want := range []string{"✓ Почта России: " + sim.URL() + " accepts the token and the login",
		"✓ Почта России: 100 of the 5000 requests of today's quota are used (2 %)",
		"✓ Почта России: shipping point " + sim.Postcode() + " (carriers.pochta.postoffice_code) is enabled and accepts mail type POSTAL_PARCEL"} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, p.stdout.String())
		}
	}
	w.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = "190000"
	p, code = w.run(60*time.Second, "check")
	if code != 1 || !strings.Contains(p.stdout.String(), "✗ Почта России: postoffice_code 190000 is not one of the account's shipping points") {
		t.Errorf("check with a foreign office: exit %d\n%s", code, p.stdout.String())
	}
	if s := p.stdout.String() + p.stderr.String(); strings.Contains(s, sim.Token()) || strings.Contains(s, sim.Password()) {
		t.Error("a Pochta secret was printed")
	}
}

// TestRunExportsPochtaQuota: under `run`, once Почта России was called, /metrics carries its
// daily quota.
func TestRunExportsPochtaQuota(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	sim := w.withPochta()
	sim.SetQuota(20000, 321)
	addr := freePort(t)
	w.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	id := w.ms.AddOrder(moyskladtest.OrderSeed{Name: "E2E-PQ-1", AgentID: w.agent, StateName: sNew,
		Positions:       []moyskladtest.PositionSeed{{ProductID: w.product, Quantity: 1, Price: 150000}},
		ShipmentAddress: "630099, Новосибирск, ул. Ленина, д. 12, кв. 7",
		Attributes:      map[string]any{aCarrier: "Почта России"}})
	w.set(id, sReady)

	p := w.start("run")
	if !eventually(30*time.Second, func() bool { return sim.LiveOrdersForNumber("E2E-PQ-1") == 1 }) {
		t.Fatalf("the Pochta order was never created; stderr:\n%s", tail(p.stderr.String(), 4000))
	}
	var metrics string
	if !eventually(20*time.Second, func() bool {
		code, body, err := httpGet(context.Background(), "http://"+addr+"/metrics")
		metrics = body
		return err == nil && code == 200 && strings.Contains(body, `shipbridge_carrier_quota_allowed{carrier="pochta"} 20000`)
	}) {
		t.Fatalf("/metrics lacks the Pochta quota:\n%s", tail(metrics, 4000))
	}
	if !regexp.MustCompile(`shipbridge_carrier_quota_used\{carrier="pochta"\} 3\d\d\n`).MatchString(metrics) {
		t.Errorf("quota used not exported near 321:\n%s", tail(metrics, 4000))
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("run exited %d after SIGTERM; stderr:\n%s", code, tail(p.stderr.String(), 4000))
	}
}
