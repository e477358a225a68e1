package conformance

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"testing"
)

const (
	descHashNotAuthorized = "Hash is not authorized by the SAD."
	descInvalidSAD        = "Invalid parameter SAD"
	descSADExpired        = "SAD expired"
)

// defaultAlgo is the plain combined algorithm for a key type.
func defaultAlgo(spec keySpec) signAlgo {
	if spec.rsa {
		return signAlgo{name: "sha256WithRSAEncryption", oid: oidSHA256WithRSA, verify: verifyPKCS1(crypto.SHA256)}
	}
	return signAlgo{name: "ecdsa-with-SHA256", oid: oidECDSAWithSHA256, verify: verifyECDSA}
}

// testSCAL2 attacks one SAD that authorizes two hashes (h1, h2) of the
// primary credential. Every refused request must leave it intact, so the
// order is: refusals, sign h1, replay h1, extend, sign h2, then use-ups.
// Its authorization also resets the failed-attempt count left by
// authorize_errors.
func (vs *vsuite) testSCAL2(t *testing.T) {
	tok := vs.login(t)
	cred := vs.primary
	spec := keyAlgorithms[cred.KeyAlgorithm]
	ci := vs.fullInfo(t, tok, cred)
	if ci.multisign < 2 {
		t.Skipf("%s has multisign %d; the SCAL2 attacks need 2", cred.ID, ci.multisign)
	}
	good := defaultAlgo(spec)
	h1, h2, h3 := digestWithSpecialChars(), digestWithSpecialChars(), randomDigest()
	sign := func(t *testing.T, tok string, body map[string]any) *response {
		t.Helper()
		return vs.post(t, "signatures/signHash", bearer(tok), body)
	}
	extend := func(t *testing.T, tok string, body map[string]any) *response {
		t.Helper()
		return vs.post(t, "credentials/extendTransaction", bearer(tok), body)
	}

	otp := vs.freshOTP(t) // skips the group when no unused TOTP step is available in time
	var sad sadResult
	if !t.Run("authorize_2_hashes_URL-safe_and_unpadded_with_nulls", func(t *testing.T) {
		body := vs.authorizeBody(cred.ID, 2, []string{base64.RawURLEncoding.EncodeToString(h1), base64.RawStdEncoding.EncodeToString(h2)},
			vs.me.PIN, otp)
		body["description"], body["clientData"] = nil, nil
		sad = expectSAD(t, vs.authorize(t, tok, body))
	}) || sad.sad == "" {
		return
	}
	base := vs.signBody(cred.ID, sad.sad, []string{b64(h1)}, good)

	t.Run("signHash_errors", func(t *testing.T) {
		hashesDesc := "Missing (or invalid type) array parameter " + vs.v.hashes
		ha := vs.v.hashAlgo
		bare, otherType := oidECPublicKey, oidSHA256WithRSA
		if spec.rsa {
			bare, otherType = oidRSAEncryption, oidECDSAWithSHA256
		}
		cases := []bodyCase{
			{"SAD_missing", with(base, nil, "SAD"), "Missing (or invalid type) string parameter SAD"},
			{"SAD_null", with(base, map[string]any{"SAD": nil}), "Missing (or invalid type) string parameter SAD"},
			{"SAD_not_a_string", with(base, map[string]any{"SAD": 12345}), "Missing (or invalid type) string parameter SAD"},
			{"SAD_unknown", with(base, map[string]any{"SAD": randomToken()}), descInvalidSAD},
			{"credentialID_missing", with(base, nil, "credentialID"), descMissingCredentialID},
			{"credentialID_unknown", with(base, map[string]any{"credentialID": "no-such-credential-" + randomToken()[:8]}), descInvalidCredentialID},
			{vs.v.hashes + "_missing", with(base, nil, vs.v.hashes), hashesDesc},
			{vs.v.hashes + "_not_an_array", with(base, map[string]any{vs.v.hashes: b64(h1)}), hashesDesc},
			{vs.v.hashes + "_empty", with(base, map[string]any{vs.v.hashes: []string{}}), "Empty hash array"},
			{"hash_not_base64", with(base, map[string]any{vs.v.hashes: []string{"%%% not base64 %%%"}}), "Invalid Base64 hash string parameter"},
			{"hash_wrong_length", with(base, map[string]any{vs.v.hashes: []string{b64(h1[:20])}}), "Invalid digest value length"},
			{"signAlgo_missing", with(base, nil, "signAlgo"), "Missing (or invalid type) string parameter signAlgo"},
			{"signAlgo_not_a_string", with(base, map[string]any{"signAlgo": 1}), "Missing (or invalid type) string parameter signAlgo"},
			{"signAlgo_unknown", with(base, map[string]any{"signAlgo": "1.2.3.4.5"}), "Invalid parameter signAlgo"},
			{"signAlgo_of_the_other_key_type", with(base, map[string]any{"signAlgo": otherType}), "Invalid parameter signAlgo"},
			{"bare_key_algorithm_without_" + ha, with(base, map[string]any{"signAlgo": bare}, ha), "Missing (or invalid type) string parameter " + ha},
			{"bare_key_algorithm_with_unknown_" + ha, with(base, map[string]any{"signAlgo": bare, ha: "1.2.3.4"}), "Invalid parameter " + ha},
			{"bare_key_algorithm_with_SHA-1", with(base, map[string]any{"signAlgo": bare, ha: oidSHA1}), "Invalid parameter " + ha},
			{"combined_signAlgo_contradicting_" + ha, with(base, map[string]any{ha: oidSHA384}), "Invalid parameter " + ha},
		}
		if spec.rsa {
			k, ok := ci.pub.(*rsa.PublicKey)
			if !ok {
				t.Fatalf("%s: certificate key is %T, not RSA", cred.ID, ci.pub)
			}
			maxSalt := maxPSSSalt(k, crypto.SHA256)
			cases = append(cases,
				bodyCase{"RSASSA-PSS_without_signAlgoParams", with(base, map[string]any{"signAlgo": oidRSAPSS}),
					"Missing (or invalid type) string parameter signAlgoParams"},
				bodyCase{"RSASSA-PSS_with_null_signAlgoParams", with(base, map[string]any{"signAlgo": oidRSAPSS, "signAlgoParams": nil}),
					"Missing (or invalid type) string parameter signAlgoParams"},
				bodyCase{"RSASSA-PSS_with_garbage_signAlgoParams", with(base, map[string]any{"signAlgo": oidRSAPSS, "signAlgoParams": b64([]byte{1, 2, 3})}),
					"Invalid parameter signAlgoParams"},
				bodyCase{"RSASSA-PSS_salt_longer_than_the_key_allows", with(base, map[string]any{"signAlgo": oidRSAPSS,
					"signAlgoParams": b64(encodePSSParams(crypto.SHA256, maxSalt+1))}), "Invalid parameter signAlgoParams"},
				bodyCase{"RSASSA-PSS_params_contradicting_" + ha, with(base, map[string]any{"signAlgo": oidRSAPSS,
					"signAlgoParams": b64(encodePSSParams(crypto.SHA256, 32)), ha: oidSHA384}), "Invalid parameter " + ha},
			)
		}
		if !vs.v.v1() {
			cases = append(cases,
				bodyCase{"operationMode_A", with(base, map[string]any{"operationMode": "A"}), "Invalid parameter operationMode"},
				bodyCase{"operationMode_unknown", with(base, map[string]any{"operationMode": "X"}), "Invalid parameter operationMode"},
			)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectError(t, sign(t, tok, c.body), http.StatusBadRequest, "invalid_request", c.desc)
			})
		}
	})
	t.Run("hash_not_in_the_SAD", func(t *testing.T) {
		expectError(t, sign(t, tok, with(base, map[string]any{vs.v.hashes: []string{b64(h3)}})),
			http.StatusBadRequest, "invalid_request", descHashNotAuthorized)
	})
	t.Run("authorized_and_unauthorized_hash_together", func(t *testing.T) {
		expectError(t, sign(t, tok, with(base, map[string]any{vs.v.hashes: []string{b64(h1), b64(h3)}})),
			http.StatusBadRequest, "invalid_request", descHashNotAuthorized)
	})
	t.Run("more_hashes_than_numSignatures", func(t *testing.T) {
		expectError(t, sign(t, tok, with(base, map[string]any{vs.v.hashes: []string{b64(h1), b64(h2), b64(h1)}})),
			http.StatusBadRequest, "invalid_request")
	})
	if len(vs.target.Credentials) > 1 {
		var c1 Credential
		for _, c := range vs.target.Credentials {
			if c.ID != cred.ID {
				c1 = c
				break
			}
		}
		t.Run("SAD_presented_with_another_credential", func(t *testing.T) {
			body := vs.signBody(c1.ID, sad.sad, []string{b64(h1)}, defaultAlgo(keyAlgorithms[c1.KeyAlgorithm]))
			expectError(t, sign(t, tok, body), http.StatusBadRequest, "invalid_request", descInvalidSAD, descInvalidCredentialID)
			expectError(t, extend(t, tok, vs.extendBody(c1.ID, sad.sad, nil)), http.StatusBadRequest, "invalid_request",
				descInvalidSAD, descInvalidCredentialID)
		})
	}
	if o := vs.other; o != nil {
		theirs := o.Credentials[0]
		t.Run("SAD_presented_with_another_users_credential", func(t *testing.T) {
			body := vs.signBody(theirs.ID, sad.sad, []string{b64(h1)}, defaultAlgo(keyAlgorithms[theirs.KeyAlgorithm]))
			expectError(t, sign(t, tok, body), http.StatusBadRequest, "invalid_request", descInvalidCredentialID)
			expectError(t, extend(t, tok, vs.extendBody(theirs.ID, sad.sad, nil)), http.StatusBadRequest, "invalid_request",
				descInvalidCredentialID)
		})
		t.Run("SAD_presented_by_another_user", func(t *testing.T) {
			otok, _ := vs.loginAs(t, *o, false)
			expectError(t, sign(t, otok, base), http.StatusBadRequest, "invalid_request", descInvalidSAD, descInvalidCredentialID)
			expectError(t, extend(t, otok, vs.extendBody(cred.ID, sad.sad, nil)), http.StatusBadRequest, "invalid_request",
				descInvalidSAD, descInvalidCredentialID)
		})
	}
	t.Run("extendTransaction_unknown_SAD", func(t *testing.T) {
		expectError(t, extend(t, tok, vs.extendBody(cred.ID, randomToken(), nil)), http.StatusBadRequest, "invalid_request", descInvalidSAD)
	})
	if !t.Run("signHash_URL-safe_unpadded_hash_with_nulls", func(t *testing.T) {
		// Nothing above consumed anything: h1 is still authorized.
		body := with(base, map[string]any{vs.v.hashes: []string{base64.RawURLEncoding.EncodeToString(h1)},
			"signAlgoParams": nil, "clientData": nil, vs.v.hashAlgo: nil})
		if !vs.v.v1() {
			body["operationMode"] = nil
		}
		expectSignatures(t, sign(t, tok, body), ci, good, [][]byte{h1})
	}) {
		return
	}
	t.Run("replay_of_a_signed_hash", func(t *testing.T) {
		expectError(t, sign(t, tok, base), http.StatusBadRequest, "invalid_request", descHashNotAuthorized)
	})
	var sad2 sadResult
	if !t.Run("extendTransaction", func(t *testing.T) {
		sad2 = expectSAD(t, extend(t, tok, vs.extendBody(cred.ID, sad.sad, []string{b64(h2)})))
		if sad2.sad == sad.sad {
			t.Errorf("extendTransaction returned the same SAD")
		}
	}) || sad2.sad == "" {
		return
	}
	t.Run("signHash_with_the_extended_SAD", func(t *testing.T) {
		body := vs.signBody(cred.ID, sad2.sad, []string{base64.URLEncoding.EncodeToString(h2)}, good)
		if !vs.v.v1() {
			body["operationMode"] = "S"
		}
		expectSignatures(t, sign(t, tok, body), ci, good, [][]byte{h2})
	})
	// Both hashes are signed: nothing is left under either SAD.
	t.Run("no_signature_beyond_numSignatures", func(t *testing.T) {
		for _, c := range []struct {
			name, sad string
			h         []byte
		}{
			{"superseded SAD, h2", sad.sad, h2},
			{"extended SAD, h2", sad2.sad, h2},
			{"extended SAD, h1", sad2.sad, h1},
		} {
			if !expectError(t, sign(t, tok, vs.signBody(cred.ID, c.sad, []string{b64(c.h)}, good)), http.StatusBadRequest, "invalid_request") {
				t.Logf("(%s)", c.name)
			}
		}
		expectError(t, extend(t, tok, vs.extendBody(cred.ID, sad2.sad, nil)), http.StatusBadRequest, "invalid_request")
	})
}
