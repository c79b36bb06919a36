package cdek

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// TestSampleStatusesAreActive: the real samples carry deleted: false on
// every status (CDEK's OrderStatusDto.deleted, «false — статус активен»),
// and the parser reads the flag.
func TestSampleStatusesAreActive(t *testing.T) {
	for _, name := range []string{"order_get_successful_200.json", "order_get_accepted_pending_200.json"} {
		var r OrderResponse
		readSample(t, name, &r)
		if len(r.Entity.Statuses) == 0 {
			t.Fatalf("%s: no statuses", name)
		}
		for _, s := range r.Entity.Statuses {
			if s.Deleted {
				t.Errorf("%s: status %s read as deleted", name, s.Code)
			}
		}
	}
	var r OrderResponse
	readSample(t, "order_get_successful_200.json", &r)
	r.Entity.Statuses[0].Deleted = true
	b, _ := json.Marshal(r.Entity.Statuses[0])
	var back OrderStatus
	if err := json.Unmarshal(b, &back); err != nil || !back.Deleted {
		t.Errorf("deleted does not round-trip: %s %v", b, err)
	}
}

// revokedDelivered is the real successful sample with two more statuses,
// newest first: an ACCEPTED_AT_PICK_UP_POINT after a DELIVERED that CDEK
// revoked (deleted: true).
func revokedDelivered(t *testing.T, withNext bool) OrderResponse {
	t.Helper()
	var r OrderResponse
	readSample(t, "order_get_successful_200.json", &r)
	var raw map[string]any
	b, _ := json.Marshal(r)
	_ = json.Unmarshal(b, &raw)
	ent := raw["entity"].(map[string]any)
	sts := ent["statuses"].([]any)
	add := []any{
		map[string]any{"code": "DELIVERED", "name": "Вручен", "date_time": "2030-01-02T10:00:00+0000", "deleted": true},
	}
	if withNext {
		add = append([]any{map[string]any{"code": "ACCEPTED_AT_PICK_UP_POINT", "name": "Принят на склад до востребования",
			"date_time": "2030-01-02T11:00:00+0000", "deleted": false}}, add...)
	}
	ent["statuses"] = append(add, sts...)
	b, _ = json.Marshal(raw)
	var out OrderResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRevokedFinalStatusIsSkipped: a DELIVERED that CDEK revoked is not the
// order's state, neither for the latest status nor for the registration,
// whether a newer status follows it or not.
func TestRevokedFinalStatusIsSkipped(t *testing.T) {
	c := &Carrier{cfg: Config{}.withDefaults(), submitted: map[string]time.Time{}}
	r := revokedDelivered(t, true)
	if st, ok := r.Entity.LatestStatus(); !ok || st.Code != "ACCEPTED_AT_PICK_UP_POINT" {
		t.Errorf("latest = %+v %v", st, ok)
	}
	if reg, err := c.registrationFrom(r); err != nil || reg.CarrierStatus != "ACCEPTED_AT_PICK_UP_POINT" || reg.Status == carriers.StatusDelivered {
		t.Errorf("registration = %+v %v", reg, err)
	}
	r = revokedDelivered(t, false)
	if st, ok := r.Entity.LatestStatus(); !ok || st.Code != "CREATED" {
		t.Errorf("latest without a newer status = %+v %v", st, ok)
	}
	if reg, err := c.registrationFrom(r); err != nil || reg.Status != carriers.StatusRegistered {
		t.Errorf("registration without a newer status = %+v %v", reg, err)
	}
	for i := range r.Entity.Statuses {
		r.Entity.Statuses[i].Deleted = true
	}
	if st, ok := r.Entity.LatestStatus(); ok {
		t.Errorf("all revoked: %+v", st)
	}
	// A revoked REMOVED does not make the order gone.
	r = revokedDelivered(t, false)
	r.Entity.Statuses[0].Code = "REMOVED"
	if gone(r) {
		t.Error("a revoked REMOVED reads as gone")
	}
	r.Entity.Statuses[0].Deleted = false
	if !gone(r) || !strings.EqualFold(r.Entity.Statuses[0].Code, "removed") {
		t.Error("a live REMOVED does not read as gone")
	}
}
