// Package api serves the CSC API v2 (under /csc/v2) and v1 (under /csc/v1)
// over echo, plus health, readiness, metrics and the OpenAPI document.
//
// Handlers are thin: decode the body field by field (so that every bad field
// gets the description the CSC tables give it), make one call into the SAM or
// the token service, render. Every error, whatever its source, is written by
// one renderer (errors.go). The HTTP layer never touches keys, factors or the
// HSM: it holds no secret longer than the request that carries it, and it
// never logs a request body, a header or a token.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"github.com/prometheus/client_golang/prometheus"
)

// ServiceInfo is what info says about the service.
type ServiceInfo struct {
	Name        string
	Logo        string
	Region      string
	Lang        string
	Description string
}

// Config tunes the HTTP layer.
type Config struct {
	Service      ServiceInfo
	MaxBodyBytes int64 // per request body (default 1 MiB)
	MaxInFlight  int   // concurrent CSC requests before 503 (default 256)
	// MaxDocumentBytes limits the body of signatures/signDoc, which carries
	// whole documents in base64 (default 32 MiB), and MaxDocumentsInFlight
	// the signDoc requests handled at once (default 4): each holds its
	// documents in memory several times over.
	MaxDocumentBytes     int64
	MaxDocumentsInFlight int
	// LoginRate and LoginBurst bound failed auth/login attempts per client
	// address (default 1 per second after a burst of 20): each attempt
	// costs an argon2id check, and the per-signer lockout does not stop one
	// client trying many usernames. Successful logins cost nothing, so an
	// SCA logging in many users from one address is not slowed down. A
	// client over the bound gets 429 before its password is checked.
	LoginRate  float64
	LoginBurst int
	// OAuth2URL is the base URL of our authorization server, which info
	// reports as oauth2 when Deps.OAuth is set.
	OAuth2URL string
	// TimestampRate and TimestampBurst bound the unauthenticated RFC 3161
	// endpoint per client address (default 10 per second after a burst of
	// 20): every answer costs an HSM signature and an audit record.
	TimestampRate  float64
	TimestampBurst int
	// RevocationRate and RevocationBurst bound the unauthenticated CRL, CA
	// certificate and OCSP endpoints per client address (default 50 per
	// second after a burst of 100): answers come from caches, but each
	// costs database reads, and an OCSP request for a new serial a
	// signature.
	RevocationRate  float64
	RevocationBurst int
}

// Signing is what the handlers need from the SAM.
type Signing interface {
	Authorize(ctx context.Context, req sam.AuthorizeRequest) (sam.IssuedSAD, error)
	ExtendTransaction(ctx context.Context, req sam.ExtendRequest) (sam.IssuedSAD, error)
	SignHash(ctx context.Context, req sam.SignRequest) ([][]byte, error)
	SignDoc(ctx context.Context, req sam.SignDocRequest) ([]sam.SignedDocument, error)
	// SendOTP sends a one-time code by SMS (credentials/sendOTP, getChallenge).
	SendOTP(ctx context.Context, req sam.OTPRequest) (string, error)
}

var _ Signing = (*sam.SAM)(nil)

// Tokens is what the handlers need from the token service.
type Tokens interface {
	Login(ctx context.Context, username, password string, rememberMe bool) (oauth.Issued, error)
	Refresh(ctx context.Context, refreshToken string) (oauth.Issued, error)
	Authenticate(ctx context.Context, bearer string) (oauth.Principal, error)
	Revoke(ctx context.Context, p oauth.Principal, token string) error
}

var _ Tokens = (*oauth.Logins)(nil)

// OAuthEndpoints is the authorization server's HTTP surface.
type OAuthEndpoints interface {
	Authorize(w http.ResponseWriter, r *http.Request)
	PushedAuthorize(w http.ResponseWriter, r *http.Request)
	Token(w http.ResponseWriter, r *http.Request)
	Revoke(w http.ResponseWriter, r *http.Request)
	Metadata(w http.ResponseWriter, r *http.Request)
	// The signer's pages.
	Login(w http.ResponseWriter, r *http.Request)
	Consent(w http.ResponseWriter, r *http.Request)
	OTP(w http.ResponseWriter, r *http.Request)
}

