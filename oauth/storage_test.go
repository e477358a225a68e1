package oauth_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

const (
	testClientID     = "sca"
	testClientSecret = "sca-secret-for-tests-only"
	testRedirect     = "http://localhost/cb"
)

// authServer is a minimal authorization server on plain net/http around a
// fosite provider that uses oauth.Storage; it approves every authorization
// request for the signer "ada", copying the CSC parameters into the session.
type authServer struct {
	t      *testing.T
	db     *store.Store
	srv    *httptest.Server
	offset atomic.Int64 // added to the storage's clock, in nanoseconds
	client *http.Client
}

func newAuthServer(t *testing.T, db *store.Store) *authServer {
	t.Helper()
	a := &authServer{t: t, db: db}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	cfg := &fosite.Config{
		GlobalSecret:                   secret,
		AccessTokenLifespan:            time.Hour,
		AuthorizeCodeLifespan:          5 * time.Minute,
		RefreshTokenLifespan:           24 * time.Hour,
		EnforcePKCE:                    true,
		RefreshTokenScopes:             []string{"service"},
		PushedAuthorizeContextLifespan: 90 * time.Second,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		MinParameterEntropy:            1,
		HashCost:                       4,
	}
	hash, err := (&fosite.BCrypt{Config: cfg}).Hash(ctx, []byte(testClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOAuthClient(ctx, &store.OAuthClient{ID: testClientID, Name: "Test SCA", SecretHash: hash,
		RedirectURIs: []string{testRedirect}, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
	st := oauth.NewStorage(db, func() time.Time { return time.Now().Add(time.Duration(a.offset.Load())) })
	p := compose.Compose(cfg, st, compose.NewOAuth2HMACStrategy(cfg),
		compose.OAuth2AuthorizeExplicitFactory, compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory, compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory, compose.OAuth2PKCEFactory, compose.PushedAuthorizeHandlerFactory)

	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.NewAuthorizeRequest(ctx, r)
		if err != nil {
			p.WriteAuthorizeError(ctx, w, ar, err)
			return
		}
		f := ar.GetRequestForm()
		s := oauth.NewSession("ada")
		s.CredentialID = f.Get("credentialID")
		s.NumSignatures, _ = strconv.Atoi(f.Get("numSignatures"))
		if h := f.Get("hashes"); h != "" {
			s.Hashes = strings.Split(h, ",")
		}
		s.HashAlgorithmOID = f.Get("hashAlgorithmOID")
		if d := f.Get("authorization_details"); d != "" {
			s.AuthorizationDetails = json.RawMessage(d)
		}
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
		resp, err := p.NewAuthorizeResponse(ctx, ar, s)
		if err != nil {
			p.WriteAuthorizeError(ctx, w, ar, err)
			return
		}
		p.WriteAuthorizeResponse(ctx, w, ar, resp)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.NewAccessRequest(ctx, r, oauth.NewSession(""))
		if err != nil {
			p.WriteAccessError(ctx, w, ar, err)
			return
		}
		if ar.GetGrantTypes().ExactOne("client_credentials") {
			for _, sc := range ar.GetRequestedScopes() {
				ar.GrantScope(sc)
			}
		}
		resp, err := p.NewAccessResponse(ctx, ar)
		if err != nil {
			p.WriteAccessError(ctx, w, ar, err)
			return
		}
		p.WriteAccessResponse(ctx, w, ar, resp)
	})
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := p.NewIntrospectionRequest(ctx, r, oauth.NewSession(""))
		if err != nil {
			p.WriteIntrospectionError(ctx, w, err)
			return
		}
		p.WriteIntrospectionResponse(ctx, w, ir)
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p.WriteRevocationResponse(ctx, w, p.NewRevocationRequest(ctx, r))
	})
	mux.HandleFunc("/par", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.NewPushedAuthorizeRequest(ctx, r)
		if err != nil {
			p.WritePushedAuthorizeError(ctx, w, ar, err)
			return
		}
		resp, err := p.NewPushedAuthorizeResponse(ctx, ar, oauth.NewSession(""))
		if err != nil {
			p.WritePushedAuthorizeError(ctx, w, ar, err)
			return
		}
		p.WritePushedAuthorizeResponse(ctx, w, ar, resp)
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	a.client = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return a
}

type reply struct {
	status   int
	body     map[string]any
	location *url.URL
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (a *authServer) do(req *http.Request) reply {
	a.t.Helper()
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, body: map[string]any{}}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			a.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		out.location, _ = url.Parse(loc)
	}
	return out
}

