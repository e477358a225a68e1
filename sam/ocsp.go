package sam

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/openrssp/rssp/store"
	"golang.org/x/crypto/ocsp"
)

// MaxOCSPRequest bounds a DER OCSP request: one certificate ID with a
// nonce fits in a few hundred bytes.
const MaxOCSPRequest = 4 << 10

// maxOCSPCache bounds the pre-produced OCSP responses a node keeps.
const maxOCSPCache = 4096

// maxUnknownPerMinute bounds how many "unknown" responses a node signs per
// minute. Serials the CA issued are few, but anyone can ask about any
// number of serials it never issued; past this bound such requests get the
// unsigned tryLater status, so no number of clients can make the HSM sign
// or the audit log grow without bound.
const maxUnknownPerMinute = 60

type ocspKey struct {
	serial string
	hash   crypto.Hash
}

// ocspEntry is a pre-produced response and the state it says.
type ocspEntry struct {
	der        []byte
	known      bool  // the serial was recorded as issued
	revokedAt  int64 // unix ms, 0 if not revoked
	thisUpdate time.Time
	nextUpdate time.Time
}

// OCSP answers a DER OCSP request (RFC 6960) for a certificate of the
// development CA with a DER OCSP response, signed by the CA key itself
// (no delegated responder): good for a certificate the CA issued and did
// not revoke, revoked (time and reason) for one it revoked, unknown for a
// serial it never issued; thisUpdate now, nextUpdate Config.OCSPValidity
// later. Only the first certificate of a request is answered and request
// extensions (a nonce) are ignored, as for pre-produced responses
// (RFC 5019). A request that does not decode, is larger than
// MaxOCSPRequest or is signed gets the unsigned malformedRequest response;
// one for another issuer gets unauthorized; beyond maxUnknownPerMinute
// fresh answers for never issued serials per node, tryLater. The error is
// non-nil only when
// the service itself failed (database, HSM), never for bad input.
//
// The HSM signs at most once per call, and only when no cached response for
// the same serial and hash algorithm says the current state with at least
// half its validity left (see revocation); each signature is audited before
// and after.
func (s *SAM) OCSP(ctx context.Context, der []byte) ([]byte, error) {
	if len(der) == 0 || len(der) > MaxOCSPRequest {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	req, err := parseOCSPRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	ca, err := s.devCA(ctx)
	if errors.Is(err, ErrNoDevCA) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	if err != nil {
		return nil, err
	}
	if !matchesIssuer(req, ca.cert) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	return s.ocspResponse(ctx, ca, req.SerialNumber, req.HashAlgorithm)
}

// parseOCSPRequest decodes a request without panicking on any input.
func parseOCSPRequest(der []byte) (req *ocsp.Request, err error) {
	defer func() {
		if recover() != nil {
			req, err = nil, errors.New("sam: undecodable OCSP request")
		}
	}()
	req, err = ocsp.ParseRequest(der)
	if err == nil && (req.SerialNumber == nil || req.SerialNumber.Sign() < 0) {
		return nil, errors.New("sam: OCSP request without a serial")
	}
	return req, err
}

// matchesIssuer checks the request's issuer name and key hashes against the
// CA certificate with the request's hash algorithm.
func matchesIssuer(req *ocsp.Request, ca *x509.Certificate) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(ca.RawSubject)
	nameHash := h.Sum(nil)
	h.Reset()
	h.Write(spki.PublicKey.RightAlign())
	keyHash := h.Sum(nil)
	return bytes.Equal(nameHash, req.IssuerNameHash) && bytes.Equal(keyHash, req.IssuerKeyHash)
}

