package sam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/openrssp/rssp/store"
)

// sadTokenBytes is the SAD's entropy: 256 bits from the random source.
const sadTokenBytes = 32

// maxHashesPerRequest bounds the work one request can ask of the HSM.
const maxHashesPerRequest = 1000

// AuthorizeRequest asks for a SAD with explicitly supplied factors (CSC
// credentials/authorize). SignerID and ClientID come from the authenticated
// service token, never from the request body.
type AuthorizeRequest struct {
	CredentialID  string
	SignerID      string
	ClientID      string
	NumSignatures int
	HashAlgorithm string   // dotted OID; required for SCAL2
	Hashes        [][]byte // raw digests; required for SCAL2
	PIN           string
	OTP           string // a TOTP code, or the answer to an SMS code
	ChallengeID   string // the SMS challenge OTP answers; found from the credential when empty
	OTPChannel    string // ChannelAuto, ChannelSMS or ChannelTOTP
}

// IssuedSAD is a freshly issued SAD. Token is shown to the client once and is
// never stored or logged.
type IssuedSAD struct {
	Token     string
	ExpiresAt time.Time
	Remaining int
}

// Authorize verifies the signer's factors for the credential and issues a SAD
// bound to the credential, signer, client, hash algorithm and exact multiset
// of hashes (SCAL2) or to a count only (SCAL1). Every factor given is checked
// and counted even when another one fails, and a failure never says which
// factor was wrong.
func (s *SAM) Authorize(ctx context.Context, req AuthorizeRequest) (IssuedSAD, error) {
	cred, _, err := s.activeCredential(ctx, req.CredentialID, req.SignerID)
	if err != nil {
		return IssuedSAD{}, err
	}
	if cred.AuthMode == AuthModeOAuth2Code {
		return IssuedSAD{}, ErrOAuth2CodeOnly
	}
	if err := s.checkAuthorization(cred, req.NumSignatures, req.HashAlgorithm, req.Hashes); err != nil {
		return IssuedSAD{}, err
	}
	if err := s.verifyFactors(ctx, cred, req); err != nil {
		return IssuedSAD{}, err
	}
	return s.issue(ctx, cred, req.SignerID, req.ClientID, req.NumSignatures, req.HashAlgorithm, req.Hashes, s.now())
}

// checkAuthorization validates what a SAD is asked to authorise.
func (s *SAM) checkAuthorization(cred *store.Credential, num int, hashOID string, hashes [][]byte) error {
	switch {
	case num < 1:
		return ErrNumSignatures
	case num > cred.Multisign:
		return ErrTooManySignatures
	}
	if cred.SCAL < 2 {
		return nil
	}
	if len(hashes) == 0 || len(hashes) > num {
		return ErrHashesMissing.with(fmt.Errorf("SCAL2 needs 1 to numSignatures hashes, got %d", len(hashes)))
	}
	return checkDigests(hashOID, hashes)
}

func checkDigests(hashOID string, hashes [][]byte) error {
	h, ok := hashByOID[hashOID]
	if !ok {
		return ErrHashAlgorithm
	}
	if len(hashes) > maxHashesPerRequest {
		return ErrTooManySignatures
	}
	for _, d := range hashes {
		if len(d) != h.Size() {
			return ErrDigestLength
		}
	}
	return nil
}

