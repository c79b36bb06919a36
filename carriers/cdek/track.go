package cdek

import (
	"context"
	"sync"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// Timings are CDEK's waits for the workflow (carriers.Profile.Timings), the
// one place they are set:
//
//   - FirstPollDelay 2 s: CDEK decides a create in 200–500 ms, and
//     recommends waiting 2–3 s before the first GET ([SPEC-common] «Режим
//     взаимодействия»; reference §3).
//   - ReconcileGrace 60 s: right after a create a GET may answer "not
//     found" ([RESTUB] tests; reference §9.6), and under peak load CDEK
//     takes 30–60 s to decide; a "not found" before then proves nothing.
//     It matches Config.NotFoundGrace.
//   - SettleTimeout is left to the workflow (a minute, or half of
//     once_timeout when that is shorter).
func Timings() carriers.Timings {
	return carriers.Timings{
		FirstPollDelay: 2 * time.Second,
		ReconcileGrace: DefaultNotFoundGrace,
	}
}

// trackParallel bounds the concurrent GETs of one Track call. CDEK
// guarantees 200 requests per second per client ([SPEC-common] «Лимиты и
// производительность»); four at a time stays far below that and leaves
// room for registrations.
const trackParallel = 4

// Track reads each registration's order (GET /v2/orders/{uuid}, or by
// cdek_number when the uuid is unknown) and reports its latest status by
// date_time, mapped through orderStatuses. For «Не вручен» it follows the
// order's return_order (related_entities): once that is DELIVERED the
// parcel is back at the sender, TrackReturned, reported with Code
// "RETURN_DELIVERED" and the return order's time. «Не вручен» with reason
// 26 (утерян) or 27 (утилизация) is TrackLost. An order CDEK does not know
// is TrackUnknown. When a lookup fails the registration is TrackUnknown
// (nothing changes); when every lookup fails, Track returns the first
// failure.
func (c *Carrier) Track(ctx context.Context, regs []carriers.Registration) ([]carriers.Tracking, error) {
	out := make([]carriers.Tracking, len(regs))
	errs := make([]error, len(regs))
	sem := make(chan struct{}, trackParallel)
	var wg sync.WaitGroup
	for i, reg := range regs {
		out[i].Reference = reg.Reference
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			out[i], errs[i] = c.trackOne(ctx, reg)
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if len(regs) > 0 && failed == len(regs) {
		return nil, first
	}
	return out, nil
}

func (c *Carrier) trackOne(ctx context.Context, reg carriers.Registration) (carriers.Tracking, error) {
	t := carriers.Tracking{Reference: reg.Reference}
	var (
		resp OrderResponse
		err  error
	)
	switch {
	case reg.Reference != "":
		resp, err = c.client.GetOrder(ctx, reg.Reference)
	case reg.TrackingNumber != "":
		resp, err = c.client.GetOrderByCDEKNumber(ctx, reg.TrackingNumber)
	default:
		return t, nil
	}
	if IsNotFound(err) {
		return t, nil
	}
	if err != nil {
		return t, c.classify("track order", err, reg.Number, readCall)
	}
	st, ok := resp.Entity.LatestStatus()
	if !ok {
		return t, nil
	}
	t.Code, t.Name, t.At = st.Code, st.Name, st.DateTime.Time
	si, known := lookupStatus(st.Code, string(st.ReasonCode))
	if !known {
		return t, nil
	}
	t.Status = si.track
	if t.Name == "" {
		t.Name = si.name
	}
	if t.Status == carriers.TrackNotDelivered {
		if ret := resp.relatedUUID("return_order"); ret != "" {
			back, err := c.client.GetOrder(ctx, ret)
			if err != nil && !IsNotFound(err) {
				return t, c.classify("track return order", err, reg.Number, readCall)
			}
			if err == nil {
				if rs, ok := back.Entity.LatestStatus(); ok {
					if rsi, ok := lookupStatus(rs.Code, string(rs.ReasonCode)); ok && rsi.track == carriers.TrackDelivered {
						t.Status = carriers.TrackReturned
						t.Code, t.Name, t.At = "RETURN_"+rs.Code, "Возврат вручен отправителю", rs.DateTime.Time
					}
				}
			}
		}
	}
	return t, nil
}
