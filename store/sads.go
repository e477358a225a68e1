package store

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"
)

// SADUpdate is a compare-and-swap on a SAD record's mutable state: it
// applies only if the record still has version FromVersion, is not revoked,
// has not expired at NowMs and its credential is active.
type SADUpdate struct {
	ID          string
	FromVersion int64
	Remaining   int
	Consumed    string
	NowMs       int64
}

// AuditFunc builds the next audit entry from the current chain head. It runs
// inside the transaction that holds the head, so it must be quick and must not
// touch the store.
type AuditFunc func(head AuditHead) (*AuditEntry, error)

// CreateSAD inserts a SAD record and, if audit is not nil, its audit entry, in
// one transaction.
func (s *Store) CreateSAD(ctx context.Context, sad *SAD, audit AuditFunc) error {
	return wrapErr("create sad", s.writeTx(ctx, func(q querier) error {
		if err := insertSAD(ctx, q, sad); err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		_, err := appendAudit(ctx, q, audit)
		return err
	}))
}

// SADByTokenHash loads a SAD by the SHA-256 of its token.
func (s *Store) SADByTokenHash(ctx context.Context, tokenHash []byte) (*SAD, error) {
	// Hand-written scan: this runs on every signature, and gorm's model
	// reflection costs more than the query itself.
	var sad SAD
	err := s.hotRow(ctx, `SELECT id, token_hash, credential_id, signer_id, client_id, scal, hash_algorithm, hashes,
		consumed, num_signatures, remaining, version, origin_at, expires_at, revoked_at, mac FROM sads WHERE token_hash = ?`, []any{tokenHash},
		&sad.ID, &sad.TokenHash, &sad.CredentialID, &sad.SignerID, &sad.ClientID, &sad.SCAL, &sad.HashAlgorithm, &sad.Hashes,
		&sad.Consumed, &sad.NumSignatures, &sad.Remaining, &sad.Version, &sad.OriginAt, &sad.ExpiresAt, &sad.RevokedAt, &sad.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, wrapErr("sad", ErrNotFound)
	}
	if err != nil {
		return nil, wrapErr("sad", err)
	}
	return &sad, nil
}

// UpdateSAD applies u as one conditional UPDATE (the whole check is in its
// WHERE clause, so concurrent callers on any number of nodes cannot both
// succeed from the same version). If it applies, successor (when not nil) is
// inserted and the audit entry (when audit is not nil) appended in the same
// transaction. applied=false means the SAD changed, expired, was revoked or its
// credential is no longer active; nothing was written.
func (s *Store) UpdateSAD(ctx context.Context, u SADUpdate, successor *SAD, audit AuditFunc) (applied bool, err error) {
	err = s.writeTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE sads SET remaining = ?, consumed = ?, version = version + 1
			WHERE id = ? AND version = ? AND revoked_at = 0 AND expires_at > ?
			AND EXISTS (SELECT 1 FROM credentials c WHERE c.id = sads.credential_id AND c.status = ?)`,
			u.Remaining, u.Consumed, u.ID, u.FromVersion, u.NowMs, StatusActive)
		if err != nil {
			return err
		}
		if n != 1 {
			return errNotApplied
		}
		if successor != nil {
			if err := insertSAD(ctx, q, successor); err != nil {
				return err
			}
		}
		if audit != nil {
			if _, err := appendAudit(ctx, q, audit); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNotApplied) {
		return false, nil
	}
	if err != nil {
		return false, wrapErr("update sad", err)
	}
	return true, nil
}

var errNotApplied = errors.New("not applied")

// RevokeSAD marks one SAD revoked. It reports whether a usable SAD was revoked.
func (s *Store) RevokeSAD(ctx context.Context, id string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&SAD{}).Where("id = ? AND revoked_at = 0", id).Update("revoked_at", nowMs)
	return res.RowsAffected == 1, wrapErr("revoke sad", res.Error)
}

// RevokeSADsOf revokes every outstanding SAD of a credential.
func (s *Store) RevokeSADsOf(ctx context.Context, credentialID string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("revoke sads", revokeSADs(s.db.WithContext(ctx), credentialID, nowMs))
}

func revokeSADs(tx *gorm.DB, credentialID string, nowMs int64) error {
	return tx.Model(&SAD{}).Where("credential_id = ? AND revoked_at = 0", credentialID).Update("revoked_at", nowMs).Error
}

// DeleteExpiredSADs removes SAD records that expired before beforeMs and
// returns how many were removed.
func (s *Store) DeleteExpiredSADs(ctx context.Context, beforeMs int64) (int64, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("expires_at < ?", beforeMs).Delete(&SAD{})
	return res.RowsAffected, wrapErr("delete expired sads", res.Error)
}

// CreateChallenge inserts a one-time-code challenge.
func (s *Store) CreateChallenge(ctx context.Context, c *Challenge) error {
	defer s.lockWrites()()
	return wrapErr("create challenge", s.db.WithContext(ctx).Create(c).Error)
}

// Challenge loads a challenge by ID.
func (s *Store) Challenge(ctx context.Context, id string) (*Challenge, error) {
	var c Challenge
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, wrapErr("challenge", err)
	}
	return &c, nil
}

// ReserveChallengeAttempt counts one attempt against an unused, unexpired
// challenge with fewer than maxAttempts attempts, in one statement.
func (s *Store) ReserveChallengeAttempt(ctx context.Context, id string, maxAttempts int, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Challenge{}).
		Where("id = ? AND used_at = 0 AND expires_at > ? AND attempts < ?", id, nowMs, maxAttempts).
		Update("attempts", gorm.Expr("attempts + 1"))
	return res.RowsAffected == 1, wrapErr("reserve challenge attempt", res.Error)
}

// UseChallenge marks a challenge used; it succeeds at most once.
func (s *Store) UseChallenge(ctx context.Context, id string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Challenge{}).
		Where("id = ? AND used_at = 0 AND expires_at > ?", id, nowMs).
		Update("used_at", nowMs)
	return res.RowsAffected == 1, wrapErr("use challenge", res.Error)
}

// AppendAudit appends one entry to the audit chain.
func (s *Store) AppendAudit(ctx context.Context, build AuditFunc) (*AuditEntry, error) {
	var e *AuditEntry
	err := s.writeTx(ctx, func(q querier) error {
		var err error
		e, err = appendAudit(ctx, q, build)
		return err
	})
	return e, wrapErr("append audit", err)
}

// AuditHeadRow returns the chain head.
func (s *Store) AuditHeadRow(ctx context.Context) (*AuditHead, error) {
	var h AuditHead
	if err := s.rdb.WithContext(ctx).Where("id = 1").Take(&h).Error; err != nil {
		return nil, wrapErr("audit head", err)
	}
	return &h, nil
}

// AuditEntries returns up to limit entries with Seq > afterSeq, in Seq order.
func (s *Store) AuditEntries(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error) {
	var es []AuditEntry
	err := s.rdb.WithContext(ctx).Where("seq > ?", afterSeq).Order("seq").Limit(limit).Find(&es).Error
	return es, wrapErr("audit entries", err)
}
