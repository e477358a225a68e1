package conformance

import (
	"net/http"
	"strconv"
	"testing"
)

// testAuthorizeErrors: credentials/authorize refuses malformed requests
// before it looks at the factors, and refuses a wrong PIN or OTP with the
// version's code. Malformed requests carry the right PIN and a wrong OTP, so
// that a server that checked factors first would show up as failures here
// (and be counted, see vsuite.authorize) rather than burn a TOTP step.
func (vs *vsuite) testAuthorizeErrors(t *testing.T) {
	tok := vs.login(t)
	cred := vs.primary
	ci := vs.fullInfo(t, tok, cred)
	wrongOTP := vs.me.otp.wrong()
	base := vs.authorizeBody(cred.ID, 1, b64s(randomDigests(1)), vs.me.PIN, wrongOTP)
	hashesDesc := "Missing (or invalid type) array parameter " + vs.v.hashes
	numDesc := "Missing (or invalid type) integer parameter numSignatures"
	tooMany := ci.multisign + 1
	var pinNumber any = 1234
	if n, err := strconv.Atoi(vs.me.PIN); err == nil {
		pinNumber = n // the same digits, as a JSON number: must not be coerced
	}
	cases := []bodyCase{
		{"credentialID_missing", with(base, nil, "credentialID"), descMissingCredentialID},
		{"credentialID_null", with(base, map[string]any{"credentialID": nil}), descMissingCredentialID},
		{"credentialID_not_a_string", with(base, map[string]any{"credentialID": 5}), descMissingCredentialID},
		{"credentialID_unknown", with(base, map[string]any{"credentialID": "no-such-credential-" + randomToken()[:8]}), descInvalidCredentialID},
		{"numSignatures_missing", with(base, nil, "numSignatures"), numDesc},
		{"numSignatures_null", with(base, map[string]any{"numSignatures": nil}), numDesc},
		{"numSignatures_not_an_integer", with(base, map[string]any{"numSignatures": "1"}), numDesc},
		{"numSignatures_zero", with(base, map[string]any{"numSignatures": 0}), "Invalid value for parameter numSignatures"},
		{"numSignatures_negative", with(base, map[string]any{"numSignatures": -1}), "Invalid value for parameter numSignatures"},
		{"numSignatures_above_multisign", vs.authorizeBody(cred.ID, tooMany, b64s(randomDigests(tooMany)), vs.me.PIN, wrongOTP),
			"Numbers of signatures is too high"},
		{vs.v.hashes + "_missing", with(base, nil, vs.v.hashes), hashesDesc},
		{vs.v.hashes + "_null", with(base, map[string]any{vs.v.hashes: nil}), hashesDesc},
		{vs.v.hashes + "_not_an_array", with(base, map[string]any{vs.v.hashes: b64(randomDigest())}), hashesDesc},
		{vs.v.hashes + "_empty", with(base, map[string]any{vs.v.hashes: []string{}}), hashesDesc},
		{"hash_not_base64", with(base, map[string]any{vs.v.hashes: []string{"%%% not base64 %%%"}}), "Invalid Base64 hash string parameter"},
		{"hash_wrong_length", with(base, map[string]any{vs.v.hashes: []string{b64(randomDigest()[:20])}}), "Invalid digest value length"},
		{"PIN_as_number", vs.authorizeBody(cred.ID, 1, b64s(randomDigests(1)), pinNumber, wrongOTP), "Invalid parameter PIN"},
		{"OTP_as_number", vs.authorizeBody(cred.ID, 1, b64s(randomDigests(1)), vs.me.PIN, 123456), "Invalid parameter OTP"},
	}
	if !vs.v.v1() {
		cases = append(cases,
			bodyCase{"hashAlgorithmOID_unknown", with(base, map[string]any{"hashAlgorithmOID": "1.2.3.4"}), "Invalid parameter hashAlgorithmOID"},
			bodyCase{"hashAlgorithmOID_SHA-1", with(base, map[string]any{"hashAlgorithmOID": oidSHA1}), "Invalid parameter hashAlgorithmOID"},
			bodyCase{"hashAlgorithmOID_SHA-384_with_SHA-256_digests", with(base, map[string]any{"hashAlgorithmOID": oidSHA384}), "Invalid digest value length"},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs.beforeFailure(t)
			descs := []string{c.desc}
			if c.name == vs.v.hashes+"_empty" {
				// The contract names only the missing case; signHash's
				// "Empty hash array" is an equally good answer.
				descs = append(descs, "Empty hash array")
			}
			expectError(t, vs.authorize(t, tok, c.body), http.StatusBadRequest, "invalid_request", descs...)
		})
	}

	// Deliberate factor failures. The server locks a factor after 5
	// consecutive failures; the suite never leaves more than 2 outstanding
	// and resets them with the next successful authorization (scal2, or
	// settleFailures), so it runs them only when it can always get an unused
	// TOTP step for that.
	canReset := vs.me.otp.alwaysFresh()
	t.Run("wrong_OTP", func(t *testing.T) {
		if !canReset {
			t.Skip("deliberate failures need a guaranteed reset: set Target.Advance or MaxWait ≥ 63s")
		}
		vs.beforeFailure(t)
		r := vs.authorize(t, tok, vs.authorizeBody(cred.ID, 1, b64s(randomDigests(1)), vs.me.PIN, vs.me.otp.wrong()))
		if vs.v.v1() {
			expectError(t, r, http.StatusBadRequest, "invalid_otp", "The OTP is invalid")
		} else {
			expectError(t, r, http.StatusBadRequest, "invalid_authentication_data", "The authentication data is invalid")
		}
	})
	t.Run("wrong_PIN", func(t *testing.T) {
		if !canReset {
			t.Skip("deliberate failures need a guaranteed reset: set Target.Advance or MaxWait ≥ 63s")
		}
		vs.beforeFailure(t)
		// The OTP is right (and spent): only the PIN is wrong.
		r := vs.authorize(t, tok, vs.authorizeBody(cred.ID, 1, b64s(randomDigests(1)), wrongPIN(vs.me.PIN), vs.freshOTP(t)))
		if vs.v.v1() {
			expectError(t, r, http.StatusBadRequest, "invalid_pin", "The PIN is invalid")
		} else {
			expectError(t, r, http.StatusBadRequest, "invalid_authentication_data", "The authentication data is invalid")
		}
	})
}

// wrongPIN returns a PIN that is not pin.
func wrongPIN(pin string) string {
	for _, p := range []string{"000000", "111111"} {
		if p != pin {
			return p
		}
	}
	return "222222"
}
