package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// postFake is an in-memory carrier shaped like Почта России: a create is
// answered synchronously with the barcode; a second create with the same
// number is NOT refused (order-num is not unique there), so it can only be
// reconciled by listing every shipment under a number (FinderAll); a
// created shipment goes into the day's batch (Batcher), which a repeated
// call finds instead of opening another. Its opaque data (internal id,
// batch name) travels in CarrierData.
type postFake struct {
	mu        sync.Mutex
	seq       int
	shipments []*postShipment
	creates   map[string]int
	batches   map[string][]int // batch name → shipment ids
	batchCall int
	// loseNext creates whose answer is lost after the shipment was made;
	// dropNext creates lost before they reach the carrier.
	loseNext, dropNext int
	// seenData is the CarrierData each Batch call was handed.
	seenData []json.RawMessage
}

type postShipment struct {
	id          int
	number      string
	barcode     string
	mark, phone string
	batch       string
	deleted     bool
}

// postData is the fake's CarrierData.
type postData struct {
	ID    int    `json:"id"`
	Batch string `json:"batch,omitempty"`
}

func newPostFake() *postFake {
	return &postFake{creates: map[string]int{}, batches: map[string][]int{}}
}

func (p *postFake) Name() string { return "pochta" }

func (p *postFake) Number(s carriers.Shipment) string {
	if s.Number != "" {
		return s.Number
	}
	if s.Attempt > 1 {
		return fmt.Sprintf("%s-%d", s.OrderName, s.Attempt)
	}
	return s.OrderName
}

func (p *postFake) Validate(carriers.Shipment) []carriers.Problem { return nil }

func (p *postFake) reg(sh *postShipment) carriers.Registration {
	data, _ := json.Marshal(postData{ID: sh.id, Batch: sh.batch})
	r := carriers.Registration{Number: sh.number, Reference: fmt.Sprint(sh.id), TrackingNumber: sh.barcode, Status: carriers.StatusRegistered,
		Mark: sh.mark, RecipientPhone: sh.phone, CarrierData: data}
	if sh.deleted {
		r.Status = carriers.StatusCancelled
	}
	return r
}

func (p *postFake) Submit(_ context.Context, s carriers.Shipment) (carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropNext > 0 {
		p.dropNext--
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "pochta", Op: "create", Message: "Почта России не ответила"}
	}
	n := p.Number(s)
	p.creates[n]++
	p.seq++
	sh := &postShipment{id: p.seq, number: n, barcode: fmt.Sprintf("800%011d", p.seq), mark: s.Mark, phone: s.Recipient.Phone}
	p.shipments = append(p.shipments, sh)
	if p.loseNext > 0 {
		p.loseNext--
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "pochta", Op: "create", Message: "Почта России не ответила"}
	}
	return p.reg(sh), nil
}

func (p *postFake) Registration(_ context.Context, ref string) (carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sh := range p.shipments {
		if fmt.Sprint(sh.id) == ref {
			return p.reg(sh), nil
		}
	}
	return carriers.Registration{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: "pochta", Message: "Почта России не знает заказ"}
}

func (p *postFake) FindAll(_ context.Context, s carriers.Shipment) ([]carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []carriers.Registration
	for _, sh := range p.shipments {
		if sh.number == p.Number(s) && !sh.deleted {
			out = append(out, p.reg(sh))
		}
	}
	return out, nil
}

func (p *postFake) Batch(_ context.Context, reg carriers.Registration, day time.Time) (carriers.Registration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batchCall++
	p.seenData = append(p.seenData, reg.CarrierData)
	var d postData
	if err := json.Unmarshal(reg.CarrierData, &d); err != nil || d.ID == 0 {
		return carriers.Registration{}, &carriers.Error{Kind: carriers.KindInvalid, Carrier: "pochta", Message: "Почта России: не передан внутренний номер отправления"}
	}
	for _, sh := range p.shipments {
		if sh.id != d.ID {
			continue
		}
		if sh.batch == "" { // a repeated call finds the batch it is in
			sh.batch = day.Format("2006-01-02") + "-1"
			p.batches[sh.batch] = append(p.batches[sh.batch], sh.id)
		}
		return p.reg(sh), nil
	}
	return carriers.Registration{}, &carriers.Error{Kind: carriers.KindNotFound, Carrier: "pochta", Message: "Почта России не знает отправление"}
}

func (p *postFake) Delete(_ context.Context, reg carriers.Registration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sh := range p.shipments {
		if fmt.Sprint(sh.id) == reg.Reference {
			sh.deleted = true
		}
	}
	return nil
}

// live returns the live shipments under number.
func (p *postFake) live(number string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, sh := range p.shipments {
		if sh.number == number && !sh.deleted {
			n++
		}
	}
	return n
}

// plant adds a live shipment under number that shipbridge did not make.
func (p *postFake) plant(number, mark, phone string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.shipments = append(p.shipments, &postShipment{id: p.seq, number: number, barcode: fmt.Sprintf("800%011d", p.seq), mark: mark, phone: phone})
}
