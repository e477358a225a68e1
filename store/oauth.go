package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Kinds of OAuthRequest rows: what the signature names.
const (
	OAuthCode    = "code"    // an authorization code
	OAuthAccess  = "access"  // an access token
	OAuthRefresh = "refresh" // a refresh token
	OAuthPKCE    = "pkce"    // the PKCE challenge of an authorization code
	OAuthPAR     = "par"     // a pushed authorization request (RFC 9126)
)

// OAuthClient is a registered OAuth 2.0 client (an SCA). SecretHash is the
// bcrypt hash of a confidential client's secret, empty for a public client;
// the secret itself is never stored.
type OAuthClient struct {
	ID            string   `gorm:"primaryKey;size:128"`
	Name          string   `gorm:"size:256;not null"`
	SecretHash    []byte   // bcrypt; empty for public clients
	Public        bool     `gorm:"not null"`
	RedirectURIs  []string `gorm:"serializer:json"`
	GrantTypes    []string `gorm:"serializer:json"`
	ResponseTypes []string `gorm:"serializer:json"`
	Scopes        []string `gorm:"serializer:json"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName names the table of OAuthClient.
func (OAuthClient) TableName() string { return "oauth_clients" }

// OAuthRequest is the state behind one OAuth artefact: an authorization
// code, access token, refresh token, PKCE challenge or pushed authorization
// request, keyed by (Kind, Signature). Signature is what the authorization
// server derives from the artefact (an HMAC signature, or a hash of a PAR
// request_uri); the artefact itself is never stored. Every artefact of one
// grant shares RequestID, so a grant is revoked by request ID. Times are Unix
// milliseconds; ExpiresAt 0 means no expiry.
type OAuthRequest struct {
	Kind              string   `gorm:"primaryKey;size:16"`
	Signature         string   `gorm:"primaryKey;size:128"`
	RequestID         string   `gorm:"size:64;not null;index:idx_oauth_requests_request"`
	ClientID          string   `gorm:"size:128;not null"`
	Subject           string   `gorm:"size:256;not null"`
	RequestedAt       int64    `gorm:"not null"`
	ExpiresAt         int64    `gorm:"not null;index:idx_oauth_requests_expires"`
	Active            bool     `gorm:"not null"`
	Form              string   `gorm:"not null"` // url-encoded, sanitized request form
	RequestedScopes   []string `gorm:"serializer:json"`
	GrantedScopes     []string `gorm:"serializer:json"`
	RequestedAudience []string `gorm:"serializer:json"`
	GrantedAudience   []string `gorm:"serializer:json"`
	Session           []byte   `gorm:"not null"`          // JSON of the authorization server's session
	AccessSignature   string   `gorm:"size:128;not null"` // refresh tokens: the access token issued with it
	CreatedAt         time.Time
}

// TableName names the table of OAuthRequest.
func (OAuthRequest) TableName() string { return "oauth_requests" }

// OAuthJTI remembers the ID of a client assertion (RFC 7523) until it
// expires, so that the assertion cannot be replayed.
type OAuthJTI struct {
	JTI       string `gorm:"primaryKey;size:128"`
	ExpiresAt int64  `gorm:"not null;index:idx_oauth_jtis_expires"` // Unix milliseconds
}

// TableName names the table of OAuthJTI.
func (OAuthJTI) TableName() string { return "oauth_jtis" }

// CreateOAuthClient registers a client; ErrConflict if its ID is taken.
func (s *Store) CreateOAuthClient(ctx context.Context, c *OAuthClient) error {
	defer s.lockWrites()()
	return wrapErr("create oauth client", s.db.WithContext(ctx).Create(c).Error)
}

// OAuthClient loads a client by ID.
func (s *Store) OAuthClient(ctx context.Context, id string) (*OAuthClient, error) {
	var c OAuthClient
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, wrapErr("oauth client", err)
	}
	return &c, nil
}

// OAuthClients lists every client, ordered by ID.
func (s *Store) OAuthClients(ctx context.Context) ([]OAuthClient, error) {
	var cs []OAuthClient
	err := s.rdb.WithContext(ctx).Order("id").Find(&cs).Error
	return cs, wrapErr("oauth clients", err)
}

// DeleteOAuthClient removes a client; ErrNotFound if there is none. Its
// outstanding codes and tokens stop working because their client is gone.
func (s *Store) DeleteOAuthClient(ctx context.Context, id string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&OAuthClient{})
	if res.Error != nil {
		return wrapErr("delete oauth client", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrapErr("delete oauth client", ErrNotFound)
	}
	return nil
}

// CreateOAuthRequest inserts a row; ErrConflict if (Kind, Signature) exists.
func (s *Store) CreateOAuthRequest(ctx context.Context, r *OAuthRequest) error {
	defer s.lockWrites()()
	return wrapErr("create oauth request", s.db.WithContext(ctx).Create(r).Error)
}

// OAuthRequest loads a row by kind and signature, active or not.
func (s *Store) OAuthRequest(ctx context.Context, kind, signature string) (*OAuthRequest, error) {
	var r OAuthRequest
	if err := s.rdb.WithContext(ctx).Where("kind = ? AND signature = ?", kind, signature).Take(&r).Error; err != nil {
		return nil, wrapErr("oauth request", err)
	}
	return &r, nil
}

// DeactivateOAuthRequest marks an active row inactive in one conditional
// statement and reports whether it did. Across all nodes, exactly one caller
// sees true for a given row: this is what makes an authorization code, a
// refresh token or a pushed request redeemable at most once.
func (s *Store) DeactivateOAuthRequest(ctx context.Context, kind, signature string) (bool, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&OAuthRequest{}).
		Where("kind = ? AND signature = ? AND active = ?", kind, signature, true).
		Update("active", false)
	return res.RowsAffected == 1, wrapErr("deactivate oauth request", res.Error)
}

// DeleteOAuthRequest removes a row. Removing a missing row is not an error.
func (s *Store) DeleteOAuthRequest(ctx context.Context, kind, signature string) error {
	defer s.lockWrites()()
	return wrapErr("delete oauth request", s.db.WithContext(ctx).
		Where("kind = ? AND signature = ?", kind, signature).Delete(&OAuthRequest{}).Error)
}

// DeactivateOAuthRequests marks every active row of one kind and grant
// (request ID) inactive and returns how many it changed.
func (s *Store) DeactivateOAuthRequests(ctx context.Context, kind, requestID string) (int64, error) {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&OAuthRequest{}).
		Where("request_id = ? AND kind = ? AND active = ?", requestID, kind, true).
		Update("active", false)
	return res.RowsAffected, wrapErr("deactivate oauth requests", res.Error)
}

// DeleteExpiredOAuth removes OAuth rows and client-assertion IDs that
// expired before beforeMs (rows without expiry stay) and returns how many.
func (s *Store) DeleteExpiredOAuth(ctx context.Context, beforeMs int64) (int64, error) {
	defer s.lockWrites()()
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("expires_at > 0 AND expires_at < ?", beforeMs).Delete(&OAuthRequest{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Where("expires_at < ?", beforeMs).Delete(&OAuthJTI{})
		n += res.RowsAffected
		return res.Error
	})
	return n, wrapErr("delete expired oauth", err)
}

// SetJTI records a client-assertion ID until expiresAtMs, in one statement.
// It returns ErrConflict if the ID is already recorded and has not expired
// at nowMs (a replay); an expired record is replaced.
func (s *Store) SetJTI(ctx context.Context, jti string, expiresAtMs, nowMs int64) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "jti"}},
		DoUpdates: clause.Assignments(map[string]any{"expires_at": expiresAtMs}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "oauth_jtis.expires_at <= ?", Vars: []any{nowMs}}}},
	}).Create(&OAuthJTI{JTI: jti, ExpiresAt: expiresAtMs})
	if res.Error != nil {
		return wrapErr("set jti", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrapErr("set jti", ErrConflict)
	}
	return nil
}

// JTIValid reports whether a client-assertion ID may be used at nowMs: it
// is unknown, or its record has expired.
func (s *Store) JTIValid(ctx context.Context, jti string, nowMs int64) (bool, error) {
	var n int64
	err := s.rdb.WithContext(ctx).Model(&OAuthJTI{}).Where("jti = ? AND expires_at > ?", jti, nowMs).Count(&n).Error
	if err != nil {
		return false, wrapErr("jti", err)
	}
	return n == 0, nil
}
