package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openrssp/rssp/api"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// TestExplicitFlow walks login → list → info → authorize → signHash in both
// API versions for an RSA and an EC credential, and verifies every
// signature with the standard library.
func TestExplicitFlow(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		token := e.login(t, e.alice)
		for _, ver := range []string{"v1", "v2"} {
			for _, cred := range e.alice.Credentials {
				t.Run(ver+"/"+cred.KeyAlgorithm, func(t *testing.T) {
					base := "/csc/" + ver + "/"
					status, out, _ := e.call(t, base+"credentials/list", token, map[string]any{})
					if status != 200 || !strings.Contains(strings.Join(toStrings(out["credentialIDs"]), ","), cred.ID) {
						t.Fatalf("list: %d %v", status, out)
					}
					status, out, _ = e.call(t, base+"credentials/info", token, map[string]any{"credentialID": cred.ID, "certInfo": true, "authInfo": true})
					if status != 200 || out["SCAL"] != "2" {
						t.Fatalf("info: %d %v", status, out)
					}
					certs := toStrings(out["cert"].(map[string]any)["certificates"])
					der, _ := base64.StdEncoding.DecodeString(certs[0])
					leaf, err := x509.ParseCertificate(der)
					if err != nil {
						t.Fatal(err)
					}
					h1, h2 := digest(ver+cred.ID+"1"), digest(ver+cred.ID+"2")
					e.clock.Advance(30 * time.Second) // a fresh TOTP step
					req := map[string]any{"credentialID": cred.ID, "numSignatures": 2}
					if ver == "v1" {
						req["hash"] = []string{b64(h1), b64(h2)}
						req["PIN"], req["OTP"] = e.alice.PIN, e.totp(e.alice, 0)
					} else {
						req["hashes"] = []string{b64(h1), b64(h2)}
						req["hashAlgorithmOID"] = "2.16.840.1.101.3.4.2.1"
						req["authData"] = []map[string]string{{"id": "PIN", "value": e.alice.PIN}, {"id": "OTP", "value": e.totp(e.alice, 0)}}
					}
					status, out, _ = e.call(t, base+"credentials/authorize", token, req)
					if status != 200 {
						t.Fatalf("authorize: %d %v", status, out)
					}
					sad := out["SAD"].(string)
					signAlgo := "1.2.840.113549.1.1.11"
					if strings.HasPrefix(cred.KeyAlgorithm, "EC") {
						signAlgo = "1.2.840.10045.4.3.2"
					}
					sreq := map[string]any{"credentialID": cred.ID, "SAD": sad, "signAlgo": signAlgo, "signAlgoParams": nil}
					if ver == "v1" {
						sreq["hash"] = []string{b64(h2), b64(h1)}
					} else {
						sreq["hashes"] = []string{b64(h2), b64(h1)}
					}
					status, out, _ = e.call(t, base+"signatures/signHash", token, sreq)
					if status != 200 {
						t.Fatalf("signHash: %d %v", status, out)
					}
					sigs := toStrings(out["signatures"])
					for i, h := range [][]byte{h2, h1} {
						sig, _ := base64.StdEncoding.DecodeString(sigs[i])
						verify(t, leaf.PublicKey, h, sig)
					}
					// The SAD is spent: a replay is refused.
					status, out, _ = e.call(t, base+"signatures/signHash", token, sreq)
					wantError(t, status, out, 400, "invalid_request", "")
				})
			}
		}
	})
}

