package sam

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/openrssp/rssp/store"
)

// SMSLimits bound what out-of-band codes can cost and how far they can be
// abused to flood a phone (SMS pumping). Every limit is a counter in the
// database, checked and counted in one statement, so they hold across nodes.
type SMSLimits struct {
	// Cooldown is the least time between two codes for one signer (default 30s).
	Cooldown time.Duration `yaml:"cooldown"`
	// PerSigner is how many codes one signer can be sent per Window (default 10).
	PerSigner int `yaml:"per_signer"`
	// PerPhone is how many codes one phone number can be sent per Window
	// (default 10), whichever signers ask.
	PerPhone int `yaml:"per_phone"`
	// Window is the period of PerSigner and PerPhone (default 1h).
	Window time.Duration `yaml:"window"`
}

func (l SMSLimits) withDefaults() SMSLimits {
	if l.Cooldown == 0 {
		l.Cooldown = 30 * time.Second
	}
	if l.PerSigner == 0 {
		l.PerSigner = 10
	}
	if l.PerPhone == 0 {
		l.PerPhone = 10
	}
	if l.Window == 0 {
		l.Window = time.Hour
	}
	return l
}

func (l SMSLimits) validate() error {
	switch {
	case l.Cooldown < time.Second || l.Cooldown > 10*time.Minute:
		return errors.New("sam: sms.cooldown must be between 1s and 10m")
	case l.PerSigner < 1 || l.PerSigner > 1000 || l.PerPhone < 1 || l.PerPhone > 1000:
		return errors.New("sam: sms.per_signer and sms.per_phone must be between 1 and 1000")
	case l.Window < time.Minute || l.Window > 7*24*time.Hour:
		return errors.New("sam: sms.window must be between 1m and 7 days")
	}
	return nil
}

// CodeMessage is what one out-of-band message has to say. The SAM decides
// the content; the sender (sam/sms) phrases it for the channel. Code is the
// only secret in it.
type CodeMessage struct {
	Purpose string // store.PurposeApprove, PurposeBindPhone, PurposePhoneChange, PurposeActivation or NoticePhoneChanged
	Code    string // empty for a notice
	// For an approval: the client's name, how many documents, and the
	// fingerprint of the first document's hash.
	Client      string
	Documents   int
	Fingerprint string
	ExpiresAt   time.Time
}

// Message purposes beyond the challenge purposes of the store.
const (
	PurposeActivation  = "activation"    // an enrolment activation code
	NoticePhoneChanged = "phone_changed" // tells the old number that it was replaced
)

// CodeSender delivers out-of-band messages (SMS). Delivery is implemented
// outside the SAM (sam/sms); the SAM hands it fresh codes only.
type CodeSender interface {
	SendCode(ctx context.Context, to string, m CodeMessage) error
}

// Out-of-band refusals.
var (
	ErrOTPUnavailable = &Error{Code: "invalid_request", Description: "No phone number is bound for one-time codes"}
	ErrResendTooSoon  = &Error{Code: "temporarily_unavailable", Description: "A code was sent moments ago; wait before asking for another"}
	ErrSMSRateLimited = &Error{Code: "temporarily_unavailable", Description: "Too many codes were sent; try again later"}
	ErrSMSDelivery    = &Error{Code: "temporarily_unavailable", Description: "The code could not be sent; try again later"}
	ErrInvalidPhone   = &Error{Code: "invalid_request", Description: "Invalid phone number: use the international form, e.g. +447700900123"}
)

