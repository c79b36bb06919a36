package moysklad_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// A bulk request refused as a whole with 400 and an array of {errors} that
// is not aligned with the request (the UNCONFIRMED BatchBadRequest form): the updates are
// sent again in halves until the bad one is alone; the others land, the bad
// one is refused with its own code.
func TestUpdateOrdersRejectAllArray(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 5, nil)
	b.s.SetBulkErrors(moyskladtest.BulkRejectAll)
	b.s.RefuseOrderWrites(b.ids[3], 3006, "Ошибка сохранения: заказ заблокирован")
	c := newClient(t, b.s, nil)
	var updates []moysklad.BulkUpdate
	for i, id := range b.ids {
		updates = append(updates, b.registered(id, fmt.Sprintf("T%d", i)))
	}
	res, err := c.UpdateOrders(context.Background(), updates)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var e *moysklad.Error
		switch {
		case i == 3:
			if r.Outcome != moysklad.BulkRefused || !errors.As(r.Err, &e) || !e.HasCode(3006) || moysklad.IsAccessRefused(r.Err) {
				t.Errorf("bad update: %+v", r)
			}
		case r.Outcome != moysklad.BulkApplied || r.Err != nil:
			t.Errorf("update %d: %+v", i, r)
		}
		o, _ := b.s.Order(b.ids[i])
		if stored := o.StateName == b.seed.States["registered"].Name; stored != (i != 3) || o.Puts > 1 {
			t.Errorf("order %d: %s, %d writes", i, o.StateName, o.Puts)
		}
	}
	// 5 → (2 ✓, 3 ✗) → (1 ✓, 2 ✗) → (1 ✗, 1 ✓): 7 requests.
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 7 {
		t.Errorf("%d requests", n)
	}
}

// Errors that name their order by meta are attributed without resending;
// an object {errors} naming nobody, for one update, refuses that update.
func TestUpdateOrdersRefusalByMeta(t *testing.T) {
	var sent int
	e := &echoBulk{fail: func(n int, w http.ResponseWriter) bool {
		sent++
		if n > 1 {
			return false
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `[{"errors":[{"code":3006,"error":"нельзя","meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/%s","type":"customerorder"}}]}]`, "bbbbbbbb-0000-0000-0000-000000000002")
		return true
	}}
	c := echoClient(t, e, nil)
	st := moysklad.Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/s", Type: "state"}
	ids := []string{"bbbbbbbb-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", "bbbbbbbb-0000-0000-0000-000000000003"}
	var updates []moysklad.BulkUpdate
	for _, id := range ids {
		updates = append(updates, moysklad.BulkUpdate{ID: id, Update: moysklad.OrderUpdate{State: &st}})
	}
	res, err := c.UpdateOrders(context.Background(), updates)
	if err != nil {
		t.Fatal(err)
	}
	var me *moysklad.Error
	if res[1].Outcome != moysklad.BulkRefused || !errors.As(res[1].Err, &me) || !me.HasCode(3006) {
		t.Errorf("named update: %+v", res[1])
	}
	// The two others were not named: sent again (in halves), both land.
	if res[0].Outcome != moysklad.BulkApplied || res[2].Outcome != moysklad.BulkApplied {
		t.Errorf("others: %+v %+v", res[0], res[2])
	}
	if sent != 3 {
		t.Errorf("%d requests, want 3", sent)
	}
}

// A user without the right to edit orders: 403 with 1017 refuses every
// update of the call as an access refusal (the operator's problem), and
// stops the call.
func TestUpdateOrdersAccessRefused(t *testing.T) {
	b := newBulkAccount(t, moyskladtest.Options{}, 2, nil)
	b.s.DenyOrderEdits(true)
	c := newClient(t, b.s, nil)
	res, err := c.UpdateOrders(context.Background(), []moysklad.BulkUpdate{b.registered(b.ids[0], "A"), b.registered(b.ids[1], "B")})
	if !moysklad.IsAccessRefused(err) {
		t.Fatalf("err %v", err)
	}
	for _, r := range res {
		if r.Outcome != moysklad.BulkRefused || !moysklad.IsAccessRefused(r.Err) {
			t.Errorf("%+v", r)
		}
	}
	if n := b.s.RequestsByEndpoint()["POST /entity/customerorder"]; n != 1 {
		t.Errorf("%d requests", n)
	}
	// A PUT too; reads still work.
	if _, err := c.UpdateOrder(context.Background(), b.ids[0], b.registered(b.ids[0], "A").Update); !moysklad.IsAccessRefused(err) || moysklad.IsRetryable(err) {
		t.Errorf("PUT: %v", err)
	}
	b.s.DenyOrderEdits(false)
	b.s.SetToken("a-new-token")
	if _, err := c.UpdateOrder(context.Background(), b.ids[0], b.registered(b.ids[0], "A").Update); !moysklad.IsAccessRefused(err) {
		t.Errorf("revoked token: %v", err)
	}
}
