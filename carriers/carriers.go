// Package carriers is the boundary between the shipping workflow and the
// delivery services. It speaks only in domain types: a carrier package
// receives a Shipment and answers with a Registration, a Document or an
// *Error, and knows nothing of MoySklad.
//
// A carrier implements the small Carrier interface and, optionally, the
// capability interfaces (Finder, Deleter, WaybillPrinter) that the workflow
// discovers with a type assertion. Adding a carrier is a new package, a
// status map, fixtures and one Registry.Register call where the program is
// wired.
package carriers

import (
	"context"
)

// Carrier registers shipments with one delivery service.
type Carrier interface {
	// Name is the carrier's stable key, e.g. "cdek". It is stored with every
	// order and must never change.
	Name() string

	// Number returns the idempotency number that identifies the shipment at
	// the carrier (CDEK's "number"/"im_number"): s.Number when it is set
	// (the number recorded with an earlier try of the same attempt), else a
	// pure function of the shipment's OrderName, OrderID and Attempt, so
	// every retry of the same attempt sends the same number.
	Number(s Shipment) string

	// Validate returns every problem in the shipment that a manager can fix,
	// before anything is sent. It makes no remote call.
	Validate(s Shipment) []Problem

	// Submit sends the shipment. A nil error means the carrier took the
	// request: the returned Registration has a Reference and may still be
	// StatusPending, to be followed with Registration. Failures are *Error.
	Submit(ctx context.Context, s Shipment) (Registration, error)

	// Registration returns the current state of a submitted shipment. A
	// shipment the carrier refused after accepting the request is reported
	// as an *Error of KindRejected.
	Registration(ctx context.Context, reference string) (Registration, error)
}

// Finder is implemented by carriers that can look a shipment up by our
// number. The workflow calls it before any re-send after an ambiguous
// outcome, and adopts what it finds.
type Finder interface {
	// Find looks up the shipment with Number(s). found is false when the
	// carrier has no such shipment.
	Find(ctx context.Context, s Shipment) (reg Registration, found bool, err error)
}

// Deleter is implemented by carriers that can delete a registered shipment.
type Deleter interface {
	// Delete removes the shipment. A carrier refusal (for CDEK: the order is
	// no longer in status CREATED) is an *Error of KindRejected; a shipment
	// that is already gone is not an error.
	Delete(ctx context.Context, reg Registration) error
}

// WaybillPrinter is implemented by carriers that produce a waybill document
// for a registered shipment.
type WaybillPrinter interface {
	// Waybill prepares and downloads the waybill. It may wait for the carrier
	// to render it; ctx bounds the wait.
	Waybill(ctx context.Context, reg Registration) (Document, error)
}

// Checker is implemented by carriers that can verify, with one cheap call,
// that they are reachable and accept the configured credentials (for
// `shipbridge check`). A refusal of the credentials is an *Error of
// KindConfig; an unreachable or failing service any other kind.
type Checker interface {
	Check(ctx context.Context) error
}

// Shipment is a parcel to register, in domain terms: money in kopecks,
// weights in grams, sizes in centimetres, phones in international form.
type Shipment struct {
	// OrderID is the shop's stable order identifier.
	OrderID string
	// OrderName is the order number as the shop's managers know it.
	OrderName string
	// Attempt is 1 for the first registration of an order and grows by one
	// after each deletion, so a re-registration gets a fresh number.
	Attempt int
	// Number, when set, is the idempotency number already used for this
	// attempt; carriers must keep it (the order may have been renamed
	// since).
	Number string

	Recipient Contact
	// PickupPoint is the carrier's pickup-point code; when empty the parcel
	// goes to Address.
	PickupPoint string
	Address     *Address
	// Tariff overrides the carrier's configured tariff when not empty.
	Tariff string

	Packages []Package
	// DeclaredValue is the insured value of the whole shipment, in kopecks.
	DeclaredValue int64
	// CashOnDelivery is the amount the carrier collects from the recipient,
	// in kopecks; 0 when the order is prepaid.
	CashOnDelivery int64
	Comment        string
}

// Contact is a person who sends or receives a shipment.
type Contact struct {
	Name    string
	Company string
	// Phone is normalised to "+<country><number>", e.g. "+79161234567".
	Phone string
	Email string
}

// Address is a delivery address. Text holds the free-form address when the
// structured parts are not known.
type Address struct {
	CountryCode string
	PostalCode  string
	Region      string
	City        string
	Street      string
	House       string
	Apartment   string
	Text        string
}

// Package is one box of a shipment.
type Package struct {
	Number   string
	WeightG  int
	LengthCM int
	WidthCM  int
	HeightCM int
	Items    []Item
}

// Item is one line of goods inside a package.
type Item struct {
	Name    string
	WareKey string
	// Cost is the declared value of one unit, in kopecks.
	Cost int64
	// Payment is the amount to collect for one unit on delivery, in kopecks.
	Payment int64
	// WeightG is the weight of one unit, in grams.
	WeightG int
	Amount  int
}

// Status is a carrier-neutral shipment status. Each carrier maps its own
// statuses onto these.
type Status string

// The carrier-neutral statuses.
const (
	StatusPending    Status = "pending"    // request accepted, outcome not known yet
	StatusRegistered Status = "registered" // the carrier created the shipment
	StatusRejected   Status = "rejected"   // the carrier refused the shipment
	StatusInTransit  Status = "in_transit"
	StatusDelivered  Status = "delivered"
	StatusReturned   Status = "returned"
	StatusCancelled  Status = "cancelled"  // deleted or refused at the carrier
	StatusCancelling Status = "cancelling" // a deletion was requested and is not decided yet
	StatusUnknown    Status = "unknown"
)

// Registration is what a carrier knows about a submitted shipment.
type Registration struct {
	// Number is our idempotency number as sent to the carrier.
	Number string
	// Reference is the carrier's own identifier of the shipment (CDEK uuid).
	Reference string
	// TrackingNumber is set once the carrier has created the shipment.
	TrackingNumber string
	Status         Status
	// CarrierStatus is the carrier's own status code, kept for history.
	CarrierStatus string
}

// Done reports whether the shipment is created at the carrier, with a
// tracking number.
func (r Registration) Done() bool {
	switch r.Status {
	case StatusPending, StatusRejected, StatusCancelled, StatusCancelling:
		return false
	}
	return r.TrackingNumber != ""
}

// Document is a file produced by a carrier, such as a waybill PDF.
type Document struct {
	Filename    string
	ContentType string
	Content     []byte
}

// Problem is one thing a manager must fix before a shipment can be sent.
type Problem struct {
	// Field names the piece of data, in English, for logs and tests
	// (e.g. "recipient.phone").
	Field string
	// Message is the explanation for the manager, in Russian.
	Message string
}
