package sam

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/openrssp/rssp/store"
)

// ApproveRequest is a signer's approval on the server's own pages (the OAuth
// authorization-code flow). SignerID is the signer who logged in there and
// ClientID the OAuth client that asked; neither comes from a form field.
type ApproveRequest struct {
	CredentialID  string
	SignerID      string
	ClientID      string
	NumSignatures int
	HashAlgorithm string   // dotted OID; required for SCAL2
	Hashes        [][]byte // raw digests; required for SCAL2
	OTP           string   // TOTP code, or the answer to ChallengeID
	ChallengeID   string   // set when OTP answers an out-of-band challenge (SendChallenge)
}

// Approval is a verified approval not yet turned into a SAD. It can only be
// made by [SAM.Approve] and turned into a SAD at most once, by
// [Approval.Issue].
type Approval struct {
	sam      *SAM
	cred     *store.Credential
	signerID string
	clientID string
	num      int
	hashOID  string
	hashes   [][]byte
	at       time.Time
	issued   atomic.Bool
}

// BearerSAD is the binding of a SAD presented as an OAuth bearer token.
type BearerSAD struct {
	CredentialID string
	SignerID     string
	ClientID     string
	ExpiresAt    time.Time
	Remaining    int
}

// Approve verifies a signer's approval of a signature request shown on the
// server's own pages: the credential must be active and the signer's (any
// auth mode), the request must be one a SAD may authorise (as for
// [SAM.Authorize]), and the second factor must verify: a TOTP code, or with
// ChallengeID the out-of-band code sent for exactly this credential, hash
// algorithm, hashes and count. There is no PIN: the signer's password, checked
// at login by [SAM.CheckPassword], is the knowledge factor of this flow. The
// attempt is counted before the code is checked and released only on success;
// MaxFailures consecutive failures lock the factor ([ErrOTPLocked]). An empty
// code is refused and counted like a wrong one ([ErrOTPInvalid]).
//
// The approval is audited. It authorises nothing until [Approval.Issue] turns
// it, once, into a SAD.
func (s *SAM) Approve(ctx context.Context, req ApproveRequest) (*Approval, error) {
	cred, _, err := s.activeCredential(ctx, req.CredentialID, req.SignerID)
	if err != nil {
		return nil, err
	}
	if err := s.checkAuthorization(cred, req.NumSignatures, req.HashAlgorithm, req.Hashes); err != nil {
		return nil, err
	}
	hashOID := ""
	var hashes [][]byte
	if cred.SCAL >= 2 {
		// A copy: the caller cannot widen the approval after the fact.
		hashOID = req.HashAlgorithm
		hashes = make([][]byte, len(req.Hashes))
		for i, h := range req.Hashes {
			hashes[i] = append([]byte(nil), h...)
		}
	}
	b := approvalBinding(cred, req.NumSignatures, req.HashAlgorithm, req.Hashes)
	if err := s.verifyOTP(ctx, cred, req.SignerID, req.OTP, req.ChallengeID, b); err != nil {
		return nil, err
	}
	at := s.now()
	if err := s.audit(ctx, event{Event: EventSADApproved, Outcome: OutcomeOK, Actor: req.SignerID, CredentialID: cred.ID, ClientID: req.ClientID,
		Details: map[string]any{"numSignatures": req.NumSignatures, "hashAlgorithm": hashOID, "hashes": hexDigests(hashes), "factor": otpKind(req.ChallengeID)}}); err != nil {
		return nil, internal(err)
	}
	return &Approval{sam: s, cred: cred, signerID: req.SignerID, clientID: req.ClientID, num: req.NumSignatures,
		hashOID: hashOID, hashes: hashes, at: at}, nil
}

