package conformance

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// requiredMethods are the CSC methods the suite exercises; info.methods must
// list them.
var requiredMethods = []string{
	"auth/login", "auth/revoke", "credentials/list", "credentials/info",
	"credentials/authorize", "credentials/extendTransaction", "signatures/signHash",
}

const (
	descInvalidToken    = "The access token is not valid"
	descMalformedHeader = "Malformed authorization header"
	descExpiredToken    = "The access token has expired"
	descMalformedAuth   = "Malformed authentication parameter."
	descMalformedUP     = "Malformed username-password."
	descAuthError       = "An error occurred during authentication process"
	descBadRefresh      = "Invalid refresh_token"
)

// testInfo: info answers POST (with or without a body) and GET without
// authentication, with the required members.
func (vs *vsuite) testInfo(t *testing.T) {
	cases := []struct {
		name   string
		method string
		body   any
	}{
		{"POST_empty_object", http.MethodPost, map[string]any{}},
		{"POST_without_body", http.MethodPost, nil},
		{"POST_with_lang", http.MethodPost, map[string]any{"lang": "en"}},
		{"POST_with_null_lang", http.MethodPost, map[string]any{"lang": nil}},
		{"GET", http.MethodGet, nil},
	}
	var methods []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := expectOK(t, vs.do(t, call{method: c.method, path: vs.path("info"), body: c.body}))
			methods = vs.checkInfo(t, m)
		})
	}
	t.Run("listed_methods_are_served", func(t *testing.T) {
		if methods == nil {
			t.Skip("no methods list")
		}
		for _, m := range methods {
			if m == "info" || strings.HasPrefix(m, "oauth2/") {
				continue
			}
			r := vs.post(t, m, "", map[string]any{})
			switch r.status {
			case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
				t.Errorf("info lists %q but POST %s answers %d", m, vs.path(m), r.status)
			}
		}
	})
}

// checkInfo checks an info response and returns its methods.
func (vs *vsuite) checkInfo(t testing.TB, m map[string]any) []string {
	t.Helper()
	if s, _ := getString(m, "specs"); s != vs.v.specs {
		t.Errorf("specs %v, want %q", m["specs"], vs.v.specs)
	}
	for _, k := range []string{"name", "logo", "region", "lang", "description"} {
		if s, ok := getString(m, k); !ok || s == "" {
			t.Errorf("info.%s must be a non-empty string, got %v", k, m[k])
		}
	}
	authType, ok := getStrings(m, "authType")
	if !ok || !slices.Contains(authType, "basic") {
		t.Errorf("authType %v must be an array of strings containing \"basic\"", m["authType"])
	}
	methods, ok := getStrings(m, "methods")
	if !ok {
		t.Errorf("methods %v must be an array of strings", m["methods"])
	}
	for _, want := range requiredMethods {
		if !slices.Contains(methods, want) {
			t.Errorf("methods %v lacks %q", methods, want)
		}
	}
	oauth := slices.ContainsFunc(authType, func(s string) bool { return strings.HasPrefix(s, "oauth2") })
	_, hasOAuth2 := m["oauth2"]
	_, hasIssuer := m["oauth2Issuer"]
	switch {
	case vs.v.v1() && hasIssuer:
		t.Errorf("v1 info has the v2 member oauth2Issuer")
	case oauth && hasOAuth2 == hasIssuer:
		t.Errorf("authType %v has oauth2*: want exactly one of oauth2 and oauth2Issuer", authType)
	case !oauth && (hasOAuth2 || hasIssuer):
		t.Errorf("oauth2/oauth2Issuer present but authType %v has no oauth2* entry", authType)
	}
	v2Only := []string{"signAlgorithms", "signature_formats", "conformance_levels", "asynchronousOperationMode", "validationInfo"}
	if vs.v.v1() {
		for _, k := range v2Only {
			if _, present := m[k]; present {
				t.Errorf("v1 info has the v2 member %s", k)
			}
		}
		return methods
	}
	sa, ok := getObject(m, "signAlgorithms")
	if !ok {
		t.Errorf("no signAlgorithms object")
	} else if algos, ok := getStrings(sa, "algos"); !ok || len(algos) == 0 {
		t.Errorf("signAlgorithms.algos must be a non-empty array of OIDs, got %v", sa["algos"])
	} else {
		for _, c := range vs.target.Credentials {
			for _, want := range requiredAlgos(keyAlgorithms[c.KeyAlgorithm]) {
				if !slices.Contains(algos, want) {
					t.Errorf("signAlgorithms.algos %v lacks %s (used by %s)", algos, want, c.ID)
				}
			}
		}
	}
	if sf, ok := getObject(m, "signature_formats"); !ok {
		t.Errorf("no signature_formats object")
	} else if _, ok := getArray(sf, "formats"); !ok {
		t.Errorf("signature_formats.formats must be an array, got %v", sf["formats"])
	}
	if _, ok := getArray(m, "conformance_levels"); !ok {
		t.Errorf("conformance_levels must be an array, got %v", m["conformance_levels"])
	}
	for _, k := range []string{"asynchronousOperationMode", "validationInfo"} {
		if v, present := m[k]; present {
			if b, ok := v.(bool); !ok || b {
				t.Errorf("%s %v, want false", k, v)
			}
		}
	}
	return methods
}

