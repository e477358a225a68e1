package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// errorBody is the one shape of every error answer (CSC API §10.1).
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// statusError is a refusal whose HTTP status is not the one its code implies.
type statusError struct {
	status int
	err    *sam.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(status int, err *sam.Error) error { return &statusError{status: status, err: err} }

// invalid returns an invalid_request refusal with a description from the
// CSC tables.
func invalid(description string) *sam.Error {
	return &sam.Error{Code: "invalid_request", Description: description}
}

// Common refusals raised by the HTTP layer itself.
var (
	errUnknownMethod       = invalid("Unknown method")
	errBadHTTPMethod       = invalid("Method not allowed")
	errBodyTooLarge        = invalid("Request body too large")
	errBadJSON             = invalid("The request body is not a JSON object")
	errOverloaded          = &sam.Error{Code: "temporarily_unavailable", Description: "The service is overloaded, try again later"}
	errCredentialTokenHere = &sam.Error{Code: "invalid_token", Description: "A credential token is valid for credentials/info, signatures/signHash and signatures/signDoc only"}
	errNotImplemented      = invalid("The method is not implemented by this service")
	errTooManyRequests     = &sam.Error{Code: "temporarily_unavailable", Description: "Too many requests, try again later"}
	errMissingBearer       = invalid("Malformed authorization header")
)

// statusFor maps an error code to its HTTP status (CSC API §10, Table 2).
func statusFor(code string) int {
	switch code {
	case "invalid_token", "expired_token", "invalid_client":
		return http.StatusUnauthorized
	case "invalid_hash", "access_denied":
		return http.StatusForbidden
	case "server_error":
		return http.StatusInternalServerError
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// v1Names rewrites v2 parameter names in descriptions to their v1 spelling.
var v1Names = strings.NewReplacer(
	"parameter hashAlgorithmOID", "parameter hashAlgo",
	"array parameter hashes", "array parameter hash",
)

// renderError is the server's only error renderer (echo's HTTPErrorHandler).
// Refusals (sam.Error) are written as they are; echo's own errors become CSC
// errors; anything else is logged with its detail and answered with a bare
// server_error.
func (s *Server) renderError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.classify(err, c)
	if strings.HasPrefix(c.Path(), "/csc/v1/") {
		body.Description = v1Names.Replace(body.Description)
	}
	c.Set(ctxErrorCode, body.Error)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func (s *Server) classify(err error, c echo.Context) (int, errorBody) {
	var se *statusError
	if errors.As(err, &se) {
		s.logCause(c, se.err)
		return se.status, errorBody{Error: se.err.Code, Description: se.err.Description}
	}
	var e *sam.Error
	if errors.As(err, &e) {
		s.logCause(c, e)
		return statusFor(e.Code), errorBody{Error: e.Code, Description: e.Description}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, errorBody{Error: errUnknownMethod.Code, Description: errUnknownMethod.Description}
		case http.StatusMethodNotAllowed:
			return he.Code, errorBody{Error: errBadHTTPMethod.Code, Description: errBadHTTPMethod.Description}
		case http.StatusRequestEntityTooLarge:
			return he.Code, errorBody{Error: errBodyTooLarge.Code, Description: errBodyTooLarge.Description}
		case http.StatusUnauthorized, http.StatusBadRequest:
			return http.StatusBadRequest, errorBody{Error: "invalid_request", Description: http.StatusText(he.Code)}
		}
	}
	s.log.ErrorContext(c.Request().Context(), "request failed", slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
	return http.StatusInternalServerError, errorBody{Error: sam.ErrInternal.Code, Description: sam.ErrInternal.Description}
}

// logCause logs the internal cause of a refusal, if it has one worth logging.
// Causes never contain secrets: the SAM and the token service build them
// from identifiers and states only.
func (s *Server) logCause(c echo.Context, e *sam.Error) {
	cause := errors.Unwrap(e)
	if cause == nil {
		return
	}
	level := slog.LevelInfo
	if e.Code == sam.ErrInternal.Code {
		level = slog.LevelError
	}
	s.log.Log(c.Request().Context(), level, "request refused", slog.String("request_id", requestID(c)),
		slog.String("error", e.Code), slog.String("cause", cause.Error()))
}
