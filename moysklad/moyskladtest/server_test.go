package moyskladtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

// raw performs a request without the moysklad client, asking for gzip and
// decoding it by hand so that the Content-Encoding can be checked.
func raw(t *testing.T, s *Server, method, path, query, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = query
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		data, _ = io.ReadAll(zr)
	} else if len(data) > 0 {
		t.Errorf("%s %s: body not gzip-encoded although asked", method, path)
	}
	return resp, data
}

type errBody struct {
	Errors []moysklad.APIError `json:"errors"`
}

func decodeErr(t *testing.T, b []byte) moysklad.APIError {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("error body %s: %v", b, err)
	}
	return e.Errors[0]
}

func TestAdmissionRefusals(t *testing.T) {
	// A window long enough that a loaded machine still sends 4 requests in it.
	s := NewServer(Options{RequestsPerWindow: 3, Window: 2 * time.Second})
	defer s.Close()

	// No gzip: 415 with an empty body.
	req, _ := http.NewRequest("GET", s.URL()+"/context/employee", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 415 || len(b) != 0 {
		t.Errorf("no gzip: %d %q", resp.StatusCode, b)
	}
	req.Header.Set("Accept-Encoding", "deflate, br")
	resp, _ = (&http.Client{Transport: tr}).Do(req)
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("other encoding: %d", resp.StatusCode)
	}

	// Wrong token: 401 with MoySklad's body.
	resp, b = raw(t, s, "GET", "/context/employee", "", "nope", nil)
	if e := decodeErr(t, b); resp.StatusCode != 401 || e.Code != 1056 || !strings.HasPrefix(e.Error, "Ошибка аутентификации") {
		t.Errorf("bad token: %d %+v", resp.StatusCode, e)
	}
	resp, _ = raw(t, s, "GET", "/context/employee", "", "", nil)
	if resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}

	// Budget: 3 accepted in the window with the rate headers, the 4th refused.
	for i := 0; i < 3; i++ {
		resp, _ = raw(t, s, "GET", "/context/employee", "", s.Token(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if got, want := resp.Header.Get("X-RateLimit-Remaining"), []string{"2", "1", "0"}[i]; got != want {
			t.Errorf("request %d: remaining %s, want %s", i, got, want)
		}
		if resp.Header.Get("X-RateLimit-Limit") != "3" || resp.Header.Get("X-Lognex-Retry-TimeInterval") != "2000" {
			t.Errorf("headers %v", resp.Header)
		}
	}
	resp, b = raw(t, s, "GET", "/context/employee", "", s.Token(), nil)
	if e := decodeErr(t, b); resp.StatusCode != 429 || e.Code != 1049 {
		t.Errorf("over budget: %d %+v", resp.StatusCode, e)
	}
	ra := resp.Header.Get("X-Lognex-Retry-After")
	if resp.Header.Get("X-RateLimit-Remaining") != "0" || ra == "" || ra == "0" || resp.Header.Get("X-Lognex-Reset") == "" {
		t.Errorf("429 headers %v", resp.Header)
	}
	if s.TooManyRequests() != 1 {
		t.Errorf("429 count %d", s.TooManyRequests())
	}
	time.Sleep(2010 * time.Millisecond)
	if resp, _ = raw(t, s, "GET", "/context/employee", "", s.Token(), nil); resp.StatusCode != 200 {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
}

func TestParallelLimit(t *testing.T) {
	release := make(chan struct{})
	s := NewServer(Options{MaxParallel: 2, RequestsPerWindow: 100, Window: time.Second})
	defer s.Close()
	var once sync.Once
	entered := make(chan struct{}, 2)
	s.SetLatency(func() time.Duration {
		entered <- struct{}{}
		<-release
		return 0
	})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw(t, s, "GET", "/context/employee", "", s.Token(), nil)
		}()
	}
	<-entered
	<-entered
	resp, b := raw(t, s, "GET", "/context/employee", "", s.Token(), nil)
	once.Do(func() { close(release) })
	wg.Wait()
	if e := decodeErr(t, b); resp.StatusCode != 429 || e.Code != 1073 || resp.Header.Get("X-Lognex-Auth") != "429005" {
		t.Errorf("third parallel: %d %+v %v", resp.StatusCode, e, resp.Header)
	}
	if s.ParallelRejects() != 1 || s.MaxInFlight() != 2 {
		t.Errorf("rejects %d max in flight %d", s.ParallelRejects(), s.MaxInFlight())
	}
}

