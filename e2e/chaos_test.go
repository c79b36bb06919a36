package e2e

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

var (
	chaosLong   = flag.Bool("chaos.long", false, "run the long chaos variant (400 orders, 50 SIGKILLs) instead of the short one")
	chaosSeed   = flag.Uint64("chaos.seed", 20260514, "seed of the chaos run (manager actions, kill times, faults)")
	chaosOrders = flag.Int("chaos.orders", 0, "number of orders (0: 40 short, 400 long)")
	chaosKills  = flag.Int("chaos.kills", 0, "number of SIGKILLs (0: 5 short, 50 long)")
	chaosNudge  = flag.Duration("chaos.nudge", 6*time.Second, "in the settle phase, re-set the status of orders that made no progress for this long (0: never)")
	chaosSettle = flag.Duration("chaos.settle", 0, "bound of the settle phase (0: 90s short, 4m long); it must exceed the carriers' reconcile grace (CDEK 60s, cdek.Timings): a create cut off by a kill is only re-sent after it")
	chaosLoss   = flag.Float64("chaos.storeloss", 0.15, "after each kill, the probability that the store file is lost (deleted); the same again that an older backup is restored in its place")
	chaosPochta = flag.Int("chaos.pochta", 3, "every n-th order goes by Почта России (0: none)")
)

// The Почта России endpoints (pochtatest.Server.Calls keys) that get
// injected 5xx in the short run: every one but the create. A 5xx to a
// create is ambiguous (Pochta has no idempotency), so shipbridge re-sends
// it only after Pochta's reconcile grace of 2 minutes, longer than the
// short run; the long run fails every endpoint, creates included.
var pochtaNonCreateEndpoints = []string{
	"GET /1.0/backlog/search", "GET /1.0/shipment/search", "GET /1.0/backlog/{id}", "GET /1.0/shipment/{id}",
	"DELETE /1.0/backlog", "DELETE /1.0/shipment", "POST /1.0/user/shipment", "POST /1.0/batch/{name}/shipment",
	"GET /1.0/batch", "GET /1.0/forms/{id}/forms", "GET /1.0/settings/limit",
}

// chaosParams are the knobs of one chaos run.
type chaosParams struct {
	orders, kills int
	// life is the range of how long the binary runs before each SIGKILL.
	lifeMin, lifeMax time.Duration
	// settle bounds the final clean run.
	settle time.Duration
}

// chaosStats counts what the run did, for the log and RELIABILITY.md.
type chaosStats struct {
	managerActions, bursts, courierPickups int
	kills, storeOpens                      int
	blobsAtKills, waybillsLost             int
	msFailRate                             float64
	ms429Bursts, ms429Answers              int
	cdek5xx, cdek429, cdekLostCreates      int
	cdekCreates, nudges                    int
	storeLosses, storeRestores             int
	// Почта России.
	postOrders, post5xx, postLostCreates, postLostBatches, postCheckIns int
	postCreates, postDoubleLiveSamples                                  int
}

// managerBook is what the simulated managers did to each order.
type managerBook struct {
	mu        sync.Mutex
	last      map[string]string // order id → "ready" or "delete"
	readyOnce map[string]bool
	burstLast map[string]bool // the last action came in a quick flip burst
	// epoch counts store losses and restores; lastEpoch is the epoch of an
	// order's last action. Only an order acted on in the current epoch must
	// have its whole story in the store.
	epoch     int
	lastEpoch map[string]int
}

func (b *managerBook) record(id, action string, burst bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last[id] = action
	b.burstLast[id] = burst
	b.lastEpoch[id] = b.epoch
	if action == "ready" {
		b.readyOnce[id] = true
	}
}

// storeChanged notes that the store was lost or replaced by an older copy.
func (b *managerBook) storeChanged() {
	b.mu.Lock()
	b.epoch++
	b.mu.Unlock()
}

// lockedRand is a seeded random source shared by goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) float() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

func (l *lockedRand) between(a, b time.Duration) time.Duration {
	return a + time.Duration(l.float()*float64(b-a))
}

