package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades"
	"github.com/openrssp/rssp/sam/pades/padestest"
)

// chainOf is the certificate chain the server holds for a credential.
func (e *env) chainOf(t *testing.T, id string) []*x509.Certificate {
	t.Helper()
	cred, err := e.db.Credential(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := sam.Certificates(cred)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// explicitRun runs cscsign with password, PIN and TOTP code from the
// environment on a fresh copy of the test document, with more args.
func (e *env) explicitRun(t *testing.T, out string, args ...string) result {
	t.Helper()
	environ := map[string]string{"CSCSIGN_PASSWORD": e.password, "CSCSIGN_PIN": e.pin, "CSCSIGN_OTP": e.totp()}
	return e.run(t, environ, "", nil, append([]string{"-server", e.srv.URL, "-cacert", e.cacert, "-username", e.username,
		"-in", e.inPDF(t), "-out", out}, args...)...)
}

// wantDSS checks the document security store of a long-term signature:
// the signer's certificate and the TSA's, and for each of them an OCSP
// response signed by the development CA that says good and a CRL signed by
// it that does not list them.
func (e *env) wantDSS(t *testing.T, doc []byte, leaf *x509.Certificate) {
	t.Helper()
	dss, err := pades.DSS(doc)
	if err != nil {
		t.Fatal(err)
	}
	var tsaCert *x509.Certificate
	haveLeaf, haveCA := false, false
	for _, der := range dss.Certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("a DSS certificate does not parse: %v", err)
		}
		switch {
		case c.Equal(leaf):
			haveLeaf = true
		case c.Equal(e.ca):
			haveCA = true
		case len(c.ExtKeyUsage) == 1 && c.ExtKeyUsage[0] == x509.ExtKeyUsageTimeStamping:
			tsaCert = c
		}
	}
	if !haveLeaf || !haveCA || tsaCert == nil {
		t.Fatalf("DSS certificates: signer %v, CA %v, TSA %v; want all three", haveLeaf, haveCA, tsaCert != nil)
	}
	if err := tsaCert.CheckSignatureFrom(e.ca); err != nil {
		t.Fatalf("the TSA certificate in the DSS is not the development CA's: %v", err)
	}
	for _, c := range []*x509.Certificate{leaf, tsaCert} {
		good := false
		for _, der := range dss.OCSPs {
			r, err := ocsp.ParseResponse(der, e.ca)
			if err != nil {
				t.Fatalf("a DSS OCSP response does not verify against the development CA: %v", err)
			}
			if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
				good = r.Status == ocsp.Good
			}
		}
		if !good {
			t.Errorf("no OCSP response saying good for %q in the DSS (%d responses)", c.Subject.CommonName, len(dss.OCSPs))
		}
	}
	if len(dss.CRLs) == 0 {
		t.Fatal("no CRL in the DSS")
	}
	for _, der := range dss.CRLs {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("a DSS CRL does not parse: %v", err)
		}
		if err := crl.CheckSignatureFrom(e.ca); err != nil {
			t.Fatalf("a DSS CRL is not signed by the development CA: %v", err)
		}
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(leaf.SerialNumber) == 0 || r.SerialNumber.Cmp(tsaCert.SerialNumber) == 0 {
				t.Fatal("the DSS CRL lists the signer or the TSA")
			}
		}
	}
}

// rangesDigest is the digest of a signature's byte ranges.
func rangesDigest(doc []byte, br [4]int64, h crypto.Hash) []byte {
	d := h.New()
	d.Write(doc[br[0] : br[0]+br[1]])
	d.Write(doc[br[2] : br[2]+br[3]])
	return d.Sum(nil)
}