// verifyOTP checks the one-time code of an approval exactly as verifyFactors
// checks the OTP part of an explicit authorisation: TOTP against the signer's
// app, or an out-of-band code against the phone factor and b; counted before
// the check (fail closed), released only on success.
func (s *SAM) verifyOTP(ctx context.Context, cred *store.Credential, signerID, code, challengeID string, b Binding) error {
	f, err := s.otpFactor(ctx, cred.SignerID, challengeID)
	if err != nil {
		return err
	}
	a, err := s.reserve(ctx, f)
	if err != nil {
		return err
	}
	if a.locked {
		return ErrOTPLocked
	}
	ok, err := s.checkOTP(ctx, f, signerID, code, challengeID, b)
	if err != nil {
		return internal(err)
	}
	if err := s.finish(ctx, a, ok, cred.ID); err != nil {
		return err
	}
	if !ok {
		return ErrOTPInvalid
	}
	return nil
}

// otpKind is the factor a one-time code counts against: the phone for an
// answer to an out-of-band challenge, the TOTP app otherwise. Either way
// failures lead to a lockout.
func otpKind(challengeID string) string {
	if challengeID != "" {
		return store.FactorSMS
	}
	return store.FactorTOTP
}

// otpFactor loads the factor a one-time code counts against.
func (s *SAM) otpFactor(ctx context.Context, signerID, challengeID string) (*store.Factor, error) {
	kind := otpKind(challengeID)
	f, err := s.db.Factor(ctx, signerID, "", kind)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrAuthentication.with(fmt.Errorf("signer has no %s factor", kind))
	}
	if err != nil {
		return nil, internal(err)
	}
	return f, nil
}

// checkOTP checks a one-time code, reserved beforehand: the answer to an
// out-of-band challenge bound to b, or a TOTP code. An empty code fails
// without a check (and stays counted).
func (s *SAM) checkOTP(ctx context.Context, f *store.Factor, signerID, code, challengeID string, b Binding) (bool, error) {
	switch {
	case code == "":
		return false, nil
	case challengeID != "":
		return s.checkChallenge(ctx, signerID, challengeID, code, b)
	default:
		return s.checkTOTP(ctx, f, code)
	}
}

// Issue turns the approval into a SAD whose token is derived from the OAuth
// authorization code (see [SAM.CredentialToken]), so that only a holder of
// the code can present it and the token itself is never stored. It succeeds
// at most once per Approval, refuses an empty code, refuses an approval older
// than the SAD lifetime ([ErrSADExpired]) and refuses a credential that is no
// longer active. The SAD's transaction starts at the approval, so
// MaxTransaction is counted from the signer's confirmation.
func (a *Approval) Issue(ctx context.Context, code string) (IssuedSAD, error) {
	if a == nil || a.sam == nil {
		return IssuedSAD{}, internal(errors.New("approval not made by SAM.Approve"))
	}
	s := a.sam
	if code == "" {
		return IssuedSAD{}, internal(errors.New("empty authorization code"))
	}
	if !a.issued.CompareAndSwap(false, true) {
		return IssuedSAD{}, internal(errors.New("approval already issued"))
	}
	if !s.now().Before(a.at.Add(s.cfg.SADLifetime)) {
		return IssuedSAD{}, ErrSADExpired.with(errors.New("approval older than the SAD lifetime"))
	}
	cred, _, err := s.activeCredential(ctx, a.cred.ID, a.signerID)
	if err != nil {
		return IssuedSAD{}, err
	}
	if err := s.checkAuthorization(cred, a.num, a.hashOID, a.hashes); err != nil {
		return IssuedSAD{}, err
	}
	raw, err := s.credentialToken(ctx, code)
	if err != nil {
		return IssuedSAD{}, internal(err)
	}
	return s.issueToken(ctx, cred, a.signerID, a.clientID, a.num, a.hashOID, a.hashes, a.at, raw)
}

