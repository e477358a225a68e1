package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"

	"github.com/openrssp/rssp/store"
)

// OAuthStore is what Storage needs from the database.
type OAuthStore interface {
	OAuthClient(ctx context.Context, id string) (*store.OAuthClient, error)
	CreateOAuthRequest(ctx context.Context, r *store.OAuthRequest) error
	OAuthRequest(ctx context.Context, kind, signature string) (*store.OAuthRequest, error)
	DeactivateOAuthRequest(ctx context.Context, kind, signature string) (bool, error)
	DeleteOAuthRequest(ctx context.Context, kind, signature string) error
	DeactivateOAuthRequests(ctx context.Context, kind, requestID string) (int64, error)
	SetJTI(ctx context.Context, jti string, expiresAtMs, nowMs int64) error
	JTIValid(ctx context.Context, jti string, nowMs int64) (bool, error)
}

var _ OAuthStore = (*store.Store)(nil)

// Storage is fosite's storage on our database. It keeps only what fosite
// derives from a token (its HMAC signature) or, for a pushed authorization
// request, the SHA-256 of its request_uri; never a code, token or request_uri
// itself. Sessions are stored as JSON of *Session.
//
// Single use across nodes: an authorization code, a refresh token and a
// pushed request are each redeemed by one conditional UPDATE of their row's
// active flag, so of many nodes redeeming the same one at once exactly one
// succeeds. The storage is not transactional (storage.Transactional): fosite
// then performs the code and refresh exchanges as a sequence of statements
// whose first step is that conditional UPDATE.
type Storage struct {
	db  OAuthStore
	now func() time.Time
}

// Interfaces fosite's handlers look for on the storage.
var (
	_ fosite.ClientManager          = (*Storage)(nil)
	_ fosite.PARStorage             = (*Storage)(nil)
	_ oauth2.AuthorizeCodeStorage   = (*Storage)(nil)
	_ oauth2.AccessTokenStorage     = (*Storage)(nil)
	_ oauth2.RefreshTokenStorage    = (*Storage)(nil)
	_ oauth2.TokenRevocationStorage = (*Storage)(nil)
	_ oauth2.CoreStorage            = (*Storage)(nil)
	_ pkce.PKCERequestStorage       = (*Storage)(nil)
)

// NewStorage adapts db to fosite. now (nil: time.Now) decides when pushed
// requests and client-assertion IDs expire; fosite checks the expiry of
// codes and tokens itself.
func NewStorage(db OAuthStore, now func() time.Time) *Storage {
	if now == nil {
		now = time.Now
	}
	return &Storage{db: db, now: now}
}

// defaultPARLifespan applies to a pushed request stored without an expiry in
// its session (fosite sets one whenever the request has a session).
const defaultPARLifespan = 90 * time.Second

// Form parameters never stored: client credentials and token values.
var secretParams = []string{"client_secret", "client_assertion", "client_assertion_type", "code", "code_verifier",
	"refresh_token", "access_token", "token", "password"}

// GetClient loads a client; fosite.ErrNotFound if it does not exist.
func (s *Storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.db.OAuthClient(ctx, id)
	if err != nil {
		return nil, storeErr(err)
	}
	return &fosite.DefaultClient{
		ID:            c.ID,
		Secret:        c.SecretHash,
		RedirectURIs:  c.RedirectURIs,
		GrantTypes:    c.GrantTypes,
		ResponseTypes: c.ResponseTypes,
		Scopes:        c.Scopes,
		Public:        c.Public,
	}, nil
}

// jtiKey bounds the stored client-assertion ID: its SHA-256, hex.
func jtiKey(jti string) string {
	h := sha256.Sum256([]byte(jti))
	return hex.EncodeToString(h[:])
}

// ClientAssertionJWTValid returns fosite.ErrJTIKnown if the assertion ID was
// seen and has not expired.
func (s *Storage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	ok, err := s.db.JTIValid(ctx, jtiKey(jti), s.now().UnixMilli())
	if err != nil {
		return err
	}
	if !ok {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT records an assertion ID until exp; fosite.ErrJTIKnown
// if it is already recorded and unexpired (in one statement, so a replay
// racing on another node loses).
func (s *Storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.db.SetJTI(ctx, jtiKey(jti), exp.UnixMilli(), s.now().UnixMilli())
	if errors.Is(err, store.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return err
}

// CreateAuthorizeCodeSession stores the request behind a new code.
func (s *Storage) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, store.OAuthCode, signature, "", fosite.AuthorizeCode, r)
}

// GetAuthorizeCodeSession loads the request behind a code into session. For
// a code already redeemed it returns the request AND
// fosite.ErrInvalidatedAuthorizeCode, so fosite revokes the tokens issued
// from it; for an unknown code fosite.ErrNotFound.
func (s *Storage) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, store.OAuthCode, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession redeems a code. Only one caller ever
// succeeds; the others get fosite.ErrInvalidatedAuthorizeCode (fosite then
// fails their token request), and an unknown code is fosite.ErrNotFound.
func (s *Storage) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	return s.deactivate(ctx, store.OAuthCode, signature, fosite.ErrInvalidatedAuthorizeCode)
}

