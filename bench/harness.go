// Package bench measures shipbridge against the API limits it lives under.
//
// Its benchmarks and tests run the real workflow — poller.Poller with the
// MoySklad client, the CDEK adapter and the bbolt store — against the
// in-process simulators of both APIs (moyskladtest, cdektest), with
// realistic latencies and asynchronous delays. Every duration (the MoySklad
// rate window, request latencies, CDEK's settling and print delays, the
// workflow's poll intervals and timeouts) is divided by one Scale factor so
// that a run takes seconds instead of minutes; ratios and request counts do
// not depend on the scale, and times are reported both as measured and
// multiplied back to real time.
//
// See BENCHMARKS.md at the repository root for the figures and commands.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/poller"
	"github.com/shipbridge/shipbridge/store"
)

// Real-time parameters of the environment, before scaling.
const (
	// MoySkladWindow is MoySklad's rate window.
	MoySkladWindow = 3 * time.Second
	// UserBudget and SolutionBudget are the requests allowed per window for
	// a user token and for a solution token.
	UserBudget     = 11
	SolutionBudget = 45
	// PageSize is how many orders one list page carries (limit=100 with expand).
	PageSize = 100
)

// Realistic delays (real time, before scaling).
var (
	MoySkladLatency = [2]time.Duration{50 * time.Millisecond, 150 * time.Millisecond}
	CDEKLatency     = [2]time.Duration{50 * time.Millisecond, 150 * time.Millisecond}
	CDEKSettle      = [2]time.Duration{300 * time.Millisecond, 3 * time.Second}
	CDEKPrint       = [2]time.Duration{time.Second, 2 * time.Second}
)

// RecommendedCDEKPollInterval is the CDEK adapter poll interval these
// benchmarks recommend: CDEK renders a print form in 1–2 s, so polling it
// every 2 s finds it ready at the first check, where the default 500 ms
// spends about three checks per waybill.
const RecommendedCDEKPollInterval = 2 * time.Second

// Options describe one environment.
type Options struct {
	// Scale divides every duration (default 10).
	Scale float64
	// Budget is MoySklad's requests per window (default UserBudget).
	Budget int
	// Workers overrides the poller's worker count (0: the poller's default).
	Workers int
	// CDEKPollInterval overrides the CDEK adapter's poll interval, in real
	// time before scaling (0: the adapter's default, cdek.DefaultPollInterval).
	CDEKPollInterval time.Duration
	// Dir holds the store file.
	Dir string
	// Seed seeds the random delays (default 1).
	Seed uint64
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Remote, when set, points the environment at simulators running
	// elsewhere (another process) instead of starting its own.
	Remote *Remote
	// PutWriteBack makes the poller write each outcome back with its own
	// PUT (poller.Config.PutWriteBack), the path before bulk write-back.
	PutWriteBack bool
	// WaybillBytes pads every waybill PDF the CDEK simulator serves to
	// about this size (0: the simulator's own, under 1 KB). Real CDEK
	// waybills weigh tens of kilobytes; in a bulk update they travel
	// base64-encoded in the request body.
	WaybillBytes int
}

// RealisticWaybillBytes is the waybill size the burst benchmarks use: "tens
// of kilobytes" (an assumption: no real CDEK waybill PDF is among the
// samples).
const RealisticWaybillBytes = 40 << 10

// Remote names simulators started by another Env.
type Remote struct {
	MoySkladURL, MoySkladToken        string
	CDEKURL, CDEKClientID, CDEKSecret string
}

// Env is a running environment: both simulators, the clients, the store and
// the poller, wired as app/wire.go wires them.
type Env struct {
	Opts Options
	MS   *moyskladtest.Server // nil with Options.Remote
	CDEK *cdektest.Server     // nil with Options.Remote
	// pad serves the CDEK simulator's API with padded waybills
	// (Options.WaybillBytes); nil without.
	pad   *httptest.Server
	MSC   *moysklad.Client
	Store *store.Store
	P     *poller.Poller
	Cfg   poller.Config

	agent, product string
	seeded         moyskladtest.Seeded
	rngMu          sync.Mutex
	rng            *rand.Rand
}

// Names of the default statuses and attributes (PRODUCT.md §1).
const (
	StateReady      = "Готов к отгрузке"
	StateRegistered = "Зарегистрирован перевозчиком"
)

// S scales a real-time duration down.
func (e *Env) S(d time.Duration) time.Duration { return time.Duration(float64(d) / e.Opts.Scale) }

// Real scales a measured duration back up to real time.
func (e *Env) Real(d time.Duration) time.Duration { return time.Duration(float64(d) * e.Opts.Scale) }

