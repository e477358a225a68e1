package sam

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// PINPolicy is what a PIN chosen by a signer at enrolment must meet.
type PINPolicy struct {
	MinLength  int  `yaml:"min_length"`  // default 6
	MaxLength  int  `yaml:"max_length"`  // default 64
	DigitsOnly bool `yaml:"digits_only"` // default false
	// AllowTrivial accepts PINs such as 000000, 123456 or 654321 (default
	// false: they are refused).
	AllowTrivial bool `yaml:"allow_trivial"`
}

func (p PINPolicy) withDefaults() PINPolicy {
	if p.MinLength == 0 {
		p.MinLength = 6
	}
	if p.MaxLength == 0 {
		p.MaxLength = 64
	}
	return p
}

func (p PINPolicy) validate() error {
	if p.MinLength < 4 || p.MaxLength > 64 || p.MinLength > p.MaxLength {
		return errors.New("sam: pin.min_length must be at least 4 and pin.max_length at most 64, min not above max")
	}
	return nil
}

// PINPolicyError is a PIN the policy refuses; Reason says why, for the signer.
type PINPolicyError struct{ Reason string }

func (e *PINPolicyError) Error() string { return "sam: PIN refused: " + e.Reason }

// CheckPIN reports why pin does not meet the enrolment PIN policy, or nil.
func (s *SAM) CheckPIN(pin string) error {
	p := s.cfg.PIN
	n := utf8.RuneCountInString(pin)
	switch {
	case !utf8.ValidString(pin) || n < p.MinLength || n > p.MaxLength:
		return &PINPolicyError{fmt.Sprintf("a PIN has %d to %d characters", p.MinLength, p.MaxLength)}
	case p.DigitsOnly && strings.IndexFunc(pin, func(r rune) bool { return r < '0' || r > '9' }) >= 0:
		return &PINPolicyError{"a PIN has digits only"}
	case strings.IndexFunc(pin, func(r rune) bool { return unicode.IsControl(r) }) >= 0:
		return &PINPolicyError{"a PIN has no control characters"}
	case !p.AllowTrivial && trivialPIN(pin):
		return &PINPolicyError{"this PIN is too easy to guess (repeated or consecutive characters)"}
	}
	return nil
}

// trivialPIN is a PIN of one repeated character or a run of consecutive
// characters up or down (123456, 987654, abcdef).
func trivialPIN(pin string) bool {
	r := []rune(pin)
	if len(r) < 2 {
		return true
	}
	same, up, down := true, true, true
	for i := 1; i < len(r); i++ {
		same = same && r[i] == r[0]
		up = up && r[i] == r[i-1]+1
		down = down && r[i] == r[i-1]-1
	}
	return same || up || down
}

// HashPIN checks pin against the PIN policy and returns its stored form for
// the credential credentialID (argon2id over an HSM MAC of the PIN), to be
// kept until [SAM.CompleteEnrolment] creates the credential.
func (s *SAM) HashPIN(ctx context.Context, credentialID, pin string) ([]byte, error) {
	if err := s.CheckPIN(pin); err != nil {
		return nil, err
	}
	return s.pinHash(ctx, credentialID, pin)
}

// activationAlphabet is Crockford's base32: no I, L, O or U.
const activationAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var activationEncoding = base32.NewEncoding(activationAlphabet).WithPadding(base32.NoPadding)

// activationBytes is the entropy of an activation code: 60 bits, 12
// characters, shown as XXXX-XXXX-XXXX.
const activationBytes = 8

// NormalizeActivationCode reads an activation code as a person types it:
// any case, with or without dashes and spaces, O for 0 and I or L for 1.
func NormalizeActivationCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case ' ', '-', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func formatActivationCode(c string) string {
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12]
}

// Activation is an issued activation code. Code is empty when it went by SMS.
type Activation struct {
	Code      string
	ExpiresAt time.Time
	SentTo    string // masked phone number when it went by SMS
}

// Activation deliveries.
const (
	DeliverySMS   = "sms"   // sent to the signer's claimed phone number
	DeliveryPrint = "print" // returned to the operator, for a letter or a desk
)

// Registration is a signer an operator registers for enrolment.
type Registration struct {
	NewSigner
	Phone    string // claimed phone number (E.164); verified at enrolment
	Delivery string // DeliverySMS or DeliveryPrint
}

