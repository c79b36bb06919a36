package poller

import (
	"context"
	"fmt"
	"sync"

	"github.com/shipbridge/shipbridge/carriers"
)

// fakeCarrier is an in-memory carrier with CDEK's semantics (asynchronous
// confirmation, duplicate numbers refused among live shipments, deletion
// refusable), whose faults tests control.
type fakeCarrier struct {
	mu           sync.Mutex
	seq          int
	shipments    map[string]*fakeShipment // by reference
	creates      map[string]int           // create requests by number
	calls        map[string]int
	pendingFor   int               // Registration calls that answer pending before the outcome
	submitErrs   []error           // errors returned by the next Submits (nil entries: normal)
	waybillErr   error             // returned by Waybill while set
	loseNext     int               // creates whose answer is lost after the shipment was made
	rejectCodes  map[string]string // number → asynchronous refusal code
	refuseDel    map[string]bool   // number → deletion refused
	slowDelete   bool              // deletes are accepted but not decided until finishDeletes
	failAll      error             // every call fails with this while set
	beforeSubmit func()            // called inside Submit, for crash tests
	afterSubmit  func()
}

type fakeShipment struct {
	ref, number, tracking string
	mark, phone           string // identity read back, as CDEK's comment and recipient phone
	polls                 int
	rejected              string
	deleted               bool
	deleting              bool // a delete was requested and is not decided
}

func newFakeCarrier() *fakeCarrier {
	return &fakeCarrier{shipments: map[string]*fakeShipment{}, creates: map[string]int{}, calls: map[string]int{},
		rejectCodes: map[string]string{}, refuseDel: map[string]bool{}}
}

func (f *fakeCarrier) Name() string { return "cdek" }

func (f *fakeCarrier) Number(s carriers.Shipment) string {
	if s.Number != "" {
		return s.Number
	}
	if s.Attempt > 1 {
		return fmt.Sprintf("%s-%d", s.OrderName, s.Attempt)
	}
	return s.OrderName
}

func (f *fakeCarrier) Validate(s carriers.Shipment) []carriers.Problem {
	if s.PickupPoint == "BAD" {
		return []carriers.Problem{{Field: "pickup_point", Message: "Код ПВЗ «BAD» не существует"}}
	}
	return nil
}

func (f *fakeCarrier) live(number string) *fakeShipment {
	for _, s := range f.shipments {
		if s.number == number && !s.deleted && s.rejected == "" {
			return s
		}
	}
	return nil
}

func (f *fakeCarrier) Submit(ctx context.Context, s carriers.Shipment) (carriers.Registration, error) {
	if f.beforeSubmit != nil {
		f.beforeSubmit()
	}
	f.mu.Lock()
	f.calls["submit"]++
	if f.failAll != nil {
		err := f.failAll
		f.mu.Unlock()
		return carriers.Registration{}, err
	}
	if len(f.submitErrs) > 0 {
		err := f.submitErrs[0]
		f.submitErrs = f.submitErrs[1:]
		if err != nil {
			f.mu.Unlock()
			return carriers.Registration{}, err
		}
	}
	number := f.Number(s)
	f.creates[number]++
	f.seq++
	sh := &fakeShipment{ref: fmt.Sprintf("uuid-%d", f.seq), number: number, mark: s.Mark, phone: s.Recipient.Phone}
	if f.live(number) != nil {
		sh.rejected = "error_validate_im_dep_number_has_already_had_integration"
	} else if code := f.rejectCodes[number]; code != "" {
		sh.rejected = code
	}
	f.shipments[sh.ref] = sh
	lose := f.loseNext > 0
	if lose {
		f.loseNext--
	}
	f.mu.Unlock()
	if f.afterSubmit != nil {
		f.afterSubmit()
	}
	if lose {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "cdek", Op: "create order", Message: "нет ответа"}
	}
	return carriers.Registration{Number: number, Reference: sh.ref, Status: carriers.StatusPending, Mark: sh.mark, RecipientPhone: sh.phone}, nil
}

// RefusesDuplicateNumber: like CDEK, a second live shipment with a number
// is refused.
func (f *fakeCarrier) RefusesDuplicateNumber() bool { return true }

// plant adds a live, registered shipment under number that shipbridge did
// not make (a manager's, another system's), with the given mark and phone.
func (f *fakeCarrier) plant(number, mark, phone string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	sh := &fakeShipment{ref: fmt.Sprintf("uuid-%d", f.seq), number: number, mark: mark, phone: phone, tracking: fmt.Sprintf("10%08d", f.seq)}
	f.shipments[sh.ref] = sh
	return sh.ref
}

