package moysklad

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseMoment: any string either fails to parse or yields a Moment whose
// String form parses back to the same instant (to the millisecond); the
// JSON form round-trips too. Cursors are stored in this form.
func FuzzParseMoment(f *testing.F) {
	for _, s := range []string{"2026-05-14 10:15:30", "2026-05-14 10:15:30.123", "2026-05-14 10:15", " 2026-05-14 10:15:30.1 ",
		"2026-05-14 10:15:30.123456789", "2026-02-30 10:00:00", "2026-05-14T10:15:30", "2026-05-14 24:00:00", "9999-12-31 23:59:59.999",
		"0001-01-01 00:00:00", "", "null", "2026-05-14 10:15:30,5", "+2026-05-14 10:15:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoment(s)
		if err != nil {
			if !strings.Contains(err.Error(), "moysklad: bad timestamp") {
				t.Fatalf("unexpected error text: %v", err)
			}
		} else if !m.IsZero() {
			back, err := ParseMoment(m.String())
			if err != nil {
				t.Fatalf("%q → %q does not parse back: %v", s, m.String(), err)
			}
			if !back.Equal(m.Truncate(time.Millisecond)) {
				t.Fatalf("%q → %q → %v, want %v", s, m.String(), back.Time, m.Truncate(time.Millisecond))
			}
			if m.Location() != Moscow {
				t.Fatalf("parsed in %v, want Moscow time", m.Location())
			}
		}
		raw, _ := json.Marshal(s)
		var j Moment
		if err := json.Unmarshal(raw, &j); err != nil {
			return
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("marshal %v: %v", j.Time, err)
		}
		var j2 Moment
		if err := json.Unmarshal(out, &j2); err != nil || !j2.Equal(j.Truncate(time.Millisecond)) {
			t.Fatalf("JSON round trip of %s: %s → %v (%v)", raw, out, j2.Time, err)
		}
	})
}

// seedFiles adds the package's testdata JSON samples as seeds.
func seedFiles(f *testing.F, pattern string, extra ...any) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(append([]any{b}, extra...)...)
		}
	}
}

// FuzzDecodeOrderList: any answer body either fails to decode or yields
// orders that survive a JSON round trip (the history stores them so).
func FuzzDecodeOrderList(f *testing.F) {
	seedFiles(f, "customerorder_*.json")
	f.Add([]byte(`{"meta":{"size":1},"rows":[{"id":"x","name":"1","sum":1e308,"payedSum":-1,"updated":"2026-05-14 10:15:30.123","positions":{"rows":[{"quantity":1e400}]}}]}`))
	f.Add([]byte(`{"rows":[{"attributes":[{"value":{"meta":{"href":"h"}}},{"value":[1,2]},{"value":"x"}],"agent":"not an object"}]}`))
	f.Add([]byte(`{"rows":[{"shipmentAddressFull":{"country":"RU","region":{"meta":{}}}}]}`))
	f.Add([]byte(`{"rows":null}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var list orderList
		if err := json.Unmarshal(data, &list); err != nil {
			return
		}
		for _, o := range list.Rows {
			for _, a := range o.Attributes {
				a.String()
				a.Int()
				a.Float()
				a.Bool()
				a.Ref()
				a.FileName()
			}
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("marshal a decoded order: %v", err)
			}
			var back Order
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("a re-encoded order does not decode: %v\n%s", err, b)
			}
			if back.ID != o.ID || back.Name != o.Name || back.Sum != o.Sum || back.PayedSum != o.PayedSum ||
				!back.Updated.Equal(o.Updated.Truncate(time.Millisecond)) || len(back.Positions) != len(o.Positions) || len(back.Attributes) != len(o.Attributes) {
				t.Fatalf("round trip changed the order:\n%+v\n%+v", o, back)
			}
		}
	})
}

// FuzzDecodeMetadata: the metadata answer never panics the decoder and
// every state and attribute it yields has an id.
func FuzzDecodeMetadata(f *testing.F) {
	seedFiles(f, "*metadata*.json")
	f.Add([]byte(`{"states":[{"meta":{"href":"https://x/entity/customerorder/metadata/states/1"}}],"attributes":{"rows":[{"meta":{}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var md Metadata
		if json.Unmarshal(data, &md) != nil {
			return
		}
		for _, s := range md.States {
			if _, ok := md.StateByName(s.Name); !ok {
				t.Fatalf("state %q not found by its name", s.Name)
			}
		}
	})
}

// FuzzDecodeError: any error body is turned into an *Error whose messages
// can be printed.
func FuzzDecodeError(f *testing.F) {
	seedFiles(f, "error_*.json", 400)
	f.Add([]byte(`[{"errors":[{"error":"x","code":1049}]}]`), 429)
	f.Add([]byte(`{"errors":[{"code":"1049"}]}`), 412)
	f.Add([]byte(`<html>502 Bad Gateway</html>`), 502)
	c, err := New(Config{BaseURL: "https://api.moysklad.ru/api/remap/1.2", Token: "fuzz-token"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if status < 100 || status > 599 {
			status = 500
		}
		err := c.decodeError(request{method: "GET", path: "/entity/customerorder"}, &http.Response{StatusCode: status, Header: http.Header{}}, data)
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != status {
			t.Fatalf("decodeError = %#v", err)
		}
		_ = e.Error()
		_ = e.UserMessage()
		_ = IsRetryable(err)
		_ = e.Codes()
	})
}
