package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// Scopes of service tokens.
const (
	ScopeService = "service"
)

// LoginClientID names the client of tokens issued by CSC auth/login, which
// authenticates the user but no OAuth client.
const LoginClientID = "csc-auth-login"

// Refusals of the token service. They use the one error type of the server
// (sam.Error), so the API renders them like any other.
var (
	ErrInvalidToken   = &sam.Error{Code: "invalid_token", Description: "The access token is not valid"}
	ErrExpiredToken   = &sam.Error{Code: "expired_token", Description: "The access token has expired"}
	ErrInvalidRefresh = &sam.Error{Code: "invalid_request", Description: "Invalid refresh_token"}
	ErrUnknownToken   = &sam.Error{Code: "invalid_request", Description: "Invalid string parameter token"}
)

// Principal is who an access token speaks for.
type Principal struct {
	SignerID string
	ClientID string
	Scope    string
	TokenID  string
	// For a credential token (scope credential): the one credential it may
	// use, and the token itself, which is the SAD.
	CredentialID string
	SAD          string
}

// Issued is a fresh set of tokens. The values are shown to the client once
// and never stored or logged.
type Issued struct {
	AccessToken  string
	RefreshToken string // empty unless asked for
	ExpiresIn    int    // seconds
}

// LoginConfig sets token lifetimes.
type LoginConfig struct {
	AccessTTL  time.Duration
	RefreshTTL time.Duration
}

// PasswordChecker verifies a signer's password (the SAM does).
type PasswordChecker interface {
	CheckPassword(ctx context.Context, users sam.SignerLookup, username, password string) (string, error)
}

var _ PasswordChecker = (*sam.SAM)(nil)

// TokenStore keeps service tokens.
type TokenStore interface {
	sam.SignerLookup
	CreateTokens(ctx context.Context, ts ...*store.Token) error
	TokenByHash(ctx context.Context, hash []byte) (*store.Token, error)
	RotateRefreshToken(ctx context.Context, id string, nowMs int64, next ...*store.Token) (bool, error)
	RevokeToken(ctx context.Context, id string, nowMs int64) error
	RevokeTokenFamily(ctx context.Context, familyID string, nowMs int64) error
}

var _ TokenStore = (*store.Store)(nil)

// Logins issues and checks the service tokens of CSC auth/login: opaque
// 256-bit random values stored only as SHA-256. Refresh tokens rotate on use;
// presenting a spent one revokes the whole login, because only a thief or a
// confused client would do that.
type Logins struct {
	cfg  LoginConfig
	pw   PasswordChecker
	db   TokenStore
	now  func() time.Time
	rand io.Reader
}

// NewLogins builds the token service. now may be nil (time.Now).
func NewLogins(cfg LoginConfig, pw PasswordChecker, db TokenStore, now func() time.Time) *Logins {
	if now == nil {
		now = time.Now
	}
	return &Logins{cfg: cfg, pw: pw, db: db, now: now, rand: rand.Reader}
}

// Login checks username and password and issues an access token, and a
// refresh token when rememberMe is set.
func (l *Logins) Login(ctx context.Context, username, password string, rememberMe bool) (Issued, error) {
	signerID, err := l.pw.CheckPassword(ctx, l.db, username, password)
	if err != nil {
		return Issued{}, err
	}
	family, err := l.randomID()
	if err != nil {
		return Issued{}, err
	}
	return l.issue(ctx, signerID, family, rememberMe)
}

// Refresh exchanges a refresh token, at most once, for a new access token and
// a new refresh token of the same login.
func (l *Logins) Refresh(ctx context.Context, refreshToken string) (Issued, error) {
	t, err := l.lookup(ctx, refreshToken)
	switch {
	case errors.Is(err, errMalformed) || errors.Is(err, store.ErrNotFound):
		return Issued{}, ErrInvalidRefresh
	case err != nil:
		return Issued{}, sam.ErrInternal.With(err)
	}
	now := l.now().UnixMilli()
	switch {
	case t.Kind != store.TokenRefresh:
		return Issued{}, ErrInvalidRefresh
	case t.RevokedAt != 0 || t.ExpiresAt <= now:
		return Issued{}, ErrInvalidRefresh
	case t.UsedAt != 0:
		return Issued{}, l.reuse(ctx, t, now)
	}
	out, rows, err := l.newTokens(t.SignerID, t.FamilyID, true)
	if err != nil {
		return Issued{}, err
	}
	ok, err := l.db.RotateRefreshToken(ctx, t.ID, now, rows...)
	if err != nil {
		return Issued{}, sam.ErrInternal.With(err)
	}
	if !ok { // another request spent it first
		return Issued{}, l.reuse(ctx, t, now)
	}
	return out, nil
}