// verifyFactors checks PIN and one-time code. SCAL2 credentials need both
// (PIN and a TOTP or out-of-band code); SCAL1 credentials need the PIN.
func (s *SAM) verifyFactors(ctx context.Context, cred *store.Credential, req AuthorizeRequest) error {
	pinF, err := s.db.Factor(ctx, cred.SignerID, cred.ID, store.FactorPIN)
	if errors.Is(err, store.ErrNotFound) {
		return ErrAuthentication.with(errors.New("credential has no PIN"))
	}
	if err != nil {
		return internal(err)
	}
	needOTP := cred.SCAL >= 2 || req.OTP != ""
	var otpF *store.Factor
	if needOTP {
		if req.ChallengeID, err = s.resolveChallenge(ctx, cred.SignerID, cred.ID, req.ChallengeID, req.OTPChannel); err != nil {
			return err
		}
		if otpF, err = s.otpFactor(ctx, cred.SignerID, req.ChallengeID); err != nil {
			return err
		}
	}

	pinA, err := s.reserve(ctx, pinF)
	if err != nil {
		return err
	}
	if pinA.locked {
		return ErrPINLocked
	}
	var otpA attempt
	if otpF != nil {
		if otpA, err = s.reserve(ctx, otpF); err != nil {
			return err
		}
		if otpA.locked {
			// The PIN was not checked: its reservation must not count.
			if err := s.db.ReleaseAttempt(ctx, pinF.ID); err != nil {
				return internal(err)
			}
			return ErrOTPLocked
		}
	}

	pinOK, err := s.checkPIN(ctx, pinF, cred.ID, req.PIN)
	if err != nil {
		return internal(err)
	}
	otpOK := !needOTP
	if needOTP {
		otpOK, err = s.checkOTP(ctx, otpF, req.SignerID, req.OTP, req.ChallengeID,
			approvalBinding(cred, req.NumSignatures, req.HashAlgorithm, req.Hashes))
		if err != nil {
			return internal(err)
		}
	}
	if err := s.finish(ctx, pinA, pinOK, cred.ID); err != nil {
		return err
	}
	if otpF != nil {
		if err := s.finish(ctx, otpA, otpOK, cred.ID); err != nil {
			return err
		}
	}
	if !pinOK {
		return ErrPINInvalid
	}
	if !otpOK {
		return ErrOTPInvalid
	}
	return nil
}

// issue creates and stores a SAD with a random token, audited in the same
// transaction.
func (s *SAM) issue(ctx context.Context, cred *store.Credential, signerID, clientID string, num int, hashOID string, hashes [][]byte, origin time.Time) (IssuedSAD, error) {
	return s.issueToken(ctx, cred, signerID, clientID, num, hashOID, hashes, origin, nil)
}

// issueToken is issue with the token given: raw (sadTokenBytes long), or nil
// for a fresh random one.
func (s *SAM) issueToken(ctx context.Context, cred *store.Credential, signerID, clientID string, num int, hashOID string, hashes [][]byte, origin time.Time, raw []byte) (IssuedSAD, error) {
	sad, token, err := s.newSAD(cred, signerID, clientID, num, hashOID, hashes, origin, raw)
	if err != nil {
		return IssuedSAD{}, internal(err)
	}
	if sad.MAC, err = s.mac(ctx, sadMACInput(sad)); err != nil {
		return IssuedSAD{}, internal(err)
	}
	build, err := s.chainFunc(ctx, event{Event: EventSADIssued, Outcome: OutcomeOK, Actor: signerID, CredentialID: cred.ID, ClientID: clientID,
		Details: map[string]any{"sad": sad.ID, "numSignatures": num, "hashAlgorithm": hashOID, "hashes": hexDigests(hashes), "expires": sad.ExpiresAt}})
	if err != nil {
		return IssuedSAD{}, internal(err)
	}
	if err := s.db.CreateSAD(ctx, sad, build); err != nil {
		return IssuedSAD{}, internal(err)
	}
	return IssuedSAD{Token: token, ExpiresAt: time.UnixMilli(sad.ExpiresAt), Remaining: sad.Remaining}, nil
}

