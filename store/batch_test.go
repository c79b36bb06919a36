package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestBatchSavesManyOrdersInOneTransaction(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Save(OrderRecord{ID: "a0", Name: "00000", Phase: "registered", Open: true}); err != nil {
		t.Fatal(err)
	}
	err := s.Batch(func(b *Batch) error {
		for i := range 3 {
			id := fmt.Sprintf("a%d", i)
			rec, ok, err := b.Order(id)
			if err != nil {
				return err
			}
			if !ok {
				rec = OrderRecord{ID: id, Name: fmt.Sprintf("%05d", i)}
			}
			rec.Open = false
			rec.Delivery.Status = "in_transit"
			if err := b.Save(rec, Event{Kind: "tracking", Message: "В пути"}); err != nil {
				return err
			}
		}
		return b.Append("a0", Event{Kind: "note"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("a%d", i)
		rec, ok, err := s.Order(id)
		if err != nil || !ok || rec.Delivery.Status != "in_transit" || rec.CreatedAt.IsZero() {
			t.Errorf("%s: %+v %v %v", id, rec, ok, err)
		}
		h, err := s.History(id)
		want := 1
		if i == 0 {
			want = 2
		}
		if err != nil || len(h) != want || h[0].Kind != "tracking" || h[0].Seq != 1 {
			t.Errorf("%s history: %+v %v", id, h, err)
		}
	}
	if ids := openIDs(t, s); len(ids) != 0 {
		t.Errorf("open index still holds %v", ids)
	}
	if byName, ok, _ := s.OrderByName("00002"); !ok || byName.ID != "a2" {
		t.Errorf("name index: %+v", byName)
	}

	// An error inside the batch writes none of it.
	boom := errors.New("boom")
	err = s.Batch(func(b *Batch) error {
		if err := b.Save(OrderRecord{ID: "b1"}, Event{Kind: "x"}); err != nil {
			return err
		}
		if err := b.Save(OrderRecord{ID: ""}); err == nil {
			t.Error("a record without id was accepted")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("batch error %v", err)
	}
	if _, ok, _ := s.Order("b1"); ok {
		t.Error("a failed batch was written")
	}
	if h, _ := s.History("b1"); len(h) != 0 {
		t.Errorf("a failed batch's events were written: %+v", h)
	}
}
