package api

import (
	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// credentialsExtend supersedes an unexpired SAD with a fresh one for the
// rest of its count (CSC API §11.7 v1 / §11.9 v2).
func (s *Server) credentialsExtend(c echo.Context, v version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	id, err := b.requiredString("credentialID")
	if err != nil {
		return err
	}
	sad, err := b.requiredString("SAD")
	if err != nil {
		return err
	}
	hn, an := hashNames(v)
	hashes, _, err := b.hashArray(hn)
	if err != nil {
		return err
	}
	hashOID, err := b.optionalString(an)
	if err != nil {
		return invalidParam(an)
	}
	if hashOID != "" {
		if _, ok := sam.HashForOID(hashOID); !ok {
			return invalidParam(an)
		}
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	p := principal(c)
	signerID, err := s.actingSigner(c.Request().Context(), p, id)
	if err != nil {
		return err
	}
	issued, err := s.sam.ExtendTransaction(c.Request().Context(), sam.ExtendRequest{
		CredentialID: id, SignerID: signerID, ClientID: p.ClientID, SAD: sad, HashAlgorithm: hashOID, Hashes: hashes,
	})
	if err != nil {
		return err
	}
	return s.sadResponse(c, issued)
}
