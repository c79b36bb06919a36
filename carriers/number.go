package carriers

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// ShopNumber is the numbering rule carriers share (PRODUCT.md §2 and §2b):
// s.Number when one is recorded for the attempt; else the shop's order name
// when it is printable ASCII without spaces and, with the attempt's suffix,
// at most maxLen characters; else "SB-" and 16 hex digits of a hash of the
// order id. Attempt n > 1 appends "-n". The result depends only on the
// shipment, so every retry of an attempt sends the same number.
func ShopNumber(s Shipment, maxLen int) string {
	if n := strings.TrimSpace(s.Number); n != "" {
		return n
	}
	suffix := ""
	if s.Attempt > 1 {
		suffix = "-" + strconv.Itoa(s.Attempt)
	}
	name := strings.TrimSpace(s.OrderName)
	if plainNumber(name) && len(name)+len(suffix) <= maxLen {
		return name + suffix
	}
	key := s.OrderID
	if key == "" {
		key = "name:" + s.OrderName
	}
	sum := sha256.Sum256([]byte(key))
	return "SB-" + hex.EncodeToString(sum[:])[:16] + suffix
}

// plainNumber reports whether s can be sent as it is: not empty, printable
// ASCII, no spaces.
func plainNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
