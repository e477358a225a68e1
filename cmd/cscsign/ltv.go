package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"

	"github.com/openrssp/rssp/sam/pades"
)

// Bounds on what is fetched for the validation data.
const (
	maxOCSPResponse = 64 << 10
	maxCRL          = 8 << 20
	maxCertificate  = 64 << 10
	// maxIssuerFetches bounds the caIssuers certificates fetched up one
	// chain.
	maxIssuerFetches = 4
)

// errRevoked is a certificate that its CA says is revoked: no long-term
// signature is made with it.
var errRevoked = errors.New("revoked")

// validator gathers the validation data of a long-term signature (PAdES
// B-LT): certificates, and an OCSP response and a CRL for every
// certificate that is not a root, fetched from the URLs the certificates
// name. It trusts what it fetches only once it is signed by the issuer of
// the certificate it is about.
type validator struct {
	http *http.Client // its TLS trusts -cacert; its Timeout bounds each request
	now  func() time.Time
	// warn prints a line about revocation data that could not be had for
	// a certificate other than the signer's.
	warn func(format string, args ...any)

	data  pades.ValidationData
	certs []*x509.Certificate // every certificate in data.Certs, parsed
	done  map[string]bool     // certificates (by DER) whose revocation data is in data
	crls  map[string][]byte   // CRLs fetched, by URL: one CRL serves every certificate of its CA
}

// addCert puts a certificate in the DSS once.
func (v *validator) addCert(c *x509.Certificate) {
	for _, have := range v.certs {
		if have.Equal(c) {
			return
		}
	}
	v.certs = append(v.certs, c)
	v.data.Certs = append(v.data.Certs, c.Raw)
}

// selfSigned reports whether c is a root: issued by itself.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// issuerOf is the certificate among those gathered that signed c, or nil.
func (v *validator) issuerOf(c *x509.Certificate) *x509.Certificate {
	for _, is := range v.certs {
		if bytes.Equal(c.RawIssuer, is.RawSubject) && c.CheckSignatureFrom(is) == nil {
			return is
		}
	}
	return nil
}

// chain adds the signer's chain and the revocation data of each of its
// certificates but the root. The signer's certificate (chain[0]) must get
// an OCSP response or a CRL saying it is not revoked: otherwise the result
// would not be a B-LT signature, and this is an error.
func (v *validator) chain(ctx context.Context, chain []*x509.Certificate) error {
	for _, c := range chain {
		v.addCert(c)
	}
	if len(chain) > 0 && selfSigned(chain[0]) {
		return fmt.Errorf("the signer's certificate %q is self-signed: no CA publishes its revocation status, so no B-LT signature", chain[0].Subject.CommonName)
	}
	for i, c := range chain {
		what := "the signer's certificate"
		if i > 0 {
			what = "the CA certificate"
		}
		if err := v.revocation(ctx, c, i == 0, what); err != nil {
			return err
		}
	}
	return nil
}

// timestampToken adds the certificates a timestamp token carries, the
// issuer of its TSA certificate (from the certificates gathered, or from
// the certificate's caIssuers URL) and their revocation data.
func (v *validator) timestampToken(ctx context.Context, token []byte) error {
	ts, err := timestamp.Parse(token)
	if err != nil {
		return fmt.Errorf("the timestamp token: %w", err)
	}
	for _, c := range ts.Certificates {
		v.addCert(c)
	}
	for _, c := range ts.Certificates {
		if !selfSigned(c) && v.issuerOf(c) == nil {
			if err := v.fetchIssuer(ctx, c, maxIssuerFetches); err != nil {
				v.warn("the issuer of the TSA certificate %q was not found (%v): the timestamp may not validate in the long term", c.Subject.CommonName, err)
			}
		}
	}
	for _, c := range ts.Certificates {
		if err := v.revocation(ctx, c, false, "the TSA certificate"); err != nil {
			return err
		}
	}
	return nil
}

