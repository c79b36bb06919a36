package cdek

import (
	"bytes"
	"strings"
	"testing"
)

// readLimited reads the body whatever length was announced (a wrong one
// included), and refuses one over the limit.
func TestReadLimited(t *testing.T) {
	body := bytes.Repeat([]byte("%PDF"), 10<<10)
	for _, size := range []int64{-1, 0, 10, int64(len(body)), int64(len(body)) + 100, 2 << 20} {
		got, err := readLimited(bytes.NewReader(body), size, 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("announced %d: %d bytes, %v", size, len(got), err)
		}
		if _, err := readLimited(bytes.NewReader(body), size, int64(len(body))-1); err == nil || !strings.Contains(err.Error(), "exceeds") {
			t.Errorf("announced %d, over the limit: %v", size, err)
		}
	}
}
