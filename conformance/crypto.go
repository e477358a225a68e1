package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Algorithm OIDs (dotted), as the CSC API names them.
const (
	oidSHA1   = "1.3.14.3.2.26"
	oidSHA256 = "2.16.840.1.101.3.4.2.1"
	oidSHA384 = "2.16.840.1.101.3.4.2.2"

	oidRSAEncryption = "1.2.840.113549.1.1.1"
	oidRSAPSS        = "1.2.840.113549.1.1.10"
	oidSHA256WithRSA = "1.2.840.113549.1.1.11"
	oidMGF1          = "1.2.840.113549.1.1.8"

	oidECPublicKey     = "1.2.840.10045.2.1"
	oidECDSAWithSHA256 = "1.2.840.10045.4.3.2"
)

var oidByHash = map[crypto.Hash]string{crypto.SHA1: oidSHA1, crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384}

// pssParams is RSASSA-PSS-params (RFC 4055, RFC 8017 A.2.3).
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MGF          pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
	SaltLength   int                      `asn1:"explicit,tag:2"`
	TrailerField int                      `asn1:"optional,explicit,tag:3,default:1"`
}

func mustOID(dotted string) asn1.ObjectIdentifier {
	var oid asn1.ObjectIdentifier
	for _, p := range strings.Split(dotted, ".") {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	return oid
}

// encodePSSParams returns the DER RSASSA-PSS-params for hash h, MGF1 with h
// and the given salt length; the trailer field takes its default. Hash
// AlgorithmIdentifiers carry NULL parameters, as crypto/x509 writes them.
func encodePSSParams(h crypto.Hash, salt int) []byte {
	hashID := pkix.AlgorithmIdentifier{Algorithm: mustOID(oidByHash[h]), Parameters: asn1.NullRawValue}
	mgfParams, err := asn1.Marshal(hashID)
	if err != nil {
		panic(err)
	}
	der, err := asn1.Marshal(pssParams{
		Hash:         hashID,
		MGF:          pkix.AlgorithmIdentifier{Algorithm: mustOID(oidMGF1), Parameters: asn1.RawValue{FullBytes: mgfParams}},
		SaltLength:   salt,
		TrailerField: 1,
	})
	if err != nil {
		panic(err)
	}
	return der
}

// maxPSSSalt is the longest salt RSASSA-PSS allows for pub and h:
// emLen - hLen - 2 (222 for RSA-2048 with SHA-256).
func maxPSSSalt(pub *rsa.PublicKey, h crypto.Hash) int {
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	return emLen - h.Size() - 2
}

// verifier checks one signature over one digest.
type verifier func(pub crypto.PublicKey, digest, sig []byte) error

func verifyPKCS1(h crypto.Hash) verifier {
	return func(pub crypto.PublicKey, digest, sig []byte) error {
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("certificate key is %T, not RSA", pub)
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	}
}

func verifyPSS(h crypto.Hash, salt int) verifier {
	return func(pub crypto.PublicKey, digest, sig []byte) error {
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("certificate key is %T, not RSA", pub)
		}
		// An explicit SaltLength makes crypto/rsa insist on exactly that salt.
		return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: salt, Hash: h})
	}
}

// verifyECDSA accepts only a DER Ecdsa-Sig-Value, not raw r||s.
func verifyECDSA(pub crypto.PublicKey, digest, sig []byte) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("certificate key is %T, not ECDSA", pub)
	}
	if !ecdsa.VerifyASN1(k, digest, sig) {
		if len(sig) == 2*((k.Curve.Params().BitSize+7)/8) {
			return errors.New("ECDSA signature does not verify as DER (it has the length of raw r||s; the CSC API needs DER)")
		}
		return errors.New("ECDSA signature does not verify")
	}
	return nil
}

// randomDigest is the SHA-256 of 32 random bytes.
func randomDigest() []byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	d := sha256.Sum256(b[:])
	return d[:]
}

// digestWithSpecialChars returns a random SHA-256 digest whose standard
// base64 contains '+' or '/', so that its URL-safe form differs.
func digestWithSpecialChars() []byte {
	for {
		d := randomDigest()
		if strings.ContainsAny(base64.StdEncoding.EncodeToString(d), "+/") {
			return d
		}
	}
}

func randomDigests(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomDigest()
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func b64s(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b64(b)
	}
	return out
}

// randomToken looks like a SAD or bearer token but was never issued.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeStdBase64 decodes standard, padded base64 only: what the server must
// output.
func decodeStdBase64(s string) ([]byte, error) {
	return base64.StdEncoding.Strict().DecodeString(s)
}
