package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/pochta"
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

func (r *checkReport) ok(format string, args ...any) { r.w.printf("✓ "+format+"\n", args...) }

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
	cfg, err := config.Load(e.configPath, e.lookup)
	if err != nil {
		r.bad("correct the file or pass another one with --config", "configuration could not be read: %v", err)
		return fail(ExitUsage, errors.New("the configuration could not be read"))
	}
	if e.environ != nil {
		for _, w := range config.UnknownEnv(e.environ()) {
			r.warn("%s", w)
		}
	}

	// Configuration. A problem in a service's keys skips that service's checks; others still run.
	blocked := map[string]bool{}
	var ve *config.ValidationError
	configInvalid := false
	switch err := cfg.Validate(); {
	case errors.As(err, &ve):
		configInvalid = true
		for _, p := range ve.Problems {
			r.bad("", "configuration: %s", p.Message)
			switch {
			case strings.HasPrefix(p.Key, "moysklad.states.") || strings.HasPrefix(p.Key, "moysklad.attributes."):
				blocked["metadata"] = true
			case strings.HasPrefix(p.Key, "moysklad."):
				blocked["moysklad"] = true
			case strings.HasPrefix(p.Key, "carriers.cdek."):
				blocked["cdek"] = true
			case strings.HasPrefix(p.Key, "carriers.pochta"):
				blocked["pochta"] = true
			case p.Key == "log.level" || p.Key == "log.format":
				blocked["log"] = true
			}
		}
	case err != nil:
		configInvalid = true
		r.bad("", "configuration: %v", err)
		blocked["moysklad"], blocked["cdek"], blocked["pochta"] = true, true, true
	default:
		r.ok("configuration is valid (%s)", configSource(cfg))
	}
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
	switch {
	case !cfg.Carriers.CDEK.Enabled:
		r.skip("CDEK: disabled (carriers.cdek.enabled is false)")
	case blocked["cdek"]:
		r.skip("CDEK: not checked until the configuration above is fixed")
	}
	if cfg.Carriers.Pochta.Enabled && blocked["pochta"] {
		r.skip("Почта России: not checked until the configuration above is fixed")
	}
	checked := cfg
	checked.Carriers.CDEK.Enabled = cfg.Carriers.CDEK.Enabled && !blocked["cdek"]
	checked.Carriers.Pochta.Enabled = cfg.Carriers.Pochta.Enabled && !blocked["pochta"]
	if checked.Carriers.CDEK.Enabled || checked.Carriers.Pochta.Enabled {
		e.checkCarriers(ctx, r, checked, log, m, timeout)
	}

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

func (e *env) checkCarriers(ctx context.Context, r *checkReport, cfg config.Config, log *zap.Logger, m *metrics.Metrics, timeout time.Duration) {
	reg, err := newCarriers(cfg, log, e.now, m)
	if err != nil {
		r.bad("correct the carriers.* settings", "carriers could not be built: %v", err)
		return
	}
	for _, c := range reg.Carriers() {
		checkCarrier(ctx, r, cfg, c, timeout)
	}
}

// checkCarrier asks a carrier to prove that it is reachable and accepts its
// credentials (carriers.Checker), and turns the answer into a line with its
// fix. The fixes name the carrier's own configuration keys,
// carriers.<name>.*.
func checkCarrier(ctx context.Context, r *checkReport, cfg config.Config, c carriers.Carrier, timeout time.Duration) {
	title := strings.ToUpper(c.Name())
	prefix := "carriers." + c.Name() + "."
	ck, ok := c.(carriers.Checker)
	if !ok {
		r.warn("%s: no connectivity check exists for this carrier", title)
		return
	}
	where := configValue(cfg, prefix+"base_url")
	if c.Name() == cdek.Name && config.IsCDEKTestServer(where) {
		where += " (CDEK's test server)"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := ck.Check(ctx)
	if c.Name() == pochta.Name {
		reportPochtaCheck(r, cfg, c, where, err)
		return
	}
	switch {
	case err == nil:
		r.ok("%s: %s issued a token and answered an order lookup", title, where)
	case carriers.KindOf(err) == carriers.KindConfig:
		credentials := config.EnvName(prefix+"client_id") + " and " + config.EnvName(prefix+"client_secret")
		r.bad("set "+credentials+" to the API keys of your "+title+" account",
			"%s at %s refused the credentials: %v", title, where, err)
	case carriers.KindOf(err) == carriers.KindAmbiguous || errors.Is(err, context.DeadlineExceeded) || isTransport(err):
		r.bad("check "+config.EnvName(prefix+"base_url")+" and the network (no answer)",
			"%s at %s: %v", title, where, err)
	default:
		r.bad("check "+config.EnvName(prefix+"base_url")+"; "+title+" may be unavailable, try again later",
			"%s at %s: the check failed: %v", title, where, err)
	}
}

// isTransport reports whether err is a connection-level failure.
func isTransport(err error) bool {
	var ne net.Error
	var op *net.OpError
	return errors.As(err, &ne) || errors.As(err, &op) || strings.Contains(err.Error(), "connection refused")
}

// configValue returns the value of a configuration key, "" when there is none.
func configValue(cfg config.Config, key string) string {
	for _, f := range config.Fields(cfg) {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
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
