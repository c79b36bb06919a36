package cdektest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, s *Server, path, tok, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// orderBodyJSON is a type-1 order as the schema in reference §2 describes it.
func orderBodyJSON(number string, tariff int, from, to, wareKey, phone string) string {
	return `{"type":1,"number":"` + number + `","tariff_code":` + itoa(tariff) + `,` + from + `,` + to + `,
	  "comment":"Позвонить [sb:m-1]",
	  "recipient":{"name":"Тест","phones":[{"number":"` + phone + `"}]},
	  "packages":[{"number":"1","weight":100,"length":10,"width":10,"height":10,
	    "items":[{"name":"Товар","ware_key":"` + wareKey + `","payment":{"value":0},"cost":100,"weight":100,"amount":1}]}]}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

const (
	office = `"shipment_point":"MSK65"`
	pvz    = `"delivery_point":"NSK23"`
)

func TestDeliveryPoints(t *testing.T) {
	s := NewServer(Options{TakeOnlyPoints: []string{"MSK67"}})
	defer s.Close()
	tok := token(t, s)
	st, b := get(t, s, "/v2/deliverypoints?code=MSK65", tok)
	var pts []struct {
		Code        string `json:"code"`
		IsReception bool   `json:"is_reception"`
		Location    struct {
			CityCode int `json:"city_code"`
		} `json:"location"`
	}
	if err := json.Unmarshal(b, &pts); err != nil || st != 200 || len(pts) != 1 || pts[0].Code != "MSK65" || !pts[0].IsReception || pts[0].Location.CityCode != 44 {
		t.Errorf("MSK65: %d %s", st, b)
	}
	if st, b := get(t, s, "/v2/deliverypoints?code=NOPE", tok); st != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("unknown office: %d %s", st, b)
	}
	_, b = get(t, s, "/v2/deliverypoints?code=MSK67", tok)
	if !strings.Contains(string(b), `"is_reception":false`) {
		t.Errorf("take-only office: %s", b)
	}
}

func TestTariffModeAndWareKeyRefusals(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	tok := token(t, s)
	door := `"from_location":{"code":44,"address":"ул. Динамовская, 1А"}`
	for _, tc := range []struct {
		body, want string
	}{
		{orderBodyJSON("T-1", 136, door, pvz, "W1", "+79161234567"), "[shipment_point] is empty"},
		{orderBodyJSON("T-2", 139, office, `"to_location":{"city":"Москва","address":"Тверская, 1"}`, "W1", "+79161234567"), "[from_location] is empty"},
		{orderBodyJSON("T-3", 137, office, pvz, "W1", "+79161234567"), "[to_location] is empty"},
		{orderBodyJSON("T-4", 136, office, pvz, "ключ~", "+79161234567"), "ware_key"},
		{orderBodyJSON("T-5", 136, office, pvz, strings.Repeat("k", 51), "+79161234567"), "ware_key"},
	} {
		st, b := post(t, s, "/v2/orders", tok, tc.body)
		if st != 400 || !strings.Contains(string(b), tc.want) {
			t.Errorf("want 400 %q: %d %s", tc.want, st, b)
		}
	}
	if len(s.Orders()) != 0 {
		t.Error("a refused request created an order")
	}
}

func TestLookupByNumberIsMostRecent(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return 0 }})
	defer s.Close()
	tok := token(t, s)
	body := orderBodyJSON("N-1", 136, office, pvz, "W1", "+79161234567")
	for i := 0; i < 2; i++ {
		if st, b := post(t, s, "/v2/orders", tok, body); st != 202 {
			t.Fatalf("create: %d %s", st, b)
		}
	}
	orders := s.Orders()
	if len(orders) != 2 || orders[0].CreateState != "SUCCESSFUL" || orders[1].CreateState != "INVALID" {
		t.Fatalf("orders %+v", orders)
	}
	st, b := get(t, s, "/v2/orders?im_number=N-1", tok)
	if st != 200 || !strings.Contains(string(b), orders[1].UUID) || !strings.Contains(string(b), "error_validate_im_dep_number_has_already_had_integration") {
		t.Errorf("lookup must return the refused duplicate: %s", b)
	}
	if !strings.Contains(string(b), `"comment":"Позвонить [sb:m-1]"`) || !strings.Contains(string(b), `"number":"+79161234567"`) {
		t.Errorf("comment and phones are kept: %s", b)
	}
}

func TestStatusesAndReturn(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return 0 }})
	defer s.Close()
	tok := token(t, s)
	post(t, s, "/v2/orders", tok, orderBodyJSON("N-2", 136, office, pvz, "W1", "+79161234567"))
	uuid := s.Orders()[0].UUID
	if err := s.SetStatus(uuid, "TAKEN_BY_COURIER", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(uuid, "NOT_DELIVERED", "26"); err != nil {
		t.Fatal(err)
	}
	_, b := get(t, s, "/v2/orders/"+uuid, tok)
	var o struct {
		Entity struct {
			Statuses []struct {
				Code       string `json:"code"`
				DateTime   string `json:"date_time"`
				ReasonCode string `json:"reason_code"`
			} `json:"statuses"`
		} `json:"entity"`
		Related []struct{ Type, UUID string } `json:"related_entities"`
	}
	_ = json.Unmarshal(b, &o)
	sts := o.Entity.Statuses
	if len(sts) != 4 || sts[0].Code != "NOT_DELIVERED" || sts[0].ReasonCode != "26" || !(sts[0].DateTime > sts[1].DateTime) {
		t.Errorf("statuses newest first with dates: %+v", sts)
	}
	ret, err := s.ReturnToSender(uuid)
	if err != nil {
		t.Fatal(err)
	}
	_, b = get(t, s, "/v2/orders/"+uuid, tok)
	_ = json.Unmarshal(b, &o)
	if len(o.Related) != 1 || o.Related[0].Type != "return_order" || o.Related[0].UUID != ret {
		t.Errorf("related: %s", b)
	}
	if st, b := get(t, s, "/v2/orders/"+ret, tok); st != 200 || !strings.Contains(string(b), `"is_return":true`) || !strings.Contains(string(b), `"code":"DELIVERED"`) {
		t.Errorf("return order: %d %s", st, b)
	}
	if err := s.SetStatus("00000000-0000-4000-8000-000000000000", "DELIVERED", ""); err == nil {
		t.Error("unknown order moved")
	}
}

func TestPrintOfAnOrderNotReady(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return time.Hour }})
	defer s.Close()
	tok := token(t, s)
	post(t, s, "/v2/orders", tok, orderBodyJSON("N-3", 136, office, pvz, "W1", "+79161234567"))
	st, b := post(t, s, "/v2/print/orders", tok, `{"orders":[{"order_uuid":"`+s.Orders()[0].UUID+`"}],"copy_count":2}`)
	if st != 400 || !strings.Contains(string(b), `"code":"v2_entity_not_ready"`) {
		t.Errorf("print of an ACCEPTED order: %d %s", st, b)
	}
}

func TestOfficeTariffToAnAddressIsRefusedLater(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return 0 }})
	defer s.Close()
	tok := token(t, s)
	st, b := post(t, s, "/v2/orders", tok, orderBodyJSON("N-4", 136, office, `"to_location":{"city":"Москва","address":"Тверская, 1"}`, "W1", "+79161234567"))
	if st != 202 {
		t.Fatalf("create: %d %s", st, b)
	}
	o := s.Orders()[0]
	if o.CreateState != "INVALID" || len(o.ErrorCodes) != 1 || o.ErrorCodes[0] != "ve_receiver_pickup_point_empty" {
		t.Errorf("order %+v", o)
	}
}

// Statuses are live (deleted: false) as CDEK sends them; RevokeStatus marks
// the final one deleted: true and adds a newer live status after it.
func TestRevokeStatus(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return 0 }})
	defer s.Close()
	tok := token(t, s)
	post(t, s, "/v2/orders", tok, orderBodyJSON("N-3", 136, office, pvz, "W1", "+79161234567"))
	uuid := s.Orders()[0].UUID
	if err := s.RevokeStatus(uuid, "TAKEN_BY_COURIER"); err == nil {
		t.Error("revoked CREATED")
	}
	if err := s.SetStatus(uuid, "DELIVERED", ""); err != nil {
		t.Fatal(err)
	}
	type st struct {
		Code     string `json:"code"`
		DateTime string `json:"date_time"`
		Deleted  *bool  `json:"deleted"`
	}
	read := func() []st {
		_, b := get(t, s, "/v2/orders/"+uuid, tok)
		var o struct {
			Entity struct {
				Statuses []st `json:"statuses"`
			} `json:"entity"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		return o.Entity.Statuses
	}
	for _, x := range read() {
		if x.Deleted == nil || *x.Deleted {
			t.Errorf("live status %s: deleted %v", x.Code, x.Deleted)
		}
	}
	if err := s.RevokeStatus(uuid, "ACCEPTED_AT_PICK_UP_POINT"); err != nil {
		t.Fatal(err)
	}
	sts := read()
	if len(sts) < 3 || sts[0].Code != "ACCEPTED_AT_PICK_UP_POINT" || *sts[0].Deleted || sts[1].Code != "DELIVERED" || !*sts[1].Deleted ||
		!(sts[0].DateTime > sts[1].DateTime) {
		t.Errorf("after the revocation: %+v", sts)
	}
	if got := s.Orders()[0].Status; got != "ACCEPTED_AT_PICK_UP_POINT" {
		t.Errorf("simulator's own view: %s", got)
	}
	// The order is live again: it can move on, and be delivered for good.
	if err := s.SetOrderStatus("N-3", "DELIVERED"); err != nil {
		t.Error(err)
	}
}
