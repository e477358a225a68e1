package sam

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/openrssp/rssp/store"
)

// Subject names the natural person a signer certificate is issued to
// (ETSI EN 319 412-2): commonName always, givenName and surname where known,
// countryName where known. Email goes into subjectAltName as an rfc822Name.
type Subject struct {
	CommonName string
	GivenName  string
	Surname    string
	Email      string
	Country    string // ISO 3166-1 alpha-2, optional
}

// SignerSubject is the certificate subject of a signer.
func SignerSubject(sg *store.Signer) Subject {
	return Subject{CommonName: sg.Name, GivenName: sg.GivenName, Surname: sg.Surname, Email: sg.Email}
}

func (s Subject) isZero() bool { return s == Subject{} }

// Attribute types of EN 319 412-2 natural-person subjects that pkix.Name has
// no field for.
var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)

func (s Subject) validate() error {
	switch {
	case s.CommonName == "":
		return errors.New("sam: certificate subject needs a common name")
	case len(s.CommonName) > 64 || len(s.GivenName) > 64 || len(s.Surname) > 64:
		return errors.New("sam: certificate subject names are limited to 64 characters")
	case s.Country != "" && len(s.Country) != 2:
		return errors.New("sam: certificate subject country must be an ISO 3166-1 alpha-2 code")
	}
	if s.Email != "" {
		if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
			return fmt.Errorf("sam: certificate subject email %q is not a plain address", s.Email)
		}
	}
	return nil
}

func (s Subject) name() pkix.Name {
	n := pkix.Name{CommonName: s.CommonName}
	if s.Country != "" {
		n.Country = []string{s.Country}
	}
	if s.GivenName != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidGivenName, Value: s.GivenName})
	}
	if s.Surname != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidSurname, Value: s.Surname})
	}
	return n
}

// displayName renders a name for the audit log and operators, like
// pkix.Name.String but with givenName and surname by their short names.
func displayName(n pkix.Name) string {
	short := map[string]string{"2.5.4.3": "CN", "2.5.4.42": "GN", "2.5.4.4": "SN", "2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER"}
	var parts []string
	rdns := n.ToRDNSequence()
	for i := len(rdns) - 1; i >= 0; i-- {
		for _, atv := range rdns[i] {
			k, ok := short[atv.Type.String()]
			if !ok {
				k = atv.Type.String()
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, atv.Value))
		}
	}
	return strings.Join(parts, ",")
}

func (s Subject) emails() []string {
	if s.Email == "" {
		return nil
	}
	return []string{s.Email}
}

// signerKeyUsage is what signature validators expect of a natural person's
// signing certificate: nonRepudiation (contentCommitment) with digitalSignature.
const signerKeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment

// defaultCertValidity applies when IssueDevCertificate is given 0.
const defaultCertValidity = 2 * 365 * 24 * time.Hour

// IssueDevCertificate has the development CA certify a credential's key and
// stores the chain (leaf, CA) in the credential, which becomes active. The
// certificate follows ETSI EN 319 412-2 for natural persons without QC
// statements: keyUsage digitalSignature and contentCommitment (critical),
// basicConstraints CA false, subject and authority key identifiers, email
// as an rfc822Name, a positive serial of 128 random bits; with a public URL
// (WithPublicURL) a CRL distribution point and authority information
// access (OCSP, caIssuers) pointing to this server. The certificate is
// recorded as issued, so that OCSP answers good for it until it is
// revoked. A revoked credential gets no certificate. A zero subj is taken
// from the credential's signer; validity 0 means two years, cut at the CA's
// own expiry.
//
// The credential's key binding (HSM MAC) is checked first, so the CA never
// certifies a key the HSM did not generate for this credential. The CA key
// is used only through the HSM after its own binding was checked, with an
// audit record before and after.
func (s *SAM) IssueDevCertificate(ctx context.Context, credentialID string, subj Subject, validity time.Duration) ([]*x509.Certificate, error) {
	if validity == 0 {
		validity = defaultCertValidity
	}
	if validity < time.Hour {
		return nil, errors.New("sam: certificate validity must be at least one hour")
	}
	cred, pub, err := s.boundCredential(ctx, credentialID)
	if err != nil {
		return nil, err
	}
	if subj.isZero() {
		sg, err := s.db.Signer(ctx, cred.SignerID)
		if err != nil {
			return nil, err
		}
		subj = SignerSubject(sg)
	}
	if err := subj.validate(); err != nil {
		return nil, err
	}
	ca, err := s.loadAuthority(ctx, DevCAID)
	if err != nil {
		return nil, fmt.Errorf("sam: development CA: %w", err)
	}
	serial, err := s.serialNumber()
	if err != nil {
		return nil, err
	}
	now := s.now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subj.name(),
		EmailAddresses:        subj.emails(),
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              signerKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          subjectKeyID(cred.PublicKey),
		AuthorityKeyId:        ca.cert.SubjectKeyId,
	}
	if cred.Status == store.StatusRevoked {
		return nil, ErrCredentialRevoked
	}
	s.addRevocationPointers(tmpl)
	der, err := s.signCertificate(ctx, ca, tmpl, ca.cert, pub, cred.ID, "signer")
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sam: parse issued certificate: %w", err)
	}
	chain := []*x509.Certificate{leaf, ca.cert}
	if err := checkChain(chain, pub); err != nil {
		return nil, fmt.Errorf("sam: issued certificate: %w", err)
	}
	if err := s.installCertificates(ctx, cred.ID, chain, actorDevCA, "dev-ca"); err != nil {
		return nil, err
	}
	return chain, nil
}

