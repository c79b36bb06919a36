package pochta

import (
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/carriertest"
	"github.com/shipbridge/shipbridge/carriers/pochta/pochtatest"
)

// The carrier contract every carrier passes, for Почта России: synchronous,
// no duplicate refusal (FindAll lists every order under a number), the
// identity mark read back, batches before the waybill.
func TestContract(t *testing.T) {
	carriertest.Run(t, carriertest.Harness{RequireMark: true, Timeout: 5 * time.Second, New: func(t *testing.T) carriertest.Instance {
		sim, c := newSim(t, pochtatest.Options{})
		return carriertest.Instance{
			Carrier:        c,
			Shipment:       goodShipment,
			MakeInvalid:    func(s *carriers.Shipment) { s.Recipient.Phone = "нет"; s.Packages = nil },
			LoseNextCreate: func() { sim.LoseNextCreateResponse(1) },
			CreatesFor:     sim.CreatesForNumber,
			ForbidDelete: func(t *testing.T, reg carriers.Registration) {
				b, err := c.Batch(ctx(t), reg, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range sim.Orders() {
					if o.Barcode == b.TrackingNumber && o.Batch != "" {
						if err := sim.CheckIn(o.Batch); err != nil {
							t.Fatal(err)
						}
						return
					}
				}
				t.Fatal("the order is in no batch after Batch")
			},
		}
	}})
}