// IsRateLimited reports a refusal that means "too many, slow down" (HTTP 429).
func IsRateLimited(err error) bool {
	return errors.Is(err, ErrResendTooSoon) || errors.Is(err, ErrSMSRateLimited)
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidPhone reports whether s is a phone number in E.164 form.
func ValidPhone(s string) bool { return e164.MatchString(s) }

// NormalizePhone removes spaces, dots, dashes and brackets from a number
// typed by a person and checks the E.164 form.
func NormalizePhone(s string) (string, error) {
	p := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '.', '-', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if strings.HasPrefix(p, "00") {
		p = "+" + p[2:]
	}
	if !ValidPhone(p) {
		return "", ErrInvalidPhone
	}
	return p, nil
}

// MaskPhone shows the last three digits of a number only ("•••••••123"), for
// pages and responses that must say where a code went.
func MaskPhone(p string) string {
	if len(p) <= 3 {
		return "***"
	}
	return strings.Repeat("*", len(p)-3) + p[len(p)-3:]
}

// OTPRequest asks for a one-time code by SMS for a signature: CSC
// credentials/sendOTP and getChallenge, or "send me a code" on the approval
// page. SignerID and ClientID come from authentication, never from the
// request body; ClientName is shown to the signer in the message.
type OTPRequest struct {
	SignerID   string
	ClientID   string
	ClientName string
	// Binding is what the code will authorise. For a SCAL2 credential it
	// must hold the hashes; for SCAL1 the credential alone.
	Binding Binding
	// Explicit says the code is for credentials/authorize (sendOTP,
	// getChallenge), which an oauth2code credential does not accept.
	Explicit bool
}

// SendOTP makes a one-time code bound to req.Binding, stores only its HSM
// MAC, sends it to the signer's bound phone with a text that names the
// client, the number of documents and a fingerprint, and returns the
// challenge ID. A newer code voids the older ones for the same credential.
// Cooldown, per-signer and per-phone limits are checked first; a locked
// phone factor gives ErrOTPLocked.
func (s *SAM) SendOTP(ctx context.Context, req OTPRequest) (string, error) {
	cred, _, err := s.activeCredential(ctx, req.Binding.CredentialID, req.SignerID)
	if err != nil {
		return "", err
	}
	if req.Explicit && cred.AuthMode == AuthModeOAuth2Code {
		return "", ErrOAuth2CodeOnly
	}
	b := req.Binding
	b.Purpose = ""
	if cred.SCAL >= 2 {
		if len(b.Hashes) == 0 {
			return "", ErrHashesMissing.with(errors.New("an SMS code for a SCAL2 credential is bound to the hashes it approves"))
		}
		if b.NumSignatures == 0 {
			b.NumSignatures = len(b.Hashes)
		}
		if err := s.checkAuthorization(cred, b.NumSignatures, b.HashAlgorithm, b.Hashes); err != nil {
			return "", err
		}
	} else {
		b = approvalBinding(cred, 0, "", nil)
	}
	phone, err := s.activePhone(ctx, req.SignerID)
	if err != nil {
		return "", err
	}
	msg := CodeMessage{Purpose: store.PurposeApprove, Client: req.ClientName, Documents: len(b.Hashes)}
	if len(b.Hashes) > 0 {
		msg.Fingerprint = DigestFingerprint(b.Hashes[0], 4)
	}
	return s.sendCode(ctx, req.SignerID, req.ClientID, phone.Target, b, msg)
}

// activePhone is the signer's bound phone, refused when missing or locked.
func (s *SAM) activePhone(ctx context.Context, signerID string) (*store.Factor, error) {
	f, err := s.db.Factor(ctx, signerID, "", store.FactorSMS)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrOTPUnavailable
	case err != nil:
		return nil, internal(err)
	case f.Status != store.StatusActive:
		return nil, ErrOTPUnavailable
	case f.Failures >= s.cfg.MaxFailures:
		return nil, ErrOTPLocked
	}
	return f, nil
}

// sendCode throttles, creates the challenge for b, sends the code to phone
// and audits the result. The challenge exists before the message leaves, and
// is voided if the provider refuses it.
func (s *SAM) sendCode(ctx context.Context, signerID, clientID, phone string, b Binding, msg CodeMessage) (string, error) {
	if err := s.throttleSMS(ctx, signerID, phone, b.purpose()); err != nil {
		reason := "internal error"
		var e *Error
		if errors.As(err, &e) {
			reason = e.Description
		}
		_ = s.audit(ctx, event{Event: EventChallengeSent, Outcome: OutcomeFail, Actor: signerID, CredentialID: b.CredentialID, ClientID: clientID,
			Details: map[string]any{"purpose": b.purpose(), "reason": reason}})
		return "", err
	}
	if s.sender == nil {
		return "", ErrSMSDelivery.with(errors.New("no SMS sender configured"))
	}
	id, err := s.newID()
	if err != nil {
		return "", internal(err)
	}
	code, err := s.numericCode(s.cfg.CodeDigits)
	if err != nil {
		return "", internal(err)
	}
	mac, err := s.keys.MAC(ctx, macInput(domainChallenge, []byte(id), []byte(code)))
	if err != nil {
		return "", internal(err)
	}
	now := s.now()
	nowMs := now.UnixMilli()
	if err := s.db.VoidChallenges(ctx, signerID, b.CredentialID, b.purpose(), nowMs); err != nil {
		return "", internal(err)
	}
	expires := now.Add(s.cfg.ChallengeTTL)
	if err := s.db.CreateChallenge(ctx, &store.Challenge{ID: id, SignerID: signerID, CredentialID: b.CredentialID, Purpose: b.purpose(),
		ClientID: clientID, Target: phone, Binding: b.digest(), CodeMAC: mac, ExpiresAt: expires.UnixMilli()}); err != nil {
		return "", internal(err)
	}
	msg.Code, msg.ExpiresAt = code, expires
	details := map[string]any{"challenge": id, "purpose": b.purpose(), "to": MaskPhone(phone), "expires": expires.UTC().Format(time.RFC3339)}
	if len(b.Hashes) > 0 {
		details["hashes"] = hexDigests(b.Hashes)
	}
	if err := s.sender.SendCode(ctx, phone, msg); err != nil {
		_ = s.db.VoidChallenges(ctx, signerID, b.CredentialID, b.purpose(), s.now().UnixMilli())
		details["error"] = err.Error() // sam/sms errors never hold the body
		_ = s.audit(ctx, event{Event: EventChallengeSent, Outcome: OutcomeFail, Actor: signerID, CredentialID: b.CredentialID, ClientID: clientID, Details: details})
		return "", ErrSMSDelivery.with(err)
	}
	if err := s.audit(ctx, event{Event: EventChallengeSent, Outcome: OutcomeOK, Actor: signerID, CredentialID: b.CredentialID, ClientID: clientID,
		Details: details}); err != nil {
		return "", internal(err)
	}
	return id, nil
}

