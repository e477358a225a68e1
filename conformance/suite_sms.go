package conformance

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// testSMS signs with a one-time code sent by SMS and attacks its binding:
// the code must be bound to the hashes named when it was sent, work once,
// and not be resent inside the cooldown. v1 uses credentials/sendOTP; v2
// uses credentials/getChallenge with the SMS auth object, and sendOTP with
// the v1 shape.
func (vs *vsuite) testSMS(t *testing.T) {
	if vs.me.Phone == "" || vs.target.SMSCode == nil {
		t.Skip("no phone bound (Account.Phone) or no way to read SMS codes (Target.SMSCode)")
	}
	tok := vs.login(t)
	cred := vs.primary
	ci := vs.fullInfo(t, tok, cred)
	good := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	cooldown := vs.target.SMSCooldown
	if cooldown == 0 {
		cooldown = 30 * time.Second
	}
	send := func(t *testing.T, method string, hashes []string, extra map[string]any) *response {
		t.Helper()
		b := map[string]any{"credentialID": cred.ID}
		if hashes != nil {
			b["numSignatures"] = len(hashes)
			b[vs.v.hashes] = hashes
			if !vs.v.v1() {
				b["hashAlgorithmOID"] = oidSHA256
			}
		}
		if method == "credentials/getChallenge" {
			b["authObjectID"] = "SMS"
		}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return vs.post(t, method, bearer(tok), b)
	}
	authorizeSMS := func(t *testing.T, hashes []string, code string) *response {
		t.Helper()
		body := vs.authorizeBody(cred.ID, len(hashes), hashes, vs.me.PIN, code)
		if !vs.v.v1() {
			body["authData"] = []any{map[string]any{"id": "PIN", "value": vs.me.PIN}, map[string]any{"id": "SMS", "value": code}}
		}
		return vs.authorize(t, tok, body)
	}
	methods := []string{"credentials/sendOTP"}
	if !vs.v.v1() {
		methods = append(methods, "credentials/getChallenge")
	}

	t.Run("refusals_send_nothing", func(t *testing.T) {
		for _, m := range methods {
			expectError(t, send(t, m, nil, nil), http.StatusBadRequest, "invalid_request", "Missing (or invalid type) array parameter "+vs.v.hashes)
			expectError(t, send(t, m, []string{b64(randomDigest())}, map[string]any{"credentialID": "no-such-credential"}),
				http.StatusBadRequest, "invalid_request", descInvalidCredentialID)
		}
		if !vs.v.v1() {
			expectError(t, send(t, "credentials/getChallenge", []string{b64(randomDigest())}, map[string]any{"authObjectID": "PIN"}),
				http.StatusBadRequest, "invalid_request", "Invalid parameter authObjectID")
			expectError(t, send(t, "credentials/getChallenge", []string{b64(randomDigest())}, map[string]any{"authObjectID": nil}),
				http.StatusBadRequest, "invalid_request", "Missing (or invalid type) string parameter authObjectID")
		}
	})

	for _, m := range methods {
		t.Run(strings.TrimPrefix(m, "credentials/"), func(t *testing.T) {
			h1, h2 := randomDigest(), randomDigest()
			vs.wait(t, cooldown+time.Second)
			r := send(t, m, []string{b64(h1)}, nil)
			if r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("%s: want 204 with no body, got %v", m, r)
			}
			code := vs.target.SMSCode(t, vs.me.Phone)
			if code == "" || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("the SMS carried no numeric code: %q", code)
			}
			t.Run("resend_inside_cooldown", func(t *testing.T) {
				expectError(t, send(t, m, []string{b64(h1)}, nil), http.StatusTooManyRequests, "temporarily_unavailable")
			})
			t.Run("code_for_other_hashes", func(t *testing.T) {
				r := authorizeSMS(t, []string{b64(h2)}, code)
				if r.status != http.StatusBadRequest || !factorFailureCodes[r.errorCode()] {
					t.Fatalf("an SMS code sent for one hash authorized another: %v", r)
				}
			})
			var sad sadResult
			t.Run("authorize_and_sign", func(t *testing.T) {
				sad = expectSAD(t, authorizeSMS(t, []string{b64(h1)}, code))
				expectSignatures(t, vs.post(t, "signatures/signHash", bearer(tok), vs.signBody(cred.ID, sad.sad, []string{b64(h1)}, good)),
					ci, good, [][]byte{h1})
			})
			t.Run("code_replayed", func(t *testing.T) {
				r := authorizeSMS(t, []string{b64(h1)}, code)
				if r.status != http.StatusBadRequest || !factorFailureCodes[r.errorCode()] {
					t.Fatalf("an SMS code worked twice: %v", r)
				}
			})
		})
	}
}
