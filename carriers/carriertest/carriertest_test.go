package carriertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/carriertest"
)

// syncPost is a small synchronous carrier, shaped like Почта России: a
// create answers at once with the barcode, the same number may be used
// twice (it is not Idempotent) so lookups list every shipment under a
// number (FinderAll), and shipments are grouped into day batches. It runs
// the contract beside CDEK (asynchronous, Idempotent, Finder), so every
// check is exercised by both kinds of carrier.
type syncPost struct {
	mu        sync.Mutex
	seq       int
	shipments []*postItem
	creates   map[string]int
	loseNext  int
}

type postItem struct {
	id                  int
	number, barcode     string
	mark, phone         string
	batch               string
	deleted, handedOver bool
}

func newSyncPost() *syncPost { return &syncPost{creates: map[string]int{}} }

func (p *syncPost) Name() string { return "syncpost" }

func (p *syncPost) Number(s carriers.Shipment) string {
	if s.Number != "" {
		return s.Number
	}
	if s.Attempt > 1 {
		return fmt.Sprintf("%s-%d", s.OrderName, s.Attempt)
	}
	return s.OrderName
}

func (p *syncPost) Validate(s carriers.Shipment) []carriers.Problem {
	if s.Recipient.Phone == "" || !strings.HasPrefix(s.Recipient.Phone, "+") {
		return []carriers.Problem{{Field: "recipient.phone", Message: "Почта: не указан телефон получателя"}}
	}
	return nil
}

func (p *syncPost) err(kind carriers.Kind, code, msg string) error {
	return &carriers.Error{Kind: kind, Carrier: p.Name(), Code: code, Message: msg}
}

func (p *syncPost) reg(it *postItem) carriers.Registration {
	data, _ := json.Marshal(map[string]any{"id": it.id, "batch": it.batch})
	st := carriers.StatusRegistered
	if it.deleted {
		st = carriers.StatusCancelled
	}
	return carriers.Registration{Number: it.number, Reference: fmt.Sprint(it.id), TrackingNumber: it.barcode, Status: st,
		Mark: it.mark, RecipientPhone: it.phone, CarrierData: data}
}

func (p *syncPost) Submit(_ context.Context, s carriers.Shipment) (carriers.Registration, error) {
	if ps := p.Validate(s); len(ps) > 0 {
		return carriers.Registration{}, p.err(carriers.KindInvalid, "EMPTY_PHONE", ps[0].Message)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.Number(s)
	p.creates[n]++
	p.seq++
	it := &postItem{id: p.seq, number: n, barcode: fmt.Sprintf("800%011d", p.seq), mark: s.Mark, phone: s.Recipient.Phone}
	p.shipments = append(p.shipments, it)
	if p.loseNext > 0 {
		p.loseNext--
		return carriers.Registration{}, p.err(carriers.KindAmbiguous, "", "Почта не ответила на запрос")
	}
	return p.reg(it), nil
}

func (p *syncPost) item(ref string) *postItem {
	for _, it := range p.shipments {
		if fmt.Sprint(it.id) == ref {
			return it
		}
	}
	return nil
}

func (p *syncPost) Registration(_ context.Context, ref string) (carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.item(ref); it != nil {
		return p.reg(it), nil
	}
	return carriers.Registration{}, p.err(carriers.KindNotFound, "NOT_FOUND", "Почта не знает отправление")
}

func (p *syncPost) FindAll(_ context.Context, s carriers.Shipment) ([]carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []carriers.Registration
	for _, it := range p.shipments {
		if it.number == p.Number(s) && !it.deleted {
			out = append(out, p.reg(it))
		}
	}
	return out, nil
}

func (p *syncPost) Delete(_ context.Context, reg carriers.Registration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	it := p.item(reg.Reference)
	switch {
	case it == nil || it.deleted:
		return nil
	case it.handedOver:
		return p.err(carriers.KindRejected, "ALREADY_HANDED_OVER", "Почта не удаляет отправление: оно уже передано в отделение")
	}
	it.deleted = true
	return nil
}

func (p *syncPost) Batch(_ context.Context, reg carriers.Registration, day time.Time) (carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	it := p.item(reg.Reference)
	if it == nil {
		return carriers.Registration{}, p.err(carriers.KindNotFound, "NOT_FOUND", "Почта не знает отправление")
	}
	if it.batch == "" {
		it.batch = day.Format("2006-01-02") + "/1"
	}
	return p.reg(it), nil
}

func (p *syncPost) Waybill(_ context.Context, reg carriers.Registration) (carriers.Document, error) {
	return carriers.Document{Filename: "f7-" + reg.Number + ".pdf", ContentType: "application/pdf",
		Content: []byte("%PDF-1.4\n% " + reg.TrackingNumber + "\n%%EOF\n")}, nil
}

func TestContractSynchronousNonIdempotent(t *testing.T) {
	carriertest.Run(t, carriertest.Harness{RequireMark: true, Timeout: 2 * time.Second, New: func(t *testing.T) carriertest.Instance {
		p := newSyncPost()
		return carriertest.Instance{
			Carrier: p,
			Shipment: func(key string) carriers.Shipment {
				return carriers.Shipment{OrderID: "id-" + key, OrderName: "P-" + key, Attempt: 1,
					Recipient: carriers.Contact{Name: "Иванов Иван", Phone: "+79161234567"}, PickupPoint: "101000",
					Packages: []carriers.Package{{Number: "1", WeightG: 500}}}
			},
			MakeInvalid:    func(s *carriers.Shipment) { s.Recipient.Phone = "" },
			LoseNextCreate: func() { p.mu.Lock(); p.loseNext = 1; p.mu.Unlock() },
			CreatesFor:     func(n string) int { p.mu.Lock(); defer p.mu.Unlock(); return p.creates[n] },
			ForbidDelete: func(t *testing.T, reg carriers.Registration) {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.item(reg.Reference).handedOver = true
			},
		}
	}})
}

// A carrier that neither refuses duplicates nor can find a shipment by
// number (the synchronous carrier with its lookup hidden) is refused at
// Register: a lost answer could only be re-sent blindly.
func TestRegistryRefusesBlindCarrier(t *testing.T) {
	var reg carriers.Registry
	if err := reg.Register(blind{newSyncPost()}, carriers.Profile{}); err == nil {
		t.Fatal("a carrier neither idempotent nor able to find was registered")
	}
}

// blind hides syncPost's lookup.
type blind struct{ p *syncPost }

func (b blind) Name() string                                    { return "blind" }
func (b blind) Number(s carriers.Shipment) string               { return b.p.Number(s) }
func (b blind) Validate(s carriers.Shipment) []carriers.Problem { return b.p.Validate(s) }
func (b blind) Submit(ctx context.Context, s carriers.Shipment) (carriers.Registration, error) {
	return b.p.Submit(ctx, s)
}
func (b blind) Registration(ctx context.Context, ref string) (carriers.Registration, error) {
	return b.p.Registration(ctx, ref)
}