func (e *Env) uniform(r [2]time.Duration) func() time.Duration {
	lo, hi := e.S(r[0]), e.S(r[1])
	return func() time.Duration {
		e.rngMu.Lock()
		f := e.rng.Float64()
		e.rngMu.Unlock()
		return lo + time.Duration(f*float64(hi-lo))
	}
}

// NewEnv starts an environment. Close releases it.
func NewEnv(o Options) (*Env, error) {
	if o.Scale <= 0 {
		o.Scale = 10
	}
	if o.Budget <= 0 {
		o.Budget = UserBudget
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	e := &Env{Opts: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed*7919))}
	window := e.S(MoySkladWindow)
	r := o.Remote
	if r == nil {
		e.MS = moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: o.Budget, Window: window, MaxParallel: 5,
			Latency: e.uniform(MoySkladLatency)})
		e.seeded = moyskladtest.Seed(e.MS)
		e.agent = e.MS.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+7 916 123-45-67", Email: "ivan@example.ru"})
		e.product = e.MS.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Article: "KT-1", Weight: 1.2})
		e.CDEK = cdektest.NewServer(cdektest.Options{Seed: o.Seed, Latency: e.uniform(CDEKLatency),
			SettleDelay: e.uniform(CDEKSettle), PrintDelay: e.uniform(CDEKPrint)})
		r = &Remote{MoySkladURL: e.MS.URL(), MoySkladToken: e.MS.Token(),
			CDEKURL: e.CDEK.URL(), CDEKClientID: e.CDEK.ClientID(), CDEKSecret: e.CDEK.ClientSecret()}
		if o.WaybillBytes > 0 {
			var err error
			if e.pad, err = padWaybills(e.CDEK.URL(), o.WaybillBytes); err != nil {
				e.Close()
				return nil, err
			}
			r.CDEKURL = e.pad.URL
		}
		e.Opts.Remote = nil
	}
	fail := func(err error) (*Env, error) {
		e.Close()
		return nil, err
	}
	var err error
	e.MSC, err = moysklad.New(moysklad.Config{BaseURL: r.MoySkladURL, Token: r.MoySkladToken,
		RequestsPerWindow: o.Budget, Window: window, MaxParallel: 4,
		RetryBaseDelay: e.S(500 * time.Millisecond), RetryMaxDelay: e.S(30 * time.Second), Logger: o.Logger.Named("moysklad")})
	if err != nil {
		return fail(err)
	}
	cc := cdek.Config{BaseURL: r.CDEKURL, ClientID: r.CDEKClientID, ClientSecret: r.CDEKSecret,
		ShipmentPoint: "MSK65", Sender: cdek.Sender{Name: "ИП Петров", Phone: "+79990000000"},
		PollInterval: e.S(cdek.DefaultPollInterval), MaxWait: e.S(cdek.DefaultMaxWait),
		NotFoundGrace: e.S(cdek.DefaultNotFoundGrace), Logger: o.Logger.Named("cdek")}
	if o.CDEKPollInterval > 0 {
		cc.PollInterval = e.S(o.CDEKPollInterval)
	}
	carrier, err := cdek.New(cc)
	if err != nil {
		return fail(err)
	}
	var reg carriers.Registry
	if err := reg.Register(carrier, carriers.Profile{Names: []string{"СДЭК", "CDEK"}, WeightUnit: "kg",
		LengthCM: 20, WidthCM: 15, HeightCM: 10, DefaultWeightG: 500, CashOnDelivery: "auto"}); err != nil {
		return fail(err)
	}
	dir := o.Dir
	e.Store, err = store.Open(filepath.Join(dir, "shipbridge.db"), store.Options{})
	if err != nil {
		return fail(err)
	}
	// The production configuration (poller defaults, app's SettleTimeout),
	// every duration scaled.
	cfg := poller.Config{Workers: o.Workers, PutWriteBack: o.PutWriteBack}.WithDefaults()
	cfg.States = poller.StateNames{Ready: StateReady, Registered: StateRegistered, Failed: "Ошибка оформления доставки",
		Delete: "Удалить заказ на доставку", Deleted: "Заказ на доставку удален", NotDeleted: "Заказ на доставку НЕ удален"}
	cfg.Attributes = poller.AttributeNames{Carrier: "Служба доставки", PickupPoint: "Код ПВЗ", Tariff: "Тариф доставки",
		TrackingNumber: "Трек-номер", Waybill: "Накладная", Error: "Ошибка доставки"}
	for _, d := range []*time.Duration{&cfg.Overlap, &cfg.SweepEvery, &cfg.PollInterval, &cfg.FirstPollDelay, &cfg.SettleTimeout,
		&cfg.ReconcileGrace, &cfg.RetryBase, &cfg.RetryMax, &cfg.BulkDelay} {
		*d = e.S(*d)
	}
	e.Cfg = cfg
	e.P = poller.New(cfg, poller.Deps{MoySklad: e.MSC, Carriers: &reg, Store: e.Store, Logger: o.Logger.Named("poller")})
	return e, nil
}

