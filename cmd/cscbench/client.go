package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// client talks to the CSC API v2 over one keep-alive http.Client.
type client struct {
	hc    *http.Client
	base  string
	token string // service access token, set by login
}

func newClient(o *options) (*client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.insecure:
		tlsCfg.InsecureSkipVerify = true
	case o.cacert != "":
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return nil, fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert: no PEM certificate in %s", o.cacert)
		}
		tlsCfg.RootCAs = pool
	}
	conns := slices.Max(o.concurrency) + 4
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}, base: o.url}, nil
}

// apiError is a non-200 answer.
type apiError struct {
	Status      int
	Code        string
	Description string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// post sends body as JSON to path and decodes a 200 answer into out.
func (c *client) post(ctx context.Context, path string, body, out any, basic *[2]string) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if basic != nil {
		req.SetBasicAuth(basic[0], basic[1])
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode}
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &eb) == nil {
			e.Code, e.Description = eb.Error, eb.Description
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", path, err)
	}
	return nil
}

// login gets a service access token with HTTP Basic.
func (c *client) login(ctx context.Context, user, pass string) error {
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.post(ctx, "/csc/v2/auth/login", struct{}{}, &r, &[2]string{user, pass}); err != nil {
		return err
	}
	if r.AccessToken == "" {
		return errors.New("auth/login returned no access_token")
	}
	c.token = r.AccessToken
	return nil
}

// certificate fetches the credential's leaf certificate with credentials/info.
func (c *client) certificate(ctx context.Context, credentialID string) (*x509.Certificate, error) {
	var r struct {
		Cert struct {
			Certificates []string `json:"certificates"`
		} `json:"cert"`
	}
	req := map[string]any{"credentialID": credentialID, "certificates": "single"}
	if err := c.post(ctx, "/csc/v2/credentials/info", req, &r, nil); err != nil {
		return nil, err
	}
	if len(r.Cert.Certificates) == 0 {
		return nil, errors.New("credentials/info returned no certificate")
	}
	der, err := base64.StdEncoding.DecodeString(r.Cert.Certificates[0])
	if err != nil {
		return nil, fmt.Errorf("credentials/info certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// sad is one pre-issued SAD and how many signatures it still allows.
type sad struct {
	token   string
	left    int
	expires time.Time
}

// authorize asks for a SCAL 1 SAD for maxSADSignatures signatures.
func (c *client) authorize(ctx context.Context, credentialID, pin string) (*sad, error) {
	var r struct {
		SAD       string `json:"SAD"`
		ExpiresIn int    `json:"expiresIn"`
	}
	start := time.Now()
	req := map[string]any{"credentialID": credentialID, "numSignatures": maxSADSignatures,
		"authData": []map[string]string{{"id": "PIN", "value": pin}}}
	if err := c.post(ctx, "/csc/v2/credentials/authorize", req, &r, nil); err != nil {
		return nil, fmt.Errorf("credentials/authorize: %w", err)
	}
	if r.SAD == "" || r.ExpiresIn < 1 {
		return nil, errors.New("credentials/authorize returned no SAD")
	}
	return &sad{token: r.SAD, left: maxSADSignatures, expires: start.Add(time.Duration(r.ExpiresIn) * time.Second)}, nil
}

type signHashRequest struct {
	CredentialID     string   `json:"credentialID"`
	SAD              string   `json:"SAD"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	SignAlgo         string   `json:"signAlgo"`
}

// signHash asks for one signature per digest and returns them decoded.
func (c *client) signHash(ctx context.Context, a *algo, token string, digests [][]byte) ([][]byte, error) {
	req := signHashRequest{CredentialID: a.cred.ID, SAD: token, HashAlgorithmOID: sam.OIDSHA256, SignAlgo: a.signAlgo,
		Hashes: make([]string, len(digests))}
	for i, d := range digests {
		req.Hashes[i] = base64.StdEncoding.EncodeToString(d)
	}
	var r struct {
		Signatures []string `json:"signatures"`
	}
	if err := c.post(ctx, "/csc/v2/signatures/signHash", req, &r, nil); err != nil {
		return nil, err
	}
	if len(r.Signatures) != len(digests) {
		return nil, fmt.Errorf("signHash returned %d signatures for %d hashes", len(r.Signatures), len(digests))
	}
	sigs := make([][]byte, len(r.Signatures))
	for i, s := range r.Signatures {
		var err error
		if sigs[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("signHash signature %d: %w", i, err)
		}
	}
	return sigs, nil
}

// algo is one key algorithm under test: the bench credential, its
// certificate's public key, the signature algorithm used over HTTP and a
// signer for the same key straight on the bench's HSM.
type algo struct {
	alg      hsm.KeyAlgorithm
	cred     *store.Credential
	pin      string
	pub      crypto.PublicKey
	signAlgo string
	raw      crypto.Signer

	rawEstimate  float64 // raw 1-session sig/s measured at setup
	httpEstimate float64 // HTTP sig/s of the warm-up; 0 if it ran out of SADs
}

func newAlgo(ctx context.Context, c *client, keys *hsm.HSM, cred *store.Credential, pin string) (*algo, error) {
	alg := hsm.KeyAlgorithm(cred.KeyAlgorithm)
	cert, err := c.certificate(ctx, cred.ID)
	if err != nil {
		return nil, fmt.Errorf("%s credential %s: %w", alg, cred.ID, err)
	}
	stored, err := x509.ParsePKIXPublicKey(cred.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s credential %s: public key: %w", alg, cred.ID, err)
	}
	if !stored.(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s credential %s: the server's certificate does not match the stored key", alg, cred.ID)
	}
	a := &algo{alg: alg, cred: cred, pin: pin, pub: cert.PublicKey}
	switch cert.PublicKey.(type) {
	case *rsa.PublicKey:
		a.signAlgo = sam.OIDSHA256WithRSA
	case *ecdsa.PublicKey:
		a.signAlgo = sam.OIDECDSAWithSHA256
	default:
		return nil, fmt.Errorf("%s credential %s: unsupported key type %T", alg, cred.ID, cert.PublicKey)
	}
	a.raw = keys.Signer(hsm.Key{ID: cred.ID, Blob: cred.KeyBlob, Algorithm: alg, Public: stored})
	// Warm the key: unwrap it into the HSM's key cache before any clock runs.
	d := randomDigest()
	sig, err := a.raw.Sign(nil, d, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s raw signature: %w", alg, err)
	}
	if err := a.verify(d, sig); err != nil {
		return nil, fmt.Errorf("%s raw signature: %w", alg, err)
	}
	return a, nil
}

// verify checks a signature over a SHA-256 digest with the standard library.
func (a *algo) verify(digest, sig []byte) error {
	switch pub := a.pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", a.pub)
}

func randomDigest() []byte {
	d := make([]byte, 32)
	if _, err := rand.Read(d); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return d
}
