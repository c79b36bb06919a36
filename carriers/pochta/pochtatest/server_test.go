package pochtatest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type client struct {
	t   *testing.T
	s   *Server
	tok string
	key string
}

func newClient(t *testing.T, opts Options) (*Server, *client) {
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s, &client{t: t, s: s, tok: s.Token(), key: base64.StdEncoding.EncodeToString([]byte(s.Login() + ":" + s.Password()))}
}

func (c *client) do(method, path string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.s.URL()+path, rd)
	if c.tok != "" {
		req.Header.Set("Authorization", "AccessToken "+c.tok)
	}
	if c.key != "" {
		req.Header.Set("X-User-Authorization", "Basic "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func newOrder(num string) map[string]any {
	return map[string]any{
		"order-num": num, "mail-type": "POSTAL_PARCEL", "mail-category": "ORDINARY", "mail-direct": 643, "mass": 1000,
		"address-type-to": "DEFAULT", "index-to": 115127, "region-to": "г Москва", "place-to": "г Москва",
		"street-to": "ш Варшавское", "house-to": "37", "recipient-name": "Иванов Иван", "surname": "Иванов",
		"given-name": "Иван", "tel-address": 79161234567, "postoffice-code": "102961", "fragile": false, "comment": "mark-" + num,
	}
}

type created struct {
	Orders []struct {
		ResultID int64  `json:"result-id"`
		Barcode  string `json:"barcode"`
		OrderNum string `json:"order-num"`
	} `json:"orders"`
	Errors []struct {
		ErrorCodes []struct{ Code, Description, Details string } `json:"error-codes"`
		Position   int                                           `json:"position"`
	} `json:"errors"`
}

func TestAuthBothHeaders(t *testing.T) {
	_, c := newClient(t, Options{})
	if st, _, _ := c.do("GET", "/1.0/settings/limit", nil); st != 200 {
		t.Fatalf("good credentials: %d", st)
	}
	key := c.key
	c.key = base64.StdEncoding.EncodeToString([]byte("shop@example.com:wrong"))
	if st, _, b := c.do("GET", "/1.0/settings/limit", nil); st != 401 || !strings.Contains(string(b), "Unauthorized") {
		t.Errorf("wrong password: %d %s", st, b)
	}
	c.key = ""
	if st, _, _ := c.do("GET", "/1.0/settings/limit", nil); st != 401 {
		t.Errorf("no user key: %d", st)
	}
	c.key, c.tok = key, "other"
	if st, _, _ := c.do("GET", "/1.0/settings/limit", nil); st != 401 {
		t.Errorf("wrong token: %d", st)
	}
}

func TestCreateErrorsIn200AndDuplicates(t *testing.T) {
	s, c := newClient(t, Options{})
	bad := newOrder("1")
	delete(bad, "region-to")
	delete(bad, "place-to")
	bad["mass"] = 0
	bad["postoffice-code"] = ""
	bad["recipient-name"] = ""
	st, _, b := c.do("PUT", "/2.0/user/backlog", []any{newOrder("1"), bad, newOrder("1")})
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	res := decode[created](t, b)
	if len(res.Orders) != 2 || len(res.Errors) != 1 || res.Errors[0].Position != 1 {
		t.Fatalf("answer %s", b)
	}
	if res.Orders[0].OrderNum != "1" || res.Orders[1].OrderNum != "1" || res.Orders[0].ResultID == res.Orders[1].ResultID ||
		len(res.Orders[0].Barcode) != 14 || res.Orders[0].Barcode == res.Orders[1].Barcode {
		t.Errorf("duplicates must be accepted as two orders: %s", b)
	}
	var codes []string
	for _, e := range res.Errors[0].ErrorCodes {
		codes = append(codes, e.Code)
		if e.Code == "EMPTY_POSTOFFICE_CODE" && e.Details != "102961 117042 142300" {
			t.Errorf("details = %q", e.Details)
		}
	}
	want := "EMPTY_POSTOFFICE_CODE,ILLEGAL_RECIPIENT_NAME,EMPTY_REGION_TO,EMPTY_PLACE_TO,EMPTY_MASS"
	if strings.Join(codes, ",") != want {
		t.Errorf("codes %v, want %s (all at once, like sample order_create_errors_200)", codes, want)
	}
	if s.LiveOrdersForNumber("1") != 2 || s.CreatesForNumber("1") != 3 {
		t.Errorf("live %d creates %d", s.LiveOrdersForNumber("1"), s.CreatesForNumber("1"))
	}
}

func TestSearchesGetsFormsDeletes(t *testing.T) {
	s, c := newClient(t, Options{})
	_, _, b := c.do("PUT", "/2.0/user/backlog", []any{newOrder("12"), newOrder("123")})
	res := decode[created](t, b)
	id1, id2 := res.Orders[0].ResultID, res.Orders[1].ResultID
	// Substring search: both contain "12".
	_, _, b = c.do("GET", "/1.0/backlog/search?query=12", nil)
	if found := decode[[]map[string]any](t, b); len(found) != 2 {
		t.Errorf("backlog search: %s", b)
	}
	// Forms: not for a parcel in «Новые».
	st, _, b := c.do("GET", "/1.0/forms/backlog/"+itoa(id1)+"/forms", nil)
	if st == 200 || !strings.Contains(string(b), "1002") || !strings.Contains(string(b), "Forbidden mail type") {
		t.Errorf("backlog forms: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", "/1.0/forms/"+itoa(id1)+"/forms", nil); st == 200 {
		t.Error("forms of an unbatched parcel were served")
	}
	// Batch, then forms.
	st, _, b = c.do("POST", "/1.0/user/shipment?sending-date="+time.Now().In(s.msk).Format("2006-01-02"), []int64{id1})
	batch := decode[map[string]any](t, b)
	bs := batch["batches"].([]any)
	if st != 200 || len(bs) != 1 || bs[0].(map[string]any)["mail-type"] != "COMBINED" {
		t.Fatalf("batch create: %d %s", st, b)
	}
	name := bs[0].(map[string]any)["batch-name"].(string)
	st, h, b := c.do("GET", "/1.0/forms/"+itoa(id1)+"/forms", nil)
	if st != 200 || h.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("forms: %d %s", st, h.Get("Content-Type"))
	}
	// The batched order left «Новые».
	if st, _, b := c.do("GET", "/1.0/backlog/"+itoa(id1), nil); st != 404 || !strings.Contains(string(b), `"sub-code":"RESOURCE_NOT_FOUND"`) {
		t.Errorf("backlog get of a batched order: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", "/1.0/shipment/"+itoa(id1), nil); st != 200 {
		t.Errorf("shipment get: %d", st)
	}
	// Delete from «Новые»: envelope B; the deleted order stays in searches.
	_, _, b = c.do("DELETE", "/1.0/backlog", []int64{id2, 999})
	del := decode[map[string]any](t, b)
	if ids := del["result-ids"].([]any); len(ids) != 1 || int64(ids[0].(float64)) != id2 {
		t.Errorf("delete: %s", b)
	}
	if errs := del["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["error-code"] != "NOT_FOUND" || errs[0].(map[string]any)["position"].(float64) != 1 {
		t.Errorf("delete errors: %s", b)
	}
	_, _, b = c.do("GET", "/1.0/backlog/search?query=123", nil)
	if found := decode[[]map[string]any](t, b); len(found) != 1 || found[0]["is-deleted"] != true {
		t.Errorf("deleted order in search: %s", b)
	}
	// Check-in over HTTP, then the batch refuses deletes and disappears from the list.
	_, _, b = c.do("POST", "/1.0/batch/"+name+"/checkin?useOnlineBalance=false", nil)
	if string(bytes.TrimSpace(b)) != `{"f103-sent":true}` {
		t.Errorf("checkin: %s", b)
	}
	_, _, b = c.do("DELETE", "/1.0/shipment", []int64{id1})
	if !strings.Contains(string(b), "READONLY_STATE") {
		t.Errorf("delete after check-in: %s", b)
	}
	_, _, b = c.do("GET", "/1.0/batch?mailType=POSTAL_PARCEL&mailCategory=ORDINARY", nil)
	if string(bytes.TrimSpace(b)) != "[]" {
		t.Errorf("checked-in batch listed: %s", b)
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestCleanAddress(t *testing.T) {
	_, c := newClient(t, Options{})
	_, _, b := c.do("POST", "/1.0/clean/address", []map[string]string{
		{"id": "a", "original-address": "Москва, Варшавское шоссе, 37"},
		{"id": "b", "original-address": "Москва, Тверская"},
		{"id": "c", "original-address": "Урюпинск, Мира 1"},
	})
	got := decode[[]map[string]any](t, b)
	if len(got) != 3 {
		t.Fatalf("%s", b)
	}
	a := got[0]
	if a["id"] != "a" || a["index"] != "115127" || a["region"] != "г Москва" || a["street"] != "ш Варшавское" || a["house"] != "37" ||
		a["quality-code"] != "GOOD" || a["validation-code"] != "VALIDATED" {
		t.Errorf("[PSDK] AddressCleanup example: %v", a)
	}
	if got[1]["quality-code"] != "UNDEF_04" || got[2]["quality-code"] != "UNDEF_02" {
		t.Errorf("incomplete addresses: %v / %v", got[1], got[2])
	}
}

func TestQuotaAndFaults(t *testing.T) {
	s, c := newClient(t, Options{DailyQuota: 3})
	for i := 0; i < 3; i++ {
		if st, _, _ := c.do("GET", "/1.0/user-shipping-points", nil); st != 200 {
			t.Fatalf("call %d: %d", i, st)
		}
	}
	st, _, b := c.do("GET", "/1.0/user-shipping-points", nil)
	if st != 429 || !strings.Contains(string(b), "Превышен лимит") {
		t.Errorf("past the quota: %d %s", st, b)
	}
	_, _, b = c.do("GET", "/1.0/settings/limit", nil)
	if lim := decode[map[string]int](t, b); lim["allowed-count"] != 3 || lim["current-count"] != 3 {
		t.Errorf("limit: %s", b)
	}
	s.SetQuota(100, 0)
	s.FailNext(1, 503)
	if st, _, _ := c.do("GET", "/1.0/user-shipping-points", nil); st != 503 {
		t.Errorf("fault: %d", st)
	}
	s.FailNextOn([]string{"GET /1.0/backlog/search"}, 1, 502)
	if st, _, _ := c.do("GET", "/1.0/user-shipping-points", nil); st != 200 {
		t.Errorf("a targeted fault hit another endpoint: %d", st)
	}
	if st, _, _ := c.do("GET", "/1.0/backlog/search?query=x", nil); st != 502 {
		t.Errorf("targeted fault: %d", st)
	}
	if st, _, _ := c.do("GET", "/1.0/backlog/search?query=x", nil); st != 200 {
		t.Errorf("a targeted fault fired twice: %d", st)
	}
	if st, _, b := c.do("GET", "/1.0/no/such", nil); st != 407 || !strings.Contains(string(b), "method not found") {
		t.Errorf("wrong path: %d %s", st, b)
	}
	s.LoseNextCreateResponse(1)
	req, _ := http.NewRequest("PUT", s.URL()+"/2.0/user/backlog", strings.NewReader(string(must(json.Marshal([]any{newOrder("L")})))))
	req.Header.Set("Authorization", "AccessToken "+c.tok)
	req.Header.Set("X-User-Authorization", "Basic "+c.key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("lost response answered")
	}
	if s.LiveOrdersForNumber("L") != 1 {
		t.Error("the request behind a lost answer did not take effect")
	}
}

func TestTrackingHookAndShippingPoints(t *testing.T) {
	s, c := newClient(t, Options{})
	_, _, b := c.do("PUT", "/2.0/user/backlog", []any{newOrder("T")})
	res := decode[created](t, b)
	if err := s.SetLastOperation(res.Orders[0].Barcode, 2, 1, "Вручение адресату", time.Now()); err == nil {
		t.Error("tracking of an unbatched order")
	}
	c.do("POST", "/1.0/user/shipment", []int64{res.Orders[0].ResultID})
	if err := s.SetLastOperation(res.Orders[0].Barcode, 2, 1, "Вручение адресату", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, _, b = c.do("GET", "/1.0/shipment/search?query="+res.Orders[0].Barcode, nil)
	got := decode[[]map[string]any](t, b)
	if len(got) != 1 || got[0]["last-oper-type"] != "GIVING" || got[0]["last-oper-attr"] != "GIVING_RECIPIENT" || got[0]["batch-status"] != "SENT" {
		t.Errorf("tracked order: %s", b)
	}
	_, _, b = c.do("GET", "/1.0/user-shipping-points", nil)
	pts := decode[[]map[string]any](t, b)
	if len(pts) != 3 || pts[0]["operator-postcode"] != "102961" || pts[0]["enabled"] != true {
		t.Errorf("points: %s", b)
	}
}
