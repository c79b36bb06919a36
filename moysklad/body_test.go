package moysklad

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func bodyMeta(id string) Meta {
	return Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/" + id, MetadataHref: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata",
		Type: "customerorder", MediaType: "application/json"}
}

var (
	attrMeta  = Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/aaaaaaaa-0000-4000-8000-000000000001", Type: "attributemetadata"}
	fileMeta  = Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/aaaaaaaa-0000-4000-8000-000000000002", Type: "attributemetadata"}
	stateMeta = Meta{Href: "https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/states/bbbbbbbb-0000-4000-8000-000000000001", Type: "state"}
)

// sourced is f with its content behind a Source, as the poller hands a
// stored waybill.
func sourced(f AttributeValue) (AttributeValue, *int) {
	calls := new(int)
	content := f.File.Content
	f.File = &FileUpload{Filename: f.File.Filename, Size: len(content), Source: func(fn func([]byte) error) error {
		*calls++
		return fn(content)
	}}
	return f, calls
}

// The streamed element is byte for byte what json.Marshal gives, with the
// file in memory or behind a Source, and reads the same in any chunking.
func TestStreamedBulkItemIsTheMarshalledOne(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7 <>&\"\\ \x00\xff"), 3000)
	updates := []OrderUpdate{
		{State: &stateMeta},
		{Attributes: []AttributeValue{StringValue(attrMeta, "T<1>&\"ы")}},
		{State: &stateMeta, Attributes: []AttributeValue{StringValue(attrMeta, "T1"), FileValue(fileMeta, "накладная <1>.pdf", pdf), ClearValue(attrMeta)}},
		{Attributes: []AttributeValue{ClearFileValue(fileMeta), TextValue(attrMeta, "a\nb")}},
		{Attributes: []AttributeValue{FileValue(fileMeta, "a.pdf", pdf[:1]), FileValue(fileMeta, "b.pdf", pdf[:2]), FileValue(fileMeta, "c.pdf", []byte{})}},
	}
	for i, u := range updates {
		want, err := json.Marshal(bulkItem{meta: bodyMeta("o1"), u: u})
		if err != nil {
			t.Fatal(err)
		}
		for _, viaSource := range []bool{false, true} {
			if viaSource {
				u = OrderUpdate{State: u.State, Attributes: append([]AttributeValue(nil), u.Attributes...)}
				for k, a := range u.Attributes {
					if a.File != nil && !a.Clear {
						u.Attributes[k], _ = sourced(a)
					}
				}
			}
			var b streamBody
			if err := appendBulkItem(&b, bodyMeta("o1"), u); err != nil {
				t.Fatal(err)
			}
			for _, r := range []io.Reader{b.reader(), iotest.OneByteReader(b.reader()), iotest.HalfReader(b.reader())} {
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) || int64(len(got)) != b.Len() {
					t.Fatalf("update %d (source %v): %d bytes (Len %d)\n got %.300s\nwant %.300s", i, viaSource, len(got), b.Len(), got, want)
				}
			}
			if got, want := b.elided(), elideFileContent(want); got != want && len(want) <= 4096 {
				t.Errorf("update %d: elided\n got %s\nwant %s", i, got, want)
			}
		}
	}
}

// A file is read from its Source once per reading of the body (a request
// sent again reads it again), and never kept whole by the body.
func TestStreamedBodyReadsSourcesPerAttempt(t *testing.T) {
	pdf := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 10000)
	f, calls := sourced(FileValue(fileMeta, "w.pdf", pdf))
	var b streamBody
	b.str("[")
	if err := appendBulkItem(&b, bodyMeta("o1"), OrderUpdate{Attributes: []AttributeValue{f}}); err != nil {
		t.Fatal(err)
	}
	b.str("]")
	if *calls != 0 {
		t.Fatalf("the source was read %d times before the body", *calls)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		got, err := io.ReadAll(b.reader())
		if err != nil {
			t.Fatal(err)
		}
		if *calls != attempt || !bytes.Contains(got, []byte(base64.StdEncoding.EncodeToString(pdf))) {
			t.Fatalf("attempt %d: %d reads of the source", attempt, *calls)
		}
	}
	for _, p := range b.parts {
		if p.file == nil && len(p.lit) > 1024 {
			t.Errorf("a literal part of %d bytes", len(p.lit))
		}
	}
}

// A source that fails, or whose content is not the size it announced, fails
// the reading of the body (and so the request), and MarshalJSON (a PUT).
func TestStreamedBodySourceFailures(t *testing.T) {
	boom := errors.New("boom")
	for name, f := range map[string]*FileUpload{
		"error": {Filename: "w.pdf", Size: 3, Source: func(func([]byte) error) error { return boom }},
		"size":  {Filename: "w.pdf", Size: 3, Source: func(fn func([]byte) error) error { return fn([]byte("four")) }},
	} {
		a := AttributeValue{Meta: fileMeta, File: f, Type: "file"}
		var b streamBody
		if err := appendBulkItem(&b, bodyMeta("o1"), OrderUpdate{Attributes: []AttributeValue{a}}); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b.reader())
		if err == nil || !strings.HasPrefix(string(got), `{"meta":`) {
			t.Errorf("%s: read %q, %v", name, got, err)
		}
		if _, err := json.Marshal(OrderUpdate{Attributes: []AttributeValue{a}}); err == nil {
			t.Errorf("%s: MarshalJSON succeeded", name)
		}
	}
}
