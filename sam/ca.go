package sam

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// DevCAID is the authority row of the built-in development CA.
const DevCAID = "dev-ca"

// actorDevCA is the audit actor of the development CA's own actions.
const actorDevCA = "dev-ca"

// DevCAConfig describes the development CA created by InitDevCA. Zero values
// take the defaults named below.
type DevCAConfig struct {
	KeyAlgorithm hsm.KeyAlgorithm // default EC-P384
	CommonName   string           // default "RSSP Development CA"
	Organization string           // default "RSSP"
	Country      string           // ISO 3166-1 alpha-2; omitted when empty
	Validity     time.Duration    // default 10 years
}

func (c DevCAConfig) withDefaults() DevCAConfig {
	if c.KeyAlgorithm == "" {
		c.KeyAlgorithm = hsm.ECP384
	}
	if c.CommonName == "" {
		c.CommonName = "RSSP Development CA"
	}
	if c.Organization == "" {
		c.Organization = "RSSP"
	}
	if c.Validity == 0 {
		c.Validity = 10 * 365 * 24 * time.Hour
	}
	return c
}

// adminStore is what operator actions need from the database beyond the
// signing path. *store.Store satisfies it.
type adminStore interface {
	CreateSigner(ctx context.Context, sg *store.Signer) error
	SetSignerStatus(ctx context.Context, id, status string, nowMs int64) error
	CredentialsOf(ctx context.Context, signerID string) ([]store.Credential, error)
	Credentials(ctx context.Context, afterID string, limit int) ([]store.Credential, error)
	SetCredentialCertificates(ctx context.Context, id string, certs []byte, status string) error
	DeleteCredential(ctx context.Context, id string) error
	Authority(ctx context.Context, id string) (*store.Authority, error)
	CreateAuthority(ctx context.Context, a *store.Authority) error
}

var _ adminStore = (*store.Store)(nil)

