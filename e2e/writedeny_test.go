package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunMoySkladDeniesWrites: under `run`, when MoySklad refuses our
// writes because the token's user may not edit orders (403, code 1017),
// the CDEK shipments are still registered, once each, and their outcome is
// kept: the orders stay «Готов к отгрузке» with nothing written, /healthz
// answers 503 naming the refusal, /metrics shows the write path unhealthy,
// the log has an ERROR line and each order's history the event
// moysklad_write_denied. Once the right is restored every outcome (status,
// tracking number, waybill) lands, with one write per order and no second
// shipment, and /healthz is 200 again.
func TestRunMoySkladDeniesWrites(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	addr := freePort(t)
	base := "http://" + addr
	w.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	w.env["SHIPBRIDGE_WATCH_EVERY"] = "1s"
	w.env["SHIPBRIDGE_RETRY_BASE"] = "300ms"
	w.env["SHIPBRIDGE_RETRY_MAX"] = "1s"
	// Tracking writes the delivery status to registered orders: a write of
	// its own, not the one counted here.
	w.env["SHIPBRIDGE_TRACKING_EVERY"] = "0s"

	names := []string{"WD-1", "WD-2", "WD-3"}
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = w.addOrder(n)
	}
	w.ms.DenyOrderEdits(true)
	for _, id := range ids {
		w.set(id, sReady)
	}

	p := w.start("run")
	ctx := context.Background()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nstderr:\n%s", append(args, tail(p.stderr.String(), 6000))...)
	}

	// While denied: every shipment is created, once; the outcome is not
	// written; the operator hears of it.
	if !eventually(20*time.Second, func() bool {
		for _, n := range names {
			if w.cdek.ActiveOrdersForNumber(n) != 1 {
				return false
			}
		}
		return true
	}) {
		fail("not every order got its CDEK shipment while writes were denied: %v", cdekCounts(w, names))
	}
	var health string
	if !eventually(15*time.Second, func() bool {
		code, body, err := httpGet(ctx, base+"/healthz")
		health = fmt.Sprintf("%d %v %s", code, err, body)
		return err == nil && code == 503
	}) {
		fail("/healthz did not turn 503 while writes were denied: %s", health)
	}
	if !strings.Contains(health, "refused the write") && !strings.Contains(health, "отказал в записи") {
		t.Errorf("/healthz does not name the write refusal: %s", health)
	}
	denied := func(name string) (bool, string) {
		code, body, err := httpGet(ctx, base+"/api/orders/"+name)
		if err != nil || code != 200 {
			return false, fmt.Sprintf("%d %v %s", code, err, body)
		}
		var h struct {
			Events []struct {
				Kind string `json:"kind"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			return false, fmt.Sprintf("bad JSON: %v: %s", err, tail(body, 2000))
		}
		var kinds []string
		for _, e := range h.Events {
			if e.Kind == "moysklad_write_denied" {
				return true, ""
			}
			kinds = append(kinds, e.Kind)
		}
		return false, strings.Join(kinds, ",")
	}
	for _, n := range names {
		var why string
		if !eventually(15*time.Second, func() bool {
			var ok bool
			ok, why = denied(n)
			return ok
		}) {
			fail("the history of %s has no moysklad_write_denied: %s", n, why)
		}
	}
	// A few more cycles pass with the right still missing (the backoff is
	// at most 1s): nothing may be written nor created twice meanwhile.
	time.Sleep(2500 * time.Millisecond)
	code, metrics, err := httpGet(ctx, base+"/metrics")
	if err != nil || code != 200 {
		fail("/metrics: %d %v", code, err)
	}
	if !regexp.MustCompile(`(?m)^shipbridge_moysklad_write_healthy 0$`).MatchString(metrics) {
		t.Errorf("/metrics does not show shipbridge_moysklad_write_healthy 0:\n%s", grepLines(metrics, "shipbridge_moysklad_write"))
	}
	if m := regexp.MustCompile(`(?m)^shipbridge_moysklad_write_failures_total\{reason="access"\} (\d+)$`).FindStringSubmatch(metrics); m == nil {
		t.Errorf("/metrics has no access write failures:\n%s", grepLines(metrics, "shipbridge_moysklad_write"))
	} else if v, _ := strconv.Atoi(m[1]); v < 1 {
		t.Errorf("shipbridge_moysklad_write_failures_total{reason=\"access\"} = %d", v)
	}
	if code, body, err := httpGet(ctx, base+"/healthz"); err != nil || code != 503 {
		t.Errorf("/healthz while still denied: %d %v %s", code, err, body)
	}
	for i, n := range names {
		o := w.order(ids[i])
		if o.StateName != sReady || o.Puts != 0 || w.ms.PutsPerOrder(ids[i]) != 0 {
			t.Errorf("%s while denied: status %q, %d writes (want %q, none)", n, o.StateName, o.Puts, sReady)
		}
		if o.Attr(aTracking) != "" || o.Attributes[aWaybill].File != nil || o.Attr(aError) != "" {
			t.Errorf("%s while denied: tracking %q, waybill %v, error %q written", n, o.Attr(aTracking), o.Attributes[aWaybill].File != nil, o.Attr(aError))
		}
		if c := w.cdek.CreatesForNumber(n); c != 1 {
			t.Errorf("%s while denied: %d CDEK creates, want 1", n, c)
		}
	}
	if !hasErrorLine(p.stderr.String(), "MoySklad refused the write") {
		t.Errorf("no ERROR log line about the refused write; stderr:\n%s", tail(p.stderr.String(), 4000))
	}
	if t.Failed() {
		t.FailNow()
	}

	// The operator restores the right: every outcome lands, once.
	w.ms.DenyOrderEdits(false)
	if !eventually(20*time.Second, func() bool {
		for _, id := range ids {
			if w.order(id).StateName != sRegistered {
				return false
			}
		}
		return true
	}) {
		var states []string
		for i, id := range ids {
			o := w.order(id)
			states = append(states, fmt.Sprintf("%s %q (%q)", names[i], o.StateName, o.Attr(aError)))
		}
		fail("not every order was registered once the right was restored: %s", strings.Join(states, "; "))
	}
	cdekNumber := map[string]string{}
	for _, co := range w.cdek.Orders() {
		if !co.Deleted {
			cdekNumber[co.Number] = co.CDEKNumber
		}
	}
	for i, n := range names {
		o := w.order(ids[i])
		if tr := o.Attr(aTracking); tr == "" || tr != cdekNumber[n] {
			t.Errorf("%s: tracking number %q, CDEK's %q", n, tr, cdekNumber[n])
		}
		if wb := o.Attributes[aWaybill].File; wb == nil || len(wb.Content) == 0 {
			t.Errorf("%s: no waybill attached", n)
		}
		if e := o.Attr(aError); e != "" {
			t.Errorf("%s: error attribute %q", n, e)
		}
	}
	var health2 string
	if !eventually(15*time.Second, func() bool {
		code, body, err := httpGet(ctx, base+"/healthz")
		health2 = fmt.Sprintf("%d %v %s", code, err, body)
		return err == nil && code == 200
	}) {
		t.Errorf("/healthz did not return to 200 after the right was restored: %s", health2)
	}
	// Let a few more cycles pass: no second write, no second shipment.
	time.Sleep(2 * time.Second)
	for i, n := range names {
		if puts := w.ms.PutsPerOrder(ids[i]); puts != 1 {
			t.Errorf("%s: %d writes to MoySklad, want exactly 1", n, puts)
		}
		if c, a := w.cdek.CreatesForNumber(n), w.cdek.ActiveOrdersForNumber(n); c != 1 || a != 1 {
			t.Errorf("%s: %d CDEK creates, %d live shipments; want 1 and 1", n, c, a)
		}
	}
	if code, metrics, err := httpGet(ctx, base+"/metrics"); err != nil || code != 200 {
		t.Errorf("/metrics: %d %v", code, err)
	} else if !regexp.MustCompile(`(?m)^shipbridge_moysklad_write_healthy 1$`).MatchString(metrics) {
		t.Errorf("/metrics after the restore:\n%s", grepLines(metrics, "shipbridge_moysklad_write"))
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		fail("run exited %d after SIGTERM", code)
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Errorf("the binary panicked:\n%s", tail(p.stderr.String(), 4000))
	}
	checkJSONLogs(t, p.stderr.String())
}

func cdekCounts(w *world, names []string) map[string][2]int {
	m := map[string][2]int{}
	for _, n := range names {
		m[n] = [2]int{w.cdek.CreatesForNumber(n), w.cdek.ActiveOrdersForNumber(n)}
	}
	return m
}

// hasErrorLine reports whether a JSON log line at level error has msg
// containing sub.
func hasErrorLine(stderr, sub string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if lvl, _ := m["level"].(string); !strings.EqualFold(lvl, "error") {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, sub) {
			return true
		}
	}
	return false
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
