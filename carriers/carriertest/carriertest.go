// Package carriertest is the contract every carrier implementation runs
// against its own simulator: numbering, validation, registration
// (synchronous or asynchronous), lookup by number (Finder or FinderAll),
// duplicate numbers (refused by an Idempotent carrier, listed by FindAll
// otherwise), lost answers, the identity mark, batches, waybills and
// deletion, and the shape of errors. The checks ask the carrier's
// capabilities (carriers.Detect) and skip what it does not offer. A new
// carrier gets them by writing one Harness.
package carriertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
	"unicode"

	"github.com/shipbridge/shipbridge/carriers"
)

// Harness wires a carrier to its simulator for the contract test.
type Harness struct {
	// New returns a fresh carrier talking to a fresh simulator, and the
	// hooks on that simulator. It is called once per subtest; register
	// cleanups with t.Cleanup.
	New func(t *testing.T) Instance
	// Timeout bounds each asynchronous wait (default 10 s).
	Timeout time.Duration
	// RequireMark makes the contract check that a found shipment carries
	// the identity mark it was submitted with (Shipment.Mark →
	// Registration.Mark) and the recipient's phone, so the workflow can
	// adopt it (carriers.Owns). Every carrier must pass it; a carrier that
	// does not read the mark back yet leaves it false.
	RequireMark bool
}

// Instance is one carrier with its simulator. Carrier, Shipment and
// MakeInvalid are required; the other hooks are optional and the checks
// that need them are skipped when they are nil.
type Instance struct {
	Carrier carriers.Carrier
	// Shipment returns a valid shipment the simulator accepts; distinct
	// keys must give distinct orders (OrderID and OrderName).
	Shipment func(key string) carriers.Shipment
	// MakeInvalid breaks a shipment so that Validate must find problems.
	MakeInvalid func(s *carriers.Shipment)
	// LoseNextCreate makes the simulator create the next shipment but drop
	// its answer.
	LoseNextCreate func()
	// CreatesFor returns how many create requests the simulator received
	// for a carrier number.
	CreatesFor func(number string) int
	// ForbidDelete moves a registered shipment into a state where the
	// carrier refuses deletion (e.g. handed to the courier).
	ForbidDelete func(t *testing.T, reg carriers.Registration)
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("carriertest: Harness.New is required")
	}
	if h.Timeout <= 0 {
		h.Timeout = 10 * time.Second
	}
	t.Run("Registers", func(t *testing.T) { testRegisters(t, h) })
	t.Run("Number", func(t *testing.T) { testNumber(t, h) })
	t.Run("Validate", func(t *testing.T) { testValidate(t, h) })
	t.Run("SubmitRegisters", func(t *testing.T) { testSubmit(t, h) })
	t.Run("FindAfterSubmit", func(t *testing.T) { testFind(t, h) })
	t.Run("FindUnknown", func(t *testing.T) { testFindUnknown(t, h) })
	t.Run("LostCreateIsAmbiguousAndFound", func(t *testing.T) { testLostCreate(t, h) })
	t.Run("DuplicateNumber", func(t *testing.T) { testDuplicate(t, h) })
	t.Run("Mark", func(t *testing.T) { testMark(t, h) })
	t.Run("Batch", func(t *testing.T) { testBatch(t, h) })
	t.Run("Waybill", func(t *testing.T) { testWaybill(t, h) })
	t.Run("DeleteTwice", func(t *testing.T) { testDelete(t, h) })
	t.Run("DeleteRefused", func(t *testing.T) { testDeleteRefused(t, h) })
	t.Run("Check", func(t *testing.T) { testCheck(t, h) })
}

func testCheck(t *testing.T, h Harness) {
	in := h.New(t)
	ck := carriers.Detect(in.Carrier).Checker
	if ck == nil {
		t.Skip("carrier is not a Checker")
	}
	if err := ck.Check(h.ctx(t)); err != nil {
		t.Fatalf("Check against a healthy simulator: %v", err)
	}
}

func (h Harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func hasCyrillic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cyrillic, r) {
			return true
		}
	}
	return false
}

// CheckError fails the test unless err is a *carriers.Error of the carrier
// with a Russian message; it returns the error.
func CheckError(t *testing.T, c carriers.Carrier, err error) *carriers.Error {
	t.Helper()
	var ce *carriers.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *carriers.Error", err, err)
	}
	if ce.Carrier != c.Name() {
		t.Errorf("error carrier = %q, want %q", ce.Carrier, c.Name())
	}
	if !hasCyrillic(ce.Message) {
		t.Errorf("error message %q is not in Russian", ce.Message)
	}
	return ce
}

