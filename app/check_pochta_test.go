package app

import (
	"context"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
)

// Secrets unique to these tests, so that a leak can be grepped for.
const (
	pochtaTestToken    = "pochta-token-SECRET-7f3a"
	pochtaTestPassword = "pochta-password-SECRET-91c2"
)

// withPochta enables Почта России against a fresh simulator, with postoffice_code set to the
// simulator's first shipping point.
func (h *harness) withPochta(opts pochtatest.Options) *pochtatest.Server {
	h.t.Helper()
	opts.Token, opts.Password = pochtaTestToken, pochtaTestPassword
	sim := pochtatest.NewServer(opts)
	h.t.Cleanup(sim.Close)
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_ENABLED"] = "true"
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_BASE_URL"] = sim.URL()
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_TOKEN"] = sim.Token()
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_LOGIN"] = sim.Login()
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_PASSWORD"] = sim.Password()
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = sim.Postcode()
	return sim
}

// onlyCheckCalls asserts that check made only the two side-effect-free calls reference §2.11
// allows, once each.
func onlyCheckCalls(t *testing.T, sim *pochtatest.Server) {
	t.Helper()
	calls := sim.Calls()
	for k, n := range calls {
		switch k {
		case "GET /1.0/settings/limit", "GET /1.0/user-shipping-points":
			if n != 1 {
				t.Errorf("%s called %d times, want 1", k, n)
			}
		default:
			t.Errorf("check called %s (%d times): only the quota and the shipping points may be read", k, n)
		}
	}
	if calls["GET /1.0/settings/limit"] != 1 {
		t.Errorf("the quota was not read: %v", calls)
	}
}

func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{pochtaTestToken, pochtaTestPassword, "ms-token-SECRET"} {
			if strings.Contains(s, secret) {
				t.Errorf("a secret was printed: %s", secret)
			}
		}
	}
}

func TestCheckPochtaGood(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	sim.SetQuota(10000, 1234)
	code, out, errOut := h.main(context.Background(), "check")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, w := range []string{
		"✓ Почта России: " + sim.URL() + " accepts the token and the login\n",
		"✓ Почта России: 1234 of the 10000 requests of today's quota are used (12 %)\n",
		"✓ Почта России: shipping point 102961 (carriers.pochta.postoffice_code) is enabled and accepts mail type POSTAL_PARCEL\n",
		"✓ CDEK: " + h.cdek.URL() + " issued a token and answered an order lookup\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "✗") || strings.Contains(out, "!") {
		t.Errorf("problems or warnings reported:\n%s", out)
	}
	onlyCheckCalls(t, sim)
	noSecrets(t, out, errOut)
}

