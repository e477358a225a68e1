package sam

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// DevTSAID is the authority row of the built-in timestamp authority.
const DevTSAID = "dev-tsa"

// DevTSAPolicy is the TSA policy the development TSA names in its tokens:
// an arc of IANA's documentation enterprise number (RFC 5612), since it
// claims conformance to no published policy.
var DevTSAPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}

// DevTSAConfig describes the timestamp authority created by InitDevTSA.
type DevTSAConfig struct {
	KeyAlgorithm hsm.KeyAlgorithm // default EC-P256
	CommonName   string           // default "RSSP Development TSA"
	Validity     time.Duration    // default 5 years, never beyond the CA's
}

// Timestamp refusals.
var (
	ErrTimestampHashAlgorithm = &Error{Code: "invalid_request", Description: "Invalid parameter hashAlgo"}
	ErrTimestampNonce         = &Error{Code: "invalid_request", Description: "Invalid parameter nonce"}
	ErrNoTSA                  = &Error{Code: "invalid_request", Description: "This service has no timestamp authority"}
)

// Event of a timestamp issued.
const EventTimestampIssued = "timestamp.issued"

// InitDevTSA makes sure the timestamp authority exists and returns its
// certificate; created reports whether this call made it. Its key is
// generated in the HSM and bound to its row by an HSM MAC like the
// development CA's, and the development CA issues its certificate: extended
// key usage timeStamping (critical, as RFC 3161 requires), key usage
// digitalSignature.
func (s *SAM) InitDevTSA(ctx context.Context, cfg DevTSAConfig) (*x509.Certificate, bool, error) {
	if tsa, err := s.loadTSA(ctx); err == nil {
		return tsa.cert, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	if cfg.KeyAlgorithm == "" {
		cfg.KeyAlgorithm = hsm.ECP256
	}
	if cfg.CommonName == "" {
		cfg.CommonName = "RSSP Development TSA"
	}
	if cfg.Validity == 0 {
		cfg.Validity = 5 * 365 * 24 * time.Hour
	}
	if _, err := hsm.ParseKeyAlgorithm(string(cfg.KeyAlgorithm)); err != nil {
		return nil, false, fmt.Errorf("sam: TSA: %w", err)
	}
	ca, err := s.loadAuthority(ctx, DevCAID)
	if err != nil {
		return nil, false, fmt.Errorf("sam: the TSA certificate needs the development CA: %w", err)
	}
	blob, pub, err := s.keys.GenerateWrappedKey(ctx, cfg.KeyAlgorithm)
	if err != nil {
		return nil, false, fmt.Errorf("sam: generate TSA key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, false, err
	}
	if err := s.audit(ctx, event{Event: EventCAKeyGenerated, Outcome: OutcomeOK, Actor: actorDevCA,
		Details: map[string]any{"authority": DevTSAID, "algorithm": string(cfg.KeyAlgorithm), "publicKeySHA256": fmt.Sprintf("%x", sha256.Sum256(pubDER))}}); err != nil {
		return nil, false, err
	}
	serial, err := s.serialNumber()
	if err != nil {
		return nil, false, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}}) // id-kp-timeStamping
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	notAfter := now.Add(cfg.Validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cfg.CommonName, Organization: ca.cert.Subject.Organization, Country: ca.cert.Subject.Country},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          subjectKeyID(pubDER),
		AuthorityKeyId:        ca.cert.SubjectKeyId,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	s.addRevocationPointers(tmpl)
	der, err := s.signCertificate(ctx, ca, tmpl, ca.cert, pub, "", "tsa")
	if err != nil {
		return nil, false, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, false, err
	}
	if err := cert.CheckSignatureFrom(ca.cert); err != nil {
		return nil, false, fmt.Errorf("sam: TSA certificate does not verify: %w", err)
	}
	a := &store.Authority{ID: DevTSAID, KeyAlgorithm: string(cfg.KeyAlgorithm), KeyBlob: blob, PublicKey: pubDER, Certificate: der}
	return s.storeAuthority(ctx, a, cert, func(ctx context.Context, _ string) (*authority, error) { return s.loadTSA(ctx) })
}

// loadTSA loads the TSA row with the same checks as a CA's, and the
// timestamping profile of its certificate.
func (s *SAM) loadTSA(ctx context.Context) (*authority, error) {
	return s.loadAuthorityRow(ctx, DevTSAID, func(c *x509.Certificate) string {
		if c.IsCA || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
			return "certificate is not a timestamping certificate"
		}
		return ""
	})
}

