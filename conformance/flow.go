package conformance

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// vsuite runs the tests of one API version.
type vsuite struct {
	*suite
	v version
}

func (vs *vsuite) run(t *testing.T) {
	t.Run("info", vs.testInfo)
	t.Run("routing", vs.testRouting)
	t.Run("service_token", vs.testServiceToken)
	t.Run("login", vs.testLogin)
	t.Run("revoke", vs.testRevoke)
	t.Run("credentials_list", vs.testList)
	t.Run("credentials_info", vs.testCredentialInfo)
	for _, c := range vs.target.Credentials {
		t.Run("sign_"+c.KeyAlgorithm, func(t *testing.T) { vs.testSign(t, c) })
	}
	t.Run("authorize_errors", vs.testAuthorizeErrors)
	t.Run("scal2", vs.testSCAL2)
	t.Run("sms", vs.testSMS)
	t.Run("timestamp", vs.testTimestamp)
	t.Run("signdoc", vs.testSignDoc)
	if vs.other != nil {
		t.Run("other_user", vs.testOtherUser)
	}
	if !vs.v.v1() {
		t.Run("oauth2", vs.testOAuth)
	}
	// These move the server's clock (or wait) past lifetimes: last.
	t.Run("sad_expiry", vs.testSADExpiry)
	t.Run("access_token_expiry", vs.testAccessTokenExpiry)
	vs.settleFailures(t)
}

func (vs *vsuite) path(method string) string { return vs.v.base + "/" + method }

// post sends a JSON body to a CSC method of this version.
func (vs *vsuite) post(t testing.TB, method, auth string, body any) *response {
	t.Helper()
	return vs.do(t, call{path: vs.path(method), auth: auth, body: body})
}

// loginAs logs a in with HTTP Basic and returns the access token (and the
// refresh token when rememberMe).
func (vs *vsuite) loginAs(t testing.TB, a Account, rememberMe bool) (access, refresh string) {
	t.Helper()
	var body any
	if rememberMe {
		body = map[string]any{"rememberMe": true}
	}
	m := expectOK(t, vs.post(t, "auth/login", basic(a.Username, a.Password), body))
	access, ok := getString(m, "access_token")
	if !ok || access == "" {
		t.Fatalf("auth/login: no access_token in %v", m)
	}
	refresh, _ = getString(m, "refresh_token")
	if rememberMe && refresh == "" {
		t.Fatalf("auth/login with rememberMe: no refresh_token in %v", m)
	}
	return access, refresh
}

// login returns a fresh access token of the account under test.
func (vs *vsuite) login(t testing.TB) string {
	t.Helper()
	tok, _ := vs.loginAs(t, vs.me.Account, false)
	return tok
}

// ---- credentials/authorize ----

// authorizeBody is a well-formed credentials/authorize request for this
// version. pin and otp are omitted when nil. The v2 request names SHA-256;
// the v1 one relies on its SHA-256 default.
func (vs *vsuite) authorizeBody(credID string, num int, hashes []string, pin, otp any) map[string]any {
	b := map[string]any{"credentialID": credID, "numSignatures": num}
	if hashes != nil {
		b[vs.v.hashes] = hashes
		if !vs.v.v1() {
			b["hashAlgorithmOID"] = oidSHA256
		}
	}
	if vs.v.v1() {
		if pin != nil {
			b["PIN"] = pin
		}
		if otp != nil {
			b["OTP"] = otp
		}
		return b
	}
	var auth []any
	if pin != nil {
		auth = append(auth, map[string]any{"id": "PIN", "value": pin})
	}
	if otp != nil {
		auth = append(auth, map[string]any{"id": "OTP", "value": otp})
	}
	if auth != nil {
		b["authData"] = auth
	}
	return b
}

// factorFailureCodes are the error codes of a failed PIN or OTP check.
var factorFailureCodes = map[string]bool{"invalid_pin": true, "invalid_otp": true, "invalid_authentication_data": true}

// lockedDescriptions say that a factor is locked.
var lockedDescriptions = map[string]bool{"PIN locked": true, "OTP locked": true, "Credential locked": true}

// authorize sends credentials/authorize for the account under test and
// keeps the failed-attempt accounting: a factor failure counts, a success on
// the credential that failed resets the count, and a lockout ends the run.
func (vs *vsuite) authorize(t testing.TB, tok string, body map[string]any) *response {
	t.Helper()
	me := vs.me
	if me.failures >= maxOutstandingFailures {
		t.Fatalf("%d failed factor attempts are outstanding: the suite sends no more authorizations, to stay clear of the server's lockout", me.failures)
	}
	r := vs.post(t, "credentials/authorize", bearer(tok), body)
	credID, _ := body["credentialID"].(string)
	switch {
	case r.status == http.StatusOK:
		if me.failures == 0 || credID == me.failCred {
			me.failures, me.failCred = 0, ""
		}
	case factorFailureCodes[r.errorCode()]:
		if me.failures == 0 || me.failCred == "" {
			me.failCred = credID
		}
		me.failures++
	case lockedDescriptions[r.errorDescription()]:
		t.Fatalf("the account's factors are locked (%v): an operator must unlock them. "+
			"The suite never leaves more than 2 failed attempts outstanding, so they were locked before this run or the server counts differently", r)
	}
	return r
}

// beforeFailure makes room for one more failed factor attempt: with 2
// outstanding it first resets the count with a successful authorization.
// It skips the test when that is impossible in time.
func (vs *vsuite) beforeFailure(t testing.TB) {
	t.Helper()
	if vs.me.resetFailed {
		t.Skip("an authorization meant to reset the failed-attempt count failed; no more deliberate failures")
	}
	if vs.me.failures >= 2 {
		if err := vs.resetFailures(t); err != nil {
			t.Skipf("cannot reset the failed-attempt count first: %v", err)
		}
	}
}