// TestChaos runs the real binary under `run` against both simulators with
// injected faults while SIGKILLing and restarting it and while managers move
// orders between ready and delete; then it lets the binary settle and checks
// that nothing was lost or duplicated. See RELIABILITY.md.
//
//	go test ./e2e -run TestChaos -chaos.long -timeout 30m -v
func TestChaos(t *testing.T) {
	needBinary(t)
	t.Parallel() // overlaps the idle retries of TestOnceMoySkladUnreachable
	p := chaosParams{orders: 40, kills: 5, lifeMin: 1500 * time.Millisecond, lifeMax: 3500 * time.Millisecond, settle: 90 * time.Second}
	if *chaosPochta > 0 {
		// A Pochta create cut off by a kill before it reached Pochta is
		// re-sent only after Pochta's reconcile grace (2 min, pochta.Timings).
		p.settle = 150 * time.Second
	}
	if *chaosLong {
		p = chaosParams{orders: 400, kills: 50, lifeMin: 2 * time.Second, lifeMax: 8 * time.Second, settle: 4 * time.Minute}
	} else if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	if *chaosOrders > 0 {
		p.orders = *chaosOrders
	}
	if *chaosKills > 0 {
		p.kills = *chaosKills
	}
	if *chaosSettle > 0 {
		p.settle = *chaosSettle
	}
	seed := *chaosSeed
	runStart := time.Now()
	t.Logf("chaos: seed %d, %d orders, %d kills (reproduce with -chaos.seed=%d)", seed, p.orders, p.kills, seed)
	rng := &lockedRand{r: rand.New(rand.NewPCG(seed, seed^0x5eed))}

	var faultsOn atomic.Bool
	faultsOn.Store(true)
	slow := func(pSlow float64, max time.Duration) func() time.Duration {
		return func() time.Duration {
			if !faultsOn.Load() || rng.float() >= pSlow {
				return 0
			}
			return rng.between(0, max)
		}
	}
	var postOpts *pochtatest.Options
	if *chaosPochta > 0 {
		postOpts = &pochtatest.Options{Seed: seed, DailyQuota: 10_000_000, Latency: slow(0.2, 300*time.Millisecond)}
	}
	w := newWorld(t, worldOptions{
		pochta: postOpts,
		// Tighter than the client's own limit below, so 429s happen.
		ms: moyskladtest.Options{RequestsPerWindow: 40, Window: time.Second, Seed: seed, Latency: slow(0.2, 150*time.Millisecond)},
		cdek: cdektest.Options{Seed: seed, Latency: slow(0.2, 300*time.Millisecond),
			SettleDelay: func() time.Duration {
				if faultsOn.Load() {
					return rng.between(20*time.Millisecond, 400*time.Millisecond)
				}
				return 30 * time.Millisecond
			},
			PrintDelay: func() time.Duration { // slow print forms
				if faultsOn.Load() {
					return rng.between(50*time.Millisecond, 1500*time.Millisecond)
				}
				return 30 * time.Millisecond
			}},
	})
	w.env["SHIPBRIDGE_LOG_LEVEL"] = "info"
	w.env["SHIPBRIDGE_WORKERS"] = "16"
	w.env["SHIPBRIDGE_MOYSKLAD_REQUESTS_PER_WINDOW"] = "60"
	w.env["SHIPBRIDGE_MOYSKLAD_MAX_PARALLEL"] = "5"

	var st chaosStats
	ids := make([]string, p.orders)
	names := map[string]string{}
	postNames := map[string]bool{} // the orders that go by Почта России
	for i := range ids {
		name := fmt.Sprintf("CH-%04d", i+1)
		if *chaosPochta > 0 && (i+1)%*chaosPochta == 0 {
			ids[i] = w.addOrderFor(name, "Почта России", "101000")
			postNames[name] = true
			st.postOrders++
		} else {
			ids[i] = w.addOrder(name)
		}
		names[ids[i]] = name
	}
	book := &managerBook{last: map[string]string{}, readyOnce: map[string]bool{}, burstLast: map[string]bool{}, lastEpoch: map[string]int{}}
	var statsMu sync.Mutex
	count := func(f func(*chaosStats)) { statsMu.Lock(); f(&st); statsMu.Unlock() }

	// Half of the orders are set ready at once: a burst to start with.
	for _, id := range ids[:len(ids)/2] {
		w.set(id, sReady)
		book.record(id, "ready", false)
		count(func(s *chaosStats) { s.managerActions++ })
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	// Managers: act on an order that is at rest (what they see in MoySklad),
	// sometimes with a quick change of mind.
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(rng.between(10*time.Millisecond, 60*time.Millisecond)):
			}
			id := ids[rng.intn(len(ids))]
			o := w.order(id)
			var action string
			switch o.StateName {
			case sNew, sFailed, sDeleted:
				action = "ready"
			case sRegistered, sNotDeleted:
				action = "delete"
				if rng.float() < 0.2 {
					action = "ready" // re-assert: must not create a second shipment
				}
			default:
				continue // in a trigger status: shipbridge is on it
			}
			burst := rng.float() < 0.15
			if burst {
				other := map[string]string{"ready": sDelete, "delete": sReady}[action]
				_ = w.ms.SetOrderState(id, other)
				time.Sleep(time.Duration(rng.intn(5)+2) * time.Millisecond)
				count(func(s *chaosStats) { s.bursts++ })
			}
			state := map[string]string{"ready": sReady, "delete": sDelete}[action]
			if err := w.ms.SetOrderState(id, state); err != nil {
				t.Error(err)
				return
			}
			book.record(id, action, burst)
			count(func(s *chaosStats) { s.managerActions++ })
		}
	})
	// Never two live Pochta orders for one order's numbers, at any moment:
	// sampled while the chaos runs (and checked again at the end).
	var doubleMu sync.Mutex
	var doubleLive []string
	samplePost := func() {
		if w.post == nil {
			return
		}
		live := map[string][]string{}
		for _, po := range w.post.Orders() {
			if po.Deleted {
				continue
			}
			for name := range postNames {
				if isNumberOf(po.OrderNum, name) {
					live[name] = append(live[name], fmt.Sprintf("%s/%s", po.OrderNum, po.Barcode))
				}
			}
		}
		for name, l := range live {
			if len(l) > 1 {
				doubleMu.Lock()
				doubleLive = append(doubleLive, fmt.Sprintf("%s: %d live Pochta orders at once %v", name, len(l), l))
				doubleMu.Unlock()
			}
		}
		count(func(s *chaosStats) { s.postDoubleLiveSamples++ })
	}
	// The courier: now and then CDEK takes a parcel, after which deletion is
	// refused; now and then the shop checks a Pochta batch in (Ф103), after
	// which Pochta refuses to delete its orders.
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(rng.between(200*time.Millisecond, 800*time.Millisecond)):
			}
			var live []string
			for _, co := range w.cdek.Orders() {
				if co.Status == "CREATED" && !co.Deleted {
					live = append(live, co.Number)
				}
			}
			if len(live) > 0 && rng.float() < 0.3 {
				if w.cdek.SetOrderStatus(live[rng.intn(len(live))], "RECEIVED_AT_SHIPMENT_WAREHOUSE") == nil {
					count(func(s *chaosStats) { s.courierPickups++ })
				}
			}
			if w.post != nil {
				var open []string
				for _, b := range w.post.Batches() {
					if b.Status == "CREATED" {
						open = append(open, b.Name)
					}
				}
				if len(open) > 0 && rng.float() < 0.06 {
					if w.post.CheckIn(open[rng.intn(len(open))]) == nil {
						count(func(s *chaosStats) { s.postCheckIns++ })
					}
				}
				samplePost()
			}
		}
	})
	// Faults: steady 5xx and slow answers on both APIs, 429 bursts, lost
	// create responses.
	st.msFailRate = 0.05
	w.ms.FailRate(st.msFailRate)
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			switch x := rng.float(); {
			case x < 0.10:
				w.cdek.FailNext(1, []int{500, 502, 503, 504}[rng.intn(4)])
				count(func(s *chaosStats) { s.cdek5xx++ })
			case x < 0.13:
				w.cdek.LoseNextCreateResponse(1)
				count(func(s *chaosStats) { s.cdekLostCreates++ })
			case x < 0.15:
				w.ms.FailNext(3, http.StatusTooManyRequests)
				count(func(s *chaosStats) { s.ms429Bursts++ })
			case x < 0.16:
				w.cdek.FailNext(2, http.StatusTooManyRequests)
				count(func(s *chaosStats) { s.cdek429 += 2 })
			case w.post == nil:
			case x < 0.22:
				status := []int{500, 502, 503, 504}[rng.intn(4)]
				if *chaosLong {
					w.post.FailNext(1, status) // any endpoint, creates included
				} else {
					w.post.FailNextOn(pochtaNonCreateEndpoints, 1, status)
				}
				count(func(s *chaosStats) { s.post5xx++ })
			case x < 0.25:
				w.post.LoseNextCreateResponse(1)
				count(func(s *chaosStats) { s.postLostCreates++ })
			case x < 0.26:
				w.post.LoseNextResponse([]string{"POST /1.0/user/shipment", "POST /1.0/batch/{name}/shipment"}[rng.intn(2)], 1)
				count(func(s *chaosStats) { s.postLostBatches++ })
			}
		}
	})

	// Kill and restart.
	var snapshots []string // copies of the store taken while the binary was down
	for k := 0; k < p.kills; k++ {
		proc := w.start("run")
		time.Sleep(rng.between(p.lifeMin, p.lifeMax))
		if strings.Contains(proc.stderr.String(), "panic") {
			t.Errorf("the binary panicked:\n%s", tail(proc.stderr.String(), 4000))
		}
		if proc.exited() {
			t.Fatalf("run %d ended before it was killed; stderr:\n%s", k+1, tail(proc.stderr.String(), 4000))
		}
		proc.signal(syscall.SIGKILL)
		proc.wait(10 * time.Second)
		count(func(s *chaosStats) { s.kills++ })
		s, err := store.Open(w.dbPath, store.Options{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("kill %d: the store does not open: %v", k+1, err)
		}
		if _, err := s.SchemaVersion(); err != nil {
			t.Errorf("kill %d: schema version: %v", k+1, err)
		}
		s.Close()
		count(func(s *chaosStats) { s.storeOpens++ })
		// Every waybill kept for a write-back belongs to an order record:
		// the two are written in one transaction (store.SaveBlob).
		if rep, err := store.Check(w.dbPath, store.Options{Timeout: 2 * time.Second}); err != nil {
			t.Errorf("kill %d: store check: %v %q", k+1, err, rep.Problems)
		} else {
			count(func(s *chaosStats) { s.blobsAtKills += rep.Blobs })
		}
		// The operator's bad day: the store is lost, or an older backup is
		// put back (as README recommends after damage). shipbridge must not
		// lose an order, duplicate a shipment, adopt another's shipment or
		// call a live shipment deleted because its memory is gone.
		x := rng.float()
		// Every run sees both at least once: an older backup restored before
		// the second-to-last restart, the store lost before the last one.
		if k == p.kills-2 && st.storeRestores == 0 && len(snapshots) > 0 {
			x = *chaosLoss
		} else if k == p.kills-1 && st.storeLosses == 0 {
			x = 0
		}
		switch {
		case x < *chaosLoss:
			if err := os.Remove(w.dbPath); err != nil {
				t.Fatalf("kill %d: lose the store: %v", k+1, err)
			}
			book.storeChanged()
			count(func(s *chaosStats) { s.storeLosses++ })
			t.Logf("kill %d: store lost", k+1)
		case x < 2**chaosLoss && len(snapshots) > 0:
			old := snapshots[rng.intn(len(snapshots))]
			if err := copyFile(old, w.dbPath); err != nil {
				t.Fatalf("kill %d: restore %s: %v", k+1, old, err)
			}
			book.storeChanged()
			count(func(s *chaosStats) { s.storeRestores++ })
			t.Logf("kill %d: older store restored (%s)", k+1, filepath.Base(old))
		default:
			snap := filepath.Join(w.dir, fmt.Sprintf("backup-%02d.db", k+1))
			if err := copyFile(w.dbPath, snap); err == nil {
				snapshots = append(snapshots, snap)
			}
		}
	}
	close(stop)
	bg.Wait()
	faultsOn.Store(false)
	w.ms.FailRate(0)
	st.ms429Answers = w.ms.TooManyRequests()

	// Settle: one clean run, below the simulator's rate limit, until every
	// order the managers touched is at rest and nothing changes.
	w.env["SHIPBRIDGE_MOYSKLAD_REQUESTS_PER_WINDOW"] = "30"
	final := w.start("run")
	settled := func() []string {
		var out []string
		for _, id := range ids {
			if _, touched := book.last[id]; !touched {
				continue
			}
			switch w.order(id).StateName {
			case sReady, sDelete:
				out = append(out, id)
			}
		}
		return out
	}
	settleStart := time.Now()
	deadline := settleStart.Add(p.settle)
	lastProgress, lastCount := time.Now(), -1
	for {
		if final.exited() {
			t.Fatalf("the final run ended by itself; stderr:\n%s", tail(final.stderr.String(), 4000))
		}
		left := settled()
		if len(left) == 0 {
			break
		}
		if len(left) != lastCount {
			t.Logf("settle: %d orders unsettled after %s", len(left), time.Since(settleStart).Round(100*time.Millisecond))
			lastCount, lastProgress = len(left), time.Now()
		}
		if time.Now().After(deadline) {
			t.Errorf("%d orders never settled: %v", len(left), left)
			break
		}
		// shipbridge backs off 30 s and more after a carrier failure (not
		// configurable); after 6 s without progress the manager clicks the
		// same status again, which starts a fresh attempt (rules 7 and 8).
		if *chaosNudge > 0 && time.Since(lastProgress) > *chaosNudge {
			for _, id := range left {
				o := w.order(id)
				t.Logf("nudge %s: %s, error %q", o.Name, o.StateName, o.Attr(aError))
				w.set(id, o.StateName)
				count(func(s *chaosStats) { s.nudges++ })
			}
			lastProgress = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Quiet: give in-flight write-backs a cycle to land.
	time.Sleep(2 * time.Second)
	final.signal(syscall.SIGTERM)
	if code := final.wait(30 * time.Second); code != 0 {
		t.Errorf("final run exited %d after SIGTERM; stderr:\n%s", code, tail(final.stderr.String(), 4000))
	}
	if strings.Contains(final.stderr.String(), "panic") {
		t.Errorf("the binary panicked:\n%s", tail(final.stderr.String(), 4000))
	}

	samplePost()
	violations, info := checkChaos(t, w, ids, names, postNames, book)
	// A waybill saved for its write-back is there when the write-back goes,
	// whenever the process was killed (poller: "waybill_lost" otherwise),
	// and one is kept exactly while its order's record says so.
	if s, err := store.Open(w.dbPath, store.Options{Timeout: 2 * time.Second}); err != nil {
		t.Errorf("final store: %v", err)
	} else {
		for _, id := range ids {
			evs, _ := s.History(id)
			for _, e := range evs {
				if e.Kind == "waybill_lost" {
					st.waybillsLost++
					violations = append(violations, fmt.Sprintf("%s: the stored waybill was missing at its write-back", names[id]))
				}
			}
			kept, err := s.ReadBlob(id, "waybill", func([]byte) error { return nil })
			rec, _, rerr := s.Order(id)
			if err != nil || rerr != nil {
				t.Errorf("final store: %s: %v %v", names[id], err, rerr)
				continue
			}
			if says := strings.Contains(string(rec.Pending), `"waybill_stored":true`); kept != says {
				violations = append(violations, fmt.Sprintf("%s: waybill kept in the store %v, the record says %v", names[id], kept, says))
			}
		}
		s.Close()
	}
	violations = append(violations, doubleLive...)
	if len(violations) > 0 {
		t.Logf("final run's stderr (tail):\n%s", tail(final.stderr.String(), 6000))
	}
	cdekOrders := w.cdek.Orders()
	st.cdekCreates = len(cdekOrders)
	if w.post != nil {
		st.postCreates = len(w.post.Orders())
	}
	for _, v := range info {
		t.Log("note: " + v)
	}
	finals := map[string]map[string]int{"CDEK": {}, "Pochta": {}}
	reasons := map[string]int{}
	for _, id := range ids {
		c := "CDEK"
		if postNames[names[id]] {
			c = "Pochta"
		}
		o := w.order(id)
		finals[c][o.StateName]++
		if o.StateName == sNotDeleted || o.StateName == sFailed {
			reasons[c+": "+firstLine(o.Attr(aError), 110)]++
		}
	}
	t.Logf("final statuses: CDEK %v; Почта России %v", finals["CDEK"], finals["Pochta"])
	for r, n := range reasons {
		t.Logf("reason %d×: %s", n, r)
	}
	t.Logf("chaos result: seed %d, orders %d, kills %d (store opened cleanly after each: %d), manager actions %d (quick flips %d), courier pickups %d, "+
		"store lost %d times, older backup restored %d times, "+
		"faults: MoySklad 5xx rate %.0f%% + %d 429 bursts (%d 429 answers in all, incl. rate-limit refusals), CDEK %d injected 5xx, %d injected 429, %d lost create responses armed, "+
		"slow answers 20%% of requests on both, print forms 50–1500 ms; CDEK orders created %d; "+
		"Почта России: %d orders, %d injected 5xx, %d lost create responses armed, %d lost batch answers armed, %d batches checked in, %d Pochta orders created, %d double-live samples; "+
		"waybills kept in the store at the kills %d (missing at their write-back %d); settle nudges %d; took %s; violations %d",
		seed, p.orders, st.kills, st.storeOpens, st.managerActions, st.bursts, st.courierPickups,
		st.storeLosses, st.storeRestores, st.msFailRate*100, st.ms429Bursts, st.ms429Answers, st.cdek5xx, st.cdek429, st.cdekLostCreates, st.cdekCreates,
		st.postOrders, st.post5xx, st.postLostCreates, st.postLostBatches, st.postCheckIns, st.postCreates, st.postDoubleLiveSamples,
		st.blobsAtKills, st.waybillsLost, st.nudges, time.Since(runStart).Round(time.Second), len(violations))
	eps := w.ms.RequestsByEndpoint()
	t.Logf("MoySklad write-backs: %d bulk requests (POST /entity/customerorder), %d PUTs",
		eps["POST /entity/customerorder"], eps["PUT /entity/customerorder/{id}"])
	for _, v := range violations {
		t.Error("violation: " + v)
	}
}

// isNumberOf reports whether a CDEK number belongs to the order name: the
// name itself or name-2, name-3, … (re-registration after a deletion).
func isNumberOf(number, name string) bool {
	if number == name {
		return true
	}
	rest, ok := strings.CutPrefix(number, name+"-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkChaos checks the invariants of RELIABILITY.md. It returns the
// violations and informational notes.
func checkChaos(t *testing.T, w *world, ids []string, names map[string]string, postNames map[string]bool, book *managerBook) (violations, info []string) {
	t.Helper()
	bad := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
	cdekOrders := w.cdek.Orders()
	var postOrders []pochtatest.OrderInfo
	if w.post != nil {
		postOrders = w.post.Orders()
	}

	// Почта России accepts a second order under a number (no idempotency),
	// so every create shipbridge sends under a number must be its only one:
	// it never reuses a number after a deletion, and re-sends a create whose
	// answer was lost only after a lookup found nothing. Two orders made under
	// one number are a duplicate — unless the store was lost or restored,
	// which may make shipbridge forget a number it deleted under (never one
	// that is live: that is checked below and sampled during the run).
	postByNumber := map[string][]pochtatest.OrderInfo{}
	for _, po := range postOrders {
		postByNumber[po.OrderNum] = append(postByNumber[po.OrderNum], po)
	}
	for n, list := range postByNumber {
		if len(list) < 2 {
			continue
		}
		live := 0
		for _, po := range list {
			if !po.Deleted {
				live++
			}
		}
		switch {
		case live > 1:
			bad("Pochta number %s: %d live orders", n, live)
		case book.epoch == 0:
			bad("Pochta number %s: %d orders created under it (a duplicate create) with the store never lost", n, len(list))
		default:
			info = append(info, fmt.Sprintf("Pochta number %s: %d orders created under it, at most one live (the store was lost or restored)", n, len(list)))
		}
	}

	// No CDEK number was ever created twice while a live order with it existed.
	byNumber := map[string][]cdektest.OrderInfo{}
	for _, co := range cdekOrders {
		byNumber[co.Number] = append(byNumber[co.Number], co)
		for _, code := range co.ErrorCodes {
			if code == "error_validate_im_dep_number_has_already_had_integration" {
				// With its memory intact shipbridge never sends such a create. After
				// a lost or restored store it cannot know, and CDEK's refusal is the
				// safety net: the lookup that follows must adopt only our own order
				// (checked below: registered ⇔ its own live shipment).
				if book.epoch == 0 {
					bad("CDEK number %s: a create was sent while an order with that number was live (CDEK refused it as a duplicate)", co.Number)
				} else {
					info = append(info, fmt.Sprintf("CDEK number %s: a create after a store loss or restore was refused as a duplicate", co.Number))
				}
			}
		}
		if co.CreateState == "INVALID" && len(co.ErrorCodes) > 0 {
			info = append(info, fmt.Sprintf("CDEK refused create %s: %v", co.Number, co.ErrorCodes))
		}
	}
	numbers := make([]string, 0, len(byNumber))
	for n := range byNumber {
		numbers = append(numbers, n)
	}
	sort.Strings(numbers)
	for _, n := range numbers {
		successful := 0
		for _, co := range byNumber[n] {
			if co.CreateState == "SUCCESSFUL" {
				successful++
			}
		}
		// shipbridge never reuses a number after a deletion (it appends -2,
		// -3, …), so two successful creates under one number are a duplicate.
		if successful > 1 {
			live := 0
			for _, co := range byNumber[n] {
				if co.CreateState == "SUCCESSFUL" && !co.Deleted {
					live++
				}
			}
			// After a lost or restored store shipbridge no longer knows that a
			// number was used by a shipment since deleted, and may use it again:
			// CDEK keeps numbers unique only among live orders. Two live ones
			// are always a duplicate.
			if book.epoch == 0 || live > 1 {
				bad("CDEK number %s: %d successful creates (%d live)", n, successful, live)
			} else {
				info = append(info, fmt.Sprintf("CDEK number %s: used again after a deletion the lost store forgot (%d creates, %d live)", n, successful, live))
			}
		}
		if c := w.cdek.CreatesForNumber(n); c > 1 {
			info = append(info, fmt.Sprintf("CDEK number %s: %d create requests (lost answers re-sent after a not-found lookup are legitimate)", n, c))
		}
	}

	st := w.openStore()
	defer st.Close()
	retryReasons := map[string]int{}
	defer func() {
		for r, n := range retryReasons {
			info = append(info, fmt.Sprintf("%d× %s", n, r))
		}
		sort.Strings(info)
	}()
	for _, id := range ids {
		name := names[id]
		book.mu.Lock()
		last, touched := book.last[id]
		readyOnce := book.readyOnce[id]
		burst := book.burstLast[id]
		// An order last acted on before the store was lost or restored may
		// have no record, or an older one: its story is in MoySklad and at
		// the carrier, which the checks above and below compare.
		sameEpoch := book.lastEpoch[id] == book.epoch
		book.mu.Unlock()
		o := w.order(id)
		// live are the order's live shipments at its carrier, as
		// "number/tracking" (CDEK: cdek_number; Pochta: ШПИ).
		var live []string
		liveTracking := ""
		carrier := "CDEK"
		if postNames[name] {
			carrier = "Pochta"
			for _, po := range postOrders {
				if isNumberOf(po.OrderNum, name) && !po.Deleted {
					live = append(live, po.OrderNum+"/"+po.Barcode)
					liveTracking = po.Barcode
				}
			}
			for _, co := range cdekOrders {
				if isNumberOf(co.Number, name) {
					bad("%s: a Почта России order was sent to CDEK (%s)", name, co.Number)
				}
			}
		} else {
			for _, co := range cdekOrders {
				if isNumberOf(co.Number, name) && co.CreateState == "SUCCESSFUL" && !co.Deleted && co.Status != "DELIVERED" && co.Status != "NOT_DELIVERED" {
					live = append(live, co.Number+"/"+co.CDEKNumber)
					liveTracking = co.CDEKNumber
				}
			}
			activeSum := 0
			for n := range byNumber {
				if isNumberOf(n, name) {
					activeSum += w.cdek.ActiveOrdersForNumber(n)
				}
			}
			if activeSum != len(live) {
				bad("%s: snapshot shows %d live CDEK orders, ActiveOrdersForNumber %d", name, len(live), activeSum)
			}
			for _, po := range postOrders {
				if isNumberOf(po.OrderNum, name) {
					bad("%s: a CDEK order was sent to Почта России (%s)", name, po.OrderNum)
				}
			}
		}
		tracking, errText := o.Attr(aTracking), o.Attr(aError)

		// MoySklad and the carrier agree, whatever the manager did.
		switch o.StateName {
		case sRegistered, sNotDeleted:
			if len(live) != 1 {
				bad("%s: %s with %d live %s orders %v", name, o.StateName, len(live), carrier, live)
			} else if liveTracking != tracking {
				bad("%s: %s, tracking %q but the live %s order has tracking %q", name, o.StateName, tracking, carrier, liveTracking)
			}
			if o.StateName == sRegistered && o.Attributes[aWaybill].File == nil && errText == "" {
				bad("%s: registered without a waybill and without a reason", name)
			}
			if o.StateName == sNotDeleted && errText == "" {
				bad("%s: not_deleted without a reason", name)
			}
		case sDeleted, sFailed:
			if len(live) != 0 {
				bad("%s: %s but %d live %s orders (orphan shipment): %v", name, o.StateName, len(live), carrier, live)
			}
			if o.StateName == sFailed && errText == "" {
				bad("%s: failed without a reason", name)
			}
			if o.StateName == sDeleted && tracking != "" {
				bad("%s: deleted but tracking %q still set", name, tracking)
			}
		case sNew:
			if touched {
				bad("%s: the manager acted (%s) but the order is in %s", name, last, o.StateName)
			}
		default:
			bad("%s: unsettled status %s", name, o.StateName)
		}
		// The manager's last action was honoured.
		if touched {
			want := map[string][]string{"ready": {sRegistered, sFailed}, "delete": {sDeleted, sNotDeleted}}[last]
			if o.StateName != want[0] && o.StateName != want[1] {
				msg := fmt.Sprintf("%s: last manager action %s, final status %s", name, last, o.StateName)
				if burst {
					// A quick change of mind can land between shipbridge's read and its
					// write-back, which then overwrites it: MoySklad has no conditional PUT.
					msg += " (the action came in a quick flip: lost update; see RELIABILITY.md)"
				}
				bad("%s", msg)
			}
		}
		if n := w.ms.MaxPutsPerMinute(id); n > 100 {
			bad("%s: %d PUTs within a minute (MoySklad bans above 100)", name, n)
		}

		// The cursor never skipped an order; the history is ordered.
		if !touched || !sameEpoch {
			continue
		}
		rec, found, err := st.Order(id)
		if err != nil || !found {
			bad("%s: no record in the store (found %v, err %v): the cursor skipped it", name, found, err)
			continue
		}
		evs, err := st.History(id)
		if err != nil || (readyOnce && len(evs) == 0) {
			bad("%s: history: %d events, err %v", name, len(evs), err)
			continue
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Seq <= evs[i-1].Seq {
				bad("%s: history seq %d after %d", name, evs[i].Seq, evs[i-1].Seq)
			}
			if evs[i].At.Before(evs[i-1].At) {
				bad("%s: history time %s after %s (seq %d)", name, evs[i].At.Format(time.RFC3339Nano), evs[i-1].At.Format(time.RFC3339Nano), evs[i].Seq)
			}
		}
		hasStatus := false
		for _, e := range evs {
			if e.Kind == "retry" || e.Kind == "moysklad_update_failed" {
				retryReasons[e.Kind+": "+firstLine(e.Message, 90)]++
			}
			if e.Kind == "status" && strings.Contains(e.Message, o.StateName) {
				hasStatus = true
			}
		}
		if (o.StateName == sRegistered || o.StateName == sDeleted || o.StateName == sFailed || o.StateName == sNotDeleted) && !hasStatus {
			bad("%s: final status %s is not in the history", name, o.StateName)
		}
		if o.StateName == sRegistered && rec.TrackingNumber != tracking {
			bad("%s: store tracking %q, MoySklad %q", name, rec.TrackingNumber, tracking)
		}
	}
	return violations, info
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// copyFile copies the file at from to to, replacing it.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
