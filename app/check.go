package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/metrics"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/poller"
)

// checkReport prints one line per check: ✓ passed, ✗ failed (with the fix), ! warning,
// · not checked.
type checkReport struct {
	w        errWriter
	problems int
}

var _ carriers.CheckReport = (*checkReport)(nil)

func (r *checkReport) ok(format string, args ...any) { r.w.printf("✓ "+format+"\n", args...) }

// OK reports a passed check (carriers.CheckReport).
func (r *checkReport) OK(format string, args ...any) { r.ok(format, args...) }

// Warn reports a warning (carriers.CheckReport).
func (r *checkReport) Warn(format string, args ...any) { r.warn(format, args...) }

// Bad reports a failed check; fix, when not empty, says what to do (carriers.CheckReport).
func (r *checkReport) Bad(fix, format string, args ...any) { r.bad(fix, format, args...) }

func (r *checkReport) warn(format string, args ...any) { r.w.printf("! "+format+"\n", args...) }

func (r *checkReport) skip(format string, args ...any) { r.w.printf("· "+format+"\n", args...) }

// bad reports a failed check; fix, when not empty, says what to do.
func (r *checkReport) bad(fix, format string, args ...any) {
	r.problems++
	msg := fmt.Sprintf(format, args...)
	if fix != "" {
		msg += " — fix: " + fix
	}
	r.w.printf("✗ %s\n", msg)
}

func (e *env) checkCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the configuration, MoySklad, the carriers and the statuses and attributes",
		Long: "Check everything shipbridge needs before it can run: the configuration is valid, MoySklad\n" +
			"answers and accepts the token, every enabled carrier answers and accepts the credentials,\n" +
			"and every configured status and attribute exists in MoySklad with the right type. Prints one\n" +
			"line per check (✓ good, ✗ problem with its fix, ! warning) and exits non-zero on any problem.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runCheck(cmd.Context(), cmd.OutOrStdout(), timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "time allowed for each remote service")
	return cmd
}

func (e *env) runCheck(ctx context.Context, out io.Writer, timeout time.Duration) error {
	r := &checkReport{w: errWriter{w: out}}
	cfg, err := config.Load(e.configPath, e.lookup, carrierModules...)
	if err != nil {
		r.bad("correct the file or pass another one with --config", "configuration could not be read: %v", err)
		return fail(ExitUsage, errors.New("the configuration could not be read"))
	}
	if e.environ != nil {
		for _, w := range config.UnknownEnv(e.environ(), carrierModules...) {
			r.warn("%s", w)
		}
	}

	// Configuration. A problem in a service's keys skips that service's checks; others still run.
	blocked, configInvalid := checkConfig(r, cfg)
	log := zap.NewNop()
	if !blocked["log"] {
		if l, err := newLogger(cfg.Log, e.stderr); err == nil {
			log = l
			defer func() { _ = l.Sync() }()
		}
	}
	m := metrics.New()

	// MoySklad: reachable, token accepted, statuses and attributes in place.
	if blocked["moysklad"] {
		r.skip("MoySklad: not checked until the configuration above is fixed")
	} else {
		e.checkMoySklad(ctx, r, cfg, log, m, timeout, blocked["metadata"])
	}

	// Carriers: token and one cheap read each; a carrier whose keys are wrong is skipped.
	e.checkCarriers(ctx, r, cfg, blocked, log, m, timeout)

	if r.w.err != nil {
		return fail(ExitFailure, r.w.err)
	}
	if configInvalid {
		// The README's rule: exit status 2 is an invalid configuration.
		return fail(ExitUsage, fmt.Errorf("check found %d problem(s), the configuration is invalid; each line marked ✗ says how to fix it", r.problems))
	}
	if r.problems > 0 {
		return fail(ExitFailure, fmt.Errorf("check found %d problem(s); each line marked ✗ says how to fix it", r.problems))
	}
	return nil
}

// checkConfig reports the configuration's problems and returns which services they block:
// "moysklad", "metadata", "log", and the key of each carrier whose keys (carriers.<key>.*) are
// at fault.
func checkConfig(r *checkReport, cfg config.Config) (blocked map[string]bool, invalid bool) {
	blocked = map[string]bool{}
	var ve *config.ValidationError
	switch err := cfg.Validate(); {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			r.bad("", "configuration: %s", p.Message)
			if service := blockedService(cfg, p.Key); service != "" {
				blocked[service] = true
			}
		}
		return blocked, true
	case err != nil:
		r.bad("", "configuration: %v", err)
		blocked["moysklad"] = true
		for _, s := range cfg.Carriers.Sections() {
			blocked[s.Key()] = true
		}
		return blocked, true
	default:
		r.ok("configuration is valid (%s)", configSource(cfg))
		return blocked, false
	}
}

