package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
	"github.com/shipbridge/shipbridge/web"
)

// cdekBearer matches the access tokens the CDEK simulator issues.
var cdekBearer = regexp.MustCompile(`sim\.[0-9a-f]{64}`)

// secretsIn lists the secrets found in text.
func (w *world) secretsIn(text string) []string {
	var found []string
	for name, s := range map[string]string{"MoySklad token": w.msToken, "CDEK client secret": w.cdekSecret} {
		if strings.Contains(text, s) {
			found = append(found, name)
		}
	}
	if m := cdekBearer.FindString(text); m != "" {
		found = append(found, "CDEK bearer token "+m[:12]+"…")
	}
	return found
}

// TestSecretsNeverLeak runs the daemon through successes, validation
// failures, carrier outages and lost answers at debug level, then greps
// its logs, the store (records and every history event), /metrics, the
// HTML pages and `history --json` for the MoySklad token, the CDEK client
// secret and CDEK bearer tokens.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	addr := freePort(t)
	w.env["SHIPBRIDGE_HTTP_LISTEN"] = addr
	w.env["SHIPBRIDGE_LOG_LEVEL"] = "debug"
	good := w.addOrder("SEC-1")
	lost := w.addOrder("SEC-2")
	noPhone := w.ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Без Телефона"})
	invalid := w.ms.AddOrder(moyskladtest.OrderSeed{Name: "SEC-3", AgentID: noPhone, StateName: sNew,
		Positions:  []moyskladtest.PositionSeed{{ProductID: w.product, Quantity: 1, Price: 100}},
		Attributes: map[string]any{aCarrier: "СДЭК", aPickup: "MSK67"}})
	for _, id := range []string{good, lost, invalid} {
		w.set(id, sReady)
	}
	// One create answer is lost: that order goes through the retry path
	// (30 s backoff), the other is registered.
	w.cdek.LoseNextCreateResponse(1)

	p := w.start("run")
	if !eventually(30*time.Second, func() bool {
		return (w.order(good).StateName == sRegistered || w.order(lost).StateName == sRegistered) && w.order(invalid).StateName == sFailed
	}) {
		t.Fatalf("orders did not settle: %s, %s, %s; stderr:\n%s", w.order(good).StateName, w.order(lost).StateName, w.order(invalid).StateName, tail(p.stderr.String(), 3000))
	}
	time.Sleep(time.Second) // another cycle or so
	ctx := context.Background()
	var pages []string
	for _, path := range []string{"/metrics", "/", "/orders/" + good, "/orders/" + invalid, "/orders/" + lost, "/healthz"} {
		code, body, err := httpGet(ctx, "http://"+addr+path)
		if err != nil || code >= 500 {
			t.Errorf("GET %s: %d %v", path, code, err)
		}
		if s := w.secretsIn(body); len(s) > 0 {
			t.Errorf("GET %s shows %v", path, s)
		}
		pages = append(pages, body)
	}
	if !strings.Contains(pages[2], "SEC-1") {
		t.Errorf("the order page does not show the order")
	}
	if !strings.Contains(pages[0], "shipbridge_api_requests_total") {
		t.Errorf("/metrics has no API request counters")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if s := w.secretsIn(p.stderr.String()); len(s) > 0 {
		t.Errorf("the logs show %v", s)
	}
	if !strings.Contains(p.stderr.String(), `"level":"debug"`) {
		t.Error("no debug lines: the test did not exercise the debug logs")
	}

	// The store: records and every event of every order.
	fi, err := os.Stat(w.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("store file mode %o, want 600", mode)
	}
	st := w.openStore()
	events := 0
	err = st.Orders(func(rec store.OrderRecord) bool {
		if s := w.secretsIn(fmt.Sprintf("%+v %s", rec, rec.Pending)); len(s) > 0 {
			t.Errorf("store record %s holds %v", rec.Name, s)
		}
		evs, err := st.History(rec.ID)
		if err != nil {
			t.Error(err)
		}
		for _, e := range evs {
			events++
			if s := w.secretsIn(e.Message + string(e.Data)); len(s) > 0 {
				t.Errorf("history of %s, event %d (%s) holds %v", rec.Name, e.Seq, e.Kind, s)
			}
			if strings.Contains(strings.ToLower(string(e.Data)), "bearer ") {
				t.Errorf("history of %s, event %d (%s) holds an Authorization header", rec.Name, e.Seq, e.Kind)
			}
		}
		return true
	})
	st.Close()
	if err != nil || events < 10 {
		t.Fatalf("store: %d events, %v", events, err)
	}

	// history --json, when the command exists.
	hp, code := w.run(30*time.Second, "history", "SEC-2", "--json")
	if code == 0 {
		if s := w.secretsIn(hp.stdout.String() + hp.stderr.String()); len(s) > 0 {
			t.Errorf("history --json shows %v", s)
		}
	}
}

