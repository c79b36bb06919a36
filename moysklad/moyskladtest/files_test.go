package moyskladtest

import (
	"encoding/base64"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
)

// Error 14001 (doc _errors.md): a file attribute holding a file is not
// overwritten; "file": null clears it, after which a file is accepted.
func TestFileAttributeOverwriteRefused(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	seed := Seed(s)
	id := s.AddOrder(OrderSeed{Name: "F", StateName: "Новый", Attributes: map[string]any{"Накладная": File{Name: "old.pdf", Content: []byte("old")}}})
	meta := map[string]any{"href": seed.Attributes["waybill"].Meta.Href, "type": "attributemetadata", "mediaType": "application/json"}
	set := map[string]any{"attributes": []any{map[string]any{"meta": meta, "file": map[string]any{"filename": "new.pdf", "content": base64.StdEncoding.EncodeToString([]byte("new"))}}}}
	resp, b := raw(t, s, "PUT", "/entity/customerorder/"+id, "", s.Token(), set)
	if e := decodeErr(t, b); resp.StatusCode != 400 || e.Code != moysklad.CodeFileNotUpdatable || e.ParameterName != "file" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	if o, _ := s.Order(id); o.Attributes["Накладная"].File == nil || string(o.Attributes["Накладная"].File.Content) != "old" || o.Puts != 0 {
		t.Fatalf("refused PUT changed the order: %+v", o)
	}
	clear := map[string]any{"attributes": []any{map[string]any{"meta": meta, "file": nil}}}
	if resp, b := raw(t, s, "PUT", "/entity/customerorder/"+id, "", s.Token(), clear); resp.StatusCode != 200 {
		t.Fatalf("clear: %d %s", resp.StatusCode, b)
	}
	if resp, b := raw(t, s, "PUT", "/entity/customerorder/"+id, "", s.Token(), set); resp.StatusCode != 200 {
		t.Fatalf("set after clear: %d %s", resp.StatusCode, b)
	}
	if o, _ := s.Order(id); string(o.Attributes["Накладная"].File.Content) != "new" {
		t.Fatalf("%+v", o)
	}
}
