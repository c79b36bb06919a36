// Package simpdf renders the small, valid one-page PDFs the carrier
// simulators serve as waybills and print forms.
package simpdf

import (
	"bytes"
	"fmt"
	"strings"
)

// Page renders a minimal, valid one-page A4 PDF with the lines of text in
// Helvetica of fontSize points, the first line top points from the bottom
// and leading points apart. Characters outside printable ASCII become "?"
// (the built-in font has no Cyrillic).
func Page(lines []string, fontSize, top, leading int) []byte {
	var content bytes.Buffer
	fmt.Fprintf(&content, "BT /F1 %d Tf 50 %d Td %d TL\n", fontSize, top, leading)
	for _, l := range lines {
		content.WriteString("(" + escape(l) + ") Tj T*\n")
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// escape keeps printable ASCII, escapes the PDF string delimiters and
// replaces everything else with "?".
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 32 || r > 126:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
