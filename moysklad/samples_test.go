package moysklad_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

func readSample(t *testing.T, name string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return b
}

func msk(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.000", s, moysklad.Moscow)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSampleCustomerOrderList(t *testing.T) {
	var list struct {
		Meta moysklad.Meta    `json:"meta"`
		Rows []moysklad.Order `json:"rows"`
	}
	readSample(t, "customerorder_list.doc.json", &list)
	if list.Meta.Size != 1 || list.Meta.Limit != 1000 || list.Meta.Type != "customerorder" || len(list.Rows) != 1 {
		t.Fatalf("envelope: %+v, %d rows", list.Meta, len(list.Rows))
	}
	o := list.Rows[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", o.ID, "34efe2ee-015e-11e6-9464-e4de0000006b"},
		{"meta id", o.Meta.ID(), "34efe2ee-015e-11e6-9464-e4de0000006b"},
		{"name", o.Name, "00001"},
		{"description", o.Description, "Это комментарий к заказу покупателя!"},
		{"externalCode", o.ExternalCode, "CntjFix4hoyZOIhZiULjv2"},
		{"updated (no ms)", o.Updated.Time.Equal(msk("2016-04-14 12:03:05.000")), true},
		{"updated string", o.Updated.String(), "2016-04-14 12:03:05.000"},
		{"moment", o.Moment.String(), "2016-04-13 12:57:00.000"},
		{"sum", o.Sum, int64(346453701206)},
		{"payedSum", o.PayedSum, int64(365939611804)},
		{"state id", o.State.ID, "fb56c504-2e58-11e6-8a84-bae500000069"},
		{"state type", o.State.Meta.Type, "state"},
		{"state name (not expanded)", o.State.Name, ""},
		{"agent id", o.Agent.ID, "9794d400-f689-11e5-8a84-bae500000078"},
		{"agent type", o.Agent.Meta.Type, "counterparty"},
		{"positions total", o.PositionsTotal, 4},
		{"positions rows", len(o.Positions), 0},
		{"positions href", o.PositionsMeta.Href, "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/34efe2ee-015e-11e6-9464-e4de0000006b/positions"},
		{"shipmentAddress", o.ShipmentAddress, "125009, Россия, г Москва, Москва, ул Тверская, 1, 123, addInfo"},
		{"postal", o.ShipmentAddressFull.PostalCode, "125009"},
		{"city", o.ShipmentAddressFull.City, "Москва"},
		{"street", o.ShipmentAddressFull.Street, "ул Тверская"},
		{"house", o.ShipmentAddressFull.House, "1"},
		{"apartment", o.ShipmentAddressFull.Apartment, "123"},
		{"addInfo", o.ShipmentAddressFull.AddInfo, "addinfo"},
		{"comment", o.ShipmentAddressFull.Comment, "some words about address"},
		{"country (not expanded)", o.ShipmentAddressFull.Country, ""},
		{"country id", o.ShipmentAddressFull.CountryMeta.ID(), "9df7c2c3-7782-4c5c-a8ed-1102af611608"},
		{"region id", o.ShipmentAddressFull.RegionMeta.ID(), "00000000-0000-0000-0000-000000000077"},
		{"attributes", len(o.Attributes), 1},
		{"attr name", o.Attributes[0].Name, "AttributeName1"},
		{"attr type", o.Attributes[0].Type, "string"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if s, ok := o.Attributes[0].String(); !ok || s != "1251252" {
		t.Errorf("attr value = %q %v", s, ok)
	}
	if a, ok := o.AttributeByName("AttributeName1"); !ok || a.ID != "c2ecd338-015e-11e6-9464-e4de0000008f" {
		t.Errorf("AttributeByName = %+v %v", a, ok)
	}
	// The order survives a JSON round trip through its own encoding.
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back moysklad.Order
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", back, o)
	}
}

func TestSampleMetadata(t *testing.T) {
	var md moysklad.Metadata
	readSample(t, "customerorder_metadata_states_attributes.doc.json", &md)
	if len(md.States) != 7 {
		t.Fatalf("states = %d", len(md.States))
	}
	wantNames := []string{"Новый", "Подтвержден", "Собран", "Отгружен", "Доставлен", "Возврат", "Отменен"}
	for i, st := range md.States {
		if st.Name != wantNames[i] {
			t.Errorf("state %d = %q, want %q", i, st.Name, wantNames[i])
		}
		if st.ID != st.Meta.ID() || st.Meta.Type != "state" || st.EntityType != "customerorder" {
			t.Errorf("state %d: %+v", i, st)
		}
	}
	if st, ok := md.StateByName("Доставлен"); !ok || st.StateType != "Successful" || st.Color != 8825440 || st.ID != "fb56d92f-2e58-11e6-8a84-bae50000006d" {
		t.Errorf("Доставлен = %+v", st)
	}
	if md.States[0].Color != 15106326 || md.States[0].StateType != "Regular" {
		t.Errorf("Новый = %+v", md.States[0])
	}
	if len(md.Attributes) != 1 {
		t.Fatalf("attributes = %d", len(md.Attributes))
	}
	a := md.Attributes[0]
	if a.Name != "AttributeName1" || a.Type != "boolean" || a.Required || a.ID != "c2ecd338-015e-11e6-9464-e4de0000008f" || a.Meta.Type != "attributemetadata" {
		t.Errorf("attribute = %+v (id must be filled from href)", a)
	}
}

func TestSamplePositions(t *testing.T) {
	var list struct {
		Meta moysklad.Meta       `json:"meta"`
		Rows []moysklad.Position `json:"rows"`
	}
	readSample(t, "customerorder_positions.doc.json", &list)
	if list.Meta.Size != 4 || len(list.Rows) != 4 || list.Meta.Type != "customerorderposition" {
		t.Fatalf("meta %+v rows %d", list.Meta, len(list.Rows))
	}
	wantPrice := []int64{123050, 64200000, 346347237062, 42141094}
	wantType := []string{"product", "product", "variant", "variant"}
	for i, p := range list.Rows {
		if p.Price != wantPrice[i] || p.Quantity != 1 || p.VAT != 18 || p.Discount != 0 {
			t.Errorf("position %d: %+v", i, p)
		}
		if p.Assortment.Meta.Type != wantType[i] {
			t.Errorf("position %d assortment type %q", i, p.Assortment.Meta.Type)
		}
	}
	if list.Rows[0].ID != "34f6344f-015e-11e6-9464-e4de0000006c" || list.Rows[0].Assortment.Meta.ID() != "66ccbc9f-f7d2-11e5-8a84-bae500000076" {
		t.Errorf("first position %+v", list.Rows[0])
	}
}

func TestSampleAttributeDefinitionsAllTypes(t *testing.T) {
	var list struct {
		Rows []moysklad.AttributeDef `json:"rows"`
	}
	readSample(t, "attributes_metadata_all_types.doc.json", &list)
	want := []struct {
		name, typ string
		required  bool
	}{
		{"Строковое", "string", false}, {"Целочисленное", "long", true}, {"Поле-дата", "time", false},
		{"Справочник-товар", "productfolder", true}, {"Файловое", "file", false}, {"Дробное число", "double", true},
		{"Булиновое", "boolean", false}, {"Текстовое", "text", true}, {"Ссылочное", "link", false},
	}
	if len(list.Rows) != len(want) {
		t.Fatalf("rows = %d", len(list.Rows))
	}
	for i, w := range want {
		a := list.Rows[i]
		if a.Name != w.name || a.Type != w.typ || a.Required != w.required || !a.Show || a.ID != a.Meta.ID() {
			t.Errorf("row %d = %+v, want %+v", i, a, w)
		}
	}
	if list.Rows[0].Description != "Поле-строка" || list.Rows[5].Description != "Поле-дробное" {
		t.Errorf("descriptions: %q %q", list.Rows[0].Description, list.Rows[5].Description)
	}
}

func TestSampleCounterpartyWithCustomEntity(t *testing.T) {
	b := readSample(t, "counterparty_with_customentity_attribute.doc.json", nil)
	var cp moysklad.Counterparty
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.Name != "ООО Восток" || cp.CompanyType != "legal" || cp.ID != "5a5597e3-d385-11e8-ac12-000800000000" || cp.Meta.Type != "counterparty" {
		t.Errorf("counterparty = %+v", cp)
	}
	var withAttrs struct {
		Attributes []moysklad.Attribute `json:"attributes"`
	}
	if err := json.Unmarshal(b, &withAttrs); err != nil {
		t.Fatal(err)
	}
	if len(withAttrs.Attributes) != 2 {
		t.Fatalf("attributes = %d", len(withAttrs.Attributes))
	}
	proj, region := withAttrs.Attributes[0], withAttrs.Attributes[1]
	if s, ok := proj.String(); !ok || s != "Проект 1" || proj.Type != "project" {
		t.Errorf("project = %q %v", s, ok)
	}
	if s, ok := region.String(); !ok || s != "Восточный" || region.Type != "customentity" || region.Name != "Регион" {
		t.Errorf("region = %q %v (%+v)", s, ok, region)
	}
	ref, ok := region.Ref()
	if !ok || ref.ID() != "b971966b-d383-11e8-ac12-000a000000ce" || ref.Type != "customentity" {
		t.Errorf("region ref = %+v %v", ref, ok)
	}
	if _, ok := region.Int(); ok {
		t.Error("a dictionary value must not read as a number")
	}
}

func TestSampleWebhookPayload(t *testing.T) {
	var p struct {
		AuditContext struct {
			Meta   moysklad.Meta   `json:"meta"`
			Moment moysklad.Moment `json:"moment"`
			UID    string          `json:"uid"`
		} `json:"auditContext"`
		Events []struct {
			Meta          moysklad.Meta `json:"meta"`
			UpdatedFields []string      `json:"updatedFields"`
			Action        string        `json:"action"`
			AccountID     string        `json:"accountId"`
		} `json:"events"`
	}
	readSample(t, "webhook_payload_update_fields.doc.json", &p)
	if p.AuditContext.UID != "test@test" || p.AuditContext.Moment.String() != "2021-07-21 15:51:16.000" ||
		p.AuditContext.Meta.ID() != "75fe3b73-db16-11eb-c0a8-800d00000004" {
		t.Errorf("auditContext = %+v", p.AuditContext)
	}
	if len(p.Events) != 1 || p.Events[0].Action != "UPDATE" || !reflect.DeepEqual(p.Events[0].UpdatedFields, []string{"name", "description"}) ||
		p.Events[0].Meta.Type != "product" || p.Events[0].Meta.ID() != "75c896d0-db16-11eb-c0a8-800d00000002" {
		t.Errorf("events = %+v", p.Events)
	}
}

type auditRow struct {
	ID          string          `json:"id"`
	Meta        moysklad.Meta   `json:"meta"`
	Moment      moysklad.Moment `json:"moment"`
	EntityType  string          `json:"entityType"`
	EventType   string          `json:"eventType"`
	UID         string          `json:"uid"`
	Source      string          `json:"source"`
	ObjectCount int             `json:"objectCount"`
	Events      struct {
		Meta moysklad.Meta `json:"meta"`
	} `json:"events"`
}

func TestSampleAuditList(t *testing.T) {
	var list struct {
		Meta moysklad.Meta `json:"meta"`
		Rows []auditRow    `json:"rows"`
	}
	readSample(t, "audit_list_customerorder_update.real.json", &list)
	if list.Meta.Size != 2 || list.Meta.Limit != 25 || len(list.Rows) != 2 {
		t.Fatalf("meta %+v", list.Meta)
	}
	r := list.Rows[0]
	if r.ID != "884ff854-abc1-11f1-0a80-106a00019ed6" || r.EntityType != "customerorder" || r.EventType != "update" ||
		r.UID != "sklad@steakhome" || r.Source != "app" || r.ObjectCount != 1 {
		t.Errorf("row = %+v", r)
	}
	if !r.Moment.Time.Equal(msk("2026-09-08 23:11:52.918")) || r.Moment.String() != "2026-09-08 23:11:52.918" {
		t.Errorf("moment = %v", r.Moment)
	}
	if got := r.Moment.UTC().Format(time.RFC3339Nano); got != "2026-09-08T20:11:52.918Z" {
		t.Errorf("moment in UTC = %s", got)
	}
	if list.Rows[1].Moment.String() != "2026-09-08 23:11:44.554" {
		t.Errorf("second moment = %v", list.Rows[1].Moment)
	}
}

func TestSampleAuditEventsStateChange(t *testing.T) {
	var list struct {
		Rows []struct {
			EventType string          `json:"eventType"`
			Moment    moysklad.Moment `json:"moment"`
			Name      string          `json:"name"`
			Diff      map[string]struct {
				OldValue moysklad.State `json:"oldValue"`
				NewValue moysklad.State `json:"newValue"`
			} `json:"diff"`
			Entity struct {
				Meta moysklad.Meta `json:"meta"`
			} `json:"entity"`
		} `json:"rows"`
	}
	readSample(t, "audit_events_state_change.real.json", &list)
	if len(list.Rows) != 1 {
		t.Fatalf("rows = %d", len(list.Rows))
	}
	ev := list.Rows[0]
	st, ok := ev.Diff["state"]
	if !ok || st.OldValue.Name != "РефГо" || st.NewValue.Name != "Отменен" ||
		st.NewValue.Meta.ID() != "8737d8a5-c0b9-11e3-ac8e-002590a28eca" || st.OldValue.Meta.ID() != "785d7841-1ac2-11f0-0a80-071f000f6177" {
		t.Errorf("diff = %+v", ev.Diff)
	}
	if ev.Name != "19379" || ev.Entity.Meta.ID() != "0de266d9-2c42-11f0-0a80-0cd40022203a" || ev.Moment.String() != "2026-09-08 23:11:52.918" {
		t.Errorf("event = %+v", ev)
	}
}

// TestSampleError3000 decodes the documented error body both directly and
// through the client, which must not retry a 400.
func TestSampleError3000(t *testing.T) {
	body := readSample(t, "error_3000_required_field.doc.json", nil)
	var direct struct {
		Errors []moysklad.APIError `json:"errors"`
	}
	if err := json.Unmarshal(body, &direct); err != nil {
		t.Fatal(err)
	}
	want := moysklad.APIError{Code: 3000, Error: "Ошибка сохранения объекта: поле 'name' не может быть пустым или отсутствовать",
		ParameterName: "name", MoreInfo: "https://api.moysklad.ru/api/remap/1.2/doc#обработка-ошибок-3000", Line: 1, Column: 2}
	if len(direct.Errors) != 1 || direct.Errors[0] != want {
		t.Fatalf("errors = %+v", direct.Errors)
	}

	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c, err := moysklad.New(moysklad.Config{BaseURL: srv.URL, Token: "secret-token-xyz", RequestsPerWindow: 100, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateState(context.Background(), "", 0, "")
	var e *moysklad.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if e.StatusCode != 400 || !reflect.DeepEqual(e.Codes(), []int{3000}) || e.Errors[0] != want || e.Method != "POST" ||
		e.Path != "/entity/customerorder/metadata/states" {
		t.Errorf("error = %+v", e)
	}
	if moysklad.IsRetryable(err) || calls != 1 {
		t.Errorf("a 400 must not be retried: calls=%d retryable=%v", calls, moysklad.IsRetryable(err))
	}
	if msg := e.UserMessage(); msg != "МойСклад отклонил изменение: "+want.Error {
		t.Errorf("UserMessage = %q", msg)
	}
	if s := err.Error(); !strings.Contains(s, "HTTP 400") || !strings.Contains(s, "code 3000") || strings.Contains(s, "secret-token-xyz") {
		t.Errorf("Error() = %q", s)
	}
}
