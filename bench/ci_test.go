package bench

import (
	"context"
	"testing"
)

// TestBurstCI is the small, fast variant of BenchmarkBurst that CI runs on
// every change: 200 orders, every duration scaled down ×20, MoySklad's user
// budget. Request counts are asserted strictly; the time ratio generously,
// because a loaded CI machine may be slow.
func TestBurstCI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real cycles for a few seconds")
	}
	e := newEnv(t, Options{Scale: 20, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval})
	r, err := e.Burst(context.Background(), 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wall %s, floor %s, ratio %.3f; MoySklad %.3f/order %v; CDEK %.3f/order %v; 429s %d; cycles %d",
		r.Wall, r.Floor, r.Ratio(), r.MSPerOrder(), r.MS, r.CDEKPerOrder(), r.CDEK, r.TooMany, r.Cycles)
	if r.Registered != r.Orders {
		t.Fatalf("%d of %d orders registered after %d cycles", r.Registered, r.Orders, r.Cycles)
	}
	for _, id := range e.MS.OrderIDs() {
		if n := e.MS.PutsPerOrder(id); n > 1 {
			t.Errorf("order %s got %d PUTs, want 1", id, n)
		}
	}
	if got := r.MSPerOrder(); got > 1.1 {
		t.Errorf("MoySklad requests per order %.3f > 1.1: %v", got, r.MS)
	}
	if got := r.CDEKPerOrder(); got > 6 {
		t.Errorf("CDEK requests per order %.3f > 6: %v", got, r.CDEK)
	}
	if r.TooMany > 2 {
		t.Errorf("%d 429 answers from MoySklad", r.TooMany)
	}
	// The race detector slows everything several times; the bound on
	// time is then only a sanity check.
	bound := 1.3
	if raceEnabled {
		bound = 2.5
	}
	if r.Ratio() > bound {
		t.Errorf("wall/floor %.3f > %.1f (wall %s, floor %s)", r.Ratio(), bound, r.Wall, r.Floor)
	}
}
