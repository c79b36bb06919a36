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
// every change: 200 orders with realistic waybills, every duration scaled
// down ×5, MoySklad's user budget, bulk write-back. Request counts are
// asserted strictly — above all MoySklad requests per registered order ≤
// 0.05, the figure bulk write-back exists for; the time ratio generously,
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
		if t.Failed() || raceEnabled || ratio <= ciMaxRatio {
			return
		}
		if b, load := busy(); b {
			t.Logf("wall/floor %.3f > %.2f, not asserted: load average %.1f on %d CPUs", ratio, ciMaxRatio, load, runtime.NumCPU())
			return
		}
		if attempt == 2 {
			t.Fatalf("wall/floor %.3f > %.2f twice", ratio, ciMaxRatio)
		}
		t.Logf("wall/floor %.3f > %.2f; trying once more in case the machine was busy", ratio, ciMaxRatio)
	}
}

// Bounds of TestBurstCI. The floor is that of one PUT per order (200 PUTs +
// 2 list pages at 11 per 3 s = 55 s real); bulk write-back leaves the
// carrier's asynchronous work as the bound (≈ 0.25–0.4 of it for 200
// orders, whose pipeline does not amortise as 1,000 orders' does).
const (
	ciMaxMSPerOrder     = 0.05
	ciMaxMSPerOrderRace = 0.10
	ciMaxRatio          = 0.6
)

func burstCI(t *testing.T) float64 {
	t.Helper()
	e := newEnv(t, Options{Scale: 5, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval, WaybillBytes: RealisticWaybillBytes})
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
			t.Errorf("order %s was written %d times, want once", id, n)
		}
	}
	if r.MS["POST /entity/customerorder"] == 0 || r.MS["PUT /entity/customerorder/{id}"] != 0 {
		t.Errorf("write-back was not bulk: %v", r.MS)
	}
	// An outcome waits at most BulkDelay for company, so the number of bulk
	// requests grows with the wall time over which the outcomes arrive. The
	// race detector stretches that several times on a shared CI machine:
	// there the bound is twice as loose, still a tenth of one PUT per order.
	// The run without -race (.ci/run runs it too) holds the strict bound.
	limit := ciMaxMSPerOrder
	if raceEnabled {
		limit = ciMaxMSPerOrderRace
	}
	if got := r.MSPerOrder(); got > limit {
		t.Errorf("MoySklad requests per order %.3f > %.2f (race detector %v): %v", got, limit, raceEnabled, r.MS)
	}
	// Six steps, each once: the lookup by number before the create (a lost
	// or restored store must not book twice), create, its status, print
	// form request, its status, the PDF; plus a share of the token and
	// the status checks repeated while CDEK is still deciding (≈ 0.4 at
	// this time scale).
	if got := r.CDEKPerOrder(); got > 7 {
		t.Errorf("CDEK requests per order %.3f > 7: %v", got, r.CDEK)
	}
	if r.TooMany > 2 {
		t.Errorf("%d 429 answers from MoySklad", r.TooMany)
	}
	return r.Ratio()
}