// testRouting: unknown methods, wrong HTTP methods and oversized bodies get
// the contract's JSON errors.
func (vs *vsuite) testRouting(t *testing.T) {
	t.Run("unknown_method_is_404", func(t *testing.T) {
		for _, p := range []string{vs.path("credentials/doesNotExist"), vs.path("nope"), "/csc/v9/info"} {
			r := vs.do(t, call{path: p, body: map[string]any{}})
			expectError(t, r, http.StatusNotFound, "invalid_request", "Unknown method")
		}
	})
	t.Run("wrong_http_method_is_405", func(t *testing.T) {
		for _, c := range []call{
			{method: http.MethodGet, path: vs.path("credentials/list")},
			{method: http.MethodGet, path: vs.path("signatures/signHash")},
			{method: http.MethodPut, path: vs.path("info"), body: map[string]any{}},
		} {
			if r := vs.do(t, c); r.status != http.StatusMethodNotAllowed {
				t.Errorf("want 405: %v", r)
			}
		}
	})
	t.Run("body_over_1MiB_is_413", func(t *testing.T) {
		big := `{"lang":"en","clientData":"` + strings.Repeat("a", 1<<20+1024) + `"}`
		r := vs.do(t, call{path: vs.path("info"), body: big})
		expectError(t, r, http.StatusRequestEntityTooLarge, "invalid_request", "Request body too large")
	})
	t.Run("unknown_members_are_ignored", func(t *testing.T) {
		expectOK(t, vs.do(t, call{path: vs.path("info"), body: map[string]any{"lang": "en", "x-unknown": []any{1, "two"}}}))
	})
}

// testServiceToken: every method behind the service token refuses a
// missing, unknown or non-Bearer authorization with 401 invalid_token.
func (vs *vsuite) testServiceToken(t *testing.T) {
	cred := vs.primary.ID
	bodies := map[string]map[string]any{
		"auth/revoke":                   {"token": randomToken()},
		"credentials/list":              {},
		"credentials/info":              {"credentialID": cred},
		"credentials/authorize":         vs.authorizeBody(cred, 1, b64s(randomDigests(1)), vs.me.PIN, vs.me.otp.wrong()),
		"credentials/extendTransaction": vs.extendBody(cred, randomToken(), nil),
		"signatures/signHash": vs.signBody(cred, randomToken(), b64s(randomDigests(1)),
			signAlgo{oid: oidSHA256WithRSA}),
	}
	auths := []struct {
		name, header string
		malformed    bool // not a Bearer header at all
	}{
		{"no_Authorization", "", false},
		{"unknown_bearer_token", bearer(randomToken()), false},
		{"empty_bearer_token", "Bearer ", true},
		{"Basic_instead_of_Bearer", basic(vs.me.Username, vs.me.Password), true},
	}
	for _, method := range requiredMethods[1:] {
		t.Run(strings.ReplaceAll(method, "/", "_"), func(t *testing.T) {
			for _, a := range auths {
				r := vs.post(t, method, a.header, bodies[method])
				var ok bool
				if a.malformed && r.status == http.StatusBadRequest {
					// The contract names only missing, unknown and revoked
					// tokens; the CSC tables answer a malformed header with
					// 400 "Malformed authorization header". Both are accepted.
					ok = expectError(t, r, http.StatusBadRequest, "invalid_request", descMalformedHeader)
				} else {
					ok = expectError(t, r, http.StatusUnauthorized, "invalid_token", descInvalidToken)
				}
				if !ok {
					t.Logf("(with %s)", a.name)
				}
			}
		})
	}
}

