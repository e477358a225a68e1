package api_test

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/store"
)

// TestOAuthClientCredentials: an SCA registered as an OAuth client gets a
// service token by client_credentials, names the user in credentials/list,
// and signs for that user only with the user's own PIN and TOTP. The token
// is revocable, and the grant gives scope service only.
func TestOAuthClientCredentials(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		const clientID, clientSecret = "sca-1", "s3cret-of-the-sca-with-entropy"
		hash, err := bcrypt.GenerateFromPassword([]byte(clientSecret), 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: clientID, Name: "Test SCA", SecretHash: hash,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"service"}}); err != nil {
			t.Fatal(err)
		}
		form := func(path string, v url.Values, user, pass string) (int, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			status, out, _ := e.do(t, req)
			return status, out
		}

		status, out := form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, clientID, "wrong")
		if status != 401 || out["error"] != "invalid_client" {
			t.Fatalf("wrong client secret: %d %v", status, out)
		}
		status, out = form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"credential"}}, clientID, clientSecret)
		if status != 400 || out["error"] != "invalid_scope" {
			t.Fatalf("client_credentials with scope credential: %d %v", status, out)
		}
		// client_secret_post works too; no scope means service.
		status, out = form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}}, "", "")
		if status != 200 || out["scope"] != "service" || !strings.HasPrefix(out["access_token"].(string), "ory_at_") || out["refresh_token"] != nil {
			t.Fatalf("client_credentials: %d %v", status, out)
		}
		token := out["access_token"].(string)

		_, info, _ := e.call(t, "/csc/v2/info", "", nil)
		if info["oauth2"] != e.srv.URL || !strings.Contains(strings.Join(toStrings(info["authType"]), ","), "oauth2client") {
			t.Fatalf("info does not advertise the authorization server: %v", info)
		}
		resp, err := e.client.Get(e.srv.URL + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("metadata: %d", resp.StatusCode)
		}

		// A client token names no user: credentials/list needs userID.
		status, out, _ = e.call(t, "/csc/v2/credentials/list", token, map[string]any{})
		wantError(t, status, out, 400, "invalid_request", "Missing (or invalid type) string parameter userID")
		status, out, _ = e.call(t, "/csc/v2/credentials/list", token, map[string]any{"userID": "nobody"})
		wantError(t, status, out, 400, "invalid_request", "Invalid parameter userID")
		status, out, _ = e.call(t, "/csc/v1/credentials/list", token, map[string]any{"userID": "alice"})
		if status != 200 || len(toStrings(out["credentialIDs"])) != len(e.alice.Credentials) {
			t.Fatalf("list for alice: %d %v", status, out)
		}

		// Signing for alice needs alice's factors; bob's PIN does not do.
		cred := e.alice.Credentials[0]
		status, out, _ = e.call(t, "/csc/v2/credentials/info", token, map[string]any{"credentialID": cred.ID})
		if status != 200 {
			t.Fatalf("info: %d %v", status, out)
		}
		der, _ := base64.StdEncoding.DecodeString(toStrings(out["cert"].(map[string]any)["certificates"])[0])
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		h := digest("signed through an OAuth client")
		authz := func(pin string) (int, map[string]any) {
			e.clock.Advance(30 * time.Second)
			status, out, _ := e.call(t, "/csc/v2/credentials/authorize", token, map[string]any{"credentialID": cred.ID, "numSignatures": 1,
				"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
				"authData": []map[string]string{{"id": "PIN", "value": pin}, {"id": "OTP", "value": e.totp(e.alice, 0)}}})
			return status, out
		}
		status, out = authz(e.bob.PIN)
		wantError(t, status, out, 400, "invalid_authentication_data", "The authentication data is invalid")
		status, out = authz(e.alice.PIN)
		if status != 200 {
			t.Fatalf("authorize: %d %v", status, out)
		}
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", token, map[string]any{"credentialID": cred.ID, "SAD": out["SAD"],
			"hashes": []string{b64(h)}, "signAlgo": "1.2.840.113549.1.1.11"})
		if status != 200 {
			t.Fatalf("signHash: %d %v", status, out)
		}
		sig, _ := base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
		verify(t, leaf.PublicKey, h, sig)

		// RFC 7009: revoked, the token no longer opens the API.
		status, _ = form("/oauth2/revoke", url.Values{"token": {token}}, clientID, clientSecret)
		if status != 204 {
			t.Fatalf("revoke: %d", status)
		}
		status, out, _ = e.call(t, "/csc/v2/credentials/list", token, map[string]any{"userID": "alice"})
		wantError(t, status, out, 401, "invalid_token", "The access token is not valid")
	})
}