// fetchIssuer gets c's issuer from its caIssuers URLs (DER or PEM) and
// adds it, once c's signature verifies with it; and so on up to a root or
// a certificate already gathered, at most depth certificates.
func (v *validator) fetchIssuer(ctx context.Context, c *x509.Certificate, depth int) error {
	if len(c.IssuingCertificateURL) == 0 {
		return errors.New("it names no caIssuers URL")
	}
	if depth == 0 {
		return errors.New("the chain of caIssuers URLs is too long")
	}
	var errs []error
	for _, u := range c.IssuingCertificateURL {
		body, err := v.fetch(ctx, http.MethodGet, u, "", nil, maxCertificate)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if b, _ := pem.Decode(body); b != nil && b.Type == "CERTIFICATE" {
			body = b.Bytes
		}
		is, err := x509.ParseCertificate(body)
		if err == nil {
			err = c.CheckSignatureFrom(is)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		v.addCert(is)
		if !selfSigned(is) && v.issuerOf(is) == nil {
			return v.fetchIssuer(ctx, is, depth-1)
		}
		return nil
	}
	return joinErrors(errs)
}

// joinErrors is errs on one line.
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// revocation adds an OCSP response and a CRL about c, when c names where
// to get them: nothing for a root. A CA saying c is revoked is an error
// wrapping errRevoked. When neither could be had, it is an error if
// required, else a warning.
func (v *validator) revocation(ctx context.Context, c *x509.Certificate, required bool, what string) error {
	if selfSigned(c) || v.done[string(c.Raw)] {
		return nil
	}
	name := fmt.Sprintf("%s %q", what, c.Subject.CommonName)
	issuer := v.issuerOf(c)
	if issuer == nil {
		if required {
			return fmt.Errorf("no revocation data for %s: its issuer is not in the chain", name)
		}
		v.warn("no revocation data for %s: its issuer was not found", name)
		return nil
	}
	var errs []error
	found := false
	for _, u := range c.OCSPServer {
		der, err := v.ocsp(ctx, u, c, issuer)
		if errors.Is(err, errRevoked) {
			return fmt.Errorf("%s is %w (OCSP %s): no signature is made with it", name, err, u)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("OCSP %s: %w", u, err))
			continue
		}
		v.data.OCSPs = append(v.data.OCSPs, der)
		found = true
		break
	}
	for _, u := range c.CRLDistributionPoints {
		der, err := v.crl(ctx, u, c, issuer)
		if errors.Is(err, errRevoked) {
			return fmt.Errorf("%s is %w (CRL %s): no signature is made with it", name, err, u)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CRL %s: %w", u, err))
			continue
		}
		if !containsBytes(v.data.CRLs, der) {
			v.data.CRLs = append(v.data.CRLs, der)
		}
		found = true
		break
	}
	if !found {
		why := "it names no OCSP responder and no CRL distribution point"
		if len(errs) > 0 {
			why = joinErrors(errs).Error()
		}
		if required {
			return fmt.Errorf("no revocation data for %s, so no B-LT signature: %s", name, why)
		}
		v.warn("no revocation data for %s: %s", name, why)
		return nil
	}
	if v.done == nil {
		v.done = map[string]bool{}
	}
	v.done[string(c.Raw)] = true
	return nil
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// ocsp asks the responder at u about c (RFC 6960 over POST) and returns
// the DER response once it is signed for issuer, is about c, is current,
// and says good. Revoked is errRevoked; unknown is an error.
func (v *validator) ocsp(ctx context.Context, u string, c, issuer *x509.Certificate) ([]byte, error) {
	req, err := ocsp.CreateRequest(c, issuer, nil)
	if err != nil {
		return nil, err
	}
	der, err := v.fetch(ctx, http.MethodPost, u, "application/ocsp-request", req, maxOCSPResponse)
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(der, c, issuer)
	if err != nil {
		return nil, fmt.Errorf("the response: %w", err)
	}
	now := v.now()
	// A response signed by another key than the issuer's is only good from
	// a responder the issuer delegated to (RFC 6960 §4.2.2.2);
	// ParseResponseForCert checked that the issuer signed its certificate.
	if r := resp.Certificate; r != nil && !r.Equal(issuer) {
		if !slices.Contains(r.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("the response is signed by a certificate not meant for OCSP (no id-kp-OCSPSigning)")
		}
		if now.Before(r.NotBefore) || now.After(r.NotAfter) {
			return nil, errors.New("the responder's certificate is not valid now")
		}
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		return nil, fmt.Errorf("the response expired at %s", resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	switch resp.Status {
	case ocsp.Good:
		return der, nil
	case ocsp.Revoked:
		return nil, fmt.Errorf("%w since %s", errRevoked, resp.RevokedAt.UTC().Format(time.RFC3339))
	}
	return nil, errors.New("the responder does not know the certificate (status unknown)")
}

// crl fetches the CRL at u and returns it once it is signed by issuer and
// current. c on it is errRevoked.
func (v *validator) crl(ctx context.Context, u string, c, issuer *x509.Certificate) ([]byte, error) {
	der, ok := v.crls[u]
	if !ok {
		var err error
		if der, err = v.fetch(ctx, http.MethodGet, u, "", nil, maxCRL); err != nil {
			return nil, err
		}
		if v.crls == nil {
			v.crls = map[string][]byte{}
		}
		v.crls[u] = der
	}
	if b, _ := pem.Decode(der); b != nil && b.Type == "X509 CRL" {
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("the CRL: %w", err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, errors.New("the CRL is not the certificate's issuer's")
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the CRL is not signed by the certificate's issuer: %w", err)
	}
	if !crl.NextUpdate.IsZero() && v.now().After(crl.NextUpdate) {
		return nil, fmt.Errorf("the CRL expired at %s", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return nil, fmt.Errorf("%w since %s", errRevoked, e.RevocationTime.UTC().Format(time.RFC3339))
		}
	}
	return der, nil
}

// fetch does one GET or POST of http(s) URL u and returns the body of a
// 200 answer of at most limit bytes.
func (v *validator) fetch(ctx context.Context, method, u, contentType string, body []byte, limit int64) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, errors.New("not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the answer is larger than %d bytes", limit)
	}
	return data, nil
}
