package moysklad

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/shipbridge/shipbridge/internal/exchange"
)

// streamBody is a request body made of literal JSON and file contents that
// are encoded (base64) only as the transport reads them, one file at a
// time. A bulk request of 4 MB of waybills thus holds one waybill's base64
// at a time instead of the whole body and the copies of each element that
// json.Marshal makes on the way.
type streamBody struct {
	parts []bodyPart
	size  int64
}

// bodyPart is literal bytes, or a file whose base64 goes there.
type bodyPart struct {
	lit  []byte
	file *FileUpload
}

// lit appends literal bytes.
func (b *streamBody) lit(p []byte) {
	if n := len(b.parts); n > 0 && b.parts[n-1].file == nil {
		b.parts[n-1].lit = append(b.parts[n-1].lit, p...)
	} else {
		b.parts = append(b.parts, bodyPart{lit: append([]byte(nil), p...)})
	}
	b.size += int64(len(p))
}

func (b *streamBody) str(s string) { b.lit([]byte(s)) }

// file appends a file's content, base64-encoded.
func (b *streamBody) file(f *FileUpload) {
	b.parts = append(b.parts, bodyPart{file: f})
	b.size += int64(f.EncodedSize())
}

// append appends the parts of o.
func (b *streamBody) append(o *streamBody) {
	for _, p := range o.parts {
		if p.file != nil {
			b.file(p.file)
		} else {
			b.lit(p.lit)
		}
	}
}

// Len is the body's length in bytes.
func (b *streamBody) Len() int64 { return b.size }

// elided is the body as the exchange history keeps it: each file's content
// replaced by its length (as elideFileContent does), and no longer than
// the history keeps (exchange.MaxBody, then marked as cut).
func (b *streamBody) elided() string {
	var s strings.Builder
	for _, p := range b.parts {
		if s.Len() > exchange.MaxBody {
			break
		}
		if p.file != nil {
			fmt.Fprintf(&s, "(%d bytes of base64)", p.file.EncodedSize())
		} else {
			s.Write(p.lit)
		}
	}
	return s.String()
}

// reader returns a reader of the whole body; each call starts afresh (a
// request sent again).
func (b *streamBody) reader() io.Reader { return &bodyReader{parts: b.parts} }

// bodyReader reads a streamBody. enc holds the base64 of the file being
// read; it is reused from one file to the next.
type bodyReader struct {
	parts []bodyPart
	cur   []byte // what is left of the current part
	enc   []byte
	err   error
}

func (r *bodyReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.cur) == 0 {
			if r.err != nil {
				return n, r.err
			}
			if len(r.parts) == 0 {
				return n, io.EOF
			}
			part := r.parts[0]
			r.parts = r.parts[1:]
			if part.file == nil {
				r.cur = part.lit
				continue
			}
			if err := part.file.with(func(content []byte) error {
				need := base64.StdEncoding.EncodedLen(len(content))
				if cap(r.enc) < need {
					r.enc = make([]byte, need)
				}
				r.enc = r.enc[:need]
				base64.StdEncoding.Encode(r.enc, content)
				return nil
			}); err != nil {
				// What was read so far goes out; the transport fails the
				// request on the error that follows (its length is short).
				r.err = err
				continue
			}
			r.cur = r.enc
		}
		k := copy(p[n:], r.cur)
		r.cur = r.cur[k:]
		n += k
	}
	return n, nil
}

// appendBulkItem appends the bulk element of u for the order with the
// given meta to b: {"meta":…,"attributes":[…],"state":…}, byte for byte
// what json.Marshal(bulkItem{…}) gives, with each file's content streamed.
func appendBulkItem(b *streamBody, meta Meta, u OrderUpdate) error {
	m, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	b.str(`{"meta":`)
	b.lit(m)
	if len(u.Attributes) > 0 {
		b.str(`,"attributes":[`)
		for i, a := range u.Attributes {
			if i > 0 {
				b.str(",")
			}
			if err := appendAttribute(b, a); err != nil {
				return err
			}
		}
		b.str("]")
	}
	if u.State != nil {
		st, err := json.Marshal(map[string]any{"meta": u.State.ref("state")})
		if err != nil {
			return err
		}
		b.str(`,"state":`)
		b.lit(st)
	}
	b.str("}")
	return nil
}

// appendAttribute appends one attribute value as AttributeValue.MarshalJSON
// encodes it (keys in map order), a file's content streamed.
func appendAttribute(b *streamBody, a AttributeValue) error {
	if a.File == nil || a.Clear {
		v, err := json.Marshal(a)
		if err != nil {
			return err
		}
		b.lit(v)
		return nil
	}
	name, err := json.Marshal(a.File.Filename)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(a.Meta.ref("attributemetadata"))
	if err != nil {
		return err
	}
	b.str(`{"file":{"content":"`)
	b.file(a.File)
	b.str(`","filename":`)
	b.lit(name)
	b.str(`},"meta":`)
	b.lit(meta)
	b.str("}")
	return nil
}