// newSAD builds a SAD record and its token. raw is the token, or nil for
// sadTokenBytes from the random source.
func (s *SAM) newSAD(cred *store.Credential, signerID, clientID string, num int, hashOID string, hashes [][]byte, origin time.Time, raw []byte) (*store.SAD, string, error) {
	if raw == nil {
		var err error
		if raw, err = s.randomBytes(sadTokenBytes); err != nil {
			return nil, "", err
		}
	} else if len(raw) != sadTokenBytes {
		return nil, "", fmt.Errorf("SAD token of %d bytes, want %d", len(raw), sadTokenBytes)
	}
	id, err := s.newID()
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	expires := now.Add(s.cfg.SADLifetime)
	if limit := origin.Add(s.cfg.MaxTransaction); limit.Before(expires) {
		expires = limit
	}
	if !expires.After(now) {
		return nil, "", ErrSADExpired
	}
	th := sha256.Sum256(raw)
	sad := &store.SAD{
		ID: id, TokenHash: th[:], CredentialID: cred.ID, SignerID: signerID, ClientID: clientID, SCAL: cred.SCAL,
		NumSignatures: num, Remaining: num, Version: 1, OriginAt: origin.UnixMilli(), ExpiresAt: expires.UnixMilli(),
	}
	if cred.SCAL >= 2 {
		sad.HashAlgorithm = hashOID
		sad.Hashes = encodeHashes(hashes)
		sad.Consumed = strings.Repeat("0", len(hashes))
	}
	return sad, base64.RawURLEncoding.EncodeToString(raw), nil
}

// sadMACInput covers the SAD's binding: everything fixed at issue. The
// mutable state (Remaining, Consumed, Version) is deliberately not MACed: an
// attacker who can write the database can always put back an earlier row with
// its genuine MAC, so a MAC over the state would cost an HSM call per
// signature and stop nothing that restoring the issued row does not already
// allow. checkState confines the state to the binding, and every consumption
// is recorded in the HMAC-chained audit log, which is where a rollback shows.
func sadMACInput(sad *store.SAD) []byte {
	return macInput(domainSAD, []byte(sad.ID), sad.TokenHash, []byte(sad.CredentialID), []byte(sad.SignerID), []byte(sad.ClientID),
		u64(int64(sad.SCAL)), []byte(sad.HashAlgorithm), []byte(sad.Hashes), u64(int64(sad.NumSignatures)),
		u64(sad.OriginAt), u64(sad.ExpiresAt))
}

// stateWithinBinding reports whether the mutable state could have been
// reached from the binding: the count never exceeds numSignatures and the
// consumption string has one '0' or '1' per authorised hash.
func stateWithinBinding(sad *store.SAD) bool {
	if sad.Remaining < 0 || sad.Remaining > sad.NumSignatures {
		return false
	}
	n := 0
	if sad.Hashes != "" {
		n = strings.Count(sad.Hashes, ",") + 1
	}
	if len(sad.Consumed) != n {
		return false
	}
	return strings.Trim(sad.Consumed, "01") == ""
}

func encodeHashes(hashes [][]byte) string {
	parts := make([]string, len(hashes))
	for i, h := range hashes {
		parts[i] = base64.StdEncoding.EncodeToString(h)
	}
	return strings.Join(parts, ",")
}

func decodeHashes(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([][]byte, len(parts))
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func hexDigests(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = fmt.Sprintf("%x", h)
	}
	return out
}

func sortedHashes(hashes [][]byte) [][]byte {
	out := append([][]byte(nil), hashes...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i], out[j]) < 0 })
	return out
}

// sadParty is who presents a SAD and for what.
type sadParty struct {
	credentialID, signerID, clientID string
}

// fetchedSAD is the outcome of looking a SAD token up, before any check.
type fetchedSAD struct {
	sad    *store.SAD
	reason string // why there is no record: "malformed" or "unknown"
	err    error  // the lookup itself failed
}

// fetchSAD decodes token and reads its record; it touches nothing else, so
// it can run alongside the credential read.
func (s *SAM) fetchSAD(ctx context.Context, token string) fetchedSAD {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != sadTokenBytes {
		return fetchedSAD{reason: "malformed"}
	}
	th := sha256.Sum256(raw)
	sad, err := s.db.SADByTokenHash(ctx, th[:])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fetchedSAD{reason: "unknown"}
	case err != nil:
		return fetchedSAD{err: err}
	}
	return fetchedSAD{sad: sad}
}

// loadSAD finds the SAD for token and runs every check that does not depend
// on the hashes: integrity (HSM MAC), revocation, expiry and binding to the
// presenting credential, signer and client.
func (s *SAM) loadSAD(ctx context.Context, token string, p sadParty) (*store.SAD, error) {
	return s.checkSAD(ctx, p, s.fetchSAD(ctx, token))
}

