package moysklad_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// fixtureServer answers fixed bodies by path (query ignored) and records
// the requests it saw.
type fixtureServer struct {
	mu     sync.Mutex
	bodies map[string]func(r *http.Request) (int, string)
	seen   []string
}

func newFixtureServer(t *testing.T, bodies map[string]func(r *http.Request) (int, string)) (*fixtureServer, *moysklad.Client) {
	t.Helper()
	fs := &fixtureServer{bodies: bodies}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/api/remap/1.2")
		fs.mu.Lock()
		fs.seen = append(fs.seen, r.Method+" "+p+"?"+r.URL.RawQuery)
		f := fs.bodies[r.Method+" "+p]
		fs.mu.Unlock()
		if f == nil {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"errors":[{"error":"Неопознанный путь","code":1002}]}`))
			return
		}
		status, body := f(r)
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := moysklad.New(moysklad.Config{BaseURL: srv.URL + "/api/remap/1.2", Token: "t", RequestsPerWindow: 10000,
		Window: 1e9, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return fs, c
}

func (fs *fixtureServer) requests() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.seen...)
}

func fixed(body string) func(*http.Request) (int, string) {
	return func(*http.Request) (int, string) { return 200, body }
}

// The three shapes of metadata.attributes: the doc page's inline array, the
// official schema's collection reference (AttributeMetaInfoList without
// rows) and a collection with rows (expand=attributes; fewer rows than size).
func TestOrderMetadataAttributeShapes(t *testing.T) {
	inline := string(readSample(t, "customerorder_metadata_states_attributes.doc.json", nil)) // doc page
	collRef := string(readSample(t, "oas_document_metadata.schema.json", nil))                // schema fixture
	collRows := string(readSample(t, "oas_document_metadata_expanded.schema.json", nil))      // schema fixture, 3 of 72 rows
	listPage := string(readSample(t, "attributes_metadata_all_types.doc.json", nil))          // doc page of …/metadata/attributes, no size in meta
	completeRows := strings.Replace(collRows, `"size": 72`, `"size": 3`, 1)                   // same rows, size matching
	const metaPath, listPath = "GET /entity/customerorder/metadata", "GET /entity/customerorder/metadata/attributes"

	cases := []struct {
		name      string
		metadata  string
		wantN     int
		wantList  bool
		wantFirst string
	}{
		{"inline array (doc page)", inline, 1, false, "AttributeName1"},
		{"collection reference (schema)", collRef, 9, true, "Строковое"},
		{"collection with fewer rows than size (schema, expanded)", collRows, 9, true, "Строковое"},
		{"collection with all rows", completeRows, 3, false, "Файл"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
				metaPath: fixed(tc.metadata), listPath: fixed(listPage)})
			md, err := c.OrderMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Attributes) != tc.wantN || md.Attributes[0].Name != tc.wantFirst || md.Attributes[0].ID == "" || md.Attributes[0].ID != md.Attributes[0].Meta.ID() {
				t.Fatalf("attributes %d, first %+v", len(md.Attributes), md.Attributes[0])
			}
			listed := false
			for _, r := range fs.requests() {
				if strings.HasPrefix(r, listPath+"?") {
					listed = true
					if !strings.Contains(r, "limit=1000") || !strings.Contains(r, "offset=0") {
						t.Errorf("list request %s", r)
					}
				}
			}
			if listed != tc.wantList {
				t.Errorf("listed attributes: %v, want %v (%v)", listed, tc.wantList, fs.requests())
			}
			if len(md.States) == 0 {
				t.Error("no states")
			}
		})
	}
}

// Before the fix, a collection answer failed every cycle with "cannot
// unmarshal object into … []moysklad.AttributeDef".
func TestMetadataCollectionDecodes(t *testing.T) {
	var md moysklad.Metadata
	readSample(t, "oas_document_metadata.schema.json", &md) // official schema fixture
	if md.AttributesCollection == nil || md.AttributesCollection.Size != 2 || md.AttributesComplete() || len(md.States) != 2 {
		t.Fatalf("%+v", md)
	}
	var bad moysklad.Metadata
	if err := json.Unmarshal([]byte(`{"attributes":"x"}`), &bad); err == nil {
		t.Error("a string attributes field decoded")
	}
}

// The attribute list is paged: a size larger than one page makes the client
// ask for the next offset.
func TestOrderAttributesPaged(t *testing.T) {
	var mu sync.Mutex
	var offsets []string
	_, c := newFixtureServer(t, map[string]func(*http.Request) (int, string){
		"GET /entity/customerorder/metadata": fixed(string(readSample(t, "oas_document_metadata.schema.json", nil))),
		"GET /entity/customerorder/metadata/attributes": func(r *http.Request) (int, string) {
			off := r.URL.Query().Get("offset")
			mu.Lock()
			offsets = append(offsets, off)
			mu.Unlock()
			id := "0000000" + off
			id = id[len(id)-8:]
			// A page of one row claiming 2 in total (as if limit were 1).
			return 200, `{"meta":{"href":"x","type":"attributemetadata","size":2,"limit":1000,"offset":` + off + `},"rows":[{"meta":{"href":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/metadata/attributes/` +
				id + `-0000-0000-0000-000000000000","type":"attributemetadata"},"name":"a` + off + `","type":"string","required":false,"show":true}]}`
		},
	})
	md, err := c.OrderMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(md.Attributes) != 2 || md.Attributes[1].Name != "a1" || strings.Join(offsets, ",") != "0,1" {
		t.Fatalf("%+v offsets %v", md.Attributes, offsets)
	}
}

// Against the simulator (which serves the schema's shape) the client
// returns the full definitions.
func TestOrderMetadataFromSimulator(t *testing.T) {
	s := newSim(t, moyskladtest.Options{})
	seeded := moyskladtest.Seed(s)
	for i := 0; i < 3; i++ {
		s.AddAttribute("extra "+string(rune('A'+i)), "string")
	}
	c := newClient(t, s, nil)
	md, err := c.OrderMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Attributes) != len(seeded.Attributes)+3 || len(md.States) != len(seeded.States)+1 {
		t.Fatalf("%d attributes, %d states", len(md.Attributes), len(md.States))
	}
	for _, da := range moyskladtest.DefaultAttributes {
		if a, ok := md.AttributeByName(da.Name); !ok || a.ID != seeded.Attributes[da.Key].ID {
			t.Errorf("%s: %+v", da.Name, a)
		}
	}
	if got := s.RequestsByEndpoint()["GET /entity/customerorder/metadata/attributes"]; got != 1 {
		t.Errorf("attribute list read %d times", got)
	}
}
