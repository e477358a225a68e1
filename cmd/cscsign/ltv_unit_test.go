package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// miniCA is a CA of the test's own, whose OCSP responder, CRL and
// certificate are served on loopback and whose answers the test changes,
// to see the validator refuse what it must.
type miniCA struct {
	t    *testing.T
	srv  *httptest.Server
	cert *x509.Certificate
	key  crypto.Signer
	next int64

	mu sync.Mutex
	// ocsp answers a request; nil: 404.
	ocsp func(req *ocsp.Request) []byte
	crl  []byte
}

func newMiniCA(t *testing.T, name string) *miniCA {
	t.Helper()
	ca := &miniCA{t: t, next: 100}
	ca.srv = httptest.NewServer(http.HandlerFunc(ca.serve))
	t.Cleanup(ca.srv.Close)
	ca.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca.cert = ca.issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, ca.key.Public(), nil)
	ca.setCRL(ca.cert, ca.key)
	ca.ocsp = func(req *ocsp.Request) []byte {
		return ca.response(req.SerialNumber, ocsp.Good, ca.cert, ca.key, time.Hour)
	}
	return ca
}

func (ca *miniCA) serve(w http.ResponseWriter, r *http.Request) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	switch r.URL.Path {
	case "/ca":
		w.Write(ca.cert.Raw)
	case "/crl":
		w.Write(ca.crl)
	case "/ocsp":
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil || ca.ocsp == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(ca.ocsp(req))
	case "/big":
		w.Write(bytes.Repeat([]byte{0}, maxOCSPResponse+1))
	default:
		http.NotFound(w, r)
	}
}

// issue makes a certificate for pub signed by the CA (self-signed when
// the CA has none yet), pointing to the CA's URLs.
func (ca *miniCA) issue(tmpl *x509.Certificate, pub crypto.PublicKey, eku []x509.ExtKeyUsage) *x509.Certificate {
	ca.t.Helper()
	ca.next++
	tmpl.SerialNumber = big.NewInt(ca.next)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.ExtKeyUsage = eku
	parent := ca.cert
	if parent == nil {
		parent = tmpl
	} else {
		tmpl.OCSPServer = []string{ca.srv.URL + "/ocsp"}
		tmpl.CRLDistributionPoints = []string{ca.srv.URL + "/crl"}
		tmpl.IssuingCertificateURL = []string{ca.srv.URL + "/ca"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func (ca *miniCA) leaf(name string, eku ...x509.ExtKeyUsage) (*x509.Certificate, crypto.Signer) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return ca.issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, KeyUsage: x509.KeyUsageDigitalSignature}, k.Public(), eku), k
}

