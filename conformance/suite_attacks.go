package conformance

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// testOtherUser: nothing of another user is visible or usable.
func (vs *vsuite) testOtherUser(t *testing.T) {
	o := vs.other
	tok := vs.login(t)
	otok, _ := vs.loginAs(t, *o, false)
	theirs := o.Credentials[0]
	noneOf := func(t *testing.T, m map[string]any, creds []Credential, whose string) {
		t.Helper()
		ids, _ := getStrings(m, "credentialIDs")
		for _, c := range creds {
			if slices.Contains(ids, c.ID) {
				t.Errorf("%s credential %s is listed: %v", whose, c.ID, ids)
			}
		}
		infos, _ := getArray(m, "credentialInfos")
		for _, x := range infos {
			info, _ := x.(map[string]any)
			id, _ := getString(info, "credentialID")
			if slices.ContainsFunc(creds, func(c Credential) bool { return c.ID == id }) {
				t.Errorf("%s credential %s is in credentialInfos", whose, id)
			}
		}
	}
	listBody := map[string]any{}
	if !vs.v.v1() {
		listBody = map[string]any{"credentialInfo": true}
	}
	t.Run("our_list_hides_their_credentials", func(t *testing.T) {
		noneOf(t, expectOK(t, vs.post(t, "credentials/list", bearer(tok), listBody)), o.Credentials, "the other user's")
	})
	t.Run("their_list_hides_our_credentials", func(t *testing.T) {
		m := expectOK(t, vs.post(t, "credentials/list", bearer(otok), listBody))
		noneOf(t, m, vs.target.Credentials, "our")
		ids, _ := getStrings(m, "credentialIDs")
		if !slices.Contains(ids, theirs.ID) {
			t.Errorf("the other user's own credential %s is not in their list %v (is OtherUser right?)", theirs.ID, ids)
		}
	})
	t.Run("credentials_info_refuses_their_credential", func(t *testing.T) {
		expectError(t, vs.post(t, "credentials/info", bearer(tok), map[string]any{"credentialID": theirs.ID}),
			http.StatusBadRequest, "invalid_request", descInvalidCredentialID)
	})
	t.Run("authorize_refuses_their_credential", func(t *testing.T) {
		vs.beforeFailure(t)
		r := vs.authorize(t, tok, vs.authorizeBody(theirs.ID, 1, b64s(randomDigests(1)), vs.me.PIN, vs.me.otp.wrong()))
		expectError(t, r, http.StatusBadRequest, "invalid_request", descInvalidCredentialID)
	})
	t.Run("revoke_refuses_their_token", func(t *testing.T) {
		expectError(t, vs.post(t, "auth/revoke", bearer(tok), map[string]any{"token": otok}),
			http.StatusBadRequest, "invalid_request", "Invalid string parameter token")
		expectOK(t, vs.post(t, "credentials/list", bearer(otok), map[string]any{}))
	})
}

// wait moves the server's clock by d, or sleeps d when allowed; it skips
// the test otherwise.
func (vs *vsuite) wait(t *testing.T, d time.Duration) {
	t.Helper()
	if vs.target.Advance != nil {
		vs.target.Advance(d)
		return
	}
	if d > vs.maxWait {
		t.Skipf("needs a real-time wait of %v, more than MaxWait (%v); set Target.Advance or a larger MaxWait", d, vs.maxWait)
	}
	t.Logf("waiting %v", d)
	time.Sleep(d)
}

// testSADExpiry: an expired SAD can neither sign nor be extended.
func (vs *vsuite) testSADExpiry(t *testing.T) {
	const slack = 5 * time.Second
	lifetime := vs.target.SADLifetime
	if vs.target.Advance == nil {
		if lifetime == 0 {
			t.Skip("the SAD lifetime is unknown: set Target.SADLifetime (with a MaxWait that covers it) or Target.Advance")
		}
		if lifetime+slack > vs.maxWait {
			t.Skipf("a SAD lives %v, more than MaxWait (%v) allows waiting", lifetime, vs.maxWait)
		}
	}
	tok := vs.login(t)
	cred := vs.primary
	ci := vs.fullInfo(t, tok, cred)
	if ci.multisign < 2 {
		t.Skipf("%s has multisign %d; the test needs 2", cred.ID, ci.multisign)
	}
	a := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	h1, h2 := randomDigest(), randomDigest()
	sad := vs.authorizeOK(t, tok, cred.ID, 2, b64s([][]byte{h1, h2}))
	if lifetime != 0 && sad.expiresIn != 0 && (sad.expiresIn-lifetime > 2*time.Second || lifetime-sad.expiresIn > 2*time.Second) {
		t.Logf("note: the SAD's expiresIn is %v but Target.SADLifetime is %v; waiting for the longer", sad.expiresIn, lifetime)
	}
	if !t.Run("signHash_before_expiry", func(t *testing.T) {
		expectSignatures(t, vs.post(t, "signatures/signHash", bearer(tok), vs.signBody(cred.ID, sad.sad, []string{b64(h1)}, a)), ci, a, [][]byte{h1})
	}) {
		return
	}
	d := max(lifetime, sad.expiresIn)
	if d == 0 {
		d = defaultSADLifetime
	}
	vs.wait(t, d+slack)
	tok = vs.login(t) // the access token may have expired too
	t.Run("signHash_after_expiry", func(t *testing.T) {
		expectError(t, vs.post(t, "signatures/signHash", bearer(tok), vs.signBody(cred.ID, sad.sad, []string{b64(h2)}, a)),
			http.StatusBadRequest, "invalid_request", descSADExpired, descInvalidSAD)
	})
	t.Run("extendTransaction_after_expiry", func(t *testing.T) {
		expectError(t, vs.post(t, "credentials/extendTransaction", bearer(tok), vs.extendBody(cred.ID, sad.sad, nil)),
			http.StatusBadRequest, "invalid_request", descSADExpired, descInvalidSAD)
	})
}

// testAccessTokenExpiry: an access token past its expires_in gets 401
// expired_token.
func (vs *vsuite) testAccessTokenExpiry(t *testing.T) {
	m := expectOK(t, vs.post(t, "auth/login", basic(vs.me.Username, vs.me.Password), nil))
	tok, _ := getString(m, "access_token")
	n, ok := getInt(m, "expires_in")
	if !ok || n <= 0 {
		t.Fatalf("expires_in %v, want a positive integer", m["expires_in"])
	}
	vs.wait(t, time.Duration(n)*time.Second+5*time.Second)
	expectError(t, vs.post(t, "credentials/list", bearer(tok), map[string]any{}), http.StatusUnauthorized, "expired_token", descExpiredToken)
}