func TestCheckPochtaAlone(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	h.env["SHIPBRIDGE_CARRIERS_CDEK_ENABLED"] = "false"
	code, out, errOut := h.main(context.Background(), "check")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, w := range []string{"· CDEK: disabled", "✓ Почта России: " + sim.URL() + " accepts the token and the login",
		"✓ Почта России: 0 of the 10000 requests of today's quota are used (0 %)", "✓ Почта России: shipping point 102961"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if h.cdek.TokensIssued() != 0 {
		t.Error("the disabled CDEK was called")
	}
}

// checkFails runs check and returns the one ✗ line about Почта России.
func checkFails(t *testing.T, h *harness) string {
	t.Helper()
	code, out, errOut := h.main(context.Background(), "check")
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	if n := strings.Count(out, "✗"); n != 1 {
		t.Errorf("%d problems reported, want 1:\n%s", n, out)
	}
	line, ok := lineWith(out, "✗ Почта России")
	if !ok {
		t.Fatalf("no ✗ line for Почта России:\n%s", out)
	}
	if !strings.Contains(line, " — fix: ") {
		t.Errorf("the line gives no fix: %s", line)
	}
	noSecrets(t, out, errOut)
	return line
}

func TestCheckPochtaForeignPostofficeCode(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = "101000"
	line := checkFails(t, h)
	for _, w := range []string{"postoffice_code 101000 is not one of the account's shipping points: 102961, 117042, 142300",
		"set SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE to the index of one of the account's shipping points"} {
		if !strings.Contains(line, w) {
			t.Errorf("the line lacks %q: %s", w, line)
		}
	}
	onlyCheckCalls(t, sim)
}

func TestCheckPochtaMailTypeNotEnabled(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = "117042" // accepts POSTAL_PARCEL only
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_MAIL_TYPE"] = "ONLINE_PARCEL"
	line := checkFails(t, h)
	for _, w := range []string{"shipping point 117042 does not accept mail type ONLINE_PARCEL; it accepts: POSTAL_PARCEL",
		"set SHIPBRIDGE_CARRIERS_POCHTA_MAIL_TYPE to a mail type the shipping point accepts"} {
		if !strings.Contains(line, w) {
			t.Errorf("the line lacks %q: %s", w, line)
		}
	}
	onlyCheckCalls(t, sim)
}

func TestCheckPochtaShippingPointDisabled(t *testing.T) {
	h := newHarness(t).valid()
	points := pochtatest.DefaultShippingPoints()
	points = append(points, pochtatest.ShippingPoint{Postcode: "630000", Enabled: false, Address: "г Новосибирск, ОПС 630000", MailTypes: []string{"POSTAL_PARCEL"}})
	h.withPochta(pochtatest.Options{ShippingPoints: points})
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = "630000"
	line := checkFails(t, h)
	if !strings.Contains(line, "shipping point 630000 (postoffice_code) is disabled") || !strings.Contains(line, "enable the shipping point") {
		t.Errorf("line: %s", line)
	}
}

func TestCheckPochtaQuotaNearlySpentWarns(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	sim.SetQuota(1000, 850)
	code, out, errOut := h.main(context.Background(), "check")
	if code != 0 {
		t.Fatalf("a nearly spent quota is a warning, not a problem: exit %d\n%s\n%s", code, out, errOut)
	}
	line, ok := lineWith(out, "! Почта России: 850 of the 1000 requests of today's quota are used (85 %)")
	if !ok || !strings.Contains(line, "tracking pauses at 80 %") {
		t.Errorf("no warning line:\n%s", out)
	}
	if _, ok := lineWith(out, "✓ Почта России: shipping point 102961"); !ok {
		t.Errorf("the shipping point was not reported:\n%s", out)
	}
}

func TestCheckPochtaQuotaSpent(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	sim.SetQuota(100, 100)
	line := checkFails(t, h)
	for _, w := range []string{"today's request quota is spent (100 of 100 requests used)", "LIMIT_EXCEEDED", "wait for the quota to renew"} {
		if !strings.Contains(line, w) {
			t.Errorf("the line lacks %q: %s", w, line)
		}
	}
	onlyCheckCalls(t, sim)
}

func TestCheckPochtaRefusedCredentials(t *testing.T) {
	h := newHarness(t).valid()
	h.withPochta(pochtatest.Options{})
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_PASSWORD"] = "wrong-" + pochtaTestPassword
	line := checkFails(t, h)
	for _, w := range []string{"refused the credentials", "HTTP 401", "SHIPBRIDGE_CARRIERS_POCHTA_TOKEN", "SHIPBRIDGE_CARRIERS_POCHTA_LOGIN", "SHIPBRIDGE_CARRIERS_POCHTA_PASSWORD"} {
		if !strings.Contains(line, w) {
			t.Errorf("the line lacks %q: %s", w, line)
		}
	}
}

func TestCheckPochtaInvalidConfigurationSkipsIt(t *testing.T) {
	h := newHarness(t).valid()
	sim := h.withPochta(pochtatest.Options{})
	h.env["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = "1029"
	code, out, _ := h.main(context.Background(), "check")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitUsage, out)
	}
	if _, ok := lineWith(out, "✗ configuration: carriers.pochta.postoffice_code"); !ok {
		t.Errorf("the key is not named:\n%s", out)
	}
	if _, ok := lineWith(out, "· Почта России: not checked until the configuration above is fixed"); !ok {
		t.Errorf("no skip line:\n%s", out)
	}
	// CDEK, whose keys are fine, is still checked.
	if _, ok := lineWith(out, "✓ CDEK: "); !ok {
		t.Errorf("CDEK was not checked:\n%s", out)
	}
	if len(sim.Calls()) != 0 {
		t.Errorf("Почта России was called: %v", sim.Calls())
	}
}
