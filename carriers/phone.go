package carriers

import (
	"errors"
	"strings"
)

// ErrPhoneEmpty and ErrPhoneInvalid are returned by NormalizePhone.
var (
	ErrPhoneEmpty   = errors.New("phone is empty")
	ErrPhoneInvalid = errors.New("phone is not a valid Russian or international number")
)

// NormalizePhone turns a phone as people type it into "+<country><number>".
// Russian numbers may be written with a leading 8, 7 or +7, or as ten bare
// digits; international ones need their "+" and country code. Spaces,
// brackets, dashes and dots are ignored. When the field holds several
// numbers separated by "," or ";", the first one is used.
func NormalizePhone(raw string) (string, error) {
	s := raw
	if i := strings.IndexAny(s, ",;"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrPhoneEmpty
	}
	plus := false
	digits := make([]byte, 0, len(s))
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '(' || r == ')' || r == '-' || r == '.' || r == '\u00a0':
		default:
			return "", ErrPhoneInvalid
		}
	}
	d := string(digits)
	switch {
	case plus && strings.HasPrefix(d, "7"):
		if len(d) != 11 {
			return "", ErrPhoneInvalid
		}
		return "+" + d, nil
	case plus:
		// E.164: country code plus subscriber number, at most 15 digits.
		if len(d) < 8 || len(d) > 15 || d[0] == '0' {
			return "", ErrPhoneInvalid
		}
		return "+" + d, nil
	case len(d) == 11 && (d[0] == '8' || d[0] == '7'):
		return "+7" + d[1:], nil
	case len(d) == 10 && strings.ContainsRune("3489", rune(d[0])):
		return "+7" + d, nil
	}
	return "", ErrPhoneInvalid
}
