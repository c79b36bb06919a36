package moysklad

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// MoySklad error codes the client treats specially.
const (
	CodeAuth             = 1056  // authentication failed
	CodeNoViewRight      = 1016  // access denied: no right to view the object (doc _errors.md)
	CodeNoEditRight      = 1017  // access denied: no right to edit the object (doc _errors.md)
	CodeNotFound         = 1021  // object not found
	CodeBadURLParams     = 1058  // query parameters could not be decoded
	CodeRateLimit        = 1049  // too many requests per time unit
	CodeConcurrentChange = 1065  // object changed by a parallel request
	CodeParallelLimit    = 1073  // too many parallel requests
	CodeMaintenance      = 1074  // maintenance
	CodeAppUnavailable   = 1095  // temporarily unavailable
	CodeRequired         = 3000  // required field missing
	CodeWrongType        = 2016  // value of wrong type
	CodeStateForeign     = 11002 // state belongs to another document type
	CodeUnknownAttribute = 14003 // attribute id points nowhere
	CodeAttributeNoValue = 14009 // attribute value missing
	CodeFileTooLarge     = 14005 // file attribute over 10 MB
	// CodeFileNotUpdatable: «обновление дополнительных полей типа 'Файл' не
	// поддерживается» — a file attribute that holds a file is not
	// overwritten; it must be cleared ("file": null) first. UpdateOrder and
	// UpdateOrders do that by themselves.
	CodeFileNotUpdatable = 14001
)

// APIError is one entry of MoySklad's {"errors":[…]} body.
type APIError struct {
	Code          int    `json:"code"`
	Error         string `json:"error"`
	ParameterName string `json:"parameter,omitempty"`
	MoreInfo      string `json:"moreInfo,omitempty"`
	Line          int    `json:"line,omitempty"`
	Column        int    `json:"column,omitempty"`
	// Meta is the entity the error is about, when MoySklad says (doc
	// _general.md «Структура объекта error»: meta). A bulk answer's
	// errors are attributed to their orders by it.
	Meta *Meta `json:"meta,omitempty"`
}

// Error is a non-2xx answer of MoySklad. It never contains the token.
type Error struct {
	StatusCode int
	Errors     []APIError
	Method     string
	// Path is the request path relative to the base URL, without the query.
	Path string
	// RetryAfter is the pause MoySklad asked for (429), zero when none was given.
	RetryAfter time.Duration

	// body is the raw answer, kept only for bulk requests.
	body []byte
}

// Error describes the failure in English for the operator.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "moysklad: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		fmt.Fprintf(&b, " %s", t)
	}
	for i, a := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-3)
			break
		}
		fmt.Fprintf(&b, "; code %d", a.Code)
		if a.ParameterName != "" {
			fmt.Fprintf(&b, " (parameter %q)", a.ParameterName)
		}
		if a.Error != "" {
			fmt.Fprintf(&b, ": %s", a.Error)
		}
	}
	return b.String()
}

// Codes returns the MoySklad error codes of the answer.
func (e *Error) Codes() []int {
	out := make([]int, 0, len(e.Errors))
	for _, a := range e.Errors {
		out = append(out, a.Code)
	}
	return out
}

// HasCode reports whether the answer carries the given MoySklad error code.
func (e *Error) HasCode(code int) bool {
	for _, a := range e.Errors {
		if a.Code == code {
			return true
		}
	}
	return false
}

// UserMessage is a short Russian explanation a manager can act on.
func (e *Error) UserMessage() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "МойСклад отклонил токен доступа: проверьте настройку moysklad.token"
	case e.StatusCode == http.StatusForbidden || e.HasCode(1016) || e.HasCode(1017) || e.HasCode(14010):
		return "У пользователя МоегоСклада нет прав на это действие"
	case e.StatusCode == http.StatusTooManyRequests:
		return "МойСклад временно ограничил частоту запросов; повторим позже"
	case e.StatusCode >= 500:
		return "МойСклад временно недоступен; повторим позже"
	}
	if len(e.Errors) > 0 && e.Errors[0].Error != "" {
		return "МойСклад отклонил изменение: " + e.Errors[0].Error
	}
	return fmt.Sprintf("МойСклад ответил ошибкой %d", e.StatusCode)
}

// NetworkError is a failure to get any HTTP answer (connection refused or
// reset, timeout, truncated body). It is always retryable.
type NetworkError struct {
	Method, Path string
	Err          error
}

// Error describes the failure in English.
func (e *NetworkError) Error() string {
	return fmt.Sprintf("moysklad: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the underlying transport error.
func (e *NetworkError) Unwrap() error { return e.Err }

// IsRetryable reports whether a request that failed with err may be repeated:
// 429 (1049, 1073), 5xx, 1065 (parallel change), 1074/1095 (maintenance) and
// network errors. Every other 4xx is final, and so is a cancelled context.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		if e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500 {
			return true
		}
		return e.HasCode(CodeConcurrentChange) || e.HasCode(CodeRateLimit) || e.HasCode(CodeParallelLimit) ||
			e.HasCode(CodeMaintenance) || e.HasCode(CodeAppUnavailable)
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true
	}
	return false
}

// IsAccessRefused reports whether err is MoySklad refusing us rather than
// the request: 401 (the token is wrong or was revoked: generating a new
// token revokes the old ones; code 1056) or 403 and the codes 1016/1017 (the
// token's user lacks the right to view or edit the object). Such a refusal
// is the operator's to fix; the same request succeeds once the token or the
// rights are fixed, so it says nothing about the data sent.
func IsAccessRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden ||
		e.HasCode(CodeAuth) || e.HasCode(CodeNoViewRight) || e.HasCode(CodeNoEditRight)
}

// IsNotFound reports whether err is MoySklad's "object not found".
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.StatusCode == http.StatusNotFound || e.HasCode(CodeNotFound))
}
