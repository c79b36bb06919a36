// Package app is the shipbridge command line: it parses the arguments (cobra), loads the
// configuration, builds every dependency in one place (build), and runs the poll cycle on a cron
// schedule (run) or once (once).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/config"
)

// Exit statuses of Main.
const (
	// ExitOK means the command did what it was asked.
	ExitOK = 0
	// ExitFailure means the command ran but could not complete (a cycle failed, the store is locked, …).
	ExitFailure = 1
	// ExitUsage means bad arguments or an invalid configuration.
	ExitUsage = 2
)

// BuildInfo identifies the binary. main sets it from -ldflags "-X main.version=… -X main.commit=…";
// empty fields fall back to the module's build information.
type BuildInfo struct {
	Version string
	Commit  string
}

// resolve fills empty fields from runtime/debug.ReadBuildInfo, then with "dev" and "unknown".
func (b BuildInfo) resolve() BuildInfo {
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		if b.Commit == "" {
			var revision, modified string
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					revision = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if len(revision) > 12 {
				revision = revision[:12]
			}
			if revision != "" && modified == "true" {
				revision += "-dirty"
			}
			b.Commit = revision
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// Option changes how Main runs; for main and for tests.
type Option func(*env)

// WithBuildInfo sets the version and commit printed by `shipbridge version` and logged at start.
func WithBuildInfo(b BuildInfo) Option { return func(e *env) { e.build = b } }

// WithLookupEnv replaces os.LookupEnv as the source of SHIPBRIDGE_* variables.
func WithLookupEnv(lookup config.LookupFunc) Option { return func(e *env) { e.lookup = lookup } }

// WithEnviron replaces os.Environ as the list of variables checked for
// unknown SHIPBRIDGE_* names. With WithLookupEnv and without WithEnviron no
// variable is checked.
func WithEnviron(environ func() []string) Option { return func(e *env) { e.environ = environ } }

// WithClock replaces time.Now for the store and the scheduler.
func WithClock(now func() time.Time) Option { return func(e *env) { e.now = now } }

// env is everything a command needs from the outside world.
type env struct {
	stdout, stderr io.Writer
	lookup         config.LookupFunc
	environ        func() []string
	build          BuildInfo
	now            func() time.Time
	configPath     string
}

// exitError carries an exit status out of a cobra command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code: code, err: err} }

// Main runs the shipbridge command line with args (without the program name) and returns the
// exit status. Logs and errors go to stderr; stdout carries only a command's own output. ctx
// ends the daemon: cancel it on SIGTERM/SIGINT.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	e := &env{stdout: stdout, stderr: stderr, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	if e.lookup == nil && e.environ == nil {
		e.environ = os.Environ
	}
	e.build = e.build.resolve()

	root := e.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintln(stderr, "shipbridge: invalid configuration:")
		for _, p := range ve.Problems {
			fmt.Fprintf(stderr, "  - %s\n", p.Message)
		}
	} else {
		fmt.Fprintf(stderr, "shipbridge: %v\n", err)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Anything else comes from cobra itself: an unknown command or flag.
	return ExitUsage
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "shipbridge",
		Short: "Turns MoySklad order statuses into carrier (CDEK) shipments",
		Long: "shipbridge polls MoySklad for orders whose status asks for a shipment, registers it with\n" +
			"the carrier chosen on the order (CDEK), and writes the waybill, the tracking number, the\n" +
			"next status or the reason for a failure back to the order.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.PersistentFlags().StringVar(&e.configPath, "config", "",
		"configuration file (default ./config.yaml, then /etc/shipbridge/config.yaml; optional unless given)")
	root.AddCommand(e.versionCommand(), e.runCommand(), e.onceCommand(),
		e.checkCommand(), e.setupCommand(), e.historyCommand(), e.retryCommand(), e.demoCommand(), e.storeCommand())
	return root
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "shipbridge %s (commit %s, %s, %s/%s)\n",
				e.build.Version, e.build.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// setup loads and validates the configuration and builds the logger: the start of every command
// that talks to MoySklad and the carriers.
func (e *env) setup() (config.Config, *zap.Logger, error) {
	return e.setupWith(config.Config.Validate)
}

// setupWith is setup with another validation, e.g. config.Config.ValidateWithoutCredentials for
// commands that only read the store.
func (e *env) setupWith(validate func(config.Config) error) (config.Config, *zap.Logger, error) {
	cfg, err := config.Load(e.configPath, e.lookup, carrierModules...)
	if err != nil {
		return config.Config{}, nil, fail(ExitUsage, err)
	}
	if err := validate(cfg); err != nil {
		return config.Config{}, nil, fail(ExitUsage, err)
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		return config.Config{}, nil, fail(ExitUsage, err)
	}
	if e.environ != nil {
		for _, w := range config.UnknownEnv(e.environ(), carrierModules...) {
			log.Warn(w)
		}
	}
	log.Debug("configuration loaded", zap.String("file", configSource(cfg)), zap.Any("settings", cfg.Redacted()))
	return cfg, log, nil
}

