package carriers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{"8 916 123 45 67", "+79161234567", nil},
		{"+7(916)1234567", "+79161234567", nil},
		{"+7 (916) 123-45-67", "+79161234567", nil},
		{"9161234567", "+79161234567", nil},
		{"79161234567", "+79161234567", nil},
		{"4951234567", "+74951234567", nil},
		{"+375 29 123-45-67", "+375291234567", nil},
		{"+49 30 1234567", "+49301234567", nil},
		{"+7 916 123 45 67, +7 495 000 00 00", "+79161234567", nil},
		{"", "", ErrPhoneEmpty},
		{"   ", "", ErrPhoneEmpty},
		{"позвонить Ивану", "", ErrPhoneInvalid},
		{"8916abc4567", "", ErrPhoneInvalid},
		{"12345", "", ErrPhoneInvalid},
		{"+7 916 123 45", "", ErrPhoneInvalid},
		{"+0123456789", "", ErrPhoneInvalid},
		{"1161234567", "", ErrPhoneInvalid},
		{"9+161234567", "", ErrPhoneInvalid},
	}
	for _, c := range cases {
		got, err := NormalizePhone(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"8 916 123 45 67", "+7(916)1234567", "9161234567", "+375291234567", "abc", "", "+", "8(800)", "＋７９１６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizePhone(s)
		if err != nil {
			if got != "" {
				t.Fatalf("error with a value: %q", got)
			}
			return
		}
		if !strings.HasPrefix(got, "+") || len(got) < 9 || len(got) > 16 {
			t.Fatalf("NormalizePhone(%q) = %q: not E.164", s, got)
		}
		for _, r := range got[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("NormalizePhone(%q) = %q: non-digit", s, got)
			}
		}
		if again, err := NormalizePhone(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
	})
}

type fakeCarrier struct{ name string }

func (f fakeCarrier) Name() string                { return f.name }
func (f fakeCarrier) Number(s Shipment) string    { return s.OrderName }
func (f fakeCarrier) Validate(Shipment) []Problem { return nil }
func (f fakeCarrier) Submit(context.Context, Shipment) (Registration, error) {
	return Registration{}, nil
}
func (f fakeCarrier) Registration(context.Context, string) (Registration, error) {
	return Registration{}, nil
}
func (f fakeCarrier) RefusesDuplicateNumber() bool { return true }

// blindCarrier neither refuses duplicates nor finds by number.
type blindCarrier struct{ fakeCarrier }

func (blindCarrier) RefusesDuplicateNumber() bool { return false }

func TestRegistryRefusesBlindCarrier(t *testing.T) {
	var r Registry
	if err := r.Register(blindCarrier{fakeCarrier{"blind"}}, Profile{Names: []string{"Слепой"}}); err == nil {
		t.Fatal("a carrier that can neither refuse duplicates nor find by number was registered")
	}
	if err := r.Register(fakeCarrier{"ok"}, Profile{Names: []string{"ок"}}); err != nil {
		t.Fatal(err)
	}
	caps, ok := r.Capabilities("ok")
	if !ok || !caps.Idempotent || caps.CanFind() || caps.Deleter != nil {
		t.Fatalf("capabilities = %+v, %v", caps, ok)
	}
}

func TestOwns(t *testing.T) {
	s := Shipment{Mark: "sb:1", Recipient: Contact{Phone: "+79161234567"}}
	cases := []struct {
		reg  Registration
		want bool
	}{
		{Registration{Mark: "sb:1", RecipientPhone: "+7 916 123-45-67"}, true},
		{Registration{Mark: "sb:1"}, true},
		{Registration{Mark: "sb:2", RecipientPhone: "+79161234567"}, false},
		{Registration{RecipientPhone: "+79161234567"}, false},
		{Registration{Mark: "sb:1", RecipientPhone: "+79990000000"}, false},
	}
	for _, c := range cases {
		if got := Owns(s, c.reg); got != c.want {
			t.Errorf("Owns(%+v) = %v, want %v", c.reg, got, c.want)
		}
	}
	if Owns(Shipment{}, Registration{}) {
		t.Error("an empty mark proves nothing")
	}
}