var _ OAuthEndpoints = (*oauth.Server)(nil)

// ReadModel is the read-only view of signers and credentials the handlers
// render.
type ReadModel interface {
	SignerByUsername(ctx context.Context, username string) (*store.Signer, error)
	Credential(ctx context.Context, id string) (*store.Credential, error)
	CredentialsOf(ctx context.Context, signerID string) ([]store.Credential, error)
	Factor(ctx context.Context, signerID, credentialID, kind string) (*store.Factor, error)
	OAuthClient(ctx context.Context, id string) (*store.OAuthClient, error)
}

var _ ReadModel = (*store.Store)(nil)

// Check is one readiness probe (database, HSM).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are the server's collaborators.
type Deps struct {
	SAM    Signing
	Tokens Tokens
	Store  ReadModel
	// TSA issues timestamps (signatures/timestamp and /tsa); optional.
	TSA Timestamping
	// Revocation publishes the development CA's certificate, CRL and OCSP
	// answers (/ca/cert, /ca/crl, /ocsp); optional.
	Revocation Revocation
	// OAuth serves oauth2/token, oauth2/revoke and the RFC 8414 metadata;
	// optional.
	OAuth  OAuthEndpoints
	Checks []Check
	// PoolStats reports the HSM signing pool (size, sessions in use); optional.
	PoolStats func() (size, inUse int)
	Logger    *slog.Logger
	Now       func() time.Time
	// Registry receives the metrics; nil creates a private one.
	Registry *prometheus.Registry
	// Admin serves the operators' admin API under /admin/v1 (admin.go);
	// nil leaves it off, its routes not registered.
	Admin Admin
	// Enrol serves the signers' enrolment pages under /enrol
	// (oauth.Enrolment); nil leaves them off.
	Enrol http.Handler
}

// Server is the CSC API HTTP handler.
type Server struct {
	cfg      Config
	sam      Signing
	tsa      Timestamping
	revo     Revocation
	tokens   Tokens
	db       ReadModel
	oauth    OAuthEndpoints
	checks   []Check
	log      *slog.Logger
	now      func() time.Time
	echo     *echo.Echo
	metrics  *metrics
	inflight chan struct{}
	// pki serves the PKI publications alone (PKIHandler).
	pki *echo.Echo
	// docSlots bounds the signDoc requests in flight.
	docSlots chan struct{}
	// loginLimit bounds failed auth/login attempts per client address.
	loginLimit *failureLimiter
	// tsaLimit bounds RFC 3161 requests per client address.
	tsaLimit *failureLimiter
	// revoLimit bounds CRL, CA certificate and OCSP requests per address.
	revoLimit *failureLimiter
}

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.MaxDocumentBytes <= 0 {
		cfg.MaxDocumentBytes = 32 << 20
	}
	if cfg.MaxDocumentsInFlight <= 0 {
		cfg.MaxDocumentsInFlight = 4
	}
	if cfg.LoginRate <= 0 {
		cfg.LoginRate = 1
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 20
	}
	if cfg.TimestampRate <= 0 {
		cfg.TimestampRate = 10
	}
	if cfg.TimestampBurst <= 0 {
		cfg.TimestampBurst = 20
	}
	if cfg.RevocationRate <= 0 {
		cfg.RevocationRate = 50
	}
	if cfg.RevocationBurst <= 0 {
		cfg.RevocationBurst = 100
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		cfg: cfg, sam: d.SAM, tsa: d.TSA, revo: d.Revocation, tokens: d.Tokens, db: d.Store, oauth: d.OAuth, checks: d.Checks, log: d.Logger, now: d.Now,
		inflight: make(chan struct{}, cfg.MaxInFlight),
		docSlots: make(chan struct{}, cfg.MaxDocumentsInFlight),
	}
	s.metrics = newMetrics(d.Registry, d.PoolStats)
	s.loginLimit = newFailureLimiter(cfg.LoginRate, cfg.LoginBurst, d.Now)
	s.tsaLimit = newFailureLimiter(cfg.TimestampRate, cfg.TimestampBurst, d.Now)
	s.revoLimit = newFailureLimiter(cfg.RevocationRate, cfg.RevocationBurst, d.Now)
	e := s.newEcho()
	s.routes(e, d.Registry)
	s.adminRoutes(e, d.Admin)
	s.enrolRoutes(e, d.Enrol)
	s.echo = e
	s.pki = s.newEcho()
	s.pkiRoutes(s.pki)
	s.pki.GET("/healthz", s.healthz)
	return s
}

