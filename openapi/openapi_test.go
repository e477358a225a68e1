package openapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/openrssp/rssp/openapi"
	"github.com/openrssp/rssp/openapi/openapitest"
)

// contractRoutes are the routes the issue-3 contract fixes for cscd: the
// document must describe exactly these.
var contractRoutes = []struct{ method, path string }{
	{"GET", "/csc/v2/info"}, {"POST", "/csc/v2/info"},
	{"POST", "/csc/v2/auth/login"}, {"POST", "/csc/v2/auth/revoke"},
	{"POST", "/csc/v2/credentials/list"}, {"POST", "/csc/v2/credentials/info"},
	{"POST", "/csc/v2/credentials/authorize"}, {"POST", "/csc/v2/credentials/extendTransaction"},
	{"POST", "/csc/v2/signatures/signHash"},
	{"GET", "/csc/v1/info"}, {"POST", "/csc/v1/info"},
	{"POST", "/csc/v1/auth/login"}, {"POST", "/csc/v1/auth/revoke"},
	{"POST", "/csc/v1/credentials/list"}, {"POST", "/csc/v1/credentials/info"},
	{"POST", "/csc/v1/credentials/authorize"}, {"POST", "/csc/v1/credentials/extendTransaction"},
	{"POST", "/csc/v1/signatures/signHash"},
	{"POST", "/csc/v2/credentials/authorizeCheck"}, {"POST", "/csc/v2/credentials/getChallenge"},
	{"POST", "/csc/v2/credentials/sendOTP"}, {"POST", "/csc/v2/signatures/signDoc"},
	{"POST", "/csc/v2/signatures/signPolling"}, {"POST", "/csc/v2/signatures/timestamp"},
	{"POST", "/csc/v1/credentials/sendOTP"}, {"POST", "/csc/v1/signatures/timestamp"},
	{"GET", "/oauth2/authorize"}, {"POST", "/oauth2/pushed_authorize"}, {"POST", "/oauth2/login"},
	{"GET", "/oauth2/consent"}, {"POST", "/oauth2/consent"}, {"GET", "/oauth2/otp"}, {"POST", "/oauth2/otp"},
	{"POST", "/oauth2/token"}, {"POST", "/oauth2/revoke"}, {"GET", "/.well-known/oauth-authorization-server"},
	{"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"}, {"GET", "/openapi.yaml"}, {"GET", "/logo.png"},
	{"POST", "/tsa"},
	{"GET", "/ca/cert"}, {"GET", "/ca/crl"}, {"POST", "/ocsp"}, {"GET", "/ocsp/{request}"},
	{"POST", "/admin/v1/signers"}, {"GET", "/admin/v1/signers"}, {"POST", "/admin/v1/signers/{id}/activation"},
	{"POST", "/admin/v1/signers/{id}/phone-changes"}, {"POST", "/admin/v1/phone-changes/{id}/confirm"},
	{"POST", "/admin/v1/phone-changes/{id}/approve"}, {"POST", "/admin/v1/signers/{id}/factors/{kind}/reset"},
	{"POST", "/admin/v1/signers/{id}/factors/{kind}/unlock"},
	{"GET", "/enrol"}, {"POST", "/enrol"}, {"GET", "/enrol/secrets"}, {"POST", "/enrol/secrets"},
	{"GET", "/enrol/phone"}, {"POST", "/enrol/phone"}, {"GET", "/enrol/totp"}, {"POST", "/enrol/totp"},
	{"GET", "/enrol/done"},
}

// sendsCode reports the CSC methods that send a one-time code out of band
// and answer 204.
func sendsCode(p string) bool {
	return strings.HasSuffix(p, "/credentials/sendOTP") || strings.HasSuffix(p, "/credentials/getChallenge")
}

// notImplemented reports the CSC methods the server answers with 501.
func notImplemented(p string) bool {
	for _, m := range []string{"authorizeCheck", "signPolling"} {
		if strings.HasSuffix(p, "/"+m) {
			return true
		}
	}
	return false
}

func TestDocumentLoadsAsOpenAPI31(t *testing.T) {
	doc := openapitest.New(t).Document()
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	for _, name := range []string{"bearerAuth", "basicAuth"} {
		s := doc.Components.SecuritySchemes[name]
		if s == nil || s.Value == nil || s.Value.Type != "http" {
			t.Errorf("security scheme %s missing or not http", name)
		}
	}
	if got := doc.Components.SecuritySchemes["bearerAuth"].Value.Scheme; got != "bearer" {
		t.Errorf("bearerAuth scheme = %q", got)
	}
	if got := doc.Components.SecuritySchemes["basicAuth"].Value.Scheme; got != "basic" {
		t.Errorf("basicAuth scheme = %q", got)
	}
}

func TestSpecReturnsACopy(t *testing.T) {
	a := openapi.Spec()
	want := bytes.Clone(a)
	a[0] = 'X'
	if got := openapi.Spec(); !bytes.Equal(got, want) {
		t.Fatal("modifying the result of Spec changed the embedded document")
	}
}

func TestDocumentDescribesExactlyTheContractRoutes(t *testing.T) {
	doc := openapitest.New(t).Document()
	want := map[string]bool{}
	for _, r := range contractRoutes {
		want[r.method+" "+r.path] = true
		item := doc.Paths.Value(r.path)
		if item == nil || item.GetOperation(r.method) == nil {
			t.Errorf("%s %s is not in the document", r.method, r.path)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !want[method+" "+path] {
				t.Errorf("%s %s is in the document but not in the contract", method, path)
			}
		}
	}
}

