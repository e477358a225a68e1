package sam

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/openrssp/rssp/store"
)

const (
	totpPeriod = 30 // seconds
	totpDigits = 6
	codeDigits = 6
)

// SetPIN sets (or replaces) a credential's PIN. The database keeps only
// argon2id over an HSM HMAC of the PIN, so a stolen database cannot be
// brute-forced without the HSM.
func (s *SAM) SetPIN(ctx context.Context, credentialID, pin string) error {
	if n := utf8.RuneCountInString(pin); n < 4 || n > 64 || !utf8.ValidString(pin) {
		return ErrInvalidPINFormat
	}
	cred, err := s.db.Credential(ctx, credentialID)
	if err != nil {
		return err
	}
	hash, err := s.pinHash(ctx, cred.ID, pin)
	if err != nil {
		return err
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	if err := s.db.PutFactor(ctx, &store.Factor{ID: id, SignerID: cred.SignerID, CredentialID: cred.ID, Kind: store.FactorPIN,
		Secret: hash, Status: store.StatusActive}); err != nil {
		return err
	}
	return s.audit(ctx, event{Event: EventFactorSet, Outcome: OutcomeOK, Actor: cred.SignerID, CredentialID: cred.ID,
		Details: map[string]any{"factor": store.FactorPIN}})
}

// pinHash is the stored form of a credential's PIN.
func (s *SAM) pinHash(ctx context.Context, credentialID, pin string) ([]byte, error) {
	peppered, err := s.pepperPIN(ctx, credentialID, pin)
	if err != nil {
		return nil, err
	}
	hash, err := argon2id.CreateHash(peppered, s.argon)
	if err != nil {
		return nil, err
	}
	return []byte(hash), nil
}

func (s *SAM) pepperPIN(ctx context.Context, credentialID, pin string) (string, error) {
	mac, err := s.keys.MAC(ctx, macInput(domainPIN, []byte(credentialID), []byte(pin)))
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(mac), nil
}

// EnrolTOTP stores a signer's TOTP seed (RFC 6238, SHA-1, 6 digits, 30 s)
// wrapped by the HSM; the seed never exists in clear outside the HSM again.
// The seed must be at least 20 bytes.
func (s *SAM) EnrolTOTP(ctx context.Context, signerID string, seed []byte) error {
	if len(seed) < 20 || len(seed) > 64 {
		return errors.New("sam: TOTP seed must be 20 to 64 bytes")
	}
	if _, err := s.db.Signer(ctx, signerID); err != nil {
		return err
	}
	blob, err := s.keys.WrapSecret(ctx, seed)
	if err != nil {
		return fmt.Errorf("sam: wrap TOTP seed: %w", err)
	}
	return s.putSignerFactor(ctx, signerID, store.FactorTOTP, blob, "")
}

// SetPhone binds a phone number for out-of-band codes.
func (s *SAM) SetPhone(ctx context.Context, signerID, phone string) error {
	phone, err := NormalizePhone(phone)
	if err != nil {
		return err
	}
	if _, err := s.db.Signer(ctx, signerID); err != nil {
		return err
	}
	return s.putSignerFactor(ctx, signerID, store.FactorSMS, nil, phone)
}

// putSignerFactor stores (or replaces) a signer-wide factor and audits it.
func (s *SAM) putSignerFactor(ctx context.Context, signerID, kind string, secret []byte, target string) error {
	id, err := s.newID()
	if err != nil {
		return err
	}
	if err := s.db.PutFactor(ctx, &store.Factor{ID: id, SignerID: signerID, Kind: kind, Secret: secret, Target: target, Status: store.StatusActive}); err != nil {
		return err
	}
	return s.audit(ctx, event{Event: EventFactorSet, Outcome: OutcomeOK, Actor: signerID, Details: map[string]any{"factor": kind}})
}

// UnlockFactor clears a lockout; an operator action that is audited.
func (s *SAM) UnlockFactor(ctx context.Context, signerID, credentialID, kind, actor string) error {
	f, err := s.db.Factor(ctx, signerID, credentialID, kind)
	if err != nil {
		return err
	}
	if err := s.db.ResetFailures(ctx, f.ID); err != nil {
		return err
	}
	return s.audit(ctx, event{Event: EventFactorSuccess, Outcome: OutcomeOK, Actor: actor, CredentialID: credentialID,
		Details: map[string]any{"factor": kind, "action": "unlock"}})
}

// attempt is one verification of one factor: the attempt is counted before the
// check (fail closed), and released only on success.
type attempt struct {
	factor   *store.Factor
	locked   bool
	failures int // counted attempts including this one, as the reservation left them
}

// reserve counts an attempt; locked reports a factor at its failure limit.
func (s *SAM) reserve(ctx context.Context, f *store.Factor) (attempt, error) {
	if f.Status != store.StatusActive {
		return attempt{factor: f, locked: true}, nil
	}
	n, ok, err := s.db.ReserveAttempt(ctx, f.ID, s.cfg.MaxFailures)
	if err != nil {
		return attempt{}, internal(err)
	}
	return attempt{factor: f, locked: !ok, failures: n}, nil
}

// finish records the outcome of a reserved attempt. A failed attempt stays
// counted; the one whose reservation reached the limit (there is exactly one)
// audits the lockout and, for a credential PIN, revokes the credential's
// outstanding SADs.
func (s *SAM) finish(ctx context.Context, a attempt, success bool, credentialID string) error {
	ev := event{Event: EventFactorSuccess, Outcome: OutcomeOK, Actor: a.factor.SignerID, CredentialID: credentialID,
		Details: map[string]any{"factor": a.factor.Kind}}
	if success {
		if a.factor.Kind != store.FactorTOTP { // TOTP reset happens with the step acceptance
			if err := s.db.ResetFailures(ctx, a.factor.ID); err != nil {
				return internal(err)
			}
		}
		return s.audit(ctx, ev)
	}
	ev.Event, ev.Outcome = EventFactorFailure, OutcomeFail
	ev.Details["failures"] = a.failures
	if err := s.audit(ctx, ev); err != nil {
		return internal(err)
	}
	if a.failures >= s.cfg.MaxFailures {
		if credentialID != "" {
			if err := s.db.RevokeSADsOf(ctx, credentialID, s.now().UnixMilli()); err != nil {
				return internal(err)
			}
		}
		return s.audit(ctx, event{Event: EventFactorLocked, Outcome: OutcomeFail, Actor: a.factor.SignerID, CredentialID: credentialID,
			Details: map[string]any{"factor": a.factor.Kind}})
	}
	return nil
}

// checkPIN verifies a PIN against its argon2id hash in constant time.
func (s *SAM) checkPIN(ctx context.Context, f *store.Factor, credentialID, pin string) (bool, error) {
	peppered, err := s.pepperPIN(ctx, credentialID, pin)
	if err != nil {
		return false, err
	}
	ok, err := argon2id.ComparePasswordAndHash(peppered, string(f.Secret))
	if err != nil {
		return false, err
	}
	return ok, nil
}

// checkTOTP finds the time step within the skew window whose code matches
// (matchTOTP) and then accepts that step at most once (cluster-wide).
func (s *SAM) checkTOTP(ctx context.Context, f *store.Factor, code string) (bool, error) {
	step, err := s.matchTOTP(ctx, f.Secret, code)
	if err != nil || step < 0 {
		return false, err
	}
	return s.db.AcceptTOTPStep(ctx, f.ID, step)
}

// matchTOTP is the step within the skew window whose code is code, or -1:
// each candidate is computed inside the HSM over the wrapped seed and
// compared in constant time.
func (s *SAM) matchTOTP(ctx context.Context, blob []byte, code string) (int64, error) {
	if len(code) != totpDigits {
		return -1, nil
	}
	now := s.now().Unix() / totpPeriod
	var match int64 = -1
	for step := now - int64(s.cfg.TOTPSkew); step <= now+int64(s.cfg.TOTPSkew); step++ {
		want, err := s.hotp(ctx, blob, step)
		if err != nil {
			return -1, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			match = step
		}
	}
	return match, nil
}

// hotp computes an RFC 4226 code with the HMAC done by the HSM.
func (s *SAM) hotp(ctx context.Context, wrappedSeed []byte, counter int64) (string, error) {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	sum, err := s.keys.HMACWrapped(ctx, wrappedSeed, crypto.SHA1, msg[:])
	if err != nil {
		return "", err
	}
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000), nil
}

