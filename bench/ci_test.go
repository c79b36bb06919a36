package bench

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// busy reports whether the machine's 1-minute load average exceeds its CPU
// count, when /proc/loadavg says so.
func busy() (bool, float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return false, 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false, 0
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return err == nil && l > float64(runtime.NumCPU()), l
}

// TestBurstCI is the small, fast variant of BenchmarkBurst that CI runs on
// every change: 200 orders, every duration scaled down ×20, MoySklad's user
// budget. Request counts are asserted strictly; the time ratio generously,
// because a loaded CI machine may be slow.
func TestBurstCI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real cycles for a few seconds")
	}
	// Request counts must hold on every run. Time depends on the machine:
	// a slow run is repeated once before it counts as a failure, and under
	// the race detector (several times slower, and in CI sharing two cores
	// with every other package's tests) or on an overloaded machine it is
	// only logged.
	for attempt := 1; ; attempt++ {
		ratio := burstCI(t)
		if t.Failed() || raceEnabled || ratio <= 1.3 {
			return
		}
		if b, load := busy(); b {
			t.Logf("wall/floor %.3f > 1.3, not asserted: load average %.1f on %d CPUs", ratio, load, runtime.NumCPU())
			return
		}
		if attempt == 2 {
			t.Fatalf("wall/floor %.3f > 1.3 twice", ratio)
		}
		t.Logf("wall/floor %.3f > 1.3; trying once more in case the machine was busy", ratio)
	}
}

func burstCI(t *testing.T) float64 {
	t.Helper()
	e := newEnv(t, Options{Scale: 20, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval, WaybillBytes: RealisticWaybillBytes})
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
	return r.Ratio()
}
