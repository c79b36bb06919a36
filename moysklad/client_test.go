package moysklad_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// fastSleep records backoffs and sleeps only a token amount of real time.
type fastSleep struct {
	mu    sync.Mutex
	slept []time.Duration
}

func (f *fastSleep) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.slept = append(f.slept, d)
	f.mu.Unlock()
	t := time.NewTimer(min(d, time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (f *fastSleep) Slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// newSim starts a simulator with a generous budget (tests that are not about
// rate limits should not wait for them).
func newSim(t *testing.T, opts moyskladtest.Options) *moyskladtest.Server {
	t.Helper()
	if opts.RequestsPerWindow == 0 {
		opts.RequestsPerWindow = 10000
		opts.Window = time.Second
	}
	s := moyskladtest.NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, s *moyskladtest.Server, mod func(*moysklad.Config)) *moysklad.Client {
	t.Helper()
	cfg := moysklad.Config{BaseURL: s.URL(), Token: s.Token(), RequestsPerWindow: 10000, Window: time.Second,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := moysklad.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestHeadersOnTheWire(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(`{"id":"e"}`))
		_ = zw.Close()
	}))
	defer srv.Close()
	c, err := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err) // the gzip body was decoded by the transport
	}
	if ae := got.Get("Accept-Encoding"); !strings.Contains(ae, "gzip") {
		t.Errorf("Accept-Encoding = %q", ae)
	}
	if a := got.Get("Authorization"); a != "Bearer tok-123" {
		t.Errorf("Authorization = %q", a)
	}
	if ua := got.Get("User-Agent"); ua != moysklad.DefaultUserAgent {
		t.Errorf("User-Agent = %q", ua)
	}
	tr := moysklad.NewTransport()
	if tr.DisableCompression || tr.IdleConnTimeout <= 0 || tr.IdleConnTimeout >= 30*time.Second {
		t.Errorf("transport: compression disabled %v, idle timeout %v", tr.DisableCompression, tr.IdleConnTimeout)
	}
}

func TestSimulatorRefusesWithoutGzipAndBadToken(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	// A transport that does not ask for gzip gets 415 with an empty body.
	noGzip := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	c := newClient(t, s, func(cfg *moysklad.Config) { cfg.HTTPClient = noGzip })
	err := c.Ping(context.Background())
	var e *moysklad.Error
	if !errors.As(err, &e) || e.StatusCode != 415 || len(e.Errors) != 0 {
		t.Fatalf("no gzip: %v", err)
	}
	// A wrong token gets 401/1056, is not retried and is not echoed.
	before := s.Requests()
	c = newClient(t, s, func(cfg *moysklad.Config) { cfg.Token = "wrong-token-777" })
	err = c.Ping(context.Background())
	if !errors.As(err, &e) || e.StatusCode != 401 || !e.HasCode(moysklad.CodeAuth) {
		t.Fatalf("bad token: %v", err)
	}
	if n := s.Requests() - before; n != 1 {
		t.Errorf("401 sent %d requests, want 1 (no retry)", n)
	}
	if strings.Contains(err.Error(), "wrong-token-777") || !strings.Contains(e.UserMessage(), "токен") {
		t.Errorf("error text: %q / %q", err.Error(), e.UserMessage())
	}
	if err := newClient(t, s, nil).Ping(context.Background()); err != nil {
		t.Fatalf("good token: %v", err)
	}
}

// seedOrders creates n orders; the clock moves by one millisecond every
// tieEvery orders, so runs of orders share the same updated.
func seedOrders(t *testing.T, n, tieEvery int) (*moyskladtest.Server, moyskladtest.Seeded, []string) {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, moysklad.Moscow)
	calls := 0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s := newSim(t, moyskladtest.Options{Now: clock})
	seed := moyskladtest.Seed(s)
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иван Петров", Phone: "+7 (999) 123-45-67"})
	prod := s.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Article: "TK-1", Weight: 1.2})
	var ids []string
	for i := 0; i < n; i++ {
		state := "Новый"
		if i%3 == 0 {
			state = moyskladtest.DefaultStates[0].Name // ready
		} else if i%3 == 1 {
			state = moyskladtest.DefaultStates[3].Name // delete
		}
		ids = append(ids, s.AddOrder(moyskladtest.OrderSeed{Name: fmt.Sprintf("A-%03d", i), AgentID: agent, StateName: state,
			Positions: []moyskladtest.PositionSeed{{ProductID: prod, Quantity: 1, Price: 150000}}}))
		calls++
		if calls%tieEvery == 0 {
			mu.Lock()
			now = now.Add(time.Millisecond)
			mu.Unlock()
		}
	}
	return s, seed, ids
}

