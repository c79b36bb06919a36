package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/store"
	"github.com/shipbridge/shipbridge/web"
)

// historyJSON is what `shipbridge history --json` prints: the order's record and its events,
// oldest first.
type historyJSON = web.OrderHistory

func (e *env) historyCommand() *cobra.Command {
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "history ORDER",
		Short: "Print the timeline of one order (by MoySklad order name or id)",
		Long: "Print everything shipbridge recorded about one order: its current record (carrier, phase,\n" +
			"tracking number, number at the carrier, last error) and every event, oldest first, in local\n" +
			"time. ORDER is the MoySklad order name (e.g. 00042) or its id. Only the store is read, so no\n" +
			"credentials are needed; the store is locked while `shipbridge run` is running.",
		Example: "  shipbridge history 00042\n  shipbridge history 00042 --json | jq '.events[].kind'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := e.setupWith(validateForStore)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			var rec store.OrderRecord
			var events []store.Event
			st, err := e.openStoreForReading(cfg)
			switch {
			case errors.Is(err, store.ErrLocked) && cfg.HTTP.Listen != "":
				// The daemon holds the store: ask it.
				h, herr := fetchHistory(cmd.Context(), cfg.HTTP.Listen, args[0])
				if herr != nil {
					return fail(ExitFailure, fmt.Errorf("%v; asking the running shipbridge at %s: %w", err, cfg.HTTP.Listen, herr))
				}
				rec, events = h.Order, h.Events
			case err != nil:
				return err
			default:
				defer func() { _ = st.Close() }()
				rec, events, err = lookupOrder(st, args[0])
				if err != nil {
					return fail(ExitFailure, err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if events == nil {
					events = []store.Event{}
				}
				b, err := json.MarshalIndent(historyJSON{Order: rec, Events: events}, "", "  ")
				if err != nil {
					return fail(ExitFailure, err)
				}
				// JSON escapes C0 controls itself, not DEL, C1 or bidi
				// overrides: \u escapes keep the same JSON value.
				_, err = io.WriteString(out, jsonEscapeUnsafe(string(b))+"\n")
				return err
			}
			return writeTimeline(out, rec, events, e.now().Location(), verbose)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"order\": …, \"events\": […]} as JSON and nothing else")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print each event's data (requests and answers, secrets removed)")
	return cmd
}

// validateForStore is config.Config.ValidateWithoutCredentials narrowed to what a command that
// only reads the store uses (store.*, log.*, http.listen for its hint): a carrier that is not
// fully configured must not hide an order's history.
func validateForStore(cfg config.Config) error {
	err := cfg.ValidateWithoutCredentials()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var kept []config.Problem
	for _, p := range ve.Problems {
		if strings.HasPrefix(p.Key, "store.") || strings.HasPrefix(p.Key, "log.") || p.Key == "http.listen" {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &config.ValidationError{Problems: kept}
}

// openStoreForReading opens the existing store of cfg. Unlike build it does not create a missing
// store, and it explains a lock held by a running daemon.
func (e *env) openStoreForReading(cfg config.Config) (*store.Store, error) {
	path := cfg.Store.Path
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fail(ExitFailure, fmt.Errorf("no store at %s: shipbridge has not run with this store.path yet (set SHIPBRIDGE_STORE_PATH or store.path to the daemon's store)", path))
	}
	st, err := store.Open(path, store.Options{Now: e.now})
	if errors.Is(err, store.ErrLocked) {
		hint := "set http.listen so that history can ask it, or stop it (e.g. systemctl stop shipbridge) and try again"
		if cfg.HTTP.Listen != "" {
			hint = fmt.Sprintf("see the order on its status page at http://%s/ instead, or stop it and try again", cfg.HTTP.Listen)
		}
		return nil, fail(ExitFailure, fmt.Errorf("the store %s is locked by a running shipbridge (`shipbridge run`): bbolt lets one process open it at a time; %s: %w", path, hint, store.ErrLocked))
	}
	if err != nil {
		return nil, fail(ExitFailure, fmt.Errorf("open store: %w", err))
	}
	return st, nil
}

// lookupOrder finds an order by MoySklad id, then by name, and returns its record and history.
func lookupOrder(st *store.Store, key string) (store.OrderRecord, []store.Event, error) {
	key = strings.TrimSpace(key)
	rec, ok, err := st.Order(key)
	if err != nil {
		return store.OrderRecord{}, nil, fmt.Errorf("read store: %w", err)
	}
	if !ok {
		rec, ok, err = st.OrderByName(key)
		if err != nil {
			return store.OrderRecord{}, nil, fmt.Errorf("read store: %w", err)
		}
	}
	if !ok {
		return store.OrderRecord{}, nil, fmt.Errorf("order %q not found in the store %s: shipbridge has not seen an order with this name or id (it records orders once they are set to a trigger status)", key, st.Path())
	}
	events, err := st.History(rec.ID)
	if err != nil {
		return store.OrderRecord{}, nil, fmt.Errorf("read history of %s: %w", rec.ID, err)
	}
	return rec, events, nil
}

// timeLayout is how the timeline prints times (in local time).
const timeLayout = "2006-01-02 15:04:05.000"

// writeTimeline prints an order's record as a header, then one line per event: time (in loc),
// kind, message. Multi-line messages are indented under their first line. With verbose, each
// event's data follows on its own line.
func writeTimeline(w io.Writer, rec store.OrderRecord, events []store.Event, loc *time.Location, verbose bool) error {
	if loc == nil {
		loc = time.Local
	}
	ew := &errWriter{w: w}
	rec = cleanRecord(rec)
	name := rec.Name
	if name == "" {
		name = "(no name)"
	}
	ew.printf("Order %s (MoySklad id %s)\n", name, rec.ID)
	field := func(label, value string) {
		if value == "" {
			value = "—"
		}
		ew.printf("  %-18s %s\n", label+":", indentRest(value, 21))
	}
	field("carrier", rec.Carrier)
	field("phase", rec.Phase)
	field("MoySklad status", rec.LastState)
	field("tracking number", rec.TrackingNumber)
	field("number at carrier", rec.Number)
	if rec.Attempt > 1 {
		field("attempt", fmt.Sprint(rec.Attempt))
	}
	field("last error", rec.Error)
	if !rec.NextAttemptAt.IsZero() {
		field("next attempt", fmt.Sprintf("%s (retry %d)", rec.NextAttemptAt.In(loc).Format(timeLayout), rec.Retries))
	}
	if !rec.UpdatedAt.IsZero() {
		field("updated", rec.UpdatedAt.In(loc).Format(timeLayout))
	}
	if len(events) == 0 {
		ew.printf("  (no events)\n")
		return ew.err
	}
	kindWidth := 0
	for _, ev := range events {
		kindWidth = max(kindWidth, len(printable(ev.Kind, false)))
	}
	ew.printf("\n")
	for _, ev := range events {
		prefix := fmt.Sprintf("  %s  %-*s  ", ev.At.In(loc).Format(timeLayout), kindWidth, printable(ev.Kind, false))
		ew.printf("%s%s\n", prefix, indentRest(printable(ev.Message, true), len([]rune(prefix))))
		if verbose && len(ev.Data) > 0 {
			ew.printf("%s%s\n", strings.Repeat(" ", len([]rune(prefix))), printable(string(ev.Data), false))
		}
	}
	return ew.err
}

// cleanRecord escapes the control characters of every text field of rec
// that the timeline prints.
func cleanRecord(rec store.OrderRecord) store.OrderRecord {
	for _, f := range []*string{&rec.Name, &rec.ID, &rec.Carrier, &rec.Phase, &rec.LastState,
		&rec.TrackingNumber, &rec.Number} {
		*f = printable(*f, false)
	}
	rec.Error = printable(rec.Error, true)
	return rec
}

// printable escapes what a terminal would act on rather than show: control
// characters (an ESC starts a terminal escape sequence, a CR overwrites the
// line), the bidirectional overrides that reorder text, and invalid UTF-8.
// Order data comes from MoySklad and the carriers, so anyone who can edit an
// order could otherwise rewrite the operator's screen. Newlines are kept
// when keepNewlines (the timeline indents them), else escaped too.
func printable(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (r == '\n' && !keepNewlines) || (r != '\n' && unsafeRune(r)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n' && keepNewlines:
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		case unsafeRune(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// jsonEscapeUnsafe writes every unsafeRune of a JSON text as a \u escape,
// which denotes the same string; JSON's structure has none of them.
func jsonEscapeUnsafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) && r != '\n' {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune reports control characters (C0, DEL, C1, tab included) and the
// bidirectional formatting characters.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
		return true
	}
	return false
}

// indentRest indents every line of s after the first by n spaces.
func indentRest(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// errWriter keeps the first write error so that a run of prints can be checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}

// fetchHistory asks a running shipbridge for an order's history over its
// HTTP endpoints (GET /api/orders/{id}).
func fetchHistory(ctx context.Context, listen, key string) (web.OrderHistory, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return web.OrderHistory{}, fmt.Errorf("http.listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u := "http://" + net.JoinHostPort(host, port) + "/api/orders/" + url.PathEscape(strings.TrimSpace(key))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return web.OrderHistory{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return web.OrderHistory{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return web.OrderHistory{}, fmt.Errorf("order %q not found: shipbridge has not seen an order with this name or id", key)
	default:
		return web.OrderHistory{}, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var h web.OrderHistory
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&h); err != nil {
		return web.OrderHistory{}, fmt.Errorf("decode: %w", err)
	}
	return h, nil
}
