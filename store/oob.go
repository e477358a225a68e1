package store

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"
)

// Throttle counts one event against key and reports whether it is within
// limit events per windowMs. The window of a key starts at its first event
// and restarts at the first event after it ends. Check and count are one
// statement (an upsert whose update is conditional), so the limit holds
// across server nodes; a refused event is not counted.
func (s *Store) Throttle(ctx context.Context, key string, limit int, windowMs, nowMs int64) (bool, error) {
	if limit < 1 {
		return false, nil
	}
	defer s.lockWrites()()
	var n int
	err := s.db.WithContext(ctx).Raw(`INSERT INTO throttles (name, window_start, count) VALUES (?, ?, 1)
		ON CONFLICT (name) DO UPDATE SET
			count = CASE WHEN throttles.window_start <= ? THEN 1 ELSE throttles.count + 1 END,
			window_start = CASE WHEN throttles.window_start <= ? THEN ? ELSE throttles.window_start END
		WHERE throttles.window_start <= ? OR throttles.count < ?
		RETURNING count`, key, nowMs, nowMs-windowMs, nowMs-windowMs, nowMs, nowMs-windowMs, limit).Row().Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, wrapErr("throttle", err)
	}
	return true, nil
}

// OutstandingChallenge returns the newest challenge of purpose for the signer
// and credential that is unused and unexpired, or ErrNotFound.
func (s *Store) OutstandingChallenge(ctx context.Context, signerID, credentialID, purpose string, nowMs int64) (*Challenge, error) {
	var c Challenge
	err := s.db.WithContext(ctx).Where("signer_id = ? AND credential_id = ? AND purpose = ? AND used_at = 0 AND expires_at > ?",
		signerID, credentialID, purpose, nowMs).Order("expires_at DESC").Take(&c).Error
	if err != nil {
		return nil, wrapErr("outstanding challenge", err)
	}
	return &c, nil
}

// VoidChallenges ends every unused challenge of purpose for the signer (and
// credential, unless credentialID is "*"), so only a newer code can work.
func (s *Store) VoidChallenges(ctx context.Context, signerID, credentialID, purpose string, nowMs int64) error {
	defer s.lockWrites()()
	q := s.db.WithContext(ctx).Model(&Challenge{}).Where("signer_id = ? AND used_at = 0", signerID)
	if credentialID != "*" {
		q = q.Where("credential_id = ?", credentialID)
	}
	if purpose != "*" {
		q = q.Where("purpose = ?", purpose)
	}
	return wrapErr("void challenges", q.Update("used_at", nowMs).Error)
}

// CreateActivation stores an activation code (as its MAC).
func (s *Store) CreateActivation(ctx context.Context, a *Activation) error {
	defer s.lockWrites()()
	return wrapErr("create activation", s.db.WithContext(ctx).Create(a).Error)
}

// UseActivation spends the unexpired, unused activation code with this MAC
// and returns its signer, in one conditional UPDATE: a code works once.
// Anything else gives ErrNotFound.
func (s *Store) UseActivation(ctx context.Context, codeMAC []byte, nowMs int64) (string, error) {
	defer s.lockWrites()()
	var signerID string
	err := s.db.WithContext(ctx).Raw(`UPDATE activations SET used_at = ? WHERE code_mac = ? AND used_at = 0 AND expires_at > ? RETURNING signer_id`,
		nowMs, codeMAC, nowMs).Row().Scan(&signerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", wrapErr("use activation", ErrNotFound)
	case err != nil:
		return "", wrapErr("use activation", err)
	}
	return signerID, nil
}

// VoidActivations ends the signer's unused activation codes except exceptID
// (the new one that replaces them).
func (s *Store) VoidActivations(ctx context.Context, signerID, exceptID string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("void activations", s.db.WithContext(ctx).Model(&Activation{}).
		Where("signer_id = ? AND id <> ? AND used_at = 0", signerID, exceptID).Update("used_at", nowMs).Error)
}

