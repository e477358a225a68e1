package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// TSAClient asks an RFC 3161 time-stamping authority for tokens over HTTP
// (RFC 3161 §3.4: a POST of application/timestamp-query). The zero value
// needs only URL.
//
// What Stamp checks in every answer: HTTP status 200, a response of at most
// MaxResponse bytes, PKIStatus granted, the nonce it sent, the message
// imprint (hash algorithm and digest) it asked for, that the token carries
// the TSA's certificate (it asks with certReq true) and that the token's
// signature verifies with that certificate, and that the certificate is
// meant for time-stamping (extended key usage id-kp-timeStamping).
//
// What it does not check: whether that certificate is one to trust. Unless
// Roots is set, a token from anyone who can answer at URL passes; trust in
// the TSA is the caller's (a relying party validates the token in the
// signed document against its own trust list), and Roots lets a caller
// that knows the TSA's CA refuse any other. Revocation of the TSA
// certificate is never checked here.
type TSAClient struct {
	// URL is the TSA's endpoint.
	URL string
	// HTTP is the client to use; nil means a client with Timeout.
	HTTP *http.Client
	// Timeout bounds one request when HTTP is nil (default 30 s); a
	// context deadline applies in any case.
	Timeout time.Duration
	// MaxResponse bounds the response body in bytes (default 64 KiB).
	MaxResponse int64
	// Roots, if set, must anchor the TSA certificate (with the
	// certificates in the token as intermediates), for time-stamping.
	Roots *x509.CertPool
	// Rand is the source of nonces; nil means crypto/rand.
	Rand io.Reader
}

// ErrTSA is the error class of a failed or refused timestamp: every error
// Stamp returns wraps it.
var ErrTSA = errors.New("timestamp authority")

const (
	defaultTSATimeout     = 30 * time.Second
	defaultTSAMaxResponse = 64 << 10
)

// Stamp returns the DER TimeStampToken (a CMS ContentInfo) that the TSA
// issues over digest, the hash of the data with h, after the checks listed
// on TSAClient. It sends one request and never retries.
func (c *TSAClient) Stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	if !h.Available() || len(digest) != h.Size() {
		return nil, fmt.Errorf("%w: the digest does not match its hash algorithm", ErrTSA)
	}
	nonceBytes := make([]byte, 16)
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, nonceBytes); err != nil {
		return nil, fmt.Errorf("%w: nonce: %v", ErrTSA, err)
	}
	nonce := new(big.Int).SetBytes(nonceBytes)
	query, err := (&timestamp.Request{HashAlgorithm: h, HashedMessage: digest, Certificates: true, Nonce: nonce}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: request: %v", ErrTSA, err)
	}
	body, err := c.post(ctx, query)
	if err != nil {
		return nil, err
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: refused or unreadable answer: %v", ErrTSA, err)
	}
	switch {
	case ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0:
		return nil, fmt.Errorf("%w: the token does not carry the request's nonce", ErrTSA)
	case ts.HashAlgorithm != h || !bytes.Equal(ts.HashedMessage, digest):
		return nil, fmt.Errorf("%w: the token is not over the digest asked for", ErrTSA)
	case len(ts.Certificates) == 0:
		// timestamp.Parse verifies the signature only when a certificate
		// is present: without one nothing was checked.
		return nil, fmt.Errorf("%w: the token carries no certificate to verify it with", ErrTSA)
	}
	if err := c.checkSigner(ts.RawToken); err != nil {
		return nil, err
	}
	return ts.RawToken, nil
}

func (c *TSAClient) post(ctx context.Context, query []byte) ([]byte, error) {
	client := c.HTTP
	if client == nil {
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = defaultTSATimeout
		}
		client = &http.Client{Timeout: timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(query))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	req.Header.Set("Content-Type", "application/timestamp-query")
	req.Header.Set("Accept", "application/timestamp-reply")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP status %d", ErrTSA, resp.StatusCode)
	}
	limit := c.MaxResponse
	if limit <= 0 {
		limit = defaultTSAMaxResponse
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrTSA, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: the answer is larger than %d bytes", ErrTSA, limit)
	}
	return body, nil
}

// checkSigner checks that the token's signer certificate is for
// time-stamping and, with Roots, that it chains to one of them.
func (c *TSAClient) checkSigner(token []byte) error {
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return fmt.Errorf("%w: token: %v", ErrTSA, err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return fmt.Errorf("%w: the token has not exactly one signer certificate", ErrTSA)
	}
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return fmt.Errorf("%w: the token's certificate is not for time-stamping", ErrTSA)
	}
	if c.Roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, cert := range p7.Certificates {
		inter.AddCert(cert)
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: c.Roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return fmt.Errorf("%w: the TSA certificate is not trusted: %v", ErrTSA, err)
	}
	return nil
}