// RegisterSigner records a signer who will enrol themselves: status pending,
// a claimed phone number (a pending SMS factor) and an activation code
// delivered by SMS or returned for printing. The password is set at
// enrolment, not here.
func (s *SAM) RegisterSigner(ctx context.Context, r Registration) (*store.Signer, Activation, error) {
	if r.Password != "" {
		return nil, Activation{}, errors.New("sam: a registered signer chooses the password at enrolment")
	}
	if err := r.NewSigner.validate(); err != nil {
		return nil, Activation{}, err
	}
	phone, err := NormalizePhone(r.Phone)
	if err != nil {
		return nil, Activation{}, err
	}
	if r.Delivery != DeliverySMS && r.Delivery != DeliveryPrint {
		return nil, Activation{}, fmt.Errorf("sam: activation delivery must be %s or %s", DeliverySMS, DeliveryPrint)
	}
	id, err := s.newID()
	if err != nil {
		return nil, Activation{}, err
	}
	sg := &store.Signer{ID: id, Username: r.Username, Name: r.Name, GivenName: r.GivenName, Surname: r.Surname,
		Email: r.Email, Status: store.StatusPending}
	if err := s.db.CreateSigner(ctx, sg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, Activation{}, fmt.Errorf("%w: %q", ErrUsernameTaken, r.Username)
		}
		return nil, Activation{}, err
	}
	if err := s.audit(ctx, event{Event: EventSignerCreated, Outcome: OutcomeOK, Actor: r.Actor,
		Details: map[string]any{"signer": id, "username": r.Username, "status": store.StatusPending, "phone": MaskPhone(phone)}}); err != nil {
		return nil, Activation{}, err
	}
	fid, err := s.newID()
	if err != nil {
		return nil, Activation{}, err
	}
	if err := s.db.PutFactor(ctx, &store.Factor{ID: fid, SignerID: id, Kind: store.FactorSMS, Target: phone, Status: store.StatusPending}); err != nil {
		return nil, Activation{}, err
	}
	a, err := s.IssueActivation(ctx, id, r.Delivery, r.Actor)
	return sg, a, err
}

// IssueActivation makes a new activation code for a pending signer (voiding
// earlier ones) and sends it by SMS to the signer's phone or returns it for
// printing. Codes expire after ActivationTTL and work once; only an HSM MAC
// of a code is stored.
func (s *SAM) IssueActivation(ctx context.Context, signerID, delivery, actor string) (Activation, error) {
	sg, err := s.db.Signer(ctx, signerID)
	if err != nil {
		return Activation{}, err
	}
	if sg.Status != store.StatusPending {
		return Activation{}, ErrSignerNotPending
	}
	var phone string
	switch delivery {
	case DeliveryPrint:
	case DeliverySMS:
		f, err := s.db.Factor(ctx, signerID, "", store.FactorSMS)
		if err != nil {
			return Activation{}, fmt.Errorf("sam: signer has no phone number: %w", err)
		}
		phone = f.Target
	default:
		return Activation{}, fmt.Errorf("sam: activation delivery must be %s or %s", DeliverySMS, DeliveryPrint)
	}
	raw, err := s.randomBytes(activationBytes)
	if err != nil {
		return Activation{}, err
	}
	code := activationEncoding.EncodeToString(raw)[:12]
	mac, err := s.keys.MAC(ctx, macInput(domainActivation, []byte(code)))
	if err != nil {
		return Activation{}, err
	}
	id, err := s.newID()
	if err != nil {
		return Activation{}, err
	}
	if delivery == DeliverySMS {
		// Checked before anything changes: a refused resend leaves the code
		// already on the phone working.
		if s.sender == nil {
			return Activation{}, ErrSMSDelivery.with(errors.New("no SMS sender configured"))
		}
		if err := s.throttleSMS(ctx, signerID, phone, PurposeActivation); err != nil {
			return Activation{}, err
		}
	}
	now := s.now()
	exp := now.Add(s.cfg.ActivationTTL)
	if err := s.db.CreateActivation(ctx, &store.Activation{ID: id, SignerID: signerID, CodeMAC: mac, Delivery: delivery, Actor: actor,
		ExpiresAt: exp.UnixMilli()}); err != nil {
		return Activation{}, err
	}
	out := Activation{Code: formatActivationCode(code), ExpiresAt: exp}
	if delivery == DeliverySMS {
		if err := s.sender.SendCode(ctx, phone, CodeMessage{Purpose: PurposeActivation, Code: out.Code, ExpiresAt: exp}); err != nil {
			// Only the new code is voided: the one already delivered still works.
			_ = s.db.VoidActivation(ctx, id, s.now().UnixMilli())
			return Activation{}, ErrSMSDelivery.with(err)
		}
		out = Activation{ExpiresAt: exp, SentTo: MaskPhone(phone)}
	}
	// The new code is out: earlier ones stop working.
	if err := s.db.VoidActivations(ctx, signerID, id, s.now().UnixMilli()); err != nil {
		return Activation{}, err
	}
	if err := s.audit(ctx, event{Event: EventActivationIssued, Outcome: OutcomeOK, Actor: actor,
		Details: map[string]any{"signer": signerID, "activation": id, "delivery": delivery, "expires": exp.UTC().Format(time.RFC3339)}}); err != nil {
		return Activation{}, err
	}
	return out, nil
}