// InitDevCA makes sure the development CA exists and returns its
// certificate; created reports whether this call made it. It is idempotent:
// an existing CA is checked (HSM MAC over its row, certificate key equal to
// the row's key) and returned unchanged, whatever cfg says.
//
// A new CA key is generated in the HSM and exists outside it only wrapped
// under the master key; its blob, public key and self-signed certificate
// (basicConstraints CA with pathlen 0, keyUsage keyCertSign and cRLSign,
// subject key identifier) are bound to the row by an HSM MAC, so a database
// administrator can neither swap the key nor the certificate. When two
// processes create the CA at once, one row wins and both return it.
func (s *SAM) InitDevCA(ctx context.Context, cfg DevCAConfig) (*x509.Certificate, bool, error) {
	if ca, err := s.loadAuthority(ctx, DevCAID); err == nil {
		return ca.cert, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	cfg = cfg.withDefaults()
	if _, err := hsm.ParseKeyAlgorithm(string(cfg.KeyAlgorithm)); err != nil {
		return nil, false, fmt.Errorf("sam: dev CA: %w", err)
	}
	if cfg.Validity < 24*time.Hour || cfg.Validity > 30*365*24*time.Hour {
		return nil, false, errors.New("sam: dev CA validity must be between 1 day and 30 years")
	}
	if cfg.Country != "" && len(cfg.Country) != 2 {
		return nil, false, errors.New("sam: dev CA country must be an ISO 3166-1 alpha-2 code")
	}
	blob, pub, err := s.keys.GenerateWrappedKey(ctx, cfg.KeyAlgorithm)
	if err != nil {
		return nil, false, fmt.Errorf("sam: generate CA key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, false, fmt.Errorf("sam: CA public key: %w", err)
	}
	if err := s.audit(ctx, event{Event: EventCAKeyGenerated, Outcome: OutcomeOK, Actor: actorDevCA,
		Details: map[string]any{"authority": DevCAID, "algorithm": string(cfg.KeyAlgorithm), "publicKeySHA256": fmt.Sprintf("%x", sha256.Sum256(pubDER))}}); err != nil {
		return nil, false, err
	}
	serial, err := s.serialNumber()
	if err != nil {
		return nil, false, err
	}
	ski := subjectKeyID(pubDER)
	name := pkix.Name{CommonName: cfg.CommonName, Organization: []string{cfg.Organization}}
	if cfg.Country != "" {
		name.Country = []string{cfg.Country}
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(cfg.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ski,
	}
	a := &store.Authority{ID: DevCAID, KeyAlgorithm: string(cfg.KeyAlgorithm), KeyBlob: blob, PublicKey: pubDER}
	ca := &authority{row: a, pub: pub}
	ca.signer = s.keys.Signer(ca.key())
	der, err := s.signCertificate(ctx, ca, tmpl, tmpl, pub, "", "ca")
	if err != nil {
		return nil, false, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, false, fmt.Errorf("sam: parse CA certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, false, fmt.Errorf("sam: CA certificate does not verify: %w", err)
	}
	a.Certificate = der
	return s.storeAuthority(ctx, a, cert, s.loadAuthority)
}

// storeAuthority binds a new authority row (key blob, public key and
// certificate) with an HSM MAC and stores it. When another process stored
// the same authority first, its row, loaded with load, wins and
// created is false.
func (s *SAM) storeAuthority(ctx context.Context, a *store.Authority, cert *x509.Certificate,
	load func(context.Context, string) (*authority, error)) (*x509.Certificate, bool, error) {
	var err error
	if a.KeyMAC, err = s.mac(ctx, authorityMACInput(a)); err != nil {
		return nil, false, fmt.Errorf("sam: bind the key of %s: %w", a.ID, err)
	}
	if err := s.db.CreateAuthority(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) { // another process was faster
			other, lerr := load(ctx, a.ID)
			if lerr != nil {
				return nil, false, lerr
			}
			return other.cert, false, nil
		}
		return nil, false, err
	}
	return cert, true, nil
}

// DevCACertificate returns the development CA certificate after checking its
// row, or ErrNoDevCA (wrapping store.ErrNotFound) if there is none.
func (s *SAM) DevCACertificate(ctx context.Context) (*x509.Certificate, error) {
	ca, err := s.devCA(ctx)
	if err != nil {
		return nil, err
	}
	return ca.cert, nil
}

// authorityMACInput binds a CA's wrapped key to its row, algorithm, public
// key and certificate.
func authorityMACInput(a *store.Authority) []byte {
	return macInput(domainAuthority, []byte(a.ID), []byte(a.KeyAlgorithm), a.KeyBlob, a.PublicKey, a.Certificate)
}

// authority is a CA row whose binding has been checked.
type authority struct {
	row    *store.Authority
	cert   *x509.Certificate
	pub    crypto.PublicKey
	signer crypto.Signer
}

// key addresses the CA key in the HSM; the prefix keeps its cache entry
// apart from credential IDs.
func (a *authority) key() hsm.Key {
	return hsm.Key{ID: "authority:" + a.row.ID, Blob: a.row.KeyBlob, Algorithm: hsm.KeyAlgorithm(a.row.KeyAlgorithm), Public: a.pub}
}

// loadAuthority reads a CA row and checks, before its key can be used, that
// the HSM MAC binds blob, key and certificate to it and that the certificate
// carries the row's public key and is a CA certificate. A row that fails
// these checks gives a *KeyCheckError; a missing row wraps store.ErrNotFound.
func (s *SAM) loadAuthority(ctx context.Context, id string) (*authority, error) {
	return s.loadAuthorityRow(ctx, id, func(cert *x509.Certificate) string {
		if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			return "certificate is not a CA certificate"
		}
		return ""
	})
}

// loadAuthorityRow is loadAuthority with the certificate profile checked by
// profile, which says what is wrong or "".
func (s *SAM) loadAuthorityRow(ctx context.Context, id string, profile func(*x509.Certificate) string) (*authority, error) {
	row, err := s.db.Authority(ctx, id)
	if err != nil {
		return nil, err
	}
	bad := func(reason string) error { return &KeyCheckError{Authority: id, Reason: reason} }
	ok, err := s.checkMAC(ctx, authorityMACInput(row), row.KeyMAC)
	if err != nil {
		return nil, fmt.Errorf("sam: authority %s: %w", id, err)
	}
	if !ok {
		return nil, bad("key and certificate are not bound to this row (HSM MAC mismatch)")
	}
	pub, err := x509.ParsePKIXPublicKey(row.PublicKey)
	if err != nil {
		return nil, bad("unreadable public key")
	}
	cert, err := x509.ParseCertificate(row.Certificate)
	if err != nil {
		return nil, bad("unreadable certificate")
	}
	if !samePublicKey(cert.PublicKey, pub) {
		return nil, bad("certificate key does not match the CA key")
	}
	if reason := profile(cert); reason != "" {
		return nil, bad(reason)
	}
	a := &authority{row: row, cert: cert, pub: pub}
	a.signer = s.keys.Signer(a.key())
	return a, nil
}

// signCertificate has the CA key sign tmpl, with an audit record before the
// key is used and one after with the outcome.
func (s *SAM) signCertificate(ctx context.Context, ca *authority, tmpl, parent *x509.Certificate, pub crypto.PublicKey, credentialID, purpose string) ([]byte, error) {
	details := map[string]any{"authority": ca.row.ID, "purpose": purpose, "serial": tmpl.SerialNumber.Text(16), "subject": displayName(tmpl.Subject)}
	if err := s.audit(ctx, event{Event: EventCertIssueBegin, Outcome: OutcomeOK, Actor: actorDevCA, CredentialID: credentialID, Details: details}); err != nil {
		return nil, err
	}
	der, signErr := x509.CreateCertificate(s.rand, tmpl, parent, pub, ca.signer)
	end := event{Event: EventCertIssued, Outcome: OutcomeOK, Actor: actorDevCA, CredentialID: credentialID,
		Details: map[string]any{"authority": ca.row.ID, "serial": tmpl.SerialNumber.Text(16)}}
	if signErr != nil {
		end.Outcome = OutcomeFail
	} else {
		end.Details["certificateSHA256"] = fmt.Sprintf("%x", sha256.Sum256(der))
	}
	if err := s.audit(ctx, end); err != nil {
		return nil, err
	}
	if signErr != nil {
		return nil, fmt.Errorf("sam: sign certificate: %w", signErr)
	}
	if purpose != "ca" { // the CA's own certificate is the trust anchor, never on its CRL
		if err := s.recordIssued(ctx, tmpl, credentialID, purpose); err != nil {
			return nil, fmt.Errorf("sam: record issued certificate: %w", err)
		}
	}
	return der, nil
}

// addRevocationPointers adds to a certificate the dev CA is about to issue
// its CRL distribution point and authority information access (OCSP and
// caIssuers) under the public URL, if the SAM knows one.
func (s *SAM) addRevocationPointers(tmpl *x509.Certificate) {
	if s.publicURL == "" {
		return
	}
	tmpl.CRLDistributionPoints = []string{s.publicURL + CRLPath}
	tmpl.OCSPServer = []string{s.publicURL + OCSPPath}
	tmpl.IssuingCertificateURL = []string{s.publicURL + CACertPath}
}

// Paths, under the public URL, where the server publishes the development
// CA's revocation data (the api package serves them).
const (
	CRLPath    = "/ca/crl"  // DER CRL, application/pkix-crl
	CACertPath = "/ca/cert" // DER CA certificate, application/pkix-cert
	OCSPPath   = "/ocsp"    // RFC 6960 responder, POST and GET
)

// serialNumber returns a positive serial of 128 random bits.
func (s *SAM) serialNumber() (*big.Int, error) {
	for {
		b, err := s.randomBytes(16)
		if err != nil {
			return nil, err
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is the RFC 5280 4.2.1.2 method (1) key identifier: SHA-1 of
// the subjectPublicKey BIT STRING.
func subjectKeyID(spki []byte) []byte {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		sum := sha1.Sum(spki)
		return sum[:]
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return sum[:]
}

// samePublicKey reports whether two public keys are equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
