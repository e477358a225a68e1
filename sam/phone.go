package sam

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openrssp/rssp/store"
)

// phoneChangeTTL is how long a phone change waits for its confirmation.
const phoneChangeTTL = 24 * time.Hour

// ErrPhoneChange is a phone change that is unknown, expired, already applied
// or not approvable by this operator.
var ErrPhoneChange = &Error{Code: "invalid_request", Description: "The phone change is unknown, expired, already done, or needs another operator"}

// ErrSignerNotActive refuses a phone change for a signer who has not
// enrolled yet or is disabled.
var ErrSignerNotActive = &Error{Code: "invalid_request", Description: "The signer is not active"}

// PhoneChangeRequest asks to bind a new phone number to a signer.
type PhoneChangeRequest struct {
	SignerID string
	NewPhone string
	Actor    string // who asks: an operator, or the signer
	// ByOperator makes the request count as the first of the two operator
	// approvals it then needs. Otherwise it needs the code sent to the old
	// number.
	ByOperator bool
}

// PhoneChange is a pending change as the requester sees it.
type PhoneChange struct {
	ID        string
	SentTo    string // masked old number the confirmation code went to; empty if none
	ExpiresAt time.Time
}

// RequestPhoneChange starts a phone number change. It is applied by
// [SAM.ConfirmPhoneChange] with the code this sends to the signer's current
// number, or by [SAM.ApprovePhoneChange] from a second operator when an
// operator asked (a lost phone). Nothing changes before that; all of it is
// audited.
func (s *SAM) RequestPhoneChange(ctx context.Context, r PhoneChangeRequest) (PhoneChange, error) {
	sg, err := s.db.Signer(ctx, r.SignerID)
	if err != nil {
		return PhoneChange{}, err
	}
	if sg.Status != store.StatusActive {
		return PhoneChange{}, ErrSignerNotActive
	}
	phone, err := NormalizePhone(r.NewPhone)
	if err != nil {
		return PhoneChange{}, err
	}
	id, err := s.newID()
	if err != nil {
		return PhoneChange{}, err
	}
	now := s.now()
	pc := &store.PhoneChange{ID: id, SignerID: sg.ID, NewPhone: phone, RequestedBy: r.Actor, Status: store.StatusPending,
		ExpiresAt: now.Add(phoneChangeTTL).UnixMilli()}
	if r.ByOperator {
		pc.ApprovedBy = r.Actor
	}
	out := PhoneChange{ID: id, ExpiresAt: time.UnixMilli(pc.ExpiresAt)}
	if !r.ByOperator {
		old, err := s.activePhone(ctx, sg.ID)
		if err != nil {
			return PhoneChange{}, err
		}
		pc.ChallengeID, err = s.sendCode(ctx, sg.ID, "", old.Target, Binding{Purpose: store.PurposePhoneChange, CredentialID: id},
			CodeMessage{Purpose: store.PurposePhoneChange})
		if err != nil {
			return PhoneChange{}, err
		}
		out.SentTo = MaskPhone(old.Target)
	}
	if err := s.db.CreatePhoneChange(ctx, pc); err != nil {
		return PhoneChange{}, err
	}
	if err := s.audit(ctx, event{Event: EventPhoneChange, Outcome: OutcomeOK, Actor: r.Actor,
		Details: map[string]any{"signer": sg.ID, "change": id, "action": "requested", "phone": MaskPhone(phone), "byOperator": r.ByOperator}}); err != nil {
		return PhoneChange{}, err
	}
	return out, nil
}

// ConfirmPhoneChange applies a change with the code sent to the old number.
func (s *SAM) ConfirmPhoneChange(ctx context.Context, changeID, code string) error {
	pc, err := s.db.PhoneChangeByID(ctx, changeID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrPhoneChange
	}
	if err != nil {
		return internal(err)
	}
	if pc.ChallengeID == "" {
		return ErrPhoneChange.with(errors.New("this change needs a second operator, not a code"))
	}
	ok, err := s.checkChallenge(ctx, pc.SignerID, pc.ChallengeID, code, Binding{Purpose: store.PurposePhoneChange, CredentialID: pc.ID})
	if err != nil {
		return internal(err)
	}
	if !ok {
		_ = s.audit(ctx, event{Event: EventPhoneChange, Outcome: OutcomeFail, Actor: pc.SignerID,
			Details: map[string]any{"signer": pc.SignerID, "change": pc.ID, "action": "confirm"}})
		return ErrOTPInvalid
	}
	applied, err := s.db.ApplyPhoneChange(ctx, pc.ID, s.now().UnixMilli())
	if err != nil {
		return internal(err)
	}
	if !applied {
		return ErrPhoneChange
	}
	return s.applyPhone(ctx, pc, pc.SignerID)
}