// ErrSignerNotPending refuses an activation code for a signer who has
// already enrolled (or was disabled).
var ErrSignerNotPending = &Error{Code: "invalid_request", Description: "The signer is not waiting for enrolment"}

// ErrActivationInvalid is an activation code that is wrong, expired or used.
var ErrActivationInvalid = &Error{Code: "invalid_request", Description: "The activation code is wrong, expired or already used"}

// Activate spends an activation code and returns its pending signer. A code
// works once, whatever happens next.
func (s *SAM) Activate(ctx context.Context, code string) (*store.Signer, error) {
	c := NormalizeActivationCode(code)
	if len(c) != 12 || strings.Trim(c, activationAlphabet) != "" {
		return nil, ErrActivationInvalid
	}
	mac, err := s.keys.MAC(ctx, macInput(domainActivation, []byte(c)))
	if err != nil {
		return nil, internal(err)
	}
	signerID, err := s.db.UseActivation(ctx, mac, s.now().UnixMilli())
	if errors.Is(err, store.ErrNotFound) {
		_ = s.audit(ctx, event{Event: EventActivationUsed, Outcome: OutcomeFail, Actor: "anonymous"})
		return nil, ErrActivationInvalid
	}
	if err != nil {
		return nil, internal(err)
	}
	sg, err := s.db.Signer(ctx, signerID)
	if err != nil {
		return nil, internal(err)
	}
	if sg.Status != store.StatusPending {
		return nil, ErrActivationInvalid.with(errors.New("signer is not pending"))
	}
	if err := s.audit(ctx, event{Event: EventActivationUsed, Outcome: OutcomeOK, Actor: signerID}); err != nil {
		return nil, internal(err)
	}
	return sg, nil
}

// pendingSigner loads a signer in the middle of enrolment.
func (s *SAM) pendingSigner(ctx context.Context, signerID string) (*store.Signer, error) {
	sg, err := s.db.Signer(ctx, signerID)
	if err != nil {
		return nil, internal(err)
	}
	if sg.Status != store.StatusPending {
		return nil, ErrActivationInvalid.with(errors.New("signer is not pending"))
	}
	return sg, nil
}

// SetEnrolmentPassword sets the login password of a signer during enrolment.
func (s *SAM) SetEnrolmentPassword(ctx context.Context, signerID, password string) error {
	if _, err := s.pendingSigner(ctx, signerID); err != nil {
		return err
	}
	return s.SetPassword(ctx, signerID, password)
}

// SendPhoneBinding sends a code to the pending signer's claimed phone number
// and returns the challenge ID; the number becomes the signer's factor only
// when the code comes back ([SAM.ConfirmPhone]). Rate limits apply as to any
// code.
func (s *SAM) SendPhoneBinding(ctx context.Context, signerID string) (challengeID, sentTo string, err error) {
	if _, err := s.pendingSigner(ctx, signerID); err != nil {
		return "", "", err
	}
	f, err := s.db.Factor(ctx, signerID, "", store.FactorSMS)
	if err != nil {
		return "", "", ErrOTPUnavailable.with(err)
	}
	id, err := s.sendCode(ctx, signerID, "", f.Target, Binding{Purpose: store.PurposeBindPhone}, CodeMessage{Purpose: store.PurposeBindPhone})
	return id, MaskPhone(f.Target), err
}

