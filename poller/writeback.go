package poller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/internal/exchange"
	"github.com/shipbridge/shipbridge/moysklad"
)

// writeBack sends the pending outcome to MoySklad: in the cycle's next bulk
// update when gate has a batcher (see batcher), else in one partial PUT.
// Either way the outcome was saved as pending before (intent before
// effect), and each order's result is handled alike: applied → landed;
// refused → changed and tried again, then left to the operator; answer lost
// → tried again after a re-read of the order (the next pass resumes it).
func (t *task) writeBack(ctx context.Context, gate *writeGate) {
	wb := t.st.WriteBack
	size, ok := t.storedWaybill(wb)
	if !ok {
		return
	}
	u, summary := t.update(wb, size)
	// The saved copy of the state is not needed while the update travels:
	// save encodes t.st afresh.
	t.rec.Pending = nil
	if err := gate.denied(); err != nil {
		// MoySklad already refused a write of this cycle for the token or
		// its rights: kept for a later cycle, not sent to be refused alike.
		summary["not_sent"] = true
		t.accessRefused(wb, err, summary, gate)
		return
	}
	start := t.p.now()
	if gate != nil && gate.bulk != nil {
		if size := updateSize(u); gate.bulk.fits(size) {
			it := gate.bulk.submit(t.o.ID, u, size, func(e exchange.Exchange) { t.exchange(e) })
			summary["bulk"] = it.n
			summary["took_ms"] = it.took.Milliseconds()
			r := it.res
			switch {
			case r.Outcome == moysklad.BulkApplied:
				t.landed(wb, r.Updated.String(), summary)
				return
			case moysklad.IsAccessRefused(r.Err):
				t.accessRefused(wb, r.Err, summary, gate)
				return
			case r.Outcome == moysklad.BulkRefused:
				t.refused(wb, r.Err, summary)
				return
			case r.Outcome == moysklad.BulkNotSent && errors.Is(r.Err, moysklad.ErrBulkNotSent) && gate.denied() != nil:
				// Left unsent after a request of the call met an access
				// refusal: the same refusal, not this order's fault.
				t.accessRefused(wb, gate.denied(), summary, gate)
				return
			case r.Outcome == moysklad.BulkNotSent:
				if !errors.Is(r.Err, moysklad.ErrBulkItemTooLarge) {
					// Certainly not stored (429 after the retries, …):
					// sent again, as after a failed PUT.
					t.notWritten(wb, r.Err, summary)
					return
				}
				// Larger than estimated: alone, by PUT below.
				delete(summary, "bulk")
				start = t.p.now()
			default: // BulkUnknown: the answer was lost
				t.notWritten(wb, r.Err, summary)
				return
			}
		}
	}
	updated, err := t.p.ms.UpdateOrder(ctx, t.o.ID, u)
	if err != nil {
		switch {
		case moysklad.IsAccessRefused(err):
			t.accessRefused(wb, err, summary, gate)
		case !moysklad.IsRetryable(err):
			t.refused(wb, err, summary)
		default:
			t.notWritten(wb, err, summary)
		}
		return
	}
	summary["took_ms"] = t.p.now().Sub(start).Milliseconds()
	t.landed(wb, updated.Updated.String(), summary)
}

