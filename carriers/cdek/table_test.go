package cdek

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/shipbridge/shipbridge/carriers"
)

func cyrillic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cyrillic, r) {
			return true
		}
	}
	return false
}

// TestErrorTable walks the one error table: every entry has a kind the
// workflow knows and a Russian message; prefix entries match their family;
// the codes of the real samples and of the reference are all in it.
func TestErrorTable(t *testing.T) {
	valid := map[carriers.Kind]bool{carriers.KindTransient: true, carriers.KindInvalid: true, carriers.KindRejected: true,
		carriers.KindConfig: true, carriers.KindNotFound: true}
	for code, ci := range errorCodes {
		if !valid[ci.kind] {
			t.Errorf("%s: kind %v", code, ci.kind)
		}
		if !cyrillic(ci.msg) {
			t.Errorf("%s: message %q is not Russian", code, ci.msg)
		}
		probe := strings.TrimSuffix(code, "*")
		if strings.HasSuffix(code, "*") {
			probe += "something_new"
		}
		got, ok := lookupCode(probe)
		if !ok || got != ci {
			t.Errorf("lookup %s = %+v %v", probe, got, ok)
		}
		// For a create a transient code is ambiguous; elsewhere as listed.
		k, _ := codesKind([]ErrorItem{{Code: probe}}, true)
		if want := ci.kind; (want == carriers.KindTransient && k != carriers.KindAmbiguous) || (want != carriers.KindTransient && k != want) {
			t.Errorf("%s on create: %v", code, k)
		}
		if k, _ := codesKind([]ErrorItem{{Code: probe}}, false); k != ci.kind {
			t.Errorf("%s on a read: %v", code, k)
		}
	}
	// Codes from the real samples (testdata) and reference §8.3.
	known := []string{"v2_field_is_empty", "v2_entity_not_found", "v2_internal_error", CodeDuplicateNumber, CodeDuplicateNumberAlt,
		CodeDeleteStatus, CodeStillProcessed, CodeEntityNotReady, "v2_entity_not_found_im_number", "v2_order_not_found",
		"v2_shipment_address_multivalued", "v2_delivery_address_multivalued", CodeSenderLocation, CodeRecipientLocation,
		"v2_number_items_is_more_126", "v2_token_expired", "v2_authorization_incorrect", "unauthorized", "invalid_client",
		"error_validate_good_vat_rate_diff", "error_validate_postamat_package_weight", "ve_package_weight_too_large",
		"err_invalid_tariff_with_ordertype", "err_pvz_with_tariff_mistake", "ERR_PVZ_WEIGHT_LIMIT", "v2_outdated_tariff",
		"orders_number_is_empty", "v2_entity_empty", "v2_too_many_webhooks", "ve_receiver_phone_type_incorrect",
		"error_validate_receiver_name_incorrect_symbol", "error_validate_sender_name_only_digits", "v2_update_forbidden"}
	for _, code := range known {
		if _, ok := lookupCode(code); !ok {
			t.Errorf("%s is not classified", code)
		}
	}
	// Unknown codes: ambiguous for a create, transient for reads; and the
	// most cautious kind of several wins.
	if k, _ := codesKind([]ErrorItem{{Code: "v2_field_is_empty"}, {Code: "x_new"}}, true); k != carriers.KindAmbiguous {
		t.Errorf("unknown on create: %v", k)
	}
	if k, _ := codesKind([]ErrorItem{{Code: "x_new"}}, false); k != carriers.KindTransient {
		t.Errorf("unknown on read: %v", k)
	}
	if k, _ := codesKind([]ErrorItem{{Code: "v2_field_is_empty"}, {Code: CodeSenderLocation}}, true); k != carriers.KindConfig {
		t.Errorf("data + settings: %v", k)
	}
	if m := russian(ErrorItem{Code: CodeDuplicateNumber}, "A-1"); m != "Заказ с номером A-1 уже зарегистрирован в СДЭК" {
		t.Errorf("duplicate message %q", m)
	}
	// The real 400 (testdata/order_create_400_invalid.json) names both fields.
	var env struct {
		Requests []Request `json:"requests"`
	}
	readJSON(t, "testdata/order_create_400_invalid.json", &env)
	items := env.Requests[0].Errors
	if k, _ := codesKind(items, true); k != carriers.KindInvalid {
		t.Errorf("real 400: %v", k)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestStatusTable walks the one status table: every code of «Приложение 1»
// is there with its Russian name and a tracking status.
func TestStatusTable(t *testing.T) {
	appendix1 := []string{"ACCEPTED", "CREATED", "REMOVED", "RECEIVED_AT_SHIPMENT_WAREHOUSE", "DELIVERED", "NOT_DELIVERED",
		"READY_FOR_SHIPMENT_IN_SENDER_CITY", "TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY", "SENT_TO_RECIPIENT_CITY",
		"ACCEPTED_IN_RECIPIENT_CITY", "ACCEPTED_AT_RECIPIENT_CITY_WAREHOUSE", "TAKEN_BY_COURIER", "ACCEPTED_AT_PICK_UP_POINT",
		"ACCEPTED_AT_TRANSIT_WAREHOUSE", "RETURNED_TO_SENDER_CITY_WAREHOUSE", "RETURNED_TO_TRANSIT_WAREHOUSE",
		"RETURNED_TO_RECIPIENT_CITY_WAREHOUSE", "READY_FOR_SHIPMENT_IN_TRANSIT_CITY", "TAKEN_BY_TRANSPORTER_FROM_TRANSIT_CITY",
		"SENT_TO_TRANSIT_CITY", "ACCEPTED_IN_TRANSIT_CITY", "SENT_TO_SENDER_CITY", "ACCEPTED_IN_SENDER_CITY",
		"ENTERED_TO_TRANSIT_WAREHOUSE", "ENTERED_TO_RECIPIENT_CITY_WAREHOUSE", "ENTERED_TO_PICK_UP_POINT",
		"IN_CUSTOMS_INTERNATIONAL", "SHIPPED_TO_DESTINATION", "PASSED_TO_TRANSIT_CARRIER", "IN_CUSTOMS_LOCAL",
		"CUSTOMS_COMPLETE", "POSTOMAT_POSTED", "POSTOMAT_SEIZED", "POSTOMAT_RECEIVED", "INVALID"}
	for _, code := range appendix1 {
		if _, ok := orderStatuses[code]; !ok {
			t.Errorf("%s missing", code)
		}
	}
	for code, si := range orderStatuses {
		if !cyrillic(si.name) || si.status == "" {
			t.Errorf("%s: %+v", code, si)
		}
	}
	for code, want := range map[string]carriers.TrackStatus{"DELIVERED": carriers.TrackDelivered, "POSTOMAT_RECEIVED": carriers.TrackDelivered,
		"ACCEPTED_AT_PICK_UP_POINT": carriers.TrackAtPickup, "POSTOMAT_POSTED": carriers.TrackAtPickup, "TAKEN_BY_COURIER": carriers.TrackInTransit,
		"NOT_DELIVERED": carriers.TrackNotDelivered, "CREATED": carriers.TrackAccepted} {
		if si, _ := lookupStatus(code, ""); si.track != want {
			t.Errorf("%s → %s, want %s", code, si.track, want)
		}
	}
	if si, _ := lookupStatus("NOT_DELIVERED", "26"); si.track != carriers.TrackLost {
		t.Errorf("lost: %+v", si)
	}
	if si, _ := lookupStatus("NOT_DELIVERED", "11"); si.track != carriers.TrackNotDelivered {
		t.Errorf("refused: %+v", si)
	}
}

// TestStatusesByDate: the latest status and request are read by date,
// whatever the order of the arrays (real samples, reversed).
func TestStatusesByDate(t *testing.T) {
	var pr PrintResponse
	readJSON(t, "testdata/print_orders_get_ready_200.json", &pr) // oldest first, ACCEPTED and PROCESSING in the same second
	if got := pr.Entity.LatestStatus(); got != "READY" {
		t.Errorf("print sample: %s", got)
	}
	st := pr.Entity.Statuses
	for i, j := 0, len(st)-1; i < j; i, j = i+1, j-1 {
		st[i], st[j] = st[j], st[i]
	}
	if got := pr.Entity.LatestStatus(); got != "READY" {
		t.Errorf("reversed print sample: %s", got)
	}
	pr.Entity.Statuses = pr.Entity.Statuses[1:] // ACCEPTED and PROCESSING, same second, newest first
	if got := pr.Entity.LatestStatus(); got != "PROCESSING" {
		t.Errorf("tie: %s", got)
	}
	var or OrderResponse
	readJSON(t, "testdata/order_get_successful_200.json", &or) // newest first
	s1, _ := or.Entity.LatestStatus()
	sts := or.Entity.Statuses
	for i, j := 0, len(sts)-1; i < j; i, j = i+1, j-1 {
		sts[i], sts[j] = sts[j], sts[i]
	}
	s2, _ := or.Entity.LatestStatus()
	if s1.Code != "CREATED" || s2.Code != "CREATED" {
		t.Errorf("order statuses: %s %s", s1.Code, s2.Code)
	}
	newer, _ := ParseTime("2026-08-01T14:34:19+0000")
	older, _ := ParseTime("2026-08-01T14:34:18+0000")
	reqs := []Request{{Type: "DELETE", State: StateSuccessful, DateTime: Time{newer}}, {Type: "DELETE", State: StateInvalid, DateTime: Time{older}}}
	if r, _ := LatestRequest(reqs, "DELETE"); r.State != StateSuccessful {
		t.Errorf("latest request by position: %+v", r)
	}
}

// TestMarkInComment: the mark survives any manager comment and is read
// back; a real order's comment without a mark has none (sample
// order_get_accepted_pending_200.json, "comment": "New order").
func TestMarkInComment(t *testing.T) {
	for _, comment := range []string{"", "Позвонить", strings.Repeat("я", 300), "[sb:fake] hand-written"} {
		got := composeComment(comment, "m-1")
		if utf8.RuneCountInString(got) > maxCommentLen || parseMark(got) != "m-1" {
			t.Errorf("comment %.20q → %q (mark %q)", comment, got, parseMark(got))
		}
	}
	if composeComment("Позвонить", "") != "Позвонить" || parseMark("Позвонить") != "" {
		t.Error("no mark")
	}
	var or OrderResponse
	readJSON(t, "testdata/order_get_accepted_pending_200.json", &or)
	c := &Carrier{cfg: Config{}.withDefaults()}
	reg, err := c.registrationFrom(or)
	if err != nil || reg.Mark != "" || reg.RecipientPhone != "+79134637228" {
		t.Errorf("real order: %+v %v", reg, err)
	}
}

// TestTariffTable: the modes of the tariffs the defaults and the examples
// use, as CDEK's Appendix 4 lists them.
func TestTariffTable(t *testing.T) {
	for code, want := range map[int]tariffMode{136: {modeWarehouse, modeWarehouse}, 137: {modeWarehouse, modeDoor},
		138: {modeDoor, modeWarehouse}, 139: {modeDoor, modeDoor}, 368: {modeWarehouse, modePostamat}, 480: {modeDoor, modeDoor},
		605: {modePostamat, modeDoor}} {
		if got, ok := lookupTariff(code); !ok || got != want {
			t.Errorf("tariff %d: %+v", code, got)
		}
	}
	if _, err := sendingPoint(605, true, false); err != nil {
		t.Errorf("postamat start uses shipment_point: %v", err)
	}
	if len(tariffModes) < 100 {
		t.Errorf("%d tariffs", len(tariffModes))
	}
}

// TestWareKeySanitised: [SPEC] ItemRequestDto.ware_key allows ≤ 50
// characters of «A-z А-я 0-9 ! @ " # № $ ; % ^ : & ? * ( ) _ - + = < > , . { } [ ] / space».
func TestWareKeySanitised(t *testing.T) {
	for in, want := range map[string]string{
		"KT-100":                "KT-100",
		"арт. №5 (синий)":       "арт. №5 (синий)",
		"Ёлка ёж":               "Елка еж",
		"a\t\tb   c":            "a b c",
		"éclair~1":              "-clair-1",
		"🙂":                     "item-3",
		"  ~~  ":                "item-3",
		"":                      "item-3",
		strings.Repeat("x", 60): strings.Repeat("x", 50),
	} {
		if got := wareKey(in, 2); got != want {
			t.Errorf("WareKey(%q) = %q, want %q", in, got, want)
		}
	}
}