// post sends a form authenticated with HTTP Basic as the test client.
func (a *authServer) post(path string, form url.Values) reply {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testClientSecret)
	return a.do(req)
}

func (a *authServer) get(path string, q url.Values) reply {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+path+"?"+q.Encode(), nil)
	return a.do(req)
}

func pkcePair(t *testing.T) (verifier, challenge string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// authorize runs an approved authorization request and returns the code.
func (a *authServer) authorize(q url.Values) string {
	a.t.Helper()
	r := a.get("/authorize", q)
	if r.status != http.StatusSeeOther && r.status != http.StatusFound || r.location == nil {
		a.t.Fatalf("authorize: %d %v", r.status, r.body)
	}
	lq := r.location.Query()
	if lq.Get("error") != "" || lq.Get("code") == "" || lq.Get("state") != q.Get("state") {
		a.t.Fatalf("authorize redirect: %s", r.location)
	}
	return lq.Get("code")
}

func authorizeQuery(scope, challenge string, extra url.Values) url.Values {
	q := url.Values{"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {testRedirect},
		"scope": {scope}, "state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

func (a *authServer) exchange(code, verifier string) reply {
	a.t.Helper()
	return a.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}})
}

func (a *authServer) introspect(token string) reply {
	a.t.Helper()
	r := a.post("/introspect", url.Values{"token": {token}})
	if r.status != http.StatusOK {
		a.t.Fatalf("introspect: %d %v", r.status, r.body)
	}
	return r
}

func (a *authServer) mustBeActive(what, token string, want bool) reply {
	a.t.Helper()
	r := a.introspect(token)
	if got, _ := r.body["active"].(bool); got != want {
		a.t.Fatalf("%s: active = %v, want %v (%v)", what, got, want, r.body)
	}
	return r
}

func wantError(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("%s: %d %v, want %d %s", what, r.status, r.body, status, code)
	}
}

