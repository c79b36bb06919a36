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
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
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

// demoOrder is one seeded order of the demo and the manager's story behind it.
type demoOrder struct {
	id, name string
	// scenario says, for the reader of the table, what the order is about (not its outcome).
	scenario string
	// deleteAfterRegistration: the manager asks to delete the shipment once it is registered.
	deleteAfterRegistration bool
	deleteRequested         bool
}

func (e *env) demoCommand() *cobra.Command {
	var storePath string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the workflow against built-in MoySklad and CDEK simulators and show the outcomes",
		Long: "Start the MoySklad and CDEK simulators on loopback, seed a handful of orders (pickup point,\n" +
			"door delivery, a missing phone, another carrier, a shipment deleted after registration, one\n" +
			"that CDEK rejects), set them to the ready status as a manager would, and run poll cycles\n" +
			"exactly as `shipbridge run` does until everything settles. Prints a table of outcomes and\n" +
			"every order's timeline. Needs no credentials, no network and no configuration file; only\n" +
			"the log settings are taken from the configuration.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runDemo(cmd.Context(), cmd.OutOrStdout(), storePath, timeout)
		},
	}
	cmd.Flags().StringVar(&storePath, "store", "", "keep the demo's store in this new file, for `shipbridge history` (default: a temporary file removed at exit)")
	cmd.Flags().DurationVar(&timeout, "timeout", 50*time.Second, "give up after this long")
	return cmd
}

func (e *env) runDemo(ctx context.Context, out io.Writer, storePath string, timeout time.Duration) error {
	// Only the log settings come from the configuration (file and environment): everything else
	// is the defaults, pointed at the simulators.
	loaded, err := config.Load(e.configPath, e.lookup)
	if err != nil {
		return fail(ExitUsage, err)
	}
	cfg := config.Default()
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
	cdekCfg := &cfg.Carriers.CDEK
	cdekCfg.BaseURL = cd.URL()
	cdekCfg.ClientID = config.Secret(cd.ClientID())
	cdekCfg.ClientSecret = config.Secret(cd.ClientSecret())
	cdekCfg.ShipmentPoint = "MSK65"
	cdekCfg.Sender = config.Sender{Name: "Петров Сергей", Company: "ООО «Уютный дом»", Phone: "+74951234567"}
	if err := cfg.Validate(); err != nil {
		return fail(ExitFailure, fmt.Errorf("demo configuration: %w", err))
	}
	log.Info("demo: simulators started", zap.String("moysklad", ms.URL()), zap.String("cdek", cd.URL()), zap.String("store", storePath))

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
	sched, err := NewScheduler(cfg.Schedule, d.cycler, log, e.now)
	if err != nil {
		return fail(ExitFailure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() { _ = sched.Stop(context.WithoutCancel(ctx)) }()

	settled := false
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
		left, err := demoUnsettled(ms, d.store, cfg, orders)
		if err != nil {
			return fail(ExitFailure, err)
		}
		if len(left) == 0 {
			settled = true
			log.Info("demo: every order settled", zap.Int("cycles", cycle))
			break
		}
		log.Info("demo: orders still in progress", zap.Strings("orders", left))
		t := time.NewTimer(demoCyclePause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(ExitFailure, fmt.Errorf("demo: %w", ctx.Err()))
		case <-t.C:
		}
	}

	if err := writeDemoReport(out, ms, d.store, cfg, orders, e.now().Location()); err != nil {
		return fail(ExitFailure, err)
	}
	if !settled {
		return fail(ExitFailure, fmt.Errorf("demo: orders did not settle within %d cycles", demoMaxCycles))
	}
	return nil
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
		delete   bool
		agent    moyskladtest.CounterpartySeed
		order    moyskladtest.OrderSeed
	}
	seeds := []seed{
		{
			scenario: "ПВЗ СДЭК MSK67",
			agent:    moyskladtest.CounterpartySeed{Name: "Смирнова Анна Сергеевна", Phone: "+7 916 555-12-34", Email: "anna.smirnova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00101", Description: "Самовывоз из пункта выдачи на Тверской",
				Positions:  []moyskladtest.PositionSeed{{ProductID: kettle, Quantity: 1, Price: 349000}},
				PayedSum:   349000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "MSK67"}},
		},
		{
			scenario: "курьер до двери, оплата при получении",
			agent:    moyskladtest.CounterpartySeed{Name: "Кузнецов Дмитрий Павлович", Phone: "8 (921) 400-22-11"},
			order: moyskladtest.OrderSeed{Name: "00102", Description: "Позвонить за час до доставки",
				Positions: []moyskladtest.PositionSeed{{ProductID: mug, Quantity: 4, Price: 59000}, {ProductID: towels, Quantity: 1, Price: 189000}},
				ShipmentAddressFull: &moysklad.Address{PostalCode: "191186", City: "Санкт-Петербург",
					Street: "Невский проспект", House: "28", Apartment: "15"},
				Attributes: map[string]any{attr.Carrier: "cdek"}},
		},
		{
			scenario: "у покупателя нет телефона",
			agent:    moyskladtest.CounterpartySeed{Name: "Попова Мария Игоревна", Email: "m.popova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00103",
				Positions:  []moyskladtest.PositionSeed{{ProductID: lamp, Quantity: 1, Price: 259000}},
				PayedSum:   259000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "SPB7"}},
		},
		{
			scenario: "другая служба доставки",
			agent:    moyskladtest.CounterpartySeed{Name: "Соколов Андрей Викторович", Phone: "+7 903 777-88-99"},
			order: moyskladtest.OrderSeed{Name: "00104",
				Positions:       []moyskladtest.PositionSeed{{ProductID: towels, Quantity: 2, Price: 189000}},
				ShipmentAddress: "630099, Новосибирск, ул. Ленина, д. 12, кв. 7",
				Attributes:      map[string]any{attr.Carrier: "Почта России"}},
		},
		{
			scenario: "удаление после регистрации",
			delete:   true,
			agent:    moyskladtest.CounterpartySeed{Name: "Васильев Игорь Олегович", Phone: "+7 913 222-33-44"},
			order: moyskladtest.OrderSeed{Name: "00105", Description: "Покупатель передумал",
				Positions:  []moyskladtest.PositionSeed{{ProductID: mug, Quantity: 2, Price: 59000}},
				PayedSum:   118000,
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "NSK23"}},
		},
		{
			scenario: "ПВЗ KZN99, которого нет у СДЭК",
			agent:    moyskladtest.CounterpartySeed{Name: "Новикова Елена Андреевна", Phone: "+7 987 123-00-45", Email: "e.novikova@example.ru"},
			order: moyskladtest.OrderSeed{Name: "00106",
				Positions:  []moyskladtest.PositionSeed{{ProductID: kettle, Quantity: 1, Price: 349000}},
				Attributes: map[string]any{attr.Carrier: "СДЭК", attr.PickupPoint: "KZN99"}},
		},
	}
	out := make([]demoOrder, 0, len(seeds))
	for _, s := range seeds {
		o := s.order
		o.AgentID = ms.AddCounterparty(s.agent)
		o.StateName = "Новый"
		id := ms.AddOrder(o)
		out = append(out, demoOrder{id: id, name: o.Name, scenario: s.scenario, deleteAfterRegistration: s.delete})
	}
	return out
}

