package moysklad

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The scanner elides exactly what the regular expression it replaced did.
func TestElideFileContentLikeRegexp(t *testing.T) {
	re := regexp.MustCompile(`"content":"[A-Za-z0-9+/=]*"`)
	want := func(s string) string {
		return re.ReplaceAllStringFunc(s, func(m string) string {
			return fmt.Sprintf(`"content":"(%d bytes of base64)"`, len(m)-len(`"content":""`))
		})
	}
	big := strings.Repeat("QUJD", 20000)
	for _, in := range []string{
		``,
		`{"state":{}}`,
		`[{"file":{"content":"` + big + `","filename":"a.pdf"}},{"file":{"content":"JVBERi0=","filename":"b.pdf"}}]`,
		`{"content":"not base64!","x":1}`,
		`{"content":"","y":"content"}`,
		`{"content":"abc`,
		`{"content":"bad\"content":"QQ=="}`,
	} {
		if got := elideFileContent([]byte(in)); got != want(in) {
			t.Errorf("elide(%.80q) = %.200q, want %.200q", in, got, want(in))
		}
	}
}
