package pochta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrorItem is one error of any of «Отправка»'s four error envelopes
// (reference §2.9):
//
//	A {"errors":[{"error-codes":[{"code","description","details"}],"position"}]}  create, HTTP 200
//	B {"errors":[{"error-code","error-description","error-details","position"}]}  delete, batches
//	C {"error-code":"…","f103-sent":false}                                         check-in
//	D {"code":"1001","desc":"…","sub-code":"RESOURCE_NOT_FOUND"}                   not found, internal
type ErrorItem struct {
	Code        string
	Description string
	Details     string
	SubCode     string
	// Position is the index of the input element the error is about; -1
	// when Pochta gave none.
	Position int
}

type rawCode struct {
	Code        String `json:"code"`
	Description String `json:"description"`
	Details     String `json:"details"`
	Position    *Int   `json:"position"`
}

type rawPositionError struct {
	ErrorCodes       []rawCode `json:"error-codes"`
	ErrorCode        String    `json:"error-code"`
	ErrorDescription String    `json:"error-description"`
	ErrorDetails     String    `json:"error-details"`
	Code             String    `json:"code"`
	Description      String    `json:"description"`
	Details          String    `json:"details"`
	Position         *Int      `json:"position"`
}

// envelope is every top-level field of an «Отправка» object answer that
// shipbridge reads; unknown fields are ignored.
type envelope struct {
	Errors           []rawPositionError `json:"errors"`
	ErrorCode        String             `json:"error-code"`
	ErrorDescription String             `json:"error-description"`
	F103Sent         *Bool              `json:"f103-sent"`
	Code             String             `json:"code"`
	Desc             String             `json:"desc"`
	SubCode          String             `json:"sub-code"`
	// message/error: a generic gateway error body (not seen from Pochta,
	// accepted so that such an answer is not reported as empty).
	Message String `json:"message"`
	Error   String `json:"error"`

	Orders    []CreatedOrder `json:"orders"`
	Batches   []Batch        `json:"batches"`
	ResultIDs []Int          `json:"result-ids"`
}

func posOf(p *Int) int {
	if p == nil {
		return -1
	}
	return int(*p)
}

// items flattens every error in the envelope, in order.
func (e envelope) items() []ErrorItem {
	var out []ErrorItem
	for _, pe := range e.Errors {
		pos := posOf(pe.Position)
		for _, c := range pe.ErrorCodes {
			p := pos
			if c.Position != nil {
				p = posOf(c.Position)
			}
			out = append(out, ErrorItem{Code: string(c.Code), Description: string(c.Description), Details: string(c.Details), Position: p})
		}
		if pe.ErrorCode != "" || pe.ErrorDescription != "" {
			out = append(out, ErrorItem{Code: string(pe.ErrorCode), Description: string(pe.ErrorDescription), Details: string(pe.ErrorDetails), Position: pos})
		}
		if pe.Code != "" || pe.Description != "" {
			out = append(out, ErrorItem{Code: string(pe.Code), Description: string(pe.Description), Details: string(pe.Details), Position: pos})
		}
		if len(pe.ErrorCodes) == 0 && pe.ErrorCode == "" && pe.ErrorDescription == "" && pe.Code == "" && pe.Description == "" {
			// An error entry with nothing readable ([PSDK] saw the message "null").
			out = append(out, ErrorItem{Code: "UNDEFINED", Position: pos})
		}
	}
	if e.ErrorCode != "" {
		out = append(out, ErrorItem{Code: string(e.ErrorCode), Description: string(e.ErrorDescription), Position: -1})
	}
	if e.Code != "" || e.Desc != "" {
		out = append(out, ErrorItem{Code: string(e.Code), Description: string(e.Desc), SubCode: string(e.SubCode), Position: -1})
	}
	if len(out) == 0 && (e.Message != "" || e.Error != "") {
		out = append(out, ErrorItem{Code: string(e.Error), Description: string(e.Message), Position: -1})
	}
	return out
}

// parseEnvelope decodes an object answer. ok is false when the body is not
// a JSON object.
func parseEnvelope(body []byte) (envelope, bool) {
	var env envelope
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return env, false
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return envelope{}, false
	}
	return env, true
}

// ParseErrors returns every error in an «Отправка» answer body, whatever
// the envelope; nil for a body without errors or that is not JSON.
func ParseErrors(body []byte) []ErrorItem {
	env, ok := parseEnvelope(body)
	if !ok {
		return nil
	}
	return env.items()
}

// APIError is an error answer from «Отправка»: its HTTP status (200 for the
// rejections Pochta sends inside a successful answer) and every error it
// listed, from any envelope.
type APIError struct {
	Method   string
	Endpoint string
	Status   int
	Items    []ErrorItem
	// Body is the start of an answer that held no recognisable errors.
	Body string
}

func newAPIError(method, endpoint string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Endpoint: endpoint, Status: status, Items: ParseErrors(body)}
	if len(e.Items) == 0 {
		e.Body = truncate(strings.TrimSpace(string(body)), 300)
	}
	return e
}

// Error describes the answer for the operator; it never holds credentials.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pochta: %s %s: HTTP %d", e.Method, e.Endpoint, e.Status)
	for _, it := range e.Items {
		b.WriteString("; ")
		b.WriteString(it.Code)
		if it.SubCode != "" {
			b.WriteString("/" + it.SubCode)
		}
		if it.Description != "" {
			b.WriteString(": " + it.Description)
		}
		if it.Details != "" {
			b.WriteString(" (" + it.Details + ")")
		}
	}
	if e.Body != "" {
		b.WriteString("; body: " + e.Body)
	}
	return b.String()
}

// Has reports whether Pochta listed the code (or sub-code).
func (e *APIError) Has(code string) bool {
	for _, it := range e.Items {
		if it.Code == code || it.SubCode == code {
			return true
		}
	}
	return false
}

// NotFound reports whether the answer means "no such order or batch":
// HTTP 404, code 1001 / sub-code RESOURCE_NOT_FOUND (sample
// error_1001_resource_not_found.json), "Instance … not found" ([PSDK]
// GetBatch) or NOT_FOUND (sample error_not_found_error_code.json).
func (e *APIError) NotFound() bool {
	if e.Status == http.StatusNotFound {
		return true
	}
	for _, it := range e.Items {
		if it.Code == "1001" || it.SubCode == "RESOURCE_NOT_FOUND" || it.Code == "NOT_FOUND" ||
			(strings.HasPrefix(it.Description, "Instance ") && strings.Contains(it.Description, "not found")) {
			return true
		}
	}
	if strings.HasPrefix(e.Body, "Instance ") && strings.Contains(e.Body, "not found") {
		return true
	}
	return false
}

// IsNotFound reports whether err is a Pochta "not found" answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotFound()
}

// TransportError means no usable answer arrived. Sent reports whether the
// request had been written to the connection, i.e. whether Pochta may have
// acted on it.
type TransportError struct {
	Method   string
	Endpoint string
	Sent     bool
	// Status is set when a response arrived but its body was unusable.
	Status int
	Err    error
}

// Error describes the failure.
func (e *TransportError) Error() string {
	state := "not sent"
	if e.Sent {
		state = "sent"
	}
	if e.Status != 0 {
		return fmt.Sprintf("pochta: %s %s (%s, HTTP %d): %v", e.Method, e.Endpoint, state, e.Status, e.Err)
	}
	return fmt.Sprintf("pochta: %s %s (%s): %v", e.Method, e.Endpoint, state, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// stripURL drops the request URL from a *url.Error: the message stays
// readable and never carries query values.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
