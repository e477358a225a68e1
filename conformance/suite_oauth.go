package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The OAuth 2.0 flows of CSC API v2 §8.4 (RFC 6749, RFC 7636 PKCE, RFC 7009
// revocation, RFC 8414 metadata, RFC 9126 PAR, RFC 9396
// authorization_details), driven as a client would: the token, pushed
// authorization and revocation endpoints directly, the signer's approval
// through Target.Approve.

const (
	descMissingUserID = "Missing (or invalid type) string parameter userID"
	descMissingSAD    = "Missing (or invalid type) string parameter SAD"
	wellKnownOAuth    = "/.well-known/oauth-authorization-server"
)

// oauthSuite is the state of the v2/oauth2 subtests.
type oauthSuite struct {
	*vsuite
	oc OAuthClient
	// Endpoints: those of the metadata when it names them, else the CSC
	// convention <oauth2>/oauth2/<name>.
	authorizeEP, tokenEP, parEP, revokeEP string
	// noRedirect is the suite's client without following redirects, for
	// GETs of the authorization endpoint.
	noRedirect *http.Client
}

func (vs *vsuite) testOAuth(t *testing.T) {
	c := vs.target.OAuthClient
	if c == nil {
		t.Skip("Target.OAuthClient is not set: no OAuth client to test the authorization server with")
	}
	nr := *vs.client
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o := &oauthSuite{vsuite: vs, oc: *c, noRedirect: &nr,
		authorizeEP: vs.base + "/oauth2/authorize", tokenEP: vs.base + "/oauth2/token",
		parEP: vs.base + "/oauth2/pushed_authorize", revokeEP: vs.base + "/oauth2/revoke"}
	t.Run("metadata", o.testMetadata)
	t.Run("client_credentials", o.testClientCredentials)
	t.Run("code_flow", o.testCodeFlow)
	t.Run("code_negatives", o.testCodeNegatives)
	t.Run("pushed_authorize", o.testPAR)
	t.Run("authorization_details", o.testAuthorizationDetails)
	t.Run("refresh_rotation", o.testRefreshRotation)
	t.Run("deny", o.testDeny)
}

// ---- requests ----

// clientBasic is the client's HTTP Basic header (RFC 6749 §2.3.1: id and
// secret form-encoded first).
func (o *oauthSuite) clientBasic() string {
	return basic(url.QueryEscape(o.oc.ID), url.QueryEscape(o.oc.Secret))
}

// form POSTs v form-encoded to endpoint with the given Authorization header
// (none when empty).
func (o *oauthSuite) form(t testing.TB, endpoint string, v url.Values, auth string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return o.send(t, o.client, req, call{method: http.MethodPost, path: endpoint})
}

// get GETs target without following a redirect.
func (o *oauthSuite) get(t testing.TB, target string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return o.send(t, o.noRedirect, req, call{method: http.MethodGet, path: target})
}

func (o *oauthSuite) authorizeURL(q url.Values) string {
	sep := "?"
	if strings.Contains(o.authorizeEP, "?") {
		sep = "&"
	}
	return o.authorizeEP + sep + q.Encode()
}

// pkce is an RFC 7636 S256 pair.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := randomToken() // 43 characters of the unreserved set
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authzRequest is an authorization request and what the client keeps of
// it for the token request.
type authzRequest struct {
	q     url.Values
	pkce  pkce
	state string
}

// request is an authorization code request with PKCE S256 and a state;
// scope is omitted when empty.
func (o *oauthSuite) request(scope string) *authzRequest {
	p := newPKCE()
	st := "st-" + randomToken()[:20]
	q := url.Values{"response_type": {"code"}, "client_id": {o.oc.ID}, "redirect_uri": {o.oc.RedirectURI},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}, "state": {st}}
	if scope != "" {
		q.Set("scope", scope)
	}
	return &authzRequest{q: q, pkce: p, state: st}
}