func (f *fakeCarrier) reg(sh *fakeShipment) carriers.Registration {
	r := carriers.Registration{Number: sh.number, Reference: sh.ref, TrackingNumber: sh.tracking, Status: carriers.StatusRegistered, Mark: sh.mark, RecipientPhone: sh.phone}
	switch {
	case sh.deleted:
		r.Status = carriers.StatusCancelled
	case sh.deleting:
		r.Status = carriers.StatusCancelling
	case sh.tracking == "":
		r.Status = carriers.StatusPending
	}
	return r
}

func (f *fakeCarrier) Registration(ctx context.Context, ref string) (carriers.Registration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["registration"]++
	if f.failAll != nil {
		return carriers.Registration{}, f.failAll
	}
	sh := f.shipments[ref]
	if sh == nil {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: "cdek"}
	}
	if sh.polls < f.pendingFor {
		sh.polls++
		return carriers.Registration{Number: sh.number, Reference: ref, Status: carriers.StatusPending, Mark: sh.mark, RecipientPhone: sh.phone}, nil
	}
	if sh.rejected != "" {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindRejected, Carrier: "cdek", Code: sh.rejected, Message: "СДЭК отклонил заказ: " + sh.rejected}
	}
	if sh.tracking == "" && !sh.deleted {
		sh.tracking = fmt.Sprintf("10%08d", f.seqOf(ref))
	}
	return f.reg(sh), nil
}

func (f *fakeCarrier) seqOf(ref string) int {
	var n int
	fmt.Sscanf(ref, "uuid-%d", &n)
	return n
}

// Find answers like CDEK's lookup by im_number: the most recent shipment
// under the number, whatever its state — a refused (INVALID) one may hide
// an older live one.
func (f *fakeCarrier) Find(ctx context.Context, s carriers.Shipment) (carriers.Registration, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["find"]++
	if f.failAll != nil {
		return carriers.Registration{}, false, f.failAll
	}
	var sh *fakeShipment
	for _, x := range f.shipments {
		if x.number == f.Number(s) && (sh == nil || f.seqOf(x.ref) > f.seqOf(sh.ref)) {
			sh = x
		}
	}
	if sh == nil {
		return carriers.Registration{}, false, nil
	}
	if sh.rejected != "" {
		r := f.reg(sh)
		r.Status, r.TrackingNumber = carriers.StatusRejected, ""
		return r, true, nil
	}
	if sh.tracking == "" && !sh.deleted {
		sh.tracking = fmt.Sprintf("10%08d", f.seqOf(sh.ref))
	}
	return f.reg(sh), true, nil
}

func (f *fakeCarrier) Delete(ctx context.Context, r carriers.Registration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["delete"]++
	if f.failAll != nil {
		return f.failAll
	}
	sh := f.shipments[r.Reference]
	if sh == nil || sh.deleted {
		return nil
	}
	if f.slowDelete {
		sh.deleting = true
		return &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", Op: "delete order", Message: "СДЭК ещё удаляет заказ"}
	}
	if f.refuseDel[sh.number] {
		return &carriers.Error{Kind: carriers.KindRejected, Carrier: "cdek", Code: "v2_order_status_not_created", Message: "СДЭК не удаляет заказ: он уже не в статусе «Создан»"}
	}
	sh.deleted = true
	return nil
}

func (f *fakeCarrier) Waybill(ctx context.Context, r carriers.Registration) (carriers.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["waybill"]++
	if f.failAll != nil {
		return carriers.Document{}, f.failAll
	}
	if f.waybillErr != nil {
		return carriers.Document{}, f.waybillErr
	}
	return carriers.Document{Filename: "waybill-" + r.Number + ".pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 " + r.Number)}, nil
}

// liveCount is the number of live shipments for the order name, all attempts.
func (f *fakeCarrier) liveShipments() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, s := range f.shipments {
		if !s.deleted && s.rejected == "" {
			out[s.number]++
		}
	}
	return out
}

func (f *fakeCarrier) createsFor(number string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[number]
}

func (f *fakeCarrier) set(fn func(*fakeCarrier)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

var errTransient = &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 503, Message: "СДЭК временно недоступен"}

// finishDeletes decides the pending deletes.
func (f *fakeCarrier) finishDeletes() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slowDelete = false
	for _, s := range f.shipments {
		if s.deleting {
			s.deleting, s.deleted = false, true
		}
	}
}
