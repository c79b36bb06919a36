package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/poller"
	"github.com/shipbridge/shipbridge/store"
)

// Limits of the demo: it must settle in a few seconds, and never run away.
const (
	demoMaxCycles  = 8
	demoCyclePause = 200 * time.Millisecond
)

// What a carrier reports about a registered parcel before the tracking pass.
const (
	parcelDelivered = "delivered"
	parcelReturned  = "returned"
)

// demoOrder is one seeded order of the demo and the manager's story behind it.
type demoOrder struct {
	id, name string
	// scenario says, for the reader of the table, what the order is about (not its outcome).
	scenario string
	// carrier is the key of the carrier expected to take the order; "" for none.
	carrier string
	// deleteAfterRegistration: the manager asks to delete the shipment once it is registered.
	deleteAfterRegistration bool
	deleteRequested         bool
	// parcel is what the carrier reports once the shipment is registered ("" nothing).
	parcel         string
	parcelReported bool
	// expect is the key of the status (moysklad.states.*) the order should end in; "ignored"
	// for an order shipbridge must leave in ready, untouched.
	expect string
}

// expectIgnored is demoOrder.expect for an order of a carrier shipbridge does not handle.
const expectIgnored = "ignored"

// demoSims are the simulators of one demo run.
type demoSims struct {
	ms     *moyskladtest.Server
	cdek   *cdektest.Server
	pochta *pochtatest.Server
}

func (e *env) demoCommand() *cobra.Command {
	var storePath string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the workflow against built-in MoySklad, CDEK and Почта России simulators and show the outcomes",
		Long: "Start the MoySklad, CDEK and Почта России simulators on loopback, seed a handful of orders\n" +
			"(CDEK pickup point, CDEK door delivery, Почта России to a free-text address, a missing phone,\n" +
			"a carrier shipbridge does not handle, a shipment deleted after registration, one that CDEK\n" +
			"rejects), set them to the ready status as a manager would, and run poll cycles exactly as\n" +
			"`shipbridge run` does until everything settles. Then the carriers report parcels delivered\n" +
			"and one returned, and a tracking pass moves those orders. Prints a table of outcomes, whether\n" +
			"each order reached its expected outcome, and every order's timeline. Needs no credentials,\n" +
			"no network and no configuration file; only the log settings are taken from the configuration.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runDemo(cmd.Context(), cmd.OutOrStdout(), storePath, timeout)
		},
	}
	cmd.Flags().StringVar(&storePath, "store", "", "keep the demo's store in this new file, for `shipbridge history` (default: a temporary file removed at exit)")
	cmd.Flags().DurationVar(&timeout, "timeout", 50*time.Second, "give up after this long")
	return cmd
}

// setDemoCarriers points the carriers' settings at the simulators: CDEK as a shop that hands
// parcels over at an office, Почта России enabled.
func setDemoCarriers(cfg *config.Config, sims demoSims) {
	cd, _ := config.CarrierSettings[cdek.Settings](cfg.Carriers)
	cd.BaseURL = sims.cdek.URL()
	cd.ClientID = config.Secret(sims.cdek.ClientID())
	cd.ClientSecret = config.Secret(sims.cdek.ClientSecret())
	cd.ShipmentPoint = "MSK65"
	cd.Sender = cdek.Sender{Name: "Петров Сергей", Company: "ООО «Уютный дом»", Phone: "+74951234567"}
	cfg.Carriers.Set(cd)
	pt, _ := config.CarrierSettings[pochta.Settings](cfg.Carriers)
	pt.Enabled = true
	pt.BaseURL = sims.pochta.URL()
	pt.Token = config.Secret(sims.pochta.Token())
	pt.Login = config.Secret(sims.pochta.Login())
	pt.Password = config.Secret(sims.pochta.Password())
	pt.PostofficeCode = sims.pochta.Postcode()
	cfg.Carriers.Set(pt)
}