// TestLongTerm: B-LT, then B-LTA, against the server's own CRL, OCSP
// responder and TSA. pdfsig keeps the signature valid and trusted; the
// DSS holds what validates the signer and the TSA, fetched over HTTPS and
// verified against the development CA; B-LTA ends with a document
// timestamp over its byte ranges.
func TestLongTerm(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	leaf := e.chainOf(t, e.creds[0])[0]
	if len(leaf.OCSPServer) != 1 || len(leaf.CRLDistributionPoints) != 1 || leaf.OCSPServer[0] != e.public+sam.OCSPPath {
		t.Fatalf("the signer's certificate does not point to the server's OCSP responder and CRL: %v %v", leaf.OCSPServer, leaf.CRLDistributionPoints)
	}

	t.Run("B-LT", func(t *testing.T) {
		out := filepath.Join(e.dir, "lt.pdf")
		before := e.revocationFetches.Load()
		r := e.explicitRun(t, out, "-level", "B-LT")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		wantSteps(t, r, []string{"choosing credential", "checking the certificates' revocation status", "authorizing 1 signature",
			"signing", "timestamping", "adding validation data", "writing " + out}, e.password, e.pin)
		if strings.Contains(r.stderr, "warning") {
			t.Errorf("warnings:\n%s", r.stderr)
		}
		// OCSP for the signer and for the TSA, and their CA's CRL once.
		if n := e.revocationFetches.Load() - before; n != 3 {
			t.Errorf("%d requests to the OCSP responder and CRL, want 3", n)
		}
		e.checkSignedPDF(t, out)
		doc, _ := os.ReadFile(out)
		e.wantDSS(t, doc, leaf)
		fields, err := pades.Signatures(doc)
		if err != nil || len(fields) != 1 || fields[0].SubFilter != "ETSI.CAdES.detached" {
			t.Fatalf("Signatures: %+v, %v", fields, err)
		}
	})

	t.Run("B-LTA", func(t *testing.T) {
		out := filepath.Join(e.dir, "lta.pdf")
		r := e.explicitRun(t, out, "-level", "B-LTA", "-hash", "SHA-384")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		wantSteps(t, r, []string{"checking the certificates' revocation status", "authorizing 1 signature", "signing", "timestamping",
			"adding validation data", "timestamping the document", "writing " + out}, e.password, e.pin)
		doc, _ := os.ReadFile(out)
		e.wantDSS(t, doc, leaf)
		fields, err := pades.Signatures(doc)
		if err != nil || len(fields) != 2 || fields[0].SubFilter != "ETSI.CAdES.detached" || fields[1].SubFilter != "ETSI.RFC3161" {
			t.Fatalf("Signatures: %+v, %v", fields, err)
		}
		if br := fields[1].ByteRange; br[2]+br[3] != int64(len(doc)) {
			t.Fatalf("the document timestamp covers %v of %d bytes", br, len(doc))
		}
		ts, err := timestamp.Parse(fields[1].Contents)
		if err != nil {
			t.Fatalf("the document timestamp does not parse or verify: %v", err)
		}
		if want := rangesDigest(doc, fields[1].ByteRange, crypto.SHA384); ts.HashAlgorithm != crypto.SHA384 || !bytes.Equal(ts.HashedMessage, want) {
			t.Fatalf("the document timestamp's imprint (%v %x) is not the digest of its byte ranges (%x)", ts.HashAlgorithm, ts.HashedMessage, want)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.ca)
		if _, err := ts.Certificates[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
			t.Fatalf("the document timestamp's TSA does not chain to the development CA: %v", err)
		}
		v := padestest.NewValidator(t, e.ca)
		reports := v.Report(t, doc)
		if len(reports) != 2 {
			t.Fatalf("pdfsig finds %d signatures:\n%s", len(reports), strings.Join(reports, "\n"))
		}
		padestest.WantValid(t, reports[0], "ETSI.CAdES.detached", testSignerName)
		v.QPDFCheck(t, doc)
	})
}

// TestLongTermHTTPS: B-LT where the certificates name the server's own
// HTTPS URLs, which cscsign reaches trusting -cacert.
func TestLongTermHTTPS(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnvPublishing(t, true, credSpec{hsm.RSA2048, sam.AuthModeExplicit})
	leaf := e.chainOf(t, e.creds[0])[0]
	if len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != e.srv.URL+sam.OCSPPath || !strings.HasPrefix(e.srv.URL, "https://") {
		t.Fatalf("the signer's certificate does not point to the server's HTTPS OCSP responder: %v", leaf.OCSPServer)
	}
	out := filepath.Join(e.dir, "lt.pdf")
	r := e.explicitRun(t, out, "-level", "B-LT")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if n := e.revocationFetches.Load(); n != 3 {
		t.Errorf("%d requests to the OCSP responder and CRL, want 3", n)
	}
	doc, _ := os.ReadFile(out)
	e.wantDSS(t, doc, leaf)
	// NSS, under pdfsig, does not fetch OCSP over HTTPS, so it cannot say
	// the certificate is trusted; the signature itself must be valid.
	reports := padestest.NewValidator(t, e.ca).Report(t, doc)
	if len(reports) != 1 || !strings.Contains(reports[0], "Signature Validation: Signature is Valid.") {
		t.Fatalf("pdfsig:\n%s", strings.Join(reports, "\n"))
	}

	t.Run("untrusted", func(t *testing.T) {
		// Without -cacert, the OCSP responder and CRL are not trusted
		// either: no B-LT, nothing authorized.
		hc, err := httpClient("", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		v := &validator{http: hc, now: time.Now, warn: t.Logf}
		err = v.chain(ctx, e.chainOf(t, e.creds[0]))
		if err == nil || !strings.Contains(err.Error(), "no revocation data for the signer's certificate") || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("%v", err)
		}
	})
}