// ConfirmPhone checks the code sent by SendPhoneBinding and makes the phone
// number an active factor. Each code allows ChallengeAttempts tries.
func (s *SAM) ConfirmPhone(ctx context.Context, signerID, challengeID, code string) error {
	if _, err := s.pendingSigner(ctx, signerID); err != nil {
		return err
	}
	ok, err := s.checkChallenge(ctx, signerID, challengeID, code, Binding{Purpose: store.PurposeBindPhone})
	if err != nil {
		return internal(err)
	}
	if !ok {
		_ = s.audit(ctx, event{Event: EventFactorFailure, Outcome: OutcomeFail, Actor: signerID, Details: map[string]any{"factor": store.FactorSMS, "action": "bind"}})
		return ErrOTPInvalid
	}
	f, err := s.db.Factor(ctx, signerID, "", store.FactorSMS)
	if err != nil {
		return internal(err)
	}
	if _, err := s.db.ActivateFactor(ctx, f.ID); err != nil {
		return internal(err)
	}
	return s.audit(ctx, event{Event: EventFactorSet, Outcome: OutcomeOK, Actor: signerID,
		Details: map[string]any{"factor": store.FactorSMS, "action": "bind", "phone": MaskPhone(f.Target)}})
}

// Attempts at a first TOTP code during enrolment.
const (
	totpBindAttempts = 10
	totpBindWindow   = 10 * time.Minute
)

// ErrTooManyAttempts refuses an enrolment step tried too often.
var ErrTooManyAttempts = &Error{Code: "temporarily_unavailable", Description: "Too many attempts; wait a few minutes and try again"}

// TOTPSecret is a new authenticator seed: Blob is the seed wrapped by the
// HSM (to keep until confirmed), URI the otpauth:// URI to show once.
type TOTPSecret struct {
	Blob []byte
	URI  string
}

// TOTPIssuer labels accounts in authenticator apps.
const TOTPIssuer = "RSSP"

// NewTOTPSecret makes a 160-bit TOTP seed (RFC 6238: SHA-1, 6 digits, 30 s),
// wraps it in the HSM and returns the wrapped seed with the otpauth URI to
// show once. The seed is not bound until [SAM.ConfirmTOTP].
func (s *SAM) NewTOTPSecret(ctx context.Context, account string) (TOTPSecret, []byte, error) {
	seed, err := s.randomBytes(20)
	if err != nil {
		return TOTPSecret{}, nil, err
	}
	blob, err := s.keys.WrapSecret(ctx, seed)
	if err != nil {
		return TOTPSecret{}, nil, fmt.Errorf("sam: wrap TOTP seed: %w", err)
	}
	return TOTPSecret{Blob: blob, URI: OTPAuthURI(account, seed)}, seed, nil
}

// OTPAuthURI is the Key URI Format of Google Authenticator for a seed,
// understood by every common TOTP app.
func OTPAuthURI(account string, seed []byte) string {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
	return "otpauth://totp/" + url.PathEscape(TOTPIssuer+":"+account) + "?secret=" + secret +
		"&issuer=" + url.QueryEscape(TOTPIssuer) + "&algorithm=SHA1&digits=6&period=30"
}

// ConfirmTOTP checks a first code from the app holding the wrapped seed blob
// and binds it as the signer's TOTP factor, recording the step so the same
// code cannot be used again.
func (s *SAM) ConfirmTOTP(ctx context.Context, signerID string, blob []byte, code string) error {
	if _, err := s.pendingSigner(ctx, signerID); err != nil {
		return err
	}
	// Guessing the first code gains nothing the enrolment session does not
	// already have, but it stays bounded like every other code.
	ok, err := s.db.Throttle(ctx, "totp-bind:"+signerID, totpBindAttempts, totpBindWindow.Milliseconds(), s.now().UnixMilli())
	if err != nil {
		return internal(err)
	}
	if !ok {
		return ErrTooManyAttempts
	}
	step, err := s.matchTOTP(ctx, blob, code)
	if err != nil {
		return internal(err)
	}
	if step < 0 {
		_ = s.audit(ctx, event{Event: EventFactorFailure, Outcome: OutcomeFail, Actor: signerID, Details: map[string]any{"factor": store.FactorTOTP, "action": "bind"}})
		return ErrOTPInvalid
	}
	if err := s.putSignerFactor(ctx, signerID, store.FactorTOTP, blob, ""); err != nil {
		return internal(err)
	}
	f, err := s.db.Factor(ctx, signerID, "", store.FactorTOTP)
	if err != nil {
		return internal(err)
	}
	if _, err := s.db.AcceptTOTPStep(ctx, f.ID, step); err != nil {
		return internal(err)
	}
	return nil
}

