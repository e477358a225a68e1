package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// smsObjectID is the id of the SMS code in v2 auth objects, authData and
// getChallenge's authObjectID.
const smsObjectID = "SMS"

// credentialsSendOTP sends a one-time code by SMS for a credential (CSC API
// v1 §11.8; served with the same shape under v2, where clients still call
// it). 204 when the code went out.
//
// CSC gives sendOTP no hashes, but an SMS code here is bound to the exact
// documents it approves, and its text names them. So for a SCAL2
// credential the client sends what credentials/authorize will send:
// hashes and hashAlgorithmOID (v1: hash and, optionally, hashAlgo) and
// numSignatures (default: one per hash). A SCAL1 credential needs only
// credentialID.
func (s *Server) credentialsSendOTP(c echo.Context, v version) error {
	return s.sendOTP(c, v, false)
}

// credentialsGetChallenge is CSC v2 credentials/getChallenge for the SMS
// auth object: the challenge goes out of band, so the answer is 204. It
// takes the same hashes as sendOTP.
func (s *Server) credentialsGetChallenge(c echo.Context, v version) error {
	return s.sendOTP(c, v, true)
}

func (s *Server) sendOTP(c echo.Context, v version, challenge bool) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	id, err := b.requiredString("credentialID")
	if err != nil {
		return err
	}
	if challenge {
		obj, err := b.requiredString("authObjectID")
		if err != nil {
			return err
		}
		if obj != smsObjectID {
			return invalidParam("authObjectID")
		}
	}
	hashes, hashOID, err := readHashes(b, v)
	if err != nil {
		return err
	}
	num, ok, err := b.integer("numSignatures")
	if err != nil {
		return invalid("Missing (or invalid type) integer parameter numSignatures")
	}
	if !ok {
		num = 0
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	signerID, err := s.actingSigner(ctx, p, id)
	if err != nil {
		return err
	}
	_, err = s.sam.SendOTP(ctx, sam.OTPRequest{SignerID: signerID, ClientID: p.ClientID, ClientName: s.clientName(ctx, p.ClientID), Explicit: true,
		Binding: sam.Binding{CredentialID: id, HashAlgorithm: hashOID, Hashes: hashes, NumSignatures: num}})
	switch {
	case err == nil:
		return c.NoContent(http.StatusNoContent)
	case sam.IsRateLimited(err):
		var e *sam.Error
		errors.As(err, &e)
		return withStatus(http.StatusTooManyRequests, e)
	case errors.Is(err, sam.ErrHashesMissing):
		hn, _ := hashNames(v)
		return invalid("Missing (or invalid type) array parameter " + hn)
	}
	return err
}

// clientName is the name an SMS text gives the client: its registered
// name, or "" (the text then says "an unnamed client") for a client that
// is not registered, such as any SCA using auth/login.
func (s *Server) clientName(ctx context.Context, clientID string) string {
	if clientID == "" {
		return ""
	}
	if cl, err := s.db.OAuthClient(ctx, clientID); err == nil {
		return cl.Name
	}
	return ""
}
