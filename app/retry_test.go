package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/store"
)

func TestRetryMakesAWaitingOrderDue(t *testing.T) {
	h := newHarness(t) // no token: retry reads and writes only the store
	now := time.Now()
	st, err := store.Open(h.env["SHIPBRIDGE_STORE_PATH"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	next := now.Add(20 * time.Minute)
	rec := store.OrderRecord{ID: "id-w1", Name: "W1", Carrier: "cdek", Phase: "submitting", Attempt: 1, Number: "W1",
		Pending: []byte(`{"trigger":"ready","trigger_updated":"2026-11-27 10:15:00.000"}`), Open: true, NextAttemptAt: next, Retries: 4}
	settled := store.OrderRecord{ID: "id-s1", Name: "S1", Phase: "registered", Pending: []byte(`{"trigger":"ready","settled":true}`)}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(settled); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errOut := h.main(context.Background(), "retry", "W1")
	if code != 0 || !strings.Contains(out, "W1 is due now") {
		t.Fatalf("retry W1: exit %d, out %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = h.main(context.Background(), "retry", "S1")
	if code == 0 || !strings.Contains(errOut, "no unfinished work") {
		t.Fatalf("retry of a settled order: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = h.main(context.Background(), "retry", "NOPE")
	if code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("retry of an unknown order: exit %d, stderr %q", code, errOut)
	}

	st, err = store.Open(h.env["SHIPBRIDGE_STORE_PATH"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _, _ := st.Order("id-w1")
	if !got.NextAttemptAt.IsZero() || !got.Open {
		t.Fatalf("after retry: next %s open %v", got.NextAttemptAt, got.Open)
	}
	evs, _ := st.History("id-w1")
	if len(evs) == 0 || evs[len(evs)-1].Kind != "retry_now" {
		t.Fatalf("history %+v", evs)
	}
}