// demoUnsettled returns the names of the orders that still wait for shipbridge or for the
// manager: an order is settled when it left the trigger statuses, or when shipbridge recorded it
// without taking it for a carrier (another carrier's order stays in ready, untouched).
func demoUnsettled(ms *moyskladtest.Server, st *store.Store, cfg config.Config, orders []demoOrder) ([]string, error) {
	var left []string
	for _, o := range orders {
		snap, ok := ms.Order(o.id)
		if !ok {
			return nil, fmt.Errorf("demo: order %s vanished from the simulator", o.name)
		}
		if o.deleteAfterRegistration && !o.deleteRequested {
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
		if !found || rec.Carrier != "" {
			left = append(left, o.name)
		}
	}
	return left, nil
}

// writeDemoReport prints the table of outcomes, as MoySklad shows them, and every order's
// timeline from the store.
func writeDemoReport(out io.Writer, ms *moyskladtest.Server, st *store.Store, cfg config.Config, orders []demoOrder, loc *time.Location) error {
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
	fmt.Fprintln(tw, "ORDER\tSCENARIO\tCARRIER\tSTATUS IN MOYSKLAD\tTRACKING\tWAYBILL\tERROR")
	for _, o := range orders {
		snap, _ := ms.Order(o.id)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.name, o.scenario, dash(snap.Attr(attr.Carrier)), snap.StateName,
			dash(snap.Attr(attr.TrackingNumber)), dash(snap.Attr(attr.Waybill)), dash(snap.Attr(attr.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
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
