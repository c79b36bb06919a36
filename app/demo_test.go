package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoRow returns the line of the demo's outcome table for the order.
func demoRow(t *testing.T, out, order string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, order+"  ") {
			return line
		}
	}
	t.Fatalf("no table row for %s:\n%s", order, out)
	return ""
}

func TestDemo(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // no token, no simulators: the demo brings its own
	start := time.Now()
	code, out, errOut := h.main(context.Background(), "demo")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("demo took %s", took)

	tracking := regexp.MustCompile(`  \d{6,}  `)
	const registered, failed, ready, deleted = "Зарегистрирован перевозчиком", "Ошибка оформления доставки", "Готов к отгрузке", "Заказ на доставку удален"
	const delivered, returned = "Доставлен", "Возврат"
	rows := []struct {
		order string
		want  []string
		track bool
	}{
		{"00101", []string{"СДЭК", delivered, "waybill-", ".pdf", "Вручен, "}, true},            // pickup point, then delivered
		{"00102", []string{"cdek", returned, "waybill-", "Возврат вручен отправителю, "}, true}, // door delivery, then returned
		{"00103", []string{failed, "Не указан телефон получателя"}, false},                      // missing phone
		{"00105", []string{deleted}, false}, // deleted after registration
		{"00106", []string{failed, "v2_office_by_delivery_point_not_found", "пункт выдачи"}, false}, // CDEK's asynchronous refusal
		{"00107", []string{"Деловые Линии", ready}, false},                                          // a carrier shipbridge does not handle: untouched
	}
	for _, r := range rows {
		line := demoRow(t, out, r.order)
		for _, w := range r.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: row lacks %q: %s", r.order, w, line)
			}
		}
		if got := tracking.MatchString(line); got != r.track {
			t.Errorf("%s: tracking number shown = %v, want %v: %s", r.order, got, r.track, line)
		}
	}
	// Untouched, deleted and tracked orders carry no error, the failed ones do.
	for _, order := range []string{"00101", "00102", "00104", "00105", "00107"} {
		if line := demoRow(t, out, order); !strings.HasSuffix(strings.TrimSpace(line), "—") {
			t.Errorf("%s: an error is shown: %s", order, line)
		}
	}
	for _, v := range []string{"✓ 00101  «Доставлен», seen by tracking: Вручен, ", "✓ 00102  «Возврат», seen by tracking: ",
		"✓ 00103  «Ошибка оформления доставки»", "✓ 00105  «Заказ на доставку удален»", "✓ 00106  «Ошибка оформления доставки»",
		"✓ 00107  left in «Готов к отгрузке» for a person: shipbridge does not handle «Деловые Линии»"} {
		if !strings.Contains(out, "\n"+v) {
			t.Errorf("stdout lacks the verdict %q:\n%s", v, out)
		}
	}

	// 00104 is Почта России's. The workflow on main does not yet call carriers.Batcher, so the
	// shipment is created but never batched, its waybill answers NOT_IN_BATCH, and the order waits
	// in ready: the demo must say so ("!", not "✓") and still exit 0 (demoTolerateUnbatchedPochta).
	// Once the workflow batches Pochta orders, 00104 must be registered, delivered and tracked like
	// 00101. TODO(lead): after the poller merge, drop the first branch and set
	// demoTolerateUnbatchedPochta to false.
	pochtaRow := demoRow(t, out, "00104")
	switch {
	case strings.Contains(out, "\n! 00104  "):
		for _, w := range []string{"Почта России", ready} {
			if !strings.Contains(pochtaRow, w) {
				t.Errorf("00104 (not batched): row lacks %q: %s", w, pochtaRow)
			}
		}
		if v, _ := lineWith(out, "! 00104  "); !strings.Contains(v, "expected «Доставлен», is «Готов к отгрузке»") || !strings.Contains(v, "NOT_IN_BATCH") {
			t.Errorf("00104's verdict does not say what happened: %s", v)
		}
		if !strings.Contains(out, "6 of 7 orders reached their expected outcome; 1 did not because of a known gap (!).") {
			t.Errorf("summary:\n%s", out)
		}
		if !strings.Contains(errOut, "demo: Почта России orders created but not batched") || !strings.Contains(errOut, "every other order reached its expected outcome") {
			t.Errorf("stderr does not warn of the unbatched Pochta order:\n%s", errOut)
		}
	default:
		for _, w := range []string{"Почта России", delivered, "pochta-", "Вручение адресату, "} {
			if !strings.Contains(pochtaRow, w) {
				t.Errorf("00104 (batched): row lacks %q: %s", w, pochtaRow)
			}
		}
		if !regexp.MustCompile(`  \d{14}  `).MatchString(pochtaRow) {
			t.Errorf("00104: no 14-digit ШПИ: %s", pochtaRow)
		}
		if !strings.Contains(out, "\n✓ 00104  «Доставлен», seen by tracking: Вручение адресату") {
			t.Errorf("00104's verdict:\n%s", out)
		}
		if !strings.Contains(out, "7 of 7 orders reached their expected outcome.") || !strings.Contains(errOut, "demo: every order reached its expected outcome") {
			t.Errorf("summary:\n%s\n%s", out, errOut)
		}
	}
	if strings.Contains(out, "\n✗ ") {
		t.Errorf("a missed expectation:\n%s", out)
	}

	// Every order's timeline follows, from the store.
	for _, want := range []string{"Order 00101 (MoySklad id", "carrier_registered", "Статус доставки: Вручен", "Статус в МойСклад: «Доставлен»",
		"Статус в МойСклад: «Возврат»", "Order 00104 (MoySklad id", "Почта России", "Order 00107 (MoySklad id", "ignored",
		"Order 00105 (MoySklad id", "carrier_deleted", "Order 00106 (MoySklad id", "carrier_rejected", "Order 00103 (MoySklad id", "invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// stdout carries only the report; the logs, with progress, go to stderr.
	if strings.Contains(out, "INFO") || strings.Contains(out, "cycle done") {
		t.Errorf("log lines on stdout:\n%s", out)
	}
	if !regexp.MustCompile(`cycle progress\s+\{"found": 7, "done": 7, "left": 0`).MatchString(errOut) {
		t.Errorf("stderr lacks the first cycle's progress:\n%s", errOut)
	}
	// The tracking pass ran once and moved the parcels the carriers reported.
	if n := strings.Count(errOut, "tracking pass done"); n != 1 {
		t.Errorf("%d tracking passes, want 1:\n%s", n, errOut)
	}
	if !regexp.MustCompile(`tracking pass done.*"moved": [23],`).MatchString(errOut) {
		t.Errorf("the tracking pass moved no orders:\n%s", errOut)
	}
	// The temporary store is gone.
	m := regexp.MustCompile(`"store": "([^"]+)"`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("store path not logged:\n%s", errOut)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary store %s left behind: %v", m[1], err)
	}
}

func TestDemoKeepsItsStoreForHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := filepath.Join(h.dir, "demo.db")
	code, _, errOut := h.main(context.Background(), "demo", "--store", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	h.env["SHIPBRIDGE_STORE_PATH"] = path
	code, out, errOut := h.main(context.Background(), "history", "00105")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"Order 00105", "carrier_delete ", "carrier_deleted", "Заказ на доставку удален", "attempt:           2"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	// The store is never overwritten.
	if code, _, errOut := h.main(context.Background(), "demo", "--store", path); code != ExitUsage || !strings.Contains(errOut, "the file exists") {
		t.Errorf("demo over an existing store: exit %d, %s", code, errOut)
	}
}

func TestOnceLogsProgress(t *testing.T) {
	h := newHarness(t).valid()
	code, _, errOut := h.main(context.Background(), "once")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !regexp.MustCompile(`cycle progress\s+\{"found": 0, "done": 0, "left": 0`).MatchString(errOut) {
		t.Errorf("once does not log found/done/left:\n%s", errOut)
	}
}
