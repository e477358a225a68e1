package sam

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/openrssp/rssp/store"
)

// revocationStore keeps the development CA's issued certificates, their
// revocation and its current CRL.
type revocationStore interface {
	RecordCertificate(ctx context.Context, c *store.IssuedCertificate) error
	IssuedCertificate(ctx context.Context, authorityID, serial string) (*store.IssuedCertificate, error)
	RevokeCertificate(ctx context.Context, authorityID, serial string, reason int, atMs int64) (bool, error)
	RevokedCertificates(ctx context.Context, authorityID string) ([]store.IssuedCertificate, error)
	RevocationList(ctx context.Context, authorityID string) (*store.RevocationList, error)
	PutRevocationList(ctx context.Context, l *store.RevocationList, prevNumber int64) (bool, error)
}

// Revocation events.
const (
	EventCredentialRevoked = "credential.revoked" // an operator revoked a credential
	EventCertRevoked       = "cert.revoked"       // a dev CA certificate was put on the CRL
	EventCRLSignBegin      = "crl.sign.begin"     // written before the CA key signs a CRL
	EventCRLSigned         = "crl.signed"         // written after
	EventOCSPSignBegin     = "ocsp.sign.begin"    // written before the CA key signs an OCSP response
	EventOCSPSigned        = "ocsp.signed"        // written after
)

// RevocationReason is an RFC 5280 CRLReason that an operator may give for a
// signer certificate. certificateHold is deliberately absent: the
// development CA does not suspend certificates (see RevokeCredential).
type RevocationReason int

// The reasons RevokeCredential accepts (RFC 5280 5.3.1 values).
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonPrivilegeWithdrawn   RevocationReason = 9
)

var reasonNames = map[RevocationReason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
}

// RevocationReasonNames lists the names ParseRevocationReason accepts.
func RevocationReasonNames() []string {
	return []string{"unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"}
}

// String is the RFC 5280 name of the reason.
func (r RevocationReason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseRevocationReason reads an RFC 5280 reason name (case-insensitive),
// one of RevocationReasonNames.
func ParseRevocationReason(name string) (RevocationReason, error) {
	for r, n := range reasonNames {
		if strings.EqualFold(n, name) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("sam: unknown revocation reason %q (want %s)", name, strings.Join(RevocationReasonNames(), "|"))
}

// ErrCredentialRevoked is returned when a revoked credential would be
// enabled again or given a new certificate: revocation is final.
var ErrCredentialRevoked = &Error{Code: "invalid_request", Description: "The credential has been revoked"}

// serialKey is how serials are stored: lowercase hex without leading zeros.
func serialKey(n *big.Int) string { return n.Text(16) }

// recordIssued remembers a certificate the development CA issued, so that
// OCSP can tell good from unknown and a revocation can find it.
func (s *SAM) recordIssued(ctx context.Context, cert *x509.Certificate, credentialID, purpose string) error {
	return s.db.RecordCertificate(ctx, &store.IssuedCertificate{AuthorityID: DevCAID, Serial: serialKey(cert.SerialNumber),
		CredentialID: credentialID, Purpose: purpose, NotAfter: cert.NotAfter.UnixMilli()})
}

// RevokeCredential revokes a credential for good: its status becomes
// revoked (its outstanding SADs are revoked in the same transaction, its
// unwrapped key leaves the HSM cache, and it can never be enabled again),
// and, when the development CA issued its certificate, that certificate is
// put on the CA's CRL with reason and its OCSP status becomes revoked.
// listed reports whether the certificate is on the CRL after the call,
// whether this call or an earlier one put it there; it is false for a
// credential without certificate or with a certificate from an external CA,
// whose revocation is that CA's business. Both actions are audited with
// actor.
//
// Life cycle: delete revokes (DeleteCredential, reason
// cessationOfOperation); disable does not. Disabling only suspends the
// credential inside this service, reversibly, and leaves the certificate
// valid, so signatures made before stay valid; the development CA has no
// certificateHold.
func (s *SAM) RevokeCredential(ctx context.Context, credentialID string, reason RevocationReason, actor string) (listed bool, err error) {
	if _, ok := reasonNames[reason]; !ok {
		return false, fmt.Errorf("sam: revocation reason %d is not one an operator may give", int(reason))
	}
	cred, err := s.db.Credential(ctx, credentialID)
	if err != nil {
		return false, err
	}
	serial, listed, err := s.revokeCertificateOf(ctx, cred, reason, actor)
	if err != nil {
		return false, err
	}
	if err := s.db.SetCredentialStatus(ctx, cred.ID, store.StatusRevoked, s.now().UnixMilli()); err != nil {
		return listed, err
	}
	s.keys.Forget(cred.ID)
	return listed, s.audit(ctx, event{Event: EventCredentialRevoked, Outcome: OutcomeOK, Actor: actor, CredentialID: cred.ID,
		Details: map[string]any{"reason": reason.String(), "serial": serial, "onCRL": listed}})
}

// revokeCertificateOf puts a credential's leaf certificate on the
// development CA's CRL if that CA issued it (it is recorded under its
// serial for this credential, and its issuer is the CA). It returns the
// serial (hex, "" without certificate) and whether the certificate is on
// the CRL now.
func (s *SAM) revokeCertificateOf(ctx context.Context, cred *store.Credential, reason RevocationReason, actor string) (string, bool, error) {
	certs, err := Certificates(cred)
	if err != nil {
		return "", false, fmt.Errorf("sam: credential %s certificates: %w", cred.ID, err)
	}
	if len(certs) == 0 {
		return "", false, nil
	}
	leaf := certs[0]
	serial := serialKey(leaf.SerialNumber)
	rec, err := s.db.IssuedCertificate(ctx, DevCAID, serial)
	if errors.Is(err, store.ErrNotFound) {
		return serial, false, nil // an external CA's certificate
	}
	if err != nil {
		return serial, false, err
	}
	if rec.CredentialID != cred.ID {
		return serial, false, nil // same serial from another issuer: not ours to revoke
	}
	if rec.RevokedAt != 0 {
		return serial, true, nil
	}
	ok, err := s.db.RevokeCertificate(ctx, DevCAID, serial, int(reason), s.now().UnixMilli())
	if err != nil {
		return serial, false, err
	}
	if ok {
		if err := s.audit(ctx, event{Event: EventCertRevoked, Outcome: OutcomeOK, Actor: actor, CredentialID: cred.ID,
			Details: map[string]any{"authority": DevCAID, "serial": serial, "reason": reason.String()}}); err != nil {
			return serial, true, err
		}
	}
	return serial, true, nil
}