// TestRefusedSecretsStayHidden: a wrong CDEK client secret and a wrong
// MoySklad token are refused by the services; the refusal is reported
// without the secret.
func TestRefusedSecretsStayHidden(t *testing.T) {
	w := newWorld(t, worldOptions{})
	id := w.addOrder("SEC-10")
	w.set(id, sReady)
	wrongCDEK := "wrong-cdek-secret-" + randomHex(8)
	w.env["SHIPBRIDGE_CARRIERS_CDEK_CLIENT_SECRET"] = wrongCDEK
	w.env["SHIPBRIDGE_LOG_LEVEL"] = "debug"
	p, _ := w.run(60*time.Second, "once")
	if w.cdek.TokensIssued() != 0 || w.cdek.Calls()["POST /v2/oauth/token"] == 0 || w.order(id).StateName == sRegistered {
		t.Fatalf("the wrong secret was not refused: %d tokens, calls %v", w.cdek.TokensIssued(), w.cdek.Calls())
	}
	if strings.Contains(p.stderr.String()+p.stdout.String(), wrongCDEK) {
		t.Error("the refused CDEK client secret appears in the output")
	}
	if o := w.order(id); strings.Contains(o.Attr(aError), wrongCDEK) {
		t.Error("the CDEK client secret was written to the order")
	}
	st := w.openStore()
	defer st.Close()
	evs, _ := st.History(id)
	for _, e := range evs {
		if strings.Contains(e.Message+string(e.Data), wrongCDEK) {
			t.Errorf("history event %d (%s) holds the CDEK client secret", e.Seq, e.Kind)
		}
	}
}

// TestHTTPDefaults: the HTTP endpoints listen on loopback unless told
// otherwise, and the server has timeouts against slow clients.
func TestHTTPDefaults(t *testing.T) {
	host, _, err := net.SplitHostPort(config.Default().HTTP.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("default http.listen %q is not a loopback address", config.Default().HTTP.Listen)
	}
	srv := web.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("server without timeouts or header limit: %+v", srv)
	}
}

// TestNoInsecureTLS: no source file disables TLS certificate verification.
func TestNoInsecureTLS(t *testing.T) {
	needle := "Insecure" + "SkipVerify" // split so that this file does not match itself
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s sets %s", path, needle)
		}
		return nil
	})
	if err != nil || files < 20 {
		t.Fatalf("walked %d Go files: %v", files, err)
	}
}

