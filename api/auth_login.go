package api

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/oauth"
)

type loginResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
}

var (
	errMalformedAuth    = invalid("Malformed authentication parameter.")
	errMalformedUserPwd = invalid("Malformed username-password.")
	errRefreshType      = invalid("Invalid string parameter: refresh_token")
)

// login authenticates the user with HTTP Basic, or exchanges a refresh token
// given in the body, and issues a service access token (CSC API §11.2).
func (s *Server) login(c echo.Context, _ version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	remember, err := b.optionalBool("rememberMe")
	if err != nil {
		return err
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var issued oauth.Issued
	if b.present("refresh_token") {
		rt, _, err := b.str("refresh_token")
		if err != nil || rt == "" {
			return errRefreshType
		}
		if issued, err = s.tokens.Refresh(ctx, rt); err != nil {
			return err
		}
	} else {
		user, pass, err := basicAuth(c.Request().Header.Get(echo.HeaderAuthorization))
		if err != nil {
			return err
		}
		if issued, err = s.tokens.Login(ctx, user, pass, remember); err != nil {
			return err
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, loginResponse{AccessToken: issued.AccessToken, RefreshToken: issued.RefreshToken, ExpiresIn: issued.ExpiresIn})
}

// basicAuth parses "Basic base64(user:password)".
func basicAuth(h string) (user, pass string, err error) {
	scheme, enc, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", withStatus(http.StatusUnauthorized, errMalformedAuth)
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if derr != nil {
		return "", "", withStatus(http.StatusUnauthorized, errMalformedAuth)
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return "", "", errMalformedUserPwd
	}
	return user, pass, nil
}