// storedWaybill returns the length of the write-back's waybill kept in the
// store (0 when it has none there). A waybill missing from the store (not
// possible: it is saved with the record that refers to it) is fetched from
// the carrier again: the write-back goes without it, and the order waits
// for it as for a waybill that came late (WaybillLater). ok is false when
// the write-back is not to be sent now.
func (t *task) storedWaybill(wb *writeBack) (size int, ok bool) {
	if wb.Waybill == nil || !wb.WaybillStored {
		return 0, true
	}
	size, found, err := t.p.st.BlobSize(t.rec.ID, blobWaybill)
	switch {
	case err != nil:
		if t.saveErr == nil {
			t.saveErr = err
		}
		return 0, false
	case found:
		return size, true
	}
	t.p.log.Error("the waybill to write back is missing from the store; it is asked from the carrier again", zap.String("order", t.o.Name))
	t.event("waybill_lost", "Накладная не найдена в хранилище shipbridge: она будет получена у службы доставки заново", nil)
	wb.Waybill, wb.WaybillStored = nil, false
	t.st.WaybillLater = true
	if wb.Late {
		// Only the waybill was to be written: ask for it again later.
		t.st.WriteBack = nil
		t.rec.NextAttemptAt = t.p.now().Add(t.p.backoff(1))
		return 0, false
	}
	wb.Error = strings.TrimSpace(wb.Error + " " + waybillLaterText)
	return 0, true
}

// update builds the partial update of the write-back, and its summary for
// the history. size is the length of its waybill kept in the store.
func (t *task) update(wb *writeBack, size int) (moysklad.OrderUpdate, map[string]any) {
	u := moysklad.OrderUpdate{}
	if wb.State != "" {
		s := t.meta.states[wb.State]
		u.State = &s.Meta
	}
	a := t.meta.attrs
	switch {
	case wb.Tracking != "":
		u.Attributes = append(u.Attributes, moysklad.StringValue(a.TrackingNumber.Meta, wb.Tracking))
	case wb.ClearTracking:
		u.Attributes = append(u.Attributes, moysklad.ClearValue(a.TrackingNumber.Meta))
	}
	switch {
	case wb.Waybill != nil && wb.WaybillStored:
		// Read from the store when the request is encoded (a bulk request
		// streams it), one waybill at a time.
		st, id := t.p.st, t.rec.ID
		v := moysklad.FileValue(a.Waybill.Meta, wb.Waybill.Filename, nil)
		v.File.Size = size
		v.File.Source = func(fn func([]byte) error) error {
			found, err := st.ReadBlob(id, blobWaybill, fn)
			if err == nil && !found {
				err = fmt.Errorf("the waybill of order %s is no longer in the store", id)
			}
			return err
		}
		u.Attributes = append(u.Attributes, v)
	case wb.Waybill != nil:
		u.Attributes = append(u.Attributes, moysklad.FileValue(a.Waybill.Meta, wb.Waybill.Filename, wb.Waybill.Content))
	case wb.ClearWaybill:
		u.Attributes = append(u.Attributes, moysklad.ClearFileValue(a.Waybill.Meta))
	}
	if wb.Error != "" {
		text := wb.Error
		if a.Error.Type == "string" {
			// A MoySklad string attribute holds at most 255 characters.
			text = truncateRunes(text, 255)
		}
		u.Attributes = append(u.Attributes, moysklad.TextValue(a.Error.Meta, text))
	} else {
		u.Attributes = append(u.Attributes, moysklad.ClearValue(a.Error.Meta))
	}
	summary := map[string]any{"state": stateName(t.meta, wb.State), "tracking": wb.Tracking, "clear_tracking": wb.ClearTracking, "clear_waybill": wb.ClearWaybill, "error": wb.Error}
	if wb.Waybill != nil {
		summary["waybill"] = wb.Waybill.Filename
	}
	return u, summary
}

// exchange records a MoySklad exchange in the order's history, as the
// recorder of handle's context does.
func (t *task) exchange(e exchange.Exchange) {
	msg := fmt.Sprintf("%s %s → %d", e.Method, e.URL, e.Status)
	if e.Err != "" {
		msg = fmt.Sprintf("%s %s → %s", e.Method, e.URL, e.Err)
	}
	t.event("moysklad_exchange", msg, e)
}