// CreateAccessTokenSession stores the request behind a new access token.
func (s *Storage) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, store.OAuthAccess, signature, "", fosite.AccessToken, r)
}

// GetAccessTokenSession loads the request behind an access token into
// session; fosite.ErrInactiveToken once revoked, fosite.ErrNotFound if
// unknown.
func (s *Storage) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, store.OAuthAccess, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteAccessTokenSession removes an access token.
func (s *Storage) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.db.DeleteOAuthRequest(ctx, store.OAuthAccess, signature)
}

// CreateRefreshTokenSession stores the request behind a new refresh token
// and the signature of the access token issued with it.
func (s *Storage) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	return s.create(ctx, store.OAuthRefresh, signature, accessSignature, fosite.RefreshToken, r)
}

// GetRefreshTokenSession loads the request behind a refresh token into
// session. For a rotated or revoked token it returns the request AND
// fosite.ErrInactiveToken, which makes fosite revoke the whole grant (reuse
// detection); for an unknown token fosite.ErrNotFound.
func (s *Storage) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, store.OAuthRefresh, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession removes a refresh token.
func (s *Storage) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.db.DeleteOAuthRequest(ctx, store.OAuthRefresh, signature)
}

// RotateRefreshToken spends a refresh token, at most once across nodes, and
// revokes the grant's access tokens. A token already spent by a concurrent
// request gives fosite.ErrInactiveToken (fosite answers "retry"). There is
// no grace period: a client retrying with the old token after a lost
// response loses the grant.
func (s *Storage) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if err := s.deactivate(ctx, store.OAuthRefresh, signature, fosite.ErrInactiveToken); err != nil {
		return err
	}
	return s.RevokeAccessToken(ctx, requestID)
}

// RevokeRefreshToken deactivates every refresh token of a grant.
func (s *Storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.db.DeactivateOAuthRequests(ctx, store.OAuthRefresh, requestID)
	return err
}

// RevokeAccessToken deactivates every access token of a grant.
func (s *Storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.db.DeactivateOAuthRequests(ctx, store.OAuthAccess, requestID)
	return err
}

// CreatePKCERequestSession stores the PKCE challenge of a code.
func (s *Storage) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, store.OAuthPKCE, signature, "", fosite.AuthorizeCode, r)
}

// GetPKCERequestSession loads the PKCE challenge of a code into session.
func (s *Storage) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, store.OAuthPKCE, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, fosite.ErrNotFound
	}
	return req, nil
}

// DeletePKCERequestSession removes the PKCE challenge of a code.
func (s *Storage) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.db.DeleteOAuthRequest(ctx, store.OAuthPKCE, signature)
}

// parKey is the stored form of a request_uri, which is a bearer capability.
func parKey(requestURI string) string {
	h := sha256.Sum256([]byte(requestURI))
	return hex.EncodeToString(h[:])
}

// CreatePARSession stores a pushed authorization request under the hash of
// its request_uri, with its whole form but the client's credentials.
func (s *Storage) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	row, err := s.row(store.OAuthPAR, parKey(requestURI), "", fosite.PushedAuthorizeRequestContext, r, r.GetRequestForm())
	if err != nil {
		return err
	}
	// fosite sets the expiry from the wall clock; GetPARSession checks it
	// against ours. Keep the lifetime fosite meant and start it on our clock,
	// so the two agree whatever the clock (tests move theirs).
	lifetime := defaultPARLifespan
	if row.ExpiresAt != 0 {
		if d := time.Until(time.UnixMilli(row.ExpiresAt)); d > 0 {
			lifetime = d
		}
	}
	row.ExpiresAt = s.now().Add(lifetime).UnixMilli()
	return s.db.CreateOAuthRequest(ctx, row)
}

// errPARExpired refuses a pushed request used after its lifetime.
var errPARExpired = errors.New("pushed authorization request expired")

// GetPARSession redeems a pushed request: it is usable once (the row is
// deactivated in one conditional statement before it is read) and only
// before it expires. An unknown, spent or expired request_uri is an error,
// which fosite reports as invalid_request_uri.
func (s *Storage) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	key := parKey(requestURI)
	ok, err := s.db.DeactivateOAuthRequest(ctx, store.OAuthPAR, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fosite.ErrNotFound
	}
	row, err := s.db.OAuthRequest(ctx, store.OAuthPAR, key)
	if err != nil {
		return nil, storeErr(err)
	}
	if row.ExpiresAt <= s.now().UnixMilli() {
		return nil, errPARExpired
	}
	req, err := s.request(ctx, row, nil)
	if err != nil {
		return nil, err
	}
	// Rebuild what fosite derived from the form when it accepted the pushed
	// request; it does not validate these again on the authorize call.
	ar := fosite.NewAuthorizeRequest()
	ar.Request = *req
	ar.State = req.Form.Get("state")
	ar.ResponseTypes = fosite.RemoveEmpty(strings.Split(req.Form.Get("response_type"), " "))
	if rm := req.Form.Get("response_mode"); rm != "" {
		ar.ResponseMode = fosite.ResponseModeType(rm)
	}
	redirect, err := fosite.MatchRedirectURIWithClientRedirectURIs(req.Form.Get("redirect_uri"), req.Client)
	if err != nil {
		return nil, err
	}
	if !fosite.IsValidRedirectURI(redirect) {
		return nil, fmt.Errorf("pushed request: invalid redirect URI")
	}
	ar.RedirectURI = redirect
	return ar, nil
}