func (s *SAM) checkSAD(ctx context.Context, p sadParty, f fetchedSAD) (*store.SAD, error) {
	if f.err != nil {
		return nil, internal(f.err)
	}
	if f.sad == nil {
		return nil, s.reject(ctx, p, "", f.reason, ErrSADInvalid)
	}
	sad := f.sad
	ok, err := s.checkMAC(ctx, sadMACInput(sad), sad.MAC)
	if err != nil {
		return nil, internal(err)
	}
	switch {
	case !ok || !stateWithinBinding(sad):
		return nil, s.reject(ctx, p, sad.ID, "integrity", ErrSADInvalid.with(errors.New("SAD record MAC does not verify")))
	case sad.CredentialID != p.credentialID || sad.SignerID != p.signerID || sad.ClientID != p.clientID:
		return nil, s.reject(ctx, p, sad.ID, "binding", ErrSADInvalid.with(errors.New("SAD presented by another credential, signer or client")))
	case sad.RevokedAt != 0:
		return nil, s.reject(ctx, p, sad.ID, "revoked", ErrSADRevoked)
	case s.now().UnixMilli() >= sad.ExpiresAt:
		return nil, s.reject(ctx, p, sad.ID, "expired", ErrSADExpired)
	case sad.Remaining <= 0:
		return nil, s.reject(ctx, p, sad.ID, "exhausted", ErrSADExhausted)
	}
	return sad, nil
}

// reject audits a refused SAD and returns refusal.
func (s *SAM) reject(ctx context.Context, p sadParty, sadID, reason string, refusal error) error {
	if err := s.audit(ctx, event{Event: EventSADRejected, Outcome: OutcomeFail, Actor: p.signerID, CredentialID: p.credentialID,
		ClientID: p.clientID, Details: map[string]any{"sad": sadID, "reason": reason}}); err != nil {
		return internal(err)
	}
	return refusal
}