// reuse revokes the login of a refresh token presented twice. The token
// itself is revoked first: that waits for a concurrent exchange of it to
// commit its successors, which the family revocation then includes.
func (l *Logins) reuse(ctx context.Context, t *store.Token, nowMs int64) error {
	if err := l.db.RevokeToken(ctx, t.ID, nowMs); err != nil {
		return sam.ErrInternal.With(err)
	}
	if err := l.db.RevokeTokenFamily(ctx, t.FamilyID, nowMs); err != nil {
		return sam.ErrInternal.With(err)
	}
	return ErrInvalidRefresh.With(errors.New("refresh token reused: login revoked"))
}

func (l *Logins) issue(ctx context.Context, signerID, family string, withRefresh bool) (Issued, error) {
	out, rows, err := l.newTokens(signerID, family, withRefresh)
	if err != nil {
		return Issued{}, err
	}
	if err := l.db.CreateTokens(ctx, rows...); err != nil {
		return Issued{}, sam.ErrInternal.With(err)
	}
	return out, nil
}

// newTokens makes an access token, and a refresh token when asked, of one
// login, and the rows that store them.
func (l *Logins) newTokens(signerID, family string, withRefresh bool) (Issued, []*store.Token, error) {
	now := l.now()
	access, accessRow, err := l.newToken(store.TokenAccess, signerID, family, now.Add(l.cfg.AccessTTL))
	if err != nil {
		return Issued{}, nil, err
	}
	rows := []*store.Token{accessRow}
	out := Issued{AccessToken: access, ExpiresIn: int(l.cfg.AccessTTL / time.Second)}
	if withRefresh {
		refresh, refreshRow, err := l.newToken(store.TokenRefresh, signerID, family, now.Add(l.cfg.RefreshTTL))
		if err != nil {
			return Issued{}, nil, err
		}
		rows = append(rows, refreshRow)
		out.RefreshToken = refresh
	}
	return out, rows, nil
}

func (l *Logins) newToken(kind, signerID, family string, expires time.Time) (string, *store.Token, error) {
	raw := make([]byte, 32)
	if _, err := io.ReadFull(l.rand, raw); err != nil {
		return "", nil, sam.ErrInternal.With(fmt.Errorf("random source: %w", err))
	}
	id, err := l.randomID()
	if err != nil {
		return "", nil, err
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(value))
	return value, &store.Token{ID: id, Hash: h[:], Kind: kind, FamilyID: family, SignerID: signerID,
		ClientID: LoginClientID, Scope: ScopeService, ExpiresAt: expires.UnixMilli()}, nil
}

func (l *Logins) randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(l.rand, b); err != nil {
		return "", sam.ErrInternal.With(fmt.Errorf("random source: %w", err))
	}
	return fmt.Sprintf("%x", b), nil
}

// maxTokenLen bounds what is hashed and looked up.
const maxTokenLen = 512

var errMalformed = errors.New("token has a bad length")

func (l *Logins) lookup(ctx context.Context, value string) (*store.Token, error) {
	if value == "" || len(value) > maxTokenLen {
		return nil, errMalformed
	}
	h := sha256.Sum256([]byte(value))
	return l.db.TokenByHash(ctx, h[:])
}

// Authenticate resolves a bearer access token to its principal.
func (l *Logins) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	t, err := l.lookup(ctx, bearer)
	switch {
	case errors.Is(err, errMalformed) || errors.Is(err, store.ErrNotFound):
		return Principal{}, ErrInvalidToken
	case err != nil:
		return Principal{}, sam.ErrInternal.With(err)
	case t.Kind != store.TokenAccess || t.RevokedAt != 0:
		return Principal{}, ErrInvalidToken
	}
	if t.ExpiresAt <= l.now().UnixMilli() {
		return Principal{}, ErrExpiredToken
	}
	return Principal{SignerID: t.SignerID, ClientID: t.ClientID, Scope: t.Scope, TokenID: t.ID}, nil
}

// Revoke revokes a token of the principal's own (CSC auth/revoke). A refresh
// token takes its whole login with it; an access token only itself.
func (l *Logins) Revoke(ctx context.Context, p Principal, token string) error {
	t, err := l.lookup(ctx, token)
	switch {
	case errors.Is(err, errMalformed) || errors.Is(err, store.ErrNotFound):
		return ErrUnknownToken
	case err != nil:
		return sam.ErrInternal.With(err)
	case t.SignerID != p.SignerID:
		return ErrUnknownToken
	}
	now := l.now().UnixMilli()
	if t.Kind == store.TokenRefresh {
		err = l.db.RevokeTokenFamily(ctx, t.FamilyID, now)
	} else {
		err = l.db.RevokeToken(ctx, t.ID, now)
	}
	if err != nil {
		return sam.ErrInternal.With(err)
	}
	return nil
}
