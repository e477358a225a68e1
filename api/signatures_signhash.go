package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
)

type signHashResponse struct {
	Signatures []string `json:"signatures"`
}

// credentialAndSAD reads credentialID and the SAD of a signing request. A
// credential token is the SAD itself, for its own credential only; a SAD in
// the body may repeat it.
func credentialAndSAD(c echo.Context, b body) (id, sad string, err error) {
	if id, err = b.requiredString("credentialID"); err != nil {
		return "", "", err
	}
	p := principal(c)
	sad, err = b.requiredString("SAD")
	if p.Scope == oauth.ScopeCredential {
		if p.CredentialID != id {
			return "", "", sam.ErrCredentialInvalid
		}
		if err != nil {
			sad, err = p.SAD, nil
		}
	}
	return id, sad, err
}

// signHash signs digests under a SAD (CSC API §11.9 v1 / §11.10 v2): one
// signature per hash, in request order, each verified by the SAM before it
// is returned.
func (s *Server) signHash(c echo.Context, v version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	id, sad, err := credentialAndSAD(c, b)
	if err != nil {
		return err
	}
	p := principal(c)
	hn, an := hashNames(v)
	hashes, ok, err := b.hashArray(hn)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("Missing (or invalid type) array parameter " + hn)
	}
	signAlgo, err := b.requiredString("signAlgo")
	if err != nil {
		return err
	}
	hashOID, err := b.optionalString(an)
	if err != nil {
		return invalidParam(an)
	}
	if hashOID == "" && (signAlgo == sam.OIDRSAEncryption || signAlgo == sam.OIDECPublicKey) {
		return missingString(an)
	}
	var params []byte
	if b.present("signAlgoParams") {
		p, _, err := b.str("signAlgoParams")
		if err != nil {
			return invalidParam("signAlgoParams")
		}
		if params, err = sam.DecodeBase64(p); err != nil {
			return invalidParam("signAlgoParams")
		}
	}
	if v == v2 {
		mode, err := b.optionalString("operationMode")
		if err != nil || (mode != "" && mode != "S") {
			// Asynchronous mode (A) is not offered: info says so.
			return invalidParam("operationMode")
		}
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	signerID, err := s.actingSigner(c.Request().Context(), p, id)
	if err != nil {
		return err
	}
	sigs, err := s.sam.SignHash(c.Request().Context(), sam.SignRequest{
		CredentialID: id, SignerID: signerID, ClientID: p.ClientID, SAD: sad,
		HashAlgorithm: hashOID, SignAlgorithm: signAlgo, SignAlgoParams: params, Hashes: hashes,
	})
	if err != nil {
		return err
	}
	s.metrics.signatures.WithLabelValues(signAlgo).Add(float64(len(sigs)))
	return c.JSON(http.StatusOK, signHashResponse{Signatures: encodeAll(sigs)})
}