// ocspResponse returns a signed response for serial, from the cache when it
// still says the recorded state.
func (s *SAM) ocspResponse(ctx context.Context, ca *authority, serial *big.Int, hash crypto.Hash) ([]byte, error) {
	key := ocspKey{serial: serialKey(serial), hash: hash}
	rec, err := s.db.IssuedCertificate(ctx, DevCAID, key.serial)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var revokedAt int64
	if known {
		revokedAt = rec.RevokedAt
	}
	if der := s.cachedOCSP(key, known, revokedAt); der != nil {
		return der, nil
	}
	s.revo.ocspSign.Lock()
	defer s.revo.ocspSign.Unlock()
	if der := s.cachedOCSP(key, known, revokedAt); der != nil { // made while we waited
		return der, nil
	}
	now := s.now()
	if !known && !s.revo.allowUnknown(now) {
		return ocsp.TryLaterErrorResponse, nil
	}
	// thisUpdate may not be later than producedAt, which x/crypto sets from
	// the wall clock rounded down to the minute: validators (NSS) refuse a
	// response that claims to come from the future.
	this := now.UTC().Truncate(time.Minute)
	tmpl := ocsp.Response{Status: ocsp.Unknown, SerialNumber: serial, ThisUpdate: this,
		NextUpdate: this.Add(s.cfg.OCSPValidity), IssuerHash: hash}
	status := "unknown"
	switch {
	case known && revokedAt != 0:
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, time.UnixMilli(revokedAt).UTC(), rec.Reason
		status = "revoked"
	case known:
		tmpl.Status = ocsp.Good
		status = "good"
	}
	if err := s.audit(ctx, event{Event: EventOCSPSignBegin, Outcome: OutcomeOK, Actor: actorDevCA,
		Details: map[string]any{"authority": DevCAID, "serial": key.serial, "status": status}}); err != nil {
		return nil, err
	}
	der, signErr := ocsp.CreateResponse(ca.cert, ca.cert, tmpl, ca.signer)
	if signErr == nil {
		_, signErr = ocsp.ParseResponseForCert(der, nil, ca.cert) // verifies the signature
	}
	end := event{Event: EventOCSPSigned, Outcome: OutcomeOK, Actor: actorDevCA, Details: map[string]any{"authority": DevCAID, "serial": key.serial}}
	if signErr != nil {
		end.Outcome = OutcomeFail
	} else {
		end.Details["responseSHA256"] = fmt.Sprintf("%x", sha256.Sum256(der))
	}
	if err := s.audit(ctx, end); err != nil {
		return nil, err
	}
	if signErr != nil {
		return nil, fmt.Errorf("sam: sign OCSP response: %w", signErr)
	}
	s.revo.mu.Lock()
	if len(s.revo.ocsp) >= maxOCSPCache {
		clear(s.revo.ocsp)
	}
	s.revo.ocsp[key] = &ocspEntry{der: der, known: known, revokedAt: revokedAt, thisUpdate: tmpl.ThisUpdate, nextUpdate: tmpl.NextUpdate}
	s.revo.mu.Unlock()
	return der, nil
}

// cachedOCSP returns the cached response for key if it says this state and
// has more than half of its validity left, else nil.
func (s *SAM) cachedOCSP(key ocspKey, known bool, revokedAt int64) []byte {
	now := s.now()
	s.revo.mu.Lock()
	e := s.revo.ocsp[key]
	s.revo.mu.Unlock()
	if e != nil && e.known == known && e.revokedAt == revokedAt && !now.Before(e.thisUpdate) &&
		now.Before(e.nextUpdate.Add(-s.cfg.OCSPValidity/2)) {
		return e.der
	}
	return nil
}

// allowUnknown spends one of this minute's signatures of unknown serials.
func (r *revocation) allowUnknown(now time.Time) bool {
	minute := now.Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unknownMinute != minute {
		r.unknownMinute, r.unknownSigned = minute, 0
	}
	if r.unknownSigned >= maxUnknownPerMinute {
		return false
	}
	r.unknownSigned++
	return true
}

// ValidationData returns the revocation data a PAdES B-LT signature embeds
// for the certificates in chain that the development CA issued: its current
// CRL (see CRL), once however many such certificates there are, and one
// OCSP response (see OCSP; SHA-1 certificate ID, as validators expect) per
// such certificate, in chain order. Certificates of other issuers, and the
// CA certificate itself (a trust anchor), are skipped: the caller fetches
// their data elsewhere. A chain without dev CA certificates, or a service
// without a development CA, gives no data and no error. The HSM use is that
// of CRL and OCSP, bounded by their caches.
func (s *SAM) ValidationData(ctx context.Context, chain []*x509.Certificate) (crls, ocsps [][]byte, err error) {
	ca, err := s.devCA(ctx)
	if errors.Is(err, ErrNoDevCA) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, c := range chain {
		if c == nil || !issuedByDevCA(c, ca) {
			continue
		}
		if crls == nil {
			crl, err := s.CRL(ctx)
			if err != nil {
				return nil, nil, err
			}
			crls = [][]byte{crl}
		}
		resp, err := s.ocspResponse(ctx, ca, c.SerialNumber, crypto.SHA1)
		if err != nil {
			return nil, nil, err
		}
		ocsps = append(ocsps, resp)
	}
	return crls, ocsps, nil
}
