package store_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestRevocation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const ca = "dev-ca"
		for _, serial := range []string{"0a", "0b"} {
			if err := s.RecordCertificate(ctx, &store.IssuedCertificate{AuthorityID: ca, Serial: serial, CredentialID: "cred-" + serial, Purpose: "signer", NotAfter: 5000}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordCertificate(ctx, &store.IssuedCertificate{AuthorityID: ca, Serial: "0a", Purpose: "signer"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second record of a serial: %v, want ErrConflict", err)
		}
		if _, err := s.RevocationList(ctx, ca); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revocation list before any revocation: %v, want ErrNotFound", err)
		}

		// A first CRL before any revocation: inserted once, never twice.
		ok, err := s.PutRevocationList(ctx, &store.RevocationList{AuthorityID: ca, Number: 1, DER: []byte("crl1"), ThisUpdate: 1, NextUpdate: 2}, 0)
		if err != nil || !ok {
			t.Fatalf("first CRL: %v, %v", ok, err)
		}
		if ok, err := s.PutRevocationList(ctx, &store.RevocationList{AuthorityID: ca, Number: 1, DER: []byte("other")}, 0); err != nil || ok {
			t.Fatalf("a second node's first CRL was stored too: %v, %v", ok, err)
		}

		ok, err = s.RevokeCertificate(ctx, ca, "0a", 1, 1000)
		if err != nil || !ok {
			t.Fatalf("revoke: %v, %v", ok, err)
		}
		if ok, err := s.RevokeCertificate(ctx, ca, "0a", 4, 2000); err != nil || ok {
			t.Fatalf("second revocation: %v, %v, want false", ok, err)
		}
		if _, err := s.RevokeCertificate(ctx, ca, "ff", 1, 1000); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking an unknown serial: %v, want ErrNotFound", err)
		}
		c, err := s.IssuedCertificate(ctx, ca, "0a")
		if err != nil || c.RevokedAt != 1000 || c.Reason != 1 || c.CredentialID != "cred-0a" {
			t.Fatalf("revoked record: %+v, %v (the first revocation must stay)", c, err)
		}
		l, err := s.RevocationList(ctx, ca)
		if err != nil || l.Revision != 1 || l.Number != 1 || l.Covers != 0 || string(l.DER) != "crl1" {
			t.Fatalf("state after one revocation: %+v, %v", l, err)
		}
		if ok, err := s.RevokeCertificate(ctx, ca, "0b", 5, 3000); err != nil || !ok {
			t.Fatalf("revoke 0b: %v, %v", ok, err)
		}
		revoked, err := s.RevokedCertificates(ctx, ca)
		if err != nil || len(revoked) != 2 || revoked[0].Serial != "0a" || revoked[1].Serial != "0b" {
			t.Fatalf("revoked list: %+v, %v", revoked, err)
		}

		// Compare-and-set on the CRL number.
		next := &store.RevocationList{AuthorityID: ca, Number: 2, Covers: 2, DER: []byte("crl2"), ThisUpdate: 3, NextUpdate: 4}
		if ok, err := s.PutRevocationList(ctx, next, 1); err != nil || !ok {
			t.Fatalf("CRL 2: %v, %v", ok, err)
		}
		if ok, err := s.PutRevocationList(ctx, &store.RevocationList{AuthorityID: ca, Number: 2, DER: []byte("late")}, 1); err != nil || ok {
			t.Fatalf("a stale successor of CRL 1 was stored: %v, %v", ok, err)
		}
		l, err = s.RevocationList(ctx, ca)
		if err != nil || l.Revision != 2 || l.Number != 2 || l.Covers != 2 || string(l.DER) != "crl2" || l.NextUpdate != 4 {
			t.Fatalf("state after CRL 2: %+v, %v", l, err)
		}
	})
}

// TestRevocationFirstRevokeCreatesState: the revision row is created by the
// first revocation when no CRL was signed yet, and a CRL signed from the
// state read before it loses its compare-and-set.
func TestRevocationFirstRevokeCreatesState(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if err := s.RecordCertificate(ctx, &store.IssuedCertificate{AuthorityID: "dev-ca", Serial: "01", Purpose: "tsa"}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RevokeCertificate(ctx, "dev-ca", "01", 5, 10); err != nil || !ok {
			t.Fatal(ok, err)
		}
		l, err := s.RevocationList(ctx, "dev-ca")
		if err != nil || l.Revision != 1 || l.Number != 0 {
			t.Fatalf("state: %+v, %v", l, err)
		}
		if ok, err := s.PutRevocationList(ctx, &store.RevocationList{AuthorityID: "dev-ca", Number: 1, Covers: 1, DER: []byte("c")}, 0); err != nil || !ok {
			t.Fatalf("first CRL after a revocation: %v, %v", ok, err)
		}
		l, err = s.RevocationList(ctx, "dev-ca")
		if err != nil || l.Revision != 1 || l.Number != 1 || l.Covers != 1 {
			t.Fatalf("state: %+v, %v", l, err)
		}
	})
}