// throttleSMS applies the cooldown (per signer and purpose, so that the
// activation text does not hold up the phone's binding code) and the
// per-signer and per-phone limits (all purposes together). Each is one
// atomic counter; a refusal by a later one may have used up an earlier one,
// which errs towards fewer messages.
func (s *SAM) throttleSMS(ctx context.Context, signerID, phone, purpose string) error {
	l := s.cfg.SMS
	nowMs := s.now().UnixMilli()
	phoneKey := sha256.Sum256([]byte("rssp/phone/" + phone))
	for _, t := range []struct {
		key    string
		limit  int
		window time.Duration
		err    *Error
	}{
		{"sms-cooldown:" + signerID + ":" + purpose, 1, l.Cooldown, ErrResendTooSoon},
		{"sms-signer:" + signerID, l.PerSigner, l.Window, ErrSMSRateLimited},
		{"sms-phone:" + hex.EncodeToString(phoneKey[:]), l.PerPhone, l.Window, ErrSMSRateLimited},
	} {
		ok, err := s.db.Throttle(ctx, t.key, t.limit, t.window.Milliseconds(), nowMs)
		if err != nil {
			return internal(err)
		}
		if !ok {
			return t.err
		}
	}
	return nil
}

// numericCode is n random decimal digits from the SAM's random source.
func (s *SAM) numericCode(n int) (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(s.rand, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*s", n, v.String()), nil
}

// OTP channels of an authorisation (AuthorizeRequest.OTPChannel).
const (
	ChannelAuto = ""     // an SMS code if one is outstanding for the credential, else TOTP
	ChannelSMS  = "sms"  // the answer to the SMS code sent for the credential
	ChannelTOTP = "totp" // a code from the signer's authenticator app
)

// noChallenge names no challenge: an SMS answer when none was sent fails
// (and counts against the phone) rather than falling back to TOTP.
const noChallenge = "-"

// resolveChallenge decides what a one-time code answers when the request
// names no challenge (CSC carries none): the newest unused SMS code sent for
// this credential, or nothing (TOTP).
func (s *SAM) resolveChallenge(ctx context.Context, signerID, credentialID, challengeID, channel string) (string, error) {
	if challengeID != "" || channel == ChannelTOTP {
		return challengeID, nil
	}
	ch, err := s.db.OutstandingChallenge(ctx, signerID, credentialID, store.PurposeApprove, s.now().UnixMilli())
	switch {
	case errors.Is(err, store.ErrNotFound) && channel == ChannelSMS:
		return noChallenge, nil
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", internal(err)
	}
	return ch.ID, nil
}

// oobStore keeps throttles, challenges, activations, enrolments, phone
// changes and operators.
type oobStore interface {
	Throttle(ctx context.Context, key string, limit int, windowMs, nowMs int64) (bool, error)
	OutstandingChallenge(ctx context.Context, signerID, credentialID, purpose string, nowMs int64) (*store.Challenge, error)
	VoidChallenges(ctx context.Context, signerID, credentialID, purpose string, nowMs int64) error
	CreateActivation(ctx context.Context, a *store.Activation) error
	UseActivation(ctx context.Context, codeMAC []byte, nowMs int64) (string, error)
	VoidActivations(ctx context.Context, signerID, exceptID string, nowMs int64) error
	VoidActivation(ctx context.Context, id string, nowMs int64) error
	CreatePhoneChange(ctx context.Context, p *store.PhoneChange) error
	PhoneChangeByID(ctx context.Context, id string) (*store.PhoneChange, error)
	ApprovePhoneChange(ctx context.Context, id, operator string, nowMs int64) (int, error)
	ApplyPhoneChange(ctx context.Context, id string, nowMs int64) (bool, error)
	SetFactorTarget(ctx context.Context, signerID, kind, target, status string) error
	ActivateFactor(ctx context.Context, factorID string) (bool, error)
	SetFactorStatus(ctx context.Context, factorID, status string) error
}

var _ oobStore = (*store.Store)(nil)

// approvalBinding is what an SMS code for a signature is bound to: the
// credential and exact hashes for SCAL2, the credential alone for SCAL1
// (whose SAD is not bound to hashes either).
func approvalBinding(cred *store.Credential, num int, hashOID string, hashes [][]byte) Binding {
	if cred.SCAL < 2 {
		return Binding{CredentialID: cred.ID}
	}
	return Binding{CredentialID: cred.ID, HashAlgorithm: hashOID, Hashes: hashes, NumSignatures: num}
}
