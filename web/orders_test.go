package web

import (
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/metrics"
	"github.com/shipbridge/shipbridge/store"
)

// day is the fake "today" of these tests, in the local zone as the page
// counts days.
var day = time.Date(2026, 11, 30, 12, 0, 0, 0, time.Local)

// seedOrders fills a store with one order in every state and returns a
// server over it whose clock says day.
func seedOrders(t *testing.T) (base string, st *store.Store) {
	t.Helper()
	clock := day.Add(-48 * time.Hour)
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	save := func(at time.Time, rec store.OrderRecord, events ...store.Event) {
		t.Helper()
		clock = at
		for i := range events {
			if events[i].At.IsZero() {
				events[i].At = at
			}
		}
		if err := st.Save(rec, events...); err != nil {
			t.Fatal(err)
		}
	}
	yesterday, today := day.Add(-24*time.Hour), day.Add(-2*time.Hour)
	reg := func(id, name, tracking string) store.OrderRecord {
		return store.OrderRecord{ID: id, Name: name, Carrier: "cdek", Phase: "registered", Attempt: 1, Number: name,
			Reference: "ref-" + id, WaybillFor: "ref-" + id, TrackingNumber: tracking, LastState: "Зарегистрирован перевозчиком"}
	}
	// Registered today, and one yesterday that tracking touched today.
	save(today, reg("id-today", "00101", "1000000101"), store.Event{Kind: "carrier_registered", Message: "СДЭК зарегистрировал заказ"})
	save(yesterday, reg("id-old", "00102", "1000000102"), store.Event{Kind: "carrier_registered", Message: "СДЭК зарегистрировал заказ"})
	old := reg("id-old", "00102", "1000000102")
	old.Delivery = store.Delivery{Status: "in_transit", Code: "SENT_TO_RECIPIENT_CITY", Name: "Отправлен в г. получателя", At: today}
	save(today, old, store.Event{Kind: "tracking", Message: "в пути"})
	delivered := reg("id-dlv", "00103", "1000000103")
	delivered.Delivery = store.Delivery{Status: "delivered", At: yesterday}
	save(yesterday, delivered)
	returned := reg("id-ret", "00104", "1000000104")
	returned.Delivery = store.Delivery{Status: "returned", Name: "Возвращён отправителю"}
	save(yesterday, returned)
	save(yesterday, store.OrderRecord{ID: "id-fail", Name: "00105", Carrier: "cdek", Phase: "none", Attempt: 1, Number: "00105",
		Error: "Заказ не отправлен: не указан телефон", LastState: "Ошибка оформления доставки"})
	save(today, store.OrderRecord{ID: "id-retry", Name: "00106", Carrier: "cdek", Phase: "submitting", Attempt: 1, Number: "00106",
		Open: true, Retries: 2, NextAttemptAt: day.Add(time.Minute), LastState: "Готов к отгрузке"})
	save(yesterday, store.OrderRecord{ID: "id-post", Name: "Почта 7", Carrier: "pochta", Phase: "registered", Attempt: 1,
		Number: "SB-0123456789abcdef", TrackingNumber: "80081234567890", LastState: "Зарегистрирован перевозчиком"})
	save(yesterday, store.OrderRecord{ID: "id-del", Name: "00108", Carrier: "cdek", Phase: "none", Attempt: 2, LastState: "Заказ на доставку удален"})

	h, err := New(st, func() error { return nil }, metrics.New().Registry, nil, func() time.Time { return day })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// rows returns the order names of the page's table, in order.
func rows(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<td class="name"><a href="[^"]*">([^<]*)</a>`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func count(body string, state OrderState) string {
	m := regexp.MustCompile(`id="count-` + string(state) + `"[^>]*><b>(\d+)</b>`).FindStringSubmatch(body)
	if m == nil {
		return "?"
	}
	return m[1]
}

