// Package e2e drives the real shipbridge binary against the MoySklad, CDEK
// and (where a test asks) Почта России simulators, which run inside the
// test process on loopback. TestMain
// builds the binary once with the go tool; -e2e.binary (or
// SHIPBRIDGE_E2E_BINARY) uses a prebuilt one instead.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

var flagBinary = flag.String("e2e.binary", "", "use this shipbridge binary instead of building one (also SHIPBRIDGE_E2E_BINARY)")

// binary is the path of the binary under test; binaryErr says why there is
// none (the go tool is missing, or the build failed).
var (
	binary    string
	binaryErr error
	skipAll   string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if b := firstNonEmpty(*flagBinary, os.Getenv("SHIPBRIDGE_E2E_BINARY")); b != "" {
			binary = b
			return m.Run()
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			skipAll = "the go tool is not on PATH: cannot build the shipbridge binary for the end-to-end tests"
			fmt.Fprintln(os.Stderr, "e2e: "+skipAll)
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "shipbridge-e2e-")
		if err != nil {
			binaryErr = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "shipbridge")
		cmd := exec.Command(goTool, "build", "-o", binary, "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		return m.Run()
	}()
	os.Exit(code)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// needBinary skips the test when the binary cannot be built for lack of the
// go tool, and fails it when the build failed.
func needBinary(t *testing.T) {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	if binaryErr != nil {
		t.Fatalf("the shipbridge binary could not be built: %v", binaryErr)
	}
}

// Default names of PRODUCT.md §1.
const (
	sNew        = "Новый"
	sReady      = "Готов к отгрузке"
	sRegistered = "Зарегистрирован перевозчиком"
	sFailed     = "Ошибка оформления доставки"
	sDelete     = "Удалить заказ на доставку"
	sDeleted    = "Заказ на доставку удален"
	sNotDeleted = "Заказ на доставку НЕ удален"

	aCarrier  = "Служба доставки"
	aPickup   = "Код ПВЗ"
	aTracking = "Трек-номер"
	aWaybill  = "Накладная"
	aError    = "Ошибка доставки"
)

// world is the outside world of one binary under test: the simulators, a
// customer and a product to order, and a directory with the store.
type world struct {
	t    *testing.T
	ms   *moyskladtest.Server
	cdek *cdektest.Server
	// post is the Почта России simulator, nil unless worldOptions.pochta
	// asked for it; the binary then has the carrier enabled.
	post    *pochtatest.Server
	dir     string
	dbPath  string
	agent   string
	product string
	// msToken and cdekSecret are unique per world, so a test can grep for them.
	msToken, cdekID, cdekSecret string
	// env holds extra or overriding SHIPBRIDGE_* settings.
	env map[string]string
}

type worldOptions struct {
	ms   moyskladtest.Options
	cdek cdektest.Options
	// pochta, when set, starts the Почта России simulator and enables the
	// carrier in the binary (its credentials are made unique per world).
	pochta *pochtatest.Options
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), env: map[string]string{}}
	w.msToken = "mstoken-" + randomHex(16)
	w.cdekID = "cdekid-" + randomHex(6)
	w.cdekSecret = "cdeksecret-" + randomHex(16)
	o.ms.Token = w.msToken
	if o.ms.RequestsPerWindow == 0 {
		o.ms.RequestsPerWindow, o.ms.Window = 1000, time.Second
	}
	o.cdek.ClientID, o.cdek.ClientSecret = w.cdekID, w.cdekSecret
	w.ms = moyskladtest.NewServer(o.ms)
	t.Cleanup(w.ms.Close)
	moyskladtest.Seed(w.ms)
	w.cdek = cdektest.NewServer(o.cdek)
	t.Cleanup(w.cdek.Close)
	if o.pochta != nil {
		po := *o.pochta
		po.Token, po.Login, po.Password = "posttoken-"+randomHex(16), "shop-"+randomHex(4)+"@example.ru", "postpass-"+randomHex(12)
		w.post = pochtatest.NewServer(po)
		t.Cleanup(w.post.Close)
	}
	w.dbPath = filepath.Join(w.dir, "shipbridge.db")
	w.agent = w.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+7 916 123-45-67", Email: "ivan@example.ru"})
	w.product = w.ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Article: "KT-1", Weight: 1.2})
	return w
}

