package app

import (
	"context"
	"strings"
	"testing"
)

// With carriers.cdek.cash_on_delivery: attribute the workflow needs the
// boolean attribute «Наложенный платёж»: check reports it missing, setup
// creates it with that type, and check passes afterwards. With the default
// (auto) it is neither required nor created (see
// TestSetupCreatesThenCheckPassesThenCreatesNothing).
func TestSetupCashOnDeliveryAttribute(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(nil, nil))
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CASH_ON_DELIVERY"] = "attribute"
	ctx := context.Background()
	code, out, _ := h.main(ctx, "check")
	if line, ok := lineWith(out, "✗", "Наложенный платёж"); code != ExitFailure || !ok {
		t.Fatalf("check before setup: exit %d, line %q:\n%s", code, line, out)
	}
	code, out, errOut := h.main(ctx, "setup")
	if code != 0 || !strings.Contains(out, "+ attribute «Наложенный платёж» created (type boolean, moysklad.attributes.cash_on_delivery)") {
		t.Fatalf("setup: exit %d\n%s\n%s", code, out, errOut)
	}
	if def, ok := h.metadata().AttributeByName("Наложенный платёж"); !ok || def.Type != "boolean" {
		t.Errorf("attribute: %v %+v", ok, def)
	}
	if code, out, errOut := h.main(ctx, "check"); code != 0 || strings.Contains(out, "✗") {
		t.Fatalf("check after setup: exit %d\n%s\n%s", code, out, errOut)
	}
}
