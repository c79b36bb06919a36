package poller

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
)

var updateREADME = flag.Bool("update", false, "rewrite the lifecycle section of ../README.md")

//go:generate go test -run TestLifecycleREADME . -args -update

const (
	lifecycleBegin = "<!-- lifecycle:begin -->"
	lifecycleEnd   = "<!-- lifecycle:end -->"
)

// lifecycleSection is the generated text between the README markers.
func lifecycleSection() string {
	return "\n<!-- generated from poller/lifecycle.go by `go generate ./poller`; do not edit -->\n\n" +
		LifecycleMermaid() + "\n" + LifecycleTable() + "\n"
}

// The README shows the lifecycle table as it is in the code; `go generate
// ./poller` (or this test with -update) rewrites it.
func TestLifecycleREADME(t *testing.T) {
	const path = "../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(lifecycleBegin))
	j := bytes.Index(b, []byte(lifecycleEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s … %s markers", lifecycleBegin, lifecycleEnd)
	}
	got := string(b[i+len(lifecycleBegin) : j])
	want := lifecycleSection()
	if got == want {
		return
	}
	if !*updateREADME {
		t.Fatalf("README.md's lifecycle section is stale: run `go generate ./poller`")
	}
	out := append(append(append([]byte{}, b[:i+len(lifecycleBegin)]...), want...), b[j:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every phase is reachable from none, none is reachable from every phase,
// and no two rows of the table say the same.
func TestLifecycleTable(t *testing.T) {
	next := map[Phase][]Phase{}
	seen := map[transition]bool{}
	for _, tr := range lifecycle {
		key := transition{From: tr.From, Event: tr.Event, To: tr.To}
		if seen[key] {
			t.Errorf("row %v twice", key)
		}
		seen[key] = true
		if tr.From != "" {
			next[tr.From] = append(next[tr.From], tr.To)
		}
	}
	reach := func(from Phase) map[Phase]bool {
		r := map[Phase]bool{from: true}
		stack := []Phase{from}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, q := range next[p] {
				if !r[q] {
					r[q] = true
					stack = append(stack, q)
				}
			}
		}
		return r
	}
	fromNone := reach(phaseNone)
	for _, ph := range phases {
		if !fromNone[ph] {
			t.Errorf("%s is not reachable from none", ph)
		}
		if !reach(ph)[phaseNone] {
			t.Errorf("none is not reachable from %s", ph)
		}
	}
	if allowed(phaseNone, evConfirmed, phaseRegistered) {
		t.Error("none -confirmed-> registered is allowed: a shipment cannot be confirmed before it is sent")
	}
	if !allowed(Phase("garbage"), evUnreadable, phaseNone) {
		t.Error("an unreadable phase cannot restart")
	}
	if d := LifecycleMermaid(); !strings.Contains(d, "none --> submitting: submit") || !strings.Contains(d, "stateDiagram-v2") {
		t.Errorf("diagram:\n%s", d)
	}
}

// move refuses a move the table does not have: nothing changes and the
// history says so.
func TestMoveRefusesUnknownTransition(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("M1", nil)
	tk, err := h.p.load(t.Context(), mustMeta(t, h), h.orderOf(id))
	if err != nil {
		t.Fatal(err)
	}
	if tk.move(evConfirmed, phaseRegistered, "x", "y", nil) {
		t.Fatal("none -confirmed-> registered was made")
	}
	if tk.phase() != phaseNone {
		t.Fatalf("phase %s after a refused move", tk.phase())
	}
	if !tk.move(evSubmit, phaseSubmitting, "carrier_submit", "z", nil) {
		t.Fatal("none -submit-> submitting refused")
	}
	rec := h.record(id)
	if Phase(rec.Phase) != phaseSubmitting {
		t.Fatalf("stored phase %s: move did not save", rec.Phase)
	}
	var refused, moved bool
	for _, e := range h.history(id) {
		refused = refused || e.Kind == "lifecycle_refused"
		moved = moved || (e.Kind == "carrier_submit" && strings.Contains(string(e.Data), `"none -submit-\u003e submitting"`))
	}
	if !refused || !moved {
		t.Errorf("history: refused %v, moved %v: %+v", refused, moved, h.history(id))
	}
}

func mustMeta(t *testing.T, h *harness) *Resolved {
	t.Helper()
	m, err := h.p.metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (h *harness) orderOf(id string) moysklad.Order {
	h.t.Helper()
	o, err := h.client.GetOrder(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}
