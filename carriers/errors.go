package carriers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Kind classifies a carrier failure by what the workflow must do about it.
type Kind int

// The kinds of carrier failure.
const (
	// KindTransient: the carrier is unavailable (5xx, 429, network error
	// before the request was sent). Retry later with backoff.
	KindTransient Kind = iota + 1
	// KindInvalid: the data is wrong in a way the manager can fix.
	KindInvalid
	// KindRejected: the carrier refused the request for its own reasons
	// (duplicate, unknown pickup point, deletion not allowed...).
	KindRejected
	// KindAmbiguous: the request may or may not have taken effect (timeout
	// or lost response after sending). Reconcile before any re-send.
	KindAmbiguous
	// KindConfig: credentials or settings are wrong; the operator must act.
	KindConfig
	// KindNotFound: the carrier does not know the shipment.
	KindNotFound
)

// String returns the kind's name as used in logs and history.
func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindInvalid:
		return "invalid"
	case KindRejected:
		return "rejected"
	case KindAmbiguous:
		return "ambiguous"
	case KindConfig:
		return "config"
	case KindNotFound:
		return "not_found"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the one error type a carrier returns. It carries a Russian
// message a manager can act on and the carrier's own code and text for the
// operator.
type Error struct {
	Kind Kind
	// Carrier is the carrier's Name.
	Carrier string
	// Op is the operation that failed, e.g. "create order".
	Op string
	// Message is for the manager, in Russian.
	Message string
	// Code and Detail are the carrier's own error code and text.
	Code   string
	Detail string
	// HTTPStatus is the carrier's HTTP status, 0 when none was received.
	HTTPStatus int
	// QuotaExhausted is set (with KindTransient) when the carrier refused
	// because our request quota for its period is spent (Почта России's
	// daily limit): nothing works until it resets, and the operator must know.
	// A short rate limit (HTTP 429 with a retry in seconds) is not this.
	QuotaExhausted bool
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure for the operator. It never contains secrets.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Carrier != "" {
		b.WriteString(e.Carrier)
		b.WriteString(": ")
	}
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies any error returned by a carrier. Errors that are not
// *Error are classified conservatively: a context deadline or a network
// error is ambiguous (the request may have been processed), anything else
// transient.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindTransient
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return KindAmbiguous
	}
	return KindTransient
}

// ManagerMessage returns the Russian message for the manager: the carrier's
// own one when err is an *Error with a message, else a generic one by kind.
func ManagerMessage(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		msg := ce.Message
		if msg == "" {
			msg = genericMessage(ce.Kind)
		}
		if ce.Code != "" && !strings.Contains(msg, ce.Code) {
			detail := ce.Code
			if ce.Detail != "" {
				detail += ": " + ce.Detail
			}
			msg += " (" + detail + ")"
		}
		return msg
	}
	return genericMessage(KindOf(err))
}

func genericMessage(k Kind) string {
	switch k {
	case KindInvalid:
		return "Служба доставки не приняла данные заказа"
	case KindRejected:
		return "Служба доставки отклонила заказ"
	case KindAmbiguous:
		return "Служба доставки не ответила вовремя; результат проверяется, повтор запланирован"
	case KindConfig:
		return "Интеграция со службой доставки настроена неверно; обратитесь к администратору"
	case KindNotFound:
		return "Заказ не найден в службе доставки"
	default:
		return "Служба доставки временно недоступна; повтор запланирован"
	}
}

// ErrTrackingUnavailable is returned by Tracker.Track when the carrier offers
// no tracking for the given shipments now.
var ErrTrackingUnavailable = errors.New("carriers: tracking unavailable")
