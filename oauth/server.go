package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	storage  *Storage
	sam      Approver
	db       FlowStore
	now      func() time.Time
	log      *slog.Logger
	pages    *pages
}

// ServerDeps are the authorization server's collaborators.
type ServerDeps struct {
	Storage *Storage
	SAM     Approver
	DB      FlowStore
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
}

// NewServer builds the authorization server. globalSecret (at least 32
// bytes) keys fosite's token HMACs; every node must use the same one. cscd
// derives it in the HSM, so it is never stored.
func NewServer(cfg ServerConfig, d ServerDeps, globalSecret []byte) (*Server, error) {
	storage := d.Storage
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
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
	return &Server{cfg: cfg, provider: p, storage: storage, sam: d.SAM, db: d.DB, now: d.Now, log: d.Logger, pages: pg}, nil
}

// Token is oauth2/token. For client_credentials it grants scope service,
// the default when none is asked for; the credential scope needs the
// signer's approval and never comes from this grant.
func (s *Server) Token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w = challengeWriter{w, r}
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
	sess, _ := ar.GetSession().(*Session)
	if sess != nil && len(sess.AuthorizationDetails) > 0 {
		// RFC 9396 and CSC: authorization_details must be repeated at the
		// token endpoint, for the same credential and documents.
		if err := sameDetails(sess.AuthorizationDetails, ar.GetRequestForm().Get("authorization_details")); err != nil {
			s.provider.WriteAccessError(ctx, w, ar, err)
			return
		}
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantedScopes().Has(ScopeCredential) && sess != nil {
		// The credential token is the SAD the signer's approval created,
		// derived from the code; fosite's own access token is revoked.
		if err := s.credentialToken(ctx, ar, resp, sess); err != nil {
			s.provider.WriteAccessError(ctx, w, ar, err)
			return
		}
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// credentialToken puts the SAD in place of fosite's access token.
func (s *Server) credentialToken(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder, sess *Session) error {
	code := ar.GetRequestForm().Get("code")
	token, err := s.sam.CredentialToken(ctx, code)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	b, err := s.sam.Bearer(ctx, token)
	if err != nil {
		return fosite.ErrInvalidGrant.WithDescription("The approval behind this code is no longer usable").WithWrap(err)
	}
	if err := s.storage.RevokeAccessToken(ctx, ar.GetID()); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("Bearer")
	resp.SetExpiresIn(time.Until(b.ExpiresAt).Round(time.Second))
	resp.SetExtra("credentialID", b.CredentialID)
	if len(sess.AuthorizationDetails) > 0 {
		var details []map[string]any
		if err := json.Unmarshal(sess.AuthorizationDetails, &details); err == nil && len(details) == 1 {
			details[0]["credentialID"] = b.CredentialID
			resp.SetExtra("authorization_details", details)
		}
	}
	return nil
}

// sameDetails checks that the authorization_details repeated at the token
// endpoint ask for what was approved.
func sameDetails(approved []byte, repeated string) error {
	if repeated == "" {
		return fosite.ErrInvalidRequest.WithDescription("authorization_details must be repeated at the token endpoint")
	}
	a, err1 := ParseAuthorizationDetails(string(approved))
	b, err2 := ParseAuthorizationDetails(repeated)
	if err1 != nil || err2 != nil || a.CredentialID != b.CredentialID || a.HashAlgorithmOID != b.HashAlgorithmOID ||
		a.NumSignatures != b.NumSignatures || len(a.Documents) != len(b.Documents) {
		return fosite.ErrInvalidRequest.WithDescription("authorization_details differ from the approved ones")
	}
	for i := range a.Documents {
		if !bytes.Equal(a.Documents[i].Hash, b.Documents[i].Hash) {
			return fosite.ErrInvalidRequest.WithDescription("authorization_details differ from the approved ones")
		}
	}
	return nil
}

// PushedAuthorize is oauth2/pushed_authorize (RFC 9126): 201 with a
// request_uri that expires and works once. The CSC parameters are checked
// here already, so a bad request fails before the signer sees a page.
func (s *Server) PushedAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w = challengeWriter{w, r}
	if err := r.ParseForm(); err == nil && r.PostForm.Get("state") == "" {
		r.PostForm.Set("state", noState)
		r.Form.Set("state", noState)
	}
	ar, err := s.provider.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	if _, err := parseCSC(ar.GetRequestForm(), ar.GetRequestedScopes()); err != nil {
		s.provider.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	resp, err := s.provider.NewPushedAuthorizeResponse(ctx, ar, NewSession(""))
	if err != nil {
		s.provider.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	s.provider.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// challengeWriter adds the WWW-Authenticate header RFC 6749 §5.2 requires
// on a 401 invalid_client answer to a client that used HTTP Basic; fosite
// writes the status and body but not the header.
type challengeWriter struct {
	http.ResponseWriter
	r *http.Request
}

func (c challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized && strings.HasPrefix(strings.ToLower(c.r.Header.Get("Authorization")), "basic ") {
		c.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
	}
	c.ResponseWriter.WriteHeader(status)
}

// Revoke is oauth2/revoke (RFC 7009). It answers 204, as the CSC API says;
// revoking a refresh token also revokes the access tokens of its grant.
func (s *Server) Revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w = challengeWriter{w, r}
	if err := r.ParseForm(); err == nil && s.sam != nil {
		if tok := r.PostForm.Get("token"); tok != "" && !strings.HasPrefix(tok, "ory_") {
			// Perhaps a credential token (a SAD): only its own client may
			// revoke it. fosite authenticates the client.
			if f, ok := s.provider.(*fosite.Fosite); ok {
				client, err := f.AuthenticateClient(ctx, r, r.PostForm)
				if err != nil {
					s.provider.WriteRevocationResponse(ctx, w, fosite.ErrInvalidClient.WithWrap(err))
					return
				}
				_ = s.sam.RevokeSADOf(ctx, tok, client.GetID()) // unknown tokens are not an error (RFC 7009)
			}
		}
	}
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
		"authorization_endpoint":                     s.cfg.Issuer + "/oauth2/authorize",
		"token_endpoint":                             s.cfg.Issuer + "/oauth2/token",
		"revocation_endpoint":                        s.cfg.Issuer + "/oauth2/revoke",
		"pushed_authorization_request_endpoint":      s.cfg.Issuer + "/oauth2/pushed_authorize",
		"grant_types_supported":                      []string{"authorization_code", "client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                           []string{ScopeService, ScopeCredential},
		"code_challenge_methods_supported":           pkce,
		"response_types_supported":                   []string{"code"},
		"authorization_details_types_supported":      []string{DetailTypeCredential, DetailTypeCredentialURI},
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
	p, err := t.Logins.Authenticate(ctx, bearer)
	if !errors.Is(err, ErrInvalidToken) || t.OAuth == nil || t.OAuth.sam == nil {
		return p, err
	}
	// A credential token: the SAD itself, usable for its credential only.
	b, serr := t.OAuth.sam.Bearer(ctx, bearer)
	switch {
	case errors.Is(serr, sam.ErrSADExpired):
		return Principal{}, ErrExpiredToken
	case serr != nil:
		return Principal{}, ErrInvalidToken
	}
	return Principal{SignerID: b.SignerID, ClientID: b.ClientID, Scope: ScopeCredential, CredentialID: b.CredentialID, SAD: bearer}, nil
}
