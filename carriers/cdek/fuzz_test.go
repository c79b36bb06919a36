package cdek

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// fuzzTransport answers the token request properly and every API request
// with the fuzzed status and body.
type fuzzTransport struct {
	status int
	body   []byte
}

func (f *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	status, body := f.status, f.body
	if strings.HasSuffix(r.URL.Path, "/v2/oauth/token") {
		status, body = 200, []byte(`{"access_token":"fuzz.token","token_type":"bearer","expires_in":3599}`)
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

func seedCDEK(f *testing.F) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		status := 200
		switch {
		case strings.Contains(file, "_202"):
			status = 202
		case strings.Contains(file, "_400"):
			status = 400
		case strings.Contains(file, "_404"):
			status = 404
		}
		f.Add(b, status)
	}
	f.Add([]byte(`{"entity":null,"requests":[{"type":"GET","state":"INVALID","errors":[{"code":"v2_entity_not_found_im_number"}]}]}`), 400)
	f.Add([]byte(`{"entity":{"uuid":"72753031-0000-0000-0000-000000000001","cdek_number":1106394,"statuses":[{"code":"CREATED","date_time":"garbage"}]},"requests":[{"type":"CREATE","state":"SUCCESSFUL"}]}`), 200)
	f.Add([]byte(`{"entity":{"uuid":"u","number":"SB-1","cdek_number":"","statuses":[{"code":"CREATED","date_time":"2026-05-14T10:00:00+0300"}]},"requests":[{"type":"CREATE","state":"SUCCESSFUL","date_time":"2026-05-14T10:00:00+0300"},{"type":"DELETE","state":"SUCCESSFUL","date_time":"2026-05-14T09:00:00+0300"}]}`), 200)
	f.Add([]byte(`{"errors":[{"code":"v2_internal_error","message":"x"}],"error":"invalid_token"}`), 500)
	f.Add([]byte(`<html>504 Gateway Time-out</html>`), 504)
	f.Add([]byte(strings.Repeat(`{"entity":`, 5000)), 200)
}

// FuzzCDEKResponses feeds arbitrary CDEK answers to the real client and
// adapter (create, get by uuid, find by number): nothing panics, every
// failure is a classified carriers error, and a registration reported
// as registered has a tracking number.
func FuzzCDEKResponses(f *testing.F) {
	seedCDEK(f)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if status < 100 || status > 599 {
			status = 200
		}
		tr := &fuzzTransport{status: status, body: body}
		c, err := New(Config{BaseURL: "https://api.edu.cdek.ru", ClientID: "id", ClientSecret: "fuzz-secret", ShipmentPoint: "MSK65",
			HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second}, MaxBodyBytes: 1 << 16, PollInterval: time.Millisecond, MaxWait: 20 * time.Millisecond,
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(op string, reg carriers.Registration, err error) {
			if err != nil {
				if k := carriers.KindOf(err); k.String() == "" {
					t.Fatalf("%s: unclassified error %v", op, err)
				}
				if strings.Contains(err.Error(), "fuzz-secret") || strings.Contains(carriers.ManagerMessage(err), "fuzz-secret") {
					t.Fatalf("%s: the client secret leaked into an error", op)
				}
				return
			}
			if reg.Status == carriers.StatusRegistered && reg.TrackingNumber == "" {
				t.Fatalf("%s: registered without a tracking number: %+v", op, reg)
			}
		}
		reg, err := c.Registration(ctx, "72753031-0000-0000-0000-000000000001")
		check("registration", reg, err)
		s := carriers.Shipment{OrderID: "o1", OrderName: "00042", Attempt: 1, PickupPoint: "MSK67",
			Recipient: carriers.Contact{Name: "Иванов Иван", Phone: "+79161234567"},
			Packages:  []carriers.Package{{Number: "1", WeightG: 1000, Items: []carriers.Item{{Name: "Чайник", WareKey: "KT-1", Cost: 100, WeightG: 1000, Amount: 1}}}}}
		reg, found, err := c.Find(ctx, s)
		check("find", reg, err)
		if found && err == nil && reg.Number != "00042" {
			t.Fatalf("find adopted an order with another number: %+v", reg)
		}
		reg, err = c.Submit(ctx, s)
		check("submit", reg, err)
		if err == nil && reg.Reference == "" {
			t.Fatalf("submit succeeded without a reference: %+v", reg)
		}
		// The decoders on their own.
		var pr PrintResponse
		if json.Unmarshal(body, &pr) == nil && pr.Entity != nil {
			_ = pr.Entity.LatestStatus()
		}
		ae := newAPIError("GET", "/v2/orders", status, body)
		_ = ae.Error()
		_ = ae.NotFound()
		_ = ae.Codes()
	})
}

// FuzzCDEKTime: a timestamp either fails to parse or round-trips through
// the layout shipbridge writes.
func FuzzCDEKTime(f *testing.F) {
	for _, s := range []string{"2026-05-14T10:15:30+0300", "2026-05-14T10:15:30Z", "2026-05-14T10:15:30.123+03:00", "2026-05-14T10:15:30+03",
		"2026-05-14T10:15:30", "2026-05-14", "", "null", "2026-13-01T00:00:00+0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s)
		if err != nil {
			return
		}
		b, err := Time{v}.MarshalJSON()
		if err != nil {
			return // a year outside 0–9999 cannot be written; never sent anyway
		}
		var back Time
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatalf("%q → %s does not parse back: %v", s, b, err)
		}
		if !back.IsZero() && !back.Equal(v.Truncate(time.Second)) {
			t.Fatalf("%q → %s → %v, want %v", s, b, back.Time, v)
		}
	})
}
