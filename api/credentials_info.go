package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
)

// credentialsInfo describes one of the caller's credentials (CSC API §11.5).
func (s *Server) credentialsInfo(c echo.Context, v version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	id, err := b.requiredString("credentialID")
	if err != nil {
		return err
	}
	opts, err := readInfoOptions(b)
	if err != nil {
		return err
	}
	lang, err := b.optionalString("lang")
	if err != nil {
		return err
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	if p.Scope == oauth.ScopeCredential && p.CredentialID != id {
		return sam.ErrCredentialInvalid
	}
	cred, err := s.ownCredential(ctx, p.SignerID, id)
	if err != nil {
		return err
	}
	vw, err := s.credentialView(ctx, cred, opts)
	if err != nil {
		return err
	}
	if v == v1 {
		return c.JSON(http.StatusOK, vw.v1(lang))
	}
	return c.JSON(http.StatusOK, vw.v2(lang))
}
