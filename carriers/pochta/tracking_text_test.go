package pochta

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
)

// TestSampleShipmentByIDTextCodes reads the real GET /1.0/shipment/{id}
// answer (testdata/SOURCES.md): its last-oper-type is the text
// ID_ASSIGNMENT, which means registered, not handed over yet.
func TestSampleShipmentByIDTextCodes(t *testing.T) {
	cl, req := fixed(t, 200, "application/json", sample(t, "shipment_by_id_200.reconstructed.json"))
	o, err := cl.GetShipmentOrder(context.Background(), 115689758)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/1.0/shipment/115689758" {
		t.Errorf("path %s", req.URL.Path)
	}
	if o.LastOperType != "ID_ASSIGNMENT" || o.LastOperAttr != "ID_ASSIGNED" || o.HumanOperationName != "Присвоен трек-номер" {
		t.Fatalf("order = %+v", o)
	}
	tr, known := trackingOf("115689758", o)
	if !known || tr.Status != carriers.TrackAccepted || tr.Code != "ID_ASSIGNMENT.ID_ASSIGNED" || tr.Name != "Присвоен трек-номер" ||
		tr.At.IsZero() || tr.At.Year() != 2019 {
		t.Errorf("tracking = %+v known %v", tr, known)
	}
	reg := registrationFrom(o, "")
	if reg.Status != carriers.StatusRegistered || reg.TrackingNumber != "80084740397510" {
		t.Errorf("registration = %+v", reg)
	}
}

func TestTrackingTextCodes(t *testing.T) {
	cases := []struct {
		name            string
		typ, attr, oper string
		want            carriers.TrackStatus
		known           bool
	}{
		{"track number assigned", "ID_ASSIGNMENT", "ID_ASSIGNED", "Присвоен трек-номер", carriers.TrackAccepted, true},
		{"accepted at the office", "ACCEPTING", "PARTIAL_ACCEPTING", "Прием", carriers.TrackInTransit, true},
		{"sorting", "PROCESSING", "DELIVERED_TO_SORTING", "Прибыло в сортировочный центр", carriers.TrackInTransit, true},
		{"arrived at the delivery office", "PROCESSING", "ARRIVED", "Прибыло в место вручения", carriers.TrackAtPickup, true},
		{"arrived at a parcel locker", "PROCESSING", "DELIVERED_TO_PO", "Прибыло в почтомат", carriers.TrackAtPickup, true},
		{"failed attempt", "TRYING", "FAILED_BY_TEMPORAL_ABSENCE_OF_RECEPIENT", "Неудачная попытка вручения", carriers.TrackAtPickup, true},
		{"second failed attempt", "SECOND_UNSUCCESSFUL_DELIVERY_ATTEMPT", "", "Вторая неудачная попытка вручения", carriers.TrackAtPickup, true},
		{"storage", "STORING", "TEMPORAL_STORING", "Хранение", carriers.TrackAtPickup, true},
		{"delivery permitted", "DELIVERY_PERMITTED", "DELIVERY_PERMITTED", "Вручение разрешено", carriers.TrackInTransit, true},
		{"delivered to the addressee", "GIVING", "GIVING_RECIPIENT", "Вручение адресату", carriers.TrackDelivered, true},
		{"delivered by the postman", "GIVING", "GIVING_RECIPIENT_POSTMAN", "Адресату почтальоном", carriers.TrackDelivered, true},
		{"delivered lower case", "giving", "giving_recipient_in_po", "", carriers.TrackDelivered, true},
		{"handed back to the sender", "GIVING", "GIVING_SENDER", "Вручение отправителю", carriers.TrackReturned, true},
		{"handed back by the postman", "GIVING", "GIVING_SENDER_POSTMAN", "Отправителю почтальоном", carriers.TrackReturned, true},
		{"giving without attribute", "GIVING", "GIVING_COMMON", "Вручение", carriers.TrackInTransit, false},
		{"return", "RETURNING", "RETURNING_BY_EXPIRED_STORING", "Возврат", carriers.TrackNotDelivered, true},
		{"refused", "RETURNING", "RETURNING_BY_RECEPIENT_REJECT", "Возврат", carriers.TrackNotDelivered, true},
		{"unclaimed", "HOLDING", "UNCLAIMED", "Временное хранение", carriers.TrackNotDelivered, true},
		{"lost", "SKIPPING", "LOST", "Невручение", carriers.TrackLost, true},
		{"mis-sent", "SKIPPING", "SKIPPING_BY_ERROR", "Невручение", carriers.TrackInTransit, true},
		{"forwarding", "DELIVERING", "DELIVERING_TO_NEW_ADDRESS", "Досылка почты", carriers.TrackInTransit, true},
		{"destroyed", "DESTROYING", "DESTROYED", "Уничтожение", carriers.TrackLost, true},
		// Unknown codes: the name decides only when known whole.
		{"unknown code, arrived", "NEW_OPERATION", "X", "Прибыло в место вручения", carriers.TrackAtPickup, false},
		{"unknown code, failed attempt", "NEW_OPERATION", "X", "Неудачная попытка вручения", carriers.TrackAtPickup, false},
		{"unknown code, vaguely delivering", "NEW_OPERATION", "X", "Ожидает вручения", carriers.TrackInTransit, false},
		{"unknown code, handed over", "NEW_OPERATION", "X", "Вручение  адресату", carriers.TrackDelivered, false},
		{"unknown code, no name", "NEW_OPERATION", "", "", carriers.TrackInTransit, false},
		{"partial delivery", "PARTIAL_DELIVERY", "", "Частичное вручение", carriers.TrackInTransit, false},
		// Numeric strings still take the numeric table.
		{"numeric delivered", "2", "1", "Вручение адресату", carriers.TrackDelivered, true},
		{"numeric arrived", "8", "2", "Прибыло в место вручения", carriers.TrackAtPickup, true},
		{"numeric failed attempt", "12", "1", "Неудачная попытка вручения", carriers.TrackAtPickup, true},
		{"numeric return", "3", "1", "Возврат", carriers.TrackNotDelivered, true},
		{"numeric returned", "2", "2", "Вручение отправителю", carriers.TrackReturned, true},
	}
	for _, tc := range cases {
		o := Order{BatchName: "25", BatchStatus: "SENT", LastOperType: String(tc.typ), LastOperAttr: String(tc.attr),
			HumanOperationName: String(tc.oper), LastOperDate: "2026-03-01T10:00:00.000+03:00"}
		tr, known := trackingOf("7", o)
		if tr.Status != tc.want || known != tc.known {
			t.Errorf("%s: %s/%s %q = %q known %v, want %q known %v", tc.name, tc.typ, tc.attr, tc.oper, tr.Status, known, tc.want, tc.known)
		}
		if tr.Code == "" || tr.At.IsZero() {
			t.Errorf("%s: code or date lost: %+v", tc.name, tr)
		}
	}
}

