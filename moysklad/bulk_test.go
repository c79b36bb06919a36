package moysklad_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// bulkAccount is a simulator with n orders in "ready" and the metadata.
type bulkAccount struct {
	s    *moyskladtest.Server
	seed moyskladtest.Seeded
	ids  []string
}

func newBulkAccount(t *testing.T, opts moyskladtest.Options, n int, attrs map[string]any) bulkAccount {
	t.Helper()
	s := newSim(t, opts)
	seed := moyskladtest.Seed(s)
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Покупатель"})
	b := bulkAccount{s: s, seed: seed}
	for i := 0; i < n; i++ {
		b.ids = append(b.ids, s.AddOrder(moyskladtest.OrderSeed{Name: fmt.Sprintf("B-%04d", i), AgentID: agent,
			StateName: seed.States["ready"].Name, Attributes: attrs}))
	}
	return b
}

func (b bulkAccount) registered(id, track string) moysklad.BulkUpdate {
	st := b.seed.States["registered"].Meta
	return moysklad.BulkUpdate{ID: id, Update: moysklad.OrderUpdate{State: &st, Attributes: []moysklad.AttributeValue{
		moysklad.StringValue(b.seed.Attributes["tracking_number"].Meta, track)}}}
}

// Per-element results: valid updates are stored, refused ones carry the
// service's error with its code, all in one request.
func TestUpdateOrdersPartialFailure(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 4, nil)
	c := newClient(t, b.s, nil)
	bad := b.registered(b.ids[1], "x")
	bad.Update.Attributes = append(bad.Update.Attributes, moysklad.StringValue(moysklad.Meta{
		Href: b.s.URL() + "/entity/customerorder/metadata/attributes/00000000-0000-0000-0000-000000000000", Type: "attributemetadata"}, "?"))
	foreign := b.registered(b.ids[3], "y")
	foreign.Update.State = &moysklad.Meta{Href: b.s.URL() + "/entity/demand/metadata/states/" + b.seed.States["ready"].ID, Type: "state"}
	updates := []moysklad.BulkUpdate{
		b.registered(b.ids[0], "T0"),
		bad,
		b.registered("11111111-2222-3333-4444-555555555555", "T?"), // no such order
		foreign,
		b.registered(b.ids[2], "T2"),
	}
	res, err := c.UpdateOrders(context.Background(), updates)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		o    moysklad.BulkOutcome
		code int
	}{{moysklad.BulkApplied, 0}, {moysklad.BulkRefused, moysklad.CodeUnknownAttribute}, {moysklad.BulkRefused, moysklad.CodeNotFound},
		{moysklad.BulkRefused, moysklad.CodeStateForeign}, {moysklad.BulkApplied, 0}}
	for i, w := range want {
		r := res[i]
		var e *moysklad.Error
		if r.ID != updates[i].ID || r.Outcome != w.o || (w.code != 0 && (!errors.As(r.Err, &e) || !e.HasCode(w.code))) ||
			(w.o == moysklad.BulkApplied && (r.Err != nil || r.Updated.IsZero())) {
			t.Errorf("result %d: %+v (want %v, code %d)", i, r, w.o, w.code)
		}
	}
	for i, id := range b.ids {
		o, _ := b.s.Order(id)
		stored := o.StateName == b.seed.States["registered"].Name
		if stored != (i == 0 || i == 2) || (i == 1 && o.Attr("Трек-номер") != "") {
			t.Errorf("order %d: %s, tracking %q", i, o.StateName, o.Attr("Трек-номер"))
		}
	}
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 1 {
		t.Errorf("%d requests", n)
	}
}

// echoBulk answers a bulk POST as the schema says: one element per request
// element, each the stored order (meta, id, updated). It records each
// request's element count and body size.
type echoBulk struct {
	mu    sync.Mutex
	sizes []int
	items []int
	fail  func(n int, w http.ResponseWriter) bool // n is the 1-based request number
}