func TestRegistry(t *testing.T) {
	var r Registry
	if err := r.Register(fakeCarrier{"cdek"}, Profile{Names: []string{"СДЭК", "CDEK"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(fakeCarrier{"pochta"}, Profile{Names: []string{"Почта России"}}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"сдэк", " CDEK ", "cdek", "Cdek"} {
		c, _, ok := r.Match(v)
		if !ok || c.Name() != "cdek" {
			t.Errorf("Match(%q) = %v, %v", v, c, ok)
		}
	}
	if c, _, ok := r.Match("почта   россии"); !ok || c.Name() != "pochta" {
		t.Errorf("Match(почта россии) = %v, %v", c, ok)
	}
	for _, v := range []string{"", "DHL", "СДЭК Express"} {
		if _, _, ok := r.Match(v); ok {
			t.Errorf("Match(%q) matched", v)
		}
	}
	if err := r.Register(fakeCarrier{"cdek"}, Profile{}); err == nil {
		t.Error("duplicate key accepted")
	}
	if err := r.Register(fakeCarrier{"other"}, Profile{Names: []string{"сдэк"}}); err == nil {
		t.Error("duplicate name accepted")
	}
	if got := strings.Join(r.Names(), ","); got != "cdek,pochta" {
		t.Errorf("Names = %s", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestKindAndMessages(t *testing.T) {
	rej := &Error{Kind: KindRejected, Carrier: "cdek", Op: "create order", Code: "v2_bad_phone", Detail: "Телефон некорректен", Message: "СДЭК отклонил заказ: неверный телефон", HTTPStatus: 400}
	wrapped := fmt.Errorf("cycle: %w", rej)
	if KindOf(wrapped) != KindRejected {
		t.Errorf("KindOf = %v", KindOf(wrapped))
	}
	if msg := ManagerMessage(wrapped); !strings.Contains(msg, "неверный телефон") || !strings.Contains(msg, "v2_bad_phone") {
		t.Errorf("ManagerMessage = %q", msg)
	}
	if s := rej.Error(); !strings.Contains(s, "HTTP 400") || !strings.Contains(s, "v2_bad_phone") || !strings.Contains(s, "rejected") {
		t.Errorf("Error() = %q", s)
	}
	if KindOf(context.DeadlineExceeded) != KindAmbiguous {
		t.Error("deadline should be ambiguous")
	}
	var ne net.Error = timeoutErr{}
	if KindOf(fmt.Errorf("post: %w", ne)) != KindAmbiguous {
		t.Error("network timeout should be ambiguous")
	}
	if KindOf(errors.New("boom")) != KindTransient {
		t.Error("unknown should be transient")
	}
	if KindOf(nil) != 0 {
		t.Error("nil should have no kind")
	}
	if ManagerMessage(errors.New("boom")) == "" {
		t.Error("empty generic message")
	}
}

func TestRegistrationDone(t *testing.T) {
	if (Registration{Status: StatusPending, Reference: "u"}).Done() {
		t.Error("pending is not done")
	}
	if !(Registration{Status: StatusRegistered, TrackingNumber: "1"}).Done() {
		t.Error("registered with tracking is done")
	}
	if (Registration{Status: StatusRejected, TrackingNumber: "1"}).Done() {
		t.Error("rejected is not done")
	}
}

func TestShopNumber(t *testing.T) {
	id := "3f1c2a7e-0000-4000-8000-000000000001"
	for _, c := range []struct {
		s    Shipment
		want string
	}{
		{Shipment{OrderID: id, OrderName: "00042", Attempt: 1}, "00042"},
		{Shipment{OrderID: id, OrderName: "00042", Attempt: 3}, "00042-3"},
		{Shipment{OrderID: id, OrderName: " 00042 ", Attempt: 1, Number: "KEPT-1"}, "KEPT-1"},
		{Shipment{OrderID: id, OrderName: "Заказ 5", Attempt: 1}, "SB-"},
		{Shipment{OrderID: id, OrderName: "A 1", Attempt: 1}, "SB-"},
		{Shipment{OrderID: id, OrderName: strings.Repeat("9", 29), Attempt: 2}, "SB-"},
	} {
		got := ShopNumber(c.s, 30)
		if c.want == "SB-" {
			if !strings.HasPrefix(got, "SB-") || len(got) > 30 || got != ShopNumber(c.s, 30) {
				t.Errorf("ShopNumber(%q, attempt %d) = %q, want a stable SB- code", c.s.OrderName, c.s.Attempt, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("ShopNumber(%q, attempt %d) = %q, want %q", c.s.OrderName, c.s.Attempt, got, c.want)
		}
	}
}