// TestTrackingJSONForms: the fields may come as JSON strings of text or of
// numbers, or as numbers.
func TestTrackingJSONForms(t *testing.T) {
	for body, want := range map[string]carriers.TrackStatus{
		`{"last-oper-type":"PROCESSING","last-oper-attr":"ARRIVED","human-operation-name":"Прибыло в место вручения"}`: carriers.TrackAtPickup,
		`{"last-oper-type":"8","last-oper-attr":"2","human-operation-name":"Прибыло в место вручения"}`:                carriers.TrackAtPickup,
		`{"last-oper-type":8,"last-oper-attr":2,"human-operation-name":"Прибыло в место вручения"}`:                    carriers.TrackAtPickup,
		`{"last-oper-type":"GIVING","last-oper-attr":"GIVING_RECIPIENT","human-operation-name":"Вручение адресату"}`:   carriers.TrackDelivered,
		`{"last-oper-type":2,"last-oper-attr":1}`: carriers.TrackDelivered,
	} {
		var o Order
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		o.BatchName = "1"
		if got := trackingFrom("1", o).Status; got != want {
			t.Errorf("%s = %q, want %q", body, got, want)
		}
	}
}

// TestRegistrationTextCodes: a registration read by id must not call a
// parcel waiting at the office delivered.
func TestRegistrationTextCodes(t *testing.T) {
	for _, tc := range []struct {
		typ, attr, name string
		want            carriers.Status
	}{
		{"PROCESSING", "ARRIVED", "Прибыло в место вручения", carriers.StatusInTransit},
		{"TRYING", "FAILED_WITH_ANOTHER_REASON", "Неудачная попытка вручения", carriers.StatusInTransit},
		{"ID_ASSIGNMENT", "ID_ASSIGNED", "Присвоен трек-номер", carriers.StatusRegistered},
		{"GIVING", "GIVING_RECIPIENT", "Вручение адресату", carriers.StatusDelivered},
		{"GIVING", "GIVING_SENDER", "Вручение отправителю", carriers.StatusReturned},
	} {
		o := Order{ID: 5, Barcode: "80084740397510", BatchName: "25", BatchStatus: "SENT", LastOperType: String(tc.typ),
			LastOperAttr: String(tc.attr), HumanOperationName: String(tc.name)}
		if got := registrationFrom(o, "").Status; got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.typ, tc.attr, got, tc.want)
		}
	}
}