// VoidActivation ends one unused activation code.
func (s *Store) VoidActivation(ctx context.Context, id string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("void activation", s.db.WithContext(ctx).Model(&Activation{}).
		Where("id = ? AND used_at = 0", id).Update("used_at", nowMs).Error)
}

// CreateEnrolment inserts an enrolment in progress.
func (s *Store) CreateEnrolment(ctx context.Context, e *Enrolment) error {
	defer s.lockWrites()()
	return wrapErr("create enrolment", s.db.WithContext(ctx).Create(e).Error)
}

// EnrolmentByID loads an enrolment.
func (s *Store) EnrolmentByID(ctx context.Context, id string) (*Enrolment, error) {
	var e Enrolment
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&e).Error; err != nil {
		return nil, wrapErr("enrolment", err)
	}
	return &e, nil
}

// AdvanceEnrolment moves an unexpired enrolment from one step to the next and
// sets the given columns, in one conditional UPDATE; false when it was not at
// from (another request moved it) or expired.
func (s *Store) AdvanceEnrolment(ctx context.Context, id, from, to string, set map[string]any, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	updates := map[string]any{"step": to}
	for k, v := range set {
		switch k {
		case "pin_hash", "totp_blob", "challenge_id":
			updates[k] = v
		default:
			return false, wrapErr("advance enrolment", errors.New("column "+k+" cannot be set"))
		}
	}
	res := s.db.WithContext(ctx).Model(&Enrolment{}).Where("id = ? AND step = ? AND expires_at > ?", id, from, nowMs).Updates(updates)
	return res.RowsAffected == 1, wrapErr("advance enrolment", res.Error)
}

// DeleteExpiredEnrolments removes enrolments that expired before beforeMs.
func (s *Store) DeleteExpiredEnrolments(ctx context.Context, beforeMs int64) (int64, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("expires_at < ?", beforeMs).Delete(&Enrolment{})
	return res.RowsAffected, wrapErr("delete expired enrolments", res.Error)
}

// CreatePhoneChange inserts a pending phone change.
func (s *Store) CreatePhoneChange(ctx context.Context, p *PhoneChange) error {
	defer s.lockWrites()()
	return wrapErr("create phone change", s.db.WithContext(ctx).Create(p).Error)
}

// PhoneChangeByID loads a phone change.
func (s *Store) PhoneChangeByID(ctx context.Context, id string) (*PhoneChange, error) {
	var p PhoneChange
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, wrapErr("phone change", err)
	}
	return &p, nil
}

// ApprovePhoneChange records operator's approval of a pending, unexpired
// change, in one conditional UPDATE each: the first approval fills
// ApprovedBy (an operator's own request arrives with it filled); a second one
// must come from another operator and marks the change applied. It reports
// how many approvals the change has after this call (0 when refused).
func (s *Store) ApprovePhoneChange(ctx context.Context, id, operator string, nowMs int64) (int, error) {
	defer s.lockWrites()()
	db := s.db.WithContext(ctx).Model(&PhoneChange{})
	res := db.Where("id = ? AND status = ? AND expires_at > ? AND approved_by = ''", id, StatusPending, nowMs).
		Update("approved_by", operator)
	if res.Error != nil {
		return 0, wrapErr("approve phone change", res.Error)
	}
	if res.RowsAffected == 1 {
		return 1, nil
	}
	res = s.db.WithContext(ctx).Model(&PhoneChange{}).
		Where("id = ? AND status = ? AND expires_at > ? AND approved_by <> '' AND approved_by <> ?", id, StatusPending, nowMs, operator).
		Updates(map[string]any{"status": StatusActive, "applied_at": nowMs})
	if res.Error != nil {
		return 0, wrapErr("approve phone change", res.Error)
	}
	if res.RowsAffected == 1 {
		return 2, nil
	}
	return 0, nil
}

