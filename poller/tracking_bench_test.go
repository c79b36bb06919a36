package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

// The tracking benchmark runs in real time: part of a pass's cost is the
// store's fsync'd writes, which do not scale with the simulated delays.
const (
	trackBenchShipments = 10000
	trackBenchBudget    = 11 // requests per 3 s window: a user token
)

func benchS(d time.Duration) time.Duration    { return d }
func benchReal(d time.Duration) time.Duration { return d }

// waitObserver sums the MoySklad client's rate-limiter waits.
type waitObserver struct {
	waits atomic.Int64
	total atomic.Int64 // ns
}

func (o *waitObserver) ObserveRequest(string, string, int, time.Duration, error) {}
func (o *waitObserver) ObserveRateLimitWait(d time.Duration) {
	o.waits.Add(1)
	o.total.Add(int64(d))
}

// BenchmarkTrackingPass is one tracking pass over 10,000 live shipments
// with a fake Tracker, against moyskladtest at 11 requests per 3 s (latency
// 50–150 ms), in real time, run as the daemon runs it: after each poll cycle (every
// minute), until a rate window and a request before the next one. Each
// "cycle" is a registration burst probe of 11 order reads through the same
// client: its limiter wait is the budget tracking took from registration.
//
//	go test -run '^$' -bench TrackingPass -benchtime 1x ./poller/
func BenchmarkTrackingPass(b *testing.B) {
	for _, changed := range []float64{0, 0.01} {
		b.Run(fmt.Sprintf("changed=%g%%", changed*100), func(b *testing.B) {
			for range b.N {
				benchTrackingPass(b, changed)
			}
		})
	}
}