// TestOperationsDeclareTheirStatusesAndSecurity checks what every operation
// promises: the statuses the contract allows and the right authentication.
func TestOperationsDeclareTheirStatusesAndSecurity(t *testing.T) {
	doc := openapitest.New(t).Document()
	common := []string{"400", "413", "429", "500", "503"}
	tests := []struct {
		name     string
		match    func(method, path string) bool
		success  string
		statuses []string // besides success
		without  []string
		security string // "none", "bearer" or "basic-or-none"
	}{
		{
			name: "info",
			match: func(_, p string) bool {
				return strings.HasSuffix(p, "/info") && strings.HasPrefix(p, "/csc/") && !strings.Contains(p, "credentials")
			},
			success: "200", statuses: common, without: []string{"401", "404"}, security: "none",
		},
		{
			name:    "auth/login",
			match:   func(_, p string) bool { return strings.HasSuffix(p, "/auth/login") },
			success: "200", statuses: append([]string{"401"}, common...), without: []string{"404"}, security: "basic-or-none",
		},
		{
			name:    "auth/revoke",
			match:   func(_, p string) bool { return strings.HasSuffix(p, "/auth/revoke") },
			success: "204", statuses: append([]string{"401"}, common...), without: []string{"200", "404"}, security: "bearer",
		},
		{
			name: "bearer CSC methods",
			match: func(_, p string) bool {
				return (strings.Contains(p, "/credentials/") || strings.Contains(p, "/signatures/")) && !notImplemented(p) && !sendsCode(p)
			},
			success: "200", statuses: append([]string{"401"}, common...), without: []string{"204", "404"}, security: "bearer",
		},
		{
			name:    "CSC methods that send a code",
			match:   func(_, p string) bool { return sendsCode(p) },
			success: "204", statuses: append([]string{"401"}, common...), without: []string{"200", "404"}, security: "bearer",
		},
		{
			name:    "CSC methods not offered",
			match:   func(_, p string) bool { return notImplemented(p) },
			success: "501", without: []string{"200", "204", "404"}, security: "none",
		},
		{
			name: "authorization server",
			match: func(m, p string) bool {
				return p == "/oauth2/token" || p == "/oauth2/revoke" || p == "/oauth2/pushed_authorize"
			},
			success: "", statuses: []string{"400", "401", "413", "500"}, without: []string{"404"}, security: "basic-or-none",
		},
		{
			name:    "RFC 3161 endpoint",
			match:   func(_, p string) bool { return p == "/tsa" },
			success: "200", statuses: []string{"400", "413", "415", "429", "500"}, without: []string{"401", "404"}, security: "none",
		},
		{
			name:    "development CA publication",
			match:   func(_, p string) bool { return strings.HasPrefix(p, "/ca/") },
			success: "200", statuses: []string{"404", "429", "500"}, without: []string{"400", "401"}, security: "none",
		},
		{
			name:    "OCSP responder",
			match:   func(_, p string) bool { return strings.HasPrefix(p, "/ocsp") },
			success: "200", statuses: []string{"429", "500"}, without: []string{"400", "401", "404", "413"}, security: "none",
		},
		{
			name: "operational endpoints",
			match: func(_, p string) bool {
				return !strings.HasPrefix(p, "/csc/") && !strings.HasPrefix(p, "/oauth2/") && !strings.HasPrefix(p, "/admin/") &&
					!strings.HasPrefix(p, "/enrol") && p != "/tsa" && !strings.HasPrefix(p, "/ca/") && !strings.HasPrefix(p, "/ocsp")
			},
			success: "200", statuses: []string{"500"}, without: []string{"400", "401", "429"}, security: "none",
		},
		{
			name:    "enrolment pages",
			match:   func(_, p string) bool { return strings.HasPrefix(p, "/enrol") },
			success: "200", statuses: []string{"500", "503"}, without: []string{"401", "404"}, security: "none",
		},
		{
			name:    "admin API",
			match:   func(_, p string) bool { return strings.HasPrefix(p, "/admin/v1/") },
			success: "", statuses: []string{"401", "500", "503"}, without: []string{"403"}, security: "bearerAdmin",
		},
		{
			name:    "admin API on one signer or change",
			match:   func(_, p string) bool { return strings.HasPrefix(p, "/admin/v1/") && strings.Contains(p, "{id}") },
			success: "", statuses: []string{"400", "404", "413"}, security: "bearerAdmin",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for path, item := range doc.Paths.Map() {
				for method, op := range item.Operations() {
					if !tc.match(method, path) {
						continue
					}
					n++
					for _, s := range append([]string{tc.success}, tc.statuses...) {
						if s == "" {
							continue
						}
						if op.Responses.Value(s) == nil {
							t.Errorf("%s %s does not declare %s", method, path, s)
						}
					}
					for _, s := range tc.without {
						if op.Responses.Value(s) != nil {
							t.Errorf("%s %s declares %s", method, path, s)
						}
					}
					if got := securityOf(doc, op); got != tc.security {
						t.Errorf("%s %s security = %s, want %s", method, path, got, tc.security)
					}
					if op.OperationID == "" {
						t.Errorf("%s %s has no operationId", method, path)
					}
				}
			}
			if n == 0 {
				t.Fatal("no operation matched")
			}
		})
	}
}

func securityOf(doc *openapi3.T, op *openapi3.Operation) string {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var names []string
	for _, r := range reqs {
		if len(r) == 0 {
			names = append(names, "none")
		}
		for name := range r {
			names = append(names, name)
		}
	}
	switch {
	case len(names) == 0:
		return "none"
	case slices.Equal(names, []string{"bearerAuth"}):
		return "bearer"
	case slices.Equal(names, []string{"basicAuth", "none"}):
		return "basic-or-none"
	}
	return strings.Join(names, "+")
}

