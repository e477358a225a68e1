package store

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"
)

// CreateTokens inserts tokens in one transaction (an access token and, with
// rememberMe, its refresh token).
func (s *Store) CreateTokens(ctx context.Context, ts ...*Token) error {
	defer s.lockWrites()()
	return wrapErr("create tokens", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, t := range ts {
			if err := tx.Create(t).Error; err != nil {
				return err
			}
		}
		return nil
	}))
}

// TokenByHash loads a token by the SHA-256 of its value. Callers check kind,
// expiry and revocation themselves.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	// Hand-written scan: this runs on every authenticated request.
	var t Token
	err := s.hotRow(ctx, `SELECT id, hash, kind, family_id, signer_id, client_id, scope, expires_at, used_at, revoked_at
		FROM tokens WHERE hash = ?`, []any{hash},
		&t.ID, &t.Hash, &t.Kind, &t.FamilyID, &t.SignerID, &t.ClientID, &t.Scope, &t.ExpiresAt, &t.UsedAt, &t.RevokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, wrapErr("token", ErrNotFound)
	}
	if err != nil {
		return nil, wrapErr("token", err)
	}
	return &t, nil
}

// RotateRefreshToken spends an unused, unrevoked, unexpired refresh token
// and inserts its successors (next) in one transaction. It reports false,
// and inserts nothing, when the token was not in that state, so a refresh
// token is exchanged at most once across all nodes. The spent row stays
// locked until the successors are in, so a concurrent reuse that revokes the
// token first and then its family (see oauth.Logins) also revokes them.
func (s *Store) RotateRefreshToken(ctx context.Context, id string, nowMs int64, next ...*Token) (bool, error) {
	defer s.lockWrites()()
	applied := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Token{}).
			Where("id = ? AND kind = ? AND used_at = 0 AND revoked_at = 0 AND expires_at > ?", id, TokenRefresh, nowMs).
			Update("used_at", nowMs)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		for _, t := range next {
			if err := tx.Create(t).Error; err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	return applied, wrapErr("rotate refresh token", err)
}

// RevokeToken revokes one token.
func (s *Store) RevokeToken(ctx context.Context, id string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("revoke token", s.db.WithContext(ctx).Model(&Token{}).
		Where("id = ? AND revoked_at = 0", id).Update("revoked_at", nowMs).Error)
}

// RevokeTokenFamily revokes every token of a login: its access tokens and
// every refresh token descending from it.
func (s *Store) RevokeTokenFamily(ctx context.Context, familyID string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("revoke token family", s.db.WithContext(ctx).Model(&Token{}).
		Where("family_id = ? AND revoked_at = 0", familyID).Update("revoked_at", nowMs).Error)
}

// RevokeTokensOf revokes every token of a signer (signer disabled).
func (s *Store) RevokeTokensOf(ctx context.Context, signerID string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("revoke tokens of signer", s.db.WithContext(ctx).Model(&Token{}).
		Where("signer_id = ? AND revoked_at = 0", signerID).Update("revoked_at", nowMs).Error)
}

// DeleteExpiredTokens removes tokens that expired before beforeMs.
func (s *Store) DeleteExpiredTokens(ctx context.Context, beforeMs int64) (int64, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("expires_at < ?", beforeMs).Delete(&Token{})
	return res.RowsAffected, wrapErr("delete expired tokens", res.Error)
}

// PutAuthority inserts or replaces a certificate authority.
func (s *Store) PutAuthority(ctx context.Context, a *Authority) error {
	defer s.lockWrites()()
	return wrapErr("put authority", s.db.WithContext(ctx).Save(a).Error)
}

// Authority loads a certificate authority by ID.
func (s *Store) Authority(ctx context.Context, id string) (*Authority, error) {
	var a Authority
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, wrapErr("authority", err)
	}
	return &a, nil
}
