package poller

import (
	"context"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
)

// Tracking end to end against the Pochta simulator, which sends the
// textual last-oper-type/attr codes as the real service does
// (ID_ASSIGNMENT/ID_ASSIGNED in lapaygroup/RussianPost README's dump): a
// parcel goes «Присвоен трек-номер» → «Прибыло в место вручения» →
// «Неудачная попытка вручения» → «Вручение адресату», and the MoySklad
// order moves to «Доставлен» only at the last step.
func TestTrackingAgainstThePochtaSimulatorTextCodes(t *testing.T) {
	r := newPochtaRig(t, pochtatest.Options{}, func(c *Config) {
		c.States.Delivered, c.States.Returned = sDelivered, sReturned
		c.Attributes.DeliveryStatus = aDeliveryStatus
		c.TrackEvery, c.TrackMaxAge = time.Hour, 1440*time.Hour
	})
	r.ms.AddState(sDelivered, 0x00897B)
	r.ms.AddState(sReturned, 0x6D4C41)
	r.ms.AddAttribute(aDeliveryStatus, "string")
	id := r.addPost("PT-1", nil)
	r.set(id, sReady)
	r.cycle()
	po := r.registeredAtPochta(id, "PT-1")

	steps := []struct {
		typ, attr, name string
		status, state   string
	}{
		{"ID_ASSIGNMENT", "ID_ASSIGNED", "Присвоен трек-номер", "accepted", sRegistered},
		{"ACCEPTING", "PARTIAL_ACCEPTING", "Прием", "in_transit", sRegistered},
		{"PROCESSING", "ARRIVED", "Прибыло в место вручения", "at_pickup", sRegistered},
		{"TRYING", "FAILED_BY_TEMPORAL_ABSENCE_OF_RECEPIENT", "Неудачная попытка вручения", "at_pickup", sRegistered},
		{"GIVING", "GIVING_RECIPIENT", "Вручение адресату", "delivered", sDelivered},
	}
	for _, st := range steps {
		if err := r.post.SetLastOperationCode(po.Barcode, st.typ, st.attr, st.name, r.clock.Now()); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(2 * time.Hour)
		if _, err := r.p.Track(context.Background(), TrackOptions{}); err != nil {
			t.Fatal(err)
		}
		o := r.order(id)
		if o.StateName != st.state {
			t.Fatalf("after %s/%s «%s»: %s, want %s; history %s", st.typ, st.attr, st.name, o.StateName, st.state, r.timeline(id))
		}
		if got := r.record(id).Delivery; got.Name != st.name || got.Status != st.status {
			t.Errorf("after %s: delivery recorded %+v", st.typ, got)
		}
	}
}