// testLogin: auth/login with Basic, rememberMe, refresh token rotation and
// reuse detection, and the login errors.
func (vs *vsuite) testLogin(t *testing.T) {
	me := vs.me.Account
	t.Run("basic", func(t *testing.T) {
		m := expectOK(t, vs.post(t, "auth/login", basic(me.Username, me.Password), nil))
		tok, _ := getString(m, "access_token")
		if tok == "" {
			t.Fatalf("no access_token: %v", m)
		}
		if n, ok := getInt(m, "expires_in"); !ok || n <= 0 {
			t.Errorf("expires_in %v, want a positive integer", m["expires_in"])
		}
		if _, present := m["refresh_token"]; present {
			t.Errorf("refresh_token returned without rememberMe")
		}
		expectOK(t, vs.post(t, "credentials/list", bearer(tok), map[string]any{}))
	})
	t.Run("null_members_are_absent", func(t *testing.T) {
		m := expectOK(t, vs.post(t, "auth/login", basic(me.Username, me.Password),
			map[string]any{"rememberMe": nil, "clientData": nil, "refresh_token": nil}))
		if _, present := m["refresh_token"]; present {
			t.Errorf("refresh_token returned with rememberMe null")
		}
	})
	t.Run("rememberMe_false", func(t *testing.T) {
		m := expectOK(t, vs.post(t, "auth/login", basic(me.Username, me.Password), map[string]any{"rememberMe": false, "clientData": "conformance"}))
		if _, present := m["refresh_token"]; present {
			t.Errorf("refresh_token returned with rememberMe false")
		}
	})
	t.Run("refresh_token", func(t *testing.T) {
		a1, r1 := vs.loginAs(t, me, true)
		var a2, r2 string
		if !t.Run("exchange_rotates_tokens", func(t *testing.T) {
			m := expectOK(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r1}))
			a2, _ = getString(m, "access_token")
			r2, _ = getString(m, "refresh_token")
			if a2 == "" || r2 == "" {
				t.Fatalf("want a new access_token and refresh_token: %v", m)
			}
			if r2 == r1 || a2 == a1 {
				t.Errorf("tokens did not rotate")
			}
			if n, ok := getInt(m, "expires_in"); !ok || n <= 0 {
				t.Errorf("expires_in %v, want a positive integer", m["expires_in"])
			}
			expectOK(t, vs.post(t, "credentials/list", bearer(a2), map[string]any{}))
		}) {
			return
		}
		t.Run("spent_refresh_token_is_refused", func(t *testing.T) {
			expectError(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r1}),
				http.StatusBadRequest, "invalid_request", descBadRefresh)
		})
		t.Run("reuse_revoked_the_whole_login", func(t *testing.T) {
			for name, tok := range map[string]string{"first access token": a1, "rotated access token": a2} {
				if !expectError(t, vs.post(t, "credentials/list", bearer(tok), map[string]any{}),
					http.StatusUnauthorized, "invalid_token", descInvalidToken) {
					t.Logf("(the %s)", name)
				}
			}
			expectError(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r2}),
				http.StatusBadRequest, "invalid_request", descBadRefresh)
		})
	})
	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name   string
			auth   string
			body   any
			status int
			code   string
			descs  []string
		}{
			{"no_Authorization_no_body", "", nil, 401, "invalid_request", []string{descMalformedAuth}},
			{"no_Authorization_empty_object", "", map[string]any{}, 401, "invalid_request", []string{descMalformedAuth}},
			{"Bearer_scheme", bearer(randomToken()), nil, 401, "invalid_request", []string{descMalformedAuth}},
			{"Basic_without_colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(me.Username)), nil, 400, "invalid_request", []string{descMalformedUP}},
			{"wrong_password", basic(me.Username, me.Password+"-wrong"), nil, 400, "authentication_error", []string{descAuthError}},
			{"unknown_user", basic("no-such-user-"+randomToken()[:8], "x"), nil, 400, "authentication_error", []string{descAuthError}},
			{"refresh_token_not_a_string", "", map[string]any{"refresh_token": 12}, 400, "invalid_request", []string{"Invalid string parameter: refresh_token"}},
			{"refresh_token_unknown", "", map[string]any{"refresh_token": randomToken()}, 400, "invalid_request", []string{descBadRefresh}},
			{"access_token_as_refresh_token", "", map[string]any{"refresh_token": vs.login(t)}, 400, "invalid_request", []string{descBadRefresh}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectError(t, vs.post(t, "auth/login", c.auth, c.body), c.status, c.code, c.descs...)
			})
		}
		t.Run("Basic_not_base64", func(t *testing.T) {
			// Either reading is defensible: the header is not "Basic
			// base64", or what it carries is not user:pass.
			r := vs.post(t, "auth/login", "Basic !!!not-base64!!!", nil)
			if r.status == http.StatusUnauthorized {
				expectError(t, r, 401, "invalid_request", descMalformedAuth)
			} else {
				expectError(t, r, 400, "invalid_request", descMalformedUP)
			}
		})
	})
}