// TestAdvertisedMethodsAreServed ties info's methods enum to the paths: a
// method the document lets info advertise must be served under that version.
func TestAdvertisedMethodsAreServed(t *testing.T) {
	doc := openapitest.New(t).Document()
	for _, v := range []struct{ schema, prefix string }{{"MethodNameV2", "/csc/v2/"}, {"MethodNameV1", "/csc/v1/"}} {
		s := doc.Components.Schemas[v.schema]
		if s == nil || len(s.Value.Enum) == 0 {
			t.Fatalf("%s has no enum", v.schema)
		}
		for _, m := range s.Value.Enum {
			item := doc.Paths.Value(v.prefix + m.(string))
			if item == nil || item.Post == nil {
				t.Errorf("%s lists %q but POST %s%s is not in the document", v.schema, m, v.prefix, m)
			}
		}
	}
}

// TestResponseObjectsAreClosed walks every JSON response schema: an object
// with properties must refuse undeclared members, directly or through the
// schema that composes it.
func TestResponseObjectsAreClosed(t *testing.T) {
	doc := openapitest.New(t).Document()
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.Schema, closedByParent bool)
	walk = func(where string, s *openapi3.Schema, closedByParent bool) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		closed := closedByParent || isClosed(s)
		for _, branch := range s.AllOf {
			if isClosed(branch.Value) {
				closed = true
			}
		}
		if len(s.Properties) > 0 && !closed {
			t.Errorf("%s: object with properties %v accepts undeclared members", where, keys(s.Properties))
		}
		for _, branch := range s.AllOf {
			walk(where+"/allOf", branch.Value, closed)
		}
		for name, p := range s.Properties {
			walk(where+"/"+name, p.Value, false)
		}
		if s.Items != nil {
			walk(where+"/items", s.Items.Value, false)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				for ct, mt := range resp.Value.Content {
					if ct != "application/json" || mt.Schema == nil {
						continue
					}
					walk(method+" "+path+" "+status, mt.Schema.Value, false)
				}
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("walked only %d schemas", len(seen))
	}
}

func isClosed(s *openapi3.Schema) bool {
	if s == nil {
		return false
	}
	ap := s.AdditionalProperties
	if ap.Has != nil && !*ap.Has {
		return true
	}
	up := s.UnevaluatedProperties
	return up.Has != nil && !*up.Has
}

func keys(m openapi3.Schemas) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Good response bodies, as the contract fixes them.
const (
	infoV2 = `{"specs":"2.0.0.2","name":"openrssp","logo":"https://127.0.0.1:8443/logo.png","region":"EU",
		"lang":"en-US","description":"Remote signing","authType":["basic"],
		"methods":["auth/login","auth/revoke","credentials/list","credentials/info","credentials/authorize",
		"credentials/extendTransaction","signatures/signHash"],"asynchronousOperationMode":false,"validationInfo":false,
		"signAlgorithms":{"algos":["1.2.840.113549.1.1.1","1.2.840.113549.1.1.11","1.2.840.10045.4.3.2"]},
		"signature_formats":{"formats":[],"envelope_properties":[]},"conformance_levels":[]}`
	infoV1 = `{"specs":"1.0.4.0","name":"openrssp","logo":"https://127.0.0.1:8443/logo.png","region":"BE",
		"lang":"en-US","description":"Remote signing","authType":["basic"],
		"methods":["auth/login","auth/revoke","credentials/list","credentials/info","credentials/authorize",
		"credentials/extendTransaction","signatures/signHash"]}`
	credInfoV2 = `{"description":"Demo RSA key","key":{"status":"enabled","algo":["1.2.840.113549.1.1.1",
		"1.2.840.113549.1.1.11","1.2.840.113549.1.1.10"],"len":2048},
		"cert":{"status":"valid","certificates":["MIIBCgKCAQEA","MIIBIjAN"],"issuerDN":"CN=RSSP Development CA,O=RSSP",
		"serialNumber":"0A1b2c","subjectDN":"CN=Demo Signer","validFrom":"20260101000000Z","validTo":"20280101000000Z"},
		"auth":{"mode":"explicit","expression":"PIN AND OTP","objects":[
		{"type":"Password","id":"PIN","format":"A","label":"PIN","description":"Signing PIN"},
		{"type":"Password","id":"OTP","format":"N","generator":"totp","label":"OTP","description":"Code from the app"}]},
		"SCAL":"2","multisign":10,"lang":"en-US"}`
	credInfoV2EC = `{"key":{"status":"disabled","algo":["1.2.840.10045.2.1","1.2.840.10045.4.3.2"],"len":256,
		"curve":"1.2.840.10045.3.1.7"},"cert":{},"auth":{"mode":"oauth2code"},"SCAL":"1","multisign":1}`
	credInfoV1 = `{"description":"Demo RSA key","key":{"status":"enabled","algo":["1.2.840.113549.1.1.11"],"len":2048},
		"cert":{"status":"valid","certificates":["MIIBCgKCAQEA"]},"authMode":"explicit",
		"PIN":{"presence":"true","format":"A","label":"PIN","description":"Signing PIN"},
		"OTP":{"presence":"true","type":"offline","format":"N","label":"OTP","description":"Code from the app","provider":"totp"},
		"SCAL":"2","multisign":10,"lang":"en-US"}`
	listV2 = `{"credentialIDs":["c1"],"credentialInfos":[{"credentialID":"c1","key":{"status":"enabled",
		"algo":["1.2.840.10045.4.3.2"],"len":256,"curve":"1.2.840.10045.3.1.7"},"cert":{"status":"valid"},
		"auth":{"mode":"explicit"},"SCAL":"2","multisign":10}],"onlyValid":true}`
	loginOK     = `{"access_token":"at-secret-value","refresh_token":"rt-secret-value","expires_in":3600}`
	sadOK       = `{"SAD":"sad-secret-value","expiresIn":300}`
	signHashOK  = `{"signatures":["MEUCIQDx/+abcd==","AQID"]}`
	errInvalid  = `{"error":"invalid_request","error_description":"Invalid parameter credentialID"}`
	readyFailed = `{"status":"unavailable","failing":["database","hsm"]}`
)