// CreateCSR returns a DER PKCS#10 request for a credential's key, for an
// external CA. The subject is the credential's signer's (see Subject) and
// the request asks for keyUsage digitalSignature and contentCommitment. The
// key is used only after its binding (HSM MAC) was checked, with an audit
// record before and after; the request is verified before it is returned.
func (s *SAM) CreateCSR(ctx context.Context, credentialID string) ([]byte, error) {
	cred, pub, err := s.boundCredential(ctx, credentialID)
	if err != nil {
		return nil, err
	}
	sg, err := s.db.Signer(ctx, cred.SignerID)
	if err != nil {
		return nil, err
	}
	subj := SignerSubject(sg)
	if err := subj.validate(); err != nil {
		return nil, err
	}
	signer, err := s.keySigner(ctx, cred, pub)
	if err != nil {
		return nil, err
	}
	ku, err := keyUsageExtension(signerKeyUsage)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{Subject: subj.name(), EmailAddresses: subj.emails(), ExtraExtensions: []pkix.Extension{ku}}
	if err := s.audit(ctx, event{Event: EventCSRBegin, Outcome: OutcomeOK, Actor: sg.ID, CredentialID: cred.ID,
		Details: map[string]any{"subject": displayName(tmpl.Subject)}}); err != nil {
		return nil, err
	}
	der, signErr := x509.CreateCertificateRequest(s.rand, tmpl, signer)
	if signErr == nil {
		var req *x509.CertificateRequest
		if req, signErr = x509.ParseCertificateRequest(der); signErr == nil {
			signErr = req.CheckSignature()
		}
	}
	end := event{Event: EventCSRCreated, Outcome: OutcomeOK, Actor: sg.ID, CredentialID: cred.ID, Details: map[string]any{}}
	if signErr != nil {
		end.Outcome = OutcomeFail
	} else {
		end.Details["csrSHA256"] = fmt.Sprintf("%x", sha256.Sum256(der))
	}
	if err := s.audit(ctx, end); err != nil {
		return nil, err
	}
	if signErr != nil {
		return nil, fmt.Errorf("sam: create CSR: %w", signErr)
	}
	return der, nil
}

// keyUsageExtension encodes a critical keyUsage extension (RFC 5280 4.2.1.3).
func keyUsageExtension(ku x509.KeyUsage) (pkix.Extension, error) {
	var bits [2]byte
	n := 0
	for i := range 9 {
		if ku&(1<<i) != 0 {
			bits[i/8] |= 0x80 >> (i % 8)
			n = i + 1
		}
	}
	v, err := asn1.Marshal(asn1.BitString{Bytes: bits[:(n+7)/8], BitLength: n})
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: v}, nil
}

// maxChain bounds an imported chain.
const maxChain = 10

// ImportCertificate stores a certificate chain (DER, leaf first) issued by an
// external CA for a credential's key and activates the credential. It
// refuses a leaf whose public key is not the credential's, a chain in which
// a certificate is not signed by the next one, a CA certificate as leaf, a
// leaf without digitalSignature and contentCommitment, and an expired leaf.
// The credential's key binding (HSM MAC) is checked too.
func (s *SAM) ImportCertificate(ctx context.Context, credentialID string, chain [][]byte, actor string) error {
	if len(chain) == 0 || len(chain) > maxChain {
		return fmt.Errorf("sam: a certificate chain has 1 to %d certificates", maxChain)
	}
	cred, pub, err := s.boundCredential(ctx, credentialID)
	if err != nil {
		return err
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("sam: certificate %d of the chain: %w", i+1, err)
		}
	}
	if err := checkChain(certs, pub); err != nil {
		return err
	}
	if s.now().After(certs[0].NotAfter) {
		return errors.New("sam: the certificate has expired")
	}
	return s.installCertificates(ctx, cred.ID, certs, actor, "import")
}

