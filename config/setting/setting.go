// Package setting is what the common configuration (package config) and every carrier's own
// settings (carriers/<key>) share: the environment variable of a key, the Secret type that never
// prints its value, and the Checker that collects a configuration's problems, each naming its key
// and the fix.
//
// It imports nothing of shipbridge, so a carrier package can use it without an import cycle.
package setting

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// EnvPrefix is the prefix of every environment variable that overrides a configuration key.
const EnvPrefix = "SHIPBRIDGE_"

// EnvName returns the environment variable that overrides key: the key upper-cased, with "."
// replaced by "_", prefixed with EnvPrefix (moysklad.token → SHIPBRIDGE_MOYSKLAD_TOKEN).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Secret is a string that must never be printed: its String, GoString and MarshalJSON return
// "[redacted]" (or "" when empty), so a Secret that reaches a log line, an error or %v stays
// hidden. Use Value to get the secret itself. Every configuration field of this type is a
// secret: it is redacted wherever the configuration is printed or logged.
type Secret string

const redacted = "[redacted]"

// Value returns the secret itself, for the one place that sends it to its service.
func (s Secret) Value() string { return string(s) }

// String returns "[redacted]" for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString makes %#v redact the secret too.
func (s Secret) GoString() string { return `setting.Secret("` + s.String() + `")` }

// MarshalJSON encodes the redacted form, so reflection-based loggers cannot leak the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes the redacted form, for text and YAML encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the configuration key at fault, e.g. "moysklad.token".
	Key string
	// Message says what is wrong and how to fix it; it starts with the key.
	Message string
}

// Checker collects the problems of a configuration. Its zero value is ready to use.
type Checker struct {
	// Credentials is true when secrets, and whatever else only a real account needs, are
	// required (run, once, check, setup); false for commands that never reach the real
	// services (demo) or only read the store (history).
	Credentials bool

	problems []Problem
}

// Problems returns the problems found so far, in the order they were found.
func (ch *Checker) Problems() []Problem { return ch.problems }

// Add records a problem of key; the message is the key, a space, and the formatted text.
func (ch *Checker) Add(key, format string, args ...any) {
	ch.problems = append(ch.problems, Problem{Key: key, Message: key + " " + fmt.Sprintf(format, args...)})
}

// AddProblem records a problem whose message is already complete.
func (ch *Checker) AddProblem(p Problem) { ch.problems = append(ch.problems, p) }

// Required reports whether value is set, and records "is required: set <its variable>" if not.
func (ch *Checker) Required(key, value string) bool {
	if strings.TrimSpace(value) == "" {
		ch.Add(key, "is required: set %s", EnvName(key))
		return false
	}
	return true
}

// Positive records a problem when value is not greater than 0.
func (ch *Checker) Positive(key string, value int) {
	if value <= 0 {
		ch.Add(key, "must be greater than 0, got %d", value)
	}
}

// OneOf records a problem when value is not one of allowed.
func (ch *Checker) OneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		ch.Add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
	}
}

// HTTPURL records a problem when value is missing or is not an http(s) URL with a host.
func (ch *Checker) HTTPURL(key, value string) {
	if !ch.Required(key, value) {
		return
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ch.Add(key, "must be an http(s) URL such as https://host/path, got %q", value)
	}
}