// environ is the binary's environment: the caller's, without any
// SHIPBRIDGE_* variable, plus the world's settings.
func (w *world) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHIPBRIDGE_") {
			env = append(env, kv)
		}
	}
	set := map[string]string{
		"SHIPBRIDGE_MOYSKLAD_BASE_URL":            w.ms.URL(),
		"SHIPBRIDGE_MOYSKLAD_TOKEN":               w.msToken,
		"SHIPBRIDGE_MOYSKLAD_REQUESTS_PER_WINDOW": "500",
		"SHIPBRIDGE_MOYSKLAD_WINDOW":              "1s",
		"SHIPBRIDGE_CARRIERS_CDEK_BASE_URL":       w.cdek.URL(),
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_ID":      w.cdekID,
		"SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET":  w.cdekSecret,
		"SHIPBRIDGE_CARRIERS_CDEK_SHIPMENT_POINT": "MSK65",
		"SHIPBRIDGE_CARRIERS_CDEK_SENDER_NAME":    "ИП Петров",
		"SHIPBRIDGE_CARRIERS_CDEK_SENDER_PHONE":   "+79990000000",
		"SHIPBRIDGE_STORE_PATH":                   w.dbPath,
		"SHIPBRIDGE_HTTP_LISTEN":                  "",
		"SHIPBRIDGE_SCHEDULE":                     "@every 1s",
		"SHIPBRIDGE_LOG_FORMAT":                   "json",
		"SHIPBRIDGE_LOG_LEVEL":                    "debug",
		"SHIPBRIDGE_ONCE_TIMEOUT":                 "30s",
		"SHIPBRIDGE_SHUTDOWN_TIMEOUT":             "20s",
		"SHIPBRIDGE_SWEEP_EVERY":                  "1h",
	}
	if w.post != nil {
		set["SHIPBRIDGE_CARRIERS_POCHTA_ENABLED"] = "true"
		set["SHIPBRIDGE_CARRIERS_POCHTA_BASE_URL"] = w.post.URL()
		set["SHIPBRIDGE_CARRIERS_POCHTA_TOKEN"] = w.post.Token()
		set["SHIPBRIDGE_CARRIERS_POCHTA_LOGIN"] = w.post.Login()
		set["SHIPBRIDGE_CARRIERS_POCHTA_PASSWORD"] = w.post.Password()
		set["SHIPBRIDGE_CARRIERS_POCHTA_POSTOFFICE_CODE"] = w.post.Postcode()
	}
	for k, v := range w.env {
		set[k] = v
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// addOrder adds an order in status "Новый" with a good recipient, one
// product, carrier СДЭК and a pickup point.
func (w *world) addOrder(name string) string {
	w.t.Helper()
	return w.addOrderFor(name, "СДЭК", "MSK67")
}

// addOrderFor is addOrder with the given carrier and pickup point (for
// Почта России: the index of the post office that holds the parcel).
func (w *world) addOrderFor(name, carrier, pickup string) string {
	w.t.Helper()
	return w.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: w.agent, StateName: sNew,
		Positions:  []moyskladtest.PositionSeed{{ProductID: w.product, Quantity: 2, Price: 150000}},
		Attributes: map[string]any{aCarrier: carrier, aPickup: pickup}})
}

func (w *world) set(id, state string) {
	w.t.Helper()
	if err := w.ms.SetOrderState(id, state); err != nil {
		w.t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // MoySklad's 'updated' has millisecond precision
}

func (w *world) order(id string) moyskladtest.OrderSnapshot {
	w.t.Helper()
	o, ok := w.ms.Order(id)
	if !ok {
		w.t.Fatalf("no order %s", id)
	}
	return o
}

// openStore opens the store file the binary used; the binary must not run.
func (w *world) openStore() *store.Store {
	w.t.Helper()
	st, err := store.Open(w.dbPath, store.Options{Timeout: 2 * time.Second})
	if err != nil {
		w.t.Fatalf("open the store after the binary stopped: %v", err)
	}
	return st
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one run of the binary.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// start runs the binary with args in the world's directory (which has no
// config.yaml) and environment.
func (w *world) start(args ...string) *proc {
	w.t.Helper()
	needBinary(w.t)
	p := &proc{t: w.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = w.dir
	p.cmd.Env = w.environ()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", binary, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	w.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// run runs the binary to completion (bounded) and returns its exit code.
func (w *world) run(timeout time.Duration, args ...string) (*proc, int) {
	w.t.Helper()
	p := w.start(args...)
	return p, p.wait(timeout)
}

// wait waits for the process to exit and returns its exit code; it fails
// the test when the process outlives timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%v did not exit within %s; stderr:\n%s", p.cmd.Args, timeout, tail(p.stderr.String(), 4000))
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		p.t.Fatalf("wait: %v", p.err)
		return -1
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// eventually polls cond until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpGet fetches a URL with a short timeout.
func httpGet(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}
