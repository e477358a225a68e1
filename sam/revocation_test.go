package sam_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"golang.org/x/crypto/ocsp"
)

const testPublicURL = "https://rssp.test:8443"

// node is a second SAM on the fixture's token and database: another server
// node, which knows the public URL.
func (f *fixture) node() *sam.SAM {
	f.t.Helper()
	s, err := sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithPublicURL(testPublicURL+"/"))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// certified creates a credential for a new signer and has s issue its
// development certificate.
func (f *fixture) certified(s *sam.SAM, username string) (*store.Credential, *x509.Certificate) {
	f.t.Helper()
	sg := f.newSigner(username)
	c, err := s.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: hsm.ECP256, SCAL: 1, Multisign: 1, AuthMode: sam.AuthModeExplicit})
	if err != nil {
		f.t.Fatal(err)
	}
	chain, err := s.IssueDevCertificate(ctx, c.ID, sam.Subject{}, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return c, chain[0]
}

// countEvents counts audit entries of an event.
func (f *fixture) countEvents(event string) int {
	f.t.Helper()
	es, err := f.st.AuditEntries(ctx, 0, 1_000_000)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Event == event {
			n++
		}
	}
	return n
}

// fetchCRL gets the CRL from s and checks it: it parses, the CA signed it,
// its authority key identifier is the CA's.
func fetchCRL(t *testing.T, s *sam.SAM, ca *x509.Certificate) *x509.RevocationList {
	t.Helper()
	der, err := s.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("CRL does not verify against the CA certificate: %v", err)
	}
	if !bytes.Equal(crl.AuthorityKeyId, ca.SubjectKeyId) || !crl.NextUpdate.After(crl.ThisUpdate) {
		t.Fatalf("CRL AKI %x (CA SKI %x), thisUpdate %v nextUpdate %v", crl.AuthorityKeyId, ca.SubjectKeyId, crl.ThisUpdate, crl.NextUpdate)
	}
	return crl
}

func crlEntry(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	for i := range crl.RevokedCertificateEntries {
		if crl.RevokedCertificateEntries[i].SerialNumber.Cmp(serial) == 0 {
			return &crl.RevokedCertificateEntries[i]
		}
	}
	return nil
}

// ocspStatus asks s about cert and returns the verified response.
func ocspStatus(t *testing.T, s *sam.SAM, cert, ca *x509.Certificate) (*ocsp.Response, []byte) {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := s.OCSP(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, ca) // checks the signature with ca
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	if resp.SerialNumber.Cmp(cert.SerialNumber) != 0 || !resp.NextUpdate.After(resp.ThisUpdate) {
		t.Fatalf("OCSP response for serial %x, thisUpdate %v nextUpdate %v", resp.SerialNumber, resp.ThisUpdate, resp.NextUpdate)
	}
	return resp, der
}