// response is an OCSP response about serial, signed by signer (with
// signerCert embedded unless it is the CA), its nextUpdate next from now.
func (ca *miniCA) response(serial *big.Int, status int, signerCert *x509.Certificate, signer crypto.Signer, next time.Duration) []byte {
	tmpl := ocsp.Response{Status: status, SerialNumber: serial, ThisUpdate: time.Now().Add(-2 * time.Hour), NextUpdate: time.Now().Add(next),
		RevokedAt: time.Now().Add(-time.Minute)}
	if !signerCert.Equal(ca.cert) {
		tmpl.Certificate = signerCert
	}
	der, err := ocsp.CreateResponse(ca.cert, signerCert, tmpl, signer)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

func (ca *miniCA) setCRL(issuer *x509.Certificate, key crypto.Signer, revoked ...*big.Int) {
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.mu.Lock()
	ca.crl = der
	ca.mu.Unlock()
}

func (ca *miniCA) setOCSP(f func(req *ocsp.Request) []byte) {
	ca.mu.Lock()
	ca.ocsp = f
	ca.mu.Unlock()
}

func newValidator(t *testing.T) *validator {
	return &validator{http: &http.Client{Timeout: 5 * time.Second}, now: time.Now, warn: t.Logf}
}

// TestValidatorRefusals: what the B-LT validation data must be, against a
// CA whose answers the test controls: OCSP responses signed by the issuer
// or a responder it delegated to, about the certificate asked, current;
// CRLs by the issuer; bounded answers from http(s) URLs only; and the
// issuer of a certificate outside the chain fetched from its caIssuers URL.
func TestValidatorRefusals(t *testing.T) {
	ca := newMiniCA(t, "Mini CA")
	leaf, _ := ca.leaf("Signer")
	chain := []*x509.Certificate{leaf, ca.cert}

	v := newValidator(t)
	if err := v.chain(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if len(v.data.OCSPs) != 1 || len(v.data.CRLs) != 1 || len(v.data.Certs) != 2 {
		t.Fatalf("validation data: %d OCSP, %d CRL, %d certificates", len(v.data.OCSPs), len(v.data.CRLs), len(v.data.Certs))
	}

	// With the CRL gone, each bad OCSP answer leaves the signer without
	// revocation data.
	ca.mu.Lock()
	goodCRL := ca.crl
	ca.crl = nil
	ca.mu.Unlock()
	other := newMiniCA(t, "Other CA")
	noEKU, noEKUKey := ca.leaf("Not A Responder")
	responder, responderKey := ca.leaf("Delegated Responder", x509.ExtKeyUsageOCSPSigning)
	otherLeaf, _ := ca.leaf("Someone Else")
	cases := []struct {
		name   string
		answer func(req *ocsp.Request) []byte
		want   string // "" is success
	}{
		{"delegated responder", func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Good, responder, responderKey, time.Hour)
		}, ""},
		{"signed by a certificate not for OCSP", func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Good, noEKU, noEKUKey, time.Hour)
		}, "id-kp-OCSPSigning"},
		{"signed by another CA", func(r *ocsp.Request) []byte {
			return other.response(r.SerialNumber, ocsp.Good, other.cert, other.key, time.Hour)
		}, "the response"},
		{"about another certificate", func(r *ocsp.Request) []byte {
			return ca.response(otherLeaf.SerialNumber, ocsp.Good, ca.cert, ca.key, time.Hour)
		}, "the response"},
		{"expired", func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Good, ca.cert, ca.key, -time.Minute)
		}, "expired"},
		{"unknown", func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Unknown, ca.cert, ca.key, time.Hour)
		}, "status unknown"},
		{"not OCSP", func(r *ocsp.Request) []byte { return []byte("<html>") }, "the response"},
		{"unauthorized", func(r *ocsp.Request) []byte { return ocsp.UnauthorizedErrorResponse }, "the response"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ca.setOCSP(tc.answer)
			err := newValidator(t).chain(ctx, chain)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "no revocation data for the signer's certificate") || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		ca.setOCSP(func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Revoked, ca.cert, ca.key, time.Hour)
		})
		if err := newValidator(t).chain(ctx, chain); !errors.Is(err, errRevoked) || !strings.Contains(err.Error(), "OCSP") {
			t.Fatalf("%v", err)
		}
		// On the CRL only.
		ca.setOCSP(nil)
		ca.setCRL(ca.cert, ca.key, leaf.SerialNumber)
		if err := newValidator(t).chain(ctx, chain); !errors.Is(err, errRevoked) || !strings.Contains(err.Error(), "CRL") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("CRL of another CA", func(t *testing.T) {
		ca.setOCSP(nil)
		ca.mu.Lock()
		ca.crl = other.crl
		ca.mu.Unlock()
		if err := newValidator(t).chain(ctx, chain); err == nil || !strings.Contains(err.Error(), "not the certificate's issuer's") {
			t.Fatalf("%v", err)
		}
		ca.mu.Lock()
		ca.crl = goodCRL
		ca.mu.Unlock()
		if err := newValidator(t).chain(ctx, chain); err != nil {
			t.Fatalf("the CRL alone: %v", err)
		}
	})
	t.Run("URLs", func(t *testing.T) {
		v := newValidator(t)
		if _, err := v.fetch(ctx, http.MethodGet, "ftp://127.0.0.1/crl", "", nil, maxCRL); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Fatalf("ftp: %v", err)
		}
		if _, err := v.fetch(ctx, http.MethodGet, ca.srv.URL+"/big", "", nil, maxOCSPResponse); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("oversized: %v", err)
		}
		if _, err := v.fetch(ctx, http.MethodGet, ca.srv.URL+"/nothing", "", nil, maxOCSPResponse); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
			t.Fatalf("404: %v", err)
		}
	})
	t.Run("caIssuers", func(t *testing.T) {
		// A TSA of another CA: its issuer comes from its caIssuers URL.
		ca.setOCSP(func(r *ocsp.Request) []byte {
			return ca.response(r.SerialNumber, ocsp.Good, ca.cert, ca.key, time.Hour)
		})
		tsa, _ := other.leaf("Other TSA", x509.ExtKeyUsageTimeStamping)
		v := newValidator(t)
		if err := v.chain(ctx, chain); err != nil {
			t.Fatal(err)
		}
		v.addCert(tsa)
		if err := v.fetchIssuer(ctx, tsa, maxIssuerFetches); err != nil {
			t.Fatal(err)
		}
		if is := v.issuerOf(tsa); is == nil || !is.Equal(other.cert) {
			t.Fatal("the TSA's issuer was not added")
		}
		if err := v.revocation(ctx, tsa, true, "the TSA certificate"); err != nil {
			t.Fatal(err)
		}
		if len(v.data.Certs) != 4 || len(v.data.OCSPs) != 2 || len(v.data.CRLs) != 2 {
			t.Fatalf("validation data: %d OCSP, %d CRL, %d certificates", len(v.data.OCSPs), len(v.data.CRLs), len(v.data.Certs))
		}
		// caIssuers URLs that serve nothing, or a certificate that did
		// not issue it.
		stranger, _ := ca.leaf("Stranger")
		stranger.IssuingCertificateURL = []string{ca.srv.URL + "/nothing", other.srv.URL + "/ca"}
		v = newValidator(t)
		if err := v.fetchIssuer(ctx, stranger, maxIssuerFetches); err == nil || !strings.Contains(err.Error(), "HTTP 404") ||
			!strings.Contains(err.Error(), other.srv.URL+"/ca: x509: ECDSA verification failure") || len(v.certs) != 0 {
			t.Fatalf("an issuer that did not sign the certificate: %v", err)
		}
	})
}