// credentialRequest asks for scope credential over hashes of cred, sent as
// comma-separated unpadded base64url (CSC v2 §8.4.2).
func (o *oauthSuite) credentialRequest(cred Credential, hashes [][]byte) *authzRequest {
	a := o.request("credential")
	parts := make([]string, len(hashes))
	for i, h := range hashes {
		parts[i] = base64.RawURLEncoding.EncodeToString(h)
	}
	a.q.Set("credentialID", cred.ID)
	a.q.Set("numSignatures", strconv.Itoa(len(hashes)))
	a.q.Set("hashes", strings.Join(parts, ","))
	a.q.Set("hashAlgorithmOID", oidSHA256)
	return a
}

// approve has the signer approve the authorization request in query (the
// request itself, or client_id and request_uri) and returns the code. A
// second factor (an unused TOTP step) is given when secondFactor is set.
func (o *oauthSuite) approve(t testing.TB, query url.Values, state string, secondFactor bool) string {
	t.Helper()
	if o.target.Approve == nil {
		t.Skip("Target.Approve is not set: the signer's approval cannot be driven")
	}
	otp := ""
	if secondFactor {
		if o.me.failures >= maxOutstandingFailures {
			t.Skipf("%d failed factor attempts are outstanding: no more approvals", o.me.failures)
		}
		otp = o.freshOTP(t)
	}
	return o.expectCode(t, o.target.Approve(t, o.authorizeURL(query), otp), state)
}

// checkRedirectTarget checks that loc goes to the client's redirect URI.
func (o *oauthSuite) checkRedirectTarget(t testing.TB, loc *url.URL) {
	t.Helper()
	want, _ := url.Parse(o.oc.RedirectURI)
	if loc.Scheme != want.Scheme || loc.Host != want.Host || loc.Path != want.Path {
		t.Errorf("redirect to %s, want the client's redirect URI %s", loc.Redacted(), o.oc.RedirectURI)
	}
}

// expectCode checks the redirect of an approval: to the client's redirect
// URI, with a code and the request's state.
func (o *oauthSuite) expectCode(t testing.TB, loc *url.URL, state string) string {
	t.Helper()
	if loc == nil {
		t.Fatalf("Approve returned no redirect")
	}
	o.checkRedirectTarget(t, loc)
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("the approval ended with error=%s (%s): %s", e, q.Get("error_description"), loc.Redacted())
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("the redirect has no code: %s", loc.Redacted())
	}
	if got := q.Get("state"); got != state || q.Has("state") != (state != "") {
		t.Errorf("redirect state %q, want %q (RFC 6749 §4.1.2)", got, state)
	}
	return code
}

// exchange is the token request of the authorization code grant, with the
// client authenticated by HTTP Basic; extra members are added or replace
// the defaults.
func (o *oauthSuite) exchange(t testing.TB, code, verifier string, extra url.Values) *response {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.oc.RedirectURI}, "code_verifier": {verifier}}
	for k, x := range extra {
		v[k] = x
	}
	return o.form(t, o.tokenEP, v, o.clientBasic())
}

// expectToken checks a successful token response (RFC 6749 §5.1) and
// returns it.
func expectToken(t testing.TB, r *response) map[string]any {
	t.Helper()
	m := expectOK(t, r)
	if at, ok := getString(m, "access_token"); !ok || at == "" {
		t.Fatalf("no access_token string: %v", r)
	}
	if tt, _ := getString(m, "token_type"); !strings.EqualFold(tt, "Bearer") {
		t.Errorf("token_type %v, want Bearer (CSC v2 §8.4.4): %v", m["token_type"], r)
	}
	if _, present := m["expires_in"]; present {
		if n, ok := getInt(m, "expires_in"); !ok || n <= 0 {
			t.Errorf("expires_in %v, want a positive integer: %v", m["expires_in"], r)
		}
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("token response without Cache-Control: no-store (RFC 6749 §5.1): %q", r.header.Get("Cache-Control"))
	}
	return m
}