// hostile is a fake API server whose answers a test chooses per path.
func hostile(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// gzipBomb is a gzip stream that expands to n zero bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < n>>20; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// deep is JSON nested n levels deep.
func deep(n int) []byte {
	return []byte(strings.Repeat(`{"rows":[`, n) + strings.Repeat(`]}`, n))
}

// TestHostileMoySklad: the real MoySklad client against answers that are
// huge, compressed bombs, of the wrong types or absurdly nested: each call
// ends in an error, quickly, without a crash.
func TestHostileMoySklad(t *testing.T) {
	t.Parallel() // two 16 MiB reads: slow under -race, idle otherwise
	bomb := gzipBomb(t, 100<<20)
	// huge and gzip-bomb cost a 16 MiB read each: only ListOrders meets them.
	expensive := map[string]bool{"huge": true, "gzip-bomb": true}
	answers := map[string]func(w http.ResponseWriter){
		"huge": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"rows":[`)
			chunk := []byte(strings.Repeat(`{"id":"x","name":"y"},`, 4096))
			for i := 0; i < (80<<20)/len(chunk); i++ { // 80 MiB, above the client's 16 MiB cap
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"gzip-bomb": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb)
		},
		"wrong-types": func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"meta":{"size":"many"},"rows":[{"id":5,"name":["x"],"sum":"abc","updated":12,"positions":"none","agent":true}],"states":{"a":1},"attributes":"x"}`)
		},
		"deep": func(w http.ResponseWriter) { _, _ = w.Write(deep(200000)) },
		"not-json": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			url := hostile(t, func(w http.ResponseWriter, r *http.Request) { answer(w) })
			c, err := moysklad.New(moysklad.Config{BaseURL: url + "/api/remap/1.2", Token: "hostile-test-token", RequestsPerWindow: 1000, Window: time.Second,
				MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			if _, err := c.ListOrders(ctx, moysklad.ListOrdersQuery{}); err == nil {
				t.Error("ListOrders accepted a hostile answer")
			} else if strings.Contains(err.Error(), "hostile-test-token") {
				t.Errorf("the error shows the token: %v", err)
			}
			if expensive[name] {
				return
			}
			if _, err := c.OrderMetadata(ctx); err == nil {
				t.Error("OrderMetadata accepted a hostile answer")
			}
			if _, err := c.GetOrder(ctx, "0b2e8f4c-0000-11f1-0a80-000000000001"); err == nil {
				t.Error("GetOrder accepted a hostile answer")
			}
			if d := time.Since(start); d > 25*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestHostileCDEK: the real CDEK adapter against answers that are huge,
// of the wrong types or absurdly nested, and a waybill PDF that never ends:
// each call ends in a classified error without a crash.
func TestHostileCDEK(t *testing.T) {
	const uuid = "72753031-0000-4000-8000-000000000001"
	answers := map[string]func(w http.ResponseWriter){
		"huge": func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"entity":{"uuid":"`+uuid+`","comment":"`)
			chunk := bytes.Repeat([]byte("A"), 1<<16)
			for i := 0; i < 160; i++ { // 10 MiB, above the client's 4 MiB cap
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			_, _ = io.WriteString(w, `"}}`)
		},
		"wrong-types": func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"entity":{"uuid":7,"cdek_number":{"x":1},"statuses":"CREATED"},"requests":[{"state":5}]}`)
		},
		"deep":  func(w http.ResponseWriter) { _, _ = w.Write([]byte(strings.Repeat(`{"entity":`, 200000))) },
		"empty": func(w http.ResponseWriter) {},
	}
	shipment := carriers.Shipment{OrderID: "o1", OrderName: "H-1", Attempt: 1, PickupPoint: "MSK67",
		Recipient: carriers.Contact{Name: "Иванов Иван", Phone: "+79161234567"},
		Packages:  []carriers.Package{{Number: "1", WeightG: 1000, Items: []carriers.Item{{Name: "Чайник", WareKey: "KT-1", Cost: 100, WeightG: 1000, Amount: 1}}}}}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			url := hostile(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/oauth/token" {
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, `{"access_token":"hostile.token","token_type":"bearer","expires_in":3599}`)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				answer(w)
			})
			c, err := cdek.New(cdek.Config{BaseURL: url, ClientID: "id", ClientSecret: "hostile-secret", ShipmentPoint: "MSK65",
				PollInterval: time.Millisecond, MaxWait: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Errorf("%s accepted a hostile answer", op)
					return
				}
				if strings.Contains(err.Error(), "hostile-secret") || strings.Contains(err.Error(), "hostile.token") {
					t.Errorf("%s: the error shows a secret: %v", op, err)
				}
				if len(err.Error()) > 4096 {
					t.Errorf("%s: a %d-byte error message: the answer is echoed unbounded", op, len(err.Error()))
				}
			}
			_, err = c.Registration(ctx, uuid)
			check("Registration", err)
			if strings.Contains(err.Error(), "token") {
				t.Fatalf("the fake token was refused, so the hostile answer was never read: %v", err)
			}
			_, err = c.Submit(ctx, shipment)
			check("Submit", err)
			_, found, err := c.Find(ctx, shipment)
			if found {
				t.Error("Find adopted a hostile answer")
			}
			_ = err // "not found" is a fine reading of garbage for a lookup
		})
	}

	// A waybill whose PDF never ends (64 MiB) is cut off at the client's cap.
	var base string
	base = hostile(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/oauth/token":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"hostile.token","token_type":"bearer","expires_in":3599}`)
		case r.Method == http.MethodPost && r.URL.Path == "/v2/print/orders":
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"entity":{"uuid":"`+uuid+`"},"requests":[{"type":"CREATE","state":"ACCEPTED"}]}`)
		case r.URL.Path == "/v2/print/orders/"+uuid:
			_, _ = io.WriteString(w, `{"entity":{"uuid":"`+uuid+`","url":"`+base+`/v2/print/orders/`+uuid+`.pdf","statuses":[{"code":"READY","date_time":"2026-05-14T10:00:00+0300"}]}}`)
		case strings.HasSuffix(r.URL.Path, ".pdf"):
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = io.WriteString(w, "%PDF-1.4\n")
			chunk := make([]byte, 1<<20)
			for i := 0; i < 64; i++ { // 64 MiB, above the 20 MiB cap
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	})
	// The cap is 1 MiB here instead of the default 20 MiB: the same code cuts the body off, and
	// reading 20 MiB under the race detector on a busy 2-core machine outlasted the client's
	// request timeout (the test then failed for the timeout, not the cap).
	c, err := cdek.New(cdek.Config{BaseURL: base, ClientID: "id", ClientSecret: "hostile-secret", ShipmentPoint: "MSK65",
		PollInterval: time.Millisecond, MaxWait: 5 * time.Second, MaxPDFBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doc, err := c.Waybill(ctx, carriers.Registration{Number: "H-1", Reference: uuid, TrackingNumber: "1106394812", Status: carriers.StatusRegistered})
	if err == nil {
		t.Fatalf("a %d-byte waybill was accepted", len(doc.Content))
	}
	if !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("the waybill was refused, but not for its size: %v", err)
	}
}
