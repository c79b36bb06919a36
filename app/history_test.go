package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/store"
)

const historyOrderID = "5f3c1a2e-0d4b-11f1-0a80-000000000042"

// seedStore writes one order with a few events into the harness's store, as the poller would.
func (h *harness) seedStore() {
	h.t.Helper()
	at := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	st, err := store.Open(h.env["SHIPBRIDGE_STORE_PATH"], store.Options{Now: func() time.Time { return at }})
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	rec := store.OrderRecord{ID: historyOrderID, Name: "00042", Carrier: "cdek", Phase: "none", Attempt: 1, Number: "00042",
		LastState: "Ошибка оформления доставки", Error: "Заказ не отправлен:\n• Не указан телефон получателя"}
	err = st.Save(rec,
		store.Event{At: at, Kind: "seen", Message: "В МойСклад: статус «Готов к отгрузке», служба доставки «СДЭК»",
			Data: json.RawMessage(`{"state":"Готов к отгрузке"}`)},
		store.Event{At: at.Add(time.Second), Kind: "invalid", Message: "Заказ не отправлен:\n• Не указан телефон получателя"},
		store.Event{At: at.Add(2 * time.Second), Kind: "status", Message: "Статус в МойСклад: «Ошибка оформления доставки»"},
	)
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestHistoryText(t *testing.T) {
	h := newHarness(t) // no token: history reads only the store
	h.seedStore()
	for _, key := range []string{"00042", historyOrderID} {
		code, out, errOut := h.main(context.Background(), "history", key)
		if code != 0 {
			t.Fatalf("history %s: exit %d, stderr %s", key, code, errOut)
		}
		if errOut != "" {
			t.Errorf("stderr = %q", errOut)
		}
		lines := strings.Split(out, "\n")
		if lines[0] != "Order 00042 (MoySklad id "+historyOrderID+")" {
			t.Errorf("header %q", lines[0])
		}
		for _, want := range []string{
			"  carrier:           cdek\n",
			"  phase:             none\n",
			"  MoySklad status:   Ошибка оформления доставки\n",
			"  tracking number:   —\n",
			"  number at carrier: 00042\n",
			"  last error:        Заказ не отправлен:\n                     • Не указан телефон получателя\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("history %s lacks %q:\n%s", key, want, out)
			}
		}
		loc := time.Now().Location()
		at := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC).In(loc)
		wantEvents := []string{
			at.Format(timeLayout) + "  seen     В МойСклад: статус «Готов к отгрузке», служба доставки «СДЭК»",
			at.Add(time.Second).Format(timeLayout) + "  invalid  Заказ не отправлен:",
			"• Не указан телефон получателя",
			at.Add(2*time.Second).Format(timeLayout) + "  status   Статус в МойСклад: «Ошибка оформления доставки»",
		}
		i := 0
		for _, line := range lines {
			if i < len(wantEvents) && strings.Contains(line, wantEvents[i]) {
				i++
			}
		}
		if i != len(wantEvents) {
			t.Errorf("history %s: event line %q missing or out of order:\n%s", key, wantEvents[i], out)
		}
		if strings.Contains(out, `{"state"`) {
			t.Errorf("event data printed without --verbose:\n%s", out)
		}
	}
	// --verbose adds the data.
	_, out, _ := h.main(context.Background(), "history", "00042", "-v")
	if !strings.Contains(out, `{"state":"Готов к отгрузке"}`) {
		t.Errorf("--verbose does not print event data:\n%s", out)
	}
}

func TestHistoryJSON(t *testing.T) {
	h := newHarness(t)
	h.seedStore()
	code, out, errOut := h.main(context.Background(), "history", "00042", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("stdout is not one JSON document:\n%s", out)
	}
	var got struct {
		Order  store.OrderRecord `json:"order"`
		Events []store.Event     `json:"events"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Order.ID != historyOrderID || got.Order.Name != "00042" || got.Order.Error == "" {
		t.Errorf("order %+v", got.Order)
	}
	if len(got.Events) != 3 || got.Events[0].Kind != "seen" || got.Events[2].Kind != "status" || got.Events[0].Seq != 1 {
		t.Errorf("events %+v", got.Events)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Events[0].Data); err != nil || compact.String() != `{"state":"Готов к отгрузке"}` {
		t.Errorf("event data %s (%v)", got.Events[0].Data, err)
	}
}

func TestHistoryNotFound(t *testing.T) {
	h := newHarness(t)
	h.seedStore()
	for _, args := range [][]string{{"history", "00043"}, {"history", "00043", "--json"}} {
		code, out, errOut := h.main(context.Background(), args...)
		if code != ExitFailure {
			t.Errorf("%v: exit %d", args, code)
		}
		if out != "" {
			t.Errorf("%v: stdout %q", args, out)
		}
		if !strings.Contains(errOut, `order "00043" not found`) {
			t.Errorf("%v: stderr %s", args, errOut)
		}
	}
}

func TestHistoryWithoutStore(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.main(context.Background(), "history", "00042")
	if code != ExitFailure || out != "" || !strings.Contains(errOut, "no store at "+h.env["SHIPBRIDGE_STORE_PATH"]) {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if _, err := os.Stat(h.env["SHIPBRIDGE_STORE_PATH"]); err == nil {
		t.Error("history created a store")
	}
}

func TestHistoryWhileTheStoreIsLocked(t *testing.T) {
	h := newHarness(t)
	h.seedStore()
	h.env["SHIPBRIDGE_HTTP_LISTEN"] = "127.0.0.1:8089"
	st, err := store.Open(h.env["SHIPBRIDGE_STORE_PATH"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, out, errOut := h.main(context.Background(), "history", "00042")
	if code != ExitFailure || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"locked by a running shipbridge", "http://127.0.0.1:8089/"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
}

func TestHistoryNeedsOneArgument(t *testing.T) {
	h := newHarness(t)
	if code, _, errOut := h.main(context.Background(), "history"); code != ExitUsage || !strings.Contains(errOut, "accepts 1 arg") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}