// TestSimTrackTextAndNumeric: the simulator serves the text codes by
// default and number strings on request; both read the same.
func TestSimTrackTextAndNumeric(t *testing.T) {
	for _, numeric := range []bool{false, true} {
		sim, c := newSim(t, pochtatest.Options{NumericOperations: numeric})
		r, _ := c.Submit(ctx(t), goodShipment("TX-1"))
		b, err := c.Batch(ctx(t), r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			typ, attr int
			name      string
			want      carriers.TrackStatus
			code      string
		}{
			{8, 2, "Прибыло в место вручения", carriers.TrackAtPickup, "PROCESSING.ARRIVED"},
			{12, 1, "Неудачная попытка вручения", carriers.TrackAtPickup, "TRYING.FAILED_BY_TEMPORAL_ABSENCE_OF_RECEPIENT"},
			{3, 4, "Возврат", carriers.TrackNotDelivered, "RETURNING.RETURNING_BY_RECEPIENT_REJECT"},
			{2, 2, "Вручение отправителю", carriers.TrackReturned, "GIVING.GIVING_SENDER"},
		}
		for _, st := range steps {
			if err := sim.SetLastOperation(b.TrackingNumber, st.typ, st.attr, st.name, time.Now()); err != nil {
				t.Fatal(err)
			}
			tr, err := c.Track(ctx(t), []carriers.Registration{b})
			if err != nil {
				t.Fatal(err)
			}
			code := st.code
			if numeric {
				code = strconv.Itoa(st.typ) + "." + strconv.Itoa(st.attr)
			}
			if tr[0].Status != st.want || tr[0].Code != code || tr[0].Name != st.name {
				t.Errorf("numeric=%v %d.%d: %+v, want %s %s", numeric, st.typ, st.attr, tr[0], st.want, code)
			}
		}
	}
}

// TestSimTrackKeepsAnswersOnFailure: one parcel Pochta fails to answer for
// is left out; the others' statuses are returned.
func TestSimTrackKeepsAnswersOnFailure(t *testing.T) {
	sim, c := newSim(t, pochtatest.Options{})
	var regs []carriers.Registration
	for _, n := range []string{"PF-1", "PF-2", "PF-3"} {
		r, _ := c.Submit(ctx(t), goodShipment(n))
		b, err := c.Batch(ctx(t), r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.SetLastOperationCode(b.TrackingNumber, "GIVING", "GIVING_RECIPIENT", "Вручение адресату", time.Now()); err != nil {
			t.Fatal(err)
		}
		regs = append(regs, b)
	}
	// The first request fails.
	sim.FailNextOn([]string{"GET /1.0/shipment/{id}"}, 1, 500)
	tr, err := c.Track(ctx(t), regs)
	if err != nil {
		t.Fatalf("Track: %v", err)
	}
	if len(tr) != 2 || tr[0].Reference != regs[1].Reference || tr[1].Reference != regs[2].Reference ||
		tr[0].Status != carriers.TrackDelivered || tr[1].Status != carriers.TrackDelivered {
		t.Errorf("answers = %+v", tr)
	}
	// Every request failing: an error, nothing answered.
	sim.FailNextOn([]string{"GET /1.0/shipment/{id}"}, 100, 500)
	if tr, err := c.Track(ctx(t), regs); err == nil {
		t.Errorf("all failing: %+v, nil error", tr)
	}
}
