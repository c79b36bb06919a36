// Package exchange lets an API client report each HTTP exchange it makes to
// whoever started the operation, through the context, so the workflow can
// keep every request and answer in an order's history without the clients
// knowing about orders or storage.
package exchange

import (
	"context"
	"time"
)

// MaxBody is how much of a request or response body an Exchange keeps.
const MaxBody = 4 << 10

// Exchange is one HTTP request and its answer, with secrets already removed
// by the client that made it.
type Exchange struct {
	System   string        `json:"system"` // "cdek", "moysklad"
	Method   string        `json:"method"`
	URL      string        `json:"url"`
	Status   int           `json:"status,omitempty"`
	Request  string        `json:"request,omitempty"`
	Response string        `json:"response,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Err      string        `json:"error,omitempty"`
}

// Recorder receives exchanges. It must be safe for concurrent use.
type Recorder func(Exchange)

type recorderKey struct{}

// WithRecorder returns a context whose exchanges are reported to r.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// Record reports e to the context's recorder, if any. Bodies are cut to
// MaxBody bytes.
func Record(ctx context.Context, e Exchange) {
	r, _ := ctx.Value(recorderKey{}).(Recorder)
	if r == nil {
		return
	}
	e.Request = Truncate(e.Request)
	e.Response = Truncate(e.Response)
	r(e)
}

// Truncate cuts s to MaxBody bytes, marking the cut.
func Truncate(s string) string {
	if len(s) <= MaxBody {
		return s
	}
	return s[:MaxBody] + "…(truncated)"
}

// TruncateBytes is Truncate of string(b), copying no more of b than it keeps.
func TruncateBytes(b []byte) string {
	if len(b) <= MaxBody {
		return string(b)
	}
	return string(b[:MaxBody]) + "…(truncated)"
}