// refused handles a write-back MoySklad refused (4xx, or an element of a
// bulk answer with errors). It is never sent again unchanged in a loop:
// re-read the metadata, then drop the file (the usual culprit: size or
// type), then give up and leave the order to the operator. Only this
// write-back's refusals count (writeBack.Refusals), not the carrier's
// retries before it.
func (t *task) refused(wb *writeBack, err error, summary map[string]any) {
	wb.Refusals++
	n := wb.Refusals
	d := t.p.backoff(n)
	t.p.invalidateMetadata()
	t.p.log.Error("MoySklad refused the order update", zap.String("order", t.o.Name), zap.Int("refusals", n), zap.Error(err))
	switch {
	case n >= maxRefusedWriteBacks:
		t.event("moysklad_update_abandoned", fmt.Sprintf("МойСклад %d раз отклонил запись результата (%v); заказ оставлен оператору", n, err), summary)
		t.rec.Error = fmt.Sprintf("МойСклад не принял запись результата: %s", writeRefusalText(err))
		t.st.WriteBack = nil
		t.st.Settled = true
		t.rec.NextAttemptAt = time.Time{}
		return
	case n >= 2 && wb.Waybill != nil:
		wb.Error = strings.TrimSpace(wb.Error + " Накладную не удалось прикрепить к заказу: МойСклад её не принял; она есть в личном кабинете перевозчика.")
		wb.Waybill = nil
	}
	t.rec.NextAttemptAt = t.p.now().Add(d)
	t.event("moysklad_update_failed", fmt.Sprintf("Не удалось записать результат в МойСклад: %v; повтор через %s", err, d.Round(time.Second)), summary)
}

// writeRefusalText is MoySklad's refusal as the operator reads it.
func writeRefusalText(err error) string {
	var e *moysklad.Error
	if errors.As(err, &e) {
		return e.UserMessage()
	}
	return err.Error()
}

// accessRefusedText is the operator's message for a write MoySklad refused
// for the token or its user's rights.
const accessRefusedText = "МойСклад отказал в записи результата: у пользователя токена нет права редактировать заказы покупателей, или токен отозван (при создании нового токена старые перестают действовать). Результат и накладная сохранены в shipbridge и будут записаны, когда права или токен исправят. / MoySklad refused the write: the token's user lacks the right to edit orders, or the token was revoked."

// accessRefused handles a write-back MoySklad refused for the token or its
// user's rights (401, 403: moysklad.IsAccessRefused). That is the
// operator's to fix, not the order's fault: nothing is counted against the
// order, the write-back is kept whole (its waybill too) and sent again with
// a backoff, the cycle sends no more writes (gate), and the operator hears
// of it (an ERROR log, the order's history, health and metrics).
func (t *task) accessRefused(wb *writeBack, err error, summary map[string]any, gate *writeGate) {
	gate.deny(err)
	wb.Denied++
	d := t.p.backoff(wb.Denied)
	t.rec.NextAttemptAt = t.p.now().Add(d)
	t.p.log.Error("MoySklad refused the write: the token's user lacks the right to edit orders, or the token was revoked; the outcome is kept and written once the operator fixes it",
		zap.String("order", t.o.Name), zap.Int("denied", wb.Denied), zap.Duration("retry_in", d), zap.Error(err))
	t.p.writeFailed(WriteAccess, err)
	t.event("moysklad_write_denied", fmt.Sprintf("%s Ответ МоегоСклада: %v; повтор через %s", accessRefusedText, err, d.Round(time.Second)), summary)
}

