package api

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// Revocation is what the development CA's publication endpoints need from
// the SAM.
type Revocation interface {
	CRL(ctx context.Context) ([]byte, error)
	DevCACertificate(ctx context.Context) (*x509.Certificate, error)
	OCSP(ctx context.Context, der []byte) ([]byte, error)
}

var _ Revocation = (*sam.SAM)(nil)

// noDevCA answers 404 where the service has no development CA to publish.
func noDevCA(err error) error {
	if errors.Is(err, sam.ErrNoDevCA) {
		return withStatus(http.StatusNotFound, sam.ErrNoDevCA)
	}
	return err
}

// caCRL serves the development CA's current CRL (DER), the CRL
// distribution point of the certificates it issues.
func (s *Server) caCRL(c echo.Context) error {
	der, err := s.revo.CRL(c.Request().Context())
	if err != nil {
		return noDevCA(err)
	}
	return c.Blob(http.StatusOK, "application/pkix-crl", der)
}

// caCert serves the development CA certificate (DER), the caIssuers
// location of the certificates it issues.
func (s *Server) caCert(c echo.Context) error {
	cert, err := s.revo.DevCACertificate(c.Request().Context())
	if err != nil {
		return noDevCA(err)
	}
	return c.Blob(http.StatusOK, "application/pkix-cert", cert.Raw)
}

// ocspPost is the RFC 6960 responder over POST. The body is read up to one
// byte past the SAM's limit, so that the SAM sees an oversized request and
// answers it malformedRequest like any undecodable one.
func (s *Server) ocspPost(c echo.Context) error {
	der, err := io.ReadAll(io.LimitReader(c.Request().Body, sam.MaxOCSPRequest+1))
	if err != nil {
		der = nil
	}
	return s.ocspAnswer(c, der)
}

// maxOCSPPath bounds the URL form of a request: base64 of MaxOCSPRequest
// bytes, every character percent-encoded.
const maxOCSPPath = (sam.MaxOCSPRequest + 2) / 3 * 4 * 3

// ocspGet is the RFC 6960 appendix A.1 GET form: /ocsp/{url-encoding of
// base64 of the DER request}. Anything that does not decode goes to the SAM
// as an empty request and gets malformedRequest.
func (s *Server) ocspGet(c echo.Context) error {
	var der []byte
	raw := strings.TrimPrefix(c.Request().URL.EscapedPath(), sam.OCSPPath+"/")
	if len(raw) <= maxOCSPPath {
		if text, err := url.PathUnescape(raw); err == nil {
			if b, err := base64.StdEncoding.DecodeString(text); err == nil {
				der = b
			}
		}
	}
	return s.ocspAnswer(c, der)
}

func (s *Server) ocspAnswer(c echo.Context, der []byte) error {
	resp, err := s.revo.OCSP(c.Request().Context(), der)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/ocsp-response", resp)
}