// Binding identifies what an out-of-band code authorises: a credential and
// the exact hashes, so a code sent for one request is useless for another.
// Purpose is empty for a signature approval (store.PurposeApprove); other
// purposes bind codes that prove a phone.
type Binding struct {
	Purpose       string
	CredentialID  string
	HashAlgorithm string
	Hashes        [][]byte
	NumSignatures int
}

func (b Binding) purpose() string {
	if b.Purpose == "" {
		return store.PurposeApprove
	}
	return b.Purpose
}

func (b Binding) digest() []byte {
	sorted := sortedHashes(b.Hashes)
	fields := [][]byte{[]byte(b.purpose()), []byte(b.CredentialID), []byte(b.HashAlgorithm), u64(int64(b.NumSignatures))}
	fields = append(fields, sorted...)
	sum := sha256.Sum256(macInput("binding", fields...))
	return sum[:]
}

// checkChallenge verifies an out-of-band code for challengeID against b. Each
// challenge allows a few attempts, expires, and succeeds at most once.
func (s *SAM) checkChallenge(ctx context.Context, signerID, challengeID, code string, b Binding) (bool, error) {
	ch, err := s.db.Challenge(ctx, challengeID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	nowMs := s.now().UnixMilli()
	ok, err := s.db.ReserveChallengeAttempt(ctx, ch.ID, s.cfg.ChallengeAttempts, nowMs)
	if err != nil || !ok {
		return false, err
	}
	want, err := s.keys.MAC(ctx, macInput(domainChallenge, []byte(ch.ID), []byte(code)))
	if err != nil {
		return false, err
	}
	match := subtle.ConstantTimeCompare(want, ch.CodeMAC) &
		subtle.ConstantTimeCompare(ch.Binding, b.digest()) &
		subtle.ConstantTimeCompare([]byte(ch.Purpose), []byte(b.purpose())) &
		subtle.ConstantTimeCompare([]byte(ch.SignerID), []byte(signerID))
	if match != 1 {
		return false, nil
	}
	return s.db.UseChallenge(ctx, ch.ID, nowMs)
}