func (e *echoBulk) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var arr []struct {
			Meta moysklad.Meta `json:"meta"`
		}
		if err := json.Unmarshal(body, &arr); err != nil {
			t.Errorf("bulk body is not an array: %v", err)
		}
		e.mu.Lock()
		e.sizes = append(e.sizes, len(body))
		e.items = append(e.items, len(arr))
		n := len(e.sizes)
		e.mu.Unlock()
		if e.fail != nil && e.fail(n, w) {
			return
		}
		var out bytes.Buffer
		out.WriteByte('[')
		for i, a := range arr {
			if i > 0 {
				out.WriteByte(',')
			}
			fmt.Fprintf(&out, `{"meta":{"href":%q,"type":"customerorder"},"id":%q,"updated":"2026-12-01 10:00:00.000"}`, a.Meta.Href, a.Meta.ID())
		}
		out.WriteByte(']')
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = w.Write(out.Bytes())
	}
}

// seen returns copies of the recorded sizes and element counts.
func (e *echoBulk) seen() (sizes, items []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.sizes...), append([]int(nil), e.items...)
}

func echoClient(t *testing.T, e *echoBulk, mod func(*moysklad.Config)) *moysklad.Client {
	t.Helper()
	srv := httptest.NewServer(e.handler(t))
	t.Cleanup(srv.Close)
	cfg := moysklad.Config{BaseURL: srv.URL + "/api/remap/1.2", Token: "t", RequestsPerWindow: 10000, Window: time.Second,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 2 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := moysklad.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func uuidN(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i) }

var trackMeta = moysklad.Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/aaaaaaaa-0000-4000-8000-000000000001", Type: "attributemetadata"}
var waybillMeta = moysklad.Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/aaaaaaaa-0000-4000-8000-000000000002", Type: "attributemetadata"}

// At most 1,000 updates per request.
func TestUpdateOrdersSplitsAt1000(t *testing.T) {
	e := &echoBulk{}
	c := echoClient(t, e, nil)
	var ups []moysklad.BulkUpdate
	for i := 0; i < 2500; i++ {
		ups = append(ups, moysklad.BulkUpdate{ID: uuidN(i), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(trackMeta, "T")}}})
	}
	res, err := c.UpdateOrders(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != moysklad.BulkApplied || r.ID != uuidN(i) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if _, items := e.seen(); fmt.Sprint(items) != "[1000 1000 500]" {
		t.Errorf("requests carried %v updates", items)
	}
}

// Waybills travel base64 in the body: requests stay under the byte bound,
// and an update too large alone is not sent.
func TestUpdateOrdersSplitsByBodySize(t *testing.T) {
	e := &echoBulk{}
	const bound = 1 << 20
	c := echoClient(t, e, func(cfg *moysklad.Config) { cfg.BulkMaxBytes = bound })
	pdf := bytes.Repeat([]byte("%PDF-1.7 "), 300<<10/9) // ~300 KB → ~400 KB of base64
	var ups []moysklad.BulkUpdate
	for i := 0; i < 10; i++ {
		ups = append(ups, moysklad.BulkUpdate{ID: uuidN(i), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{
			moysklad.FileValue(waybillMeta, fmt.Sprintf("w%d.pdf", i), pdf)}}})
	}
	huge := moysklad.BulkUpdate{ID: uuidN(99), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{
		moysklad.FileValue(waybillMeta, "huge.pdf", bytes.Repeat([]byte("x"), 900<<10))}}}
	ups = append(ups[:5], append([]moysklad.BulkUpdate{huge}, ups[5:]...)...)
	res, err := c.UpdateOrders(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 5 {
			if r.Outcome != moysklad.BulkNotSent || !errors.Is(r.Err, moysklad.ErrBulkItemTooLarge) {
				t.Errorf("huge update: %+v", r)
			}
			continue
		}
		if r.Outcome != moysklad.BulkApplied {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	total := 0
	sizes, items := e.seen()
	for i, n := range sizes {
		if n > bound {
			t.Errorf("request %d: %d bytes over the bound %d", i, n, bound)
		}
		total += items[i]
	}
	if total != 10 || len(sizes) < 4 {
		t.Errorf("%d updates in %d requests (%v)", total, len(sizes), items)
	}
}

// A lost answer makes that request's updates unknown (re-read, then decide)
// and stops the call; updates sent before keep their results, updates after
// are not sent. The request is not repeated by itself.
func TestUpdateOrdersAnswerLost(t *testing.T) {
	for _, mode := range []string{"connection closed", "503"} {
		t.Run(mode, func(t *testing.T) {
			e := &echoBulk{fail: func(n int, w http.ResponseWriter) bool {
				if n != 2 {
					return false
				}
				if mode == "503" {
					w.WriteHeader(503)
					return true
				}
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			}}
			c := echoClient(t, e, nil)
			var ups []moysklad.BulkUpdate
			for i := 0; i < 2100; i++ {
				ups = append(ups, moysklad.BulkUpdate{ID: uuidN(i), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(trackMeta, "T")}}})
			}
			res, err := c.UpdateOrders(context.Background(), ups)
			if !errors.Is(err, moysklad.ErrBulkAnswerLost) {
				t.Fatalf("err = %v", err)
			}
			for i, r := range res {
				want := moysklad.BulkApplied
				switch {
				case i >= 1000 && i < 2000:
					want = moysklad.BulkUnknown
				case i >= 2000:
					want = moysklad.BulkNotSent
				}
				if r.Outcome != want || (want == moysklad.BulkUnknown && !errors.Is(r.Err, moysklad.ErrBulkAnswerLost)) ||
					(want == moysklad.BulkNotSent && !errors.Is(r.Err, moysklad.ErrBulkNotSent)) {
					t.Fatalf("result %d: %+v, want %v", i, r, want)
				}
			}
			if _, items := e.seen(); len(items) != 2 {
				t.Errorf("requests %v: the lost one was repeated or the call went on", items)
			}
		})
	}
}