// DeletePARSession removes a pushed request.
func (s *Storage) DeletePARSession(ctx context.Context, requestURI string) error {
	return s.db.DeleteOAuthRequest(ctx, store.OAuthPAR, parKey(requestURI))
}

// create stores a requester as a row of kind.
func (s *Storage) create(ctx context.Context, kind, signature, accessSignature string, exp fosite.TokenType, r fosite.Requester) error {
	row, err := s.row(kind, signature, accessSignature, exp, r, r.GetRequestForm())
	if err != nil {
		return err
	}
	return s.db.CreateOAuthRequest(ctx, row)
}

func (s *Storage) row(kind, signature, accessSignature string, exp fosite.TokenType, r fosite.Requester, form url.Values) (*store.OAuthRequest, error) {
	sess := r.GetSession()
	if sess == nil {
		return nil, errors.New("oauth storage: request without session")
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("oauth storage: encode session: %w", err)
	}
	clean := url.Values{}
	for k, v := range form {
		clean[k] = v
	}
	for _, k := range secretParams {
		clean.Del(k)
	}
	var expires int64
	if t := sess.GetExpiresAt(exp); !t.IsZero() {
		expires = t.UnixMilli()
	}
	client := ""
	if c := r.GetClient(); c != nil {
		client = c.GetID()
	}
	return &store.OAuthRequest{
		Kind:              kind,
		Signature:         signature,
		RequestID:         r.GetID(),
		ClientID:          client,
		Subject:           sess.GetSubject(),
		RequestedAt:       r.GetRequestedAt().UnixMilli(),
		ExpiresAt:         expires,
		Active:            true,
		Form:              clean.Encode(),
		RequestedScopes:   nonNil(r.GetRequestedScopes()),
		GrantedScopes:     nonNil(r.GetGrantedScopes()),
		RequestedAudience: nonNil(r.GetRequestedAudience()),
		GrantedAudience:   nonNil(r.GetGrantedAudience()),
		Session:           data,
		AccessSignature:   accessSignature,
	}, nil
}

func nonNil(a fosite.Arguments) []string {
	if a == nil {
		return []string{}
	}
	return a
}

// get loads a row and rebuilds its request, decoding the session into
// session (fosite passes a pointer to the concrete type it wants filled; nil
// means a fresh *Session). It reports whether the row is active.
func (s *Storage) get(ctx context.Context, kind, signature string, session fosite.Session) (*fosite.Request, bool, error) {
	row, err := s.db.OAuthRequest(ctx, kind, signature)
	if err != nil {
		return nil, false, storeErr(err)
	}
	req, err := s.request(ctx, row, session)
	if err != nil {
		return nil, false, err
	}
	return req, row.Active, nil
}

func (s *Storage) request(ctx context.Context, row *store.OAuthRequest, session fosite.Session) (*fosite.Request, error) {
	if session == nil {
		session = new(Session)
	}
	if err := json.Unmarshal(row.Session, session); err != nil {
		return nil, fmt.Errorf("oauth storage: decode session: %w", err)
	}
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err // a deleted client's grants die with it
	}
	form, err := url.ParseQuery(row.Form)
	if err != nil {
		return nil, fmt.Errorf("oauth storage: decode form: %w", err)
	}
	req := fosite.NewRequest()
	req.ID = row.RequestID
	req.RequestedAt = time.UnixMilli(row.RequestedAt).UTC()
	req.Client = client
	req.RequestedScope = fosite.Arguments(row.RequestedScopes)
	req.GrantedScope = fosite.Arguments(row.GrantedScopes)
	req.RequestedAudience = fosite.Arguments(row.RequestedAudience)
	req.GrantedAudience = fosite.Arguments(row.GrantedAudience)
	req.Form = form
	req.Session = session
	return req, nil
}

// deactivate spends an active row: once only. A row already inactive gives
// spent; a missing row fosite.ErrNotFound.
func (s *Storage) deactivate(ctx context.Context, kind, signature string, spent error) error {
	ok, err := s.db.DeactivateOAuthRequest(ctx, kind, signature)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if _, err := s.db.OAuthRequest(ctx, kind, signature); err != nil {
		return storeErr(err)
	}
	return spent
}

// storeErr maps the store's not-found to fosite's.
func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}