// blockedService is the service a problem of key keeps check from checking, "" for none.
func blockedService(cfg config.Config, key string) string {
	switch {
	case strings.HasPrefix(key, "moysklad.states.") || strings.HasPrefix(key, "moysklad.attributes."):
		return "metadata"
	case strings.HasPrefix(key, "moysklad."):
		return "moysklad"
	case key == "log.level" || key == "log.format":
		return "log"
	}
	for _, s := range cfg.Carriers.Sections() {
		if key == "carriers."+s.Key() || strings.HasPrefix(key, "carriers."+s.Key()+".") {
			return s.Key()
		}
	}
	return ""
}

func (e *env) checkMoySklad(ctx context.Context, r *checkReport, cfg config.Config, log *zap.Logger, m *metrics.Metrics, timeout time.Duration, skipMetadata bool) {
	ms, err := newMoySklad(cfg, log, e.now, m, e.userAgent())
	if err != nil {
		r.bad("correct the moysklad.* settings", "MoySklad: client could not be built: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ms.Ping(ctx); err != nil {
		r.bad(moySkladFix(err), "MoySklad at %s: %v", ms.BaseURL(), err)
		return
	}
	r.ok("MoySklad: %s answers and accepts the token", ms.BaseURL())
	if skipMetadata {
		r.skip("MoySklad statuses and attributes: not checked until the configuration above is fixed")
		return
	}
	md, err := ms.OrderMetadata(ctx)
	if err != nil {
		r.bad(moySkladFix(err), "MoySklad: order metadata could not be read: %v", err)
		return
	}
	problems, err := resolveProblems(cfg, md)
	if err != nil {
		r.bad("", "MoySklad metadata: %v", err)
		return
	}
	var problemItems []poller.MetadataProblem
	pc := pollerConfig(cfg)
	resolveErrs := []error{}
	if _, err := poller.Resolve(md, pc.States, pc.Attributes); err != nil {
		resolveErrs = append(resolveErrs, err)
	}
	if cfg.Tracking.Every > 0 {
		if err := poller.ResolveTracking(md, pc.States, pc.Attributes); err != nil {
			resolveErrs = append(resolveErrs, err)
		}
	}
	for _, err := range resolveErrs {
		var mm *poller.MissingMetadataError
		if errors.As(err, &mm) {
			problemItems = append(problemItems, mm.Items...)
		}
	}
	used := map[string]bool{}
	for _, it := range metadataItems(cfg) {
		typ, found := findItem(md, it)
		p, bad := problemFor(problems, it)
		switch {
		case bad:
			used[p] = true
			if found { // there, but of the wrong type
				r.bad(wrongTypeFix(it, mdItem(problemItems, it)), "MoySklad: %s", wrongTypeText(it, typ, mdItem(problemItems, it)))
			} else {
				r.bad(itemFix(it, found), "MoySklad lacks %s", p)
			}
		case !found:
			// The workflow runs without it (poller.Resolve did not complain).
			r.warn("MoySklad %s (%s) is missing; it is optional — run `shipbridge setup` to add it", it.label(), it.configKey())
		case it.attribute:
			r.ok("MoySklad %s exists (type %s)", it.label(), typ)
		default:
			r.ok("MoySklad %s exists", it.label())
		}
	}
	for _, p := range problems {
		if !used[p] {
			r.bad("run `shipbridge setup`, or fix the names in the configuration", "MoySklad: %s", p)
		}
	}
}

// moySkladFix suggests the fix for a failed MoySklad call.
func moySkladFix(err error) string {
	var me *moysklad.Error
	var ne *moysklad.NetworkError
	switch {
	case errors.As(err, &me) && (me.StatusCode == http.StatusUnauthorized || me.HasCode(moysklad.CodeAuth)):
		return "set " + config.EnvName("moysklad.token") + " to a valid token (MoySklad: Настройки → Токены)"
	case errors.As(err, &me) && me.StatusCode == http.StatusForbidden:
		return "give the token's MoySklad user the rights to read customer orders"
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return "check " + config.EnvName("moysklad.base_url") + " and the network (MoySklad did not answer)"
	default:
		return "check " + config.EnvName("moysklad.base_url") + "; MoySklad may be unavailable, try again later"
	}
}

// checkCarriers says which carriers are disabled (when they are on by default) or blocked by
// their configuration, then builds the others and asks each to prove that it is reachable and
// accepts its credentials.
func (e *env) checkCarriers(ctx context.Context, r *checkReport, cfg config.Config, blocked map[string]bool, log *zap.Logger, m *metrics.Metrics, timeout time.Duration) {
	use := func(s config.CarrierSection) bool { return s.Settings.IsEnabled() && !blocked[s.Key()] }
	some := false
	for _, s := range cfg.Carriers.Sections() {
		switch {
		case !s.Settings.IsEnabled():
			if s.Module.Defaults().IsEnabled() {
				r.skip("%s: disabled (carriers.%s.enabled is false)", s.Module.Title(), s.Key())
			}
		case blocked[s.Key()]:
			r.skip("%s: not checked until the configuration above is fixed", s.Module.Title())
		}
		some = some || use(s)
	}
	if !some {
		return
	}
	_, built, err := buildCarriers(cfg, log, e.now, m, use)
	if err != nil {
		r.bad("correct the carriers.* settings", "carriers could not be built: %v", err)
		return
	}
	for _, b := range built {
		checkCarrier(ctx, r, b, timeout)
	}
}

// checkCarrier asks a carrier to prove that it is reachable and accepts its credentials
// (carriers.Checker); the carrier's settings turn the answer into lines with their fixes, in
// terms of the carrier's own keys, carriers.<key>.*.
func checkCarrier(ctx context.Context, r *checkReport, b builtCarrier, timeout time.Duration) {
	ck, ok := b.carrier.(carriers.Checker)
	if !ok {
		r.warn("%s: no connectivity check exists for this carrier", b.section.Module.Title())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b.section.Settings.ReportCheck(r, b.carrier, ck.Check(ctx))
}

// mdItem returns the structured problem of the workflow's metadata check
// (poller.Resolve) that concerns the item.
func mdItem(items []poller.MetadataProblem, it metaItem) poller.MetadataProblem {
	for _, p := range items {
		if (p.Kind == "attribute") == it.attribute && p.Key == it.key {
			return p
		}
	}
	return poller.MetadataProblem{}
}

// wrongTypeText calls an attribute of the wrong type wrong, not missing.
func wrongTypeText(it metaItem, found string, p poller.MetadataProblem) string {
	want := strings.Join(p.WantTypes, " or ")
	if want == "" {
		want = "another type"
	}
	if p.FoundType != "" {
		found = p.FoundType
	}
	return fmt.Sprintf("attribute «%s» (%s) has the wrong type: %s, shipbridge needs %s", it.name, it.configKey(), found, want)
}

// wrongTypeFix says how to fix an attribute of the wrong type: MoySklad
// cannot change the type of an existing attribute, so neither can setup.
func wrongTypeFix(it metaItem, p poller.MetadataProblem) string {
	want := strings.Join(p.WantTypes, " or ")
	if want == "" {
		want = "the right type"
	}
	return fmt.Sprintf("`shipbridge setup` cannot change the type of an existing attribute: delete or rename «%s» in MoySklad (Настройки → Заказы покупателей → Дополнительные поля) and run `shipbridge setup` to create it with type %s, or set %s to the name of another attribute of type %s",
		it.name, want, config.EnvName(it.configKey()), want)
}

// explainMetadata rewrites the workflow's metadata error for the operator:
// each missing status or attribute with its fix, and each attribute of the
// wrong type called wrong, with the fix setup cannot do. Other errors are
// returned as they are.
func explainMetadata(err error) error {
	var mm *poller.MissingMetadataError
	if err == nil || !errors.As(err, &mm) || len(mm.Items) == 0 {
		return err
	}
	msgs := make([]string, 0, len(mm.Items))
	for _, p := range mm.Items {
		it := metaItem{name: p.Name, key: p.Key, attribute: p.Kind == "attribute"}
		if p.FoundType != "" {
			msgs = append(msgs, wrongTypeText(it, p.FoundType, p)+" — fix: "+wrongTypeFix(it, p))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("MoySklad has no %s (%s) — fix: %s", it.label(), it.configKey(), itemFix(it, false)))
	}
	return fmt.Errorf("MoySklad statuses and attributes do not match the configuration: %s", strings.Join(msgs, "; "))
}