// newEcho is an echo instance with the server's error renderer and
// middleware.
func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client address is the TCP peer: forwarded-for headers are
	// whatever the client wants them to be.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.renderError
	e.Use(s.requestIDs, s.accessLog, s.metrics.middleware(s), s.recoverPanics)
	return e
}

// Handler returns the HTTP handler of everything the server serves.
func (s *Server) Handler() http.Handler { return s.echo }

// PKIHandler serves only what relying parties fetch: the development CA's
// certificate, CRL and OCSP answers, and the RFC 3161 authority. They are
// meant for plain HTTP (RFC 5280 §4.2.1.13, RFC 6960 Appendix A): their
// answers are signed, and a validator cannot be asked to check a TLS
// certificate in order to fetch the data that checks certificates.
func (s *Server) PKIHandler() http.Handler { return s.pki }

// cscMethod is one CSC API method in one version.
type cscMethod struct {
	name    string // e.g. "credentials/info"
	auth    bool   // needs a Bearer service token
	handler func(s *Server, c echo.Context, v version) error
	// credentialToken: a credential-scope token (a SAD) is accepted too,
	// for its own credential (CSC API v2 §8.4).
	credentialToken bool
	// only limits the method to one version (0: both).
	only version
}

// version is the CSC API version a request came in under.
type version int

const (
	v1 version = 1
	v2 version = 2
)

// methods lists the CSC methods served, in the order info reports them.
var methods = []cscMethod{
	{"auth/login", false, (*Server).login, false, 0},
	{"auth/revoke", true, (*Server).revoke, false, 0},
	{"credentials/list", true, (*Server).credentialsList, false, 0},
	{"credentials/info", true, (*Server).credentialsInfo, true, 0},
	{"credentials/authorize", true, (*Server).credentialsAuthorize, false, 0},
	{"credentials/extendTransaction", true, (*Server).credentialsExtend, false, 0},
	{"credentials/sendOTP", true, (*Server).credentialsSendOTP, false, 0},
	{"credentials/getChallenge", true, (*Server).credentialsGetChallenge, false, v2},
	{"signatures/signHash", true, (*Server).signHash, true, 0},
	{"signatures/signDoc", true, (*Server).signDoc, true, v2},
	{"signatures/timestamp", true, (*Server).signaturesTimestamp, false, 0},
}

