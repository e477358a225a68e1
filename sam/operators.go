package sam

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openrssp/rssp/store"
)

// OperatorKeyPrefix starts every operator key, so a leaked key is easy to
// recognise (and to scan for) as one.
const OperatorKeyPrefix = "rsspop_"

// operatorKeyBytes is the entropy of an operator key: 256 bits. Keys are
// stored only as their SHA-256; with this much entropy a plain hash is as
// good as a slow one, and a lookup by hash leaks no timing about the key.
const operatorKeyBytes = 32

// ErrOperatorKey is an operator key that is missing, unknown, or belongs to
// a disabled operator. The three are not told apart.
var ErrOperatorKey = &Error{Code: "invalid_token", Description: "The operator key is not valid"}

// ErrOperatorName is an operator name the rules refuse.
var ErrOperatorName = &Error{Code: "invalid_request", Description: "An operator name has 1 to 128 printable characters and no spaces"}

// ErrOperatorExists is a name that another operator already has.
var ErrOperatorExists = &Error{Code: "invalid_request", Description: "An operator with this name already exists"}

// ErrUnknownOperator is an operator name that is not registered.
var ErrUnknownOperator = &Error{Code: "invalid_request", Description: "Unknown operator"}

// operatorStore keeps operators and lists signers for them. *store.Store
// satisfies it.
type operatorStore interface {
	CreateOperator(ctx context.Context, o *store.Operator) error
	OperatorByKeyHash(ctx context.Context, hash []byte) (*store.Operator, error)
	Operators(ctx context.Context) ([]store.Operator, error)
	SetOperatorStatus(ctx context.Context, name, status string) error
	Signers(ctx context.Context) ([]store.Signer, error)
}

var _ operatorStore = (*store.Store)(nil)

// ValidOperatorName reports whether name may name an operator: 1 to 128
// printable characters, none of them a space.
func ValidOperatorName(name string) bool {
	return name != "" && len(name) <= 128 && utf8.ValidString(name) &&
		strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) < 0
}

// hashOperatorKey is what is stored of an operator key.
func hashOperatorKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateOperator registers an active operator and returns the operator's
// key: OperatorKeyPrefix and 32 random bytes in unpadded base64url. The key
// is returned this once and never stored, logged or audited; only its
// SHA-256 is kept. A name that exists gives ErrOperatorExists. Audited under
// actor.
func (s *SAM) CreateOperator(ctx context.Context, name, actor string) (string, error) {
	if !ValidOperatorName(name) {
		return "", ErrOperatorName
	}
	raw, err := s.randomBytes(operatorKeyBytes)
	if err != nil {
		return "", err
	}
	key := OperatorKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	if err := s.db.CreateOperator(ctx, &store.Operator{ID: id, Name: name, KeyHash: hashOperatorKey(key), Status: store.StatusActive}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", ErrOperatorExists.with(err)
		}
		return "", err
	}
	if err := s.audit(ctx, event{Event: EventOperator, Outcome: OutcomeOK, Actor: actor,
		Details: map[string]any{"operator": name, "id": id, "action": "created"}}); err != nil {
		return "", err
	}
	return key, nil
}

// OperatorByKey returns the active operator whose key this is, or
// ErrOperatorKey. The key is found by its SHA-256, never compared in the
// clear.
func (s *SAM) OperatorByKey(ctx context.Context, key string) (*store.Operator, error) {
	if !strings.HasPrefix(key, OperatorKeyPrefix) || len(key) > 128 {
		return nil, ErrOperatorKey
	}
	o, err := s.db.OperatorByKeyHash(ctx, hashOperatorKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrOperatorKey
	}
	if err != nil {
		return nil, internal(err)
	}
	return o, nil
}

// Operators lists the operators by name. Their key hashes are cleared.
func (s *SAM) Operators(ctx context.Context) ([]store.Operator, error) {
	list, err := s.db.Operators(ctx)
	for i := range list {
		list[i].KeyHash = nil
	}
	return list, err
}

// SetOperatorStatus enables (store.StatusActive) or disables
// (store.StatusDisabled) an operator; a disabled operator's key stops
// working at once. An unknown name gives ErrUnknownOperator. Audited under
// actor.
func (s *SAM) SetOperatorStatus(ctx context.Context, name, status, actor string) error {
	if status != store.StatusActive && status != store.StatusDisabled {
		return fmt.Errorf("sam: operator status must be %s or %s", store.StatusActive, store.StatusDisabled)
	}
	if err := s.db.SetOperatorStatus(ctx, name, status); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnknownOperator.with(err)
		}
		return err
	}
	return s.audit(ctx, event{Event: EventOperator, Outcome: OutcomeOK, Actor: actor,
		Details: map[string]any{"operator": name, "action": "status", "status": status}})
}

// SignerSummary is a signer as an operator sees it in a list: no secrets,
// the phone number masked.
type SignerSummary struct {
	store.Signer
	Phone string // masked (MaskPhone); empty when the signer has none
}

// SignerSummaries lists every signer by username, each with its masked
// phone number.
func (s *SAM) SignerSummaries(ctx context.Context) ([]SignerSummary, error) {
	sgs, err := s.db.Signers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SignerSummary, len(sgs))
	for i, sg := range sgs {
		out[i].Signer = sg
		f, err := s.db.Factor(ctx, sg.ID, "", store.FactorSMS)
		switch {
		case err == nil && f.Target != "" && f.Status != store.StatusRevoked:
			out[i].Phone = MaskPhone(f.Target)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

// CheckRegistration reports why RegisterSigner would refuse r before
// anything is written, as an invalid_request refusal whose description is
// safe to show to an operator; nil when r is well formed. A taken username
// is found only by RegisterSigner.
func CheckRegistration(r Registration) error {
	if r.Password != "" {
		return &Error{Code: "invalid_request", Description: "A registered signer chooses the password at enrolment"}
	}
	if err := r.NewSigner.validate(); err != nil {
		return &Error{Code: "invalid_request", Description: describeInput(err), cause: err}
	}
	if _, err := NormalizePhone(r.Phone); err != nil {
		return err
	}
	if r.Delivery != DeliverySMS && r.Delivery != DeliveryPrint {
		return &Error{Code: "invalid_request", Description: "Activation delivery must be " + DeliverySMS + " or " + DeliveryPrint}
	}
	return nil
}

// describeInput turns a validation error of this package into a sentence
// for the operator: the refusal's own description, or the message without
// its "sam: " prefix, capitalised.
func describeInput(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Description
	}
	msg := strings.TrimPrefix(err.Error(), "sam: ")
	if msg == "" {
		return "Invalid request"
	}
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}