func TestSeedAndMetadataShape(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	seeded := Seed(s)
	resp, b := raw(t, s, "GET", "/entity/customerorder/metadata", "", s.Token(), nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	var md moysklad.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	// The official schema's shape (DocumentMetadata.attributes is an
	// AttributeMetaInfoList, as in the schema's fixture
	// document_metadata.json): a collection reference with size, no rows.
	if len(md.States) != 7 || md.Attributes != nil || md.AttributesCollection == nil || md.AttributesCollection.Size != 6 ||
		md.AttributesCollection.Type != "attributemetadata" || md.AttributesComplete() ||
		!strings.HasSuffix(md.AttributesCollection.Href, "/entity/customerorder/metadata/attributes") {
		t.Fatalf("%d states, attributes %+v collection %+v", len(md.States), md.Attributes, md.AttributesCollection)
	}
	// The rows are at …/metadata/attributes, paged.
	var all []moysklad.AttributeDef
	for off := 0; ; off += 4 {
		resp, b := raw(t, s, "GET", "/entity/customerorder/metadata/attributes", fmt.Sprintf("limit=4&offset=%d", off), s.Token(), nil)
		var page struct {
			Meta moysklad.Meta
			Rows []moysklad.AttributeDef
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &page) != nil || page.Meta.Size != 6 || page.Meta.Limit != 4 || page.Meta.Offset != off {
			t.Fatalf("page at %d: %d %s", off, resp.StatusCode, b)
		}
		if (off == 0) != (page.Meta.NextHref != "") {
			t.Errorf("page at %d: nextHref %q", off, page.Meta.NextHref)
		}
		all = append(all, page.Rows...)
		if len(page.Rows) < 4 {
			break
		}
	}
	if resp, _ := raw(t, s, "GET", "/entity/customerorder/metadata/attributes", "limit=1001", s.Token(), nil); resp.StatusCode != 400 {
		t.Errorf("limit 1001: %d", resp.StatusCode)
	}
	// expand=attributes gives the collection with its rows.
	resp, b = raw(t, s, "GET", "/entity/customerorder/metadata", "expand=attributes", s.Token(), nil)
	var mdx moysklad.Metadata
	if resp.StatusCode != 200 || json.Unmarshal(b, &mdx) != nil || len(mdx.Attributes) != 6 || !mdx.AttributesComplete() {
		t.Fatalf("expand=attributes: %d %s", resp.StatusCode, b)
	}
	md.Attributes = all
	if len(md.Attributes) != 6 {
		t.Fatalf("%d attributes listed", len(md.Attributes))
	}
	for _, ds := range DefaultStates {
		st, ok := md.StateByName(ds.Name)
		if !ok || st.ID != seeded.States[ds.Key].ID || st.Meta.Href != seeded.States[ds.Key].Meta.Href || st.EntityType != "customerorder" {
			t.Errorf("state %s: %+v", ds.Key, st)
		}
	}
	wantTypes := map[string]string{"carrier": "string", "pickup_point": "string", "tariff": "long", "tracking_number": "string", "waybill": "file", "error": "text"}
	for _, da := range DefaultAttributes {
		a, ok := md.AttributeByName(da.Name)
		if !ok || a.Type != wantTypes[da.Key] || a.ID != seeded.Attributes[da.Key].ID || a.Meta.Type != "attributemetadata" {
			t.Errorf("attribute %s: %+v", da.Key, a)
		}
	}
	// The raw shape matches the documentation sample's keys.
	var generic map[string]any
	_ = json.Unmarshal(b, &generic)
	for _, k := range []string{"meta", "attributes", "states", "createShared"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("metadata lacks %q", k)
		}
	}
}

