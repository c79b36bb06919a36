package cdektest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func token(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := http.PostForm(s.URL()+"/v2/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.TokenType != "bearer" || tok.ExpiresIn != 3599 {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	return tok.AccessToken
}

func TestTokenEndpointRefusals(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	resp, _ := http.PostForm(s.URL()+"/v2/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {"nope"}})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"invalid_client"`) {
		t.Errorf("bad secret: %d %s", resp.StatusCode, body)
	}
	resp, _ = http.Get(s.URL() + "/v2/oauth/token?grant_type=client_credentials&client_id=" + s.ClientID() + "&client_secret=" + s.ClientSecret())
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("GET token: %d", resp.StatusCode)
	}
	// CDEK also accepts the parameters in the query string of a POST.
	resp, _ = http.Post(s.URL()+"/v2/oauth/token?grant_type=client_credentials&client_id="+s.ClientID()+"&client_secret="+s.ClientSecret(), "", nil)
	resp.Body.Close()
	if resp.StatusCode != 200 || s.TokensIssued() != 1 {
		t.Errorf("query POST: %d, issued %d", resp.StatusCode, s.TokensIssued())
	}
}

func get(t *testing.T, s *Server, path, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAuthAndNotFoundShapes(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	if st, b := get(t, s, "/v2/orders?im_number=x", ""); st != 401 || !strings.Contains(string(b), "unauthorized") {
		t.Errorf("no token: %d %s", st, b)
	}
	tok := token(t, s)
	st, b := get(t, s, "/v2/orders?im_number=x", tok)
	if st != 400 || !strings.Contains(string(b), `"code":"v2_entity_not_found_im_number"`) || !strings.Contains(string(b), `"state":"INVALID"`) {
		t.Errorf("not found: %d %s", st, b)
	}
	s.ExpireTokens()
	if st, b := get(t, s, "/v2/orders?im_number=x", tok); st != 401 || !strings.Contains(string(b), "v2_token_expired") {
		t.Errorf("expired: %d %s", st, b)
	}
}

func TestCreateGetPrintDownload(t *testing.T) {
	s := NewServer(Options{SettleDelay: func() time.Duration { return 0 }, PrintDelay: func() time.Duration { return 0 }})
	defer s.Close()
	tok := token(t, s)
	body := `{"type":1,"number":"N-1","tariff_code":136,"shipment_point":"MSK65","delivery_point":"NSK23",
	  "recipient":{"name":"Тест","phones":[{"number":"+79161234567"}]},
	  "packages":[{"number":"1","weight":100,"length":10,"width":10,"height":10,
	    "items":[{"name":"Товар","ware_key":"W1","payment":{"value":0},"cost":100,"weight":100,"amount":1}]}]}`
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/orders", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Entity   struct{ UUID string }
		Requests []struct{ Type, State string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 202 || created.Entity.UUID == "" || created.Requests[0].State != "ACCEPTED" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	st, b := get(t, s, "/v2/orders/"+created.Entity.UUID, tok)
	if st != 200 || !strings.Contains(string(b), `"cdek_number":"1100000001"`) || !strings.Contains(string(b), `"state":"SUCCESSFUL"`) {
		t.Fatalf("get: %d %s", st, b)
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL()+"/v2/print/orders", strings.NewReader(`{"orders":[{"cdek_number":1100000001}],"copy_count":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ = http.DefaultClient.Do(req)
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	st, b = get(t, s, "/v2/print/orders/"+created.Entity.UUID, tok)
	if st != 200 || !strings.Contains(string(b), `"code":"READY"`) || !strings.Contains(string(b), ".pdf") {
		t.Fatalf("print: %d %s", st, b)
	}
	if st, _ := get(t, s, "/v2/print/orders/"+created.Entity.UUID+".pdf", ""); st != 401 {
		t.Errorf("download without token: %d", st)
	}
	st, pdf := get(t, s, "/v2/print/orders/"+created.Entity.UUID+".pdf", tok)
	if st != 200 || !bytes.Contains(pdf, []byte("N-1")) {
		t.Fatalf("download: %d", st)
	}
	checkPDF(t, pdf)
}

// checkPDF verifies the cross-reference table: every offset points at its object.
func checkPDF(t *testing.T, pdf []byte) {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatal("header/trailer")
	}
	i := bytes.LastIndex(pdf, []byte("startxref\n"))
	rest := strings.SplitN(string(pdf[i+len("startxref\n"):]), "\n", 2)
	xref, err := strconv.Atoi(rest[0])
	if err != nil || !bytes.HasPrefix(pdf[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %q", rest[0])
	}
	lines := strings.Split(string(pdf[xref:]), "\n")
	for n := 1; n <= 5; n++ {
		off, _ := strconv.Atoi(lines[2+n][:10])
		if !bytes.HasPrefix(pdf[off:], []byte(strconv.Itoa(n)+" 0 obj")) {
			t.Errorf("object %d not at offset %d", n, off)
		}
	}
}

func TestMakePDFEscapes(t *testing.T) {
	pdf := MakePDF([]string{`a(b)c\d`, "кириллица"})
	if !bytes.Contains(pdf, []byte(`(a\(b\)c\\d) Tj`)) || !bytes.Contains(pdf, []byte("(?????????) Tj")) {
		t.Errorf("%s", pdf)
	}
	checkPDF(t, pdf)
}
