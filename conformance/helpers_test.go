package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// decodePSSParams is the inverse of encodePSSParams, for the round trip.
func decodePSSParams(t *testing.T, der []byte) (hash, mgf, mgfHash string, salt, trailer int) {
	t.Helper()
	var p pssParams
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 {
		t.Fatalf("RSASSA-PSS-params do not decode: %v (rest %d bytes)", err, len(rest))
	}
	var mgfID pkix.AlgorithmIdentifier
	if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfID); err != nil || len(rest) != 0 {
		t.Fatalf("MGF1 parameters do not decode: %v", err)
	}
	return p.Hash.Algorithm.String(), p.MGF.Algorithm.String(), mgfID.Algorithm.String(), p.SaltLength, p.TrailerField
}

func TestPSSParamsRoundTrip(t *testing.T) {
	for _, c := range []struct {
		h    crypto.Hash
		salt int
	}{{crypto.SHA256, 32}, {crypto.SHA256, 222}, {crypto.SHA256, 0}, {crypto.SHA384, 48}, {crypto.SHA256, 478}} {
		der := encodePSSParams(c.h, c.salt)
		hash, mgf, mgfHash, salt, trailer := decodePSSParams(t, der)
		if hash != oidByHash[c.h] || mgf != oidMGF1 || mgfHash != oidByHash[c.h] || salt != c.salt || trailer != 1 {
			t.Errorf("%v salt %d: decoded hash %s mgf %s(%s) salt %d trailer %d", c.h, c.salt, hash, mgf, mgfHash, salt, trailer)
		}
	}
}

// The encoding of SHA-256/MGF1-SHA-256/salt 32 is the one everybody uses
// (crypto/x509 writes it into certificates signed with RSASSA-PSS).
func TestPSSParamsMatchCryptoX509(t *testing.T) {
	const known = "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg"
	if got := base64.StdEncoding.EncodeToString(encodePSSParams(crypto.SHA256, 32)); got != known {
		t.Errorf("params %s, want %s", got, known)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pss"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: x509.SHA256WithRSAPSS}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var cert struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		t.Fatal(err)
	}
	if got, want := base64.StdEncoding.EncodeToString(cert.SigAlg.Parameters.FullBytes), known; got != want {
		t.Errorf("crypto/x509 writes %s, we write %s", got, want)
	}
}