// resetFailures authorizes one signature with the right factors on the
// credential that failed, which resets the server's failure counters.
func (vs *vsuite) resetFailures(t testing.TB) error {
	t.Helper()
	otp, err := vs.me.otp.fresh(t.Logf)
	if err != nil {
		return err
	}
	cred := vs.me.failCred
	if cred == "" {
		cred = vs.primary.ID
	}
	tok := vs.login(t)
	r := vs.authorize(t, tok, vs.authorizeBody(cred, 1, b64s(randomDigests(1)), vs.me.PIN, otp))
	if r.status != http.StatusOK {
		vs.me.resetFailed = true
		t.Errorf("authorization to reset the failed-attempt count: %v", r)
		return errors.New("the reset authorization failed")
	}
	return nil
}

// settleFailures leaves the server with no outstanding failed attempts at
// the end of a version, so that later runs start from zero.
func (vs *vsuite) settleFailures(t *testing.T) {
	if vs.me.failures == 0 {
		return
	}
	if vs.me.resetFailed || vs.me.failures >= maxOutstandingFailures {
		t.Errorf("%d failed factor attempts are outstanding on the server and the suite could not reset them: "+
			"the next failed attempt may lock the account; authorize once successfully (or have an operator reset the count) before running again",
			vs.me.failures)
		return
	}
	t.Logf("%d failed factor attempts are outstanding; authorizing once to reset them", vs.me.failures)
	if err := vs.resetFailures(t); err != nil {
		t.Logf("WARNING: could not reset the failed-attempt count (%v); %d failures stay counted on the server until the next successful authorization",
			err, vs.me.failures)
	}
}

// freshOTP returns an unused TOTP code or skips the test.
func (vs *vsuite) freshOTP(t testing.TB) string {
	t.Helper()
	otp, err := vs.me.otp.fresh(t.Logf)
	if err != nil {
		t.Skip(err.Error())
	}
	return otp
}

// sadResult is a SAD and its announced lifetime.
type sadResult struct {
	sad       string
	expiresIn time.Duration // 0 if absent
}

// expectSAD checks a 200 response of authorize or extendTransaction.
func expectSAD(t testing.TB, r *response) sadResult {
	t.Helper()
	m := expectOK(t, r)
	sad, ok := getString(m, "SAD")
	if !ok || sad == "" {
		t.Fatalf("no SAD string in %v", r)
	}
	var res sadResult
	if _, present := m["expiresIn"]; present {
		n, ok := getInt(m, "expiresIn")
		if !ok || n <= 0 {
			t.Errorf("expiresIn must be a positive integer (seconds): %v", r)
		} else {
			res.expiresIn = time.Duration(n) * time.Second
		}
	} else {
		t.Errorf("expiresIn missing (the contract always returns it): %v", r)
	}
	res.sad = sad
	return res
}

// authorizeOK authorizes num signatures over hashes (standard base64) with
// the right PIN and an unused TOTP code, and returns the SAD.
func (vs *vsuite) authorizeOK(t testing.TB, tok string, credID string, num int, hashes []string) sadResult {
	t.Helper()
	otp := vs.freshOTP(t)
	return expectSAD(t, vs.authorize(t, tok, vs.authorizeBody(credID, num, hashes, vs.me.PIN, otp)))
}

// ---- extendTransaction and signHash ----

func (vs *vsuite) extendBody(credID, sad string, hashes []string) map[string]any {
	b := map[string]any{"credentialID": credID, "SAD": sad}
	if hashes != nil {
		b[vs.v.hashes] = hashes
		if !vs.v.v1() {
			b["hashAlgorithmOID"] = oidSHA256
		}
	}
	return b
}

// signAlgo is one way to ask for a signature and how to check it.
type signAlgo struct {
	name    string
	oid     string
	hashOID string // hash algorithm member to send; "" omits it
	params  []byte // signAlgoParams (DER) or nil
	verify  verifier
}

// signBody is a signatures/signHash request for this version.
func (vs *vsuite) signBody(credID, sad string, hashes []string, a signAlgo) map[string]any {
	b := map[string]any{"credentialID": credID, "SAD": sad, vs.v.hashes: hashes, "signAlgo": a.oid}
	if a.hashOID != "" {
		b[vs.v.hashAlgo] = a.hashOID
	}
	if a.params != nil {
		b["signAlgoParams"] = b64(a.params)
	}
	return b
}

// expectSignatures checks a signHash response: one standard-base64
// signature per digest, in order, each verified with the certificate's key.
func expectSignatures(t testing.TB, r *response, ci *credInfo, a signAlgo, digests [][]byte) {
	t.Helper()
	m := expectOK(t, r)
	sigs, ok := getStrings(m, "signatures")
	if !ok {
		t.Fatalf("no signatures array of strings: %v", r)
	}
	if len(sigs) != len(digests) {
		t.Fatalf("%d signatures for %d hashes: %v", len(sigs), len(digests), r)
	}
	if ci == nil || ci.pub == nil {
		t.Fatalf("no certificate to verify the signatures with")
	}
	for i, s := range sigs {
		sig, err := decodeStdBase64(s)
		if err != nil {
			t.Errorf("signature %d is not standard padded base64: %v", i, err)
			continue
		}
		if err := a.verify(ci.pub, digests[i], sig); err != nil {
			msg := err.Error()
			for j := range digests {
				if j != i && a.verify(ci.pub, digests[j], sig) == nil {
					msg += "; it verifies over hash " + strconv.Itoa(j) + ": signatures are not in the order of the hashes"
				}
			}
			t.Errorf("%s signature %d does not verify with the certificate's key: %s", a.name, i, msg)
		}
	}
}
