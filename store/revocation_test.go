package store_test

import (
	"errors"
	"testing"

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