// TestRevocationMigrationBackfill: the revocation migration records the
// certificates the development CA issued before it (credential leaves and
// the TSA certificate), and nothing from other issuers.
func TestRevocationMigrationBackfill(t *testing.T) {
	for _, d := range storetest.Drivers() {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The schema as it was before the migration, with data.
			if err := s.DB().Exec("DELETE FROM migrations WHERE id = ?", "2026120601_revocation").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Migrator().DropTable("revocation_lists", "issued_certificates"); err != nil {
				t.Fatal(err)
			}
			ca, caKey := testCert(t, "Dev CA", nil, nil)
			other, otherKey := testCert(t, "Other CA", nil, nil)
			leaf, _ := testCert(t, "Leaf", ca, caKey)
			foreign, _ := testCert(t, "Foreign", other, otherKey)
			tsa, _ := testCert(t, "TSA", ca, caKey)
			for _, a := range []*store.Authority{{ID: "dev-ca", Certificate: ca.Raw}, {ID: "dev-tsa", Certificate: tsa.Raw}} {
				a.KeyAlgorithm, a.KeyBlob, a.KeyMAC, a.PublicKey = "EC-P256", []byte{1}, []byte{2}, []byte{3}
				if err := s.CreateAuthority(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			_, c := seed(t, s)
			if err := s.SetCredentialCertificates(ctx, c.ID, append(append([]byte{}, leaf.Raw...), ca.Raw...), store.StatusActive); err != nil {
				t.Fatal(err)
			}
			c2 := *c
			c2.ID, c2.Certificates = "cred-foreign", append(append([]byte{}, foreign.Raw...), other.Raw...)
			if err := s.CreateCredential(ctx, &c2); err != nil {
				t.Fatal(err)
			}
			s.Close()

			s, err = store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.IssuedCertificate(ctx, "dev-ca", leaf.SerialNumber.Text(16))
			if err != nil || got.CredentialID != c.ID || got.Purpose != "signer" || got.RevokedAt != 0 || got.NotAfter != leaf.NotAfter.UnixMilli() {
				t.Fatalf("backfilled leaf: %+v, %v", got, err)
			}
			if got, err := s.IssuedCertificate(ctx, "dev-ca", tsa.SerialNumber.Text(16)); err != nil || got.Purpose != "tsa" {
				t.Fatalf("backfilled TSA certificate: %+v, %v", got, err)
			}
			if _, err := s.IssuedCertificate(ctx, "dev-ca", foreign.SerialNumber.Text(16)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a foreign certificate was recorded: %v", err)
			}
		})
	}
}

// testCert makes a certificate signed by parent (self-signed when nil).
func testCert(t *testing.T, cn string, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour).Truncate(time.Second),
		IsCA: parent == nil, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// TestRevokedCredentialIsFinal: once revoked, a credential's status and
// certificates no longer change.
func TestRevokedCredentialIsFinal(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		_, c := seed(t, s)
		if err := s.SetCredentialStatus(ctx, c.ID, store.StatusRevoked, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCredentialStatus(ctx, c.ID, store.StatusRevoked, 2); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		for _, st := range []string{store.StatusActive, store.StatusDisabled} {
			if err := s.SetCredentialStatus(ctx, c.ID, st, 3); !errors.Is(err, store.ErrRevoked) {
				t.Fatalf("status %s on a revoked credential: %v", st, err)
			}
		}
		if err := s.SetCredentialCertificates(ctx, c.ID, []byte{1}, store.StatusActive); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("new certificates on a revoked credential: %v", err)
		}
		if err := s.SetCredentialStatus(ctx, "nope", store.StatusActive, 3); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown credential: %v", err)
		}
		got, err := s.Credential(ctx, c.ID)
		if err != nil || got.Status != store.StatusRevoked || len(got.Certificates) != 0 {
			t.Fatalf("revoked credential changed: %+v %v", got, err)
		}
	})
}