func TestRevocationCRLAndOCSP(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		a, b := f.node(), f.node() // two server nodes on one database
		cred, leaf := f.certified(a, "rev-alice")

		// The certificate points to our revocation data; the CA's does not.
		if len(leaf.CRLDistributionPoints) != 1 || leaf.CRLDistributionPoints[0] != testPublicURL+"/ca/crl" ||
			len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != testPublicURL+"/ocsp" ||
			len(leaf.IssuingCertificateURL) != 1 || leaf.IssuingCertificateURL[0] != testPublicURL+"/ca/cert" {
			t.Fatalf("signer certificate pointers: CRL %v OCSP %v caIssuers %v", leaf.CRLDistributionPoints, leaf.OCSPServer, leaf.IssuingCertificateURL)
		}
		if len(ca.CRLDistributionPoints)+len(ca.OCSPServer) != 0 {
			t.Fatal("the CA certificate carries revocation pointers")
		}

		// CRL: the first is signed once, then served from the database on
		// both nodes without the HSM.
		crl1 := fetchCRL(t, a, ca)
		if crl1.Number.Int64() != 1 || len(crl1.RevokedCertificateEntries) != 0 {
			t.Fatalf("first CRL: number %v, %d entries", crl1.Number, len(crl1.RevokedCertificateEntries))
		}
		for _, s := range []*sam.SAM{a, b, a} {
			if again := fetchCRL(t, s, ca); !bytes.Equal(again.Raw, crl1.Raw) {
				t.Fatal("CRL re-signed without a change")
			}
		}
		if n, m := f.countEvents(sam.EventCRLSignBegin), f.countEvents(sam.EventCRLSigned); n != 1 || m != 1 {
			t.Fatalf("%d CRL signature(s) begun, %d ended, want 1 each (audited around the single HSM use)", n, m)
		}

		// OCSP: good, signed once, cached; the cache of node b sees a.
		good, der1 := ocspStatus(t, b, leaf, ca)
		if good.Status != ocsp.Good {
			t.Fatalf("status %d, want good", good.Status)
		}
		if _, der2 := ocspStatus(t, b, leaf, ca); !bytes.Equal(der1, der2) {
			t.Fatal("OCSP response re-signed without a change")
		}
		if n := f.countEvents(sam.EventOCSPSigned); n != 1 {
			t.Fatalf("%d OCSP signatures for two requests, want 1", n)
		}
		unknown, _ := ocspStatus(t, a, &x509.Certificate{SerialNumber: big.NewInt(0x5eed)}, ca)
		if unknown.Status != ocsp.Unknown {
			t.Fatalf("never issued serial: status %d, want unknown", unknown.Status)
		}

		// Disable is no revocation.
		if err := a.SetCredentialStatus(ctx, cred.ID, store.StatusDisabled, "operator"); err != nil {
			t.Fatal(err)
		}
		if r, _ := ocspStatus(t, b, leaf, ca); r.Status != ocsp.Good {
			t.Fatalf("disabled credential: status %d, want good", r.Status)
		}

		// Revoke on node a; node b's CRL and OCSP see it at once.
		f.clock.Advance(time.Minute)
		listed, err := a.RevokeCredential(ctx, cred.ID, sam.ReasonKeyCompromise, "operator")
		if err != nil || !listed {
			t.Fatalf("revoke: listed %v, %v", listed, err)
		}
		crl2 := fetchCRL(t, b, ca)
		e := crlEntry(crl2, leaf.SerialNumber)
		if crl2.Number.Int64() != 2 || e == nil || e.ReasonCode != int(sam.ReasonKeyCompromise) || !e.RevocationTime.Equal(f.clock.Now().UTC().Truncate(time.Millisecond)) {
			t.Fatalf("CRL after revocation: number %v, entry %+v", crl2.Number, e)
		}
		revoked, _ := ocspStatus(t, b, leaf, ca)
		if revoked.Status != ocsp.Revoked || revoked.RevocationReason != ocsp.KeyCompromise {
			t.Fatalf("OCSP after revocation: status %d reason %d", revoked.Status, revoked.RevocationReason)
		}
		if !bytes.Equal(fetchCRL(t, a, ca).Raw, crl2.Raw) {
			t.Fatal("node a serves another CRL than node b")
		}
		if n := f.countEvents(sam.EventCertRevoked); n != 1 {
			t.Fatalf("%d cert.revoked audit entries, want 1", n)
		}
		if n := f.countEvents(sam.EventCredentialRevoked); n != 1 {
			t.Fatalf("%d credential.revoked audit entries, want 1", n)
		}

		// Revocation is final.
		if err := a.SetCredentialStatus(ctx, cred.ID, store.StatusActive, "operator"); !errors.Is(err, sam.ErrCredentialRevoked) {
			t.Fatalf("enabling a revoked credential: %v", err)
		}
		if _, err := a.IssueDevCertificate(ctx, cred.ID, sam.Subject{}, 0); !errors.Is(err, sam.ErrCredentialRevoked) {
			t.Fatalf("certifying a revoked credential: %v", err)
		}
		if listed, err := a.RevokeCredential(ctx, cred.ID, sam.ReasonSuperseded, "operator"); err != nil || !listed {
			t.Fatalf("second revocation: %v, %v", listed, err)
		}
		if e := crlEntry(fetchCRL(t, a, ca), leaf.SerialNumber); e.ReasonCode != int(sam.ReasonKeyCompromise) {
			t.Fatalf("a second revocation changed the reason to %d", e.ReasonCode)
		}

		// Delete revokes (cessationOfOperation).
		cred2, leaf2 := f.certified(a, "rev-bob")
		if err := a.DeleteCredential(ctx, cred2.ID, "operator"); err != nil {
			t.Fatal(err)
		}
		crl3 := fetchCRL(t, a, ca)
		if e := crlEntry(crl3, leaf2.SerialNumber); crl3.Number.Int64() != 3 || e == nil || e.ReasonCode != int(sam.ReasonCessationOfOperation) {
			t.Fatalf("CRL after delete: number %v, entry %+v", crl3.Number, e)
		}
		if r, _ := ocspStatus(t, a, leaf2, ca); r.Status != ocsp.Revoked {
			t.Fatalf("deleted credential: OCSP status %d", r.Status)
		}

		// Re-signed when half the validity has passed, and not before.
		f.clock.Advance(11 * time.Hour)
		if !bytes.Equal(fetchCRL(t, b, ca).Raw, crl3.Raw) {
			t.Fatal("CRL re-signed before half its validity")
		}
		f.clock.Advance(2 * time.Hour)
		if crl4 := fetchCRL(t, b, ca); crl4.Number.Int64() != 4 || len(crl4.RevokedCertificateEntries) != 2 {
			t.Fatalf("CRL after 13h: number %v, %d entries", crl4.Number, len(crl4.RevokedCertificateEntries))
		}
	})
}