// notWritten handles a write-back that failed for a reason that is not
// the update itself (5xx, network, 429 after the retries), or whose answer
// was lost: it may or may not be stored. The order is tried again soon;
// that pass reads the order first (a resumed order is re-read) and, if our
// status is already there, takes it as landed (leftTrigger). After
// maxNotWritten such failures in a row the operator hears of it (an ERROR
// log, the history, health and metrics) and the retries back off; the
// write-back (its waybill too) is never dropped.
func (t *task) notWritten(wb *writeBack, err error, summary map[string]any) {
	wb.NotWritten++
	n := wb.NotWritten
	d := t.p.cfg.RetryBase / 4
	if n >= maxNotWritten {
		d = t.p.backoff(n - maxNotWritten + 1)
	}
	t.rec.NextAttemptAt = t.p.now().Add(d)
	if n == maxNotWritten || (n > maxNotWritten && (n-maxNotWritten)%maxNotWritten == 0) {
		t.p.log.Error("MoySklad write-back keeps failing; the outcome is kept and retried with a backoff", zap.String("order", t.o.Name),
			zap.Int("attempts", n), zap.Duration("retry_in", d), zap.Error(err))
		t.p.writeFailed(WriteStuck, err)
		t.event("moysklad_update_stuck", fmt.Sprintf("Результат не удаётся записать в МойСклад уже %d раз подряд (%v); он сохранён в shipbridge, повтор через %s. Проверьте доступность МоегоСклада", n, err, d.Round(time.Second)), summary)
		return
	}
	t.event("moysklad_update_failed", fmt.Sprintf("Не удалось записать результат в МойСклад: %v; повтор через %s", err, d.Round(time.Second)), summary)
}

// maxRefusedWriteBacks is how many times a write-back MoySklad refuses (4xx)
// is tried, changed each time, before it is left to the operator.
const maxRefusedWriteBacks = 4

// maxNotWritten is how many failed or unanswered attempts of a write-back
// go quickly (RetryBase/4 apart) before the operator is told and the
// retries back off.
const maxNotWritten = 8

// landed records a write-back that MoySklad applied. updated is the
// order's new 'updated', so that the echo of our own change is no news.
func (t *task) landed(wb *writeBack, updated string, summary map[string]any) {
	msg := "Заказ обновлён в МойСклад"
	if wb.State != "" {
		msg = fmt.Sprintf("Статус в МойСклад: «%s»", stateName(t.meta, wb.State))
		t.rec.LastState = stateName(t.meta, wb.State)
	}
	t.event("status", msg, summary)
	t.p.writeOK()
	if wb.Waybill != nil {
		t.rec.WaybillFor = t.rec.Reference
	}
	// Our own update changes 'updated'; remember it so the echo is no news.
	if updated != "" {
		t.st.TriggerUpdated = updated
		t.rec.LastUpdated = updated
	}
	t.st.WriteBack = nil
	if wb.State != "" {
		t.st.Settled = !t.st.WaybillLater
		t.rec.Error = wb.Error
		t.rec.Retries = 0
		t.rec.NextAttemptAt = time.Time{}
		if t.st.WaybillLater {
			t.rec.NextAttemptAt = t.p.now().Add(t.p.backoff(1))
		}
		t.p.obs.OrderOutcome(t.rec.Carrier, wb.Outcome)
	} else if wb.Late {
		// The waybill that came late (or the reason it never will): the
		// action ends with it.
		t.st.Settled = true
		t.rec.Error = wb.Error
		t.rec.Retries = 0
		t.rec.NextAttemptAt = time.Time{}
	}
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// flush writes back the outcome of an order whose write-back was held while
// the cycle's listing paged. It reads the record again (the outcome is
// saved), and neither re-runs the lifecycle nor re-saves what did not
// change.
func (p *Poller) flush(ctx context.Context, meta *Resolved, o moysklad.Order, gate *writeGate) error {
	rec, found, err := p.st.Order(o.ID)
	if err != nil || !found {
		return err
	}
	t := &task{stop: ctx, p: p, meta: meta, o: o, rec: rec, st: decodeState(rec.Pending)}
	t.blob = t.st.waybillStored()
	if t.st.WriteBack == nil {
		return nil
	}
	t.fields = readFields(o, meta.attrs)
	t.writeBack(t.recorder(context.WithoutCancel(ctx)), gate)
	// finish also reports a store error met on the way (t.saveErr).
	return t.finish(t.save())
}