func TestListFiltersAndOrdering(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, moysklad.Moscow)
	s := NewServer(Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	defer s.Close()
	Seed(s)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, s.AddOrder(OrderSeed{Name: string(rune('a' + i)), StateName: "Новый"}))
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
	}
	// A manager moves order c to "ready": updated jumps to now.
	if err := s.SetOrderState(ids[2], DefaultStates[0].Name); err != nil {
		t.Fatal(err)
	}
	list := func(filter, order string) []string {
		q := url.Values{}
		if filter != "" {
			q.Set("filter", filter)
		}
		if order != "" {
			q.Set("order", order)
		}
		resp, b := raw(t, s, "GET", "/entity/customerorder", strings.ReplaceAll(q.Encode(), "+", "%20"), s.Token(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s / %s: %d %s", filter, order, resp.StatusCode, b)
		}
		var l struct {
			Rows []moysklad.Order `json:"rows"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range l.Rows {
			names = append(names, o.Name)
		}
		return names
	}
	check := func(got []string, want string) {
		t.Helper()
		if strings.Join(got, "") != want {
			t.Errorf("got %v, want %s", got, want)
		}
	}
	check(list("updated>=2026-11-27 10:00:02", "updated,asc;id,asc"), "defc")
	check(list("updated>2026-11-27 10:00:03.000", "updated,asc"), "efc")
	check(list("updated<2026-11-27 10:00:02", ""), "ab")
	check(list("updated<=2026-11-27 10:00:01.000;updated>=2026-11-27 10:00:01", ""), "b")
	check(list("state.name="+DefaultStates[0].Name, ""), "c")
	check(list("name=a;name=f", ""), "af")
	check(list("name!=a;name!=f", "name,desc"), "edcb")
	check(list("", "updated,desc"), "cfedba")

	for _, bad := range []struct {
		filter string
		code   int
	}{
		{"updated>=27.11.2026", 1035},
		{"name=a;name>b", 1034},
		{"nosuchfield=1", 1034},
		{"state=not-a-href", 1014},
	} {
		resp, b := raw(t, s, "GET", "/entity/customerorder", "filter="+url.QueryEscape(bad.filter), s.Token(), nil)
		if e := decodeErr(t, b); resp.StatusCode != 400 || e.Code != bad.code {
			t.Errorf("%q: %d %+v", bad.filter, resp.StatusCode, e)
		}
	}
}

func TestHooksSnapshotsAndCounters(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	seeded := Seed(s)
	agent := s.AddCounterparty(CounterpartySeed{Name: "ООО Ромашка", CompanyType: "legal", Phone: "+74951234567", Email: "a@b.ru"})
	prod := s.AddProduct(ProductSeed{Name: "Коробка", Code: "K1", Article: "ART-1", Weight: 2})
	svc := s.AddProduct(ProductSeed{Name: "Доставка", Type: "service"})
	id := s.AddOrder(OrderSeed{Name: "H-1", AgentID: agent, StateName: DefaultStates[0].Name,
		Positions: []PositionSeed{{ProductID: prod, Quantity: 2, Price: 10000}, {ProductID: svc, Quantity: 1, Price: 500}},
		PayedSum:  500, ShipmentAddressFull: &moysklad.Address{PostalCode: "125009", City: "Москва", Street: "Тверская", House: "1", Country: "Россия"},
		Attributes: map[string]any{"Служба доставки": "СДЭК", "Тариф доставки": 136, "Накладная": File{Name: "w.pdf", Content: []byte("PDF")}}})
	snap, ok := s.OrderByName("H-1")
	if !ok || snap.ID != id || snap.Sum != 20500 || snap.PayedSum != 500 || snap.Positions != 2 || snap.AgentID != agent ||
		snap.StateID != seeded.States["ready"].ID || snap.Attr("Тариф доставки") != "136" || snap.Attributes["Накладная"].File == nil {
		t.Errorf("snapshot %+v", snap)
	}
	// Entity endpoints.
	resp, b := raw(t, s, "GET", "/entity/counterparty/"+agent, "", s.Token(), nil)
	var cp moysklad.Counterparty
	if err := json.Unmarshal(b, &cp); err != nil || resp.StatusCode != 200 || cp.Name != "ООО Ромашка" || cp.Phone != "+74951234567" || cp.CompanyType != "legal" {
		t.Errorf("counterparty %d %+v", resp.StatusCode, cp)
	}
	resp, b = raw(t, s, "GET", "/entity/product/"+prod, "", s.Token(), nil)
	var pr moysklad.Assortment
	if err := json.Unmarshal(b, &pr); err != nil || resp.StatusCode != 200 || pr.Article != "ART-1" || pr.Weight != 2 || pr.Meta.Type != "product" {
		t.Errorf("product %d %+v", resp.StatusCode, pr)
	}
	if resp, _ = raw(t, s, "GET", "/entity/product/"+svc, "", s.Token(), nil); resp.StatusCode != 404 {
		t.Errorf("a service read as a product: %d", resp.StatusCode)
	}
	resp, b = raw(t, s, "GET", "/entity/customerorder/"+id, "expand="+url.QueryEscape("agent,state,positions.assortment"), s.Token(), nil)
	var o moysklad.Order
	if err := json.Unmarshal(b, &o); err != nil || resp.StatusCode != 200 {
		t.Fatalf("order %d %s", resp.StatusCode, b)
	}
	if o.Agent.Email != "a@b.ru" || o.State.Name != DefaultStates[0].Name || len(o.Positions) != 2 || o.Positions[1].Assortment.Meta.Type != "service" ||
		o.ShipmentAddressFull == nil || o.ShipmentAddressFull.City != "Москва" || o.ShipmentAddressFull.CountryMeta == nil {
		t.Errorf("order %+v", o)
	}
	if a, ok := o.AttributeByName("Тариф доставки"); !ok || a.Type != "long" {
		t.Errorf("tariff attr %+v", a)
	} else if n, ok := a.Int(); !ok || n != 136 {
		t.Errorf("tariff %d", n)
	}
	// Positions endpoint pages.
	resp, b = raw(t, s, "GET", "/entity/customerorder/"+id+"/positions", "limit=1&offset=1&expand=assortment", s.Token(), nil)
	var pl struct {
		Meta moysklad.Meta       `json:"meta"`
		Rows []moysklad.Position `json:"rows"`
	}
	if err := json.Unmarshal(b, &pl); err != nil || pl.Meta.Size != 2 || len(pl.Rows) != 1 || pl.Rows[0].Assortment.Name != "Доставка" || pl.Meta.PreviousHref == "" {
		t.Errorf("positions page %+v", pl)
	}
	// Manager edits bump updated; attribute can be cleared.
	before := snap.Updated
	time.Sleep(2 * time.Millisecond)
	if err := s.SetOrderAttribute(id, "Служба доставки", nil); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Order(id)
	if !snap.Updated.After(before) || snap.Attr("Служба доставки") != "" {
		t.Errorf("after edit %+v", snap)
	}
	if err := s.SetOrderAttribute(id, "Тариф доставки", "x"); err == nil {
		t.Error("a string was stored in a long attribute")
	}
	if err := s.SetOrderState(id, "Нет такого"); err == nil {
		t.Error("unknown state accepted")
	}
	// Unknown paths and methods.
	if resp, b = raw(t, s, "GET", "/entity/nosuch", "", s.Token(), nil); resp.StatusCode != 404 || decodeErr(t, b).Code != 1002 {
		t.Errorf("unknown path %d %s", resp.StatusCode, b)
	}
	if resp, _ = raw(t, s, "DELETE", "/entity/customerorder/"+id, "", s.Token(), nil); resp.StatusCode != 405 {
		t.Errorf("DELETE %d", resp.StatusCode)
	}
	// PUT replacing positions is refused (it would wipe the order's lines).
	resp, _ = raw(t, s, "PUT", "/entity/customerorder/"+id, "", s.Token(), map[string]any{"positions": []any{}})
	if resp.StatusCode != 400 {
		t.Errorf("PUT positions: %d", resp.StatusCode)
	}
	eps := s.RequestsByEndpoint()
	if eps["GET /entity/customerorder/{id}"] != 1 || eps["GET /entity/customerorder/{id}/positions"] != 1 || eps["PUT /entity/customerorder/{id}"] != 1 {
		t.Errorf("endpoints %v", eps)
	}
	if s.PutsPerOrder(id) != 0 || s.MaxPutsPerMinute(id) != 0 {
		t.Errorf("refused PUT counted")
	}
}

func TestFaultInjection(t *testing.T) {
	s := NewServer(Options{Seed: 7})
	defer s.Close()
	s.FailNext(2, 502)
	for i, want := range []int{502, 502, 200} {
		if resp, _ := raw(t, s, "GET", "/context/employee", "", s.Token(), nil); resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
	s.FailRate(0.5)
	fails := 0
	for i := 0; i < 60; i++ {
		if resp, _ := raw(t, s, "GET", "/context/employee", "", s.Token(), nil); resp.StatusCode == 503 {
			fails++
		}
	}
	if fails < 15 || fails > 45 {
		t.Errorf("FailRate(0.5) failed %d of 60", fails)
	}
	s.FailRate(0)
	if s.Requests() != 63 {
		t.Errorf("requests %d", s.Requests())
	}
}

func TestConcurrentHooksAndRequests(t *testing.T) {
	s := NewServer(Options{RequestsPerWindow: 10000, Window: time.Second})
	defer s.Close()
	Seed(s)
	id := s.AddOrder(OrderSeed{Name: "C-1", StateName: "Новый"})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				_ = s.SetOrderState(id, DefaultStates[j%6].Name)
				_, _ = s.Order(id)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				raw(t, s, "GET", "/entity/customerorder", "limit=100&expand=state", s.Token(), nil)
			}
		}()
	}
	wg.Wait()
}