func TestFositeFlows(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.Store) {
		a := newAuthServer(t, db)

		t.Run("client_credentials", func(t *testing.T) {
			r := a.post("/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"service"}})
			if r.status != http.StatusOK || r.str("access_token") == "" || r.str("scope") != "service" || r.str("refresh_token") != "" {
				t.Fatalf("client_credentials: %d %v", r.status, r.body)
			}
			in := a.mustBeActive("service token", r.str("access_token"), true)
			if in.str("client_id") != testClientID || in.str("scope") != "service" {
				t.Fatalf("introspection: %v", in.body)
			}
			bad := a.post("/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
			wantError(t, "unregistered scope", bad, http.StatusBadRequest, "invalid_scope")
		})

		t.Run("code_pkce_replay", func(t *testing.T) {
			verifier, challenge := pkcePair(t)
			code := a.authorize(authorizeQuery("credential", challenge, url.Values{"credentialID": {"cred-1"},
				"numSignatures": {"2"}, "hashes": {"aGFzaDE,aGFzaDI"}, "hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}}))
			r := a.exchange(code, verifier)
			if r.status != http.StatusOK || r.str("access_token") == "" || r.str("scope") != "credential" {
				t.Fatalf("code exchange: %d %v", r.status, r.body)
			}
			if r.str("refresh_token") != "" {
				t.Fatal("a credential-scope grant got a refresh token")
			}
			at := r.str("access_token")
			in := a.mustBeActive("credential token", at, true)
			if in.str("sub") != "ada" || in.str("credentialID") != "cred-1" || in.body["numSignatures"] != float64(2) ||
				in.str("hashAlgorithmOID") != "2.16.840.1.101.3.4.2.1" || !slices.Equal(toStrings(in.body["hashes"]), []string{"aGFzaDE", "aGFzaDI"}) {
				t.Fatalf("introspection lacks the session's fields: %v", in.body)
			}
			// Replay: refused, and the token issued from the code dies.
			wantError(t, "code replay", a.exchange(code, verifier), http.StatusBadRequest, "invalid_grant")
			a.mustBeActive("token of a replayed code", at, false)

			// Without PKCE the authorization request is refused; a wrong
			// verifier fails the exchange.
			q := authorizeQuery("credential", challenge, nil)
			q.Del("code_challenge")
			q.Del("code_challenge_method")
			if r := a.get("/authorize", q); r.location == nil || r.location.Query().Get("error") != "invalid_request" {
				t.Fatalf("authorize without PKCE: %d %v %v", r.status, r.location, r.body)
			}
			_, other := pkcePair(t)
			code = a.authorize(authorizeQuery("credential", other, nil))
			wantError(t, "wrong verifier", a.exchange(code, verifier), http.StatusBadRequest, "invalid_grant")
			wantError(t, "unknown code", a.exchange("ory_ac_bogus.bogus", verifier), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("concurrent_code_exchange", func(t *testing.T) {
			verifier, challenge := pkcePair(t)
			code := a.authorize(authorizeQuery("credential", challenge, nil))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
			var ok atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(testClientID, testClientSecret)
					resp, err := a.client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 {
				t.Fatalf("one code gave %d token responses, want 1", ok.Load())
			}
		})

		t.Run("refresh_rotation_reuse", func(t *testing.T) {
			verifier, challenge := pkcePair(t)
			code := a.authorize(authorizeQuery("service", challenge, url.Values{"credentialID": {"cred-s"}, "numSignatures": {"3"}}))
			r := a.exchange(code, verifier)
			if r.status != http.StatusOK || r.str("refresh_token") == "" {
				t.Fatalf("service grant: %d %v", r.status, r.body)
			}
			at1, rt1 := r.str("access_token"), r.str("refresh_token")
			r = a.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
			if r.status != http.StatusOK || r.str("refresh_token") == "" || r.str("refresh_token") == rt1 {
				t.Fatalf("refresh: %d %v", r.status, r.body)
			}
			at2, rt2 := r.str("access_token"), r.str("refresh_token")
			a.mustBeActive("access token before rotation", at1, false)
			in := a.mustBeActive("refreshed access token", at2, true)
			// Session.Clone kept the custom fields across the refresh.
			if in.str("credentialID") != "cred-s" || in.body["numSignatures"] != float64(3) || in.str("sub") != "ada" {
				t.Fatalf("refreshed token lost its session: %v", in.body)
			}
			// Reuse of the rotated token revokes the whole family.
			wantError(t, "reused refresh token", a.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}),
				http.StatusBadRequest, "invalid_grant")
			a.mustBeActive("access token after reuse", at2, false)
			wantError(t, "refresh token of a revoked family", a.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}),
				http.StatusBadRequest, "invalid_grant")
			wantError(t, "unknown refresh token", a.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_x.y"}}),
				http.StatusBadRequest, "invalid_grant")
		})

		t.Run("revoke_refresh", func(t *testing.T) {
			verifier, challenge := pkcePair(t)
			r := a.exchange(a.authorize(authorizeQuery("service", challenge, nil)), verifier)
			at, rt := r.str("access_token"), r.str("refresh_token")
			if r.status != http.StatusOK || rt == "" {
				t.Fatalf("service grant: %d %v", r.status, r.body)
			}
			if r := a.post("/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}); r.status != http.StatusOK {
				t.Fatalf("revoke: %d %v", r.status, r.body)
			}
			a.mustBeActive("access token of a revoked refresh token", at, false)
			wantError(t, "revoked refresh token", a.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}),
				http.StatusBadRequest, "invalid_grant")
			// Revoking again, or an unknown token, is not an error (RFC 7009).
			for _, tok := range []string{rt, "unknown"} {
				if r := a.post("/revoke", url.Values{"token": {tok}}); r.status != http.StatusOK {
					t.Fatalf("revoke %q: %d %v", tok, r.status, r.body)
				}
			}
		})

		t.Run("par", func(t *testing.T) {
			verifier, challenge := pkcePair(t)
			form := authorizeQuery("credential", challenge, url.Values{"credentialID": {"cred-par"}, "numSignatures": {"1"},
				"authorization_details": {`[{"type":"credential","credentialID":"cred-par"}]`}})
			// The client authenticates in the body here, so the secret is in
			// the pushed form: it must not reach the database.
			form.Set("client_secret", testClientSecret)
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/par", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r := a.do(req)
			uri := r.str("request_uri")
			if r.status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || r.body["expires_in"] != float64(90) {
				t.Fatalf("PAR: %d %v", r.status, r.body)
			}
			var rows []store.OAuthRequest
			if err := db.DB().Where("kind = ?", store.OAuthPAR).Find(&rows).Error; err != nil || len(rows) != 1 {
				t.Fatalf("PAR rows: %v %v", rows, err)
			}
			if row := rows[0]; strings.Contains(row.Form, testClientSecret) || strings.Contains(row.Signature, uri) ||
				strings.Contains(row.Form, uri) || row.ExpiresAt == 0 {
				t.Fatalf("PAR row stores a secret, the request_uri, or no expiry: %+v", row)
			}

			q := url.Values{"client_id": {testClientID}, "request_uri": {uri}}
			code := a.authorize(url.Values{"client_id": {testClientID}, "request_uri": {uri}, "state": {"st"}})
			tok := a.exchange(code, verifier)
			if tok.status != http.StatusOK {
				t.Fatalf("exchange of a PAR code: %d %v", tok.status, tok.body)
			}
			in := a.mustBeActive("PAR token", tok.str("access_token"), true)
			if in.str("credentialID") != "cred-par" || in.body["authorization_details"] == nil {
				t.Fatalf("PAR parameters did not reach the session: %v", in.body)
			}
			wantError(t, "second use of a request_uri", a.get("/authorize", q), http.StatusBadRequest, "invalid_request_uri")

			// An expired pushed request is refused.
			r = a.post("/par", authorizeQuery("credential", challenge, nil))
			if r.status != http.StatusCreated {
				t.Fatalf("PAR: %d %v", r.status, r.body)
			}
			a.offset.Store(int64(91 * time.Second))
			defer a.offset.Store(0)
			wantError(t, "expired request_uri", a.get("/authorize", url.Values{"client_id": {testClientID}, "request_uri": {r.str("request_uri")}}),
				http.StatusBadRequest, "invalid_request_uri")
		})
	})
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// The storage contracts fosite relies on, checked without fosite's flows.
func TestStorageContracts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.Store) {
		now := time.Now()
		st := oauth.NewStorage(db, func() time.Time { return now })
		if err := db.CreateOAuthClient(ctx, &store.OAuthClient{ID: "pub", Name: "public", Public: true,
			RedirectURIs: []string{"https://app.test/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			Scopes: []string{"credential"}}); err != nil {
			t.Fatal(err)
		}
		c, err := st.GetClient(ctx, "pub")
		if err != nil || !c.IsPublic() || len(c.GetHashedSecret()) != 0 || !slices.Equal(c.GetRedirectURIs(), []string{"https://app.test/cb"}) ||
			!slices.Equal([]string(c.GetScopes()), []string{"credential"}) {
			t.Fatalf("GetClient = %+v, %v", c, err)
		}
		if _, err := st.GetClient(ctx, "nobody"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("unknown client: %v", err)
		}
		for name, get := range map[string]func() error{
			"code":       func() error { _, err := st.GetAuthorizeCodeSession(ctx, "x", oauth.NewSession("")); return err },
			"access":     func() error { _, err := st.GetAccessTokenSession(ctx, "x", nil); return err },
			"refresh":    func() error { _, err := st.GetRefreshTokenSession(ctx, "x", nil); return err },
			"pkce":       func() error { _, err := st.GetPKCERequestSession(ctx, "x", nil); return err },
			"par":        func() error { _, err := st.GetPARSession(ctx, "x"); return err },
			"invalidate": func() error { return st.InvalidateAuthorizeCodeSession(ctx, "x") },
			"rotate":     func() error { return st.RotateRefreshToken(ctx, "r", "x") },
		} {
			if err := get(); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("%s of an unknown signature: %v, want ErrNotFound", name, err)
			}
		}

		// A stored code: Get decodes into the session argument; after
		// invalidation Get returns the request and ErrInvalidatedAuthorizeCode,
		// and a second invalidation fails.
		s := oauth.NewSession("ada")
		s.CredentialID, s.NumSignatures, s.Hashes = "cred-1", 2, []string{"h1", "h2"}
		s.AuthorizationDetails = json.RawMessage(`[{"type":"credential"}]`)
		s.SetExpiresAt(fosite.AuthorizeCode, now.Add(time.Minute))
		ar := fosite.NewAuthorizeRequest()
		ar.ID = "req-1"
		ar.Client = c
		ar.Session = s
		ar.Form = url.Values{"redirect_uri": {"https://app.test/cb"}, "client_secret": {"leak"}}
		ar.RequestedScope = fosite.Arguments{"credential"}
		ar.GrantScope("credential")
		if err := st.CreateAuthorizeCodeSession(ctx, "code-sig", ar); err != nil {
			t.Fatal(err)
		}
		into := new(oauth.Session)
		got, err := st.GetAuthorizeCodeSession(ctx, "code-sig", into)
		if err != nil || got.GetSession() != fosite.Session(into) || into.CredentialID != "cred-1" || into.Subject != "ada" ||
			got.GetID() != "req-1" || got.GetClient().GetID() != "pub" || !slices.Equal([]string(got.GetGrantedScopes()), []string{"credential"}) ||
			got.GetRequestForm().Get("redirect_uri") != "https://app.test/cb" || got.GetRequestForm().Has("client_secret") {
			t.Fatalf("GetAuthorizeCodeSession = %+v (%+v), %v", got, into, err)
		}
		if err := st.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err != nil {
			t.Fatal(err)
		}
		if err := st.InvalidateAuthorizeCodeSession(ctx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Fatalf("second invalidation: %v", err)
		}
		got, err = st.GetAuthorizeCodeSession(ctx, "code-sig", oauth.NewSession(""))
		if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil || got.GetID() != "req-1" {
			t.Fatalf("invalidated code: %v, %v", got, err)
		}

		// Refresh tokens: rotation spends once; a spent token comes back
		// with ErrInactiveToken and its request.
		s.SetExpiresAt(fosite.RefreshToken, now.Add(time.Hour))
		if err := st.CreateRefreshTokenSession(ctx, "rt-sig", "at-sig", ar); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccessTokenSession(ctx, "at-sig", ar); err != nil {
			t.Fatal(err)
		}
		if err := st.RotateRefreshToken(ctx, "req-1", "rt-sig"); err != nil {
			t.Fatal(err)
		}
		if err := st.RotateRefreshToken(ctx, "req-1", "rt-sig"); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatalf("second rotation: %v", err)
		}
		got, err = st.GetRefreshTokenSession(ctx, "rt-sig", nil)
		if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetSession().(*oauth.Session).CredentialID != "cred-1" {
			t.Fatalf("rotated refresh token: %v, %v", got, err)
		}
		if _, err := st.GetAccessTokenSession(ctx, "at-sig", nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatalf("access token after rotation: %v", err)
		}

		// Client assertion IDs are single use until they expire.
		if err := st.ClientAssertionJWTValid(ctx, "jti-1"); err != nil {
			t.Fatal(err)
		}
		if err := st.SetClientAssertionJWT(ctx, "jti-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.ClientAssertionJWTValid(ctx, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Fatalf("known jti: %v", err)
		}
		if err := st.SetClientAssertionJWT(ctx, "jti-1", now.Add(time.Minute)); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Fatalf("replayed jti: %v", err)
		}
	})
}

