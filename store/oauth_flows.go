package store

import (
	"context"
	"time"
)

// Steps of an OAuth authorization on the signer's pages.
const (
	FlowLogin   = "login"
	FlowConsent = "consent"
	FlowOTP     = "otp"
	FlowDone    = "done"
)

// OAuthFlow is a signer's authorization in progress on our pages, between
// oauth2/authorize and the redirect back to the client. It keeps the
// authorization request (Form: the query merged with a pushed request, as
// fosite validated it) so the request can be completed after the signer has
// logged in, reviewed and confirmed, on any node. The browser that started
// it is bound by a cookie and every form by a CSRF token, both stored only
// as SHA-256. Step moves forward only, one conditional UPDATE at a time.
type OAuthFlow struct {
	ID          string `gorm:"primaryKey;size:64"`
	BrowserHash []byte `gorm:"not null"`
	CSRFHash    []byte `gorm:"not null"`
	ClientID    string `gorm:"size:128;not null"`
	Form        string `gorm:"not null"`
	SignerID    string `gorm:"size:64;not null"`
	Step        string `gorm:"size:16;not null"`
	ChallengeID string `gorm:"size:64;not null;default:''"` // the SMS code sent for this flow, if any
	ExpiresAt   int64  `gorm:"not null;index"`              // Unix ms
	CreatedAt   time.Time
}

// CreateOAuthFlow inserts a flow.
func (s *Store) CreateOAuthFlow(ctx context.Context, f *OAuthFlow) error {
	defer s.lockWrites()()
	return wrapErr("create oauth flow", s.db.WithContext(ctx).Create(f).Error)
}

// OAuthFlowByID loads a flow.
func (s *Store) OAuthFlowByID(ctx context.Context, id string) (*OAuthFlow, error) {
	var f OAuthFlow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&f).Error; err != nil {
		return nil, wrapErr("oauth flow", err)
	}
	return &f, nil
}

// AdvanceOAuthFlow moves an unexpired flow from one step to the next (and
// records the signer, when signerID is not empty) in one conditional
// UPDATE. It reports false when the flow was not at from, or expired: of
// two requests racing to finish a flow, one wins.
func (s *Store) AdvanceOAuthFlow(ctx context.Context, id, from, to, signerID string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	updates := map[string]any{"step": to}
	if signerID != "" {
		updates["signer_id"] = signerID
	}
	res := s.db.WithContext(ctx).Model(&OAuthFlow{}).Where("id = ? AND step = ? AND expires_at > ?", id, from, nowMs).Updates(updates)
	return res.RowsAffected == 1, wrapErr("advance oauth flow", res.Error)
}

// AdvanceOAuthFlowForm is AdvanceOAuthFlow that also replaces the stored
// request (when the flow resolves a parameter, such as the credential a
// signature qualifier names), in the same statement.
func (s *Store) AdvanceOAuthFlowForm(ctx context.Context, id, from, to, form string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&OAuthFlow{}).Where("id = ? AND step = ? AND expires_at > ?", id, from, nowMs).
		Updates(map[string]any{"step": to, "form": form})
	return res.RowsAffected == 1, wrapErr("advance oauth flow", res.Error)
}

// SetOAuthFlowChallenge records the out-of-band code sent for a flow at
// step, in one conditional UPDATE (false when the flow moved on or expired).
func (s *Store) SetOAuthFlowChallenge(ctx context.Context, id, step, challengeID string, nowMs int64) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&OAuthFlow{}).Where("id = ? AND step = ? AND expires_at > ?", id, step, nowMs).
		Update("challenge_id", challengeID)
	return res.RowsAffected == 1, wrapErr("set oauth flow challenge", res.Error)
}

// DeleteExpiredOAuthFlows removes flows that expired before beforeMs.
func (s *Store) DeleteExpiredOAuthFlows(ctx context.Context, beforeMs int64) (int64, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("expires_at < ?", beforeMs).Delete(&OAuthFlow{})
	return res.RowsAffected, wrapErr("delete expired oauth flows", res.Error)
}