// WaitRegistered polls Registration until the shipment is Done, the
// carrier returns an error, or ctx ends.
func WaitRegistered(ctx context.Context, c carriers.Carrier, ref string) (carriers.Registration, error) {
	for {
		reg, err := c.Registration(ctx, ref)
		if err != nil || reg.Done() {
			return reg, err
		}
		select {
		case <-ctx.Done():
			return reg, fmt.Errorf("not registered in time (last status %q): %w", reg.Status, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (h Harness) register(t *testing.T, in Instance, s carriers.Shipment) carriers.Registration {
	t.Helper()
	ctx := h.ctx(t)
	reg, err := in.Carrier.Submit(ctx, s)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if reg.Reference == "" {
		t.Fatal("Submit returned no Reference")
	}
	if want := in.Carrier.Number(s); reg.Number != want {
		t.Errorf("Submit Number = %q, want %q", reg.Number, want)
	}
	done, err := WaitRegistered(ctx, in.Carrier, reg.Reference)
	if err != nil {
		t.Fatalf("Registration: %v", err)
	}
	if done.TrackingNumber == "" || done.Status != carriers.StatusRegistered {
		t.Fatalf("registration = %+v, want registered with a tracking number", done)
	}
	if done.Reference != reg.Reference {
		t.Errorf("Reference changed from %q to %q", reg.Reference, done.Reference)
	}
	return done
}

func testNumber(t *testing.T, h Harness) {
	in := h.New(t)
	c := in.Carrier
	s := in.Shipment("num-1")
	n1 := c.Number(s)
	if n1 == "" || n1 != c.Number(s) {
		t.Fatalf("Number not stable: %q vs %q", n1, c.Number(s))
	}
	seen := map[string]int{n1: 1}
	for a := 2; a <= 4; a++ {
		s2 := s
		s2.Attempt = a
		n := c.Number(s2)
		if prev, dup := seen[n]; dup {
			t.Errorf("attempt %d has the same number %q as attempt %d", a, n, prev)
		}
		seen[n] = a
	}
	other := in.Shipment("num-2")
	if c.Number(other) == n1 {
		t.Errorf("two orders share number %q", n1)
	}
}

func testValidate(t *testing.T, h Harness) {
	in := h.New(t)
	good := in.Shipment("val-1")
	if ps := in.Carrier.Validate(good); len(ps) != 0 {
		t.Fatalf("valid shipment has problems: %+v", ps)
	}
	bad := in.Shipment("val-2")
	in.MakeInvalid(&bad)
	ps := in.Carrier.Validate(bad)
	if len(ps) == 0 {
		t.Fatal("broken shipment passed validation")
	}
	for _, p := range ps {
		if p.Field == "" || !hasCyrillic(p.Message) {
			t.Errorf("problem %+v needs a field and a Russian message", p)
		}
	}
	_, err := in.Carrier.Submit(h.ctx(t), bad)
	if ce := CheckError(t, in.Carrier, err); ce.Kind != carriers.KindInvalid {
		t.Errorf("Submit of a broken shipment: kind %v, want invalid", ce.Kind)
	}
}

func testSubmit(t *testing.T, h Harness) {
	in := h.New(t)
	h.register(t, in, in.Shipment("sub-1"))
}

// testRegisters: the registry accepts the carrier (it refuses a duplicate
// number or can find a shipment by number).
func testRegisters(t *testing.T, h Harness) {
	in := h.New(t)
	var reg carriers.Registry
	if err := reg.Register(in.Carrier, carriers.Profile{Names: []string{"contract"}}); err != nil {
		t.Fatal(err)
	}
}

// find looks s up with whichever lookup the carrier has: every live
// shipment under s's number. ok is false when the carrier has none.
func (h Harness) find(t *testing.T, c carriers.Carrier, s carriers.Shipment) (regs []carriers.Registration, ok bool) {
	t.Helper()
	caps := carriers.Detect(c)
	switch {
	case caps.FinderAll != nil:
		all, err := caps.FinderAll.FindAll(h.ctx(t), s)
		if err != nil {
			t.Fatalf("FindAll: %v", err)
		}
		for _, r := range all {
			if r.Number != "" && r.Number != c.Number(s) {
				t.Errorf("FindAll(%s) returned a shipment numbered %s", c.Number(s), r.Number)
			}
		}
		return all, true
	case caps.Finder != nil:
		r, found, err := caps.Finder.Find(h.ctx(t), s)
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		if found {
			regs = append(regs, r)
		}
		return regs, true
	}
	return nil, false
}

func testFind(t *testing.T, h Harness) {
	in := h.New(t)
	s := in.Shipment("find-1")
	if _, ok := h.find(t, in.Carrier, s); !ok {
		t.Skip("carrier cannot find by number")
	}
	reg := h.register(t, in, s)
	got, _ := h.find(t, in.Carrier, s)
	if len(got) != 1 {
		t.Fatalf("lookup found %d shipments, want 1: %+v", len(got), got)
	}
	if got[0].Reference != reg.Reference || got[0].TrackingNumber != reg.TrackingNumber {
		t.Errorf("lookup = %+v, want %+v", got[0], reg)
	}
	if in.CreatesFor != nil {
		if n := in.CreatesFor(in.Carrier.Number(s)); n != 1 {
			t.Errorf("creates for %s = %d, want 1", in.Carrier.Number(s), n)
		}
	}
}

func testFindUnknown(t *testing.T, h Harness) {
	in := h.New(t)
	got, ok := h.find(t, in.Carrier, in.Shipment("never-sent"))
	if !ok {
		t.Skip("carrier cannot find by number")
	}
	if len(got) != 0 {
		t.Fatalf("lookup of an unknown shipment found %+v", got)
	}
}

func testLostCreate(t *testing.T, h Harness) {
	in := h.New(t)
	if _, ok := h.find(t, in.Carrier, in.Shipment("probe")); !ok || in.LoseNextCreate == nil {
		t.Skip("needs a lookup and LoseNextCreate")
	}
	ctx := h.ctx(t)
	s := in.Shipment("lost-1")
	in.LoseNextCreate()
	_, err := in.Carrier.Submit(ctx, s)
	if ce := CheckError(t, in.Carrier, err); ce.Kind != carriers.KindAmbiguous {
		t.Fatalf("lost answer: kind %v, want ambiguous (%v)", ce.Kind, err)
	}
	var reg carriers.Registration
	for {
		if got, _ := h.find(t, in.Carrier, s); len(got) > 0 {
			reg = got[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the order created behind the lost answer was never found")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := WaitRegistered(ctx, in.Carrier, reg.Reference); err != nil {
		t.Fatalf("adopted order: %v", err)
	}
	if in.CreatesFor != nil {
		if n := in.CreatesFor(in.Carrier.Number(s)); n != 1 {
			t.Errorf("creates = %d, want exactly 1", n)
		}
	}
}

// testDuplicate: an Idempotent carrier refuses a second shipment with the
// same number; any other carrier must list both under the number
// (FinderAll), or a lost answer could never be told from a duplicate.
func testDuplicate(t *testing.T, h Harness) {
	in := h.New(t)
	caps := carriers.Detect(in.Carrier)
	s := in.Shipment("dup-1")
	first := h.register(t, in, s)
	ctx := h.ctx(t)
	reg, err := in.Carrier.Submit(ctx, s)
	if err == nil {
		_, err = WaitRegistered(ctx, in.Carrier, reg.Reference)
	}
	switch {
	case caps.Idempotent && err == nil:
		t.Fatal("the carrier says it refuses a duplicate number, but a second shipment with the same number was registered")
	case err != nil:
		// Refused: as it must be for an Idempotent carrier; a carrier
		// that refuses without saying so should implement Idempotent.
		if !caps.Idempotent {
			t.Logf("the carrier refuses a duplicate number but does not implement carriers.Idempotent")
		}
		if ce := CheckError(t, in.Carrier, err); ce.Kind != carriers.KindRejected || ce.Code == "" {
			t.Errorf("duplicate: kind %v code %q, want rejected with the carrier's code", ce.Kind, ce.Code)
		}
		return
	}
	if caps.FinderAll == nil {
		t.Fatal("a carrier that takes duplicate numbers must list them (FinderAll)")
	}
	got, _ := h.find(t, in.Carrier, s)
	refs := map[string]bool{}
	for _, r := range got {
		refs[r.Reference] = true
	}
	if len(got) != 2 || !refs[first.Reference] || !refs[reg.Reference] {
		t.Errorf("FindAll after two creates = %+v, want both %s and %s", got, first.Reference, reg.Reference)
	}
}

// testMark: a found shipment carries the mark it was sent with and the
// recipient's phone, so carriers.Owns adopts it; another order's mark is
// not ours.
func testMark(t *testing.T, h Harness) {
	if !h.RequireMark {
		t.Skip("Harness.RequireMark is not set: the carrier does not read the mark back yet")
	}
	in := h.New(t)
	s := in.Shipment("mark-1")
	s.Mark = "shipbridge:" + s.OrderID
	h.register(t, in, s)
	got, ok := h.find(t, in.Carrier, s)
	if !ok {
		t.Fatal("RequireMark needs a lookup")
	}
	if len(got) != 1 || got[0].Mark != s.Mark {
		t.Fatalf("found %+v, want one shipment with mark %q", got, s.Mark)
	}
	if !carriers.Owns(s, got[0]) {
		t.Errorf("Owns(%+v) = false", got[0])
	}
	other := s
	other.Mark = "shipbridge:another-order"
	if carriers.Owns(other, got[0]) {
		t.Error("a shipment with another order's mark is owned")
	}
}

// testBatch: a Batcher puts a registered shipment into the day's group,
// names it in CarrierData, and a repeated call is harmless (same group).
func testBatch(t *testing.T, h Harness) {
	in := h.New(t)
	b := carriers.Detect(in.Carrier).Batcher
	if b == nil {
		t.Skip("carrier is not a Batcher")
	}
	reg := h.register(t, in, in.Shipment("batch-1"))
	day := time.Date(2026, 5, 14, 10, 0, 0, 0, time.UTC)
	r1, err := b.Batch(h.ctx(t), reg, day)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if len(r1.CarrierData) == 0 || r1.Reference != reg.Reference {
		t.Fatalf("Batch = %+v, want the same shipment with its group in CarrierData", r1)
	}
	r2, err := b.Batch(h.ctx(t), r1, day)
	if err != nil {
		t.Fatalf("repeated Batch: %v", err)
	}
	if !bytes.Equal(r1.CarrierData, r2.CarrierData) {
		t.Errorf("a repeated Batch moved the shipment: %s then %s", r1.CarrierData, r2.CarrierData)
	}
}

func testWaybill(t *testing.T, h Harness) {
	in := h.New(t)
	w := carriers.Detect(in.Carrier).Waybill
	if w == nil {
		t.Skip("carrier is not a WaybillPrinter")
	}
	reg := h.register(t, in, in.Shipment("wb-1"))
	if b := carriers.Detect(in.Carrier).Batcher; b != nil {
		// As the workflow does: a grouped shipment gets its waybill once it
		// is in its hand-over group.
		var err error
		if reg, err = b.Batch(h.ctx(t), reg, time.Now()); err != nil {
			t.Fatalf("Batch: %v", err)
		}
	}
	doc, err := w.Waybill(h.ctx(t), reg)
	if err != nil {
		t.Fatalf("Waybill: %v", err)
	}
	if !bytes.HasPrefix(doc.Content, []byte("%PDF-")) || !bytes.Contains(doc.Content, []byte("%%EOF")) {
		t.Errorf("waybill is not a PDF: %q", doc.Content[:min(len(doc.Content), 20)])
	}
	if doc.ContentType != "application/pdf" || len(doc.Filename) < 5 || doc.Filename[len(doc.Filename)-4:] != ".pdf" {
		t.Errorf("document %q %q", doc.Filename, doc.ContentType)
	}
}

func testDelete(t *testing.T, h Harness) {
	in := h.New(t)
	d := carriers.Detect(in.Carrier).Deleter
	if d == nil {
		t.Skip("carrier is not a Deleter")
	}
	s := in.Shipment("del-1")
	reg := h.register(t, in, s)
	if err := d.Delete(h.ctx(t), reg); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := d.Delete(h.ctx(t), reg); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if got, ok := h.find(t, in.Carrier, s); ok && len(got) != 0 {
		t.Errorf("lookup after Delete = %+v; want nothing", got)
	}
	// A new attempt gets a new number and registers again.
	s.Attempt = 2
	h.register(t, in, s)
}

func testDeleteRefused(t *testing.T, h Harness) {
	in := h.New(t)
	d := carriers.Detect(in.Carrier).Deleter
	if d == nil || in.ForbidDelete == nil {
		t.Skip("needs Deleter and ForbidDelete")
	}
	reg := h.register(t, in, in.Shipment("delno-1"))
	in.ForbidDelete(t, reg)
	err := d.Delete(h.ctx(t), reg)
	if ce := CheckError(t, in.Carrier, err); ce.Kind != carriers.KindRejected {
		t.Errorf("refused delete: kind %v, want rejected (%v)", ce.Kind, err)
	}
}
