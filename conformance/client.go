package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// call is one HTTP request to the server.
type call struct {
	method string // default POST
	path   string // absolute path, e.g. /csc/v2/info
	auth   string // Authorization header value; empty for none
	// body is sent as is when []byte or string, JSON-encoded otherwise; nil
	// sends no body.
	body any
}

// response is what came back. obj is the body decoded as a JSON object
// (numbers as json.Number), or nil.
type response struct {
	call   call
	status int
	header http.Header
	body   []byte
	obj    map[string]any
}

func (r *response) String() string {
	b := string(r.body)
	if len(b) > 600 {
		b = b[:600] + "…"
	}
	m := r.call.method
	if m == "" {
		m = http.MethodPost
	}
	return fmt.Sprintf("%s %s → %d %s", m, r.call.path, r.status, strings.TrimSpace(b))
}

func (s *suite) do(t testing.TB, c call) *response {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	var payload []byte
	switch b := c.body.(type) {
	case nil:
	case []byte:
		payload = b
	case string:
		payload = []byte(b)
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			t.Fatalf("encode request for %s: %v", c.path, err)
		}
	}
	var body io.Reader = http.NoBody
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, s.base+c.path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, c.path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	return s.send(t, s.client, req, c)
}

// send does req with client, calls Target.Check and decodes the answer.
// c describes the request in messages.
func (s *suite) send(t testing.TB, client *http.Client, req *http.Request, c call) *response {
	t.Helper()
	method := req.Method
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		t.Fatalf("%s %s: read response: %v", method, c.path, err)
	}
	if s.target.Check != nil {
		s.target.Check(t, req, resp.StatusCode, resp.Header, raw)
	}
	r := &response{call: c, status: resp.StatusCode, header: resp.Header, body: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) == nil {
			r.obj = m
		}
	}
	return r
}

func bearer(tok string) string { return "Bearer " + tok }

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// isJSON reports whether the response says its body is JSON.
func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// expectOK requires 200 with a JSON object and returns it; anything else
// ends the (sub)test, since what follows depends on it.
func expectOK(t testing.TB, r *response) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("want 200: %v", r)
	}
	if !isJSON(r.header) {
		t.Errorf("Content-Type %q, want application/json: %v", r.header.Get("Content-Type"), r)
	}
	if r.obj == nil {
		t.Fatalf("want a JSON object: %v", r)
	}
	return r.obj
}

// expectError checks an error response: status, the error code (if code is
// not empty) and the error_description (if any descs are given: it must be
// one of them). It reports with t.Errorf and returns whether all matched.
func expectError(t testing.TB, r *response, status int, code string, descs ...string) bool {
	t.Helper()
	if r.status != status {
		want := fmt.Sprintf("%d", status)
		if code != "" {
			want += " " + code
		}
		if len(descs) > 0 {
			want += fmt.Sprintf(" %q", descs)
		}
		t.Errorf("want %s: %v", want, r)
		return false
	}
	ok := true
	if !isJSON(r.header) {
		t.Errorf("error response Content-Type %q, want application/json: %v", r.header.Get("Content-Type"), r)
		ok = false
	}
	if r.obj == nil {
		t.Errorf("error response is not a JSON object: %v", r)
		return false
	}
	gotCode, _ := r.obj["error"].(string)
	if gotCode == "" {
		t.Errorf("error response without a string \"error\": %v", r)
		ok = false
	} else if code != "" && gotCode != code {
		t.Errorf("error %q, want %q: %v", gotCode, code, r)
		ok = false
	}
	desc, isStr := r.obj["error_description"].(string)
	if _, present := r.obj["error_description"]; present && !isStr {
		t.Errorf("error_description is not a string: %v", r)
		ok = false
	}
	if len(descs) > 0 && !slices.Contains(descs, desc) {
		if len(descs) == 1 {
			t.Errorf("error_description %q, want %q: %v", desc, descs[0], r)
		} else {
			t.Errorf("error_description %q, want one of %q: %v", desc, descs, r)
		}
		ok = false
	}
	return ok
}

// errorCode returns the error member of an error response, or "".
func (r *response) errorCode() string {
	if r.obj == nil {
		return ""
	}
	s, _ := r.obj["error"].(string)
	return s
}

func (r *response) errorDescription() string {
	if r.obj == nil {
		return ""
	}
	s, _ := r.obj["error_description"].(string)
	return s
}

// JSON accessors. Each returns ok=false when the member is absent or of
// another type.

func getString(m map[string]any, k string) (string, bool) {
	s, ok := m[k].(string)
	return s, ok
}

func getInt(m map[string]any, k string) (int64, bool) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func getBool(m map[string]any, k string) (bool, bool) {
	b, ok := m[k].(bool)
	return b, ok
}

func getObject(m map[string]any, k string) (map[string]any, bool) {
	o, ok := m[k].(map[string]any)
	return o, ok
}

func getArray(m map[string]any, k string) ([]any, bool) {
	a, ok := m[k].([]any)
	return a, ok
}

// getStrings returns an array member whose elements are all strings.
func getStrings(m map[string]any, k string) ([]string, bool) {
	a, ok := getArray(m, k)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(a))
	for _, v := range a {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// clone copies a request body so that a table case can change it.
func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// with returns a copy of m with the given members set (a nil value is sent
// as JSON null) and the members named in del removed.
func with(m map[string]any, set map[string]any, del ...string) map[string]any {
	out := clone(m)
	for k, v := range set {
		out[k] = v
	}
	for _, k := range del {
		delete(out, k)
	}
	return out
}
