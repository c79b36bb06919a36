package moysklad_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// MoySklad does not overwrite a file attribute that holds a file (error
// 14001, doc _errors.md: «Поле типа файл обновить нельзя»). UpdateOrder
// clears it and sends the update again, so the new waybill lands with the
// rest of the update instead of the whole write-back being refused.
func TestUpdateOrderReplacesAHeldFile(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	seed := moyskladtest.Seed(s)
	agent := s.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Покупатель"})
	id := s.AddOrder(moyskladtest.OrderSeed{Name: "F-1", AgentID: agent, StateName: seed.States["ready"].Name,
		Attributes: map[string]any{"Накладная": moyskladtest.File{Name: "old.pdf", Content: []byte("%PDF old")}}})
	c := newClient(t, s, nil)
	md, err := c.OrderMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waybill, _ := md.AttributeByName("Накладная")
	tracking, _ := md.AttributeByName("Трек-номер")
	registered, _ := md.StateByName(seed.States["registered"].Name)

	// The simulator refuses the overwrite as the service does…
	u := moysklad.OrderUpdate{State: &registered.Meta, Attributes: []moysklad.AttributeValue{
		moysklad.StringValue(tracking.Meta, "10000001"),
		moysklad.FileValue(waybill.Meta, "new.pdf", []byte("%PDF new")),
	}}
	before := s.RequestsByEndpoint()["PUT /entity/customerorder/{id}"]
	o, err := c.UpdateOrder(context.Background(), id, u)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Order(id)
	if f := snap.Attributes["Накладная"].File; f == nil || f.Name != "new.pdf" || string(f.Content) != "%PDF new" ||
		snap.Attr("Трек-номер") != "10000001" || snap.StateName != registered.Name || o.State.ID != registered.ID {
		t.Fatalf("after update: %+v", snap)
	}
	// …so the client sent: the refused PUT, the clearing PUT, the update.
	if n := s.RequestsByEndpoint()["PUT /entity/customerorder/{id}"] - before; n != 3 || snap.Puts != 2 {
		t.Errorf("%d PUTs sent, %d accepted", n, snap.Puts)
	}
	// An order without a file takes the update in one PUT.
	id2 := s.AddOrder(moyskladtest.OrderSeed{Name: "F-2", AgentID: agent, StateName: seed.States["ready"].Name})
	if _, err := c.UpdateOrder(context.Background(), id2, u); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.Order(id2); snap.Puts != 1 || snap.Attributes["Накладная"].File == nil {
		t.Errorf("fresh order: %+v", snap)
	}
	// An update that sets no file is not retried on 14001 (nothing to clear).
	_, err = c.UpdateOrder(context.Background(), id, moysklad.OrderUpdate{Attributes: []moysklad.AttributeValue{
		{Meta: waybill.Meta, File: &moysklad.FileUpload{Filename: "x.pdf", Content: []byte("x")}, Clear: true, Type: "file"}}})
	if err != nil {
		t.Fatal(err) // a clear is not refused
	}
}

// When the clearing PUT itself fails, the error says so and carries the
// service's answer; the held file stays (nothing was changed).
func TestUpdateOrderFileClearFailure(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	_, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"PUT /entity/customerorder/22591b08-2859-11f1-0a83-1f2500000247": func(r *http.Request) (int, string) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			bodies = append(bodies, string(b))
			if len(bodies) == 1 {
				return 400, `{"errors":[{"error":"Ошибка сохранения дополнительного поля: обновление дополнительных полей типа 'Файл' не поддерживается","code":14001}]}`
			}
			return 403, `{"errors":[{"error":"Доступ запрещен","code":1017}]}`
		},
	})
	wb := moysklad.Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/bcd0f613-ac02-11ef-0a80-081100581927", Type: "attributemetadata"}
	_, err := c.UpdateOrder(context.Background(), "22591b08-2859-11f1-0a83-1f2500000247", moysklad.OrderUpdate{
		Attributes: []moysklad.AttributeValue{moysklad.FileValue(wb, "w.pdf", []byte("%PDF"))}})
	var e *moysklad.Error
	if err == nil || !errors.As(err, &e) || e.StatusCode != 403 || !strings.Contains(err.Error(), "clear file attributes") {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || !strings.Contains(bodies[1], `"file":null`) || strings.Contains(bodies[1], "content") {
		t.Errorf("bodies %q", bodies)
	}
}