// Completion finishes an enrolment.
type Completion struct {
	SignerID     string
	CredentialID string // from NewCredentialID, the one the PIN was hashed for
	PINHash      []byte // from HashPIN
	Credential   NewCredential
	Validity     time.Duration // of the certificate; 0 for the default
}

// CompleteEnrolment checks that the signer bound a password, the phone and a
// TOTP app, then activates the signer, generates the key in the HSM, sets
// its PIN, and has the development CA issue the certificate. It returns the
// ready credential.
func (s *SAM) CompleteEnrolment(ctx context.Context, c Completion) (*store.Credential, error) {
	sg, err := s.pendingSigner(ctx, c.SignerID)
	if err != nil {
		return nil, err
	}
	for _, kind := range []string{store.FactorPassword, store.FactorSMS, store.FactorTOTP} {
		f, err := s.db.Factor(ctx, sg.ID, "", kind)
		if err != nil || f.Status != store.StatusActive {
			return nil, fmt.Errorf("sam: enrolment incomplete: no active %s factor", kind)
		}
	}
	if len(c.PINHash) == 0 {
		return nil, errors.New("sam: enrolment incomplete: no PIN")
	}
	if _, err := s.loadAuthority(ctx, DevCAID); err != nil {
		return nil, fmt.Errorf("sam: no certificate authority to issue the enrolment certificate: %w", err)
	}
	if err := s.SetSignerStatus(ctx, sg.ID, store.StatusActive, sg.ID); err != nil {
		return nil, err
	}
	cred, err := s.completeCredential(ctx, sg, c)
	if err != nil {
		// Back to pending, so that the enrolment can be completed again
		// (or by the operator); a half-made credential is removed.
		if cred != nil {
			_ = s.DeleteCredential(ctx, cred.ID, sg.ID)
		}
		_ = s.db.SetSignerStatus(ctx, sg.ID, store.StatusPending, s.now().UnixMilli())
		_ = s.audit(ctx, event{Event: EventEnrolmentCompleted, Outcome: OutcomeFail, Actor: sg.ID, Details: map[string]any{"error": err.Error()}})
		return nil, err
	}
	if err := s.audit(ctx, event{Event: EventEnrolmentCompleted, Outcome: OutcomeOK, Actor: sg.ID, CredentialID: cred.ID}); err != nil {
		return nil, err
	}
	return s.db.Credential(ctx, cred.ID)
}

// completeCredential makes the enrolment's credential for an active signer:
// key, PIN, certificate. It returns the credential once created, even when
// a later step fails.
func (s *SAM) completeCredential(ctx context.Context, sg *store.Signer, c Completion) (*store.Credential, error) {
	req := c.Credential
	req.ID, req.SignerID, req.Disabled = c.CredentialID, sg.ID, true
	if req.Algorithm == "" {
		req.Algorithm = hsm.RSA2048
	}
	cred, err := s.CreateCredential(ctx, req)
	if err != nil {
		return nil, err
	}
	fid, err := s.newID()
	if err != nil {
		return cred, err
	}
	if err := s.db.PutFactor(ctx, &store.Factor{ID: fid, SignerID: sg.ID, CredentialID: cred.ID, Kind: store.FactorPIN,
		Secret: c.PINHash, Status: store.StatusActive}); err != nil {
		return cred, err
	}
	if err := s.audit(ctx, event{Event: EventFactorSet, Outcome: OutcomeOK, Actor: sg.ID, CredentialID: cred.ID,
		Details: map[string]any{"factor": store.FactorPIN}}); err != nil {
		return cred, err
	}
	if _, err := s.IssueDevCertificate(ctx, cred.ID, Subject{}, c.Validity); err != nil {
		return cred, err
	}
	return cred, nil
}