// credentialToken checks a token response of scope credential for cred
// and returns the token.
func credentialToken(t testing.TB, r *response, cred Credential) string {
	t.Helper()
	m := expectToken(t, r)
	if id, _ := getString(m, "credentialID"); id != cred.ID {
		t.Errorf("credentialID %v, want %s: %v", m["credentialID"], cred.ID, r)
	}
	if _, present := m["refresh_token"]; present {
		t.Errorf("a credential-scope token response has a refresh_token (CSC: refresh tokens are for scope service only): %v", r)
	}
	tok, _ := getString(m, "access_token")
	return tok
}

// signBodyNoSAD is a signHash request authorized by a credential token
// instead of a SAD.
func (o *oauthSuite) signBodyNoSAD(credID string, hashes [][]byte, a signAlgo) map[string]any {
	return with(o.signBody(credID, "", b64s(hashes), a), nil, "SAD")
}

// signedWithToken signs each hash with the credential token, one signHash
// call per hash, and verifies every signature.
func (o *oauthSuite) signedWithToken(t *testing.T, tok string, cred Credential, ci *credInfo, hashes [][]byte) {
	a := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	for i, h := range hashes {
		t.Run(fmt.Sprintf("signHash_%d_with_the_credential_token", i+1), func(t *testing.T) {
			r := o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(cred.ID, [][]byte{h}, a))
			expectSignatures(t, r, ci, a, [][]byte{h})
		})
	}
}

// ---- tests ----

// testMetadata: RFC 8414 metadata at the base URL, and info advertising the
// authorization server (CSC v2 §11.1).
func (o *oauthSuite) testMetadata(t *testing.T) {
	t.Run("authorization_server_metadata", func(t *testing.T) {
		m := expectOK(t, o.do(t, call{method: http.MethodGet, path: wellKnownOAuth}))
		if iss, _ := getString(m, "issuer"); iss != o.base {
			t.Errorf("issuer %v, want the base URL %s (RFC 8414 §3.3)", m["issuer"], o.base)
		}
		for _, e := range []struct {
			name string
			dst  *string
		}{
			{"authorization_endpoint", &o.authorizeEP}, {"token_endpoint", &o.tokenEP},
			{"pushed_authorization_request_endpoint", &o.parEP}, {"revocation_endpoint", &o.revokeEP},
		} {
			s, ok := getString(m, e.name)
			if !ok || s == "" {
				if e.name != "revocation_endpoint" {
					t.Errorf("metadata has no %s: %v", e.name, m)
				}
				continue
			}
			if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				t.Errorf("%s %q is not an absolute http(s) URL", e.name, s)
				continue
			}
			*e.dst = s
		}
	})
	t.Run("info_advertises_oauth2", func(t *testing.T) {
		m := expectOK(t, o.post(t, "info", "", map[string]any{}))
		authType, _ := getStrings(m, "authType")
		for _, want := range []string{"oauth2client", "oauth2code"} {
			if !slices.Contains(authType, want) {
				t.Errorf("info.authType %v lacks %q", m["authType"], want)
			}
		}
		if s, _ := getString(m, "oauth2"); s != o.base {
			t.Errorf("info.oauth2 %v, want the base URL %s", m["oauth2"], o.base)
		}
		if _, present := m["oauth2Issuer"]; present {
			t.Errorf("info has both oauth2 and oauth2Issuer; want exactly one: %v", m["oauth2Issuer"])
		}
	})
}