// userAgent is the User-Agent of shipbridge's API requests.
func (e *env) userAgent() string {
	return "shipbridge/" + e.build.Version + " (+https://github.com/shipbridge/shipbridge)"
}

// configSource names where the configuration came from, for logs.
func configSource(cfg config.Config) string {
	if cfg.File == "" {
		return "(no file: defaults and environment)"
	}
	return cfg.File
}

func (e *env) runCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: a poll cycle on the configured cron schedule until SIGTERM/SIGINT",
		Long: "Run the daemon: one poll cycle right away, then one on every tick of `schedule`, and one as\n" +
			"soon as the check every `watch_every` sees a change, never two at once. On SIGTERM or SIGINT\n" +
			"the cycle in flight finishes its current step (for at most `shutdown_timeout`) and\n" +
			"shipbridge exits 0.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := e.setup()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return e.daemon(cmd.Context(), cfg, log)
		},
	}
}

func (e *env) daemon(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	d, err := build(cfg, log, e.now, e.userAgent())
	if err != nil {
		return fail(ExitFailure, err)
	}
	defer d.close()
	d.metrics.CarriersEnabled(d.carriers.Names()...)

	sched, err := NewScheduler(cfg.Schedule, d.cycler, log, e.now)
	if err != nil {
		return fail(ExitUsage, err)
	}
	if d.tracking != nil {
		// Tracking passes end before the next scheduled cycle.
		if err := d.tracking.bound(cfg.Schedule); err != nil {
			return fail(ExitUsage, err)
		}
	}
	if cfg.WatchEvery > 0 && d.poller.CanWatch() {
		// Between cycles: one small MoySklad request every watch_every, a cycle at once on a change.
		sched.Watch(d.poller, cfg.WatchEvery)
	}
	if cfg.HTTP.Listen != "" {
		stopHTTP, err := e.serveHTTP(cfg, log, d, sched)
		if err != nil {
			return fail(ExitFailure, err)
		}
		defer stopHTTP()
	}
	sched.Start()
	log.Info("shipbridge started",
		zap.String("version", e.build.Version), zap.String("commit", e.build.Commit),
		zap.String("schedule", cfg.Schedule), zap.Duration("watch_every", cfg.WatchEvery), zap.String("store", d.store.Path()), zap.String("config", configSource(cfg)))

	// The first cycle runs right away rather than one schedule interval after start.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sched.RunNow(ctx); err != nil && !errors.Is(err, ErrStopped) && !errors.Is(err, context.Canceled) {
			log.Debug("first cycle did not complete", zap.Error(err))
		}
	})

	<-ctx.Done()
	log.Info("stopping: waiting for the cycle in flight", zap.Duration("timeout", cfg.ShutdownTimeout))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := sched.Stop(stopCtx); err != nil {
		return fail(ExitFailure, fmt.Errorf("stop: %w", err))
	}
	wg.Wait()
	log.Info("shipbridge stopped")
	return nil
}

func (e *env) onceCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "once",
		Short: "Run exactly one poll cycle and exit",
		Long: "Run exactly one poll cycle, bounded by `once_timeout`, and exit. The exit status is 0 when\n" +
			"the cycle ran, whatever happened to single orders, and non-zero when it could not run or\n" +
			"when a carrier refused our credentials or said our request quota is exhausted (orders wait).\n" +
			"After the cycle, a tracking pass runs when one is due (the store remembers the last one).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := e.setup()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			d, err := build(cfg, log, e.now, e.userAgent())
			if err != nil {
				return fail(ExitFailure, err)
			}
			defer d.close()
			d.metrics.CarriersEnabled(d.carriers.Names()...)
			sched, err := NewScheduler(cfg.Schedule, d.cycler, log, e.now)
			if err != nil {
				return fail(ExitUsage, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.OnceTimeout)
			defer cancel()
			err = sched.RunNow(ctx)
			logCycleProgress(log, d.poller.Progress())
			logWaiting(log, d.poller.Progress(), e.now())
			if err != nil {
				return fail(ExitFailure, fmt.Errorf("cycle: %w", explainMetadata(err)))
			}
			if err := sched.Stop(context.WithoutCancel(ctx)); err != nil {
				return fail(ExitFailure, err)
			}
			// The cycle ran, but orders cannot go anywhere while a carrier
			// refuses our credentials or our quota is spent, or MoySklad
			// refuses our writes: say so.
			if p := d.metrics.MoySkladWriteProblem(); p != "" {
				return fail(ExitFailure, fmt.Errorf("outcomes are not written back: %s", p))
			}
			if problems := d.metrics.CarrierProblems(); len(problems) > 0 {
				msgs := make([]string, len(problems))
				for i, p := range problems {
					msgs[i] = p.String()
				}
				return fail(ExitFailure, fmt.Errorf("orders are waiting: %s", strings.Join(msgs, "; ")))
			}
			return nil
		},
	}
}