// claim marks, for each requested hash, a distinct unconsumed authorised
// occurrence of the same bytes. It returns the new consumption string, or
// ok=false if any hash is not (or no longer) authorised: then nothing is
// consumed at all.
func claim(sad *store.SAD, hashes [][]byte) (string, bool) {
	authorised, err := decodeHashes(sad.Hashes)
	if err != nil || len(authorised) != len(sad.Consumed) {
		return "", false
	}
	consumed := []byte(sad.Consumed)
	for _, h := range hashes {
		found := false
		for i, a := range authorised {
			if consumed[i] == '0' && bytes.Equal(a, h) {
				consumed[i] = '1'
				found = true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return string(consumed), true
}

// maxCASRetries bounds how often a request re-reads a SAD after losing a
// compare-and-swap to a concurrent request for other hashes of the same SAD.
const maxCASRetries = 16

// ExtendRequest asks to replace a current SAD with a fresh one (CSC
// credentials/extendTransaction).
type ExtendRequest struct {
	CredentialID  string
	SignerID      string
	ClientID      string
	SAD           string
	HashAlgorithm string
	Hashes        [][]byte
}

// ExtendTransaction supersedes an unexpired SAD with a new one carrying the
// same credential, signer, client, remaining count and unconsumed hashes. An
// expired SAD cannot be extended, the count never grows, and the chain of
// extensions ends MaxTransaction after the signer's approval. Hashes the
// signer did not approve are accepted only with Config.ExtendNewHashes and
// only within the remaining count.
func (s *SAM) ExtendTransaction(ctx context.Context, req ExtendRequest) (IssuedSAD, error) {
	cred, _, err := s.activeCredential(ctx, req.CredentialID, req.SignerID)
	if err != nil {
		return IssuedSAD{}, err
	}
	p := sadParty{credentialID: req.CredentialID, signerID: req.SignerID, clientID: req.ClientID}
	for range maxCASRetries {
		old, err := s.loadSAD(ctx, req.SAD, p)
		if err != nil {
			return IssuedSAD{}, err
		}
		var hashes [][]byte
		if old.SCAL >= 2 {
			if req.HashAlgorithm != "" && req.HashAlgorithm != old.HashAlgorithm {
				return IssuedSAD{}, ErrHashAlgorithm
			}
			if hashes, err = s.extendedHashes(old, req.Hashes); err != nil {
				return IssuedSAD{}, err
			}
		}
		next, token, err := s.newSAD(cred, old.SignerID, old.ClientID, old.Remaining, old.HashAlgorithm, hashes, time.UnixMilli(old.OriginAt), nil)
		if err != nil {
			return IssuedSAD{}, s.reject(ctx, p, old.ID, "transaction limit", ErrSADExpired)
		}
		if next.MAC, err = s.mac(ctx, sadMACInput(next)); err != nil {
			return IssuedSAD{}, internal(err)
		}
		build, err := s.chainFunc(ctx, event{Event: EventSADExtended, Outcome: OutcomeOK, Actor: old.SignerID, CredentialID: cred.ID, ClientID: old.ClientID,
			Details: map[string]any{"sad": old.ID, "successor": next.ID, "remaining": next.Remaining, "hashes": hexDigests(hashes), "expires": next.ExpiresAt}})
		if err != nil {
			return IssuedSAD{}, internal(err)
		}
		applied, err := s.db.UpdateSAD(ctx, store.SADUpdate{ID: old.ID, FromVersion: old.Version, Remaining: 0, Consumed: old.Consumed,
			NowMs: s.now().UnixMilli()}, next, build)
		if err != nil {
			return IssuedSAD{}, internal(err)
		}
		if applied {
			return IssuedSAD{Token: token, ExpiresAt: time.UnixMilli(next.ExpiresAt), Remaining: next.Remaining}, nil
		}
	}
	return IssuedSAD{}, ErrSADExhausted.with(errors.New("SAD kept changing during extension"))
}

// extendedHashes returns the hashes the successor SAD binds: the unconsumed
// authorised ones, plus (if allowed) new ones from the request.
func (s *SAM) extendedHashes(old *store.SAD, requested [][]byte) ([][]byte, error) {
	authorised, err := decodeHashes(old.Hashes)
	if err != nil {
		return nil, internal(err)
	}
	var open [][]byte
	for i, a := range authorised {
		if old.Consumed[i] == '0' {
			open = append(open, a)
		}
	}
	if err := checkDigests(old.HashAlgorithm, requested); len(requested) > 0 && err != nil {
		return nil, err
	}
	claimed := make([]bool, len(open))
	var fresh [][]byte
	for _, h := range requested {
		found := false
		for i, a := range open {
			if !claimed[i] && bytes.Equal(a, h) {
				claimed[i], found = true, true
				break
			}
		}
		if !found {
			fresh = append(fresh, h)
		}
	}
	if len(fresh) > 0 && !s.cfg.ExtendNewHashes {
		return nil, ErrHashNotAuthorized.with(errors.New("new hashes need the signer's approval"))
	}
	out := append(open, fresh...)
	if len(out) > old.Remaining {
		return nil, ErrSADCountExceeded
	}
	if len(out) == 0 {
		return nil, ErrSADExhausted
	}
	return out, nil
}

// RevokeSAD revokes a SAD before it is used up (e.g. on oauth2/revoke of a
// credential token). Only its own signer and client can revoke it.
func (s *SAM) RevokeSAD(ctx context.Context, token, credentialID, signerID, clientID string) error {
	p := sadParty{credentialID: credentialID, signerID: signerID, clientID: clientID}
	sad, err := s.loadSAD(ctx, token, p)
	if err != nil {
		return err
	}
	if _, err := s.db.RevokeSAD(ctx, sad.ID, s.now().UnixMilli()); err != nil {
		return internal(err)
	}
	return s.audit(ctx, event{Event: EventSADRevoked, Outcome: OutcomeOK, Actor: signerID, CredentialID: credentialID, ClientID: clientID,
		Details: map[string]any{"sad": sad.ID}})
}