// ApplyPhoneChange marks a pending, unexpired change applied (after its
// confirmation code was checked); it succeeds once.
func (s *Store) ApplyPhoneChange(ctx context.Context, id string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&PhoneChange{}).Where("id = ? AND status = ? AND expires_at > ?", id, StatusPending, nowMs).
		Updates(map[string]any{"status": StatusActive, "applied_at": nowMs})
	return res.RowsAffected == 1, wrapErr("apply phone change", res.Error)
}

// SetFactorTarget points the signer's factor of kind at a new target (a phone
// number), sets its status and clears its counters.
func (s *Store) SetFactorTarget(ctx context.Context, signerID, kind, target, status string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("signer_id = ? AND credential_id = '' AND kind = ?", signerID, kind).
		Updates(map[string]any{"target": target, "status": status, "failures": 0})
	if res.Error == nil && res.RowsAffected == 0 {
		return wrapErr("set factor target", ErrNotFound)
	}
	return wrapErr("set factor target", res.Error)
}

// ActivateFactor makes a pending factor active; false if it was not pending.
func (s *Store) ActivateFactor(ctx context.Context, factorID string) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("id = ? AND status = ?", factorID, StatusPending).
		Updates(map[string]any{"status": StatusActive, "failures": 0})
	return res.RowsAffected == 1, wrapErr("activate factor", res.Error)
}

// SetFactorStatus sets a factor's status (an operator revoking a lost
// factor).
func (s *Store) SetFactorStatus(ctx context.Context, factorID, status string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("id = ?", factorID).Update("status", status)
	if res.Error == nil && res.RowsAffected == 0 {
		return wrapErr("set factor status", ErrNotFound)
	}
	return wrapErr("set factor status", res.Error)
}

// CreateOperator inserts an operator; a taken name gives ErrConflict.
func (s *Store) CreateOperator(ctx context.Context, o *Operator) error {
	defer s.lockWrites()()
	return wrapErr("create operator", s.db.WithContext(ctx).Create(o).Error)
}

// OperatorByKeyHash finds an active operator by the SHA-256 of its key.
func (s *Store) OperatorByKeyHash(ctx context.Context, hash []byte) (*Operator, error) {
	var o Operator
	if err := s.db.WithContext(ctx).Where("key_hash = ? AND status = ?", hash, StatusActive).Take(&o).Error; err != nil {
		return nil, wrapErr("operator", err)
	}
	return &o, nil
}

// Operators lists operators by name.
func (s *Store) Operators(ctx context.Context) ([]Operator, error) {
	var out []Operator
	return out, wrapErr("operators", s.db.WithContext(ctx).Order("name").Find(&out).Error)
}

// SetOperatorStatus enables or disables an operator by name.
func (s *Store) SetOperatorStatus(ctx context.Context, name, status string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Operator{}).Where("name = ?", name).Update("status", status)
	if res.Error == nil && res.RowsAffected == 0 {
		return wrapErr("set operator status", ErrNotFound)
	}
	return wrapErr("set operator status", res.Error)
}

// DeleteExpiredOutOfBand removes challenges and activation codes that
// expired before beforeMs (used ones included: their use is in the audit
// log), phone changes that expired unapplied, and throttle counters whose
// window started before throttleBeforeMs (longer ago than any window).
func (s *Store) DeleteExpiredOutOfBand(ctx context.Context, beforeMs, throttleBeforeMs int64) (int64, error) {
	defer s.lockWrites()()
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, q := range []struct {
			model any
			where string
			arg   int64
		}{
			{&Challenge{}, "expires_at < ?", beforeMs},
			{&Activation{}, "expires_at < ?", beforeMs},
			{&PhoneChange{}, "status = '" + StatusPending + "' AND expires_at < ?", beforeMs},
			{&Throttle{}, "window_start < ?", throttleBeforeMs},
		} {
			res := tx.Where(q.where, q.arg).Delete(q.model)
			if res.Error != nil {
				return res.Error
			}
			n += res.RowsAffected
		}
		return nil
	})
	return n, wrapErr("delete expired out-of-band rows", err)
}
