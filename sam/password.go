package sam

import (
	"context"
	"encoding/base64"
	"errors"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/openrssp/rssp/store"
)

// Password policy for signer login passwords.
const (
	minPasswordLen = 8
	maxPasswordLen = 256
)

// SetPassword sets (or replaces) a signer's login password. Like a PIN it is
// kept only as argon2id over an HSM HMAC, and failed logins count towards the
// same lockout as any other factor.
func (s *SAM) SetPassword(ctx context.Context, signerID, password string) error {
	if n := utf8.RuneCountInString(password); n < minPasswordLen || n > maxPasswordLen || !utf8.ValidString(password) {
		return ErrInvalidPassword
	}
	if _, err := s.db.Signer(ctx, signerID); err != nil {
		return err
	}
	hash, err := s.passwordHash(ctx, signerID, password)
	if err != nil {
		return err
	}
	return s.putSignerFactor(ctx, signerID, store.FactorPassword, []byte(hash), "")
}

func (s *SAM) passwordHash(ctx context.Context, signerID, password string) (string, error) {
	peppered, err := s.pepperPassword(ctx, signerID, password)
	if err != nil {
		return "", err
	}
	return argon2id.CreateHash(peppered, s.argon)
}

func (s *SAM) pepperPassword(ctx context.Context, signerID, password string) (string, error) {
	mac, err := s.keys.MAC(ctx, macInput(domainPassword, []byte(signerID), []byte(password)))
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(mac), nil
}

// SignerLookup is the part of the store that resolves login names.
type SignerLookup interface {
	SignerByUsername(ctx context.Context, username string) (*store.Signer, error)
}

var _ SignerLookup = (*store.Store)(nil)

// CheckPassword authenticates a signer by username and password and returns
// the signer's ID. Every refusal is the same ErrLoginFailed (unknown user,
// wrong password, locked or disabled signer), and an unknown username costs
// the same argon2id work as a known one, so neither the answer nor its timing
// tells which usernames exist.
func (s *SAM) CheckPassword(ctx context.Context, users SignerLookup, username, password string) (string, error) {
	if username == "" || len(username) > 128 || len(password) > maxPasswordLen*4 {
		return "", ErrLoginFailed
	}
	sg, err := users.SignerByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		s.burnPasswordCheck(password)
		return "", ErrLoginFailed
	}
	if err != nil {
		return "", internal(err)
	}
	f, err := s.db.Factor(ctx, sg.ID, "", store.FactorPassword)
	if errors.Is(err, store.ErrNotFound) {
		s.burnPasswordCheck(password)
		return "", ErrLoginFailed
	}
	if err != nil {
		return "", internal(err)
	}
	a, err := s.reserve(ctx, f)
	if err != nil {
		return "", err
	}
	if a.locked {
		return "", ErrLoginFailed.with(errors.New("password locked"))
	}
	peppered, err := s.pepperPassword(ctx, sg.ID, password)
	if err != nil {
		return "", internal(err)
	}
	ok, err := argon2id.ComparePasswordAndHash(peppered, string(f.Secret))
	if err != nil {
		return "", internal(err)
	}
	if err := s.finish(ctx, a, ok, ""); err != nil {
		return "", err
	}
	if !ok {
		return "", ErrLoginFailed
	}
	if sg.Status != store.StatusActive {
		return "", ErrLoginFailed.with(errors.New("signer is not active"))
	}
	return sg.ID, nil
}

// burnPasswordCheck spends the work of one password check.
func (s *SAM) burnPasswordCheck(password string) {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = argon2id.CreateHash("dummy", s.argon)
	})
	_, _ = argon2id.ComparePasswordAndHash(password, s.dummyHash)
}