// TestLongTermRevoked: a revoked credential gets no B-LT signature and no
// file; and the revocation checks themselves, on the revoked certificate,
// say revoked through OCSP and through the CRL.
func TestLongTermRevoked(t *testing.T) {
	e := newEnvPublishing(t, true, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	chain := e.chainOf(t, e.creds[0])
	if listed, err := e.sam.RevokeCredential(ctx, e.creds[0], sam.ReasonKeyCompromise, "test"); err != nil || !listed {
		t.Fatalf("RevokeCredential: %v, %v", listed, err)
	}
	out := filepath.Join(e.dir, "revoked.pdf")
	r := e.explicitRun(t, out, "-level", "B-LT", "-credential", e.creds[0])
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; r.code != 1 || !strings.HasPrefix(last, "cscsign: ") || !strings.Contains(last, `the signer's certificate "`+testSignerName+`" is revoked since `) ||
		!strings.Contains(last, "(OCSP "+e.public+sam.OCSPPath+")") {
		t.Fatalf("exit %d, last line %q:\n%s", r.code, last, r.stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the out file exists: %v", err)
	}
	if e.authorizes.Load() != 0 {
		t.Fatal("a revoked credential was authorized")
	}

	hc, err := httpClient(e.cacert, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v := &validator{http: hc, now: time.Now, warn: func(f string, args ...any) { t.Logf("warning: "+f, args...) }}
	err = v.chain(ctx, chain)
	if !errors.Is(err, errRevoked) || !strings.Contains(err.Error(), "OCSP") {
		t.Fatalf("the OCSP check of a revoked certificate: %v", err)
	}
	if _, err := v.crl(ctx, chain[0].CRLDistributionPoints[0], chain[0], chain[1]); !errors.Is(err, errRevoked) {
		t.Fatalf("the CRL check of a revoked certificate: %v", err)
	}
	// A CRL checked against the wrong issuer is refused.
	if _, err := v.crl(ctx, chain[0].CRLDistributionPoints[0], chain[0], chain[0]); err == nil || errors.Is(err, errRevoked) {
		t.Fatalf("a CRL not signed by the issuer given: %v", err)
	}
	// Without any revocation pointer there is no B-LT.
	bare := *chain[0]
	bare.OCSPServer, bare.CRLDistributionPoints = nil, nil
	v = &validator{http: hc, now: time.Now, warn: t.Logf}
	if err := v.chain(ctx, []*x509.Certificate{&bare, chain[1]}); err == nil || !strings.Contains(err.Error(), "no revocation data") {
		t.Fatalf("a signer certificate without revocation pointers: %v", err)
	}
}

// TestVisible: a visible signature on page 1 that pdfsig validates; a
// malformed -visible is misuse (exit 2); a box outside the page fails in
// one line (exit 1) before anything is authorized.
func TestVisible(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	out := filepath.Join(e.dir, "visible.pdf")
	r := e.explicitRun(t, out, "-visible", "1:36,36,236,96")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	e.checkSignedPDF(t, out)
	doc, _ := os.ReadFile(out)
	if !regexp.MustCompile(`/Rect\s*\[\s*36(\.0*)?\s+36(\.0*)?\s+236(\.0*)?\s+96(\.0*)?\s*\]`).Match(doc) ||
		!bytes.Contains(doc, []byte("Digitally signed by "+testSignerName)) {
		t.Fatal("no widget with the rectangle and text asked for")
	}
	authorized := e.authorizes.Load()
	if authorized != 1 {
		t.Fatalf("%d authorizations for one signature", authorized)
	}

	for _, bad := range []string{"1", "0:1,1,2,2", "x:1,1,2,2", "1:1,1,2", "1:1,1,2,2,3", "1:a,1,2,2", "1:10,10,5,20", "1:NaN,1,2,2", "1:1,1,2,Inf"} {
		r := e.run(t, nil, "", nil, "-server", e.srv.URL, "-username", "x", "-in", "a.pdf", "-out", "b.pdf", "-visible", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "-visible") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("-visible %q: exit %d, %q", bad, r.code, r.stderr)
		}
	}

	for _, tc := range []struct{ visible, want string }{
		{"1:500,800,800,900", "is not within page 1"},
		{"2:36,36,236,96", "no page 2"},
	} {
		out := filepath.Join(e.dir, "outside.pdf")
		fetches := e.revocationFetches.Load()
		r := e.explicitRun(t, out, "-visible", tc.visible, "-level", "B-LT")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		last := lines[len(lines)-1]
		if r.code != 1 || !strings.HasPrefix(last, "cscsign: -visible "+tc.visible+": pades: the visible signature cannot be placed") ||
			!strings.Contains(last, tc.want) {
			t.Fatalf("-visible %s: exit %d, last line %q", tc.visible, r.code, last)
		}
		if e.authorizes.Load() != authorized || e.revocationFetches.Load() != fetches || strings.Contains(r.stderr, "authorizing") {
			t.Fatalf("-visible %s: authorized before the box was checked:\n%s", tc.visible, r.stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the out file exists: %v", err)
		}
	}
}