// CredentialToken recomputes, from an authorization code, the credential
// token (SAD) that [Approval.Issue] created for it: base64url of the HSM MAC
// of the code under its own domain. It reads no database; whether the token
// is still valid is for [SAM.Bearer] and [SAM.SignHash] to decide.
func (s *SAM) CredentialToken(ctx context.Context, code string) (string, error) {
	if code == "" {
		return "", internal(errors.New("empty authorization code"))
	}
	raw, err := s.credentialToken(ctx, code)
	if err != nil {
		return "", internal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

func (s *SAM) credentialToken(ctx context.Context, code string) ([]byte, error) {
	raw, err := s.keys.MAC(ctx, macInput(domainCredentialToken, []byte(code)))
	if err != nil {
		return nil, err
	}
	if len(raw) != sadTokenBytes {
		return nil, fmt.Errorf("credential token MAC of %d bytes, want %d", len(raw), sadTokenBytes)
	}
	return raw, nil
}

// Bearer resolves a SAD presented as an OAuth bearer token and returns its
// binding. It runs the checks of SAD redemption that need no presenting
// party: record integrity (HSM MAC), revocation, expiry and remaining count,
// refusing with [ErrSADInvalid], [ErrSADRevoked], [ErrSADExpired] or
// [ErrSADExhausted]. It consumes nothing.
func (s *SAM) Bearer(ctx context.Context, token string) (BearerSAD, error) {
	f := s.fetchSAD(ctx, token)
	sad, err := s.checkSAD(ctx, partyOf(f), f)
	if err != nil {
		return BearerSAD{}, err
	}
	return BearerSAD{CredentialID: sad.CredentialID, SignerID: sad.SignerID, ClientID: sad.ClientID,
		ExpiresAt: time.UnixMilli(sad.ExpiresAt), Remaining: sad.Remaining}, nil
}

// partyOf is the party a SAD record names, for checks where the presenter
// is identified by the token alone. The binding is authenticated by checkSAD
// (HSM MAC) before it is relied on.
func partyOf(f fetchedSAD) sadParty {
	if f.sad == nil {
		return sadParty{}
	}
	return sadParty{credentialID: f.sad.CredentialID, signerID: f.sad.SignerID, clientID: f.sad.ClientID}
}

// RevokeSADOf revokes a SAD on behalf of the OAuth client it was issued to
// (RFC 7009 revocation of a credential token). A token that is unknown,
// malformed, tampered with or issued to another client is refused with the
// same [ErrSADInvalid], so a client learns nothing about other clients'
// tokens. Revoking an already revoked, expired or used-up SAD of the client
// succeeds.
func (s *SAM) RevokeSADOf(ctx context.Context, token, clientID string) error {
	f := s.fetchSAD(ctx, token)
	p := sadParty{clientID: clientID}
	if f.err != nil {
		return internal(f.err)
	}
	if f.sad == nil {
		return s.reject(ctx, p, "", f.reason, ErrSADInvalid)
	}
	sad := f.sad
	ok, err := s.checkMAC(ctx, sadMACInput(sad), sad.MAC)
	if err != nil {
		return internal(err)
	}
	switch {
	case !ok || !stateWithinBinding(sad):
		return s.reject(ctx, p, sad.ID, "integrity", ErrSADInvalid.with(errors.New("SAD record MAC does not verify")))
	case clientID == "" || sad.ClientID != clientID:
		return s.reject(ctx, p, sad.ID, "binding", ErrSADInvalid.with(errors.New("SAD revoked by another client")))
	}
	revoked, err := s.db.RevokeSAD(ctx, sad.ID, s.now().UnixMilli())
	if err != nil {
		return internal(err)
	}
	if !revoked {
		return nil // already revoked
	}
	if err := s.audit(ctx, event{Event: EventSADRevoked, Outcome: OutcomeOK, Actor: sad.SignerID, CredentialID: sad.CredentialID, ClientID: clientID,
		Details: map[string]any{"sad": sad.ID, "by": "client"}}); err != nil {
		return internal(err)
	}
	return nil
}
