package sam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/openrssp/rssp/store"
)

// ErrNoDevCA is returned by the revocation endpoints when this service has
// no development CA.
var ErrNoDevCA = &Error{Code: "invalid_request", Description: "This service has no development CA"}

// revocation holds what a node caches of the development CA's revocation
// data.
//
// CRLs: the current CRL lives in the database (store.RevocationList) with
// its number and the revocation revision it covers, so every node serves
// the same CRL, numbers only grow, and a revocation made on any node makes
// every node's next request re-sign (RevokeCertificate advances the
// revision in its own transaction). A node keeps in memory only the digest
// of the last stored CRL it verified against the CA certificate, so a
// request costs two indexed reads and no signature check, and the HSM signs
// a CRL only when the revision moved or half the validity has passed: HTTP
// load cannot make the HSM work or the audit log grow. Two nodes re-signing
// at once both use the HSM once; the compare-and-set on the number stores
// one CRL and the other node serves the winner.
//
// OCSP: pre-produced responses per (serial, hash algorithm), in memory on
// each node, valid while the certificate's recorded revocation state (read
// from the database on every request, one indexed read) is unchanged and
// less than half of the response validity has passed. A revocation on
// another node is therefore seen on the next request; the cache only saves
// the signature. The cache is bounded (maxOCSPCache) and starts over when
// full. Serials the CA never issued are unbounded in number, so fresh
// "unknown" answers are also bounded per node and minute
// (maxUnknownPerMinute).
type revocation struct {
	mu        sync.Mutex
	crlDigest [32]byte // SHA-256 of the last stored CRL this node verified
	ocsp      map[ocspKey]*ocspEntry

	// crlSign and ocspSign let one request of this node at a time use the
	// CA key for a CRL or an OCSP response; requests that waited re-check
	// the stored CRL or the cache first, so a burst of requests after a
	// revocation costs one signature per node, not one per request.
	crlSign, ocspSign sync.Mutex

	unknownMinute int64 // unix minute of unknownSigned
	unknownSigned int   // unknown-serial responses signed in that minute
}

// maxCRLAttempts bounds re-reads when other nodes store CRLs concurrently.
const maxCRLAttempts = 3

// CRL returns the development CA's current X.509 v2 CRL (DER), signed by
// the CA key: CRL number, authority key identifier, thisUpdate, nextUpdate
// (Config.CRLValidity later) and every certificate the CA issued and that
// was revoked, with its revocation time and reason. It signs a new CRL only
// when a revocation happened since the stored one or half of its validity
// has passed (see revocation for the caching across nodes); the CA key is
// used with an audit record before and after. Without a development CA it
// returns ErrNoDevCA.
func (s *SAM) CRL(ctx context.Context) ([]byte, error) {
	ca, err := s.devCA(ctx)
	if err != nil {
		return nil, err
	}
	for range maxCRLAttempts {
		if der, ok, err := s.freshCRL(ctx, ca); err != nil || ok {
			return der, err
		}
		// Stale: one request of this node signs, the others wait for it and
		// then find the new CRL fresh.
		der, stored, err := func() ([]byte, bool, error) {
			s.revo.crlSign.Lock()
			defer s.revo.crlSign.Unlock()
			if der, ok, err := s.freshCRL(ctx, ca); err != nil || ok {
				return der, ok, err
			}
			row, err := s.revocationRow(ctx)
			if err != nil {
				return nil, false, err
			}
			return s.signCRL(ctx, ca, row, s.now())
		}()
		if err != nil || stored {
			return der, err
		}
		// Another node stored a CRL first: serve that one.
	}
	return nil, errors.New("sam: CRL: the stored CRL kept changing")
}

// revocationRow reads the dev CA's revocation state; none yet is the zero
// state.
func (s *SAM) revocationRow(ctx context.Context) (*store.RevocationList, error) {
	row, err := s.db.RevocationList(ctx, DevCAID)
	if errors.Is(err, store.ErrNotFound) {
		return &store.RevocationList{AuthorityID: DevCAID}, nil
	}
	return row, err
}

// freshCRL returns the stored CRL if it covers every revocation and has
// more than half of its validity left, after checking it.
func (s *SAM) freshCRL(ctx context.Context, ca *authority) ([]byte, bool, error) {
	row, err := s.revocationRow(ctx)
	if err != nil {
		return nil, false, err
	}
	if row.Number == 0 || row.Covers < row.Revision || s.now().UnixMilli() >= row.NextUpdate-s.cfg.CRLValidity.Milliseconds()/2 {
		return nil, false, nil
	}
	if err := s.checkStoredCRL(ca, row); err != nil {
		return nil, false, err
	}
	return row.DER, true, nil
}

