package app

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// metadata reads the simulator's order metadata through the real client.
func (h *harness) metadata() moysklad.Metadata {
	h.t.Helper()
	c, err := moysklad.New(moysklad.Config{BaseURL: h.ms.URL(), Token: h.ms.Token()})
	if err != nil {
		h.t.Fatal(err)
	}
	md, err := c.OrderMetadata(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return md
}

func TestSetupCreatesThenCheckPassesThenCreatesNothing(t *testing.T) {
	h := newHarness(t).validBare(nil)
	// 14+ requests: a solution token's budget keeps the limiter from pausing the test for 3 s.
	h.env["SHIPBRIDGE_MOYSKLAD_REQUESTS_PER_WINDOW"] = "45"
	ctx := context.Background()

	// Before: check fails and names every missing item.
	code, out, _ := h.main(ctx, "check")
	if code != ExitFailure || strings.Count(out, "✗") != 11 {
		t.Fatalf("check before setup: exit %d, want 11 problems (6 statuses, 5 required attributes):\n%s", code, out)
	}

	code, out, errOut := h.main(ctx, "setup")
	if code != 0 {
		t.Fatalf("setup: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "\n+ "); n+boolInt(strings.HasPrefix(out, "+ ")) != 12 {
		t.Errorf("setup did not report 12 creations:\n%s", out)
	}
	if !strings.Contains(out, "✓ created 12; every status and attribute is in place") {
		t.Errorf("no summary:\n%s", out)
	}

	md := h.metadata()
	wantColor := map[string]int{"Зарегистрирован перевозчиком": 0x43A047, "Ошибка оформления доставки": 0xE53935, "Заказ на доставку удален": 0x9E9E9E}
	for _, s := range moyskladtest.DefaultStates {
		st, ok := md.StateByName(s.Name)
		if !ok {
			t.Errorf("status %q not created", s.Name)
			continue
		}
		if c, ok := wantColor[s.Name]; ok && st.Color != c {
			t.Errorf("status %q colour %#06x, want %#06x", s.Name, st.Color, c)
		}
		if st.StateType != moysklad.StateRegular {
			t.Errorf("status %q type %q", s.Name, st.StateType)
		}
	}
	for _, a := range moyskladtest.DefaultAttributes {
		def, ok := md.AttributeByName(a.Name)
		if !ok || def.Type != a.Type {
			t.Errorf("attribute %q: found %v, type %q, want %q", a.Name, ok, def.Type, a.Type)
		}
	}
	if len(md.States) != 7 || len(md.Attributes) != 6 {
		t.Errorf("%d states, %d attributes after setup", len(md.States), len(md.Attributes))
	}

	if code, out, errOut := h.main(ctx, "check"); code != 0 || strings.Contains(out, "✗") {
		t.Fatalf("check after setup: exit %d\n%s\n%s", code, out, errOut)
	}

	// Again: nothing is created, nothing is duplicated.
	code, out, errOut = h.main(ctx, "setup")
	if code != 0 {
		t.Fatalf("second setup: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "+ ") || strings.Contains(out, "created") {
		t.Errorf("second setup created something:\n%s", out)
	}
	if strings.Count(out, "· ") != 12 || !strings.Contains(out, "✓ nothing to create") {
		t.Errorf("second setup output:\n%s", out)
	}
	if md := h.metadata(); len(md.States) != 7 || len(md.Attributes) != 6 {
		t.Errorf("second setup changed the metadata: %d states, %d attributes", len(md.States), len(md.Attributes))
	}
}

func TestSetupCreatesOnlyWhatIsMissing(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(map[string]bool{"Заказ на доставку НЕ удален": true, "Накладная": true}, nil))
	code, out, errOut := h.main(context.Background(), "setup")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Count(out, "+ ") != 2 ||
		!strings.Contains(out, "+ status «Заказ на доставку НЕ удален» created") ||
		!strings.Contains(out, "+ attribute «Накладная» created (type file, moysklad.attributes.waybill)") {
		t.Errorf("output:\n%s", out)
	}
	if md := h.metadata(); len(md.States) != 7 || len(md.Attributes) != 6 {
		t.Errorf("%d states, %d attributes", len(md.States), len(md.Attributes))
	}
}

func TestSetupCannotFixAWrongType(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(nil, map[string]string{"Ошибка доставки": "long"}))
	code, out, errOut := h.main(context.Background(), "setup")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	line, ok := lineWith(out, "✗", "Ошибка доставки")
	if !ok || !strings.Contains(line, "has type long") || !strings.Contains(line, "SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_ERROR") ||
		!strings.Contains(line, "the type is wrong and `shipbridge setup` cannot change the type") {
		t.Errorf("no ✗ line with the fix:\n%s", out)
	}
	if strings.Contains(out, "+ ") {
		t.Errorf("setup created a second attribute of the same name:\n%s", out)
	}
	if !strings.Contains(errOut, "setup incomplete") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestSetupRefusedToken(t *testing.T) {
	h := newHarness(t).validBare(nil)
	h.env["SHIPBRIDGE_MOYSKLAD_TOKEN"] = "wrong"
	code, out, errOut := h.main(context.Background(), "setup")
	if code != ExitFailure || out != "" || !strings.Contains(errOut, "read MoySklad order metadata") {
		t.Errorf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The statuses and attribute of tracking (PRODUCT.md §1), with their default names.
var trackingItems = []struct{ key, name, typ string }{
	{"delivered", "Доставлен", ""},
	{"returned", "Возврат", ""},
	{"delivery_status", "Статус доставки", "string"},
}

func TestSetupCreatesTrackingStatusesAndAttributeThenCheckPasses(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(nil, nil))
	h.env["SHIPBRIDGE_TRACKING_EVERY"] = "1h"
	ctx := context.Background()

	// Before: check names each missing tracking item as a problem, with the fix.
	code, out, _ := h.main(ctx, "check")
	if code != ExitFailure || strings.Count(out, "✗") != 3 {
		t.Fatalf("check before setup: exit %d, want 3 problems:\n%s", code, out)
	}
	for _, it := range trackingItems {
		if _, ok := lineWith(out, "✗", it.name, "moysklad."); !ok {
			t.Errorf("check does not name %q:\n%s", it.name, out)
		}
	}

	code, out, errOut := h.main(ctx, "setup")
	if code != 0 {
		t.Fatalf("setup: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Count(out, "+ ") != 3 || !strings.Contains(out, "✓ created 3; every status and attribute is in place") {
		t.Errorf("setup output:\n%s", out)
	}
	md := h.metadata()
	for _, it := range trackingItems {
		if it.typ == "" {
			st, ok := md.StateByName(it.name)
			if !ok || st.StateType != moysklad.StateRegular {
				t.Errorf("status %q: found %v, type %q", it.name, ok, st.StateType)
			}
			continue
		}
		def, ok := md.AttributeByName(it.name)
		if !ok || def.Type != it.typ {
			t.Errorf("attribute %q: found %v, type %q, want %q", it.name, ok, def.Type, it.typ)
		}
	}
	if code, out, errOut := h.main(ctx, "check"); code != 0 || strings.Contains(out, "✗") || strings.Contains(out, "!") {
		t.Fatalf("check after setup: exit %d\n%s\n%s", code, out, errOut)
	} else {
		for _, it := range trackingItems {
			if _, ok := lineWith(out, "✓", it.name, "exists"); !ok {
				t.Errorf("check does not confirm %q:\n%s", it.name, out)
			}
		}
	}
	// Again: nothing is created.
	if code, out, _ := h.main(ctx, "setup"); code != 0 || strings.Contains(out, "+ ") {
		t.Errorf("second setup: exit %d\n%s", code, out)
	}
}

func TestSetupSkipsADisabledMoveAndTrackingOff(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(nil, nil))
	h.env["SHIPBRIDGE_TRACKING_EVERY"] = "1h"
	ctx := context.Background()
	// An empty name disables the move: nothing to create, nothing to check.
	if err := os.WriteFile(h.config, []byte("moysklad:\n  states:\n    returned: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := h.main(ctx, "setup")
	if code != 0 || strings.Count(out, "+ ") != 2 || strings.Contains(out, "Возврат") {
		t.Fatalf("setup: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, ok := h.metadata().StateByName("Возврат"); ok {
		t.Error("a disabled status was created")
	}
	if code, out, errOut := h.main(ctx, "check"); code != 0 || strings.Contains(out, "Возврат") {
		t.Errorf("check: exit %d\n%s\n%s", code, out, errOut)
	}

	// Tracking off: its statuses and attribute are neither created nor required.
	h2 := newHarness(t).validBare(seedExcept(nil, nil))
	code, out, errOut = h2.main(ctx, "setup")
	if code != 0 || strings.Contains(out, "+ ") || strings.Contains(out, "Доставлен") {
		t.Errorf("setup with tracking off: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := h2.main(ctx, "check"); code != 0 || strings.Contains(out, "Статус доставки") {
		t.Errorf("check with tracking off: exit %d\n%s", code, out)
	}
}

func TestCheckRefusesAWrongTypeOfDeliveryStatus(t *testing.T) {
	h := newHarness(t).validBare(func(ms *moyskladtest.Server) {
		seedExcept(nil, nil)(ms)
		ms.AddState("Доставлен", 0)
		ms.AddState("Возврат", 0)
		ms.AddAttribute("Статус доставки", "long")
	})
	h.env["SHIPBRIDGE_TRACKING_EVERY"] = "1h"
	code, out, _ := h.main(context.Background(), "check")
	line, ok := lineWith(out, "✗", "Статус доставки", "has the wrong type: long", "string or text")
	if code != ExitFailure || !ok || !strings.Contains(line, "SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_DELIVERY_STATUS") {
		t.Errorf("exit %d, no ✗ line with the fix:\n%s", code, out)
	}
}
