package app

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/store"
)

// environ lists the harness's variables as os.Environ would, plus extra.
func (h *harness) environ(extra ...string) func() []string {
	return func() []string {
		var out []string
		for k, v := range h.env {
			out = append(out, k+"="+v)
		}
		return append(out, extra...)
	}
}

func TestUnknownEnvironmentVariableIsWarnedAbout(t *testing.T) {
	h := newHarness(t).valid()
	var out, errOut syncBuffer
	code := Main(context.Background(), []string{"once", "--config", h.config}, &out, &errOut,
		WithLookupEnv(h.lookup), WithEnviron(h.environ("SHIPBRIDGE_MOYSKLAD_TOKN=typo-SECRET")))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	line, ok := lineWith(errOut.String(), "WARN", "SHIPBRIDGE_MOYSKLAD_TOKN")
	if !ok || !strings.Contains(line, "is ignored; did you mean SHIPBRIDGE_MOYSKLAD_TOKEN (key moysklad.token)?") {
		t.Errorf("no warning naming the nearest variable:\n%s", errOut.String())
	}
	if strings.Contains(errOut.String(), "typo-SECRET") {
		t.Error("the variable's value was logged")
	}
	if n := strings.Count(errOut.String(), "is not a shipbridge setting"); n != 1 {
		t.Errorf("%d warnings, want 1 (known variables are not warned about):\n%s", n, errOut.String())
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	code = Main(context.Background(), []string{"check", "--config", h.config}, &out, &errOut,
		WithLookupEnv(h.lookup), WithEnviron(h.environ("SHIPBRIDGE_WORKRES=4")))
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, out.String())
	}
	if _, ok := lineWith(out.String(), "! environment variable SHIPBRIDGE_WORKRES", "did you mean SHIPBRIDGE_WORKERS (key workers)?"); !ok {
		t.Errorf("check does not warn of the unknown variable:\n%s", out.String())
	}
}

func TestUnknownConfigKeyIsNamedWithItsNeighbour(t *testing.T) {
	h := newHarness(t).valid()
	if err := os.WriteFile(h.config, []byte("moysklad:\n  states:\n    redy: Готов\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := h.main(context.Background(), "once")
	if code != ExitUsage || !strings.Contains(errOut, `unknown key "moysklad.states.redy"; did you mean moysklad.states.ready?`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if strings.Contains(errOut, "''") {
		t.Errorf("viper's message leaked:\n%s", errOut)
	}
}

// The README's exit statuses of check are what check does.
func TestCheckExitCodesMatchTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row, ok := lineWith(string(readme), "| `shipbridge check` |")
	if !ok {
		t.Fatal("README has no row for shipbridge check")
	}
	documented := map[int]string{
		ExitOK:      "exit 0 when every check passed",
		ExitFailure: "1 when the configuration is valid but a service, status or attribute has a problem",
		ExitUsage:   "2 when the configuration is invalid or unreadable",
	}
	for code, phrase := range documented {
		if !strings.Contains(row, phrase) {
			t.Errorf("README's check row does not say %q (exit %d):\n%s", phrase, code, row)
		}
	}
	cases := []struct {
		name string
		set  func(h *harness)
		want int
	}{
		{"all good", func(h *harness) {}, ExitOK},
		{"CDEK refuses", func(h *harness) { h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = "wrong" }, ExitFailure},
		{"invalid configuration", func(h *harness) { h.env["SHIPBRIDGE_WORKERS"] = "-1" }, ExitUsage},
		{"unreadable configuration", func(h *harness) {
			_ = os.WriteFile(h.config, []byte("workers: [\n"), 0o600)
		}, ExitUsage},
	}
	for _, tc := range cases {
		h := newHarness(t).valid()
		tc.set(h)
		if code, out, errOut := h.main(context.Background(), "check"); code != tc.want {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.want, out, errOut)
		}
	}
}

func TestOnceCallsAWrongTypeWrongWithTheFix(t *testing.T) {
	h := newHarness(t).validBare(seedExcept(nil, map[string]string{"Накладная": "string"}))
	code, _, errOut := h.main(context.Background(), "once")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	last := errOut[strings.LastIndex(strings.TrimRight(errOut, "\n"), "\n")+1:]
	for _, want := range []string{
		"attribute «Накладная» (moysklad.attributes.waybill) has the wrong type: string, shipbridge needs file",
		"`shipbridge setup` cannot change the type of an existing attribute: delete or rename «Накладная» in MoySklad",
		"SHIPBRIDGE_MOYSKLAD_ATTRIBUTES_WAYBILL",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("last line lacks %q:\n%s", want, last)
		}
	}
	if strings.Contains(last, "missing") {
		t.Errorf("a wrong type called missing:\n%s", last)
	}
}