func (s *Server) routes(e *echo.Echo, reg *prometheus.Registry) {
	for _, v := range []version{v1, v2} {
		base := "/csc/v1/"
		if v == v2 {
			base = "/csc/v2/"
		}
		info := func(c echo.Context) error { return s.info(c, v) }
		e.POST(base+"info", info, s.limit)
		e.GET(base+"info", info, s.limit)
		for _, m := range methods {
			if m.only != 0 && m.only != v {
				continue
			}
			h := func(c echo.Context) error { return m.handler(s, c, v) }
			mw := []echo.MiddlewareFunc{s.limit}
			if m.auth {
				mw = append(mw, s.authenticate)
				if !m.credentialToken {
					mw = append(mw, refuseCredentialTokens)
				}
			}
			if m.name == "auth/login" {
				mw = append(mw, s.loginLimit.middleware)
			}
			e.POST(base+m.name, h, mw...)
		}
	}
	// Methods of the CSC API this server does not offer yet answer 501,
	// so a client can tell "not here" from "no such method".
	for _, name := range unimplementedV2 {
		e.POST("/csc/v2/"+name, notImplemented)
	}
	for _, name := range unimplementedV1 {
		e.POST("/csc/v1/"+name, notImplemented)
	}
	if s.oauth != nil {
		e.GET("/oauth2/authorize", s.oauthHandler(s.oauth.Authorize), s.limit)
		e.POST("/oauth2/pushed_authorize", s.oauthHandler(s.oauth.PushedAuthorize), s.limit)
		e.POST("/oauth2/token", s.oauthHandler(s.oauth.Token), s.limit)
		e.POST("/oauth2/revoke", s.oauthHandler(s.oauth.Revoke), s.limit)
		e.GET("/.well-known/oauth-authorization-server", s.oauthHandler(s.oauth.Metadata))
		e.POST("/oauth2/login", s.oauthHandler(s.oauth.Login), s.limit, s.loginLimit.middlewareHTTP)
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			e.Add(m, "/oauth2/consent", s.oauthHandler(s.oauth.Consent), s.limit)
			e.Add(m, "/oauth2/otp", s.oauthHandler(s.oauth.OTP), s.limit)
		}
	}
	s.pkiRoutes(e)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(metricsHandler(reg)))
	e.GET("/openapi.yaml", s.openapi)
	e.GET("/logo.png", s.logo)
}

// pkiRoutes registers the timestamp authority and the development CA's
// publications (see PKIHandler).
func (s *Server) pkiRoutes(e *echo.Echo) {
	if s.tsa != nil {
		e.POST("/tsa", s.rfc3161, s.limit, s.tsaLimit.middlewareEvery)
	}
	if s.revo != nil {
		mw := []echo.MiddlewareFunc{s.limit, s.revoLimit.middlewareEvery}
		e.GET(sam.CRLPath, s.caCRL, mw...)
		e.GET(sam.CACertPath, s.caCert, mw...)
		e.POST(sam.OCSPPath, s.ocspPost, mw...)
		e.GET(sam.OCSPPath+"/*", s.ocspGet, mw...)
	}
}

// enrolRoutes registers the enrolment pages. A wrong activation code costs
// the client address a failure like a wrong password on the login page.
func (s *Server) enrolRoutes(e *echo.Echo, enrol http.Handler) {
	if enrol == nil {
		return
	}
	h := s.oauthHandler(enrol.ServeHTTP)
	e.GET("/enrol", h, s.limit)
	e.POST("/enrol", h, s.limit, s.loginLimit.middlewareHTTP)
	for _, p := range []string{"/enrol/secrets", "/enrol/phone", "/enrol/totp"} {
		e.GET(p, h, s.limit)
		e.POST(p, h, s.limit)
	}
	e.GET("/enrol/done", h, s.limit)
}

// CSC methods not offered (yet): 501 rather than 404.
var (
	unimplementedV2 = []string{"credentials/authorizeCheck", "signatures/signPolling"}
	unimplementedV1 = []string{}
)

func notImplemented(echo.Context) error {
	return withStatus(http.StatusNotImplemented, errNotImplemented)
}

// methodNames are the names info lists for a version.
func methodNames(v version) []string {
	out := make([]string, 0, len(methods))
	for _, m := range methods {
		if m.only == 0 || m.only == v {
			out = append(out, m.name)
		}
	}
	return out
}

// oauthHandler hands a request to the authorization server with its body
// bounded like every other; fosite writes its own OAuth answers.
func (s *Server) oauthHandler(h http.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		c.Response().Header().Set("Cache-Control", "no-store")
		h(c.Response(), r)
		return nil
	}
}

// limit bounds the CSC requests in flight; beyond the bound the server
// answers 503 at once instead of queueing without end.
func (s *Server) limit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		select {
		case s.inflight <- struct{}{}:
			defer func() { <-s.inflight }()
			return next(c)
		default:
			return errOverloaded
		}
	}
}