func TestOCSPRefusals(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		_, leaf := f.certified(f.sam, "rev-carol")
		for name, der := range map[string][]byte{
			"empty":     nil,
			"garbage":   []byte("not an OCSP request"),
			"too large": make([]byte, sam.MaxOCSPRequest+1),
			"truncated": mustRequest(t, leaf, ca)[:20],
		} {
			resp, err := f.sam.OCSP(ctx, der)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := ocsp.ParseResponse(resp, nil); !isResponseError(err, ocsp.Malformed) {
				t.Fatalf("%s: %v, want malformedRequest", name, err)
			}
		}
		// Another issuer's certificate: unauthorized.
		other := selfSigned(t)
		resp, err := f.sam.OCSP(ctx, mustRequest(t, leaf, other))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocsp.ParseResponse(resp, nil); !isResponseError(err, ocsp.Unauthorized) {
			t.Fatalf("other issuer: %v, want unauthorized", err)
		}
		if n := f.countEvents(sam.EventOCSPSignBegin); n != 0 {
			t.Fatalf("refused requests used the CA key %d times", n)
		}
	})
}

func TestValidationData(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		_, leaf := f.certified(f.sam, "rev-dave")
		tsa, _, err := f.sam.InitDevTSA(ctx, sam.DevTSAConfig{})
		if err != nil {
			t.Fatal(err)
		}
		crls, ocsps, err := f.sam.ValidationData(ctx, []*x509.Certificate{leaf, selfSigned(t), tsa, ca})
		if err != nil {
			t.Fatal(err)
		}
		if len(crls) != 1 || len(ocsps) != 2 {
			t.Fatalf("%d CRLs and %d OCSP responses, want 1 and 2 (leaf and TSA; not the foreign certificate, not the CA)", len(crls), len(ocsps))
		}
		crl, err := x509.ParseRevocationList(crls[0])
		if err != nil || crl.CheckSignatureFrom(ca) != nil {
			t.Fatalf("CRL: %v", err)
		}
		for i, c := range []*x509.Certificate{leaf, tsa} {
			r, err := ocsp.ParseResponseForCert(ocsps[i], c, ca)
			if err != nil || r.Status != ocsp.Good {
				t.Fatalf("OCSP response %d: %+v, %v", i, r, err)
			}
		}
		crls, ocsps, err = f.sam.ValidationData(ctx, []*x509.Certificate{selfSigned(t)})
		if err != nil || crls != nil || ocsps != nil {
			t.Fatalf("foreign chain: %d CRLs, %d OCSP, %v", len(crls), len(ocsps), err)
		}
	})
}

