package api_test

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/store"
)

const (
	flowClientID     = "sca-web"
	flowClientSecret = "web-sca-secret-with-enough-entropy"
	flowRedirect     = "http://127.0.0.1:8765/callback"
)

// browser is a cookie-keeping client that does not follow redirects, so
// each step of the signer's pages can be checked.
type browser struct {
	t      *testing.T
	e      *env
	client *http.Client
}

func newBrowser(t *testing.T, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, e: e, client: &c}
}

func (b *browser) do(method, target string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if !strings.HasPrefix(target, "http") {
		target = b.e.srv.URL + target
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

var hiddenField = regexp.MustCompile(`name="(flow|csrf)" value="([^"]+)"`)

func fields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

func registerWebClient(t *testing.T, e *env) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(flowClientSecret), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: flowClientID, Name: "Web SCA", SecretHash: hash,
		RedirectURIs: []string{flowRedirect}, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
}

func pkcePair(t *testing.T) (verifier, challenge string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// approve walks the signer's pages for the authorization request in query
// (login, consent, second factor with the code otp gives) and returns the
// redirect to the client.
func (b *browser) approve(query url.Values, a account, otp func() string) *url.URL {
	b.t.Helper()
	return approveURL(b, b.e.srv.URL+"/oauth2/authorize?"+query.Encode(), a, otp())
}

// token posts to oauth2/token as the web client.
func (e *env) token(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(flowClientID, flowClientSecret)
	status, out, _ := e.do(t, req)
	return status, out
}

// TestOAuthCodeFlowSignsApprovedHashes: code + PKCE S256 with scope
// credential and hashes, the signer's pages, the token exchange giving a
// credential token (the SAD), and signHash with it; then the attacks.
func TestOAuthCodeFlowSignsApprovedHashes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		registerWebClient(t, e)
		cred := e.alice.Credentials[0]
		h1, h2 := digest("approved 1"), digest("approved 2")
		verifier, challenge := pkcePair(t)
		q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
			"scope": {"credential"}, "credentialID": {cred.ID}, "numSignatures": {"2"},
			"hashes":           {base64.RawURLEncoding.EncodeToString(h1) + "," + base64.URLEncoding.EncodeToString(h2)},
			"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st-123"}}
		otp := func() string { e.clock.Advance(30 * time.Second); return e.totp(e.alice, 0) }
		// A wrong code_verifier is refused, and (fosite) the code is spent.
		loc := newBrowser(t, e).approve(q, e.alice, otp)
		status, out := e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier + "x"}})
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("wrong verifier: %d %v", status, out)
		}
		// A redirect_uri other than the authorization's is refused too.
		loc = newBrowser(t, e).approve(q, e.alice, otp)
		status, out = e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect + "/other"}, "code_verifier": {verifier}})
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("redirect_uri mismatch: %d %v", status, out)
		}
		loc = newBrowser(t, e).approve(q, e.alice, otp)
		code := loc.Query().Get("code")
		if code == "" || loc.Query().Get("state") != "st-123" || !strings.HasPrefix(loc.String(), flowRedirect) {
			t.Fatalf("redirect: %s", loc)
		}
		status, out = e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
		if status != 200 || out["credentialID"] != cred.ID || out["token_type"] != "Bearer" || out["refresh_token"] != nil {
			t.Fatalf("token: %d %v", status, out)
		}
		sad := out["access_token"].(string)
		// The code works once.
		status, out = e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("reused code: %d %v", status, out)
		}

		// The credential token opens info and signHash of its credential only.
		status, out, _ = e.call(t, "/csc/v2/credentials/list", sad, map[string]any{})
		wantError(t, status, out, 401, "invalid_token", "")
		status, out, _ = e.call(t, "/csc/v2/credentials/info", sad, map[string]any{"credentialID": cred.ID})
		if status != 200 {
			t.Fatalf("info with the credential token: %d %v", status, out)
		}
		der, _ := base64.StdEncoding.DecodeString(toStrings(out["cert"].(map[string]any)["certificates"])[0])
		leaf, _ := x509.ParseCertificate(der)
		// A hash the signer did not approve is refused.
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", sad, map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(digest("not approved"))}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		wantError(t, status, out, 400, "invalid_request", "Hash is not authorized by the SAD.")
		for i, h := range [][]byte{h2, h1} {
			status, out, _ = e.call(t, "/csc/v2/signatures/signHash", sad, map[string]any{"credentialID": cred.ID,
				"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
			if status != 200 {
				t.Fatalf("signHash %d: %d %v", i, status, out)
			}
			sig, _ := base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
			verify(t, leaf.PublicKey, h, sig)
		}
		// numSignatures reached: the token is spent.
		status, _, _ = e.call(t, "/csc/v2/signatures/signHash", sad, map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(h1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		if status != 401 && status != 400 {
			t.Fatalf("signHash beyond numSignatures: %d", status)
		}
		// A service token cannot sign without a SAD.
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", e.login(t, e.alice), map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(h1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		wantError(t, status, out, 400, "invalid_request", "Missing (or invalid type) string parameter SAD")
	})
}

// TestOAuthRevokedCredentialToken: a credential token revoked at
// oauth2/revoke (RFC 7009) no longer signs.
func TestOAuthRevokedCredentialToken(t *testing.T) {
	e := newEnv(t, "sqlite")
	registerWebClient(t, e)
	cred := e.alice.Credentials[0]
	h := digest("to be revoked")
	verifier, challenge := pkcePair(t)
	q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
		"scope": {"credential"}, "credentialID": {cred.ID}, "numSignatures": {"1"}, "hashes": {base64.RawURLEncoding.EncodeToString(h)},
		"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	loc := newBrowser(t, e).approve(q, e.alice, func() string { e.clock.Advance(30 * time.Second); return e.totp(e.alice, 0) })
	if loc.Query().Has("state") {
		t.Fatalf("a state the client did not send came back: %s", loc)
	}
	status, out := e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
	if status != 200 {
		t.Fatalf("token: %d %v", status, out)
	}
	sad := out["access_token"].(string)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {sad}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(flowClientID, flowClientSecret)
	if status, out, _ := e.do(t, req); status != 204 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	status, out, _ = e.call(t, "/csc/v2/signatures/signHash", sad, map[string]any{"credentialID": cred.ID,
		"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
	wantError(t, status, out, 401, "invalid_token", "")
}

// TestOAuthCodeBindings: a code is bound to its client; a pushed request
// expires; a native app's loopback redirect may use any port (RFC 8252).
func TestOAuthCodeBindings(t *testing.T) {
	e := newEnv(t, "sqlite")
	registerWebClient(t, e)
	hash, _ := bcrypt.GenerateFromPassword([]byte("other-secret-with-entropy"), 4)
	if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: "sca-other", Name: "Other SCA", SecretHash: hash,
		RedirectURIs: []string{flowRedirect}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
	cred := e.alice.Credentials[0]
	h := digest("bound")
	otp := func() string { e.clock.Advance(30 * time.Second); return e.totp(e.alice, 0) }
	verifier, challenge := pkcePair(t)
	q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
		"scope": {"credential"}, "credentialID": {cred.ID}, "numSignatures": {"1"}, "hashes": {base64.RawURLEncoding.EncodeToString(h)},
		"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"s"}}

	t.Run("code redeemed by another client", func(t *testing.T) {
		loc := newBrowser(t, e).approve(q, e.alice, otp)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"authorization_code"},
			"code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("sca-other", "other-secret-with-entropy")
		status, out, _ := e.do(t, req)
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("another client's code: %d %v", status, out)
		}
	})

	t.Run("loopback redirect on another port", func(t *testing.T) {
		q2 := cloneQuery(q)
		q2.Set("redirect_uri", "http://127.0.0.1:49152/callback")
		loc := newBrowser(t, e).approve(q2, e.alice, otp)
		if loc.Host != "127.0.0.1:49152" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect: %s", loc)
		}
		status, out := e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {"http://127.0.0.1:49152/callback"}, "code_verifier": {verifier}})
		if status != 200 {
			t.Fatalf("token: %d %v", status, out)
		}
	})

	t.Run("service and credential scopes together are refused", func(t *testing.T) {
		q2 := cloneQuery(q)
		q2.Set("scope", "service credential")
		resp, _ := newBrowser(t, e).do(http.MethodGet, "/oauth2/authorize?"+q2.Encode(), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("state") != "s" {
			t.Fatalf("both scopes: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("a non-loopback redirect must match exactly", func(t *testing.T) {
		q2 := cloneQuery(q)
		q2.Set("redirect_uri", "http://evil.example/callback")
		resp, page := newBrowser(t, e).do(http.MethodGet, "/oauth2/authorize?"+q2.Encode(), nil)
		if resp.StatusCode != 400 || strings.Contains(page, "/oauth2/login") || resp.Header.Get("Location") != "" {
			t.Fatalf("unregistered redirect: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
	})

	t.Run("pushed request expires and works once", func(t *testing.T) {
		par := func() string {
			form := cloneQuery(q)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/pushed_authorize", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(flowClientID, flowClientSecret)
			status, out, _ := e.do(t, req)
			if status != 201 || out["request_uri"] == nil || out["expires_in"].(float64) != 90 {
				t.Fatalf("PAR: %d %v", status, out)
			}
			return out["request_uri"].(string)
		}
		byRef := func(uri string) url.Values {
			return url.Values{"client_id": {flowClientID}, "request_uri": {uri}}
		}
		uri := par()
		loc := newBrowser(t, e).approve(byRef(uri), e.alice, otp)
		if loc.Query().Get("code") == "" || loc.Query().Get("state") != "s" {
			t.Fatalf("PAR redirect: %s", loc)
		}
		for name, u := range map[string]string{"reused": uri, "expired": func() string { u := par(); e.clock.Advance(91 * time.Second); return u }()} {
			resp, page := newBrowser(t, e).do(http.MethodGet, "/oauth2/authorize?"+byRef(u).Encode(), nil)
			if strings.Contains(page, "/oauth2/login") || (resp.StatusCode != 400 && !strings.Contains(resp.Header.Get("Location"), "error=")) {
				t.Fatalf("%s request_uri: %d %s %s", name, resp.StatusCode, resp.Header.Get("Location"), page)
			}
		}
	})
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// TestOAuthSignatureQualifier: a request may name the kind of signature
// (signatureQualifier) instead of the credential; after login the signer's
// credential that answers to it is used, and the token response says which.
func TestOAuthSignatureQualifier(t *testing.T) {
	e := newEnv(t, "sqlite")
	registerWebClient(t, e)
	sg, err := e.db.SignerByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := e.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: hsm.ECP256, SCAL: 2, Multisign: 1,
		AuthMode: sam.AuthModeOAuth2Code, SignatureQualifier: "eu_eidas_qes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sam.IssueDevCertificate(ctx, cred.ID, sam.Subject{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	otp := func() string { e.clock.Advance(30 * time.Second); return e.totp(e.alice, 0) }
	for _, viaDetails := range []bool{false, true} {
		h := digest(fmt.Sprint("qualified ", viaDetails))
		verifier, challenge := pkcePair(t)
		q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		details := `[{"type":"credential","signatureQualifier":"eu_eidas_qes","hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","documentDigests":[{"hash":"` + b64(h) + `","label":"Qualified contract"}]}]`
		if viaDetails {
			q.Set("authorization_details", details)
		} else {
			q.Set("scope", "credential")
			q.Set("signatureQualifier", "eu_eidas_qes")
			q.Set("numSignatures", "1")
			q.Set("hashes", base64.RawURLEncoding.EncodeToString(h))
			q.Set("hashAlgorithmOID", "2.16.840.1.101.3.4.2.1")
		}
		loc := newBrowser(t, e).approve(q, e.alice, otp)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}}
		if viaDetails {
			form.Set("authorization_details", details)
		}
		status, out := e.token(t, form)
		if status != 200 || out["credentialID"] != cred.ID {
			t.Fatalf("token (details %v): %d %v", viaDetails, status, out)
		}
		if viaDetails {
			ad, _ := out["authorization_details"].([]any)
			if len(ad) != 1 || ad[0].(map[string]any)["credentialID"] != cred.ID {
				t.Fatalf("authorization_details echo: %v", out["authorization_details"])
			}
		}
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", out["access_token"].(string), map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"})
		if status != 200 {
			t.Fatalf("signHash: %d %v", status, out)
		}
		sig, _ := base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
		pub, _ := x509.ParsePKIXPublicKey(cred.PublicKey)
		verify(t, pub, h, sig)
	}
	// A qualifier none of the user's credentials answers to is denied.
	verifier, challenge := pkcePair(t)
	_ = verifier
	q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect}, "scope": {"credential"},
		"signatureQualifier": {"za_ecta_aes"}, "numSignatures": {"1"}, "hashes": {base64.RawURLEncoding.EncodeToString(digest("x"))},
		"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"q"}}
	b := newBrowser(t, e)
	resp, page := b.do(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil)
	f := fields(page)
	f.Set("username", e.alice.Username)
	f.Set("password", e.alice.Password)
	resp, _ = b.do(http.MethodPost, "/oauth2/login", f)
	resp, _ = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "q" {
		t.Fatalf("unknown qualifier: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestOAuthPublicClient: a public client (a native app, no secret) uses the
// code flow with PKCE and authenticates at the token endpoint by client_id
// alone; client_credentials is not open to it.
func TestOAuthPublicClient(t *testing.T) {
	e := newEnv(t, "sqlite")
	if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: "native-app", Name: "Native app", Public: true,
		RedirectURIs: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
	cred := e.alice.Credentials[0]
	h := digest("from a native app")
	verifier, challenge := pkcePair(t)
	redirect := "http://127.0.0.1:50123/callback" // RFC 8252: any loopback port
	q := url.Values{"response_type": {"code"}, "client_id": {"native-app"}, "redirect_uri": {redirect}, "scope": {"credential"},
		"credentialID": {cred.ID}, "numSignatures": {"1"}, "hashes": {base64.RawURLEncoding.EncodeToString(h)},
		"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	loc := newBrowser(t, e).approve(q, e.alice, func() string { e.clock.Advance(30 * time.Second); return e.totp(e.alice, 0) })
	post := func(form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, out, _ := e.do(t, req)
		return status, out
	}
	status, out := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"native-app"}})
	if status == 200 {
		t.Fatalf("a public client got a client_credentials token: %v", out)
	}
	status, out = post(url.Values{"grant_type": {"authorization_code"}, "client_id": {"native-app"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}})
	if status != 200 || out["credentialID"] != cred.ID {
		t.Fatalf("public client token: %d %v", status, out)
	}
	status, out, _ = e.call(t, "/csc/v2/signatures/signHash", out["access_token"].(string), map[string]any{"credentialID": cred.ID,
		"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
	if status != 200 {
		t.Fatalf("signHash: %d %v", status, out)
	}
}
