package sam

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// Authentication modes of a credential (CSC credentials/info auth/mode).
const (
	AuthModeExplicit   = "explicit"
	AuthModeOAuth2Code = "oauth2code"
)

// NewCredential describes a credential to create.
type NewCredential struct {
	// ID is the credential ID to use, chosen earlier with NewCredentialID
	// (enrolment hashes the PIN for it before the key exists); empty for a
	// fresh one.
	ID          string
	SignerID    string
	Algorithm   hsm.KeyAlgorithm
	SCAL        int    // 1 or 2 (default 2)
	Multisign   int    // most signatures per SAD (default 1)
	AuthMode    string // explicit or oauth2code (default oauth2code)
	Description string
	// SignatureQualifier is the CSC signature qualifier (e.g. eu_eidas_qes)
	// the credential answers to in OAuth requests; optional.
	SignatureQualifier string
	Certificates       [][]byte // optional DER chain, leaf first
	// Disabled creates the credential disabled, for a key that has no
	// certificate yet: IssueDevCertificate or ImportCertificate activates it.
	Disabled bool
}

// CreateCredential generates a key pair inside the HSM, keeps the private key
// only wrapped under the master key, binds the blob to the new credential and
// its signer with an HSM MAC, stores the credential and audits the key
// generation.
func (s *SAM) CreateCredential(ctx context.Context, req NewCredential) (*store.Credential, error) {
	if req.SCAL == 0 {
		req.SCAL = 2
	}
	if req.Multisign == 0 {
		req.Multisign = 1
	}
	if req.AuthMode == "" {
		req.AuthMode = AuthModeOAuth2Code
	}
	switch {
	case req.SCAL != 1 && req.SCAL != 2:
		return nil, errors.New("sam: SCAL must be 1 or 2")
	case req.Multisign < 1 || req.Multisign > 1000:
		return nil, errors.New("sam: multisign must be between 1 and 1000")
	case req.AuthMode != AuthModeExplicit && req.AuthMode != AuthModeOAuth2Code:
		return nil, fmt.Errorf("sam: unknown auth mode %q", req.AuthMode)
	case len(req.SignatureQualifier) > 64 || strings.ContainsFunc(req.SignatureQualifier, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}):
		return nil, errors.New("sam: a signature qualifier is lower-case letters, digits and '_' (e.g. eu_eidas_qes)")
	}
	if _, err := hsm.ParseKeyAlgorithm(string(req.Algorithm)); err != nil {
		return nil, err
	}
	sg, err := s.db.Signer(ctx, req.SignerID)
	if err != nil {
		return nil, err
	}
	if sg.Status != store.StatusActive {
		return nil, errors.New("sam: signer is not active")
	}
	id := req.ID
	if id == "" {
		if id, err = s.newID(); err != nil {
			return nil, err
		}
	} else if !validID(id) {
		return nil, errors.New("sam: credential ID must come from NewCredentialID")
	}
	blob, pub, err := s.keys.GenerateWrappedKey(ctx, req.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("sam: generate key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sam: public key: %w", err)
	}
	var certs []byte
	for _, c := range req.Certificates {
		certs = append(certs, c...)
	}
	status := store.StatusActive
	if req.Disabled {
		status = store.StatusDisabled
	}
	cred := &store.Credential{
		ID: id, SignerID: sg.ID, Status: status, Description: req.Description, SignatureQualifier: req.SignatureQualifier,
		KeyAlgorithm: string(req.Algorithm), KeyBlob: blob, PublicKey: pubDER, Certificates: certs,
		SignAlgorithms: DefaultSignAlgorithms(req.Algorithm), SCAL: req.SCAL, Multisign: req.Multisign, AuthMode: req.AuthMode,
	}
	if cred.KeyMAC, err = s.mac(ctx, keyBlobMACInput(cred)); err != nil {
		return nil, fmt.Errorf("sam: bind key blob: %w", err)
	}
	if err := s.db.CreateCredential(ctx, cred); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, event{Event: EventKeyGenerated, Outcome: OutcomeOK, Actor: sg.ID, CredentialID: id,
		Details: map[string]any{"algorithm": string(req.Algorithm), "scal": req.SCAL, "publicKeySHA256": fmt.Sprintf("%x", sha256.Sum256(pubDER))}}); err != nil {
		return nil, err
	}
	return cred, nil
}

// keyBlobMACInput binds a wrapped key to its credential, signer, algorithm and
// public key. Moving a blob to another row breaks the MAC.
func keyBlobMACInput(c *store.Credential) []byte {
	return macInput(domainKeyBlob, []byte(c.ID), []byte(c.SignerID), []byte(c.KeyAlgorithm), c.KeyBlob, c.PublicKey)
}

// SetCredentialStatus enables or disables a credential. Disabling revokes its
// outstanding SADs and drops its unwrapped key from the HSM cache; it does
// not revoke the certificate (see RevokeCredential). Status revoked is
// RevokeCredential with reason unspecified. A revoked credential cannot be
// enabled or disabled again: ErrCredentialRevoked.
func (s *SAM) SetCredentialStatus(ctx context.Context, credentialID, status, actor string) error {
	switch status {
	case store.StatusActive, store.StatusDisabled:
	case store.StatusRevoked:
		_, err := s.RevokeCredential(ctx, credentialID, ReasonUnspecified, actor)
		return err
	default:
		return fmt.Errorf("sam: unknown credential status %q", status)
	}
	if err := s.db.SetCredentialStatus(ctx, credentialID, status, s.now().UnixMilli()); err != nil {
		if errors.Is(err, store.ErrRevoked) {
			return ErrCredentialRevoked.with(err)
		}
		return err
	}
	if status != store.StatusActive {
		s.keys.Forget(credentialID)
	}
	return s.audit(ctx, event{Event: EventCredentialStatus, Outcome: OutcomeOK, Actor: actor, CredentialID: credentialID,
		Details: map[string]any{"status": status}})
}

// activeCredential loads a credential that belongs to signerID and is active.
func (s *SAM) activeCredential(ctx context.Context, credentialID, signerID string) (*store.Credential, crypto.PublicKey, error) {
	cred, err := s.db.Credential(ctx, credentialID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrCredentialInvalid
	}
	if err != nil {
		return nil, nil, internal(err)
	}
	if cred.SignerID != signerID {
		return nil, nil, ErrCredentialInvalid.with(errors.New("credential belongs to another signer"))
	}
	if cred.Status != store.StatusActive {
		return nil, nil, ErrCredentialDisabled
	}
	pub, err := x509.ParsePKIXPublicKey(cred.PublicKey)
	if err != nil {
		return nil, nil, internal(fmt.Errorf("credential %s public key: %w", cred.ID, err))
	}
	return cred, pub, nil
}

// keySigner checks that the credential's blob is bound to it (HSM MAC) and
// returns a signer for it. A blob moved from another credential is refused
// before it is ever unwrapped.
func (s *SAM) keySigner(ctx context.Context, cred *store.Credential, pub crypto.PublicKey) (crypto.Signer, error) {
	ok, err := s.checkMAC(ctx, keyBlobMACInput(cred), cred.KeyMAC)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("credential %s: key blob is not bound to this credential", cred.ID)
	}
	return s.keys.Signer(hsm.Key{ID: cred.ID, Blob: cred.KeyBlob, Algorithm: hsm.KeyAlgorithm(cred.KeyAlgorithm), Public: pub}), nil
}