// edit returns body (a JSON object) changed by f.
func edit(body string, f func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		panic(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func sub(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		switch v := m[p].(type) {
		case map[string]any:
			m = v
		case []any:
			m = v[0].(map[string]any)
		default:
			panic("no object at " + p)
		}
	}
	return m
}

type response struct {
	name   string
	method string
	url    string
	status int
	ct     string // Content-Type; "-" for none
	body   string
}

const jsonCT = "application/json"

func check(v *openapitest.Validator, r response) error {
	req := httptest.NewRequest(r.method, r.url, nil)
	h := http.Header{}
	if r.ct != "-" {
		h.Set("Content-Type", r.ct)
	}
	return v.Validate(req, r.status, h, []byte(r.body))
}

func TestValidatorAcceptsConformingResponses(t *testing.T) {
	v := openapitest.New(t)
	tests := []response{
		{"info v2 POST", "POST", "https://127.0.0.1:8443/csc/v2/info", 200, "application/json; charset=utf-8", infoV2},
		{"info v2 GET", "GET", "/csc/v2/info", 200, jsonCT, infoV2},
		{"info v1 POST", "POST", "/csc/v1/info", 200, jsonCT, infoV1},
		{"info v1 GET", "GET", "http://localhost/csc/v1/info?lang=en", 200, jsonCT, infoV1},
		{"login with refresh token", "POST", "/csc/v2/auth/login", 200, jsonCT, loginOK},
		{"login without refresh token", "POST", "/csc/v1/auth/login", 200, jsonCT, `{"access_token":"a","expires_in":60}`},
		{"login malformed header", "POST", "/csc/v2/auth/login", 401, jsonCT,
			`{"error":"invalid_request","error_description":"Malformed authentication parameter."}`},
		{"login wrong password", "POST", "/csc/v1/auth/login", 400, jsonCT,
			`{"error":"authentication_error","error_description":"An error occurred during authentication process"}`},
		{"revoke", "POST", "/csc/v2/auth/revoke", 204, "-", ""},
		{"revoke v1", "POST", "/csc/v1/auth/revoke", 204, "-", ""},
		{"list v2 with infos", "POST", "/csc/v2/credentials/list", 200, jsonCT, listV2},
		{"list v2 ids only", "POST", "/csc/v2/credentials/list", 200, jsonCT, `{"credentialIDs":[]}`},
		{"list v1 paged", "POST", "/csc/v1/credentials/list", 200, jsonCT, `{"credentialIDs":["a","b"],"nextPageToken":"p2"}`},
		{"credentials/info v2 RSA", "POST", "/csc/v2/credentials/info", 200, jsonCT, credInfoV2},
		{"credentials/info v2 EC minimal", "POST", "/csc/v2/credentials/info", 200, jsonCT, credInfoV2EC},
		{"credentials/info v1", "POST", "/csc/v1/credentials/info", 200, jsonCT, credInfoV1},
		{"credentials/info v1 oauth2code", "POST", "/csc/v1/credentials/info", 200, jsonCT,
			`{"key":{"status":"enabled","algo":["1.2.840.10045.2.1"],"len":256},"cert":{},"authMode":"oauth2code","SCAL":"1","multisign":1}`},
		{"authorize v2", "POST", "/csc/v2/credentials/authorize", 200, jsonCT, sadOK},
		{"authorize v2 wrong factor", "POST", "/csc/v2/credentials/authorize", 400, jsonCT,
			`{"error":"invalid_authentication_data","error_description":"The authentication data is invalid"}`},
		{"authorize v1", "POST", "/csc/v1/credentials/authorize", 200, jsonCT, sadOK},
		{"authorize v1 wrong PIN", "POST", "/csc/v1/credentials/authorize", 400, jsonCT,
			`{"error":"invalid_pin","error_description":"The PIN is invalid"}`},
		{"authorize v1 wrong OTP", "POST", "/csc/v1/credentials/authorize", 400, jsonCT, `{"error":"invalid_otp"}`},
		{"extendTransaction v2", "POST", "/csc/v2/credentials/extendTransaction", 200, jsonCT, sadOK},
		{"extendTransaction v1", "POST", "/csc/v1/credentials/extendTransaction", 200, jsonCT, `{"SAD":"x","expiresIn":0}`},
		{"signHash v2", "POST", "/csc/v2/signatures/signHash", 200, jsonCT, signHashOK},
		{"signHash v1", "POST", "/csc/v1/signatures/signHash", 200, jsonCT, signHashOK},
		{"400", "POST", "/csc/v2/signatures/signHash", 400, jsonCT, `{"error":"invalid_request","error_description":"SAD expired"}`},
		{"401 invalid_token", "POST", "/csc/v2/credentials/list", 401, jsonCT,
			`{"error":"invalid_token","error_description":"The access token is not valid"}`},
		{"401 expired_token", "POST", "/csc/v1/credentials/info", 401, jsonCT,
			`{"error":"expired_token","error_description":"The access token has expired"}`},
		{"413", "POST", "/csc/v2/credentials/authorize", 413, jsonCT,
			`{"error":"invalid_request","error_description":"Request body too large"}`},
		{"429", "POST", "/csc/v2/info", 429, jsonCT, `{"error":"temporarily_unavailable"}`},
		{"500", "POST", "/csc/v1/signatures/signHash", 500, jsonCT, `{"error":"server_error","error_description":"Internal error"}`},
		{"503", "POST", "/csc/v2/auth/revoke", 503, jsonCT, `{"error":"temporarily_unavailable","error_description":"Try later"}`},
		{"healthz", "GET", "/healthz", 200, jsonCT, `{"status":"ok"}`},
		{"readyz ready", "GET", "/readyz", 200, jsonCT, `{"status":"ready"}`},
		{"readyz failing", "GET", "/readyz", 503, jsonCT, readyFailed},
		{"metrics", "GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8",
			"# HELP up Up.\n# TYPE up gauge\nup 1\n"},
		{"metrics openmetrics", "GET", "/metrics", 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", "up 1\n# EOF\n"},
		{"openapi.yaml", "GET", "/openapi.yaml", 200, "application/yaml", string(openapi.Spec())},
		{"admin activation on a templated path", "POST", "/admin/v1/signers/0123abcd/activation", 200, jsonCT,
			`{"delivery":"print","expires_at":"2026-01-01T00:00:00Z","code":"0123-4567-89AB"}`},
		{"admin unknown signer", "POST", "/admin/v1/signers/nobody/factors/totp/reset", 404, jsonCT, errInvalid},
		{"unknown path 404", "POST", "/csc/v2/signatures/signNothing", 404, jsonCT,
			`{"error":"invalid_request","error_description":"Unknown method"}`},
		{"wrong method 405", "GET", "/csc/v2/credentials/list", 405, jsonCT,
			`{"error":"invalid_request","error_description":"Method not allowed"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := check(v, tc); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
}

func TestValidatorRejectsNonConformingResponses(t *testing.T) {
	v := openapitest.New(t)
	tests := []struct {
		response
		want string // a fragment of the reason
	}{
		// Wrong field types.
		{response{"login expires_in as string", "POST", "/csc/v2/auth/login", 200, jsonCT,
			edit(loginOK, func(m map[string]any) { m["expires_in"] = "3600" })}, "expires_in"},
		{response{"SCAL as number", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { m["SCAL"] = 2 })}, "SCAL"},
		{response{"multisign as string", "POST", "/csc/v1/credentials/info", 200, jsonCT,
			edit(credInfoV1, func(m map[string]any) { m["multisign"] = "10" })}, "multisign"},
		{response{"v1 PIN presence as boolean", "POST", "/csc/v1/credentials/info", 200, jsonCT,
			edit(credInfoV1, func(m map[string]any) { sub(m, "PIN")["presence"] = true })}, "presence"},
		{response{"expiresIn as string", "POST", "/csc/v2/credentials/authorize", 200, jsonCT,
			edit(sadOK, func(m map[string]any) { m["expiresIn"] = "300" })}, "expiresIn"},
		{response{"signatures as string", "POST", "/csc/v2/signatures/signHash", 200, jsonCT,
			`{"signatures":"AQID"}`}, "signatures"},
		{response{"error_description as number", "POST", "/csc/v2/credentials/list", 400, jsonCT,
			`{"error":"invalid_request","error_description":400}`}, "error_description"},
		{response{"onlyValid as string", "POST", "/csc/v2/credentials/list", 200, jsonCT,
			edit(listV2, func(m map[string]any) { m["onlyValid"] = "true" })}, "onlyValid"},

		// Wrong values.
		{response{"v2 specs on v1", "POST", "/csc/v1/info", 200, jsonCT,
			edit(infoV1, func(m map[string]any) { m["specs"] = "2.0.0.2" })}, "specs"},
		{response{"misspelt method", "GET", "/csc/v2/info", 200, jsonCT,
			edit(infoV2, func(m map[string]any) { m["methods"] = []string{"credential/list"} })}, "methods"},
		{response{"unimplemented method advertised", "POST", "/csc/v2/info", 200, jsonCT,
			edit(infoV2, func(m map[string]any) { m["methods"] = []string{"signatures/signPolling"} })}, "methods"},
		{response{"hash OID as sign algorithm", "POST", "/csc/v2/info", 200, jsonCT,
			edit(infoV2, func(m map[string]any) { sub(m, "signAlgorithms")["algos"] = []string{"2.16.840.1.101.3.4.2.1"} })}, "algos"},
		{response{"key status not in enum", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { sub(m, "key")["status"] = "active" })}, "status"},
		{response{"cert status not in enum", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { sub(m, "cert")["status"] = "not yet valid" })}, "status"},
		{response{"auth mode implicit", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { sub(m, "auth")["mode"] = "implicit" })}, "mode"},
		{response{"SCAL 3", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { m["SCAL"] = "3" })}, "SCAL"},
		{response{"validTo not GeneralizedTime", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { sub(m, "cert")["validTo"] = "2028-01-01T00:00:00Z" })}, "validTo"},
		{response{"URL-safe base64 signature", "POST", "/csc/v2/signatures/signHash", 200, jsonCT,
			`{"signatures":["MEUCIQDx_-abc"]}`}, "signatures"},
		{response{"no signatures", "POST", "/csc/v1/signatures/signHash", 200, jsonCT, `{"signatures":[]}`}, "signatures"},
		{response{"readyz unknown dependency", "GET", "/readyz", 503, jsonCT,
			`{"status":"unavailable","failing":["redis"]}`}, "failing"},
		{response{"healthz wrong status", "GET", "/healthz", 200, jsonCT, `{"status":"up"}`}, "status"},
		{response{"401 with invalid_request", "POST", "/csc/v2/credentials/info", 401, jsonCT,
			`{"error":"invalid_request","error_description":"The access token is not valid"}`}, "error"},
		{response{"500 with a made-up code", "POST", "/csc/v2/credentials/info", 500, jsonCT,
			`{"error":"internal"}`}, "error"},
		{response{"v2 factor code on v1", "POST", "/csc/v1/credentials/authorize", 400, jsonCT,
			`{"error":"invalid_authentication_data"}`}, "error"},
		{response{"v1 factor code on v2", "POST", "/csc/v2/credentials/authorize", 400, jsonCT,
			`{"error":"invalid_pin"}`}, "error"},

		// Missing required members.
		{response{"login without access_token", "POST", "/csc/v1/auth/login", 200, jsonCT, `{"expires_in":3600}`}, "access_token"},
		{response{"info v2 without signAlgorithms", "POST", "/csc/v2/info", 200, jsonCT,
			edit(infoV2, func(m map[string]any) { delete(m, "signAlgorithms") })}, "signAlgorithms"},
		{response{"credentials/info without key.len", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { delete(sub(m, "key"), "len") })}, "len"},
		{response{"list entry without credentialID", "POST", "/csc/v2/credentials/list", 200, jsonCT,
			edit(listV2, func(m map[string]any) { delete(sub(m, "credentialInfos"), "credentialID") })}, "credentialID"},
		{response{"v1 credentials/info without authMode", "POST", "/csc/v1/credentials/info", 200, jsonCT,
			edit(credInfoV1, func(m map[string]any) { delete(m, "authMode") })}, "authMode"},
		{response{"SAD response without SAD", "POST", "/csc/v1/credentials/extendTransaction", 200, jsonCT, `{"expiresIn":300}`}, "SAD"},
		{response{"error without error", "POST", "/csc/v2/credentials/list", 400, jsonCT,
			`{"error_description":"Invalid parameter certificates"}`}, "error"},
		{response{"readyz failing without failing", "GET", "/readyz", 503, jsonCT, `{"status":"unavailable"}`}, "failing"},

		// Undeclared members: wrong names and the other version's names.
		{response{"info v2 with oauth2Issuer", "POST", "/csc/v2/info", 200, jsonCT,
			edit(infoV2, func(m map[string]any) { m["oauth2Issuer"] = "https://example.org" })}, "oauth2Issuer"},
		{response{"info v1 with a v2 member", "POST", "/csc/v1/info", 200, jsonCT,
			edit(infoV1, func(m map[string]any) { m["signAlgorithms"] = map[string]any{"algos": []string{}} })}, "signAlgorithms"},
		{response{"v2 credentials/info with v1 authMode", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { m["authMode"] = "explicit" })}, "authMode"},
		{response{"v1 credentials/info with v2 auth", "POST", "/csc/v1/credentials/info", 200, jsonCT,
			edit(credInfoV1, func(m map[string]any) { m["auth"] = map[string]any{"mode": "explicit"} })}, "auth"},
		{response{"camel-case expires_in", "POST", "/csc/v2/auth/login", 200, jsonCT, `{"access_token":"a","expiresIn":3600}`}, "expires_in"},
		{response{"list entry with a misspelt member", "POST", "/csc/v2/credentials/list", 200, jsonCT,
			edit(listV2, func(m map[string]any) { sub(m, "credentialInfos")["credentialId"] = "c1" })}, "credentialId"},
		{response{"list v1 with credentialInfos", "POST", "/csc/v1/credentials/list", 200, jsonCT,
			`{"credentialIDs":["c1"],"credentialInfos":[]}`}, "credentialInfos"},
		{response{"key with a misspelt member", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { sub(m, "key")["algos"] = []string{} })}, "algos"},
		{response{"echo default error body", "POST", "/csc/v2/credentials/info", 400, jsonCT, `{"message":"Bad Request"}`}, "message"},

		// Statuses the operation does not declare.
		{response{"404 on a known path", "POST", "/csc/v2/credentials/list", 404, jsonCT, errInvalid}, "404"},
		{response{"401 on info", "POST", "/csc/v2/info", 401, jsonCT, `{"error":"invalid_token"}`}, "401"},
		{response{"200 on revoke", "POST", "/csc/v1/auth/revoke", 200, jsonCT, `{}`}, "200"},
		{response{"204 on authorize", "POST", "/csc/v2/credentials/authorize", 204, "-", ""}, "204"},
		{response{"415", "POST", "/csc/v2/credentials/info", 415, jsonCT, errInvalid}, "415"},
		{response{"201 on signHash", "POST", "/csc/v2/signatures/signHash", 201, jsonCT, signHashOK}, "201"},

		// Paths and methods the document does not list.
		{response{"unknown path answered 200", "POST", "/csc/v2/signatures/signNothing", 200, jsonCT, signHashOK}, "not in the document"},
		{response{"admin path with a segment too many", "POST", "/admin/v1/signers/a/b/activation", 200, jsonCT, `{}`}, "not in the document"},
		{response{"admin activation with an extra member", "POST", "/admin/v1/signers/a/activation", 200, jsonCT,
			`{"delivery":"sms","expires_at":"2026-01-01T00:00:00Z","sent_to":"*********123","phone":"+447700900123"}`}, "phone"},
		{response{"unknown path 404 with echo body", "GET", "/nope", 404, jsonCT, `{"message":"Not Found"}`}, "Error"},
		{response{"unknown path 404 as HTML", "GET", "/nope", 404, "text/html", "<h1>Not Found</h1>"}, "Content-Type"},
		{response{"unlisted method answered 200", "GET", "/csc/v2/credentials/list", 200, jsonCT, `{"credentialIDs":[]}`}, "not in the document"},
		{response{"unlisted method 405 without body", "DELETE", "/healthz", 405, jsonCT, ""}, "not JSON"},

		// Content type and body encoding.
		{response{"204 with a body", "POST", "/csc/v2/auth/revoke", 204, jsonCT, `{}`}, "no body"},
		{response{"no Content-Type", "POST", "/csc/v2/info", 200, "-", infoV2}, "Content-Type"},
		{response{"text/html", "POST", "/csc/v2/info", 200, "text/html; charset=utf-8", infoV2}, "text/html"},
		{response{"JSON in Latin-1", "POST", "/csc/v2/info", 200, "application/json; charset=iso-8859-1", infoV2}, "UTF-8"},
		{response{"body not JSON", "POST", "/csc/v2/info", 200, jsonCT, "specs=2.0.0.2"}, "decode"},
		{response{"empty JSON body", "POST", "/csc/v2/auth/login", 200, jsonCT, ""}, "decode"},
		{response{"metrics as JSON", "GET", "/metrics", 200, jsonCT, `{"up":1}`}, "application/json"},
		{response{"openapi.yaml of another version", "GET", "/openapi.yaml", 200, "application/yaml",
			"openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}\n"}, "openapi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := check(v, tc.response)
			if err == nil {
				t.Fatal("accepted a non-conforming response")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("reason %q does not mention %q", err, tc.want)
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errors)
}

func TestCheckReportsWithoutSecrets(t *testing.T) {
	v := openapitest.New(t)
	rec := &recorder{TB: t}
	req := httptest.NewRequest("POST", "/csc/v2/auth/login", nil)
	h := http.Header{"Content-Type": {jsonCT}}

	v.Check(rec, req, 200, h, []byte(loginOK))
	if got := rec.failures(); len(got) != 0 {
		t.Fatalf("good response reported: %v", got)
	}

	bad := edit(loginOK, func(m map[string]any) { m["expires_in"] = "soon" })
	v.Check(rec, req, 200, h, []byte(bad))
	got := rec.failures()
	if len(got) != 1 {
		t.Fatalf("got %d failures, want 1: %v", len(got), got)
	}
	msg := got[0]
	for _, want := range []string{"POST /csc/v2/auth/login", "200", "expires_in", "[redacted]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not mention %q:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"at-secret-value", "rt-secret-value"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message leaks %q:\n%s", secret, msg)
		}
	}
}

func TestTransportChecksEveryResponse(t *testing.T) {
	v := openapitest.New(t)
	mux := http.NewServeMux()
	reply := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	mux.HandleFunc("POST /csc/v2/info", reply(200, infoV2))
	mux.HandleFunc("POST /csc/v2/credentials/authorize", reply(200, `{"SAD":"sad-secret-value","expiresIn":"300"}`))
	mux.HandleFunc("POST /csc/v2/auth/revoke", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/", reply(404, `{"error":"invalid_request","error_description":"Unknown method"}`))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	tests := []struct {
		name   string
		path   string
		status int
		body   string
		fails  bool
	}{
		{"conforming info", "/csc/v2/info", 200, infoV2, false},
		{"expiresIn as string", "/csc/v2/credentials/authorize", 200, `{"SAD":"sad-secret-value","expiresIn":"300"}`, true},
		{"revoke", "/csc/v2/auth/revoke", 204, "", false},
		{"unknown method", "/csc/v2/signatures/signNothing", 404, `{"error":"invalid_request","error_description":"Unknown method"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			client := &http.Client{Transport: v.Transport(rec, srv.Client().Transport)}
			resp, err := client.Post(srv.URL+tc.path, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("client saw %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			got := rec.failures()
			if tc.fails != (len(got) > 0) {
				t.Errorf("failures = %v, want failure: %v", got, tc.fails)
			}
			for _, msg := range got {
				if strings.Contains(msg, "sad-secret-value") {
					t.Errorf("message leaks the SAD: %s", msg)
				}
			}
		})
	}
}

// TestRequestSchemasAreLoose checks the request side of the document: what
// real clients send is accepted (extra members, explicit nulls) and a body
// without its required members is not.
func TestRequestSchemasAreLoose(t *testing.T) {
	doc := openapitest.New(t).Document()
	tests := []struct {
		name  string
		path  string
		body  string
		valid bool
	}{
		{"info empty object", "/csc/v2/info", `{}`, true},
		{"info null", "/csc/v1/info", `null`, true},
		{"login rememberMe", "/csc/v1/auth/login", `{"rememberMe":true}`, true},
		{"login refresh null", "/csc/v2/auth/login", `{"refresh_token":null,"rememberMe":null}`, true},
		{"revoke with hint", "/csc/v2/auth/revoke", `{"token":"t","token_type_hint":"refresh_token"}`, true},
		{"revoke hint null", "/csc/v2/auth/revoke", `{"token":"t","token_type_hint":null,"clientData":null}`, true},
		{"revoke without token", "/csc/v2/auth/revoke", `{"token_type_hint":"access_token"}`, false},
		{"list v2 nulls", "/csc/v2/credentials/list", `{"userID":null,"credentialInfo":true,"certificates":null,"certInfo":null,"authInfo":true,"onlyValid":null,"lang":null}`, true},
		{"list v1 paging", "/csc/v1/credentials/list", `{"maxResults":20,"pageToken":null}`, true},
		{"info request", "/csc/v2/credentials/info", `{"credentialID":"c1","certificates":"chain","certInfo":true,"authInfo":true}`, true},
		{"info request without credentialID", "/csc/v1/credentials/info", `{"certificates":"chain"}`, false},
		{"authorize v2", "/csc/v2/credentials/authorize", `{"credentialID":"c1","numSignatures":1,
			"hashes":["sTOgwOm+474gFj0q0x1iSNspKqbcse4IeiqlDg/HWuI="],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1",
			"authData":[{"id":"PIN","value":"1234"},{"id":"OTP","value":"123456"}],"description":null,"vendorExtra":{"a":1}}`, true},
		{"authorize v2 URL-safe unpadded hash", "/csc/v2/credentials/authorize", `{"credentialID":"c1","numSignatures":1,
			"hashes":["sTOgwOm-474gFj0q0x1iSNspKqbcse4IeiqlDg_HWuI"]}`, true},
		{"authorize v2 without numSignatures", "/csc/v2/credentials/authorize", `{"credentialID":"c1"}`, false},
		{"authorize v1", "/csc/v1/credentials/authorize", `{"credentialID":"c1","numSignatures":2,"hash":["AAAA","BBBB"],"PIN":"1234","OTP":"123456","hashAlgo":null}`, true},
		{"extend v2", "/csc/v2/credentials/extendTransaction", `{"credentialID":"c1","SAD":"s","hashes":null}`, true},
		{"extend v1 without SAD", "/csc/v1/credentials/extendTransaction", `{"credentialID":"c1"}`, false},
		{"signHash v2 EUDI style", "/csc/v2/signatures/signHash", `{"credentialID":"c1","SAD":"s","hashes":["AAAA"],
			"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","signAlgo":"1.2.840.113549.1.1.1","signAlgoParams":null,"operationMode":"S"}`, true},
		{"signHash v2 async mode", "/csc/v2/signatures/signHash", `{"credentialID":"c1","SAD":"s","hashes":["AAAA"],"signAlgo":"1.2.840.10045.4.3.2","operationMode":"A"}`, false},
		{"signHash v1", "/csc/v1/signatures/signHash", `{"credentialID":"c1","SAD":"s","hash":["AAAA"],"hashAlgo":"2.16.840.1.101.3.4.2.1","signAlgo":"1.2.840.113549.1.1.11"}`, true},
		{"signHash v1 with v2 names only", "/csc/v1/signatures/signHash", `{"credentialID":"c1","SAD":"s","hashes":["AAAA"],"signAlgo":"1.2.840.113549.1.1.11"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			item := doc.Paths.Value(tc.path)
			if item == nil || item.Post == nil || item.Post.RequestBody == nil {
				t.Fatalf("POST %s has no request body", tc.path)
			}
			mt := item.Post.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil {
				t.Fatalf("POST %s has no JSON request schema", tc.path)
			}
			var value any
			if err := json.Unmarshal([]byte(tc.body), &value); err != nil {
				t.Fatal(err)
			}
			err := mt.Schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.VisitAsRequest())
			if tc.valid && err != nil {
				t.Errorf("rejected: %v", err)
			}
			if !tc.valid && err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestValidatorIsSafeForConcurrentUse(t *testing.T) {
	v := openapitest.New(t)
	cases := []struct {
		response
		ok bool
	}{
		{response{"info", "POST", "/csc/v2/info", 200, jsonCT, infoV2}, true},
		{response{"credentials/info", "POST", "/csc/v1/credentials/info", 200, jsonCT, credInfoV1}, true},
		{response{"list", "POST", "/csc/v2/credentials/list", 200, jsonCT, listV2}, true},
		{response{"bad SCAL", "POST", "/csc/v2/credentials/info", 200, jsonCT,
			edit(credInfoV2, func(m map[string]any) { m["SCAL"] = 2 })}, false},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				c := cases[(i+j)%len(cases)]
				if err := check(v, c.response); (err == nil) != c.ok {
					errs <- fmt.Sprintf("%s: err = %v", c.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// schemaKeywords are the JSON Schema keywords the document may use. JSON
// Schema ignores unknown keywords, so a misspelt one ("requried") would
// silently weaken the contract; this list makes it fail instead.
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "description": true, "title": true, "format": true,
	"properties": true, "required": true, "additionalProperties": true, "unevaluatedProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"enum": true, "const": true, "pattern": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "allOf": true, "anyOf": true, "oneOf": true, "not": true,
	"if": true, "then": true, "else": true, "examples": true, "default": true,
}

func TestSchemasUseOnlyKnownKeywords(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(openapi.Spec(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var lint func(where string, node any)
	lint = func(where string, node any) {
		s, ok := node.(map[string]any)
		if !ok {
			if _, isBool := node.(bool); !isBool {
				t.Errorf("%s: schema is %T, want an object or a boolean", where, node)
			}
			return
		}
		n++
		for k, v := range s {
			if !schemaKeywords[k] {
				t.Errorf("%s: unknown schema keyword %q", where, k)
			}
			switch k {
			case "properties":
				for name, p := range v.(map[string]any) {
					lint(where+"/properties/"+name, p)
				}
			case "items", "not", "if", "then", "else", "additionalProperties", "unevaluatedProperties":
				lint(where+"/"+k, v)
			case "allOf", "anyOf", "oneOf":
				for i, b := range v.([]any) {
					lint(fmt.Sprintf("%s/%s/%d", where, k, i), b)
				}
			case "required":
				props, _ := s["properties"].(map[string]any)
				_, composed := s["allOf"]
				for _, r := range v.([]any) {
					if _, ok := props[r.(string)]; !ok && !composed {
						t.Errorf("%s: required member %q is not among the properties", where, r)
					}
				}
			}
		}
	}
	// Every value of a "schema" member anywhere, and every named schema.
	var find func(where string, node any)
	find = func(where string, node any) {
		switch v := node.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "schema" {
					lint(where+"/schema", e)
					continue
				}
				find(where+"/"+k, e)
			}
		case []any:
			for i, e := range v {
				find(fmt.Sprintf("%s/%d", where, i), e)
			}
		}
	}
	find("#", doc["paths"])
	components := doc["components"].(map[string]any)
	find("#/components/responses", components["responses"])
	find("#/components/requestBodies", components["requestBodies"])
	for name, s := range components["schemas"].(map[string]any) {
		lint("#/components/schemas/"+name, s)
	}
	if n < 100 {
		t.Fatalf("linted only %d schemas", n)
	}
}
