package poller

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// steppingClock returns the same instant for `every` calls, then moves on
// by a millisecond: many orders share one 'updated', as in a bulk change.
type steppingClock struct {
	mu    sync.Mutex
	t     time.Time
	n     int
	every int
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n%c.every == 0 {
		c.t = c.t.Add(time.Millisecond)
	}
	return c.t
}

func TestBurstWithTiesAcrossPages(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, func(c *Config) { c.Workers = 8 })
	// A second simulator whose clock makes ties of 70 orders, so ties
	// straddle the 100-row page boundaries.
	clock := &steppingClock{t: time.Now(), every: 70}
	ms := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 1000, Window: time.Second, Now: clock.Now})
	t.Cleanup(ms.Close)
	h.ms = ms
	h.seeded = moyskladtest.Seed(ms)
	h.agent = ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Сидорова Анна", Phone: "89031234567"})
	h.product = ms.AddProduct(moyskladtest.ProductSeed{Name: "Книга", Code: "B-1", Weight: 0.4})
	h.client = newClient(t, ms)
	h.restart()

	const n = 230
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.addOrder(fmt.Sprintf("B%04d", i), nil)
	}
	for _, id := range ids {
		if err := ms.SetOrderState(id, sReady); err != nil {
			t.Fatal(err)
		}
	}
	h.cycle()
	h.cycle() // a second cycle must not touch them again
	for i, id := range ids {
		o := h.order(id)
		if o.StateName != sRegistered || o.Puts != 1 {
			t.Errorf("%s: %s, %d PUTs", o.Name, o.StateName, o.Puts)
		}
		if c := fc.createsFor(fmt.Sprintf("B%04d", i)); c != 1 {
			t.Errorf("%s: %d creates", o.Name, c)
		}
	}
	if live := fc.liveShipments(); len(live) != n {
		t.Errorf("%d live shipments, want %d", len(live), n)
	}
}