func TestListOrdersPaging250WithTies(t *testing.T) {
	// 30 orders share each updated value, so ties straddle the page
	// boundaries at 100 and 200.
	s, _, ids := seedOrders(t, 250, 30)
	c := newClient(t, s, nil)
	orders, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 250 {
		t.Fatalf("got %d orders", len(orders))
	}
	seen := map[string]int{}
	for i, o := range orders {
		seen[o.ID]++
		if i > 0 {
			prev := orders[i-1]
			if o.Updated.Before(prev.Updated.Time) || (o.Updated.Equal(prev.Updated.Time) && o.ID < prev.ID) {
				t.Fatalf("order %d out of updated,id order", i)
			}
		}
		if o.Agent.Name != "Иван Петров" || o.State.Name == "" || len(o.Positions) != 1 || o.Positions[0].Assortment.Name != "Чайник" {
			t.Fatalf("order %d not expanded: %+v", i, o)
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("order %s seen %d times", id, seen[id])
		}
	}
	if got := s.RequestsByEndpoint()["GET /entity/customerorder"]; got != 3 {
		t.Errorf("list requests = %d, want 3 pages", got)
	}
	if got := s.RequestsByEndpoint()["GET /entity/customerorder/{id}/positions"]; got != 0 {
		t.Errorf("positions fetched separately %d times although all were expanded", got)
	}

	// A cursor in the middle of a tie run: updated >= the 4th distinct value
	// (orders 90…249).
	cursor := orders[90].Updated.Time
	rest, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{UpdatedFrom: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 160 || rest[0].ID != orders[90].ID {
		t.Errorf("from cursor: %d orders, first %s", len(rest), rest[0].Name)
	}
}

func TestListOrdersFilterByStatesAndUpdated(t *testing.T) {
	s, seed, _ := seedOrders(t, 30, 5)
	c := newClient(t, s, nil)
	ready, del := seed.States["ready"], seed.States["delete"]
	orders, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{StateHrefs: []string{ready.Meta.Href, del.Meta.Href}})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 20 {
		t.Fatalf("ready OR delete: %d orders, want 20", len(orders))
	}
	for _, o := range orders {
		if o.State.ID != ready.ID && o.State.ID != del.ID {
			t.Fatalf("order %s in state %s", o.Name, o.State.Name)
		}
	}
	// Both conditions together (AND across fields): from the 4th ms on.
	from := time.Date(2026, 11, 27, 10, 0, 0, 3e6, moysklad.Moscow)
	orders, err = c.ListOrders(context.Background(), moysklad.ListOrdersQuery{UpdatedFrom: from, StateHrefs: []string{ready.Meta.Href}})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 5 { // orders 15…29 with i%3==0
		t.Errorf("ready and updated>=: %d orders, want 5", len(orders))
	}
	for _, o := range orders {
		if o.Updated.Before(from) || o.State.ID != ready.ID {
			t.Errorf("order %s updated %s state %s", o.Name, o.Updated, o.State.Name)
		}
	}
}

