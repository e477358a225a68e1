package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/oauth"
)

// Context keys.
const (
	ctxRequestID = "rssp.request_id"
	ctxPrincipal = "rssp.principal"
	ctxErrorCode = "rssp.error_code"
)

// HeaderRequestID carries the request ID in and out.
const HeaderRequestID = "X-Request-Id"

// requestIDPattern is what we accept from a client or proxy as request ID;
// anything else is replaced, so a log line never carries arbitrary input.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (s *Server) requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !requestIDPattern.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(HeaderRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// accessLog writes one structured line per request: method, route, status,
// duration, request ID, CSC error code. Never bodies, headers, query strings
// or tokens.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err) // normally rendered further in (metrics); here only as a fallback
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("route", routeOf(c)),
			slog.Int("status", c.Response().Status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.RealIP()),
		}
		if code, ok := c.Get(ctxErrorCode).(string); ok {
			attrs = append(attrs, slog.String("error", code))
		}
		if p, ok := c.Get(ctxPrincipal).(oauth.Principal); ok {
			attrs = append(attrs, slog.String("signer", p.SignerID), slog.String("client", p.ClientID))
		}
		s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
		return nil
	}
}

// routeOf is the matched route, or "unmatched" (never the raw path, which
// a client controls).
func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" && c.Response().Status != http.StatusNotFound {
		return p
	}
	return "unmatched"
}

// recoverPanics turns a panic into server_error and logs its stack.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic", slog.String("request_id", requestID(c)), slog.String("panic", fmt.Sprint(r)),
					slog.String("stack", string(debug.Stack())))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// authenticate requires a Bearer service token and puts its principal in
// the context.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			return withStatus(http.StatusUnauthorized, oauth.ErrInvalidToken)
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return errMissingBearer
		}
		p, err := s.tokens.Authenticate(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Set(ctxPrincipal, p)
		return next(c)
	}
}

func principal(c echo.Context) oauth.Principal {
	p, _ := c.Get(ctxPrincipal).(oauth.Principal)
	return p
}

// refuseCredentialTokens keeps credential-scope tokens (SADs) to the methods
// that take them: credentials/info and signatures/signHash.
func refuseCredentialTokens(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if principal(c).Scope == oauth.ScopeCredential {
			return withStatus(http.StatusUnauthorized, errCredentialTokenHere)
		}
		return next(c)
	}
}
