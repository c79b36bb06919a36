package moysklad_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

func TestLatestOrder(t *testing.T) {
	// 30 orders over 6 ms: ready (i%3==0), delete (i%3==1), new.
	s, seed, ids := seedOrders(t, 30, 5)
	c := newClient(t, s, nil)
	ctx := context.Background()
	ready, del := seed.States["ready"], seed.States["delete"]
	q := moysklad.ListOrdersQuery{StateHrefs: []string{ready.Meta.Href, del.Meta.Href}}

	newest, size, found, err := c.LatestOrder(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	// The newest in a trigger status: share the last
	// updated (5 ms); the tie goes to the greatest id (order …;id,desc).
	want := ids[25]
	for _, i := range []int{27, 28} {
		if ids[i] > want {
			want = ids[i]
		}
	}
	if !found || size != 20 || newest.ID != want {
		t.Fatalf("latest = %+v, size %d, found %v; want %s of 20", newest, size, found, want)
	}
	if wantAt := time.Date(2026, 11, 27, 10, 0, 0, 5e6, moysklad.Moscow); !newest.Updated.Equal(wantAt) {
		t.Errorf("updated %s, want %s", newest.Updated, wantAt)
	}
	if got := s.RequestsByEndpoint()["GET /entity/customerorder"]; got != 1 {
		t.Errorf("%d requests, want 1", got)
	}

	// With the updated filter: none changed after the newest.
	q.UpdatedFrom = newest.Updated.Add(time.Millisecond)
	_, size, found, err = c.LatestOrder(ctx, q)
	if err != nil || found || size != 0 {
		t.Errorf("after the newest: size %d, found %v, err %v", size, found, err)
	}
}

// TestLatestOrderRawQuery pins the request: one row, newest first, no expand.
func TestLatestOrderRawQuery(t *testing.T) {
	var raw []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		raw = append(raw, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		// A row as MoySklad sends it without expand, trimmed (meta, id, name, updated).
		_, _ = io.WriteString(w, `{"meta":{"size":3,"limit":1,"offset":0},"rows":[{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/9f1c","type":"customerorder"},"name":"00042","updated":"2026-11-27 10:00:01.250"}]}`)
	}))
	defer srv.Close()
	c, _ := moysklad.New(moysklad.Config{BaseURL: srv.URL + "/api/remap/1.2", Token: "t"})
	newest, size, found, err := c.LatestOrder(context.Background(), moysklad.ListOrdersQuery{
		UpdatedFrom: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		StateHrefs:  []string{"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/s1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "/api/remap/1.2/entity/customerorder?filter=updated%3E%3D2026-11-27%2010%3A00%3A00.000" +
		"%3Bstate%3Dhttps%3A%2F%2Fapi.moysklad.ru%2Fapi%2Fremap%2F1.2%2Fentity%2Fcustomerorder%2Fmetadata%2Fstates%2Fs1" +
		"&order=updated%2Cdesc%3Bid%2Cdesc&limit=1"
	if len(raw) != 1 || raw[0] != want {
		t.Errorf("request\n got %v\nwant %s", raw, want)
	}
	// The id comes from the href when the row has no id field.
	if !found || size != 3 || newest.ID != "9f1c" || newest.Name != "00042" ||
		newest.Updated.String() != "2026-11-27 10:00:01.250" {
		t.Errorf("got %+v size %d found %v", newest, size, found)
	}
}