func benchTrackingPass(b *testing.B, changedShare float64) {
	b.StopTimer()
	window := benchS(3 * time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	latency := func() time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return benchS(50*time.Millisecond) + time.Duration(rng.Int64N(int64(benchS(100*time.Millisecond))))
	}
	ms := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: trackBenchBudget, Window: window, MaxParallel: 5})
	defer ms.Close()
	moyskladtest.Seed(ms)
	ms.AddState(sDelivered, 0)
	ms.AddState(sReturned, 0)
	ms.AddAttribute(aDeliveryStatus, "string")
	agent := ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+79161234567"})
	obs := &waitObserver{}
	client, err := moysklad.New(moysklad.Config{BaseURL: ms.URL(), Token: ms.Token(), RequestsPerWindow: trackBenchBudget,
		Window: window, MaxParallel: 4, Observer: obs, RetryBaseDelay: benchS(500 * time.Millisecond)})
	if err != nil {
		b.Fatal(err)
	}

	// 10,000 registered orders and their settled records.
	path := filepath.Join(b.TempDir(), "shipbridge.db")
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	tracker := newFakeTracker()
	now := time.Now()
	pending, _ := json.Marshal(orderState{Trigger: keyReady, TriggerUpdated: "x", Settled: true, IntentAt: now.Add(-24 * time.Hour)})
	var ids []string
	nChanged := int(float64(trackBenchShipments) * changedShare)
	for i := range trackBenchShipments {
		name := fmt.Sprintf("B%05d", i)
		id := ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: agent, StateName: sRegistered,
			Attributes: map[string]any{"Служба доставки": "СДЭК", "Трек-номер": "TN-" + name}})
		ids = append(ids, id)
		ref := "ref-" + name
		// Every shipment was tracked before: in transit. The changed ones
		// have news, one in five of them a delivery.
		d := store.Delivery{Status: "in_transit", Code: "IN_TRANSIT", Name: "В пути", At: now.Add(-48 * time.Hour), CheckedAt: now.Add(-2 * time.Hour)}
		tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT", "В пути", d.At)
		if i < nChanged {
			if i%5 == 0 {
				tracker.set(ref, carriers.TrackDelivered, "DELIVERED", "Вручен", now.Add(-time.Hour))
			} else {
				tracker.set(ref, carriers.TrackAtPickup, "ACCEPTED_AT_PICK_UP_POINT", "Принят в пункт выдачи", now.Add(-time.Hour))
			}
		}
		if err := st.Save(store.OrderRecord{ID: id, Name: name, Carrier: "cdek", Phase: string(phaseRegistered), Attempt: 1, Number: name,
			Reference: ref, TrackingNumber: "TN-" + name, Pending: pending, Delivery: d}); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	st, err = store.Open(path, store.Options{}) // fsync'd, as in production
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var reg carriers.Registry
	if err := reg.Register(tracker, carriers.Profile{Names: []string{"СДЭК"}}); err != nil {
		b.Fatal(err)
	}
	states := testStates
	states.Delivered, states.Returned = sDelivered, sReturned
	attrs := testAttrs
	attrs.DeliveryStatus = aDeliveryStatus
	p := New(Config{States: states, Attributes: attrs, TrackEvery: time.Hour}, Deps{MoySklad: client, Carriers: &reg, Store: st, Logger: zap.NewNop()})
	ms.SetLatency(latency)

	// probe is a registration burst: one window's budget of order reads.
	probe := func() (took, waited time.Duration) {
		w0 := obs.total.Load()
		start := time.Now()
		var wg sync.WaitGroup
		for i := range trackBenchBudget {
			wg.Go(func() {
				if _, err := client.GetOrder(context.Background(), ids[i]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		return time.Since(start), time.Duration(obs.total.Load() - w0)
	}
	time.Sleep(window + benchS(time.Second))
	idleTook, idleWait := probe()
	time.Sleep(window + benchS(time.Second))

	period := benchS(time.Minute)
	margin := window + benchS(2*time.Second) // as app's trackingCycler
	req0 := ms.Requests()
	by0 := ms.RequestsByEndpoint()
	calls0, _ := tracker.stats()
	var (
		slices              int
		trackTime, wall     time.Duration
		probeWait, probeMax time.Duration
		probeTook           time.Duration
		probes              int
		total               TrackReport
	)
	b.StartTimer()
	begin := time.Now()
	for {
		cycle := time.Now()
		took, waited := probe()
		probes++
		probeWait += waited
		probeTook += took
		probeMax = max(probeMax, waited)
		passStart := time.Now()
		rep, err := p.Track(context.Background(), TrackOptions{Deadline: cycle.Add(period - margin)})
		if err != nil {
			b.Fatal(err)
		}
		trackTime += time.Since(passStart)
		slices++
		total.Checked += rep.Checked
		total.Changed += rep.Changed
		total.Moved += rep.Moved
		total.Reads += rep.Reads
		total.Writes += rep.Writes
		total.WriteRequests += rep.WriteRequests
		if rep.Complete {
			break
		}
		time.Sleep(time.Until(cycle.Add(period)))
	}
	wall = time.Since(begin)
	b.StopTimer()
	// The next cycle after the last slice, too.
	time.Sleep(time.Until(begin.Add(time.Duration(slices) * period)))
	took, waited := probe()
	probes++
	probeWait += waited
	probeTook += took
	probeMax = max(probeMax, waited)

	calls, _ := tracker.stats()
	by := ms.RequestsByEndpoint()
	msReq := ms.Requests() - req0 - probes*trackBenchBudget
	probeGets := probes * trackBenchBudget
	b.ReportMetric(float64(calls-calls0), "carrier-calls")
	b.ReportMetric(float64(msReq), "ms-requests")
	b.ReportMetric(benchReal(trackTime).Seconds(), "real-pass-s")
	b.ReportMetric(benchReal(wall).Seconds(), "real-wall-s")
	b.ReportMetric(float64(slices), "slices")
	b.ReportMetric(float64(benchReal(probeWait/time.Duration(probes)).Milliseconds()), "reg-wait-ms/cycle")
	b.Logf("%d shipments, %.0f%% with news: %d carrier calls (Track, 100 each), %d MoySklad requests by tracking "+
		"(%d PUT, %d bulk POST, %d GET order, %d metadata; %d 429), %d checked, %d changed, %d moved, %d orders written in %d write requests",
		trackBenchShipments, changedShare*100, calls-calls0, msReq,
		by["PUT /entity/customerorder/{id}"]-by0["PUT /entity/customerorder/{id}"],
		by["POST /entity/customerorder"]-by0["POST /entity/customerorder"],
		by["GET /entity/customerorder/{id}"]-by0["GET /entity/customerorder/{id}"]-probeGets,
		by["GET /entity/customerorder/metadata"]-by0["GET /entity/customerorder/metadata"], ms.TooManyRequests(),
		total.Checked, total.Changed, total.Moved, total.Writes, total.WriteRequests)
	b.Logf("real time: tracking %s in %d slice(s) of at most %s, %s wall with the cycles in between",
		benchReal(trackTime).Round(100*time.Millisecond), slices, benchReal(period-margin), benchReal(wall).Round(time.Second))
	b.Logf("registration burst (11 order reads) at each of %d cycles: limiter wait mean %s, max %s; took mean %s "+
		"(idle baseline: wait %s, took %s)", probes, benchReal(probeWait/time.Duration(probes)).Round(time.Millisecond),
		benchReal(probeMax).Round(time.Millisecond), benchReal(probeTook/time.Duration(probes)).Round(time.Millisecond),
		benchReal(idleWait).Round(time.Millisecond), benchReal(idleTook).Round(time.Millisecond))
	if total.Checked != trackBenchShipments || total.Changed != nChanged {
		b.Errorf("checked %d, changed %d; want %d, %d", total.Checked, total.Changed, trackBenchShipments, nChanged)
	}
}
