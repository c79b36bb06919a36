package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/metrics"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/poller"
)

// metaItem is one MoySklad status or order attribute that the configuration names (PRODUCT.md
// §1): what `check` verifies and `setup` creates.
type metaItem struct {
	// attribute is false for a status.
	attribute bool
	// key is the configuration key below moysklad.states or moysklad.attributes ("ready").
	key string
	// name is the configured name in MoySklad.
	name string
	// color is the colour a created status gets (MoySklad stores 0xRRGGBB as an int).
	color int
	// typ is the MoySklad type a created attribute gets.
	typ string
	// description is shown in MoySklad under a created attribute.
	description string
}

// configKey is the full configuration key, e.g. "moysklad.states.ready".
func (it metaItem) configKey() string {
	if it.attribute {
		return "moysklad.attributes." + it.key
	}
	return "moysklad.states." + it.key
}

// label names the item for humans: `status «Готов к отгрузке»`.
func (it metaItem) label() string {
	if it.attribute {
		return fmt.Sprintf("attribute «%s»", it.name)
	}
	return fmt.Sprintf("status «%s»", it.name)
}

// metadataItems lists the statuses and attributes of the workflow with the configured names, in
// the order of PRODUCT.md §1, tracking's last.
func metadataItems(cfg config.Config) []metaItem {
	s, a := cfg.MoySklad.States, cfg.MoySklad.Attributes
	items := []metaItem{
		{key: "ready", name: s.Ready, color: 0x1E88E5},            // blue: the manager's request
		{key: "registered", name: s.Registered, color: 0x43A047},  // green: done
		{key: "failed", name: s.Failed, color: 0xE53935},          // red: needs the manager
		{key: "delete", name: s.Delete, color: 0xFB8C00},          // orange: the manager's request
		{key: "deleted", name: s.Deleted, color: 0x9E9E9E},        // grey: gone
		{key: "not_deleted", name: s.NotDeleted, color: 0x8E24AA}, // purple: needs the manager
		{attribute: true, key: "carrier", name: a.Carrier, typ: "string",
			description: "Служба доставки заказа, например СДЭК. shipbridge оформляет отправление в этой службе."},
		{attribute: true, key: "pickup_point", name: a.PickupPoint, typ: "string",
			description: "Код пункта выдачи (ПВЗ) службы доставки. Пусто — доставка по адресу доставки заказа."},
		{attribute: true, key: "tariff", name: a.Tariff, typ: "long",
			description: "Код тарифа службы доставки; пусто — тариф из настроек shipbridge."},
		{attribute: true, key: "tracking_number", name: a.TrackingNumber, typ: "string",
			description: "Трек-номер отправления. Заполняет shipbridge."},
		{attribute: true, key: "waybill", name: a.Waybill, typ: "file",
			description: "Накладная службы доставки (PDF). Прикрепляет shipbridge."},
		{attribute: true, key: "error", name: a.Error, typ: "text",
			description: "Почему отправление не оформлено или не удалено. Заполняет shipbridge, очищает при успехе."},
	}
	if name := cfg.CashOnDeliveryAttribute(); name != "" {
		items = append(items, metaItem{attribute: true, key: "cash_on_delivery", name: name, typ: "boolean",
			description: "Отмечено — служба доставки возьмёт с получателя то, что он ещё не оплатил. Не отмечено — ничего не берёт."})
	}
	// Tracking's statuses (an empty name disables the move: nothing to create) and attribute,
	// needed only while tracking is on (tracking.every > 0).
	if cfg.Tracking.Every <= 0 {
		return items
	}
	if strings.TrimSpace(s.Delivered) != "" {
		items = append(items, metaItem{key: "delivered", name: s.Delivered, color: 0x00897B}) // teal: delivered
	}
	if strings.TrimSpace(s.Returned) != "" {
		items = append(items, metaItem{key: "returned", name: s.Returned, color: 0x6D4C41}) // brown: coming back
	}
	if strings.TrimSpace(a.DeliveryStatus) != "" {
		items = append(items, metaItem{attribute: true, key: "delivery_status", name: a.DeliveryStatus, typ: "string",
			description: "Последний статус посылки у службы доставки и его время (МСК). Заполняет shipbridge."})
	}
	return items
}

// normName is how names are compared with MoySklad's, as poller.Resolve does.
func normName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// findItem returns the state or attribute of md that carries the item's name.
func findItem(md moysklad.Metadata, it metaItem) (typ string, found bool) {
	if it.attribute {
		for _, a := range md.Attributes {
			if normName(a.Name) == normName(it.name) {
				return a.Type, true
			}
		}
		return "", false
	}
	for _, s := range md.States {
		if normName(s.Name) == normName(it.name) {
			return "", true
		}
	}
	return "", false
}

// resolveProblems runs the workflow's own check of the metadata (poller.Resolve) and returns its
// problems; none when the workflow can run with md.
func resolveProblems(cfg config.Config, md moysklad.Metadata) ([]string, error) {
	pc := pollerConfig(cfg)
	var problems []string
	checks := []error{nil}
	_, checks[0] = poller.Resolve(md, pc.States, pc.Attributes)
	if pc.TrackEvery > 0 {
		// Tracking writes these; with tracking off they are optional.
		checks = append(checks, poller.ResolveTracking(md, pc.States, pc.Attributes))
	}
	for _, err := range checks {
		if err == nil {
			continue
		}
		var mm *poller.MissingMetadataError
		if !errors.As(err, &mm) {
			return nil, err
		}
		problems = append(problems, mm.Problems...)
	}
	return problems, nil
}