func TestRevocationWithoutDevCA(t *testing.T) {
	f := newFixture(t, store.DriverSQLite, testConfig())
	if _, err := f.sam.CRL(ctx); !errors.Is(err, sam.ErrNoDevCA) {
		t.Fatalf("CRL without CA: %v", err)
	}
	crls, ocsps, err := f.sam.ValidationData(ctx, []*x509.Certificate{selfSigned(t)})
	if err != nil || crls != nil || ocsps != nil {
		t.Fatalf("ValidationData without CA: %v %v %v", crls, ocsps, err)
	}
}

func TestParseRevocationReason(t *testing.T) {
	for _, name := range sam.RevocationReasonNames() {
		r, err := sam.ParseRevocationReason(name)
		if err != nil || r.String() != name {
			t.Fatalf("%s: %v %v", name, r, err)
		}
	}
	if r, err := sam.ParseRevocationReason("KEYCOMPROMISE"); err != nil || r != sam.ReasonKeyCompromise {
		t.Fatalf("case-insensitive: %v %v", r, err)
	}
	for _, bad := range []string{"", "certificateHold", "removeFromCRL", "cACompromise"} {
		if _, err := sam.ParseRevocationReason(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func mustRequest(t *testing.T, cert, issuer *x509.Certificate) []byte {
	t.Helper()
	der, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func isResponseError(err error, status ocsp.ResponseStatus) bool {
	var re ocsp.ResponseError
	return errors.As(err, &re) && re.Status == status
}

// selfSigned is a certificate from no CA of ours.
func selfSigned(t *testing.T) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Other CA"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRevokedSignerRevokesCredentials: revoking a signer puts the
// certificates of all its credentials on the CRL.
func TestRevokedSignerRevokesCredentials(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		cred, leaf := f.certified(f.sam, "rev-erin")
		if err := f.sam.SetSignerStatus(ctx, cred.SignerID, store.StatusDisabled, "operator"); err != nil {
			t.Fatal(err)
		}
		if len(fetchCRL(t, f.sam, ca).RevokedCertificateEntries) != 0 {
			t.Fatal("disabling a signer revoked a certificate")
		}
		if err := f.sam.SetSignerStatus(ctx, cred.SignerID, store.StatusRevoked, "operator"); err != nil {
			t.Fatal(err)
		}
		e := crlEntry(fetchCRL(t, f.sam, ca), leaf.SerialNumber)
		if e == nil || e.ReasonCode != int(sam.ReasonCessationOfOperation) {
			t.Fatalf("CRL entry after revoking the signer: %+v", e)
		}
		if c, err := f.st.Credential(ctx, cred.ID); err != nil || c.Status != store.StatusRevoked {
			t.Fatalf("credential of a revoked signer: %+v %v", c, err)
		}
	})
}

// TestRevocationRSACA: an RSA development CA signs CRLs and OCSP responses
// that verify too.
func TestRevocationRSACA(t *testing.T) {
	f := newFixture(t, store.DriverSQLite, testConfig())
	ca, _, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	cred, leaf := f.certified(f.sam, "rev-rsa")
	if _, err := f.sam.RevokeCredential(ctx, cred.ID, sam.ReasonAffiliationChanged, "operator"); err != nil {
		t.Fatal(err)
	}
	if e := crlEntry(fetchCRL(t, f.sam, ca), leaf.SerialNumber); e == nil || e.ReasonCode != int(sam.ReasonAffiliationChanged) {
		t.Fatalf("CRL entry: %+v", e)
	}
	if r, _ := ocspStatus(t, f.sam, leaf, ca); r.Status != ocsp.Revoked || r.RevocationReason != ocsp.AffiliationChanged {
		t.Fatalf("OCSP: status %d reason %d", r.Status, r.RevocationReason)
	}
}

// TestOCSPUnknownSerialsBounded: asking about many never issued serials
// cannot make the CA key sign without bound; the excess gets tryLater,
// cached answers still come, and the budget returns the next minute.
func TestOCSPUnknownSerialsBounded(t *testing.T) {
	f := newFixture(t, store.DriverSQLite, testConfig())
	ca := f.devCA()
	_, leaf := f.certified(f.sam, "rev-frank")
	tryLater := 0
	for i := range 100 {
		resp, err := f.sam.OCSP(ctx, mustRequest(t, &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i))}, ca))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocsp.ParseResponse(resp, ca); isResponseError(err, ocsp.TryLater) {
			tryLater++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.countEvents(sam.EventOCSPSigned); tryLater != 40 || n != 60 {
		t.Fatalf("100 unknown serials: %d tryLater, %d signatures; want 40 and 60", tryLater, n)
	}
	if r, _ := ocspStatus(t, f.sam, leaf, ca); r.Status != ocsp.Good {
		t.Fatal("an issued certificate was refused with the unknown budget spent")
	}
	if r, _ := ocspStatus(t, f.sam, &x509.Certificate{SerialNumber: big.NewInt(1000)}, ca); r.Status != ocsp.Unknown {
		t.Fatal("a cached unknown answer was refused with the budget spent")
	}
	f.clock.Advance(time.Minute)
	if r, _ := ocspStatus(t, f.sam, &x509.Certificate{SerialNumber: big.NewInt(5000)}, ca); r.Status != ocsp.Unknown {
		t.Fatal("the budget did not come back after a minute")
	}
}

// TestRevocationBurst: a burst of requests right after a revocation, on two
// nodes, costs at most one CRL signature per node and one OCSP signature
// per node, and every request gets the same CRL.
func TestRevocationBurst(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		nodes := []*sam.SAM{f.node(), f.node()}
		cred, leaf := f.certified(nodes[0], "rev-gina")
		fetchCRL(t, nodes[0], ca)
		if _, err := nodes[1].RevokeCredential(ctx, cred.ID, sam.ReasonSuperseded, "operator"); err != nil {
			t.Fatal(err)
		}
		crlsBefore, ocspBefore := f.countEvents(sam.EventCRLSigned), f.countEvents(sam.EventOCSPSigned)
		req := mustRequest(t, leaf, ca)
		var wg sync.WaitGroup
		crls := make([][]byte, 16)
		errs := make([]error, 32)
		for i := range 16 {
			wg.Add(2)
			go func() { defer wg.Done(); crls[i], errs[i] = nodes[i%2].CRL(ctx) }()
			go func() { defer wg.Done(); _, errs[16+i] = nodes[i%2].OCSP(ctx, req) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, der := range crls[1:] {
			if !bytes.Equal(der, crls[0]) {
				t.Fatal("nodes served different CRLs after the burst")
			}
		}
		if n := f.countEvents(sam.EventCRLSigned) - crlsBefore; n < 1 || n > 2 {
			t.Fatalf("%d CRL signatures for a burst of 16 on 2 nodes, want 1 or 2", n)
		}
		if n := f.countEvents(sam.EventOCSPSigned) - ocspBefore; n != 2 {
			t.Fatalf("%d OCSP signatures for a burst of 16 on 2 nodes, want 2 (one per node)", n)
		}
	})
}

// TestOCSPNotFromTheFuture: a response's thisUpdate is never later than its
// producedAt (which the OCSP library takes from the wall clock, to the
// minute); NSS, and so pdfsig, refuses such a response as not yet valid.
func TestOCSPNotFromTheFuture(t *testing.T) {
	f := newFixture(t, "sqlite", testConfig())
	f.clock = &fakeClock{now: time.Now()} // the SAM on the real time, as in production
	s := f.node()
	ca := f.devCA()
	_, leaf := f.certified(s, "future")
	resp, _ := ocspStatus(t, s, leaf, ca)
	if resp.ThisUpdate.After(resp.ProducedAt) {
		t.Fatalf("thisUpdate %v is later than producedAt %v", resp.ThisUpdate, resp.ProducedAt)
	}
}
