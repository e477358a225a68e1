package conformance

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"testing"
)

// signJob is one signHash call of the happy path: n hashes signed with a.
type signJob struct {
	a signAlgo
	n int
}

// signJobs are the signature algorithms exercised for a key: the combined
// OIDs, the bare key algorithm with the hash named separately, and for RSA
// RSASSA-PSS with the usual salt (32) and the longest salt the key allows,
// which the server must honour exactly.
func signJobs(spec keySpec, pub crypto.PublicKey) []signJob {
	if !spec.rsa {
		return []signJob{
			{signAlgo{name: "ecdsa-with-SHA256", oid: oidECDSAWithSHA256, verify: verifyECDSA}, 2},
			{signAlgo{name: "id-ecPublicKey with SHA-256", oid: oidECPublicKey, hashOID: oidSHA256, verify: verifyECDSA}, 1},
			{signAlgo{name: "ecdsa-with-SHA256 naming SHA-256 too", oid: oidECDSAWithSHA256, hashOID: oidSHA256, verify: verifyECDSA}, 1},
		}
	}
	maxSalt := 222
	if k, ok := pub.(*rsa.PublicKey); ok {
		maxSalt = maxPSSSalt(k, crypto.SHA256)
	}
	return []signJob{
		{signAlgo{name: "sha256WithRSAEncryption", oid: oidSHA256WithRSA, verify: verifyPKCS1(crypto.SHA256)}, 2},
		{signAlgo{name: "RSASSA-PSS SHA-256 salt 32", oid: oidRSAPSS, params: encodePSSParams(crypto.SHA256, 32),
			verify: verifyPSS(crypto.SHA256, 32)}, 1},
		{signAlgo{name: fmt.Sprintf("RSASSA-PSS SHA-256 salt %d (the maximum)", maxSalt), oid: oidRSAPSS,
			params: encodePSSParams(crypto.SHA256, maxSalt), verify: verifyPSS(crypto.SHA256, maxSalt)}, 1},
		{signAlgo{name: "rsaEncryption with SHA-256", oid: oidRSAEncryption, hashOID: oidSHA256, verify: verifyPKCS1(crypto.SHA256)}, 1},
		{signAlgo{name: "RSASSA-PSS salt 32 naming SHA-256 too", oid: oidRSAPSS, hashOID: oidSHA256, params: encodePSSParams(crypto.SHA256, 32),
			verify: verifyPSS(crypto.SHA256, 32)}, 1},
		{signAlgo{name: "sha256WithRSAEncryption naming SHA-256 too", oid: oidSHA256WithRSA, hashOID: oidSHA256,
			verify: verifyPKCS1(crypto.SHA256)}, 1},
	}
}

// packJobs groups jobs into authorizations of at most multisign hashes, in
// order; a job with more hashes than multisign is cut down to multisign.
func packJobs(jobs []signJob, multisign int) [][]signJob {
	if multisign < 1 {
		multisign = 1
	}
	var out [][]signJob
	var cur []signJob
	n := 0
	for _, j := range jobs {
		j.n = min(j.n, multisign)
		if n+j.n > multisign {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, j)
		n += j.n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// testSign is the happy path for one credential: info, authorize with PIN
// and TOTP over all the hashes one authorization may cover, then signHash
// with each algorithm, extending the transaction after the first call.
// Every signature is verified with the certificate's key.
func (vs *vsuite) testSign(t *testing.T, cred Credential) {
	tok := vs.login(t)
	var ci *credInfo
	if !t.Run("credentials_info", func(t *testing.T) { ci = vs.fullInfo(t, tok, cred) }) {
		return
	}
	spec := keyAlgorithms[cred.KeyAlgorithm]
	for _, batch := range packJobs(signJobs(spec, ci.pub), ci.multisign) {
		digests := make([][][]byte, len(batch))
		var all [][]byte
		for i, j := range batch {
			digests[i] = randomDigests(j.n)
			all = append(all, digests[i]...)
		}
		otp := vs.freshOTP(t) // skips the rest when no unused TOTP step is available in time
		var sad sadResult
		if !t.Run("authorize", func(t *testing.T) {
			sad = expectSAD(t, vs.authorize(t, tok, vs.authorizeBody(cred.ID, len(all), b64s(all), vs.me.PIN, otp)))
		}) || sad.sad == "" {
			return
		}
		for i, j := range batch {
			if i == 1 {
				var rest [][]byte
				for _, d := range digests[1:] {
					rest = append(rest, d...)
				}
				if !t.Run("extendTransaction", func(t *testing.T) {
					sad = expectSAD(t, vs.post(t, "credentials/extendTransaction", bearer(tok), vs.extendBody(cred.ID, sad.sad, b64s(rest))))
				}) || sad.sad == "" {
					return
				}
			}
			t.Run(fmt.Sprintf("signHash %s (%d hashes)", j.a.name, j.n), func(t *testing.T) {
				r := vs.post(t, "signatures/signHash", bearer(tok), vs.signBody(cred.ID, sad.sad, b64s(digests[i]), j.a))
				expectSignatures(t, r, ci, j.a, digests[i])
			})
		}
	}
}
