package poller

import (
	"context"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
)

// prefind looks for the order's live shipment before a create from phase
// none, where the store may have forgotten it (a lost store, an older
// backup put back). The number about to be sent is always looked up first:
// a carrier that does not refuse a second create under a number (Почта
// России) would get a duplicate, and one that does (CDEK) would record a
// refused duplicate that hides the live order from every later lookup by
// number (the order then fails while its shipment is live). When the
// shop's order still carries a tracking number — a shipment was registered
// and never deleted as far as MoySklad knows — every number the order may
// have had is looked up: the live shipment may be under another attempt's
// number, which no carrier refuses. Ours is adopted (then re-asserted,
// batched and written back as usual); a shipment not ours is left to the
// create's own handling. It reports whether it decided the step (done) and,
// if so, whether the lifecycle may go on.
func (t *task) prefind(ctx context.Context, s carriers.Shipment) (done, goOn bool) {
	wide := s.KnownTracking != ""
	if !t.caps.CanFind() {
		return false, false
	}
	type candidate struct {
		attempt int
		number  string
	}
	cands := []candidate{{t.rec.Attempt, t.c.Number(s)}}
	if wide {
		base := s
		base.Number = ""
		last := min(max(t.rec.Attempt, 1)+3, maxNumbersAsked)
		seen := map[string]bool{cands[0].number: true}
		for a := 1; a <= last; a++ {
			for _, name := range []string{base.OrderName, ""} {
				x := base
				x.Attempt, x.OrderName = a, name
				if n := t.c.Number(x); n != "" && !seen[n] {
					seen[n] = true
					cands = append(cands, candidate{a, n})
				}
			}
		}
	}
	for _, cd := range cands {
		x := s
		x.Number = cd.number
		f, err := t.lookup(ctx, x)
		if err != nil {
			t.retryLater(err)
			return true, false
		}
		if f.ours != nil {
			t.rec.Attempt = cd.attempt
			t.rec.Number = cd.number
			return true, t.adopt(*f.ours, evFound, "carrier_found",
				fmt.Sprintf("В shipbridge нет данных о заказе на доставку, но в %s уже есть наш заказ %s (%s): он сохранён, новый не создаётся", t.title(t.c), cd.number, f.ours.Reference))
		}
	}
	return false, false
}
