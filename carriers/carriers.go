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
	"encoding/json"
	"time"
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

// FinderAll is implemented by carriers that can list every shipment they
// hold under one number (Pochta's order-num is not unique; CDEK answers only
// its most recent order). The workflow prefers it to Finder.
type FinderAll interface {
	// FindAll returns every live (not deleted, not rejected) shipment with
	// Number(s).
	FindAll(ctx context.Context, s Shipment) ([]Registration, error)
}

// Batcher is implemented by carriers whose shipments must be grouped for
// hand-over (Pochta's day batch, a courier manifest). The workflow calls it
// after the shipment is created and before the waybill, with its intent
// recorded; the carrier must make a repeated call for the same shipment
// harmless (find the batch it is already in before opening a new one).
type Batcher interface {
	// Batch puts the shipment into the hand-over group of day and returns the
	// updated registration (CarrierData names the group).
	Batch(ctx context.Context, reg Registration, day time.Time) (Registration, error)
}

// Tracker is implemented by carriers that report where a parcel is.
type Tracker interface {
	// Track returns the latest status of each registration, in the order
	// given. A registration the carrier cannot say anything about yet has
	// Tracking.Status TrackUnknown. ErrTrackingUnavailable means the carrier
	// offers no tracking for these shipments now; nothing is changed.
	// A registration the carrier failed to answer for may be left out of
	// the answer (answers carry the Reference): its status stays and it is
	// asked about again; an error means no answer at all.
	Track(ctx context.Context, regs []Registration) ([]Tracking, error)
}

// TrackStatus is the carrier-neutral status of a parcel on its way.
type TrackStatus string

// The parcel statuses every carrier maps onto.
const (
	TrackUnknown      TrackStatus = ""
	TrackAccepted     TrackStatus = "accepted"      // registered, not handed over yet
	TrackInTransit    TrackStatus = "in_transit"    // on its way
	TrackAtPickup     TrackStatus = "at_pickup"     // at the pickup point, ready for collection
	TrackDelivered    TrackStatus = "delivered"     // handed to the recipient (final)
	TrackNotDelivered TrackStatus = "not_delivered" // refused or not collected; coming back
	TrackReturned     TrackStatus = "returned"      // back at the sender (final)
	TrackLost         TrackStatus = "lost"          // lost or destroyed (final)
)

// Final reports whether no further status change is expected.
func (s TrackStatus) Final() bool {
	return s == TrackDelivered || s == TrackReturned || s == TrackLost
}

// Tracking is one parcel's latest status.
type Tracking struct {
	Reference string
	Status    TrackStatus
	// Code and Name are the carrier's own status code and its Russian name,
	// e.g. "DELIVERED", «Вручен».
	Code string
	Name string
	// At is when the carrier recorded the status.
	At time.Time
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
	// in kopecks; 0 when the order is prepaid. It is the sum of the items'
	// Payment × Amount and DeliveryCharge.
	CashOnDelivery int64
	// DeliveryCharge is the part of CashOnDelivery that pays for delivery
	// (the order's service positions, e.g. «Доставка»), in kopecks
	// (CDEK delivery_recipient_cost); DeliveryVAT is its VAT.
	DeliveryCharge int64
	DeliveryVAT    VAT
	Comment        string

	// Mark is shipbridge's identity mark for this order and attempt. A
	// carrier writes it into its order where it can be read back (CDEK: the
	// order comment; Pochta: the comment field) and reports it in
	// Registration.Mark, so that a shipment found by number is adopted only
	// when it provably is this order's (see Owns).
	Mark string

	// KnownTracking is the tracking number the shop's order already carries
	// from an earlier registration (the MoySklad attribute), empty when none.
	// It is only a lookup hint for carriers whose lookup by number cannot
	// reach every shipment (CDEK shows only the most recent order of a
	// number); what it finds is adopted only when Owns says so.
	KnownTracking string

	// CarrierData is the opaque data the carrier returned with an earlier
	// Registration of this attempt (Registration.CarrierData), kept by the
	// workflow across crashes and handed back on every later call.
	CarrierData json.RawMessage
}

// VAT is the value-added tax of an item. Enabled false means "без НДС".
type VAT struct {
	Enabled bool
	// Rate is the percentage (0, 5, 7, 10, 20, 22 …); meaningful when Enabled.
	Rate int
}

// Contact is a person who sends or receives a shipment.
type Contact struct {
	// Name is the full name as the shop wrote it. Surname, GivenName and
	// MiddleName are its parts when the workflow could split it (carriers
	// such as Почта России need them apart); empty when it could not.
	Name       string
	Surname    string
	GivenName  string
	MiddleName string
	Company    string
	// Phone is normalised to "+<country><number>", e.g. "+79161234567".
	Phone string
	Email string
}

// Address is a delivery address. Text holds the free-form address when the
// structured parts are not known.
type Address struct {
	// CountryCode is ISO 3166 alpha-2 ("" means Russia); Country is the
	// country's name as the shop has it, for messages («Казахстан»).
	CountryCode string
	Country     string
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
	// VAT is the position's VAT, carried into the item's payment.
	VAT VAT
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
	// Mark is the identity mark read back from the carrier's order (see
	// Shipment.Mark); empty when the order carries none.
	Mark string
	// RecipientPhone is the recipient's phone as the carrier holds it,
	// normalised like Contact.Phone; empty when unknown.
	RecipientPhone string
	// CarrierData is opaque to the workflow: carrier-specific state (e.g.
	// Pochta's internal id and batch name) that the workflow stores with the
	// order and hands back in Shipment.CarrierData.
	CarrierData json.RawMessage
}

// Owns reports whether reg, found at the carrier by s's number, provably is
// s's shipment: it carries s's mark and, when both phones are known, the same
// recipient phone. A carrier order that merely shares the number — made by
// hand, by another system or for another order — is never adopted.
func Owns(s Shipment, reg Registration) bool {
	if s.Mark == "" || reg.Mark != s.Mark {
		return false
	}
	if reg.RecipientPhone != "" && s.Recipient.Phone != "" && digits(reg.RecipientPhone) != digits(s.Recipient.Phone) {
		return false
	}
	return true
}

func digits(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
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