// checkStoredCRL verifies a CRL read from the database once per content:
// the CA signed it and it carries the row's number, so a database edit
// cannot serve a forged or an older list under a newer number.
func (s *SAM) checkStoredCRL(ca *authority, row *store.RevocationList) error {
	sum := sha256.Sum256(row.DER)
	s.revo.mu.Lock()
	seen := s.revo.crlDigest == sum
	s.revo.mu.Unlock()
	if seen {
		return nil
	}
	crl, err := x509.ParseRevocationList(row.DER)
	if err != nil {
		return &KeyCheckError{Authority: DevCAID, Reason: "stored CRL is unreadable"}
	}
	if crl.CheckSignatureFrom(ca.cert) != nil || crl.Number == nil || crl.Number.Cmp(big.NewInt(row.Number)) != 0 {
		return &KeyCheckError{Authority: DevCAID, Reason: "stored CRL is not the CA's CRL of its number"}
	}
	s.revo.mu.Lock()
	s.revo.crlDigest = sum
	s.revo.mu.Unlock()
	return nil
}

// signCRL signs the successor of row listing every revoked certificate and
// stores it if row is still the current CRL. The revision is read before the
// list, so the CRL never claims to cover a revocation it lacks.
func (s *SAM) signCRL(ctx context.Context, ca *authority, row *store.RevocationList, now time.Time) ([]byte, bool, error) {
	revoked, err := s.db.RevokedCertificates(ctx, DevCAID)
	if err != nil {
		return nil, false, err
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, false, fmt.Errorf("sam: CRL: stored serial %q is not hex", r.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial,
			RevocationTime: time.UnixMilli(r.RevokedAt).UTC(), ReasonCode: r.Reason})
	}
	number := row.Number + 1
	this := now.UTC().Truncate(time.Second)
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                this,
		NextUpdate:                this.Add(s.cfg.CRLValidity),
		RevokedCertificateEntries: entries,
	}
	if err := s.audit(ctx, event{Event: EventCRLSignBegin, Outcome: OutcomeOK, Actor: actorDevCA,
		Details: map[string]any{"authority": DevCAID, "number": number, "revoked": len(entries)}}); err != nil {
		return nil, false, err
	}
	der, signErr := x509.CreateRevocationList(s.rand, tmpl, ca.cert, ca.signer)
	if signErr == nil {
		var crl *x509.RevocationList
		if crl, signErr = x509.ParseRevocationList(der); signErr == nil {
			signErr = crl.CheckSignatureFrom(ca.cert)
		}
	}
	end := event{Event: EventCRLSigned, Outcome: OutcomeOK, Actor: actorDevCA, Details: map[string]any{"authority": DevCAID, "number": number}}
	if signErr != nil {
		end.Outcome = OutcomeFail
	} else {
		end.Details["crlSHA256"] = fmt.Sprintf("%x", sha256.Sum256(der))
	}
	if err := s.audit(ctx, end); err != nil {
		return nil, false, err
	}
	if signErr != nil {
		return nil, false, fmt.Errorf("sam: sign CRL: %w", signErr)
	}
	next := &store.RevocationList{AuthorityID: DevCAID, Number: number, Covers: row.Revision, DER: der,
		ThisUpdate: tmpl.ThisUpdate.UnixMilli(), NextUpdate: tmpl.NextUpdate.UnixMilli()}
	stored, err := s.db.PutRevocationList(ctx, next, row.Number)
	if err != nil || !stored {
		return nil, false, err
	}
	sum := sha256.Sum256(der)
	s.revo.mu.Lock()
	s.revo.crlDigest = sum
	s.revo.mu.Unlock()
	return der, true, nil
}

// devCA loads the development CA, or ErrNoDevCA.
func (s *SAM) devCA(ctx context.Context) (*authority, error) {
	ca, err := s.loadAuthority(ctx, DevCAID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoDevCA.with(err)
	}
	return ca, err
}

// issuedByDevCA reports whether cert was issued and signed by the dev CA
// (and is not the CA certificate itself).
func issuedByDevCA(cert *x509.Certificate, ca *authority) bool {
	return !bytes.Equal(cert.Raw, ca.cert.Raw) && bytes.Equal(cert.RawIssuer, ca.cert.RawSubject) && cert.CheckSignatureFrom(ca.cert) == nil
}
