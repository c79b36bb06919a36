package moysklad

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseMoment(t *testing.T) {
	cases := []struct{ in, want string }{
		{"2016-04-14 12:03:05", "2016-04-14 12:03:05.000"},
		{"2026-09-08 23:11:52.918", "2026-09-08 23:11:52.918"},
		{"2026-09-08 23:11:52.9", "2026-09-08 23:11:52.900"},
		{"2026-09-08 23:11", "2026-09-08 23:11:00.000"},
	}
	for _, c := range cases {
		m, err := ParseMoment(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if m.String() != c.want {
			t.Errorf("%q -> %q, want %q", c.in, m.String(), c.want)
		}
		if _, off := m.Zone(); off != 3*3600 {
			t.Errorf("%q parsed in zone offset %d", c.in, off)
		}
	}
	m, _ := ParseMoment("2026-01-01 00:30:00")
	if got := m.UTC().Format(time.RFC3339); got != "2025-12-31T21:30:00Z" {
		t.Errorf("Moscow midnight in UTC = %s", got)
	}
	for _, bad := range []string{"", "2026-13-01 00:00:00", "2026-01-01T00:00:00Z", "yesterday"} {
		if _, err := ParseMoment(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// Any time zone is shown in Moscow time.
	utc := time.Date(2026, 11, 27, 7, 0, 0, 123456789, time.UTC)
	if s := MomentOf(utc).String(); s != "2026-11-27 10:00:00.123" {
		t.Errorf("MomentOf = %s", s)
	}
}

func TestMomentJSON(t *testing.T) {
	var v struct {
		A, B, C Moment
	}
	if err := json.Unmarshal([]byte(`{"A":"2016-04-14 12:03:05","B":"2016-04-14 12:03:05.250","C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.String() != "2016-04-14 12:03:05.000" || v.B.String() != "2016-04-14 12:03:05.250" || !v.C.IsZero() {
		t.Errorf("%+v", v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"A":"2016-04-14 12:03:05.000","B":"2016-04-14 12:03:05.250","C":null}` {
		t.Errorf("marshal = %s", b)
	}
	if err := json.Unmarshal([]byte(`{"A":12}`), &v); err == nil {
		t.Error("a number must not parse as a moment")
	}
}

func TestAttributeAccessors(t *testing.T) {
	attr := func(typ, raw string) Attribute { return Attribute{Type: typ, Value: json.RawMessage(raw)} }
	if s, ok := attr("string", `"СДЭК"`).String(); !ok || s != "СДЭК" {
		t.Errorf("string: %q %v", s, ok)
	}
	if s, ok := attr("link", `"https://x.test/a"`).String(); !ok || s != "https://x.test/a" {
		t.Errorf("link: %q", s)
	}
	if n, ok := attr("long", `136`).Int(); !ok || n != 136 {
		t.Errorf("long: %d %v", n, ok)
	}
	if n, ok := attr("string", `" 137 "`).Int(); !ok || n != 137 {
		t.Errorf("numeric string as int: %d %v", n, ok)
	}
	if _, ok := attr("double", `1.5`).Int(); ok {
		t.Error("1.5 read as an int")
	}
	if n, ok := attr("double", `2.0`).Int(); !ok || n != 2 {
		t.Errorf("2.0 as int: %d %v", n, ok)
	}
	if f, ok := attr("double", `1.25`).Float(); !ok || f != 1.25 {
		t.Errorf("double: %v %v", f, ok)
	}
	if b, ok := attr("boolean", `true`).Bool(); !ok || !b {
		t.Errorf("bool: %v %v", b, ok)
	}
	if _, ok := attr("boolean", `"true"`).Bool(); ok {
		t.Error("a string read as a bool")
	}
	if s, ok := attr("long", `42`).String(); !ok || s != "42" {
		t.Errorf("long as string: %q", s)
	}
	file := Attribute{Type: "file", Value: json.RawMessage(`"waybill.pdf"`), Download: &Meta{Href: "https://x/download/1"}}
	if file.FileName() != "waybill.pdf" {
		t.Errorf("file name %q", file.FileName())
	}
	if attr("string", `"x"`).FileName() != "" {
		t.Error("a string attribute has no file name")
	}
	for _, empty := range []Attribute{attr("string", `null`), {Type: "string"}} {
		if _, ok := empty.String(); ok {
			t.Error("null value reported as present")
		}
		if _, ok := empty.Int(); ok {
			t.Error("null int reported as present")
		}
	}
}

func TestMetaID(t *testing.T) {
	cases := map[string]string{
		"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/abc":             "abc",
		"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/abc?expand=x":    "abc",
		"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/34efe2ee-015e-11e6-9464-e4de00/": "34efe2ee-015e-11e6-9464-e4de00",
		"": "",
	}
	for in, want := range cases {
		if got := (Meta{Href: in}).ID(); got != want {
			t.Errorf("ID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListFilterAndQueryEncoding(t *testing.T) {
	q := ListOrdersQuery{
		UpdatedFrom: time.Date(2026, 11, 27, 7, 0, 0, 5e6, time.UTC),
		StateHrefs:  []string{"https://h/entity/customerorder/metadata/states/a", "https://h/states/b;c"},
	}
	wantFilter := `updated>=2026-11-27 10:00:00.005;state=https://h/entity/customerorder/metadata/states/a;state=https://h/states/b\;c`
	if f := q.Filter(); f != wantFilter {
		t.Errorf("filter = %s", f)
	}
	got := encodeQuery(queryParam{"filter", "updated>=2026-11-27 10:00:00.000"}, queryParam{"order", orderSort}, queryParam{"expand", orderExpand})
	want := "filter=updated%3E%3D2026-11-27%2010%3A00%3A00.000&order=updated%2Casc%3Bid%2Casc&expand=agent%2Cstate%2Cpositions.assortment"
	if got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
}

func TestAttributeValueEncoding(t *testing.T) {
	m := Meta{Href: "https://h/entity/customerorder/metadata/attributes/A1", Type: "attributemetadata", MediaType: "application/json"}
	elem := Meta{Href: "https://h/entity/customentity/D/E", Type: "customentity"}
	u := OrderUpdate{
		State: &Meta{Href: "https://h/entity/customerorder/metadata/states/S"},
		Attributes: []AttributeValue{
			StringValue(m, "x"), NumberValue(m, int64(7)), NumberValue(m, 2.5), BoolValue(m, true),
			EntityValue(m, elem), EntityNameValue(m, "СДЭК"), FileValue(m, "a.pdf", []byte("%PDF")),
			ClearValue(m), ClearFileValue(m),
		},
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"attributes":[` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":"x"},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":7},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":2.5},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":true},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":{"meta":{"href":"https://h/entity/customentity/D/E","type":"customentity","mediaType":"application/json"}}},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":{"name":"СДЭК"}},` +
		`{"file":{"content":"JVBERg==","filename":"a.pdf"},"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"}},` +
		`{"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"},"value":null},` +
		`{"file":null,"meta":{"href":"https://h/entity/customerorder/metadata/attributes/A1","type":"attributemetadata","mediaType":"application/json"}}` +
		`],"state":{"meta":{"href":"https://h/entity/customerorder/metadata/states/S","type":"state","mediaType":"application/json"}}}`
	if string(b) != want {
		t.Errorf("body\n got %s\nwant %s", b, want)
	}
	if _, err := json.Marshal(AttributeValue{Meta: m}); err == nil {
		t.Error("a value-less attribute must not encode")
	}
}

// fakeClock is a clock whose Sleep advances time instantly.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	cancel func() // called on the first sleep when set
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.slept = append(f.slept, d)
	f.mu.Unlock()
	return ctx.Err()
}

// TestWindowLimiterNeverExceedsWindow checks, on a fake clock, that in any
// interval of one window at most n starts are admitted, and that the steady
// rate reaches n per window.
func TestWindowLimiterNeverExceedsWindow(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const n, window = 11, 3 * time.Second
	l := newWindowLimiter(n, window, 0, clk.Now, clk.Sleep)
	var starts []time.Time
	for i := 0; i < 200; i++ {
		sl, _, err := l.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, clk.Now())
		l.release(sl)
		if i%7 == 3 { // irregular gaps between callers
			clk.t = clk.t.Add(137 * time.Millisecond)
		}
	}
	for i := range starts {
		j := i
		for j < len(starts) && starts[j].Sub(starts[i]) < window {
			j++
		}
		if j-i > n {
			t.Fatalf("%d starts within one window from #%d", j-i, i)
		}
	}
	elapsed := starts[len(starts)-1].Sub(starts[0])
	if min := time.Duration(200/n-1) * window; elapsed < min || elapsed > min+2*window {
		t.Errorf("200 starts took %v, want about %v", elapsed, min)
	}
	// A pause holds everyone back.
	l.pause(10 * time.Second)
	before := clk.Now()
	if _, _, err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := clk.Now().Sub(before); got < 10*time.Second {
		t.Errorf("pause honoured for %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.pause(time.Second)
	if _, _, err := l.acquire(ctx); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}

func TestErrorNeverLeaksToken(t *testing.T) {
	e := &Error{StatusCode: 401, Method: "GET", Path: "/context/employee", Errors: []APIError{{Code: 1056, Error: "Ошибка аутентификации"}}}
	if s := e.Error(); strings.Contains(strings.ToLower(s), "bearer") || !strings.Contains(s, "code 1056") {
		t.Errorf("Error() = %q", s)
	}
}

// TestWindowLimiterCountsRequestsInFlight: a slow request keeps its slot
// until its answer arrives, and for a whole window after that.
func TestWindowLimiterCountsRequestsInFlight(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newWindowLimiter(2, time.Second, 0, clk.Now, clk.Sleep)
	ctx := context.Background()
	a, _, _ := l.acquire(ctx)
	b, _, _ := l.acquire(ctx)
	clk.t = clk.t.Add(5 * time.Second) // both still in flight after 5 windows
	done := make(chan time.Time)
	go func() {
		s, _, err := l.acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		l.release(s)
		done <- clk.Now()
	}()
	time.Sleep(20 * time.Millisecond)
	clk.mu.Lock()
	answered := clk.t
	clk.mu.Unlock()
	l.release(a)
	got := <-done
	l.release(b)
	if got.Sub(answered) < time.Second {
		t.Errorf("third request started %v after the first answer, want >= 1s", got.Sub(answered))
	}
}

func TestIsRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&Error{StatusCode: 429, Errors: []APIError{{Code: 1049}}}, true},
		{&Error{StatusCode: 429, Errors: []APIError{{Code: 1073}}}, true},
		{&Error{StatusCode: 500}, true},
		{&Error{StatusCode: 503}, true},
		{&Error{StatusCode: 409, Errors: []APIError{{Code: 1065}}}, true},
		{&Error{StatusCode: 400, Errors: []APIError{{Code: 3000}}}, false},
		{&Error{StatusCode: 401, Errors: []APIError{{Code: 1056}}}, false},
		{&Error{StatusCode: 403}, false},
		{&Error{StatusCode: 404, Errors: []APIError{{Code: 1021}}}, false},
		{&Error{StatusCode: 415}, false},
		{&NetworkError{Method: "GET", Path: "/x", Err: errors.New("connection reset by peer")}, true},
		{fmt.Errorf("wrapped: %w", &Error{StatusCode: 502}), true},
		{context.Canceled, false},
		{fmt.Errorf("moysklad: GET /x: %w", context.DeadlineExceeded), false},
		{errors.New("decode failed"), false},
		{nil, false},
	}
	for i, c := range cases {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("case %d (%v): %v, want %v", i, c.err, got, c.want)
		}
	}
}

func TestElideFileContent(t *testing.T) {
	in := []byte(`{"attributes":[{"file":{"content":"JVBERi0xLjQK","filename":"w.pdf"}},{"value":"content"}]}`)
	got := elideFileContent(in)
	if got != `{"attributes":[{"file":{"content":"(12 bytes of base64)","filename":"w.pdf"}},{"value":"content"}]}` {
		t.Errorf("got %s", got)
	}
}