// TestListOrdersRawQuery pins the exact request the client sends.
func TestListOrdersRawQuery(t *testing.T) {
	var raw []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		raw = append(raw, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"meta":{"size":0,"limit":100,"offset":0},"rows":[]}`)
	}))
	defer srv.Close()
	c, _ := moysklad.New(moysklad.Config{BaseURL: srv.URL + "/api/remap/1.2", Token: "t"})
	_, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{
		UpdatedFrom: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		StateHrefs:  []string{"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/s1", "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/s2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "/api/remap/1.2/entity/customerorder?filter=updated%3E%3D2026-11-27%2010%3A00%3A00.000" +
		"%3Bstate%3Dhttps%3A%2F%2Fapi.moysklad.ru%2Fapi%2Fremap%2F1.2%2Fentity%2Fcustomerorder%2Fmetadata%2Fstates%2Fs1" +
		"%3Bstate%3Dhttps%3A%2F%2Fapi.moysklad.ru%2Fapi%2Fremap%2F1.2%2Fentity%2Fcustomerorder%2Fmetadata%2Fstates%2Fs2" +
		"&order=updated%2Casc%3Bid%2Casc&limit=100&offset=0&expand=agent%2Cstate%2Cpositions.assortment"
	if len(raw) != 1 || raw[0] != want {
		t.Errorf("request\n got %v\nwant %s", raw, want)
	}
}

func TestSimulatorRejectsUnencodedFilter(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	for _, q := range []string{"filter=updated>=2026-01-01 00:00:00", "filter=name=1;name=2", "filter=updated%3E%3D2026-13-01"} {
		req, _ := http.NewRequest("GET", s.URL()+"/entity/customerorder", nil)
		req.URL.RawQuery = q
		req.Header.Set("Authorization", "Bearer "+s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// A raw space is refused by the HTTP layer itself.
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%q: status %d %s", q, resp.StatusCode, body)
		}
		if strings.Contains(q, " ") {
			continue // refused by the HTTP layer before the API sees it
		}
		if !bytes.Contains(body, []byte(`"code":1058`)) && !bytes.Contains(body, []byte(`"code":1035`)) {
			t.Errorf("%q: body %s", q, body)
		}
	}
}

func TestExpandIgnoredAboveLimit100(t *testing.T) {
	s, _, _ := seedOrders(t, 3, 1)
	get := func(q string) string {
		req, _ := http.NewRequest("GET", s.URL()+"/entity/customerorder?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "" {
			t.Error("transport should have decoded gzip")
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if b := get("limit=101&expand=agent"); strings.Contains(b, "Иван Петров") {
		t.Error("expand honoured with limit 101")
	}
	if b := get("expand=agent"); strings.Contains(b, "Иван Петров") {
		t.Error("expand honoured with the default limit 1000")
	}
	if b := get("limit=100&expand=agent"); !strings.Contains(b, "Иван Петров") {
		t.Error("expand ignored with limit 100")
	}
}

func TestPositionsBeyondExpandedAreFetched(t *testing.T) {
	s := newSim(t, moyskladtest.Options{ExpandedPositions: 3})
	moyskladtest.Seed(s)
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Покупатель"})
	var pos []moyskladtest.PositionSeed
	for i := 0; i < 7; i++ {
		p := s.AddProduct(moyskladtest.ProductSeed{Name: fmt.Sprintf("Товар %d", i), Weight: 0.5})
		pos = append(pos, moyskladtest.PositionSeed{ProductID: p, Quantity: float64(i + 1), Price: 1000})
	}
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "P-1", AgentID: agent, StateName: "Новый", Positions: pos})
	c := newClient(t, s, nil)
	for _, get := range []func() (moysklad.Order, error){
		func() (moysklad.Order, error) { return c.GetOrder(context.Background(), id) },
		func() (moysklad.Order, error) {
			os, err := c.ListOrders(context.Background(), moysklad.ListOrdersQuery{})
			if err != nil || len(os) != 1 {
				return moysklad.Order{}, fmt.Errorf("list: %v (%d)", err, len(os))
			}
			return os[0], nil
		},
	} {
		o, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Positions) != 7 || o.PositionsTotal != 7 {
			t.Fatalf("positions %d/%d", len(o.Positions), o.PositionsTotal)
		}
		for i, p := range o.Positions {
			if p.Assortment.Name != fmt.Sprintf("Товар %d", i) || p.Quantity != float64(i+1) || p.Price != 1000 || p.Assortment.Weight != 0.5 {
				t.Errorf("position %d: %+v", i, p)
			}
		}
		if o.Sum != 28000 {
			t.Errorf("sum = %d", o.Sum)
		}
	}
	if got := s.RequestsByEndpoint()["GET /entity/customerorder/{id}/positions"]; got != 2 {
		t.Errorf("positions requests = %d, want 2", got)
	}
}

func TestUpdateOrderEveryAttributeKind(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, moysklad.Moscow)
	s := newSim(t, moyskladtest.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	seed := moyskladtest.Seed(s)
	dict := s.AddDictionary("Перевозчики", "СДЭК", "Почта России")
	carrierDict := s.AddCustomEntityAttribute("Перевозчик (справочник)", dict)
	weight := s.AddAttribute("Вес, кг", "double")
	fragile := s.AddAttribute("Хрупкое", "boolean")
	site := s.AddAttribute("Ссылка", "link")
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Покупатель"})
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "U-1", AgentID: agent, StateName: seed.States["ready"].Name,
		Attributes: map[string]any{"Ошибка доставки": "старая ошибка", "Служба доставки": "СДЭК"}})
	before, _ := s.Order(id)
	mu.Lock()
	now = now.Add(1500 * time.Millisecond)
	mu.Unlock()

	c := newClient(t, s, nil)
	md, err := c.OrderMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	attr := func(name string) moysklad.Meta {
		a, ok := md.AttributeByName(name)
		if !ok {
			t.Fatalf("no attribute %q", name)
		}
		return a.Meta
	}
	registered, _ := md.StateByName(seed.States["registered"].Name)
	elem, _ := s.DictionaryElement(dict, "Почта России")
	pdf := []byte("%PDF-1.4 waybill \x00\x01\x02")
	o, err := c.UpdateOrder(context.Background(), id, moysklad.OrderUpdate{
		State: &registered.Meta,
		Attributes: []moysklad.AttributeValue{
			moysklad.StringValue(attr("Трек-номер"), "1234567890"),
			moysklad.TextValue(attr("Ошибка доставки"), "строка 1\nстрока 2"),
			moysklad.NumberValue(attr("Тариф доставки"), int64(136)),
			moysklad.NumberValue(weight.Meta, 2.75),
			moysklad.BoolValue(fragile.Meta, true),
			moysklad.LinkValue(site.Meta, "https://cdek.ru/track?id=1"),
			moysklad.EntityValue(carrierDict.Meta, elem),
			moysklad.FileValue(attr("Накладная"), "waybill-U-1.pdf", pdf),
			moysklad.ClearValue(attr("Служба доставки")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.PutsPerOrder(id); got != 1 {
		t.Errorf("PUTs = %d, want exactly 1", got)
	}
	snap, _ := s.Order(id)
	if snap.StateName != seed.States["registered"].Name {
		t.Errorf("state = %q", snap.StateName)
	}
	if !snap.Updated.After(before.Updated) || snap.Updated.Sub(before.Updated) != 1500*time.Millisecond {
		t.Errorf("updated %v -> %v", before.Updated, snap.Updated)
	}
	wantAttrs := map[string]any{
		"Трек-номер": "1234567890", "Ошибка доставки": "строка 1\nстрока 2", "Тариф доставки": int64(136),
		"Вес, кг": 2.75, "Хрупкое": true, "Ссылка": "https://cdek.ru/track?id=1",
		"Перевозчик (справочник)": "Почта России", "Накладная": "waybill-U-1.pdf",
	}
	for name, want := range wantAttrs {
		if got := snap.Attributes[name].Value; got != want {
			t.Errorf("stored %q = %#v, want %#v", name, got, want)
		}
	}
	if _, ok := snap.Attributes["Служба доставки"]; ok {
		t.Error("cleared attribute still set")
	}
	if f := snap.Attributes["Накладная"].File; f == nil || !bytes.Equal(f.Content, pdf) {
		t.Errorf("stored file = %+v", f)
	}

	// The answer is the stored order, readable through the typed accessors.
	if o.State.Name != registered.Name || !o.Updated.Equal(snap.Updated) {
		t.Errorf("answer state %q updated %v", o.State.Name, o.Updated)
	}
	get := func(name string) moysklad.Attribute {
		a, ok := o.AttributeByName(name)
		if !ok {
			t.Fatalf("answer lacks %q", name)
		}
		return a
	}
	if v, ok := get("Трек-номер").String(); !ok || v != "1234567890" {
		t.Errorf("track = %q", v)
	}
	if v, ok := get("Тариф доставки").Int(); !ok || v != 136 {
		t.Errorf("tariff = %d", v)
	}
	if v, ok := get("Вес, кг").Float(); !ok || v != 2.75 {
		t.Errorf("weight = %v", v)
	}
	if v, ok := get("Хрупкое").Bool(); !ok || !v {
		t.Errorf("fragile = %v", v)
	}
	if v, ok := get("Перевозчик (справочник)").String(); !ok || v != "Почта России" {
		t.Errorf("dictionary = %q", v)
	}
	wb := get("Накладная")
	if wb.FileName() != "waybill-U-1.pdf" || wb.Download == nil || wb.Download.Href != snap.Attributes["Накладная"].DownloadHref {
		t.Errorf("waybill = %+v", wb)
	}
	if _, ok := o.AttributeByName("Служба доставки"); ok {
		t.Error("cleared attribute in answer")
	}
	// The attached file can be downloaded with the token.
	req, _ := http.NewRequest("GET", wb.Download.Href, nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, pdf) {
		t.Errorf("download: %d %q", resp.StatusCode, body)
	}

	// Clearing a file and a text in one more PUT; by name for a dictionary.
	_, err = c.UpdateOrder(context.Background(), id, moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{
		moysklad.ClearFileValue(attr("Накладная")), moysklad.ClearValue(attr("Ошибка доставки")),
		moysklad.EntityNameValue(carrierDict.Meta, "СДЭК"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Order(id)
	if _, ok := snap.Attributes["Накладная"]; ok {
		t.Error("file not cleared")
	}
	if _, ok := snap.Attributes["Ошибка доставки"]; ok {
		t.Error("text not cleared")
	}
	if snap.Attr("Перевозчик (справочник)") != "СДЭК" || snap.Puts != 2 {
		t.Errorf("after second PUT: %+v", snap)
	}
}

func TestUpdateOrderRefusals(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	seed := moyskladtest.Seed(s)
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "R-1", StateName: "Новый"})
	c := newClient(t, s, nil)
	base := s.URL()
	tariff := seed.Attributes["tariff"].Meta
	cases := []struct {
		name   string
		update moysklad.OrderUpdate
		code   int
	}{
		{"unknown state", moysklad.OrderUpdate{State: &moysklad.Meta{Href: base + "/entity/customerorder/metadata/states/00000000-0000-0000-0000-000000000000"}}, 1021},
		{"state of another document type", moysklad.OrderUpdate{State: &moysklad.Meta{Href: base + "/entity/demand/metadata/states/" + seed.States["ready"].ID}}, 11002},
		{"unknown attribute", moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(moysklad.Meta{Href: base + "/entity/customerorder/metadata/attributes/00000000-0000-0000-0000-000000000000"}, "x")}}, 14003},
		{"attribute of another entity", moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(moysklad.Meta{Href: base + "/entity/demand/metadata/attributes/" + seed.Attributes["tracking_number"].ID}, "x")}}, 14000},
		{"string into long", moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(tariff, "136")}}, 2016},
		{"fraction into long", moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.NumberValue(tariff, 1.5)}}, 2016},
	}
	for _, tc := range cases {
		before := s.Requests()
		_, err := c.UpdateOrder(context.Background(), id, tc.update)
		var e *moysklad.Error
		if !errors.As(err, &e) || e.StatusCode != 400 || !e.HasCode(tc.code) {
			t.Errorf("%s: %v, want 400 with code %d", tc.name, err, tc.code)
			continue
		}
		if moysklad.IsRetryable(err) || s.Requests()-before != 1 {
			t.Errorf("%s: retried (%d requests)", tc.name, s.Requests()-before)
		}
	}
	snap, _ := s.Order(id)
	if snap.Puts != 0 || snap.StateName != "Новый" || len(snap.Attributes) != 0 {
		t.Errorf("a refused PUT changed the order: %+v", snap)
	}
	// A valid state together with an invalid attribute changes nothing either.
	failedMeta := seed.States["failed"].Meta
	_, err := c.UpdateOrder(context.Background(), id, moysklad.OrderUpdate{State: &failedMeta,
		Attributes: []moysklad.AttributeValue{moysklad.StringValue(tariff, "x")}})
	if err == nil {
		t.Fatal("accepted")
	}
	if snap, _ := s.Order(id); snap.StateName != "Новый" {
		t.Errorf("partially applied: state %q", snap.StateName)
	}
	if _, err := c.GetOrder(context.Background(), "00000000-0000-0000-0000-000000000000"); !moysklad.IsNotFound(err) {
		t.Errorf("missing order: %v", err)
	}
}

func TestCreateStateAndAttribute(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	c := newClient(t, s, nil)
	ctx := context.Background()
	st, err := c.CreateState(ctx, "Готов к отгрузке", 10667543, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID == "" || st.Name != "Готов к отгрузке" || st.StateType != "Regular" || st.Color != 10667543 || !strings.HasPrefix(st.Meta.Href, s.URL()+"/entity/customerorder/metadata/states/") {
		t.Errorf("state = %+v", st)
	}
	def, err := c.CreateAttribute(ctx, moysklad.AttributeDef{Name: "Накладная", Type: "file", Description: "PDF"})
	if err != nil {
		t.Fatal(err)
	}
	if def.ID == "" || def.Type != "file" || def.Meta.Type != "attributemetadata" {
		t.Errorf("attribute = %+v", def)
	}
	dict := s.AddDictionary("Службы доставки", "СДЭК")
	ce, err := c.CreateAttribute(ctx, moysklad.AttributeDef{Name: "Служба доставки", Type: "customentity",
		CustomEntityMeta: &moysklad.Meta{Href: s.URL() + "/entity/customentity/" + dict + "/metadata"}})
	if err != nil || ce.CustomEntityMeta == nil {
		t.Fatalf("customentity attribute: %+v %v", ce, err)
	}
	md, err := c.OrderMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := md.StateByName("Готов к отгрузке"); !ok || got.ID != st.ID {
		t.Errorf("metadata state = %+v", got)
	}
	if got, ok := md.AttributeByName("Накладная"); !ok || got.ID != def.ID || got.Description != "PDF" {
		t.Errorf("metadata attribute = %+v", got)
	}
	before := s.Requests()
	_, err = c.CreateAttribute(ctx, moysklad.AttributeDef{Name: "Без типа"})
	var e *moysklad.Error
	if !errors.As(err, &e) || !e.HasCode(3000) || e.Errors[0].ParameterName != "type" || s.Requests()-before != 1 {
		t.Errorf("missing type: %v", err)
	}
	if _, err := c.CreateAttribute(ctx, moysklad.AttributeDef{Name: "Флажок", Type: "boolean", Required: true}); err == nil {
		t.Error("a required boolean attribute was accepted")
	}
}

func TestRetryRules(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	moyskladtest.Seed(s)
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "X-1", StateName: "Новый"})
	sl := &fastSleep{}
	c := newClient(t, s, func(cfg *moysklad.Config) {
		cfg.Sleep = sl.Sleep
		cfg.RetryBaseDelay = 100 * time.Millisecond
		cfg.RetryMaxDelay = 400 * time.Millisecond
		cfg.MaxRetries = 3
	})
	ctx := context.Background()

	t.Run("5xx retried with capped backoff", func(t *testing.T) {
		s.FailNext(3, 503)
		before := s.Requests()
		if _, err := c.GetOrder(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := s.Requests() - before; n != 4 {
			t.Errorf("requests = %d, want 4", n)
		}
		slept := sl.Slept()
		want := []time.Duration{100, 200, 400}
		for i, d := range slept[len(slept)-3:] {
			w := want[i] * time.Millisecond
			if d < w/2 || d > w {
				t.Errorf("backoff %d = %v, want in [%v, %v]", i, d, w/2, w)
			}
		}
	})
	t.Run("gives up after MaxRetries", func(t *testing.T) {
		s.FailNext(10, 500)
		before := s.Requests()
		_, err := c.GetOrder(ctx, id)
		var e *moysklad.Error
		if !errors.As(err, &e) || e.StatusCode != 500 || !moysklad.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
		if n := s.Requests() - before; n != 4 {
			t.Errorf("requests = %d, want 1+3", n)
		}
		s.FailNext(0, 0)
	})
	t.Run("429 retried after the announced pause", func(t *testing.T) {
		s.FailNext(1, 429)
		n0 := len(sl.Slept())
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		slept := sl.Slept()[n0:]
		var total time.Duration
		for _, d := range slept {
			total += d
		}
		if total < time.Second { // X-Lognex-Retry-After = window (1 s)
			t.Errorf("waited %v (%v) after a 429 asking for 1 s", total, slept)
		}
		if c.TooManyRequests() < 1 {
			t.Error("429 not counted")
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		for _, code := range []int{400, 403, 404, 409} {
			s.FailNext(1, code)
			before := s.Requests()
			err := c.Ping(ctx)
			if err == nil || moysklad.IsRetryable(err) || s.Requests()-before != 1 {
				t.Errorf("%d: err=%v requests=%d", code, err, s.Requests()-before)
			}
		}
	})
	t.Run("POST not repeated after a 5xx", func(t *testing.T) {
		s.FailNext(1, 502)
		before := s.Requests()
		if _, err := c.CreateState(ctx, "Новый статус", 1, ""); err == nil {
			t.Fatal("expected the 502")
		}
		if s.Requests()-before != 1 {
			t.Errorf("POST repeated %d times", s.Requests()-before)
		}
		s.FailNext(1, 429)
		if _, err := c.CreateState(ctx, "Новый статус", 1, ""); err != nil {
			t.Errorf("POST after a 429: %v", err)
		}
	})
	t.Run("context cancel stops retrying", func(t *testing.T) {
		s.FailNext(100, 503)
		defer s.FailNext(0, 0)
		slow := newClient(t, s, func(cfg *moysklad.Config) {
			cfg.RetryBaseDelay = time.Hour
			cfg.RetryMaxDelay = time.Hour
		})
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := slow.Ping(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
		if moysklad.IsRetryable(err) {
			t.Error("a cancelled call is retryable")
		}
	})
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // connection reset without an answer
			}
			return
		}
		_, _ = io.WriteString(w, `{"id":"e"}`)
	}))
	defer srv.Close()
	c, _ := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "t", RetryBaseDelay: time.Millisecond, RetryMaxDelay: 2 * time.Millisecond})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d", calls.Load())
	}
	var ne *moysklad.NetworkError
	if !moysklad.IsRetryable(&moysklad.NetworkError{Err: io.ErrUnexpectedEOF}) || errors.As(error(nil), &ne) {
		t.Error("network errors must be retryable")
	}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, _ = moysklad.New(moysklad.Config{BaseURL: "http://" + addr, Token: "t", MaxRetries: 2, RetryBaseDelay: time.Millisecond})
	err := c.Ping(context.Background())
	if !errors.As(err, &ne) || !moysklad.IsRetryable(err) || c.Requests() != 3 {
		t.Errorf("refused: %v (requests %d)", err, c.Requests())
	}
}

type countingObserver struct {
	mu       sync.Mutex
	requests map[string]int
	waits    int
}

func (o *countingObserver) ObserveRequest(method, endpoint string, status int, d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[fmt.Sprintf("%s %s %d", method, endpoint, status)]++
}

func (o *countingObserver) ObserveRateLimitWait(time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits++
}

// TestLimiterAgainstSimulator drives concurrent callers through a tight
// budget: no 429 may occur, at most MaxParallel are in flight, and the
// observer sees every attempt and every wait.
func TestLimiterAgainstSimulator(t *testing.T) {
	s := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 11, Window: 200 * time.Millisecond, MaxParallel: 5,
		Latency: func() time.Duration { return 2 * time.Millisecond }})
	defer s.Close()
	obs := &countingObserver{requests: map[string]int{}}
	c := newClient(t, s, func(cfg *moysklad.Config) {
		cfg.RequestsPerWindow, cfg.Window, cfg.MaxParallel, cfg.Observer = 11, 200*time.Millisecond, 4, obs
	})
	const workers, each = 8, 8
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- c.Ping(context.Background())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if s.TooManyRequests() != 0 {
		t.Errorf("429s = %d", s.TooManyRequests())
	}
	if s.MaxInFlight() > 4 {
		t.Errorf("in flight = %d > 4", s.MaxInFlight())
	}
	if min := time.Duration(workers*each/11-1) * 200 * time.Millisecond; elapsed < min {
		t.Errorf("64 requests in %v: faster than the budget allows (%v)", elapsed, min)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.requests["GET /context/employee 200"] != workers*each || obs.waits == 0 || int64(obs.waits) != c.RateLimitWaits() {
		t.Errorf("observer: %v waits %d (client %d)", obs.requests, obs.waits, c.RateLimitWaits())
	}
}

func TestParallelLimit1073IsRetried(t *testing.T) {
	s := newSim(t, moyskladtest.Options{MaxParallel: 2, Latency: func() time.Duration { return 15 * time.Millisecond }})
	c := newClient(t, s, func(cfg *moysklad.Config) { cfg.MaxParallel = 6; cfg.MaxRetries = 20 })
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Ping(context.Background()); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d calls failed", failed.Load())
	}
	if s.ParallelRejects() == 0 {
		t.Error("the simulator never refused a parallel request (test is not exercising 1073)")
	}
	if s.MaxInFlight() > 2 {
		t.Errorf("simulator admitted %d in flight", s.MaxInFlight())
	}
}

// TestRemainingZeroPausesEveryone: when MoySklad says the budget is spent,
// the next request waits for X-Lognex-Retry-After even though the client's
// own limiter would allow it.
func TestRemainingZeroPausesEveryone(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-Lognex-Retry-After", "700")
		} else {
			w.Header().Set("X-RateLimit-Remaining", "5")
		}
		_, _ = io.WriteString(w, `{"id":"e"}`)
	}))
	defer srv.Close()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	obs := &countingObserver{requests: map[string]int{}}
	c, _ := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "t", RequestsPerWindow: 100, Window: time.Second, Observer: obs,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			now = now.Add(d)
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		}})
	for i := 0; i < 2; i++ {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var total time.Duration
	for _, d := range waits {
		total += d
	}
	if total < 700*time.Millisecond || c.RateLimitWaits() != 1 {
		t.Errorf("second request waited %v (%d waits), want >= 700ms", total, c.RateLimitWaits())
	}
}

func TestAnswerTooLargeIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for i := 0; i < 20; i++ { // 20 MiB of whitespace
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "t", RequestsPerWindow: 100, Window: time.Second,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.OrderMetadata(context.Background())
	if !errors.Is(err, moysklad.ErrAnswerTooLarge) || moysklad.IsRetryable(err) {
		t.Errorf("err = %v (retryable %v)", err, moysklad.IsRetryable(err))
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1", calls.Load())
	}
}

func TestListOrdersPagesHandsOverEachPage(t *testing.T) {
	s, _, ids := seedOrders(t, 250, 30)
	c := newClient(t, s, nil)
	var sizes []int
	seen := map[string]int{}
	err := c.ListOrdersPages(context.Background(), moysklad.ListOrdersQuery{}, func(page []moysklad.Order) error {
		sizes = append(sizes, len(page))
		for _, o := range page {
			seen[o.ID]++
			if len(o.Positions) != 1 {
				t.Errorf("order %s handed over without its positions", o.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("pages %v", sizes)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("order %s handed over %d times", id, seen[id])
		}
	}
	// An error from the callback stops the listing.
	stop := errors.New("stop")
	calls := 0
	err = c.ListOrdersPages(context.Background(), moysklad.ListOrdersQuery{}, func([]moysklad.Order) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err %v after %d calls", err, calls)
	}
}

// A page of orders over the answer bound (orders with very many expanded
// positions) is asked for again at half the limit, and the listing goes on
// with the smaller pages: nothing is skipped and nothing fails.
func TestListOrdersHalvesPagesOverTheBodyBound(t *testing.T) {
	s, _, ids := seedOrders(t, 250, 30)
	// The size of a full page as the simulator sends it (decompressed).
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/entity/customerorder?limit=100&expand=agent,state,positions.assortment", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	full, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("probe: %v, HTTP %d", err, resp.StatusCode)
	}
	// A page of 100 is over the bound, one of 50 under it.
	bound := int64(len(full)) * 6 / 10
	c := newClient(t, s, func(cfg *moysklad.Config) { cfg.MaxBodyBytes = bound })
	before := s.RequestsByEndpoint()["GET /entity/customerorder"]
	var sizes []int
	seen := map[string]int{}
	err = c.ListOrdersPages(context.Background(), moysklad.ListOrdersQuery{}, func(page []moysklad.Order) error {
		sizes = append(sizes, len(page))
		for _, o := range page {
			seen[o.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[50 50 50 50 50]" {
		t.Errorf("pages %v, want five of 50", sizes)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("order %s handed over %d times", id, seen[id])
		}
	}
	// One refused page of 100, then five of 50.
	if got := s.RequestsByEndpoint()["GET /entity/customerorder"] - before; got != 6 {
		t.Errorf("list requests %d, want 6", got)
	}
	// A single order over the bound is an error, not an endless halving.
	tiny := newClient(t, s, func(cfg *moysklad.Config) { cfg.MaxBodyBytes = 64 })
	err = tiny.ListOrdersPages(context.Background(), moysklad.ListOrdersQuery{}, func([]moysklad.Order) error { return nil })
	if !errors.Is(err, moysklad.ErrAnswerTooLarge) {
		t.Errorf("one order over the bound: %v, want ErrAnswerTooLarge", err)
	}
}
