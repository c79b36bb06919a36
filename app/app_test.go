package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs Main with a private environment and an empty config file in a temp directory.
type harness struct {
	t      *testing.T
	dir    string
	config string
	env    map[string]string
	ms     *moyskladtest.Server
	cdek   *cdektest.Server
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("# empty: defaults and environment only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, dir: dir, config: cfg, env: map[string]string{
		"SHIPBRIDGE_STORE_PATH": filepath.Join(dir, "shipbridge.db"),
		// Off unless a test turns it on: tracking has its own tests (tracking_test.go).
		"SHIPBRIDGE_TRACKING_EVERY": "0",
	}}
}

// valid adds what Validate needs, a token and a shipment point, and points
// shipbridge at fresh MoySklad and CDEK simulators.
func (h *harness) valid() *harness {
	ms := moyskladtest.NewServer(moyskladtest.Options{Token: "ms-token-SECRET"})
	h.t.Cleanup(ms.Close)
	moyskladtest.Seed(ms)
	return h.withSimulators(ms)
}

// withSimulators points shipbridge at ms and at a fresh CDEK simulator,
// with the token and shipment point Validate needs.
func (h *harness) withSimulators(ms *moyskladtest.Server) *harness {
	cd := cdektest.NewServer(cdektest.Options{})
	h.t.Cleanup(cd.Close)
	h.ms, h.cdek = ms, cd
	h.env["SHIPBRIDGE_MOYSKLAD_TOKEN"] = "ms-token-SECRET"
	h.env["SHIPBRIDGE_MOYSKLAD_BASE_URL"] = ms.URL()
	h.env["SHIPBRIDGE_CARRIERS_CDEK_BASE_URL"] = cd.URL()
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID"] = cd.ClientID()
	h.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = cd.ClientSecret()
	h.env["SHIPBRIDGE_CARRIERS_CDEK_SHIPMENT_POINT"] = "MSK65"
	h.env["SHIPBRIDGE_HTTP_LISTEN"] = ""
	return h
}

func (h *harness) lookup(name string) (string, bool) {
	v, ok := h.env[name]
	return v, ok
}

func (h *harness) main(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut syncBuffer
	code = Main(ctx, append(args, "--config", h.config), &out, &errOut,
		WithLookupEnv(h.lookup), WithBuildInfo(BuildInfo{Version: "v9.8.7", Commit: "abc1234"}))
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.main(context.Background(), "version")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"shipbridge v9.8.7", "commit abc1234", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout %q lacks %q", out, want)
		}
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
}

func TestVersionFallsBackWithoutLdflags(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"version"}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b := BuildInfo{}.resolve()
	if b.Version == "" || b.Commit == "" || !strings.HasPrefix(out.String(), "shipbridge "+b.Version+" (commit "+b.Commit) {
		t.Errorf("stdout = %q, resolved %+v", out.String(), b)
	}
}

func TestOnceWithoutTokenNamesTheKey(t *testing.T) {
	h := newHarness(t)
	h.env["SHIPBRIDGE_CARRIERS_CDEK_SHIPMENT_POINT"] = "MSK65"
	code, out, errOut := h.main(context.Background(), "once")
	if code == 0 {
		t.Fatal("once without a token exited 0")
	}
	if !strings.Contains(errOut, "moysklad.token is required: set SHIPBRIDGE_MOYSKLAD_TOKEN") {
		t.Errorf("stderr does not name moysklad.token:\n%s", errOut)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if _, err := os.Stat(h.env["SHIPBRIDGE_STORE_PATH"]); err == nil {
		t.Error("the store was created although the configuration is invalid")
	}
}

func TestOnceRunsOneCycle(t *testing.T) {
	h := newHarness(t).valid()
	code, out, errOut := h.main(context.Background(), "once")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing (logs go to stderr)", out)
	}
	if !strings.Contains(errOut, "cycle done") {
		t.Errorf("stderr does not show the cycle:\n%s", errOut)
	}
	info, err := os.Stat(h.env["SHIPBRIDGE_STORE_PATH"])
	if err != nil {
		t.Fatalf("store not created: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("store mode %v", info.Mode().Perm())
	}
	if strings.Contains(errOut, "DEBUG") {
		t.Errorf("debug lines at the default info level:\n%s", errOut)
	}
}

func TestLogLevelFromEnvironment(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_LOG_LEVEL"] = "debug"
	code, _, errOut := h.main(context.Background(), "once")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "DEBUG\tconfiguration loaded") || !strings.Contains(errOut, "DEBUG\tcycle started") {
		t.Errorf("SHIPBRIDGE_LOG_LEVEL=debug did not enable debug lines:\n%s", errOut)
	}
	// The configuration is logged, with every secret redacted.
	for _, secret := range []string{"ms-token-SECRET", "RmAmgvSgSl1yirlz9QupbzOJVqhCxcP5"} {
		if strings.Contains(errOut, secret) {
			t.Errorf("a secret reached the log:\n%s", errOut)
		}
	}
	if !strings.Contains(errOut, `"moysklad.token":"[redacted]"`) {
		t.Errorf("redacted token not shown:\n%s", errOut)
	}
}