func (e *env) runDemo(ctx context.Context, out io.Writer, storePath string, timeout time.Duration) error {
	// Only the log settings come from the configuration (file and environment): everything else
	// is the defaults, pointed at the simulators.
	loaded, err := config.Load(e.configPath, e.lookup, carrierModules...)
	if err != nil {
		return fail(ExitUsage, err)
	}
	cfg := config.Default(carrierModules...)
	cfg.Log = loaded.Log
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		return fail(ExitUsage, err)
	}
	defer func() { _ = log.Sync() }()

	if storePath == "" {
		dir, err := os.MkdirTemp("", "shipbridge-demo-")
		if err != nil {
			return fail(ExitFailure, err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		storePath = filepath.Join(dir, "shipbridge-demo.db")
	} else if _, err := os.Stat(storePath); !errors.Is(err, fs.ErrNotExist) {
		return fail(ExitUsage, fmt.Errorf("--store %s: the file exists; give the name of a new file", storePath))
	}

	// The simulators, with small but realistic latencies.
	ms := moyskladtest.NewServer(moyskladtest.Options{Latency: between(5*time.Millisecond, 20*time.Millisecond), Now: e.now})
	defer ms.Close()
	cd := cdektest.NewServer(cdektest.Options{
		Latency:     between(10*time.Millisecond, 40*time.Millisecond),
		SettleDelay: between(100*time.Millisecond, 400*time.Millisecond),
		PrintDelay:  between(100*time.Millisecond, 300*time.Millisecond),
		Now:         e.now,
	})
	defer cd.Close()
	pt := pochtatest.NewServer(pochtatest.Options{Latency: between(10*time.Millisecond, 40*time.Millisecond), Now: e.now})
	defer pt.Close()
	sims := demoSims{ms: ms, cdek: cd, pochta: pt}
	moyskladtest.Seed(ms)
	// Tracking's statuses and attribute, as `shipbridge setup` creates them.
	ms.AddState(cfg.MoySklad.States.Delivered, 0x00897B)
	ms.AddState(cfg.MoySklad.States.Returned, 0x6D4C41)
	ms.AddAttribute(cfg.MoySklad.Attributes.DeliveryStatus, "string")

	cfg.Store.Path = storePath
	cfg.HTTP.Listen = ""
	cfg.MoySklad.BaseURL = ms.URL()
	cfg.MoySklad.Token = config.Secret(ms.Token())
	// The simulator admits MoySklad's documented 45 requests per 3 s (a solution token).
	cfg.MoySklad.RequestsPerWindow = 45
	setDemoCarriers(&cfg, sims)
	if err := cfg.Validate(); err != nil {
		return fail(ExitFailure, fmt.Errorf("demo configuration: %w", err))
	}
	if cfg.Tracking.Every <= 0 {
		return fail(ExitFailure, errors.New("demo configuration: tracking is off"))
	}
	log.Info("demo: simulators started", zap.String("moysklad", ms.URL()), zap.String("cdek", cd.URL()),
		zap.String("pochta", pt.URL()), zap.String("store", storePath))

	orders := seedDemo(ms, cfg)
	for _, o := range orders {
		if err := ms.SetOrderState(o.id, cfg.MoySklad.States.Ready); err != nil {
			return fail(ExitFailure, fmt.Errorf("demo: set %s to ready: %w", o.name, err))
		}
	}
	log.Info("demo: the manager set every order to the ready status",
		zap.Int("orders", len(orders)), zap.String("status", cfg.MoySklad.States.Ready))

	// The real dependencies, built exactly as for `shipbridge run`.
	d, err := build(cfg, log, e.now, e.userAgent())
	if err != nil {
		return fail(ExitFailure, err)
	}
	defer d.close()
	if d.tracking == nil {
		return fail(ExitFailure, errors.New("demo: tracking was not built"))
	}
	// Registration cycles first, without tracking; then the carriers report the parcels and
	// the cycle runs with its tracking pass, as under `run`. The first pass of a store takes
	// every live shipment, so it sees the reports whatever tracking.every is.
	var tracking atomic.Bool
	cycler := CycleFunc(func(ctx context.Context) error {
		if tracking.Load() {
			return d.tracking.Cycle(ctx)
		}
		return d.poller.Cycle(ctx)
	})
	sched, err := NewScheduler(cfg.Schedule, cycler, log, e.now)
	if err != nil {
		return fail(ExitFailure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() { _ = sched.Stop(context.WithoutCancel(ctx)) }()

	for cycle := 1; cycle <= demoMaxCycles; cycle++ {
		log.Info("demo: poll cycle", zap.Int("cycle", cycle))
		err := sched.RunNow(ctx)
		logCycleProgress(log, d.poller.Progress())
		if err != nil {
			return fail(ExitFailure, fmt.Errorf("demo cycle %d: %w", cycle, err))
		}
		// The manager's second step: delete the shipment once it is registered.
		for i := range orders {
			o := &orders[i]
			if snap, ok := ms.Order(o.id); ok && o.deleteAfterRegistration && !o.deleteRequested && snap.StateName == cfg.MoySklad.States.Registered {
				if err := ms.SetOrderState(o.id, cfg.MoySklad.States.Delete); err != nil {
					return fail(ExitFailure, fmt.Errorf("demo: set %s to delete: %w", o.name, err))
				}
				o.deleteRequested = true
				log.Info("demo: the manager asks to delete the shipment", zap.String("order", o.name), zap.String("status", cfg.MoySklad.States.Delete))
			}
		}
		left, err := demoUnsettled(sims, d.store, cfg, orders)
		if err != nil {
			return fail(ExitFailure, err)
		}
		if len(left) == 0 {
			log.Info("demo: every order settled", zap.Int("cycles", cycle))
			break
		}
		log.Info("demo: orders still in progress", zap.Strings("orders", left))
		if err := demoPause(ctx); err != nil {
			return fail(ExitFailure, err)
		}
	}

	// The carriers report what happened to the parcels; then a cycle with its tracking pass.
	reported, err := reportParcels(sims, d.store, cfg, orders, e.now, log)
	if err != nil {
		return fail(ExitFailure, err)
	}
	if reported > 0 {
		tracking.Store(true)
		log.Info("demo: poll cycle with a tracking pass")
		err := sched.RunNow(ctx)
		logCycleProgress(log, d.poller.Progress())
		if err != nil {
			return fail(ExitFailure, fmt.Errorf("demo tracking cycle: %w", err))
		}
	}

	verdicts, err := demoVerdicts(sims, d.store, cfg, orders)
	if err != nil {
		return fail(ExitFailure, err)
	}
	if err := writeDemoReport(out, ms, d.store, cfg, orders, verdicts, e.now().Location()); err != nil {
		return fail(ExitFailure, err)
	}
	var missed []string
	for _, v := range verdicts {
		if v.mark == "✗" {
			missed = append(missed, v.order)
		}
	}
	if len(missed) > 0 {
		return fail(ExitFailure, fmt.Errorf("demo: %d order(s) did not reach the expected outcome: %s", len(missed), strings.Join(missed, ", ")))
	}
	log.Info("demo: every order reached its expected outcome", zap.Int("orders", len(orders)))
	return nil
}

// demoPause waits between two cycles.
func demoPause(ctx context.Context) error {
	t := time.NewTimer(demoCyclePause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("demo: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// logCycleProgress logs how many orders the last cycle found, finished and left.
func logCycleProgress(log *zap.Logger, pr poller.Progress) {
	fields := []zap.Field{zap.Int("found", pr.Found), zap.Int("done", pr.Done), zap.Int("left", pr.Found-pr.Done)}
	if !pr.Started.IsZero() && !pr.Finished.IsZero() {
		fields = append(fields, zap.Duration("took", pr.Finished.Sub(pr.Started).Round(time.Millisecond)))
	}
	if pr.Err != "" {
		fields = append(fields, zap.String("error", pr.Err))
	}
	log.Info("cycle progress", fields...)
}

// between returns a latency function drawing uniformly from [lo, hi).
func between(lo, hi time.Duration) func() time.Duration {
	return func() time.Duration { return lo + rand.N(hi-lo) }
}

// seedDemo adds the demo's counterparties, products and orders (in the ordinary "Новый" status).
func seedDemo(ms *moyskladtest.Server, cfg config.Config) []demoOrder {
	attr := cfg.MoySklad.Attributes
	kettle := ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник электрический Redmond RK-G200", Article: "RK-G200", Weight: 1.4})
	mug := ms.AddProduct(moyskladtest.ProductSeed{Name: "Кружка керамическая, 350 мл", Article: "MUG-350", Weight: 0.35})
	towels := ms.AddProduct(moyskladtest.ProductSeed{Name: "Набор махровых полотенец, 3 шт.", Article: "TWL-3", Weight: 0.9})
	lamp := ms.AddProduct(moyskladtest.ProductSeed{Name: "Настольная лампа Xiaomi Mi LED", Article: "MJTD01", Weight: 1.1})

	type seed struct {
		scenario string
		carrier  string
		delete   bool
		parcel   string
		expect   string
		agent    moyskladtest.CounterpartySeed
		order    moyskladtest.OrderSeed
	}
	seeds := []seed{
		{
			scenario: "ПВЗ СДЭК MSK67, вручен", carrier: "cdek", parcel: parcelDelivered, expect: "delivered",
			agent: moyskladtest.CounterpartySeed{Name: "Смирнова Анна Сергеевна", Phone: "+7 916 555-12-34", Email: "anna.smirnova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00101", Description: "Самовывоз из пункта выдачи на Тверской",
				Positions:  []moyskladtest.PositionSeed{{ProductID: kettle, Quantity: 1, Price: 349000}},
				PayedSum:   349000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "MSK67"}},
		},
		{
			scenario: "курьер до двери, оплата при получении; отказ", carrier: "cdek", parcel: parcelReturned, expect: "returned",
			agent: moyskladtest.CounterpartySeed{Name: "Кузнецов Дмитрий Павлович", Phone: "8 (921) 400-22-11"},
			order: moyskladtest.OrderSeed{Name: "00102", Description: "Позвонить за час до доставки",
				Positions: []moyskladtest.PositionSeed{{ProductID: mug, Quantity: 4, Price: 59000}, {ProductID: towels, Quantity: 1, Price: 189000}},
				ShipmentAddressFull: &moysklad.Address{PostalCode: "191186", City: "Санкт-Петербург",
					Street: "Невский проспект", House: "28", Apartment: "15"},
				Attributes: map[string]any{attr.Carrier: "cdek"}},
		},
		{
			scenario: "у покупателя нет телефона", carrier: "cdek", expect: "failed",
			agent: moyskladtest.CounterpartySeed{Name: "Попова Мария Игоревна", Email: "m.popova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00103",
				Positions:  []moyskladtest.PositionSeed{{ProductID: lamp, Quantity: 1, Price: 259000}},
				PayedSum:   259000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "SPB7"}},
		},
		{
			scenario: "Почта России, адрес одной строкой; вручен", carrier: pochta.Name, parcel: parcelDelivered, expect: "delivered",
			agent: moyskladtest.CounterpartySeed{Name: "Соколов Андрей Викторович", Phone: "+7 903 777-88-99"},
			order: moyskladtest.OrderSeed{Name: "00104",
				Positions:       []moyskladtest.PositionSeed{{ProductID: towels, Quantity: 2, Price: 189000}},
				PayedSum:        378000,
				ShipmentAddress: "630099, Новосибирск, ул. Ленина, д. 12, кв. 7",
				Attributes:      map[string]any{attr.Carrier: "Почта России"}},
		},
		{
			scenario: "удаление после регистрации", carrier: "cdek", delete: true, expect: "deleted",
			agent: moyskladtest.CounterpartySeed{Name: "Васильев Игорь Олегович", Phone: "+7 913 222-33-44"},
			order: moyskladtest.OrderSeed{Name: "00105", Description: "Покупатель передумал",
				Positions:  []moyskladtest.PositionSeed{{ProductID: mug, Quantity: 2, Price: 59000}},
				PayedSum:   118000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "NSK23"}},
		},
		{
			scenario: "ПВЗ KZN99, которого нет у СДЭК", carrier: "cdek", expect: "failed",
			agent: moyskladtest.CounterpartySeed{Name: "Новикова Елена Андреевна", Phone: "+7 987 123-00-45", Email: "e.novikova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00106",
				Positions:  []moyskladtest.PositionSeed{{ProductID: kettle, Quantity: 1, Price: 349000}},
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "KZN99"}},
		},
		{
			scenario: "служба, с которой shipbridge не работает", expect: expectIgnored,
			agent: moyskladtest.CounterpartySeed{Name: "Орлова Ксения Дмитриевна", Phone: "+7 912 345-67-80"},
			order: moyskladtest.OrderSeed{Name: "00107",
				Positions:       []moyskladtest.PositionSeed{{ProductID: lamp, Quantity: 3, Price: 259000}},
				PayedSum:        777000,
				ShipmentAddress: "620014, Екатеринбург, ул. Малышева, д. 5",
				Attributes:      map[string]any{attr.Carrier: "Деловые Линии"}},
		},
	}
	out := make([]demoOrder, 0, len(seeds))
	for _, s := range seeds {
		o := s.order
		o.AgentID = ms.AddCounterparty(s.agent)
		o.StateName = "Новый"
		id := ms.AddOrder(o)
		out = append(out, demoOrder{id: id, name: o.Name, scenario: s.scenario, carrier: s.carrier,
			deleteAfterRegistration: s.delete, parcel: s.parcel, expect: s.expect})
	}
	return out
}

// demoState is the name of the status with the key (moysklad.states.*); an ignored order stays
// in ready.
func demoState(cfg config.Config, key string) string {
	st := cfg.MoySklad.States
	switch key {
	case "registered":
		return st.Registered
	case "failed":
		return st.Failed
	case "deleted":
		return st.Deleted
	case "not_deleted":
		return st.NotDeleted
	case "delivered":
		return st.Delivered
	case "returned":
		return st.Returned
	}
	return st.Ready
}

// unbatchedPochta reports whether the order's Почта России shipment was created but is in no
// batch: the workflow left it before carriers.Batcher (its waybill answers NOT_IN_BATCH). It
// returns the shipment's ШПИ.
func unbatchedPochta(pt *pochtatest.Server, rec store.OrderRecord) (string, bool) {
	if rec.Carrier != pochta.Name || rec.Number == "" {
		return "", false
	}
	barcode, unbatched := "", false
	for _, o := range pt.Orders() {
		if o.OrderNum != rec.Number || o.Deleted {
			continue
		}
		if o.Batch != "" {
			return "", false
		}
		barcode, unbatched = o.Barcode, true
	}
	return barcode, unbatched
}

// demoUnsettled returns the names of the orders that still wait for shipbridge or for the
// manager: an order is settled when it left the trigger statuses, or when shipbridge recorded it
// without taking it for a carrier (another carrier's order stays in ready, untouched).
func demoUnsettled(sims demoSims, st *store.Store, cfg config.Config, orders []demoOrder) (left []string, err error) {
	for _, o := range orders {
		snap, ok := sims.ms.Order(o.id)
		if !ok {
			return nil, fmt.Errorf("demo: order %s vanished from the simulator", o.name)
		}
		if o.deleteAfterRegistration && !o.deleteRequested && snap.StateName != cfg.MoySklad.States.Failed {
			left = append(left, o.name)
			continue
		}
		if snap.StateName != cfg.MoySklad.States.Ready && snap.StateName != cfg.MoySklad.States.Delete {
			continue
		}
		rec, found, err := st.Order(o.id)
		if err != nil {
			return nil, fmt.Errorf("demo: read store: %w", err)
		}
		switch {
		case found && rec.Carrier == "":
		default:
			left = append(left, o.name)
		}
	}
	return left, nil
}

// reportParcels makes each carrier report what happened to the demo's registered parcels, as
// the real services do when a parcel moves: CDEK DELIVERED, CDEK's return to the sender, and
// Почта России's last operation 2.1 «Вручение адресату». It returns how many it reported; an
// order that is not registered gets no report (the verdict says where it stopped).
func reportParcels(sims demoSims, st *store.Store, cfg config.Config, orders []demoOrder, now func() time.Time, log *zap.Logger) (int, error) {
	n := 0
	for i := range orders {
		o := &orders[i]
		if o.parcel == "" {
			continue
		}
		snap, _ := sims.ms.Order(o.id)
		rec, found, err := st.Order(o.id)
		if err != nil {
			return n, fmt.Errorf("demo: read store: %w", err)
		}
		if snap.StateName != cfg.MoySklad.States.Registered || !found || rec.Reference == "" {
			log.Info("demo: not registered, so the carrier has nothing to report", zap.String("order", o.name), zap.String("status", snap.StateName))
			continue
		}
		var herr error
		switch {
		case rec.Carrier == "cdek" && o.parcel == parcelDelivered:
			herr = sims.cdek.SetStatus(rec.Reference, "DELIVERED", "")
		case rec.Carrier == "cdek" && o.parcel == parcelReturned:
			_, herr = sims.cdek.ReturnToSender(rec.Reference)
		case rec.Carrier == pochta.Name && o.parcel == parcelDelivered:
			herr = sims.pochta.SetLastOperation(rec.TrackingNumber, 2, 1, "Вручение адресату", now())
		default:
			herr = fmt.Errorf("no %s report for carrier %q", o.parcel, rec.Carrier)
		}
		if herr != nil {
			log.Warn("demo: the carrier simulator could not report the parcel", zap.String("order", o.name), zap.Error(herr))
			continue
		}
		o.parcelReported = true
		n++
		log.Info("demo: the carrier reports the parcel", zap.String("order", o.name), zap.String("carrier", rec.Carrier), zap.String("parcel", o.parcel))
	}
	return n, nil
}

// demoVerdict says whether one order reached its expected outcome: mark ✓ yes, ✗ no.
type demoVerdict struct {
	order, mark, text string
}

// demoVerdicts compares each order, as MoySklad and the store now hold it, with what the demo
// expects of it.
func demoVerdicts(sims demoSims, st *store.Store, cfg config.Config, orders []demoOrder) ([]demoVerdict, error) {
	attr := cfg.MoySklad.Attributes
	out := make([]demoVerdict, 0, len(orders))
	for _, o := range orders {
		snap, _ := sims.ms.Order(o.id)
		rec, found, err := st.Order(o.id)
		if err != nil {
			return nil, fmt.Errorf("demo: read store: %w", err)
		}
		want := demoState(cfg, o.expect)
		v := demoVerdict{order: o.name, mark: "✓"}
		var problems []string
		if snap.StateName != want {
			problems = append(problems, fmt.Sprintf("expected «%s», is «%s»", want, snap.StateName))
		}
		switch o.expect {
		case expectIgnored:
			if !found || rec.Carrier != "" {
				problems = append(problems, "expected shipbridge to record the order and leave it to a person")
			}
		case "delivered", "returned":
			if strings.TrimSpace(snap.Attr(attr.DeliveryStatus)) == "" {
				problems = append(problems, fmt.Sprintf("«%s» is empty", attr.DeliveryStatus))
			}
		}
		switch {
		case len(problems) == 0 && o.expect == expectIgnored:
			v.text = fmt.Sprintf("left in «%s» for a person: shipbridge does not handle «%s»", want, snap.Attr(attr.Carrier))
		case len(problems) == 0 && (o.expect == "delivered" || o.expect == "returned"):
			v.text = fmt.Sprintf("«%s», seen by tracking: %s", want, snap.Attr(attr.DeliveryStatus))
		case len(problems) == 0:
			v.text = fmt.Sprintf("«%s»", want)
		default:
			v.mark = "✗"
			if found && rec.Error != "" {
				problems = append(problems, "last error: "+strings.Join(strings.Fields(rec.Error), " "))
			}
			if barcode, unbatched := unbatchedPochta(sims.pochta, rec); found && unbatched && snap.StateName == cfg.MoySklad.States.Ready {
				problems = append(problems, fmt.Sprintf("the shipment was created at Почта России (ШПИ %s) but never put into a batch, "+
					"so its waybill cannot be printed (NOT_IN_BATCH)", barcode))
			}
			v.text = strings.Join(problems, "; ")
		}
		out = append(out, v)
	}
	return out, nil
}

// writeDemoReport prints the table of outcomes, as MoySklad shows them, whether each order
// reached its expected outcome, and every order's timeline from the store.
func writeDemoReport(out io.Writer, ms *moyskladtest.Server, st *store.Store, cfg config.Config, orders []demoOrder, verdicts []demoVerdict, loc *time.Location) error {
	attr := cfg.MoySklad.Attributes
	dash := func(s string) string {
		s = strings.Join(strings.Fields(s), " ") // one line: the bullets of a list still separate its items
		if s == "" {
			return "—"
		}
		return s
	}
	ew := &errWriter{w: out}
	ew.printf("Outcomes, as the orders now look in MoySklad:\n\n")
	if ew.err != nil {
		return ew.err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tSCENARIO\tCARRIER\tSTATUS IN MOYSKLAD\tTRACKING\tWAYBILL\tDELIVERY STATUS\tERROR")
	for _, o := range orders {
		snap, _ := ms.Order(o.id)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.name, o.scenario, dash(snap.Attr(attr.Carrier)), snap.StateName,
			dash(snap.Attr(attr.TrackingNumber)), dash(snap.Attr(attr.Waybill)), dash(snap.Attr(attr.DeliveryStatus)), dash(snap.Attr(attr.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ew.printf("\nExpected outcomes (✓ reached, ✗ missed):\n\n")
	reached := 0
	for _, v := range verdicts {
		ew.printf("%s %s  %s\n", v.mark, v.order, v.text)
		if v.mark == "✓" {
			reached++
		}
	}
	ew.printf("\n%d of %d orders reached their expected outcome", reached, len(verdicts))
	if missed := len(verdicts) - reached; missed > 0 {
		ew.printf("; %d did not (✗)", missed)
	}
	ew.printf(".\n")
	ew.printf("\nTimelines, from the store (as `shipbridge history ORDER` prints them):\n")
	for _, o := range orders {
		ew.printf("\n")
		rec, found, err := st.Order(o.id)
		if err != nil {
			return err
		}
		if !found {
			ew.printf("Order %s (MoySklad id %s): never seen by shipbridge\n", o.name, o.id)
			continue
		}
		events, err := st.History(o.id)
		if err != nil {
			return err
		}
		if err := writeTimeline(out, rec, events, loc, false); err != nil {
			return err
		}
	}
	return ew.err
}