// testRevoke: auth/revoke of access and refresh tokens and its errors.
func (vs *vsuite) testRevoke(t *testing.T) {
	me := vs.me.Account
	revoke := func(t *testing.T, auth string, body map[string]any) *response {
		t.Helper()
		r := vs.post(t, "auth/revoke", bearer(auth), body)
		if r.status != http.StatusNoContent {
			t.Fatalf("want 204: %v", r)
		}
		if len(strings.TrimSpace(string(r.body))) != 0 {
			t.Errorf("204 with a body: %v", r)
		}
		return r
	}
	listWith := func(t *testing.T, tok string) *response {
		return vs.post(t, "credentials/list", bearer(tok), map[string]any{})
	}
	t.Run("access_token_revokes_itself", func(t *testing.T) {
		a := vs.login(t)
		revoke(t, a, map[string]any{"token": a})
		expectError(t, listWith(t, a), http.StatusUnauthorized, "invalid_token", descInvalidToken)
	})
	t.Run("access_token_with_hint_and_null_clientData", func(t *testing.T) {
		a, b := vs.login(t), vs.login(t)
		revoke(t, a, map[string]any{"token": b, "token_type_hint": "access_token", "clientData": nil})
		expectError(t, listWith(t, b), http.StatusUnauthorized, "invalid_token", descInvalidToken)
		expectOK(t, listWith(t, a))
	})
	t.Run("access_token_keeps_refresh_token", func(t *testing.T) {
		a, r := vs.loginAs(t, me, true)
		revoke(t, a, map[string]any{"token": a, "token_type_hint": "access_token"})
		m := expectOK(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r}))
		a2, _ := getString(m, "access_token")
		expectOK(t, listWith(t, a2))
	})
	t.Run("refresh_token_revokes_the_login", func(t *testing.T) {
		a, r := vs.loginAs(t, me, true)
		revoke(t, a, map[string]any{"token": r, "token_type_hint": "refresh_token"})
		expectError(t, listWith(t, a), http.StatusUnauthorized, "invalid_token", descInvalidToken)
		expectError(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r}),
			http.StatusBadRequest, "invalid_request", descBadRefresh)
	})
	t.Run("refresh_token_without_hint", func(t *testing.T) {
		a, r := vs.loginAs(t, me, true)
		revoke(t, a, map[string]any{"token": r})
		expectError(t, vs.post(t, "auth/login", "", map[string]any{"refresh_token": r}),
			http.StatusBadRequest, "invalid_request", descBadRefresh)
	})
	t.Run("errors", func(t *testing.T) {
		a, victim := vs.login(t), vs.login(t)
		cases := []struct {
			name string
			body any
			desc string
		}{
			{"token_missing", map[string]any{}, "Missing (or invalid type) string parameter token"},
			{"token_null", map[string]any{"token": nil}, "Missing (or invalid type) string parameter token"},
			{"token_not_a_string", map[string]any{"token": 42}, "Missing (or invalid type) string parameter token"},
			{"token_unknown", map[string]any{"token": randomToken()}, "Invalid string parameter token"},
			{"bad_token_type_hint", map[string]any{"token": victim, "token_type_hint": "id_token"}, "Invalid string parameter token_type_hint"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectError(t, vs.post(t, "auth/revoke", bearer(a), c.body), http.StatusBadRequest, "invalid_request", c.desc)
			})
		}
		expectOK(t, listWith(t, a))
	})
}