// An answer that cannot be matched to the request is as good as lost.
func TestUpdateOrdersMismatchedAnswer(t *testing.T) {
	_, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"POST /entity/customerorder": fixed(`[{"meta":{"href":"https://x/api/remap/1.2/entity/customerorder/` + uuidN(7) + `","type":"customerorder"},"id":"` + uuidN(7) + `"}]`),
	})
	res, err := c.UpdateOrders(context.Background(), []moysklad.BulkUpdate{{ID: uuidN(1), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(trackMeta, "T")}}}})
	if !errors.Is(err, moysklad.ErrBulkAnswerLost) || res[0].Outcome != moysklad.BulkUnknown {
		t.Fatalf("%v %+v", err, res)
	}
}

// Per-element results that come with a non-2xx status are still read per
// element; a request refused as a whole refuses its updates.
func TestUpdateOrdersErrorStatuses(t *testing.T) {
	var calls atomic.Int32
	_, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"POST /entity/customerorder": func(r *http.Request) (int, string) {
			if calls.Add(1) == 1 {
				return 400, `[{"meta":{"href":"https://x/api/remap/1.2/entity/customerorder/` + uuidN(1) + `","type":"customerorder"},"id":"` + uuidN(1) + `","updated":"2026-12-01 10:00:00"},` +
					`{"errors":[{"error":"Ошибка сохранения объекта: поле 'name' не может быть пустым или отсутствовать","code":3000,"parameter":"name"}]}]`
			}
			return 413, `{"errors":[{"error":"Ошибка формата: слишком большое число вложенных объектов","code":2007}]}`
		},
	})
	ups := []moysklad.BulkUpdate{
		{ID: uuidN(1), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(trackMeta, "T")}}},
		{ID: uuidN(2), Update: moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{moysklad.StringValue(trackMeta, "T")}}},
	}
	res, err := c.UpdateOrders(context.Background(), ups)
	var e *moysklad.Error
	if err != nil || res[0].Outcome != moysklad.BulkApplied || res[1].Outcome != moysklad.BulkRefused ||
		!errors.As(res[1].Err, &e) || !e.HasCode(3000) || e.StatusCode != 400 {
		t.Fatalf("%v %+v", err, res)
	}
	res, err = c.UpdateOrders(context.Background(), ups)
	if err != nil || res[0].Outcome != moysklad.BulkRefused || res[1].Outcome != moysklad.BulkRefused || !errors.As(res[0].Err, &e) || e.StatusCode != 413 {
		t.Fatalf("%v %+v", err, res)
	}
}