func verify(t testing.TB, pub crypto.PublicKey, digest, sig []byte) {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig); err != nil {
			t.Fatalf("RSA signature does not verify: %v", err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	default:
		t.Fatalf("unexpected key %T", pub)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestHTTPLayerErrors checks what the HTTP layer answers by itself.
func TestHTTPLayerErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	token := e.login(t, e.alice)
	tests := []struct {
		name, method, path, bearer, body string
		status                           int
		code, desc                       string
	}{
		{"unknown path", "POST", "/csc/v2/nope", token, "{}", 404, "invalid_request", "Unknown method"},
		{"unknown version", "POST", "/csc/v3/info", "", "{}", 404, "invalid_request", "Unknown method"},
		{"GET on a POST method", "GET", "/csc/v2/credentials/list", token, "", 405, "invalid_request", "Method not allowed"},
		{"body too large", "POST", "/csc/v2/credentials/list", token, `{"clientData":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "invalid_request", "Request body too large"},
		{"not JSON", "POST", "/csc/v2/credentials/list", token, "credentialID=1", 400, "invalid_request", "The request body is not a JSON object"},
		{"JSON array", "POST", "/csc/v2/credentials/list", token, "[]", 400, "invalid_request", "The request body is not a JSON object"},
		{"no token", "POST", "/csc/v2/credentials/list", "", "{}", 401, "invalid_token", "The access token is not valid"},
		{"unknown token", "POST", "/csc/v2/credentials/list", "bogus", "{}", 401, "invalid_token", "The access token is not valid"},
		{"wrong type", "POST", "/csc/v2/credentials/info", token, `{"credentialID": 5}`, 400, "invalid_request", "Missing (or invalid type) string parameter credentialID"},
		{"null is absent", "POST", "/csc/v2/credentials/info", token, `{"credentialID": null}`, 400, "invalid_request", "Missing (or invalid type) string parameter credentialID"},
		{"v1 names in v1 errors", "POST", "/csc/v1/signatures/signHash", token, `{"credentialID":"x","SAD":"y","signAlgo":"1.2.840.113549.1.1.11"}`, 400, "invalid_request", "Missing (or invalid type) array parameter hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			status, out, hdr := e.do(t, req)
			wantError(t, status, out, tc.status, tc.code, tc.desc)
			if hdr.Get("X-Request-Id") == "" {
				t.Fatal("no request ID")
			}
		})
	}
}

// TestHealthAndMetrics checks /healthz, /readyz, /metrics and /openapi.yaml.
func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := e.client.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	e.login(t, e.alice)
	e.call(t, "/csc/v1/info", "", nil)
	resp, err := e.client.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`csc_requests_total{method="auth/login",status="200",version="v2"} 1`,
		`csc_requests_total{method="info",status="200",version="v1"} 1`,
		`csc_request_duration_seconds_bucket{method="auth/login",version="v2"`,
		`hsm_pool_sessions 2`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, err = e.client.Get(e.srv.URL + "/logo.png")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := png.Decode(bytes.NewReader(data)); err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("logo.png: %v %q", err, resp.Header.Get("Content-Type"))
	}
	resp, err = e.client.Get(e.srv.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(data), "openapi: 3.1") {
		t.Fatalf("openapi.yaml: %d %.40q", resp.StatusCode, data)
	}
}

// TestNotImplementedLimitsAndReadiness covers 501 for CSC methods not
// offered, 429 on auth/login floods, and /readyz when a dependency is down.
func TestNotImplementedLimitsAndReadiness(t *testing.T) {
	b := fakeBackend{}
	down := errors.New("connection refused")
	srv := api.New(api.Config{LoginRate: 1, LoginBurst: 3}, api.Deps{SAM: b, Tokens: b, Store: b,
		Checks: []api.Check{{Name: "database", Ping: func(context.Context) error { return nil }},
			{Name: "hsm", Ping: func(context.Context) error { return down }}}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := ts.Client()
	client.Transport = validator(t).Transport(t, client.Transport)
	password := "wrong"
	post := func(path, body string, basic bool) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		if basic {
			req.SetBasicAuth("u", password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for _, p := range []string{"/csc/v2/credentials/authorizeCheck", "/csc/v2/signatures/signPolling"} {
		status, out := post(p, "{}", false)
		wantError(t, status, out, 501, "invalid_request", "The method is not implemented by this service")
	}
	// Successful logins are never limited; failed ones are, per address.
	password = "p"
	for i := range 10 {
		if status, out := post("/csc/v2/auth/login", "{}", true); status != 200 {
			t.Fatalf("successful login %d: %d %v", i, status, out)
		}
	}
	password = "wrong"
	var codes []int
	for range 5 {
		status, _ := post("/csc/v2/auth/login", "{}", true)
		codes = append(codes, status)
	}
	if fmt.Sprint(codes[:3]) != "[400 400 400]" || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("failed login statuses %v, want three refusals then 429s", codes)
	}
	status, out := post("/csc/v2/auth/login", "{}", true)
	wantError(t, status, out, 429, "temporarily_unavailable", "Too many requests, try again later")

	resp, err := client.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status  string   `json:"status"`
		Failing []string `json:"failing"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != 503 || ready.Status != "unavailable" || fmt.Sprint(ready.Failing) != "[hsm]" {
		t.Fatalf("readyz with the HSM down: %d %+v", resp.StatusCode, ready)
	}
}