// TSAChain returns the TSA certificate and the CA certificate.
func (s *SAM) TSAChain(ctx context.Context) ([]*x509.Certificate, error) {
	tsa, err := s.loadTSA(ctx)
	if err != nil {
		return nil, err
	}
	ca, err := s.loadAuthority(ctx, DevCAID)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{tsa.cert, ca.cert}, nil
}

// TimestampRequest asks for an RFC 3161 timestamp over a digest.
type TimestampRequest struct {
	Hash   crypto.Hash // SHA-256, SHA-384 or SHA-512
	Digest []byte
	Nonce  *big.Int // optional, echoed in the token; at most 160 bits
	// Requester is who asked (a signer, a client, or "anonymous" for the
	// public RFC 3161 endpoint), for the audit log.
	Requester string
}

// maxNonceBits bounds a nonce (RFC 3161 suggests 64 bits; 160 leaves room).
const maxNonceBits = 160

// Timestamp issues an RFC 3161 TimeStampToken over req.Digest, signed in
// the HSM by the timestamp authority, with its certificate included and
// the time to the second. It returns the token (a DER ContentInfo) and the
// whole TimeStampResp. Every token is audited with its serial number.
func (s *SAM) Timestamp(ctx context.Context, req TimestampRequest) (token, resp []byte, err error) {
	switch req.Hash {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, nil, ErrTimestampHashAlgorithm
	}
	if len(req.Digest) != req.Hash.Size() {
		return nil, nil, ErrDigestLength
	}
	if req.Nonce != nil && (req.Nonce.Sign() < 0 || req.Nonce.BitLen() > maxNonceBits) {
		return nil, nil, ErrTimestampNonce
	}
	tsa, err := s.loadTSA(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoTSA
	}
	if err != nil {
		return nil, nil, internal(err)
	}
	t := timestamp.Timestamp{HashAlgorithm: req.Hash, HashedMessage: slices.Clone(req.Digest), Time: s.now().UTC().Truncate(time.Second),
		Accuracy: time.Second, Policy: DevTSAPolicy, Nonce: req.Nonce, AddTSACertificate: true}
	resp, err = t.CreateResponseWithOpts(tsa.cert, tsa.signer, tsaHash(hsm.KeyAlgorithm(tsa.row.KeyAlgorithm)))
	if err != nil {
		return nil, nil, internal(fmt.Errorf("timestamp: %w", err))
	}
	parsed, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, nil, internal(fmt.Errorf("timestamp: own response: %w", err))
	}
	if err := s.audit(ctx, event{Event: EventTimestampIssued, Outcome: OutcomeOK, Actor: req.Requester,
		Details: map[string]any{"serial": parsed.SerialNumber.Text(16), "hashAlgorithm": req.Hash.String(), "digest": fmt.Sprintf("%x", req.Digest),
			"time": parsed.Time.UTC().Format(time.RFC3339)}}); err != nil {
		return nil, nil, internal(err)
	}
	return parsed.RawToken, resp, nil
}

// TimestampQuery answers a DER RFC 3161 TimeStampReq with a DER
// TimeStampResp: a token, or a rejection with the failure info (bad data
// format, bad algorithm, unaccepted policy) when the request cannot be
// served. An error is returned only for a failure of the service itself.
func (s *SAM) TimestampQuery(ctx context.Context, der []byte, requester string) ([]byte, error) {
	reject := func(f timestamp.FailureInfo) ([]byte, error) {
		return timestamp.CreateErrorResponse(timestamp.Rejection, f)
	}
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		return reject(timestamp.BadDataFormat)
	}
	if req.TSAPolicyOID != nil && !req.TSAPolicyOID.Equal(DevTSAPolicy) {
		return reject(timestamp.UnacceptedPolicy)
	}
	if len(req.Extensions) > 0 {
		return reject(timestamp.UnacceptedExtension)
	}
	_, resp, err := s.Timestamp(ctx, TimestampRequest{Hash: req.HashAlgorithm, Digest: req.HashedMessage, Nonce: req.Nonce, Requester: requester})
	switch {
	case errors.Is(err, ErrTimestampHashAlgorithm), errors.Is(err, ErrDigestLength):
		return reject(timestamp.BadAlgorithm)
	case errors.Is(err, ErrTimestampNonce):
		return reject(timestamp.BadRequest)
	case errors.Is(err, ErrNoTSA):
		return reject(timestamp.SystemFailure)
	case err != nil:
		return nil, err
	}
	return resp, nil
}

// tsaHash is the digest the TSA key signs with: as strong as the key.
func tsaHash(alg hsm.KeyAlgorithm) crypto.Hash {
	switch alg {
	case hsm.ECP384:
		return crypto.SHA384
	case hsm.ECP521:
		return crypto.SHA512
	}
	return crypto.SHA256
}
