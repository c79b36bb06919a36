package exchange

import (
	"context"
	"strings"
	"testing"
)

func TestRecord(t *testing.T) {
	Record(context.Background(), Exchange{Method: "GET"}) // no recorder: no panic
	var got []Exchange
	ctx := WithRecorder(context.Background(), func(e Exchange) { got = append(got, e) })
	Record(ctx, Exchange{System: "cdek", Method: "POST", Request: strings.Repeat("x", MaxBody+10), Response: "ok"})
	if len(got) != 1 {
		t.Fatalf("got %d exchanges", len(got))
	}
	if !strings.HasSuffix(got[0].Request, "(truncated)") || len(got[0].Request) > MaxBody+20 {
		t.Errorf("request not truncated: %d bytes", len(got[0].Request))
	}
	if got[0].Response != "ok" || got[0].System != "cdek" {
		t.Errorf("got %+v", got[0])
	}
}