// testClientCredentials: the client_credentials grant gives a service
// token for the client, which names the user in credentials/list, and is
// revocable (RFC 7009).
func (o *oauthSuite) testClientCredentials(t *testing.T) {
	cc := url.Values{"grant_type": {"client_credentials"}}
	t.Run("wrong_secret_is_invalid_client", func(t *testing.T) {
		r := o.form(t, o.tokenEP, cc, basic(url.QueryEscape(o.oc.ID), url.QueryEscape(o.oc.Secret+"x")))
		expectError(t, r, http.StatusUnauthorized, "invalid_client")
		if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate (RFC 6749 §5.2)")
		}
	})
	t.Run("scope_credential_is_invalid_scope", func(t *testing.T) {
		r := o.form(t, o.tokenEP, url.Values{"grant_type": {"client_credentials"}, "scope": {"credential"}}, o.clientBasic())
		expectError(t, r, http.StatusBadRequest, "invalid_scope")
	})
	t.Run("basic_without_scope_grants_service", func(t *testing.T) {
		m := expectToken(t, o.form(t, o.tokenEP, cc, o.clientBasic()))
		if s, _ := getString(m, "scope"); s != "service" {
			t.Errorf("scope %v, want \"service\" (the default, CSC v2 §8.4; RFC 6749 §5.1 requires it when it differs from the request)", m["scope"])
		}
		if _, present := m["refresh_token"]; present {
			t.Errorf("client_credentials gave a refresh_token (RFC 6749 §4.4.3)")
		}
	})
	var tok string
	if !t.Run("client_secret_post", func(t *testing.T) {
		v := url.Values{"grant_type": {"client_credentials"}, "scope": {"service"}, "client_id": {o.oc.ID}, "client_secret": {o.oc.Secret}}
		m := expectToken(t, o.form(t, o.tokenEP, v, ""))
		tok, _ = getString(m, "access_token")
	}) || tok == "" {
		return
	}
	t.Run("credentials_list_for_userID", func(t *testing.T) {
		o.expectListed(t, expectOK(t, o.post(t, "credentials/list", bearer(tok), map[string]any{"userID": o.me.Username})))
	})
	t.Run("credentials_list_needs_userID", func(t *testing.T) {
		expectError(t, o.post(t, "credentials/list", bearer(tok), map[string]any{}), http.StatusBadRequest, "invalid_request", descMissingUserID)
	})
	t.Run("revocation", func(t *testing.T) {
		r := o.form(t, o.revokeEP, url.Values{"token": {tok}}, o.clientBasic())
		if r.status != http.StatusNoContent {
			t.Fatalf("want 204 (CSC v2 oauth2/revoke): %v", r)
		}
		expectError(t, o.post(t, "credentials/list", bearer(tok), map[string]any{"userID": o.me.Username}),
			http.StatusUnauthorized, "invalid_token", descInvalidToken)
	})
}