// problemFor returns the problem of problems that concerns the item, if any.
func problemFor(problems []string, it metaItem) (string, bool) {
	marker := "(" + it.configKey() + ")"
	for _, p := range problems {
		if strings.Contains(p, marker) {
			return p, true
		}
	}
	return "", false
}

// itemFix says how to fix a problem with the item.
func itemFix(it metaItem, found bool) string {
	env := config.EnvName(it.configKey())
	if found {
		return fmt.Sprintf("the type is wrong and `shipbridge setup` cannot change the type of an existing attribute: delete or rename that attribute in MoySklad and run `shipbridge setup` to create it with the right type, or set %s to the name of another attribute of the right type", env)
	}
	kind := "status"
	if it.attribute {
		kind = "attribute"
	}
	return fmt.Sprintf("run `shipbridge setup` to create it, or set %s to the name of an existing %s", env, kind)
}

func (e *env) setupCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the missing order statuses and attributes in MoySklad",
		Long: "Create, in MoySklad, the order statuses and custom attributes that the configuration names\n" +
			"and the account does not have yet (PRODUCT.md §1), with sensible colours and the right types.\n" +
			"Nothing that exists is changed, so running it again creates nothing. It needs a token of a\n" +
			"user with admin rights. Exits 0 when everything exists afterwards.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := e.setup()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ms, err := newMoySklad(cfg, log, e.now, metrics.New(), e.userAgent())
			if err != nil {
				return fail(ExitFailure, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return e.runSetup(ctx, cmd, cfg, log, ms)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

func (e *env) runSetup(ctx context.Context, cmd *cobra.Command, cfg config.Config, log *zap.Logger, ms *moysklad.Client) error {
	w := &errWriter{w: cmd.OutOrStdout()}
	md, err := ms.OrderMetadata(ctx)
	if err != nil {
		return fail(ExitFailure, fmt.Errorf("read MoySklad order metadata from %s: %w", ms.BaseURL(), err))
	}
	created, failed := 0, 0
	for _, it := range metadataItems(cfg) {
		if typ, found := findItem(md, it); found {
			if it.attribute {
				w.printf("· %s exists (type %s)\n", it.label(), typ)
			} else {
				w.printf("· %s exists\n", it.label())
			}
			continue
		}
		if it.attribute {
			_, err = ms.CreateAttribute(ctx, moysklad.AttributeDef{Name: it.name, Type: it.typ, Show: true, Description: it.description})
		} else {
			_, err = ms.CreateState(ctx, it.name, it.color, moysklad.StateRegular)
		}
		if err != nil {
			failed++
			w.printf("✗ %s could not be created: %v%s\n", it.label(), err, adminHint(err))
			continue
		}
		created++
		if it.attribute {
			w.printf("+ %s created (type %s, %s)\n", it.label(), it.typ, it.configKey())
		} else {
			w.printf("+ %s created (colour #%06X, %s)\n", it.label(), it.color, it.configKey())
		}
		log.Info("created in MoySklad", zap.String("what", it.label()), zap.String("key", it.configKey()))
	}
	if w.err != nil {
		return fail(ExitFailure, w.err)
	}

	// The verdict is the workflow's own: read the metadata again and resolve it.
	md, err = ms.OrderMetadata(ctx)
	if err != nil {
		return fail(ExitFailure, fmt.Errorf("read MoySklad order metadata again: %w", err))
	}
	problems, err := resolveProblems(cfg, md)
	if err != nil {
		return fail(ExitFailure, err)
	}
	used := map[string]bool{}
	for _, it := range metadataItems(cfg) {
		if p, bad := problemFor(problems, it); bad {
			_, found := findItem(md, it)
			used[p] = true
			w.printf("✗ MoySklad: %s — fix: %s\n", p, itemFix(it, found))
		}
	}
	for _, p := range problems {
		if !used[p] {
			w.printf("✗ MoySklad: %s\n", p)
		}
	}
	switch {
	case failed > 0 || len(problems) > 0:
		n := max(failed, len(problems))
		if w.err != nil {
			return fail(ExitFailure, w.err)
		}
		return fail(ExitFailure, fmt.Errorf("setup incomplete: %d problem(s) above", n))
	case created == 0:
		w.printf("✓ nothing to create: every status and attribute is in place\n")
	default:
		w.printf("✓ created %d; every status and attribute is in place\n", created)
	}
	if w.err != nil {
		return fail(ExitFailure, w.err)
	}
	return nil
}

// adminHint adds a hint to a MoySklad refusal that usually means missing admin rights.
func adminHint(err error) string {
	var me *moysklad.Error
	if errors.As(err, &me) && (me.StatusCode == 403 || me.StatusCode == 401) {
		return " (setup needs the token of a MoySklad user with admin rights: set SHIPBRIDGE_MOYSKLAD_TOKEN)"
	}
	return ""
}
