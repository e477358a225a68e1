package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm"
)

// PutFactor inserts the factor, or replaces secret, target and status of the
// existing factor of the same owner and kind, resetting its counters.
func (s *Store) PutFactor(ctx context.Context, f *Factor) error {
	defer s.lockWrites()()
	return wrapErr("put factor", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Factor
		err := tx.Where("signer_id = ? AND credential_id = ? AND kind = ?", f.SignerID, f.CredentialID, f.Kind).Take(&old).Error
		switch {
		case err == gorm.ErrRecordNotFound:
			return tx.Create(f).Error
		case err != nil:
			return err
		}
		f.ID = old.ID
		f.CreatedAt = old.CreatedAt
		return tx.Model(&Factor{}).Where("id = ?", old.ID).Updates(map[string]any{
			"secret": f.Secret, "target": f.Target, "status": f.Status, "failures": 0, "last_step": 0,
		}).Error
	}))
}

// Factor loads the factor of an owner and kind (credentialID is empty for
// signer-wide factors).
func (s *Store) Factor(ctx context.Context, signerID, credentialID, kind string) (*Factor, error) {
	var f Factor
	err := s.rdb.WithContext(ctx).Where("signer_id = ? AND credential_id = ? AND kind = ?", signerID, credentialID, kind).Take(&f).Error
	if err != nil {
		return nil, wrapErr("factor", err)
	}
	return &f, nil
}

// ReserveAttempt counts one attempt against the factor before it is verified,
// in one statement: it succeeds only while the factor is active and has fewer
// than maxFailures counted attempts. A successful verification then calls
// ResetFailures; a failed one leaves the attempt counted. A crash between the
// two therefore counts as a failure (fail closed). It returns the number of
// counted attempts after this one, or ok=false (and no count) when the factor
// is locked or not active.
func (s *Store) ReserveAttempt(ctx context.Context, factorID string, maxFailures int) (count int, ok bool, err error) {
	defer s.lockWrites()()
	// RETURNING gives the count this very attempt produced, so exactly one
	// attempt sees the limit reached, even with concurrent attempts.
	err = s.db.WithContext(ctx).Raw(`UPDATE factors SET failures = failures + 1, updated_at = ?
		WHERE id = ? AND status = ? AND failures < ? RETURNING failures`,
		time.Now().UTC(), factorID, StatusActive, maxFailures).Row().Scan(&count)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, wrapErr("reserve attempt", err)
	}
	return count, true, nil
}

// ReleaseAttempt takes back a reserved attempt whose factor was never
// checked (another factor of the same request was locked).
func (s *Store) ReleaseAttempt(ctx context.Context, factorID string) error {
	defer s.lockWrites()()
	return wrapErr("release attempt", s.db.WithContext(ctx).Model(&Factor{}).Where("id = ? AND failures > 0", factorID).
		Update("failures", gorm.Expr("failures - 1")).Error)
}

// ResetFailures clears the failure counter after a successful verification.
func (s *Store) ResetFailures(ctx context.Context, factorID string) error {
	defer s.lockWrites()()
	return wrapErr("reset failures", s.db.WithContext(ctx).Model(&Factor{}).Where("id = ?", factorID).Update("failures", 0).Error)
}

// AcceptTOTPStep records step as used and clears the failure counter, in one
// statement that succeeds only if no equal or later step was accepted before:
// each TOTP code is accepted at most once, cluster-wide.
func (s *Store) AcceptTOTPStep(ctx context.Context, factorID string, step int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Factor{}).
		Where("id = ? AND status = ? AND last_step < ?", factorID, StatusActive, step).
		Updates(map[string]any{"last_step": step, "failures": 0})
	if res.Error != nil {
		return false, wrapErr("accept totp step", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnlockFactor clears a lockout (an operator action).
func (s *Store) UnlockFactor(ctx context.Context, factorID string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("id = ?", factorID).Update("failures", 0)
	if res.Error == nil && res.RowsAffected == 0 {
		return wrapErr("unlock factor", ErrNotFound)
	}
	return wrapErr("unlock factor", res.Error)
}
