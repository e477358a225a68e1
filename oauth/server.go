package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/openrssp/rssp/sam"
)

// Scopes of OAuth tokens.
const ScopeCredential = "credential"

// ServerConfig configures the authorization server.
type ServerConfig struct {
	// Issuer is the server's public base URL (RFC 8414 issuer), without a
	// trailing slash; the endpoints live under Issuer + "/oauth2/".
	Issuer     string
	AccessTTL  time.Duration // default 1h
	RefreshTTL time.Duration // default 24h
	CodeTTL    time.Duration // default 5m
	PARTTL     time.Duration // default 90s
	// AllowPlainPKCE admits code_challenge_method=plain (CSC's default);
	// off, only S256 is accepted.
	AllowPlainPKCE bool
	// HashCost is the bcrypt cost client secrets are checked with (default 10).
	HashCost int
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, time.Hour)
	def(&c.RefreshTTL, 24*time.Hour)
	def(&c.CodeTTL, 5*time.Minute)
	def(&c.PARTTL, 90*time.Second)
	if c.HashCost == 0 {
		c.HashCost = 10
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	return c
}

// Server is the OAuth 2.0 authorization server on ory/fosite: token and
// revocation endpoints and RFC 8414 metadata. Access tokens are fosite's
// opaque HMAC tokens ("ory_at_..."), looked up by signature in the database,
// so a revocation takes effect on every node at once.
type Server struct {
	cfg      ServerConfig
	provider fosite.OAuth2Provider
}

// NewServer builds the authorization server. globalSecret (at least 32
// bytes) keys fosite's token HMACs; every node must use the same one. cscd
// derives it in the HSM, so it is never stored.
func NewServer(cfg ServerConfig, storage *Storage, globalSecret []byte) (*Server, error) {
	if len(globalSecret) < 32 {
		return nil, errors.New("oauth: global secret must be at least 32 bytes")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("oauth: issuer is required")
	}
	cfg = cfg.withDefaults()
	fc := &fosite.Config{
		GlobalSecret:                   globalSecret,
		AccessTokenLifespan:            cfg.AccessTTL,
		RefreshTokenLifespan:           cfg.RefreshTTL,
		AuthorizeCodeLifespan:          cfg.CodeTTL,
		PushedAuthorizeContextLifespan: cfg.PARTTL,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: cfg.AllowPlainPKCE,
		// CSC: refresh tokens only for scope service, never for credential.
		RefreshTokenScopes: []string{ScopeService},
		ScopeStrategy:      fosite.ExactScopeStrategy,
		// CSC makes state optional; fosite would demand 8 characters.
		MinParameterEntropy: 1,
		HashCost:            cfg.HashCost,
	}
	// No ComposeAllEnabled: it would enable the implicit and password
	// grants, which CSC forbids.
	p := compose.Compose(fc, storage, compose.NewOAuth2HMACStrategy(fc),
		compose.OAuth2AuthorizeExplicitFactory, compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory, compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory, compose.OAuth2PKCEFactory, compose.PushedAuthorizeHandlerFactory)
	return &Server{cfg: cfg, provider: p}, nil
}

// Token is oauth2/token. For client_credentials it grants scope service,
// the default when none is asked for; the credential scope needs the
// signer's approval and never comes from this grant.
func (s *Server) Token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAccessRequest(ctx, r, NewSession(""))
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		scopes := ar.GetRequestedScopes()
		if len(scopes) == 0 {
			scopes = fosite.Arguments{ScopeService}
		}
		for _, sc := range scopes {
			if sc != ScopeService {
				s.provider.WriteAccessError(ctx, w, ar, fosite.ErrInvalidScope.WithDescription("client_credentials grants scope service only"))
				return
			}
			ar.GrantScope(sc)
		}
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// Revoke is oauth2/revoke (RFC 7009). It answers 204, as the CSC API says;
// revoking a refresh token also revokes the access tokens of its grant.
func (s *Server) Revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := s.provider.NewRevocationRequest(ctx, r); err != nil {
		s.provider.WriteRevocationResponse(ctx, w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// Metadata is the RFC 8414 authorization server metadata.
func (s *Server) Metadata(w http.ResponseWriter, _ *http.Request) {
	pkce := []string{"S256"}
	if s.cfg.AllowPlainPKCE {
		pkce = append(pkce, "plain")
	}
	md := map[string]any{
		"issuer":                                     s.cfg.Issuer,
		"token_endpoint":                             s.cfg.Issuer + "/oauth2/token",
		"revocation_endpoint":                        s.cfg.Issuer + "/oauth2/revoke",
		"grant_types_supported":                      []string{"client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                           []string{ScopeService},
		"code_challenge_methods_supported":           pkce,
		"response_types_supported":                   []string{},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(md)
}

// TokenPrefix marks the access tokens this server issues.
const TokenPrefix = "ory_at_"

// Authenticate resolves an access token of this server to its principal.
// A client_credentials token names the client and no signer: it may act for
// any signer, who must still authorise every signature with their own
// factors.
func (s *Server) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > maxTokenLen {
		return Principal{}, ErrInvalidToken
	}
	_, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, NewSession(""))
	switch {
	case errors.Is(err, fosite.ErrTokenExpired):
		return Principal{}, ErrExpiredToken
	case errors.Is(err, fosite.ErrInactiveToken), errors.Is(err, fosite.ErrTokenSignatureMismatch),
		errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrRequestUnauthorized), errors.Is(err, fosite.ErrInvalidTokenFormat):
		return Principal{}, ErrInvalidToken
	case err != nil:
		var rfc *fosite.RFC6749Error
		if errors.As(err, &rfc) && rfc.CodeField != http.StatusInternalServerError {
			return Principal{}, ErrInvalidToken
		}
		return Principal{}, sam.ErrInternal.With(err)
	}
	if !ar.GetGrantedScopes().Has(ScopeService) {
		return Principal{}, ErrInvalidToken
	}
	return Principal{SignerID: ar.GetSession().GetSubject(), ClientID: ar.GetClient().GetID(), Scope: ScopeService, TokenID: ar.GetID()}, nil
}

// Tokens authenticates the bearer tokens of the CSC API: auth/login tokens
// and this server's access tokens.
type Tokens struct {
	*Logins
	OAuth *Server
}

// Authenticate resolves either kind of token.
func (t Tokens) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	if t.OAuth != nil && strings.HasPrefix(bearer, TokenPrefix) {
		return t.OAuth.Authenticate(ctx, bearer)
	}
	return t.Logins.Authenticate(ctx, bearer)
}
