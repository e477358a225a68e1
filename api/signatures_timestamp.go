package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// Timestamping is what the timestamp endpoints need from the SAM.
type Timestamping interface {
	Timestamp(ctx context.Context, req sam.TimestampRequest) (token, resp []byte, err error)
	TimestampQuery(ctx context.Context, der []byte, requester string) ([]byte, error)
}

var _ Timestamping = (*sam.SAM)(nil)

// signaturesTimestamp is CSC signatures/timestamp (v1 §11.10; v2 keeps the
// v1 names hash and hashAlgo): an RFC 3161 token over the hash, with the
// hex nonce, when sent, in the token.
func (s *Server) signaturesTimestamp(c echo.Context, _ version) error {
	if s.tsa == nil {
		return sam.ErrNoTSA
	}
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	hashText, ok, err := b.str("hash")
	switch {
	case err != nil || !ok:
		return missingString("hash")
	case hashText == "":
		return invalid("Empty hash parameter")
	}
	digest, err := sam.DecodeBase64(hashText)
	if err != nil || len(digest) == 0 {
		return invalid("Invalid Base64 hash string parameter")
	}
	oid, err := b.requiredString("hashAlgo")
	if err != nil {
		return err
	}
	h, ok := sam.HashForOID(oid)
	if !ok {
		return invalidParam("hashAlgo")
	}
	if len(digest) != h.Size() {
		return sam.ErrDigestLength
	}
	nonceText, err := b.optionalString("nonce")
	if err != nil {
		return invalidParam("nonce")
	}
	var nonce *big.Int
	if nonceText != "" {
		raw, err := hex.DecodeString(nonceText)
		if err != nil || len(raw) > 20 {
			return invalidParam("nonce")
		}
		nonce = new(big.Int).SetBytes(raw)
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	p := principal(c)
	requester := p.SignerID
	if requester == "" {
		requester = "client:" + p.ClientID
	}
	token, _, err := s.tsa.Timestamp(c.Request().Context(), sam.TimestampRequest{Hash: h, Digest: digest, Nonce: nonce, Requester: requester})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"timestamp": base64.StdEncoding.EncodeToString(token)})
}

// maxTimestampQuery bounds an RFC 3161 request (a digest, a nonce and a
// policy fit in a few hundred bytes).
const maxTimestampQuery = 8 << 10

// errTimestampQuery is a request that is not an RFC 3161 query.
var errTimestampQuery = invalid("The body must be a DER TimeStampReq sent as application/timestamp-query")

// rfc3161 serves the timestamp authority over plain HTTP (RFC 3161 §3.4)
// for tools that speak it: a DER TimeStampReq in, a DER TimeStampResp out.
// It needs no token; each address is rate limited, since every answer
// costs an HSM signature.
func (s *Server) rfc3161(c echo.Context) error {
	if s.tsa == nil {
		return sam.ErrNoTSA
	}
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if !strings.EqualFold(mt, "application/timestamp-query") {
		return withStatus(http.StatusUnsupportedMediaType, errTimestampQuery)
	}
	der, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxTimestampQuery))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return withStatus(http.StatusRequestEntityTooLarge, invalid("Request body too large"))
	}
	if err != nil {
		return errTimestampQuery
	}
	resp, err := s.tsa.TimestampQuery(c.Request().Context(), der, "rfc3161:"+c.RealIP())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/timestamp-reply", resp)
}
