package moysklad

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Moscow is the fixed UTC+3 zone in which MoySklad expresses every timestamp.
// Moscow has had no daylight-saving time since 2014, so a fixed zone is exact
// and needs no tzdata.
var Moscow = time.FixedZone("MSK", 3*60*60)

const (
	momentLayout   = "2006-01-02 15:04:05"
	momentLayoutMS = "2006-01-02 15:04:05.000"
	momentLayoutHM = "2006-01-02 15:04"
)

// Moment is a MoySklad timestamp: a naive date-time in Moscow time, written as
// "2006-01-02 15:04:05" or "2006-01-02 15:04:05.000". The zero Moment encodes
// as JSON null.
type Moment struct{ time.Time }

// ParseMoment parses a MoySklad timestamp with or without milliseconds (or, as
// filters allow, without seconds) as Moscow time.
func ParseMoment(s string) (Moment, error) {
	s = strings.TrimSpace(s)
	// time.Parse accepts a fractional second after "05" even when the layout
	// has none, so one layout covers both the plain and the millisecond form.
	t, err := time.ParseInLocation(momentLayout, s, Moscow)
	if err != nil {
		t2, err2 := time.ParseInLocation(momentLayoutHM, s, Moscow)
		if err2 != nil {
			return Moment{}, fmt.Errorf("moysklad: bad timestamp %q: want \"YYYY-MM-DD HH:MM:SS[.mmm]\"", s)
		}
		t = t2
	}
	return Moment{t}, nil
}

// MomentOf converts t to a Moment (in Moscow time).
func MomentOf(t time.Time) Moment {
	if t.IsZero() {
		return Moment{}
	}
	return Moment{t.In(Moscow)}
}

// String formats m as "2006-01-02 15:04:05.000" in Moscow time, the form
// MoySklad uses in responses and accepts in filters. The zero Moment yields "".
func (m Moment) String() string {
	if m.IsZero() {
		return ""
	}
	return m.In(Moscow).Format(momentLayoutMS)
}

// Format is an alias of String, kept for readability at filter-building call sites.
func (m Moment) Format() string { return m.String() }

// MarshalJSON encodes m as a MoySklad timestamp string with milliseconds, or null.
func (m Moment) MarshalJSON() ([]byte, error) {
	if m.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + m.String() + `"`), nil
}

// UnmarshalJSON accepts a MoySklad timestamp with or without milliseconds, or null.
func (m *Moment) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte(`""`)) {
		*m = Moment{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("moysklad: timestamp must be a JSON string, got %s", b)
	}
	v, err := ParseMoment(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
