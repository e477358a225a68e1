package sam

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// FuzzOCSPRequest: the OCSP request decoder and the issuer check never
// panic, and whatever decodes names a serial and a hash the check can use
// or refuse.
func FuzzOCSPRequest(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz CA"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		f.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		req, err := ocsp.CreateRequest(ca, ca, &ocsp.RequestOptions{Hash: h})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req)
		f.Add(req[:len(req)/2])
	}
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseOCSPRequest(data)
		if err != nil {
			return
		}
		if req.SerialNumber == nil || req.SerialNumber.Sign() < 0 {
			t.Fatalf("decoded a request without a usable serial: %+v", req)
		}
		_ = matchesIssuer(req, ca)
	})
}
