package poller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
)

// Tracking end to end against both simulators: orders registered at the
// CDEK simulator by the real cycle, parcels moved there (DELIVERED; a return
// to the sender), then one tracking pass through the CDEK adapter's Tracker:
// the delivered order moves to «Доставлен», the returned one to «Возврат»,
// one a manager moved elsewhere keeps its status and gets only the delivery
// status; a second pass with nothing new writes nothing.
func TestTrackingAgainstTheCDEKSimulator(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{}, func(c *Config) {
		c.States.Delivered, c.States.Returned = sDelivered, sReturned
		c.Attributes.DeliveryStatus = aDeliveryStatus
		c.TrackEvery, c.TrackMaxAge = time.Hour, 1440*time.Hour
	})
	h.ms.AddState(sDelivered, 0x00897B)
	h.ms.AddState(sReturned, 0x6D4C41)
	h.ms.AddAttribute(aDeliveryStatus, "string")
	ids := map[string]string{}
	for _, name := range []string{"T-DLV", "T-RET", "T-MOVED"} {
		ids[name] = h.addOrder(name, nil)
		h.set(ids[name], sReady)
	}
	for i := 0; i < 4; i++ {
		h.cycle()
		h.clock.Advance(5 * time.Second)
	}
	for name, id := range ids {
		if o := h.order(id); o.StateName != sRegistered {
			t.Fatalf("%s: %s; history %s", name, o.StateName, h.timeline(id))
		}
	}
	if err := sim.SetStatus(h.record(ids["T-DLV"]).Reference, "DELIVERED", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.ReturnToSender(h.record(ids["T-RET"]).Reference); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetStatus(h.record(ids["T-MOVED"]).Reference, "DELIVERED", ""); err != nil {
		t.Fatal(err)
	}
	h.set(ids["T-MOVED"], "Новый") // a manager moved this one by hand
	if _, err := h.p.Track(context.Background(), TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"T-DLV": sDelivered, "T-RET": sReturned, "T-MOVED": "Новый"} {
		o := h.order(ids[name])
		if o.StateName != want || o.Attr(aDeliveryStatus) == "" {
			t.Errorf("%s: %s, delivery status %q, want %s; history %s", name, o.StateName, o.Attr(aDeliveryStatus), want, h.timeline(ids[name]))
		}
	}
	puts := 0
	for _, id := range ids {
		puts += h.ms.PutsPerOrder(id)
	}
	h.clock.Advance(2 * time.Hour)
	if _, err := h.p.Track(context.Background(), TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	after := 0
	for _, id := range ids {
		after += h.ms.PutsPerOrder(id)
	}
	if after != puts {
		t.Errorf("a pass with nothing new wrote %d times", after-puts)
	}
}

// A «Вручен» CDEK revoked (deleted: true) does not move the order to
// «Доставлен», nor a revoked «Не вручен» to «Возврат»: tracking follows the
// newest live status — the one before the revoked status when nothing newer
// came yet (RV-DLV: the revoked DELIVERED is still the newest entry), or
// the newer one (RV-ND).
func TestTrackingIgnoresARevokedCDEKStatus(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{}, func(c *Config) {
		c.States.Delivered, c.States.Returned = sDelivered, sReturned
		c.Attributes.DeliveryStatus = aDeliveryStatus
		c.TrackEvery, c.TrackMaxAge = time.Hour, 1440*time.Hour
	})
	h.ms.AddState(sDelivered, 0x00897B)
	h.ms.AddState(sReturned, 0x6D4C41)
	h.ms.AddAttribute(aDeliveryStatus, "string")
	ids := map[string]string{}
	for _, name := range []string{"RV-DLV", "RV-ND"} {
		ids[name] = h.addOrder(name, nil)
		h.set(ids[name], sReady)
	}
	for i := 0; i < 4; i++ {
		h.cycle()
		h.clock.Advance(5 * time.Second)
	}
	for name, id := range ids {
		if o := h.order(id); o.StateName != sRegistered {
			t.Fatalf("%s: %s; history %s", name, o.StateName, h.timeline(id))
		}
	}
	dlv, nd := h.record(ids["RV-DLV"]).Reference, h.record(ids["RV-ND"]).Reference
	for _, err := range []error{
		sim.SetStatus(dlv, "DELIVERED", ""), sim.RevokeStatus(dlv, ""),
		sim.SetStatus(nd, "NOT_DELIVERED", "11"), sim.RevokeStatus(nd, "TAKEN_BY_COURIER"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.p.Track(context.Background(), TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"RV-DLV": "Создан", "RV-ND": "Выдан на доставку"} {
		o := h.order(ids[name])
		if o.StateName != sRegistered || !strings.HasPrefix(o.Attr(aDeliveryStatus), want) {
			t.Errorf("%s: %s, delivery status %q, want %s / %s; history %s", name, o.StateName, o.Attr(aDeliveryStatus), sRegistered, want, h.timeline(ids[name]))
		}
		if rec := h.record(ids[name]); rec.Delivery.Status == "delivered" || rec.Delivery.Status == "not_delivered" {
			t.Errorf("%s: recorded delivery %+v", name, rec.Delivery)
		}
	}
}
