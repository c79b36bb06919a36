package app

import (
	"context"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// validBare is valid() with a MoySklad account that has only the ordinary "Новый" status: no
// status or attribute of the workflow. seed, when not nil, adds some of them.
func (h *harness) validBare(seed func(ms *moyskladtest.Server)) *harness {
	ms := moyskladtest.NewServer(moyskladtest.Options{Token: "ms-token-SECRET"})
	h.t.Cleanup(ms.Close)
	ms.AddState("Новый", 15106326)
	if seed != nil {
		seed(ms)
	}
	return h.withSimulators(ms)
}

// seedExcept adds the default statuses and attributes except those named in skip; an attribute
// in retype gets that type instead of its own.
func seedExcept(skip map[string]bool, retype map[string]string) func(*moyskladtest.Server) {
	return func(ms *moyskladtest.Server) {
		for _, s := range moyskladtest.DefaultStates {
			if !skip[s.Name] {
				ms.AddState(s.Name, 0x43A047)
			}
		}
		for _, a := range moyskladtest.DefaultAttributes {
			if skip[a.Name] {
				continue
			}
			typ := a.Type
			if t, ok := retype[a.Name]; ok {
				typ = t
			}
			ms.AddAttribute(a.Name, typ)
		}
	}
}

// lineWith returns the first line of out that contains every substring.
func lineWith(out string, subs ...string) (string, bool) {
	for _, line := range strings.Split(out, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			return line, true
		}
	}
	return "", false
}

func TestCheckAllGood(t *testing.T) {
	h := newHarness(t).valid()
	code, out, errOut := h.main(context.Background(), "check")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out, "✗") || strings.Contains(out, "!") {
		t.Errorf("problems or warnings reported:\n%s", out)
	}
	wants := []string{"✓ configuration is valid (" + h.config + ")", "✓ MoySklad: " + h.ms.URL() + " answers and accepts the token",
		"✓ CDEK: " + h.cdek.URL() + " issued a token and answered an order lookup"}
	for _, s := range moyskladtest.DefaultStates {
		wants = append(wants, "✓ MoySklad status «"+s.Name+"» exists")
	}
	for _, a := range moyskladtest.DefaultAttributes {
		wants = append(wants, "✓ MoySklad attribute «"+a.Name+"» exists (type "+a.Type+")")
	}
	for _, w := range wants {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	// One line per check: 1 configuration + 1 MoySklad + 6 statuses + 6 attributes + 1 CDEK.
	if n := strings.Count(out, "\n"); n != 15 {
		t.Errorf("%d lines, want 15:\n%s", n, out)
	}
	// The CDEK check really reached CDEK with a token.
	if h.cdek.TokensIssued() == 0 || h.cdek.Calls()["GET /v2/orders?im_number"] != 1 {
		t.Errorf("CDEK was not reached: tokens %d, calls %v", h.cdek.TokensIssued(), h.cdek.Calls())
	}
	if strings.Contains(out+errOut, "ms-token-SECRET") || strings.Contains(out+errOut, h.cdek.ClientSecret()) {
		t.Error("a secret was printed")
	}
}

func TestCheckMissingStatusFailsAndNamesIt(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(map[string]bool{"Удалить заказ на доставку": true}, nil))
	code, out, errOut := h.main(context.Background(), "check")
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d\nstdout:\n%s", code, ExitFailure, out)
	}
	line, ok := lineWith(out, "✗", "«Удалить заказ на доставку»")
	if !ok {
		line, ok = lineWith(out, "✗", `"Удалить заказ на доставку"`)
	}
	if !ok {
		t.Fatalf("no ✗ line names the missing status:\n%s", out)
	}
	for _, want := range []string{"moysklad.states.delete", "shipbridge setup", "SHIPBRIDGE_MOYSKLAD_STATES_DELETE"} {
		if !strings.Contains(line, want) {
			t.Errorf("the line lacks %q: %s", want, line)
		}
	}
	if n := strings.Count(out, "✗"); n != 1 {
		t.Errorf("%d problems reported, want 1:\n%s", n, out)
	}
	if _, ok := lineWith(out, "✓ MoySklad status «Готов к отгрузке» exists"); !ok {
		t.Errorf("the statuses that exist are not reported:\n%s", out)
	}
	if !strings.Contains(errOut, "check found 1 problem(s)") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestCheckWrongAttributeTypeAndOptionalTariff(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(map[string]bool{"Тариф доставки": true}, map[string]string{"Накладная": "string"}))
	code, out, _ := h.main(context.Background(), "check")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	line, ok := lineWith(out, "✗", "Накладная")
	if !ok || !strings.Contains(line, "has the wrong type: string, shipbridge needs file") || !strings.Contains(line, "SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_WAYBILL") ||
		!strings.Contains(line, "`shipbridge setup` cannot change the type") || strings.Contains(line, "lacks") {
		t.Errorf("wrong type not reported with its fix:\n%s", out)
	}
	// The tariff attribute is optional for the workflow: a warning, not a problem.
	if line, ok := lineWith(out, "«Тариф доставки»"); !ok || !strings.HasPrefix(line, "! ") || !strings.Contains(line, "shipbridge setup") {
		t.Errorf("missing optional tariff: %q\n%s", line, out)
	}
	if n := strings.Count(out, "✗"); n != 1 {
		t.Errorf("%d problems, want 1:\n%s", n, out)
	}
}

func TestCheckOptionalTariffMissingIsNotAFailure(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(map[string]bool{"Тариф доставки": true}, nil))
	if code, out, errOut := h.main(context.Background(), "check"); code != 0 {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCheckRefusedCredentials(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_MOYSKLAD_TOKEN"] = "wrong-token"
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = "wrong-secret"
	code, out, _ := h.main(context.Background(), "check")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if line, ok := lineWith(out, "✗ MoySklad at"); !ok || !strings.Contains(line, "set SHIPBRIDGE_MOYSKLAD_TOKEN") {
		t.Errorf("MoySklad refusal not reported with its fix:\n%s", out)
	}
	if line, ok := lineWith(out, "✗ CDEK"); !ok || !strings.Contains(line, "refused the credentials") ||
		!strings.Contains(line, "SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET") {
		t.Errorf("CDEK refusal not reported with its fix:\n%s", out)
	}
	if strings.Contains(out, "wrong-secret") || strings.Contains(out, "wrong-token") {
		t.Errorf("a secret was printed:\n%s", out)
	}
}

func TestCheckInvalidConfigStillChecksTheRest(t *testing.T) {
	h := newHarness(t).valid()
	delete(h.env, "SHIPBRIDGE_MOYSKLAD_TOKEN")
	code, out, _ := h.main(context.Background(), "check")
	if code != ExitUsage {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, ok := lineWith(out, "✗ configuration: moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN"); !ok {
		t.Errorf("the missing token is not named:\n%s", out)
	}
	if _, ok := lineWith(out, "· MoySklad: not checked"); !ok {
		t.Errorf("MoySklad not marked as skipped:\n%s", out)
	}
	if _, ok := lineWith(out, "✓ CDEK:"); !ok {
		t.Errorf("CDEK was not checked:\n%s", out)
	}
}

func TestCheckUnreachableCDEK(t *testing.T) {
	h := newHarness(t).valid()
	h.cdek.Close()
	code, out, _ := h.main(context.Background(), "check", "--timeout", "5s")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if line, ok := lineWith(out, "✗ CDEK"); !ok || !strings.Contains(line, "SHIPBRIDGE_CARRIERS_CDEK_BASE_URL") {
		t.Errorf("unreachable CDEK not reported with its fix:\n%s", out)
	}
}