func TestSessionClone(t *testing.T) {
	s := oauth.NewSession("ada")
	s.CredentialID, s.NumSignatures, s.HashAlgorithmOID = "c", 2, "1.2.3"
	s.Hashes = []string{"h1"}
	s.AuthorizationDetails = json.RawMessage(`[1]`)
	s.SetExpiresAt(fosite.AccessToken, time.Unix(100, 0))
	c, ok := s.Clone().(*oauth.Session)
	if !ok || c.CredentialID != "c" || c.NumSignatures != 2 || c.HashAlgorithmOID != "1.2.3" || c.Subject != "ada" ||
		!slices.Equal(c.Hashes, s.Hashes) || string(c.AuthorizationDetails) != "[1]" || !c.GetExpiresAt(fosite.AccessToken).Equal(time.Unix(100, 0)) {
		t.Fatalf("Clone = %+v", c)
	}
	c.Hashes[0], c.AuthorizationDetails[0] = "x", 'x'
	c.SetExpiresAt(fosite.AccessToken, time.Unix(200, 0))
	if s.Hashes[0] != "h1" || s.AuthorizationDetails[0] != '[' || !s.GetExpiresAt(fosite.AccessToken).Equal(time.Unix(100, 0)) {
		t.Fatal("Clone shares memory with the original")
	}
	if (*oauth.Session)(nil).Clone() != nil {
		t.Fatal("Clone of nil")
	}
}