// The verifiers must be strict: a PSS signature with another salt, a
// signature over another digest and raw ECDSA r||s are all refused.
func TestVerifiersAreStrict(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	d, other := randomDigest(), randomDigest()
	if got := maxPSSSalt(&rk.PublicKey, crypto.SHA256); got != 222 {
		t.Fatalf("maxPSSSalt(RSA-2048, SHA-256) = %d, want 222", got)
	}
	sig, err := rsa.SignPSS(rand.Reader, rk, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: 222})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyPSS(crypto.SHA256, 222)(&rk.PublicKey, d, sig); err != nil {
		t.Errorf("salt 222: %v", err)
	}
	if verifyPSS(crypto.SHA256, 32)(&rk.PublicKey, d, sig) == nil {
		t.Errorf("a salt-222 signature verified as salt 32")
	}
	if verifyPSS(crypto.SHA256, 222)(&rk.PublicKey, other, sig) == nil {
		t.Errorf("verified over another digest")
	}
	p1, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, d)
	if err := verifyPKCS1(crypto.SHA256)(&rk.PublicKey, d, p1); err != nil {
		t.Errorf("PKCS#1 v1.5: %v", err)
	}

	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := ecdsa.SignASN1(rand.Reader, ek, d)
	if err := verifyECDSA(&ek.PublicKey, d, der); err != nil {
		t.Errorf("ECDSA DER: %v", err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
	if err := verifyECDSA(&ek.PublicKey, d, raw); err == nil || !strings.Contains(err.Error(), "raw r||s") {
		t.Errorf("raw r||s: err %v, want a refusal that names raw r||s", err)
	}
	if verifyPKCS1(crypto.SHA256)(&ek.PublicKey, d, der) == nil {
		t.Errorf("an RSA verifier accepted an EC key")
	}
}

func TestPackJobs(t *testing.T) {
	jobs := signJobs(keyAlgorithms["RSA-2048"], nil)
	total := 0
	for _, j := range jobs {
		total += j.n
	}
	sizes := func(batches [][]signJob) []int {
		var out []int
		for _, b := range batches {
			n := 0
			for _, j := range b {
				n += j.n
			}
			out = append(out, n)
		}
		return out
	}
	if got := sizes(packJobs(jobs, 10)); len(got) != 1 || got[0] != total {
		t.Errorf("multisign 10: batches %v, want one of %d", got, total)
	}
	for _, m := range []int{1, 2, 3} {
		batches := packJobs(jobs, m)
		count := 0
		for i, n := range sizes(batches) {
			if n > m || n < 1 {
				t.Errorf("multisign %d: batch %d has %d hashes", m, i, n)
			}
		}
		for _, b := range batches {
			count += len(b)
		}
		if count != len(jobs) {
			t.Errorf("multisign %d: %d jobs packed, want %d", m, count, len(jobs))
		}
	}
}

func TestLoadAccount(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("demo.json", `{"base_url":"https://127.0.0.1:8443","username":"demo","password":"pw","pin":"123456",
		"totp_secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","extra":1,
		"credentials":[{"id":"c1","key_algorithm":"RSA-2048"},{"id":"c2","key_algorithm":"EC-P256"}]}`)
	a, err := LoadAccount(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.BaseURL != "https://127.0.0.1:8443" || a.Username != "demo" || a.PIN != "123456" || len(a.Credentials) != 2 ||
		a.Credentials[1] != (Credential{ID: "c2", KeyAlgorithm: "EC-P256"}) {
		t.Errorf("loaded %+v", a)
	}
	for name, s := range map[string]string{
		"no_pin":        `{"base_url":"https://x","username":"u","password":"p","totp_secret":"GEZDGNBV","credentials":[{"id":"c","key_algorithm":"EC-P256"}]}`,
		"bad_algorithm": `{"base_url":"https://x","username":"u","password":"p","pin":"1","totp_secret":"GEZDGNBV","credentials":[{"id":"c","key_algorithm":"DSA"}]}`,
		"bad_secret":    `{"base_url":"https://x","username":"u","password":"p","pin":"1","totp_secret":"!!","credentials":[{"id":"c","key_algorithm":"EC-P256"}]}`,
		"no_creds":      `{"base_url":"https://x","username":"u","password":"p","pin":"1","totp_secret":"GEZDGNBV","credentials":[]}`,
		"not_a_url":     `{"base_url":"x","username":"u","password":"p","pin":"1","totp_secret":"GEZDGNBV","credentials":[{"id":"c","key_algorithm":"EC-P256"}]}`,
		"not_json":      `{`,
	} {
		if _, err := LoadAccount(write(name+".json", s)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadAccount(filepath.Join(dir, "missing.json")); err == nil {
		t.Errorf("missing file loaded")
	}
}

func TestRequestHelpers(t *testing.T) {
	base := map[string]any{"a": 1, "b": 2}
	got := with(base, map[string]any{"c": nil}, "a")
	if _, ok := got["a"]; ok || got["b"] != 2 {
		t.Errorf("with: %v", got)
	}
	if v, ok := got["c"]; !ok || v != nil {
		t.Errorf("with did not set c to null: %v", got)
	}
	if _, ok := base["c"]; ok || base["a"] != 1 {
		t.Errorf("with changed its input: %v", base)
	}
	if !strings.ContainsAny(b64(digestWithSpecialChars()), "+/") {
		t.Errorf("digestWithSpecialChars has no + or / in base64")
	}
	if _, err := decodeStdBase64(base64.RawStdEncoding.EncodeToString(make([]byte, 32))); err == nil {
		t.Errorf("unpadded base64 accepted as the server's output")
	}
	if wrongPIN("000000") == "000000" || wrongPIN("111111") == "111111" {
		t.Errorf("wrongPIN returned the PIN")
	}
}
