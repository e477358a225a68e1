package sam

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openrssp/rssp/store"
)

// ErrUsernameTaken is returned by CreateSigner for a username that exists.
var ErrUsernameTaken = errors.New("sam: username already exists")

// NewSigner describes a signer to register.
type NewSigner struct {
	Username  string // login name: 1 to 128 characters, no spaces or control characters
	Name      string // full name; the certificate common name
	GivenName string
	Surname   string
	Email     string
	Password  string // login password; empty leaves the signer without one
	Actor     string // operator, for the audit log
}

func (n NewSigner) validate() error {
	switch {
	case n.Username == "" || len(n.Username) > 128 || !utf8.ValidString(n.Username):
		return errors.New("sam: username must be 1 to 128 characters")
	case strings.IndexFunc(n.Username, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }) >= 0:
		return errors.New("sam: username must not contain spaces, control characters or ':'")
	case strings.TrimSpace(n.Name) == "" || len(n.Name) > 256:
		return errors.New("sam: name must be 1 to 256 characters")
	case len(n.GivenName) > 128 || len(n.Surname) > 128:
		return errors.New("sam: given name and surname are limited to 128 characters")
	case len(n.Email) > 256:
		return errors.New("sam: email is limited to 256 characters")
	}
	if n.Email != "" {
		if a, err := mail.ParseAddress(n.Email); err != nil || a.Address != n.Email {
			return fmt.Errorf("sam: %q is not a plain email address", n.Email)
		}
	}
	if n.Password != "" {
		if l := utf8.RuneCountInString(n.Password); l < minPasswordLen || l > maxPasswordLen || !utf8.ValidString(n.Password) {
			return ErrInvalidPassword.with(fmt.Errorf("password must be %d to %d characters", minPasswordLen, maxPasswordLen))
		}
	}
	return nil
}

// CreateSigner registers an active signer under a random ID, sets its login
// password if one is given, and audits the registration (never the
// password). A username that exists gives ErrUsernameTaken. The request is
// validated in full before anything is written.
func (s *SAM) CreateSigner(ctx context.Context, n NewSigner) (*store.Signer, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	sg := &store.Signer{ID: id, Username: n.Username, Name: n.Name, GivenName: n.GivenName, Surname: n.Surname,
		Email: n.Email, Status: store.StatusActive}
	if err := s.db.CreateSigner(ctx, sg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: %q", ErrUsernameTaken, n.Username)
		}
		return nil, err
	}
	if err := s.audit(ctx, event{Event: EventSignerCreated, Outcome: OutcomeOK, Actor: n.Actor,
		Details: map[string]any{"signer": id, "username": n.Username}}); err != nil {
		return nil, err
	}
	if n.Password != "" {
		if err := s.SetPassword(ctx, id, n.Password); err != nil {
			return nil, fmt.Errorf("sam: signer %s created but its password was not set: %w", n.Username, err)
		}
	}
	return sg, nil
}

// SetSignerStatus enables or disables a signer. Unless the new status is
// active, the signer's service tokens and outstanding SADs are revoked in the
// same transaction, and its unwrapped keys are dropped from the HSM cache.
// Status revoked also revokes each of the signer's credentials for good
// (RevokeCredential, reason cessationOfOperation), so their development CA
// certificates go on the CRL.
func (s *SAM) SetSignerStatus(ctx context.Context, signerID, status, actor string) error {
	switch status {
	case store.StatusActive, store.StatusDisabled, store.StatusRevoked:
	default:
		return fmt.Errorf("sam: unknown signer status %q", status)
	}
	if err := s.db.SetSignerStatus(ctx, signerID, status, s.now().UnixMilli()); err != nil {
		return err
	}
	if status != store.StatusActive {
		creds, err := s.db.CredentialsOf(ctx, signerID)
		if err != nil {
			return err
		}
		for _, c := range creds {
			s.keys.Forget(c.ID)
			if status == store.StatusRevoked && c.Status != store.StatusRevoked {
				if _, err := s.RevokeCredential(ctx, c.ID, ReasonCessationOfOperation, actor); err != nil {
					return err
				}
			}
		}
	}
	return s.audit(ctx, event{Event: EventSignerStatus, Outcome: OutcomeOK, Actor: actor,
		Details: map[string]any{"signer": signerID, "status": status}})
}

// DeleteCredential removes a credential with its PIN, SADs and challenges,
// drops its unwrapped key from the HSM cache and audits the deletion. The
// wrapped key blob is gone with the row, so the key cannot be used again;
// audit entries that name the credential stay. A certificate the
// development CA issued for it is revoked first (reason
// cessationOfOperation, unless it was revoked before), so the CRL and OCSP
// say the key is gone.
func (s *SAM) DeleteCredential(ctx context.Context, credentialID, actor string) error {
	cred, err := s.db.Credential(ctx, credentialID)
	if err != nil {
		return err
	}
	if _, _, err := s.revokeCertificateOf(ctx, cred, ReasonCessationOfOperation, actor); err != nil {
		return err
	}
	if err := s.db.DeleteCredential(ctx, credentialID); err != nil {
		return err
	}
	s.keys.Forget(credentialID)
	return s.audit(ctx, event{Event: EventCredentialDeleted, Outcome: OutcomeOK, Actor: actor, CredentialID: credentialID})
}