// testCodeFlow: scope credential with hashes, PKCE S256 and a state; the
// token is the credential's authorization: it signs exactly the approved
// hashes, once each, and opens nothing else.
func (o *oauthSuite) testCodeFlow(t *testing.T) {
	if o.target.Approve == nil {
		t.Skip("Target.Approve is not set: the signer's approval cannot be driven")
	}
	cred := o.primary
	ci := o.fullInfo(t, o.login(t), cred)
	hashes := [][]byte{digestWithSpecialChars()}
	if ci.multisign >= 2 {
		hashes = append(hashes, digestWithSpecialChars())
	}
	req := o.credentialRequest(cred, hashes)
	code := o.approve(t, req.q, req.state, true)
	var tok string
	if !t.Run("token", func(t *testing.T) {
		tok = credentialToken(t, o.exchange(t, code, req.pkce.verifier, nil), cred)
	}) || tok == "" {
		return
	}
	t.Run("credentials_info_with_the_credential_token", func(t *testing.T) {
		expectOK(t, o.post(t, "credentials/info", bearer(tok), map[string]any{"credentialID": cred.ID}))
	})
	a := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	t.Run("unapproved_hash_is_refused", func(t *testing.T) {
		expectError(t, o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(cred.ID, [][]byte{randomDigest()}, a)),
			http.StatusBadRequest, "invalid_request", descHashNotAuthorized)
	})
	for _, c := range o.target.Credentials {
		if c.ID == cred.ID {
			continue
		}
		t.Run("another_credential_is_refused", func(t *testing.T) {
			r := o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(c.ID, hashes[:1], defaultAlgo(keyAlgorithms[c.KeyAlgorithm])))
			if r.status < 400 || r.status >= 500 || r.errorCode() == "" {
				t.Errorf("a token of scope credential for %s used with %s: want a 4xx error: %v", cred.ID, c.ID, r)
			}
		})
		break
	}
	slices.Reverse(hashes) // the order of use need not be the order of approval
	o.signedWithToken(t, tok, cred, ci, hashes)
	t.Run("no_signature_beyond_numSignatures", func(t *testing.T) {
		r := o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(cred.ID, hashes[:1], a))
		if (r.status != http.StatusBadRequest && r.status != http.StatusUnauthorized) || r.errorCode() == "" {
			t.Errorf("want 400 or 401 with an error: %v", r)
		}
	})
	t.Run("credentials_list_is_refused", func(t *testing.T) {
		expectError(t, o.post(t, "credentials/list", bearer(tok), map[string]any{}), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("reused_code_is_invalid_grant", func(t *testing.T) {
		expectError(t, o.exchange(t, code, req.pkce.verifier, nil), http.StatusBadRequest, "invalid_grant")
	})
}

// testCodeNegatives: the token request checks the PKCE verifier and the
// redirect URI; a service token signs nothing without a SAD; a credential
// token revoked at oauth2/revoke signs nothing.
func (o *oauthSuite) testCodeNegatives(t *testing.T) {
	cred := o.primary
	a := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	t.Run("service_token_signHash_without_SAD", func(t *testing.T) {
		tok := o.login(t)
		expectError(t, o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(cred.ID, [][]byte{randomDigest()}, a)),
			http.StatusBadRequest, "invalid_request", descMissingSAD)
	})
	t.Run("wrong_code_verifier_is_invalid_grant", func(t *testing.T) {
		req := o.credentialRequest(cred, [][]byte{randomDigest()})
		code := o.approve(t, req.q, req.state, true)
		expectError(t, o.exchange(t, code, newPKCE().verifier, nil), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("other_redirect_uri_is_invalid_grant", func(t *testing.T) {
		req := o.request("service")
		code := o.approve(t, req.q, req.state, false)
		u, _ := url.Parse(o.oc.RedirectURI)
		u.Path = strings.TrimSuffix(u.Path, "/") + "/other"
		expectError(t, o.exchange(t, code, req.pkce.verifier, url.Values{"redirect_uri": {u.String()}}), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("revoked_credential_token", func(t *testing.T) {
		h := randomDigest()
		req := o.credentialRequest(cred, [][]byte{h})
		code := o.approve(t, req.q, req.state, true)
		tok := credentialToken(t, o.exchange(t, code, req.pkce.verifier, nil), cred)
		if tok == "" {
			return
		}
		r := o.form(t, o.revokeEP, url.Values{"token": {tok}}, o.clientBasic())
		if r.status != http.StatusNoContent {
			t.Fatalf("revoking the credential token: want 204: %v", r)
		}
		expectError(t, o.post(t, "signatures/signHash", bearer(tok), o.signBodyNoSAD(cred.ID, [][]byte{h}, a)),
			http.StatusUnauthorized, "invalid_token")
	})
}

// testPAR: RFC 9126 pushed authorization; the request_uri works once.
func (o *oauthSuite) testPAR(t *testing.T) {
	cred := o.primary
	h := digestWithSpecialChars()
	req := o.credentialRequest(cred, [][]byte{h})
	r := o.form(t, o.parEP, req.q, o.clientBasic())
	if r.status != http.StatusCreated {
		t.Fatalf("pushed_authorize: want 201 (RFC 9126 §2.2): %v", r)
	}
	if r.obj == nil || !isJSON(r.header) {
		t.Fatalf("pushed_authorize: want a JSON object: %v", r)
	}
	uri, _ := getString(r.obj, "request_uri")
	if uri == "" {
		t.Fatalf("pushed_authorize: no request_uri: %v", r)
	}
	if n, ok := getInt(r.obj, "expires_in"); !ok || n <= 0 {
		t.Errorf("pushed_authorize: expires_in %v, want a positive integer: %v", r.obj["expires_in"], r)
	}
	byRef := url.Values{"client_id": {o.oc.ID}, "request_uri": {uri}}
	if o.target.Approve == nil {
		t.Skip("Target.Approve is not set: the signer's approval cannot be driven")
	}
	code := o.approve(t, byRef, req.state, true)
	var tok string
	if !t.Run("token", func(t *testing.T) {
		tok = credentialToken(t, o.exchange(t, code, req.pkce.verifier, nil), cred)
	}) || tok == "" {
		return
	}
	o.signedWithToken(t, tok, cred, o.fullInfo(t, o.login(t), cred), [][]byte{h})
	t.Run("request_uri_is_single_use", func(t *testing.T) {
		r := o.get(t, o.authorizeURL(byRef))
		switch r.status {
		case http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect:
			loc, err := url.Parse(r.header.Get("Location"))
			if err != nil {
				t.Fatalf("bad Location: %v", r)
			}
			if e := loc.Query().Get("error"); e != "invalid_request_uri" {
				t.Errorf("a spent request_uri redirected with error=%q, want invalid_request_uri: %s", e, loc.Redacted())
			}
			if loc.Query().Has("code") {
				t.Errorf("a spent request_uri gave a code: %s", loc.Redacted())
			}
		case http.StatusBadRequest:
			expectError(t, r, http.StatusBadRequest, "")
		default:
			if strings.Contains(strings.ToLower(string(r.body)), "password") {
				t.Errorf("a spent request_uri shows a login page: %v", r)
			} else {
				t.Errorf("a spent request_uri: want 400 with an error, or a redirect with error=invalid_request_uri: %v", r)
			}
		}
	})
}

// testAuthorizationDetails: RFC 9396 authorization_details of type
// credential, which the token request must repeat and the token response
// echoes with the credential (CSC v2 §8.4.2, §8.4.4).
func (o *oauthSuite) testAuthorizationDetails(t *testing.T) {
	if o.target.Approve == nil {
		t.Skip("Target.Approve is not set: the signer's approval cannot be driven")
	}
	cred := o.primary
	h := digestWithSpecialChars()
	details, _ := json.Marshal([]map[string]any{{
		"type": "credential", "credentialID": cred.ID, "hashAlgorithmOID": oidSHA256,
		"documentDigests": []map[string]any{{"hash": b64(h), "label": "Contract"}},
	}})
	req := o.request("")
	req.q.Set("authorization_details", string(details))
	code := o.approve(t, req.q, req.state, true)
	t.Run("token_without_authorization_details_is_refused", func(t *testing.T) {
		expectError(t, o.exchange(t, code, req.pkce.verifier, nil), http.StatusBadRequest, "invalid_request")
	})
	withDetails := url.Values{"authorization_details": {string(details)}}
	r := o.exchange(t, code, req.pkce.verifier, withDetails)
	if r.status == http.StatusBadRequest && r.errorCode() == "invalid_grant" {
		t.Logf("the refused token request spent the code; approving again")
		req.pkce, req.state = newPKCE(), "st-"+randomToken()[:20]
		req.q.Set("code_challenge", req.pkce.challenge)
		req.q.Set("state", req.state)
		code = o.approve(t, req.q, req.state, true)
		r = o.exchange(t, code, req.pkce.verifier, withDetails)
	}
	var tok string
	var m map[string]any
	if !t.Run("token", func(t *testing.T) {
		tok = credentialToken(t, r, cred)
		m = r.obj
	}) || tok == "" {
		return
	}
	t.Run("authorization_details_echoed", func(t *testing.T) {
		arr, ok := getArray(m, "authorization_details")
		if !ok || len(arr) != 1 {
			t.Fatalf("authorization_details %v, want the one approved entry", m["authorization_details"])
		}
		e, ok := arr[0].(map[string]any)
		if !ok {
			t.Fatalf("authorization_details[0] is not an object: %v", arr[0])
		}
		if typ, _ := getString(e, "type"); typ != "credential" {
			t.Errorf("authorization_details[0].type %v, want credential", e["type"])
		}
		if id, _ := getString(e, "credentialID"); id != cred.ID {
			t.Errorf("authorization_details[0].credentialID %v, want %s", e["credentialID"], cred.ID)
		}
	})
	o.signedWithToken(t, tok, cred, o.fullInfo(t, o.login(t), cred), [][]byte{h})
}

// testRefreshRotation: the code flow with scope service gives a refresh
// token; each refresh rotates it, and reuse of a spent one revokes the
// whole family (RFC 9700 §4.14.2).
func (o *oauthSuite) testRefreshRotation(t *testing.T) {
	req := o.request("service")
	code := o.approve(t, req.q, req.state, false)
	m := expectToken(t, o.exchange(t, code, req.pkce.verifier, nil))
	at, _ := getString(m, "access_token")
	rt, _ := getString(m, "refresh_token")
	if rt == "" {
		t.Fatalf("the code flow with scope service gave no refresh_token: %v", m)
	}
	t.Run("access_token_lists_our_credentials", func(t *testing.T) {
		o.expectListed(t, expectOK(t, o.post(t, "credentials/list", bearer(at), map[string]any{})))
	})
	refresh := func(t testing.TB, tok string) *response {
		return o.form(t, o.tokenEP, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}, o.clientBasic())
	}
	var at2, rt2 string
	if !t.Run("refresh", func(t *testing.T) {
		m := expectToken(t, refresh(t, rt))
		at2, _ = getString(m, "access_token")
		rt2, _ = getString(m, "refresh_token")
		if rt2 == "" || rt2 == rt {
			t.Errorf("refresh_token %q: want a new one (rotation)", rt2)
		}
		if at2 == at {
			t.Errorf("the refresh gave the same access token")
		}
		o.expectListed(t, expectOK(t, o.post(t, "credentials/list", bearer(at2), map[string]any{})))
	}) || rt2 == "" || rt2 == rt {
		return
	}
	t.Run("spent_refresh_token_is_invalid_grant", func(t *testing.T) {
		expectError(t, refresh(t, rt), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("reuse_revoked_the_new_refresh_token", func(t *testing.T) {
		expectError(t, refresh(t, rt2), http.StatusBadRequest, "invalid_grant")
	})
}

// testDeny: a refusal reaches the client as error=access_denied with the
// state (RFC 6749 §4.1.2.1).
func (o *oauthSuite) testDeny(t *testing.T) {
	if o.target.Deny == nil {
		t.Skip("Target.Deny is not set: the signer's refusal cannot be driven")
	}
	req := o.credentialRequest(o.primary, [][]byte{randomDigest()})
	loc := o.target.Deny(t, o.authorizeURL(req.q))
	if loc == nil {
		t.Fatalf("Deny returned no redirect")
	}
	o.checkRedirectTarget(t, loc)
	q := loc.Query()
	if e := q.Get("error"); e != "access_denied" {
		t.Errorf("error=%q, want access_denied: %s", e, loc.Redacted())
	}
	if q.Has("code") {
		t.Errorf("a denied request gave a code: %s", loc.Redacted())
	}
	if s := q.Get("state"); s != req.state {
		t.Errorf("state %q, want %q", s, req.state)
	}
}
