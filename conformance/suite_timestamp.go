package conformance

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"math/big"
	"net/http"
	"slices"
	"testing"

	"github.com/digitorus/timestamp"
)

// testTimestamp: when info lists signatures/timestamp, the token it returns
// is an RFC 3161 TimeStampToken over the hash, with the hex nonce, whose
// signature verifies with the certificate it carries; the CSC error table's
// cases are refused.
func (vs *vsuite) testTimestamp(t *testing.T) {
	m := expectOK(t, vs.do(t, call{method: http.MethodPost, path: vs.path("info"), body: map[string]any{}}))
	methods, _ := getStrings(m, "methods")
	if !slices.Contains(methods, "signatures/timestamp") {
		t.Skip("info does not list signatures/timestamp")
	}
	tok := vs.login(t)
	h := randomDigest()
	r := vs.post(t, "signatures/timestamp", bearer(tok), map[string]any{"hash": b64(h), "hashAlgo": oidSHA256, "nonce": "1f2e3d4c5b6a7988"})
	out := expectOK(t, r)
	s, ok := getString(out, "timestamp")
	der, err := base64.StdEncoding.DecodeString(s)
	if !ok || err != nil {
		t.Fatalf("timestamp is not standard base64: %v", r)
	}
	ts, err := timestamp.Parse(der)
	if err != nil {
		t.Fatalf("the token is not a verifiable RFC 3161 TimeStampToken: %v", err)
	}
	nonce, _ := new(big.Int).SetString("1f2e3d4c5b6a7988", 16)
	if !bytes.Equal(ts.HashedMessage, h) || ts.HashAlgorithm != crypto.SHA256 || ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		t.Fatalf("the token does not carry the hash and nonce sent: %x %v %v", ts.HashedMessage, ts.HashAlgorithm, ts.Nonce)
	}
	for _, c := range []bodyCase{
		{"hash_missing", map[string]any{"hashAlgo": oidSHA256}, "Missing (or invalid type) string parameter hash"},
		{"hash_empty", map[string]any{"hash": "", "hashAlgo": oidSHA256}, "Empty hash parameter"},
		{"hash_wrong_length", map[string]any{"hash": b64(h[:20]), "hashAlgo": oidSHA256}, "Invalid digest value length"},
		{"hashAlgo_unknown", map[string]any{"hash": b64(h), "hashAlgo": "1.2.3.4"}, "Invalid parameter hashAlgo"},
		{"nonce_not_hex", map[string]any{"hash": b64(h), "hashAlgo": oidSHA256, "nonce": "not hex"}, "Invalid parameter nonce"},
	} {
		t.Run(c.name, func(t *testing.T) {
			expectError(t, vs.post(t, "signatures/timestamp", bearer(tok), c.body), http.StatusBadRequest, "invalid_request", c.desc)
		})
	}
}