// 429 means the request was not processed: it is retried like every request.
func TestUpdateOrders429IsRetried(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 3, nil)
	c := newClient(t, b.s, nil)
	b.s.FailNext(1, http.StatusTooManyRequests)
	res, err := c.UpdateOrders(context.Background(), []moysklad.BulkUpdate{b.registered(b.ids[0], "1"), b.registered(b.ids[1], "2")})
	if err != nil || res[0].Outcome != moysklad.BulkApplied || res[1].Outcome != moysklad.BulkApplied {
		t.Fatalf("%v %+v", err, res)
	}
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 2 {
		t.Errorf("%d requests", n)
	}
	// A 503 is not repeated: MoySklad may have stored part of it.
	b.s.FailNext(1, http.StatusServiceUnavailable)
	res, err = c.UpdateOrders(context.Background(), []moysklad.BulkUpdate{b.registered(b.ids[2], "3")})
	if !errors.Is(err, moysklad.ErrBulkAnswerLost) || res[0].Outcome != moysklad.BulkUnknown {
		t.Fatalf("%v %+v", err, res)
	}
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 3 {
		t.Errorf("%d requests", n)
	}
}

// A held waybill (14001) is cleared and replaced within the bulk call.
func TestUpdateOrdersReplacesHeldFiles(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 3, nil)
	if err := b.s.SetOrderAttribute(b.ids[0], "Накладная", moyskladtest.File{Name: "old.pdf", Content: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, b.s, nil)
	var ups []moysklad.BulkUpdate
	for i, id := range b.ids {
		u := b.registered(id, fmt.Sprint(i))
		u.Update.Attributes = append(u.Update.Attributes, moysklad.FileValue(b.seed.Attributes["waybill"].Meta, fmt.Sprintf("new%d.pdf", i), []byte("%PDF new")))
		ups = append(ups, u)
	}
	res, err := c.UpdateOrders(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		o, _ := b.s.Order(b.ids[i])
		if r.Outcome != moysklad.BulkApplied || o.Attributes["Накладная"].File == nil || o.Attributes["Накладная"].File.Name != fmt.Sprintf("new%d.pdf", i) ||
			o.StateName != b.seed.States["registered"].Name {
			t.Errorf("order %d: %+v, %+v", i, r, o)
		}
	}
	// The first request, a clear for the one order that held a file, then its update.
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 3 {
		t.Errorf("%d requests", n)
	}
}

// Nothing to send is not an error; an empty update is not sent.
func TestUpdateOrdersEdgeCases(t *testing.T) {
	e := &echoBulk{}
	c := echoClient(t, e, nil)
	res, err := c.UpdateOrders(context.Background(), nil)
	if _, items := e.seen(); err != nil || len(res) != 0 || len(items) != 0 {
		t.Fatalf("%v %v %v", err, res, items)
	}
	res, err = c.UpdateOrders(context.Background(), []moysklad.BulkUpdate{{ID: uuidN(1)}})
	if _, items := e.seen(); err != nil || res[0].Outcome != moysklad.BulkNotSent || len(items) != 0 || !strings.Contains(res[0].Err.Error(), "changes nothing") {
		t.Fatalf("%v %+v", err, res)
	}
}

// Files behind a Source (a store) travel as files in memory do; a request
// sent again after a 429 reads them again.
func TestUpdateOrdersFilesFromASource(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 2, nil)
	c := newClient(t, b.s, nil)
	var reads atomic.Int32
	var ups []moysklad.BulkUpdate
	for i, id := range b.ids {
		pdf := []byte(fmt.Sprintf("%%PDF-1.7 waybill %d", i))
		u := b.registered(id, fmt.Sprint(i))
		f := moysklad.FileValue(b.seed.Attributes["waybill"].Meta, fmt.Sprintf("w%d.pdf", i), nil)
		f.File.Size = len(pdf)
		f.File.Source = func(fn func([]byte) error) error {
			reads.Add(1)
			return fn(bytes.Clone(pdf))
		}
		u.Update.Attributes = append(u.Update.Attributes, f)
		ups = append(ups, u)
	}
	b.s.FailNext(1, http.StatusTooManyRequests)
	res, err := c.UpdateOrders(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		o, _ := b.s.Order(b.ids[i])
		if r.Outcome != moysklad.BulkApplied || o.Attributes["Накладная"].File == nil ||
			string(o.Attributes["Накладная"].File.Content) != fmt.Sprintf("%%PDF-1.7 waybill %d", i) {
			t.Errorf("order %d: %+v, %+v", i, r, o.Attributes["Накладная"].File)
		}
	}
	if n := reads.Load(); n != 4 {
		t.Errorf("sources read %d times, want 4 (two files, two attempts)", n)
	}
}
