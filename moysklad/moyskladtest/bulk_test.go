package moyskladtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

// bulkItem is one element of a bulk POST: the order's meta plus fields.
func bulkItem(s *Server, id string, fields map[string]any) map[string]any {
	m := map[string]any{"meta": map[string]any{"href": s.URL() + "/entity/customerorder/" + id, "type": "customerorder", "mediaType": "application/json"}}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

func stateRef(st moysklad.State) map[string]any {
	return map[string]any{"meta": map[string]any{"href": st.Meta.Href, "type": "state", "mediaType": "application/json"}}
}

// The bulk POST: one answer element per request element, in order; each
// validated like a PUT and applied on its own; limits of 1,000 elements and
// 10 MB (413).
func TestBulkPostOrders(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	seed := Seed(s)
	a := s.AddOrder(OrderSeed{Name: "A", StateName: "Новый"})
	b := s.AddOrder(OrderSeed{Name: "B", StateName: "Новый"})
	reg := seed.States["registered"]
	body := []any{
		bulkItem(s, a, map[string]any{"state": stateRef(reg)}),
		bulkItem(s, b, map[string]any{"positions": []any{}}),                 // refused like in a PUT
		bulkItem(s, "00000000-0000-0000-0000-000000000000", nil),             // no such order
		map[string]any{"name": "new"},                                        // a create without organization
		bulkItem(s, b, map[string]any{"description": 5}),                     // wrong type
		bulkItem(s, b, map[string]any{"state": stateRef(reg), "name": "B2"}), // valid
	}
	resp, raw0 := raw(t, s, "POST", "/entity/customerorder", "", s.Token(), body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw0)
	}
	var out []struct {
		Meta   moysklad.Meta       `json:"meta"`
		Name   string              `json:"name"`
		Errors []moysklad.APIError `json:"errors"`
	}
	if err := json.Unmarshal(raw0, &out); err != nil || len(out) != len(body) {
		t.Fatalf("%v %s", err, raw0)
	}
	codes := []int{0, 1007, 1021, 3000, 2016, 0}
	for i, want := range codes {
		got := 0
		if len(out[i].Errors) > 0 {
			got = out[i].Errors[0].Code
			if out[i].Meta.Href != "" {
				t.Errorf("element %d: an error element with meta", i)
			}
		}
		if got != want || (want == 0 && out[i].Meta.Type != "customerorder") {
			t.Errorf("element %d: code %d, want %d (%+v)", i, got, want, out[i])
		}
	}
	oa, _ := s.Order(a)
	ob, _ := s.Order(b)
	if oa.StateName != reg.Name || ob.StateName != reg.Name || ob.Name != "B2" || oa.Puts != 1 || ob.Puts != 1 {
		t.Errorf("stored: %+v %+v", oa, ob)
	}

	// Over 1,000 elements: 413, error 2007, nothing stored.
	many := make([]any, 1001)
	for i := range many {
		many[i] = bulkItem(s, a, map[string]any{"name": "X"})
	}
	resp, b413 := raw(t, s, "POST", "/entity/customerorder", "", s.Token(), many)
	if e := decodeErr(t, b413); resp.StatusCode != 413 || e.Code != 2007 {
		t.Errorf("1001 elements: %d %+v", resp.StatusCode, e)
	}
	if o, _ := s.Order(a); o.Name != "A" {
		t.Errorf("an oversized request changed the order: %+v", o)
	}
	// Over 10 MB: 413, error 1044.
	big := []any{bulkItem(s, a, map[string]any{"description": strings.Repeat("x", 11<<20)})}
	resp, bbig := raw(t, s, "POST", "/entity/customerorder", "", s.Token(), big)
	if e := decodeErr(t, bbig); resp.StatusCode != 413 || e.Code != 1044 {
		t.Errorf("11 MB: %d %+v", resp.StatusCode, e)
	}
	// Exactly 1,000 elements are fine.
	resp, _ = raw(t, s, "POST", "/entity/customerorder", "", s.Token(), many[:1000])
	if resp.StatusCode != 200 {
		t.Errorf("1000 elements: %d", resp.StatusCode)
	}
}

// A bulk request weighs what any request weighs, however many orders it
// carries: with a budget of 8 units and a weight of 4, a bulk of 1,000 and
// one more request fit; a third is refused.
func TestBulkPostWeighsOneRequest(t *testing.T) {
	s := NewServer(Options{RequestsPerWindow: 8, RequestWeight: 4, Window: time.Minute})
	defer s.Close()
	seed := Seed(s)
	id := s.AddOrder(OrderSeed{Name: "A", StateName: "Новый"})
	many := make([]any, 1000)
	for i := range many {
		many[i] = bulkItem(s, id, map[string]any{"state": stateRef(seed.States["ready"])})
	}
	resp, _ := raw(t, s, "POST", "/entity/customerorder", "", s.Token(), many)
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "4" || resp.Header.Get("X-RateLimit-Limit") != "8" {
		t.Fatalf("bulk: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := raw(t, s, "GET", "/context/employee", "", s.Token(), nil); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("second: %d %v", resp.StatusCode, resp.Header)
	}
	resp, b := raw(t, s, "GET", "/context/employee", "", s.Token(), nil)
	if e := decodeErr(t, b); resp.StatusCode != 429 || e.Code != 1049 || resp.Header.Get("X-Lognex-Retry-After") == "0" {
		t.Errorf("third: %d %+v %v", resp.StatusCode, e, resp.Header)
	}
	if o, _ := s.Order(id); o.Puts != 1000 {
		t.Errorf("%d writes counted", o.Puts)
	}
}

// The same file rule as a PUT: a held file is not overwritten in a bulk
// element either, and a clear then a set in one request works.
func TestBulkPostFileRule(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	seed := Seed(s)
	id := s.AddOrder(OrderSeed{Name: "A", StateName: "Новый", Attributes: map[string]any{"Накладная": File{Name: "old.pdf", Content: []byte("old")}}})
	meta := map[string]any{"href": seed.Attributes["waybill"].Meta.Href, "type": "attributemetadata", "mediaType": "application/json"}
	set := map[string]any{"attributes": []any{map[string]any{"meta": meta, "file": map[string]any{"filename": "n.pdf", "content": "bmV3"}}}}
	clear := map[string]any{"attributes": []any{map[string]any{"meta": meta, "file": nil}}}
	resp, b := raw(t, s, "POST", "/entity/customerorder", "", s.Token(), []any{bulkItem(s, id, set), bulkItem(s, id, clear), bulkItem(s, id, set)})
	var out []struct {
		Errors []moysklad.APIError `json:"errors"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || len(out) != 3 || len(out[0].Errors) != 1 ||
		out[0].Errors[0].Code != moysklad.CodeFileNotUpdatable || len(out[1].Errors) != 0 || len(out[2].Errors) != 0 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if o, _ := s.Order(id); !bytes.Equal(o.Attributes["Накладная"].File.Content, []byte("new")) {
		t.Errorf("%+v", o.Attributes["Накладная"])
	}
	// A single object is a create, which needs organization and agent.
	resp, b = raw(t, s, "POST", "/entity/customerorder", "", s.Token(), map[string]any{"name": "x"})
	if e := decodeErr(t, b); resp.StatusCode != http.StatusBadRequest || e.Code != 3000 {
		t.Errorf("create: %d %+v", resp.StatusCode, e)
	}
}
