package pochta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// fuzzTransport answers every request with the fuzzed status, content type
// and body.
type fuzzTransport struct {
	status int
	ct     string
	body   []byte
}

func (f *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Header: http.Header{"Content-Type": {f.ct}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: r}, nil
}

// FuzzPochtaDecoders feeds any body, status and content type to every
// decoder through the client and the adapter: nothing may panic, and every
// failure must be a *carriers.Error (adapter) or a typed client error.
func FuzzPochtaDecoders(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, 200, "application/json;charset=UTF-8")
			f.Add(b, 404, "application/json")
		}
	}
	for _, seed := range []string{
		`{"orders":[{"result-id":"12","barcode":80093053624992,"order-num":3}],"errors":[{"error-codes":[{"code":"EMPTY_MASS"}],"position":"1"}]}`,
		`{"errors":[{"position":0}],"result-ids":[1,"2",null]}`,
		`{"code":1001,"desc":null,"sub-code":"RESOURCE_NOT_FOUND"}`,
		`[{"id":1,"order-num":"1","is-deleted":"true","last-oper-type":2,"last-oper-attr":"1","last-oper-date":1733220300000,"tel-address":"79161234567"}]`,
		`[{"batch-name":24,"batch-status":"CREATED","list-number-date":"2026-11-30","mail-type":"COMBINED","combined-batch-mail-types":null}]`,
		`{"allowed-count":"10000","current-count":1e3}`,
		`[{"operator-postcode":102961,"enabled":1,"available-mail-types":["POSTAL_PARCEL"],"user-available-products":[{"mail-type":"EMS"}]}]`,
		`[{"id":"1","index":"115127","quality-code":"GOOD","validation-code":"VALIDATED","region":"г Москва","place":"г Москва","street":"ш Варшавское","house":"37"}]`,
		`null`, `[]`, `{}`, `"x"`, `[{"id":{"x":1}}]`,
	} {
		f.Add([]byte(seed), 200, "application/json")
	}
	f.Add([]byte("%PDF-1.4\n%%EOF"), 200, "application/pdf")
	f.Add([]byte("<html>502</html>"), 502, "text/html")
	f.Fuzz(fuzzOne)
}

func fuzzOne(t *testing.T, body []byte, status int, ct string) {
	{
		if status < 100 || status > 599 {
			status = 200
		}
		cfg := testConfig("https://otpravka-api.pochta.ru")
		cfg.HTTPClient = &http.Client{Transport: &fuzzTransport{status: status, ct: ct, body: body}}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		cl := c.Client()
		_ = ParseErrors(body)
		_, _ = cl.CreateOrders(ctx, []OrderRequest{{OrderNum: "1"}})
		_, _ = cl.SearchBacklog(ctx, "1")
		_, _ = cl.ListBatches(ctx, "POSTAL_PARCEL", "ORDINARY")
		_, _ = cl.CleanAddresses(ctx, map[string]string{"1": "Москва"})
		_, _ = cl.ShippingPoints(ctx)
		_, _ = cl.CleanNames(ctx, map[string]string{"1": "Иван"})
		_, _ = cl.Limit(ctx)
		_, _, _ = cl.Forms(ctx, 1, time.Now(), "PAPER")
		reg := carriers.Registration{Reference: "1", Number: "1"}
		s := goodShipment("1")
		s.Address = &carriers.Address{Text: "Москва"}
		check := func(err error) {
			if err == nil || errors.Is(err, carriers.ErrTrackingUnavailable) {
				return
			}
			var ce *carriers.Error
			if !errors.As(err, &ce) {
				t.Fatalf("adapter error %v (%T) is not a *carriers.Error", err, err)
			}
		}
		_, err = c.Submit(ctx, s)
		check(err)
		_, err = c.FindAll(ctx, s)
		check(err)
		_, err = c.Registration(ctx, "1")
		check(err)
		_, err = c.Batch(ctx, reg, time.Now())
		check(err)
		_, err = c.Waybill(ctx, reg)
		check(err)
		check(c.Delete(ctx, reg))
		_, err = c.Track(ctx, []carriers.Registration{reg})
		check(err)
		check(c.Check(ctx))
	}
}