func TestHistoryEscapesControlCharacters(t *testing.T) {
	h := newHarness(t)
	at := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	st, err := store.Open(h.env["SHIPBRIDGE_STORE_PATH"], store.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	evil := "A\x1b[2J\x1b]0;pwned\x07\rB\u202eC\u009bD\xff" // invalid UTF-8: escaped (\xff) or, once through JSON, U+FFFD
	err = st.Save(store.OrderRecord{ID: "id-evil", Name: "N\x1b[31m1", Carrier: "cdek", Phase: "none",
		TrackingNumber: "T\x00", Error: "first line\nsecond \x1b[1mline"},
		store.Event{At: at, Kind: "seen\x1b", Message: evil, Data: json.RawMessage(`{"x":"\u202e\u0085"}`)})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, text, _ := h.main(context.Background(), "history", "id-evil", "-v")
	_, js, _ := h.main(context.Background(), "history", "id-evil", "--json")
	raw := regexp.MustCompile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]")
	for name, out := range map[string]string{"text": text, "json": js} {
		if loc := raw.FindStringIndex(out); loc != nil {
			t.Errorf("%s output has a raw control character at %d: %q", name, loc[0], out)
		}
	}
	for _, want := range []string{`Order N\x1b[31m1`, `A\x1b[2J\x1b]0;pwned\x07\rB\u202eC\x9bD`, `T\x00`,
		"first line\n                     second \\x1b[1mline", `seen\x1b`} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// The store keeps the invalid byte as it came; the text shows it escaped or replaced.
	if !strings.Contains(text, `D\xff`) && !strings.Contains(text, "D\uFFFD") {
		t.Errorf("text shows the invalid byte neither escaped nor replaced:\n%s", text)
	}
	// The JSON still decodes to the stored text.
	var got struct {
		Events []struct{ Message string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got.Events) != 1 ||
		got.Events[0].Message != strings.ToValidUTF8(evil, "\uFFFD") {
		t.Errorf("JSON does not round-trip: %v %q", err, js)
	}
}

// The README's numbering rule, with its examples, is what the CDEK carrier does.
func TestREADMENumberingRuleMatchesTheCode(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(readme), "**Order number at CDEK.**")
	if i < 0 {
		t.Fatal("README has no numbering rule")
	}
	rule := string(readme[i:])
	rule = rule[:strings.Index(rule, "\n- **")]
	if !strings.Contains(rule, "no space inside") || !strings.Contains(rule, "1–30") {
		t.Errorf("the rule does not say what the code does with spaces and length:\n%s", rule)
	}
	c := &cdek.Carrier{}
	num := func(name string, attempt int) string {
		return c.Number(carriers.Shipment{OrderName: name, OrderID: "0c1d2e3f-id", Attempt: attempt})
	}
	if !strings.Contains(rule, "`00042` is sent as `00042`") || num("00042", 1) != "00042" {
		t.Errorf("00042: %q", num("00042", 1))
	}
	if !strings.Contains(rule, "registered again, `00042-2`") || num("00042", 2) != "00042-2" {
		t.Errorf("00042 again: %q", num("00042", 2))
	}
	for _, name := range []string{"Заказ 7", "A 12"} {
		if !strings.Contains(rule, "`"+name+"`") || !regexp.MustCompile(`^SB-[0-9a-f]{16}$`).MatchString(num(name, 1)) {
			t.Errorf("%s: %q, rule:\n%s", name, num(name, 1), rule)
		}
	}
	if n := num(" 00042 ", 1); n != "00042" {
		t.Errorf("outer spaces are not removed: %q", n)
	}
	long := strings.Repeat("7", 29)
	if num(long, 1) != long || !strings.HasPrefix(num(long, 2), "SB-") || !strings.HasSuffix(num(long, 2), "-2") {
		t.Errorf("30 with the suffix: %q %q", num(long, 1), num(long, 2))
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain Заказ №7":  "plain Заказ №7",
		"a\xffb":          `a\xffb`,
		"tab\there":       `tab\there`,
		"l1\nl2":          `l1\nl2`,
		"\u2066iso\u2069": `\u2066iso\u2069`,
		"\u0085next":      `\x85next`,
	} {
		if got := printable(in, false); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := printable("l1\nl2\r", true); got != "l1\nl2\\r" {
		t.Errorf("keepNewlines: %q", got)
	}
}