func TestJSONLogFormat(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_LOG_FORMAT"] = "json"
	code, _, errOut := h.main(context.Background(), "once")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.HasPrefix(line, `{"level":"info"`) {
			t.Errorf("not a JSON info line: %s", line)
		}
	}
}

func TestExplicitConfigFileMustExist(t *testing.T) {
	h := newHarness(t).valid()
	h.config = filepath.Join(h.dir, "nope.yaml")
	code, _, errOut := h.main(context.Background(), "once")
	if code != ExitUsage || !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	h := newHarness(t)
	code, _, errOut := h.main(context.Background(), "frobnicate")
	if code != ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

func TestStoreLockedByAnotherInstance(t *testing.T) {
	h := newHarness(t).valid()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &bytes.Buffer{}, &errOut, WithLookupEnv(h.lookup))
	}()
	waitFor(t, &errOut, "shipbridge started")

	code, _, second := h.main(context.Background(), "once")
	if code != ExitFailure || !strings.Contains(second, "another shipbridge is probably running") {
		t.Errorf("second instance: exit %d, stderr %s", code, second)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run exited %d after cancel:\n%s", code, errOut.String())
	}
}

func TestRunStopsGracefully(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_SCHEDULE"] = "@every 1h"
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config", h.config}, &out, &errOut, WithLookupEnv(h.lookup))
	}()
	// The first cycle runs at start, not an hour later.
	waitFor(t, &errOut, "cycle done")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after its context was cancelled")
	}
	if !strings.Contains(errOut.String(), "shipbridge stopped") || out.String() != "" {
		t.Errorf("stdout %q stderr:\n%s", out.String(), errOut.String())
	}
	// The store was closed: it opens again at once.
	code, _, errs := h.main(context.Background(), "once")
	if code != 0 {
		t.Errorf("once after run: exit %d %s", code, errs)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	h := newHarness(t).valid()
	h.env["SHIPBRIDGE_SCHEDULE"] = "sometimes"
	h.env["SHIPBRIDGE_LOG_FORMAT"] = "xml"
	code, _, errOut := h.main(context.Background(), "run")
	if code != ExitUsage {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"  - schedule is not a valid cron spec", `  - log.format must be one of console, json, got "xml"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestConfigFileIsUsed(t *testing.T) {
	h := newHarness(t).valid()
	if err := os.WriteFile(h.config, []byte("log:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, errOut := h.main(context.Background(), "once")
	if !strings.Contains(errOut, h.config) {
		t.Errorf("the file's log level was not applied or the file not named:\n%s", errOut)
	}
	// The environment wins over the file.
	h.env["SHIPBRIDGE_LOG_LEVEL"] = "info"
	_, _, errOut = h.main(context.Background(), "once")
	if strings.Contains(errOut, "DEBUG") {
		t.Errorf("SHIPBRIDGE_LOG_LEVEL did not override the file:\n%s", errOut)
	}
}

func waitFor(t *testing.T, b *syncBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged within 5s:\n%s", substr, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
