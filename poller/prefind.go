package poller

import (
	"context"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
)

// lookUnderOtherNumbers runs before a create from phase none, after
// lookBeforeCreate found nothing under the attempt's own number. When the
// shop's order still carries a tracking number — a shipment was registered
// and never deleted as far as MoySklad knows — but the store knows no
// shipment (it was lost, or an older backup was put back), the live
// shipment may be under another attempt's number (`name-2` after a deletion
// and a re-registration that the store forgot), which no carrier refuses:
// a create would make a second live parcel for the order. So every number
// the order may have had is looked up (as a delete does, findToDelete), and
// ours is adopted (then re-asserted, batched and written back as usual);
// a shipment not ours is left alone. It reports whether it decided the step
// (done) and, if so, whether the lifecycle may go on.
func (t *task) lookUnderOtherNumbers(ctx context.Context, s carriers.Shipment) (done, goOn bool) {
	if t.phase() != phaseNone || s.KnownTracking == "" || !t.caps.CanFind() {
		return false, false
	}
	own := s
	own.Number = ""
	seen := map[string]bool{t.c.Number(own): true} // looked up already
	base := own
	last := min(max(t.rec.Attempt, 1)+3, maxNumbersAsked)
	for a := 1; a <= last; a++ {
		for _, name := range []string{base.OrderName, ""} {
			x := base
			x.Attempt, x.OrderName = a, name
			n := t.c.Number(x)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			x.Number, x.OrderName = n, base.OrderName
			f, err := t.lookup(ctx, x)
			if err != nil {
				t.retryLater(err)
				return true, false
			}
			if f.ours != nil {
				t.rec.Attempt = a
				t.rec.Number = n
				return true, t.adopt(*f.ours, evFound, "carrier_found",
					fmt.Sprintf("В shipbridge нет данных о заказе на доставку, но в %s уже есть наш заказ %s (%s): он сохранён, новый не создаётся", t.title(t.c), n, f.ours.Reference))
			}
		}
	}
	return false, false
}