// Close stops everything the environment started.
func (e *Env) Close() {
	if e.Store != nil {
		_ = e.Store.Close()
	}
	if e.MS != nil {
		e.MS.Close()
	}
	if e.CDEK != nil {
		e.CDEK.Close()
	}
	if e.pad != nil {
		e.pad.Close()
	}
}

// RemoteOf names the environment's simulators for another process: the
// padding proxy in front of CDEK when there is one.
func (e *Env) RemoteOf() Remote {
	r := Remote{MoySkladURL: e.MS.URL(), MoySkladToken: e.MS.Token(),
		CDEKURL: e.CDEK.URL(), CDEKClientID: e.CDEK.ClientID(), CDEKSecret: e.CDEK.ClientSecret()}
	if e.pad != nil {
		r.CDEKURL = e.pad.URL
	}
	return r
}

// padWaybills starts a reverse proxy to the CDEK simulator at target that
// pads every PDF it serves to about size bytes with comment lines after
// %%EOF (readers ignore what follows the end marker; the adapter checks
// only the %PDF- header).
func padWaybills(target string, size int) (*httptest.Server, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewUnstartedServer(rp)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Header.Get("Content-Encoding") != "" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if resp.StatusCode == http.StatusOK && strings.HasSuffix(resp.Request.URL.Path, ".pdf") {
			b.Grow(size + 80)
			b.Write(body)
			const line = "%ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKL\n"
			for b.Len() < size {
				b.WriteString(line)
			}
		} else {
			// Links the simulator hands out (print form URLs) point at the
			// proxy: the adapter sends its token only to its API host.
			b.Write(bytes.ReplaceAll(body, []byte(target), []byte(srv.URL)))
		}
		resp.Body = io.NopCloser(&b)
		resp.ContentLength = int64(b.Len())
		resp.Header.Set("Content-Length", strconv.Itoa(b.Len()))
		return nil
	}
	srv.Start()
	return srv, nil
}

// AddOrders adds n orders in status "Новый" for CDEK to a pickup point and
// returns their ids.
func (e *Env) AddOrders(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.MS.AddOrder(moyskladtest.OrderSeed{Name: fmt.Sprintf("%s%05d", prefix, i), AgentID: e.agent, StateName: "Новый",
			Positions:  []moyskladtest.PositionSeed{{ProductID: e.product, Quantity: 2, Price: 150000}},
			Attributes: map[string]any{"Служба доставки": "СДЭК", "Код ПВЗ": "MSK67"}})
	}
	return ids
}

// SetReady moves the orders to "ready" as a manager would.
func (e *Env) SetReady(ids ...string) error {
	for _, id := range ids {
		if err := e.MS.SetOrderState(id, StateReady); err != nil {
			return err
		}
	}
	return nil
}

// Registered counts the orders that are registered on MoySklad.
func (e *Env) Registered(ids []string) int {
	n := 0
	for _, id := range ids {
		if o, ok := e.MS.Order(id); ok && o.StateName == StateRegistered {
			n++
		}
	}
	return n
}

// Cycle runs one poll cycle.
func (e *Env) Cycle(ctx context.Context) error { return e.P.Cycle(ctx) }

// Warm runs one cycle with nothing to do (metadata read, cursor set) and
// then waits one rate window, as a daemon that has been running a while.
func (e *Env) Warm(ctx context.Context) error {
	if err := e.Cycle(ctx); err != nil {
		return err
	}
	time.Sleep(e.S(MoySkladWindow))
	return nil
}

// Counts are request counts by endpoint.
type Counts map[string]int

// Sub returns c - before.
func (c Counts) Sub(before Counts) Counts {
	out := Counts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Total sums the counts.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Keys returns the endpoints in order.
func (c Counts) Keys() []string {
	ks := make([]string, 0, len(c))
	for k := range c {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// MSCounts returns MoySklad's requests by endpoint so far.
func (e *Env) MSCounts() Counts { return Counts(e.MS.RequestsByEndpoint()) }

// CDEKCounts returns CDEK's requests by endpoint so far.
func (e *Env) CDEKCounts() Counts { return Counts(e.CDEK.Calls()) }

// FloorFor is the shortest time MoySklad's budget allows for k requests, in
// scaled time: k requests at Budget per window.
func (e *Env) FloorFor(k int) time.Duration {
	return time.Duration(float64(k) / float64(e.Opts.Budget) * float64(e.S(MoySkladWindow)))
}

// Pages is the number of list pages n orders take.
func Pages(n int) int { return (n + PageSize - 1) / PageSize }

// Percentile returns the p-th percentile (0..100, nearest rank) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p/100*float64(len(s))+0.5) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}
