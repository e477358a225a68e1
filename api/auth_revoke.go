package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// revoke revokes one of the caller's tokens (CSC API §11.3). A refresh token
// takes its whole login with it; an access token only itself.
func (s *Server) revoke(c echo.Context, _ version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	token, err := b.requiredString("token")
	if err != nil {
		return err
	}
	hint, err := b.optionalString("token_type_hint")
	if err != nil || (hint != "" && hint != "access_token" && hint != "refresh_token") {
		return invalid("Invalid string parameter token_type_hint")
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	if err := s.tokens.Revoke(c.Request().Context(), principal(c), token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
