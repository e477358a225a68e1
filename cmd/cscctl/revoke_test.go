package main

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// TestCredentialRevoke: certificates the development CA issues through
// cscctl name the server's revocation URLs; `credential revoke` puts one on
// the CRL with the reason given, for good; `credential delete` revokes too.
func TestCredentialRevoke(t *testing.T) {
	e := newTestEnv(t)
	e.must("", "init")
	pinFile := e.writeSecret("pin", "canary-pin-4471")
	e.must("", "user", "add", "-username", "alice", "-name", "Alice Liddell", "-password-file", e.writeSecret("pw", "canary-password-9931"))
	credID := strings.TrimSpace(e.must("", "credential", "create", "-username", "alice", "-alg", "EC-P256", "-pin-file", pinFile).stdout)
	otherID := strings.TrimSpace(e.must("", "credential", "create", "-username", "alice", "-alg", "EC-P256", "-pin-file", pinFile).stdout)

	r := e.must("", "credential", "revoke", "-h")
	if !strings.Contains(r.stdout, "-reason") || !strings.Contains(r.stdout, "keyCompromise") {
		t.Fatalf("revoke -h: %s", r.stdout)
	}
	if r := e.run("", "credential", "revoke", "-id", credID, "-reason", "certificateHold", "-yes"); r.code != 2 || !strings.Contains(r.stderr, "-reason") {
		t.Fatalf("unknown reason: %+v", r)
	}
	if r := e.run("", "credential", "revoke", "-reason", "superseded"); r.code != 2 {
		t.Fatalf("no -id: %+v", r)
	}
	if r := e.run("no\n", "credential", "revoke", "-id", credID, "-reason", "keyCompromise"); r.code != 1 || !strings.Contains(r.stderr, "nothing revoked") {
		t.Fatalf("unconfirmed revoke: %+v", r)
	}
	r = e.must("yes\n", "credential", "revoke", "-id", credID, "-reason", "keyCompromise")
	if !strings.Contains(r.stdout, "revoked (keyCompromise)") || !strings.Contains(r.stdout, "https://rssp.test:8443/ca/crl") {
		t.Fatalf("revoke: %s", r.stdout)
	}
	if r := e.run("", "credential", "enable", "-id", credID); r.code != 1 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("enabling a revoked credential: %+v", r)
	}
	e.must("", "credential", "delete", "-id", otherID, "-yes")

	s, st, closeAll := e.open()
	defer closeAll()
	ca, err := s.DevCACertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := st.Credential(ctx, credID)
	if err != nil || cred.Status != store.StatusRevoked {
		t.Fatalf("credential after revoke: %+v %v", cred, err)
	}
	chain, err := sam.Certificates(cred)
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	if len(leaf.CRLDistributionPoints) != 1 || leaf.CRLDistributionPoints[0] != "https://rssp.test:8443/ca/crl" ||
		len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != "https://rssp.test:8443/ocsp" ||
		len(leaf.IssuingCertificateURL) != 1 || leaf.IssuingCertificateURL[0] != "https://rssp.test:8443/ca/cert" {
		t.Fatalf("certificate from cscctl: CRL DP %v, OCSP %v, caIssuers %v", leaf.CRLDistributionPoints, leaf.OCSPServer, leaf.IssuingCertificateURL)
	}
	der, err := s.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil || crl.CheckSignatureFrom(ca) != nil {
		t.Fatalf("CRL: %v", err)
	}
	reasons := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		reasons[e.SerialNumber.Text(16)] = e.ReasonCode
	}
	if len(reasons) != 2 || reasons[leaf.SerialNumber.Text(16)] != int(sam.ReasonKeyCompromise) {
		t.Fatalf("CRL entries %v, want the revoked (keyCompromise) and the deleted credential", reasons)
	}
}