func TestOrdersPageCountsFiltersAndSearch(t *testing.T) {
	base, _ := seedOrders(t)
	code, body, _ := get(t, base+"/")
	if code != 200 {
		t.Fatalf("index: %d", code)
	}
	for st, want := range map[OrderState]string{
		StateRegisteredToday: "1", StateFailed: "1", StateRetry: "1", StateInTransit: "1",
		StateDelivered: "1", StateReturned: "1", "all": "8",
	} {
		if got := count(body, st); got != want {
			t.Errorf("count %s = %s, want %s", st, got, want)
		}
	}
	for _, want := range []string{
		"Зарегистрированы сегодня", "Ждут повтора", "В пути", "Доставлены", "Возвраты", "Ошибки", "Ждёт повтора", "Доставлен</span>",
		// Carriers and phases as managers say them.
		`<td class="carrier">СДЭК</td>`, `<td class="carrier">Почта России</td>`,
		// The carrier's own delivery status name, or the neutral one in Russian.
		"Отправлен в г. получателя", "вручён получателю",
		// Public tracking pages.
		`href="https://www.cdek.ru/ru/tracking?order_id=1000000101"`,
		`href="https://www.pochta.ru/tracking?barcode=80081234567890"`,
		// The waybill is attached to the order in MoySklad.
		`href="https://online.moysklad.ru/app/#customerorder/edit?id=id-today"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	for _, code := range []string{`>cdek<`, `>pochta<`, `>registered<`, `>none<`, `>in_transit<`} {
		if strings.Contains(body, code) {
			t.Errorf("index shows the code %s to managers", code)
		}
	}
	// Most recently changed first: the three touched today, then the rest.
	if got := rows(body); len(got) != 8 || strings.Join(sorted(got[:3]), ",") != "00101,00102,00106" {
		t.Errorf("rows = %v", got)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"state=failed", []string{"00105"}},
		{"state=retry", []string{"00106"}},
		{"state=registered_today", []string{"00101"}},
		{"state=in_transit", []string{"00102"}},
		{"state=returned", []string{"00104"}},
		{"state=deleted", []string{"00108"}},
		{"q=0010", []string{"00101", "00102", "00103", "00104", "00105", "00106", "00108"}},
		{"q=" + url.QueryEscape("почта"), []string{"Почта 7"}}, // case-insensitive, Cyrillic
		{"q=1000000103", []string{"00103"}},                    // by tracking number
		{"state=registered&q=" + url.QueryEscape("Почта"), []string{"Почта 7"}},
		{"state=failed&q=00101", nil},
		{"state=bogus", []string{"00101", "00102", "00103", "00104", "00105", "00106", "Почта 7", "00108"}}, // unknown: all
		{"limit=2", nil},
	} {
		_, body, _ := get(t, base+"/?"+tc.query)
		got := rows(body)
		if tc.query == "limit=2" {
			if len(got) != 2 || !strings.Contains(body, "Показано 2 из 8") {
				t.Errorf("limit=2: rows %v", got)
			}
			continue
		}
		if tc.query == "state=bogus" {
			if len(got) != 8 {
				t.Errorf("%s: %v", tc.query, got)
			}
			continue
		}
		if strings.Join(sorted(got), ",") != strings.Join(sorted(tc.want), ",") {
			t.Errorf("%s: rows %v, want %v", tc.query, got, tc.want)
		}
		if tc.want == nil && !strings.Contains(body, "Таких заказов нет") {
			t.Errorf("%s: no 'none' line", tc.query)
		}
	}
	// The filter form keeps what was asked.
	_, body, _ = get(t, base+"/?state=failed&q=00105")
	if !strings.Contains(body, `<option value="failed" selected>`) || !strings.Contains(body, `value="00105"`) {
		t.Errorf("the form does not keep the filter")
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestStateOf(t *testing.T) {
	for _, tc := range []struct {
		rec  store.OrderRecord
		want OrderState
	}{
		{store.OrderRecord{}, StateNone},
		{store.OrderRecord{Phase: "none", Attempt: 1}, StateNone},
		{store.OrderRecord{Phase: "none", Error: "нет телефона"}, StateFailed},
		{store.OrderRecord{Phase: "none", Attempt: 3}, StateDeleted},
		{store.OrderRecord{Phase: "submitting", Open: true}, StatePending},
		{store.OrderRecord{Phase: "deleting", Open: true}, StatePending},
		{store.OrderRecord{Phase: "submitting", Open: true, Retries: 1, NextAttemptAt: day}, StateRetry},
		{store.OrderRecord{Phase: "registered"}, StateRegistered},
		{store.OrderRecord{Phase: "registered", Delivery: store.Delivery{Status: "accepted"}}, StateRegistered},
		{store.OrderRecord{Phase: "registered", Delivery: store.Delivery{Status: "at_pickup"}}, StateInTransit},
		{store.OrderRecord{Phase: "registered", Delivery: store.Delivery{Status: "not_delivered"}}, StateReturned},
		{store.OrderRecord{Phase: "registered", Delivery: store.Delivery{Status: "lost"}}, StateLost},
		{store.OrderRecord{Phase: "registered", Delivery: store.Delivery{Status: "delivered"}}, StateDelivered},
	} {
		if got := StateOf(tc.rec); got != tc.want {
			t.Errorf("StateOf(%+v) = %s, want %s", tc.rec, got, tc.want)
		}
	}
}

// Order data reaches HTML text, attributes and URLs; none of it may become
// markup or a script URL.
func TestOrdersPageEscapesEverywhere(t *testing.T) {
	srv, st, _ := newTestServer(t, func() error { return nil })
	evil := `"><script>alert(1)</script>`
	if err := st.Save(store.OrderRecord{ID: `id"><img src=x onerror=alert(1)>`, Name: "N" + evil, Carrier: "cdek" + evil,
		Phase: "registered", Reference: "r", WaybillFor: "r", TrackingNumber: `1&x="` + evil,
		Delivery: store.Delivery{Status: "in_transit", Name: "Д" + evil}, LastState: "S" + evil, Error: "E" + evil}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(store.OrderRecord{ID: "id-js", Name: "javascript:alert(1)", Carrier: "cdek", Phase: "registered",
		TrackingNumber: "javascript:alert(1)"}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/?q=" + url.QueryEscape(evil), "/orders/id-js"} {
		_, body, _ := get(t, srv.URL+path)
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") || strings.Contains(body, `href="javascript:`) {
			t.Errorf("%s: order data became markup:\n%s", path, body)
		}
	}
	_, body, _ := get(t, srv.URL+"/")
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Error("escaped text missing")
	}
	// The tracking number is a query value of the carrier's URL, encoded.
	if !strings.Contains(body, `https://www.cdek.ru/ru/tracking?order_id=javascript%3aalert%281%29`) &&
		!strings.Contains(body, `https://www.cdek.ru/ru/tracking?order_id=javascript%3Aalert%281%29`) {
		t.Errorf("tracking URL not encoded:\n%s", body)
	}
	_, body, _ = get(t, srv.URL+"/?q="+url.QueryEscape(evil))
	if !strings.Contains(body, `value="&#34;&gt;&lt;script&gt;`) {
		t.Errorf("the search value is not escaped in its attribute")
	}
}
