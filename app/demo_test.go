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
	rows := []struct {
		order string
		want  []string
		track bool
	}{
		{"00101", []string{"СДЭК", registered, "waybill-", ".pdf"}, true},                           // pickup point
		{"00102", []string{"cdek", registered, "waybill-"}, true},                                   // door delivery
		{"00103", []string{failed, "Не указан телефон получателя"}, false},                          // missing phone
		{"00104", []string{"Почта России", ready}, false},                                           // another carrier: untouched
		{"00105", []string{deleted}, false},                                                         // deleted after registration
		{"00106", []string{failed, "v2_office_by_delivery_point_not_found", "пункт выдачи"}, false}, // CDEK's asynchronous refusal
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
	// Untouched and deleted orders carry no error, the failed ones do.
	for _, order := range []string{"00101", "00102", "00104", "00105"} {
		if line := demoRow(t, out, order); !strings.HasSuffix(strings.TrimSpace(line), "—") {
			t.Errorf("%s: an error is shown: %s", order, line)
		}
	}

	// Every order's timeline follows, from the store.
	for _, want := range []string{"Order 00101 (MoySklad id", "carrier_registered", "Order 00104 (MoySklad id", "ignored",
		"Order 00105 (MoySklad id", "carrier_deleted", "Order 00106 (MoySklad id", "carrier_rejected", "Order 00103 (MoySklad id", "invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// stdout carries only the report; the logs, with progress, go to stderr.
	if strings.Contains(out, "INFO") || strings.Contains(out, "cycle done") {
		t.Errorf("log lines on stdout:\n%s", out)
	}
	if !regexp.MustCompile(`cycle progress\s+\{"found": 6, "done": 6, "left": 0`).MatchString(errOut) {
		t.Errorf("stderr lacks the first cycle's progress:\n%s", errOut)
	}
	if !strings.Contains(errOut, "demo: every order settled") {
		t.Errorf("stderr:\n%s", errOut)
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