// checkChain checks a signer chain: the leaf carries pub, is no CA and allows
// digitalSignature and contentCommitment, and each certificate is issued and
// signed by the next one.
func checkChain(chain []*x509.Certificate, pub crypto.PublicKey) error {
	leaf := chain[0]
	if !samePublicKey(leaf.PublicKey, pub) {
		return errors.New("sam: the certificate's public key is not the credential's key")
	}
	if leaf.IsCA {
		return errors.New("sam: the leaf certificate is a CA certificate")
	}
	if leaf.KeyUsage&signerKeyUsage != signerKeyUsage {
		return errors.New("sam: the certificate's key usage must include digitalSignature and contentCommitment (nonRepudiation)")
	}
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
			return fmt.Errorf("sam: certificate %d was not issued by certificate %d (chain must be leaf first)", i+1, i+2)
		}
		if err := child.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("sam: certificate %d is not signed by certificate %d: %w", i+1, i+2, err)
		}
	}
	return nil
}

// installCertificates stores a checked chain and activates the credential.
func (s *SAM) installCertificates(ctx context.Context, credentialID string, chain []*x509.Certificate, actor, source string) error {
	var all []byte
	for _, c := range chain {
		all = append(all, c.Raw...)
	}
	if err := s.db.SetCredentialCertificates(ctx, credentialID, all, store.StatusActive); err != nil {
		if errors.Is(err, store.ErrRevoked) {
			return ErrCredentialRevoked.with(err)
		}
		return err
	}
	leaf := chain[0]
	return s.audit(ctx, event{Event: EventCertificateSet, Outcome: OutcomeOK, Actor: actor, CredentialID: credentialID,
		Details: map[string]any{"source": source, "status": store.StatusActive, "serial": leaf.SerialNumber.Text(16),
			"issuer": leaf.Issuer.String(), "certificateSHA256": fmt.Sprintf("%x", sha256.Sum256(leaf.Raw)), "chainLength": len(chain)}})
}

// boundCredential loads a credential whatever its status and checks that its
// key blob and public key are bound to it by the HSM MAC.
func (s *SAM) boundCredential(ctx context.Context, credentialID string) (*store.Credential, crypto.PublicKey, error) {
	cred, err := s.db.Credential(ctx, credentialID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkKeyBinding(ctx, cred); err != nil {
		return nil, nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(cred.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sam: credential %s public key: %w", cred.ID, err)
	}
	return cred, pub, nil
}

func (s *SAM) checkKeyBinding(ctx context.Context, cred *store.Credential) error {
	ok, err := s.checkMAC(ctx, keyBlobMACInput(cred), cred.KeyMAC)
	if err != nil {
		return fmt.Errorf("sam: credential %s: %w", cred.ID, err)
	}
	if !ok {
		return &KeyCheckError{CredentialID: cred.ID, Reason: "key blob is not bound to this credential (HSM MAC mismatch)"}
	}
	return nil
}

// KeyCheckError names a credential, or a certificate authority, whose key
// and certificate records fail their integrity checks: a database edit.
type KeyCheckError struct {
	CredentialID string // the credential, or empty
	Authority    string // the authority (DevCAID), or empty
	Reason       string
}

func (e *KeyCheckError) Error() string {
	if e.Authority != "" {
		return fmt.Sprintf("sam: authority %s: %s", e.Authority, e.Reason)
	}
	return fmt.Sprintf("sam: credential %s: %s", e.CredentialID, e.Reason)
}

// checkPage is how many credentials CheckCredentialKeys reads at a time.
const checkPage = 500

// CheckCredentialKeys verifies, for every credential, that its key blob and
// public key are bound to it (HSM MAC) and, if it has certificates, that the
// leaf certificate carries the credential's public key; it also checks the
// development CA row if there is one. It returns a *KeyCheckError naming the
// first bad credential; other errors mean the check could not run. The
// server refuses to start when it fails.
func (s *SAM) CheckCredentialKeys(ctx context.Context) error {
	if _, err := s.loadAuthority(ctx, DevCAID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	after := ""
	for {
		page, err := s.db.Credentials(ctx, after, checkPage)
		if err != nil {
			return err
		}
		for i := range page {
			if err := s.checkCredentialKey(ctx, &page[i]); err != nil {
				return err
			}
		}
		if len(page) < checkPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func (s *SAM) checkCredentialKey(ctx context.Context, cred *store.Credential) error {
	if err := s.checkKeyBinding(ctx, cred); err != nil {
		return err
	}
	if len(cred.Certificates) == 0 {
		return nil
	}
	pub, err := x509.ParsePKIXPublicKey(cred.PublicKey)
	if err != nil {
		return &KeyCheckError{CredentialID: cred.ID, Reason: "unreadable public key"}
	}
	certs, err := x509.ParseCertificates(cred.Certificates)
	if err != nil || len(certs) == 0 {
		return &KeyCheckError{CredentialID: cred.ID, Reason: "unreadable certificates"}
	}
	if !samePublicKey(certs[0].PublicKey, pub) {
		return &KeyCheckError{CredentialID: cred.ID, Reason: "certificate key does not match the credential key"}
	}
	return nil
}

// Certificates parses a credential's stored chain (leaf first).
func Certificates(cred *store.Credential) ([]*x509.Certificate, error) {
	if len(cred.Certificates) == 0 {
		return nil, nil
	}
	return x509.ParseCertificates(cred.Certificates)
}