// ApprovePhoneChange records an operator's approval; the second approval,
// from another operator than the first, applies the change. It returns how
// many approvals the change now has.
func (s *SAM) ApprovePhoneChange(ctx context.Context, changeID, operator string) (int, error) {
	if operator == "" {
		return 0, errors.New("sam: approving a phone change needs the operator's name")
	}
	pc, err := s.db.PhoneChangeByID(ctx, changeID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrPhoneChange
	}
	if err != nil {
		return 0, internal(err)
	}
	n, err := s.db.ApprovePhoneChange(ctx, pc.ID, operator, s.now().UnixMilli())
	if err != nil {
		return 0, internal(err)
	}
	if n == 0 {
		_ = s.audit(ctx, event{Event: EventPhoneChange, Outcome: OutcomeFail, Actor: operator,
			Details: map[string]any{"signer": pc.SignerID, "change": pc.ID, "action": "approve"}})
		return 0, ErrPhoneChange
	}
	if err := s.audit(ctx, event{Event: EventPhoneChange, Outcome: OutcomeOK, Actor: operator,
		Details: map[string]any{"signer": pc.SignerID, "change": pc.ID, "action": "approved", "approvals": n}}); err != nil {
		return 0, err
	}
	if n < 2 {
		return n, nil
	}
	return n, s.applyPhone(ctx, pc, operator)
}

// applyPhone binds the new number, voids outstanding codes, and tells the
// old number (best effort: the change stands even if the notice fails).
func (s *SAM) applyPhone(ctx context.Context, pc *store.PhoneChange, actor string) error {
	old, oldErr := s.db.Factor(ctx, pc.SignerID, "", store.FactorSMS)
	if errors.Is(oldErr, store.ErrNotFound) {
		if err := s.putSignerFactor(ctx, pc.SignerID, store.FactorSMS, nil, pc.NewPhone); err != nil {
			return err
		}
	} else if oldErr != nil {
		return internal(oldErr)
	} else if err := s.db.SetFactorTarget(ctx, pc.SignerID, store.FactorSMS, pc.NewPhone, store.StatusActive); err != nil {
		return internal(err)
	}
	if err := s.db.VoidChallenges(ctx, pc.SignerID, "*", "*", s.now().UnixMilli()); err != nil {
		return internal(err)
	}
	details := map[string]any{"signer": pc.SignerID, "change": pc.ID, "action": "applied", "phone": MaskPhone(pc.NewPhone)}
	if oldErr == nil && old.Target != "" && old.Target != pc.NewPhone && s.sender != nil {
		if err := s.sender.SendCode(ctx, old.Target, CodeMessage{Purpose: NoticePhoneChanged}); err != nil {
			details["notice"] = fmt.Sprintf("not sent: %v", err)
		} else {
			details["notice"] = "sent to " + MaskPhone(old.Target)
		}
	}
	return s.audit(ctx, event{Event: EventPhoneChange, Outcome: OutcomeOK, Actor: actor, Details: details})
}

// ResetFactor revokes a signer's lost TOTP app or phone (an operator action,
// audited): the factor stops working at once, outstanding codes are voided
// and SADs of the signer's credentials revoked. A new app is bound with
// EnrolTOTP, a new phone with a phone change.
func (s *SAM) ResetFactor(ctx context.Context, signerID, kind, actor string) error {
	if kind != store.FactorTOTP && kind != store.FactorSMS {
		return fmt.Errorf("sam: only %s and %s factors are reset this way", store.FactorTOTP, store.FactorSMS)
	}
	f, err := s.db.Factor(ctx, signerID, "", kind)
	if err != nil {
		return err
	}
	if err := s.db.SetFactorStatus(ctx, f.ID, store.StatusRevoked); err != nil {
		return err
	}
	nowMs := s.now().UnixMilli()
	if err := s.db.VoidChallenges(ctx, signerID, "*", "*", nowMs); err != nil {
		return err
	}
	creds, err := s.db.CredentialsOf(ctx, signerID)
	if err != nil {
		return err
	}
	for _, c := range creds {
		if err := s.db.RevokeSADsOf(ctx, c.ID, nowMs); err != nil {
			return err
		}
	}
	return s.audit(ctx, event{Event: EventFactorReset, Outcome: OutcomeOK, Actor: actor, Details: map[string]any{"signer": signerID, "factor": kind}})
}
