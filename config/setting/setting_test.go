package setting

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretIsNeverPrinted(t *testing.T) {
	s := Secret("s3cr3t")
	js, _ := json.Marshal(struct{ S Secret }{s})
	text, _ := s.MarshalText()
	for _, view := range []string{s.String(), s.GoString(), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), string(js), string(text)} {
		if strings.Contains(view, "s3cr3t") || strings.Contains(view, fmt.Sprintf("%x", "s3cr3t")) {
			t.Errorf("leak: %s", view)
		}
	}
	if s.Value() != "s3cr3t" || s.String() != "[redacted]" || Secret("").String() != "" {
		t.Errorf("Value %q, String %q", s.Value(), s.String())
	}
}

func TestChecker(t *testing.T) {
	ch := &Checker{}
	ch.Required("carriers.x.token", " ")
	ch.Positive("workers", 0)
	ch.OneOf("log.level", "loud", "debug", "info")
	ch.HTTPURL("carriers.x.base_url", "ftp://x")
	ch.HTTPURL("carriers.x.other_url", "https://ok.example/api")
	want := []string{
		"carriers.x.token is required: set SHIPBRIDGE_CARRIERS_X_TOKEN",
		"workers must be greater than 0, got 0",
		`log.level must be one of debug, info, got "loud"`,
		`carriers.x.base_url must be an http(s) URL such as https://host/path, got "ftp://x"`,
	}
	var got []string
	for _, p := range ch.Problems() {
		got = append(got, p.Message)
		if !strings.HasPrefix(p.Message, p.Key+" ") {
			t.Errorf("message does not start with its key: %+v", p)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
