package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// spoilingTSA is an RFC 3161 responder on loopback whose answers a test can
// spoil one way at a time.
type spoilingTSA struct {
	t     *testing.T
	cert  *x509.Certificate
	key   crypto.Signer
	root  *x509.Certificate
	spoil string
	seen  int
}

func newSpoilingTSA(t *testing.T, timeStamping bool) *spoilingTSA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t, key)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "Test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if timeStamping {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.root, key.Public(), pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &spoilingTSA{t: t, cert: cert, key: key, root: pki.root}
}

func (s *spoilingTSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.seen++
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want a POST of application/timestamp-query", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	req, err := timestamp.ParseRequest(body)
	if err != nil || !req.Certificates || req.Nonce == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Nonce: req.Nonce,
		Time: time.Now().UTC().Truncate(time.Second), Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1},
		AddTSACertificate: true, SerialNumber: big.NewInt(1)}
	switch s.spoil {
	case "http":
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	case "oversize":
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(bytes.Repeat([]byte{0x30}, 70<<10))
		return
	case "rejection":
		resp, _ := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
		return
	case "nonce":
		ts.Nonce = new(big.Int).Add(req.Nonce, big.NewInt(1))
	case "imprint":
		ts.HashedMessage = bytes.Clone(req.HashedMessage)
		ts.HashedMessage[0] ^= 1
	case "algorithm":
		other := sha512.Sum512(req.HashedMessage)
		ts.HashAlgorithm, ts.HashedMessage = crypto.SHA512, other[:]
	case "nocert":
		ts.AddTSACertificate = false
	}
	resp, err := ts.CreateResponseWithOpts(s.cert, s.key, crypto.SHA256)
	if err != nil {
		s.t.Errorf("test TSA: %v", err)
		http.Error(w, "internal", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

func TestTSAClientStamps(t *testing.T) {
	tsa := newSpoilingTSA(t, true)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	digest := sha256.Sum256([]byte("signature value"))
	roots := x509.NewCertPool()
	roots.AddCert(tsa.root)
	c := &TSAClient{URL: srv.URL, HTTP: srv.Client(), Roots: roots}
	token, err := c.Stamp(context.Background(), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	// The token is the bare TimeStampToken: it parses (and its signature
	// verifies) on its own, over our digest, signed by the TSA.
	ts, err := timestamp.Parse(token)
	if err != nil {
		t.Fatalf("the returned token does not parse: %v", err)
	}
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest[:]) || len(ts.Certificates) == 0 || !ts.Certificates[0].Equal(tsa.cert) {
		t.Fatalf("token over %v %x by %v", ts.HashAlgorithm, ts.HashedMessage, ts.Certificates)
	}
	// Two requests carry different nonces (checked by the nonce test
	// below refusing an answer with another nonce).
	if _, err := c.Stamp(context.Background(), crypto.SHA256, digest[:]); err != nil {
		t.Fatal(err)
	}
	if tsa.seen != 2 {
		t.Fatalf("the TSA saw %d requests, want 2", tsa.seen)
	}
}

func TestTSAClientRefuses(t *testing.T) {
	digest := sha256.Sum256([]byte("signature value"))
	cases := []struct {
		name, spoil  string
		timeStamping bool
		client       func(c *TSAClient)
		want         string
	}{
		{"wrong nonce", "nonce", true, nil, "nonce"},
		{"wrong imprint", "imprint", true, nil, "not over the digest"},
		{"wrong hash algorithm", "algorithm", true, nil, "not over the digest"},
		{"HTTP error", "http", true, nil, "HTTP status 500"},
		{"oversize answer", "oversize", true, nil, "larger than"},
		{"rejection", "rejection", true, nil, "refused"},
		{"no certificate", "nocert", true, nil, "no certificate"},
		{"not a TSA certificate", "", false, nil, "not for time-stamping"},
		{"untrusted TSA", "", true, func(c *TSAClient) {
			other := newSpoilingTSA(t, true)
			c.Roots = x509.NewCertPool()
			c.Roots.AddCert(other.root)
		}, "not trusted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tsa := newSpoilingTSA(t, tc.timeStamping)
			tsa.spoil = tc.spoil
			srv := httptest.NewServer(tsa)
			defer srv.Close()
			c := &TSAClient{URL: srv.URL, HTTP: srv.Client()}
			if tc.client != nil {
				tc.client(c)
			}
			token, err := c.Stamp(context.Background(), crypto.SHA256, digest[:])
			if err == nil || token != nil || !errors.Is(err, ErrTSA) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Stamp: %v (token %d bytes), want an ErrTSA saying %q", err, len(token), tc.want)
			}
			if tsa.seen != 1 {
				t.Fatalf("the TSA saw %d requests, want exactly 1 (no retries)", tsa.seen)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		defer srv.Close()
		defer close(block)
		c := &TSAClient{URL: srv.URL, Timeout: 200 * time.Millisecond}
		start := time.Now()
		if _, err := c.Stamp(context.Background(), crypto.SHA256, digest[:]); err == nil || !errors.Is(err, ErrTSA) {
			t.Fatalf("Stamp against a silent TSA: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the timeout took %v", d)
		}
	})
	t.Run("digest of the wrong length", func(t *testing.T) {
		c := &TSAClient{URL: "http://127.0.0.1:1/never"}
		if _, err := c.Stamp(context.Background(), crypto.SHA384, digest[:]); !errors.Is(err, ErrTSA) {
			t.Fatalf("Stamp: %v", err)
		}
	})
}

// TestTSAClientForSignatureTimestamp: the client plugs into
// SignatureTimestamp, and the token it returns is over the hash of the
// signature value.
func TestTSAClientForSignatureTimestamp(t *testing.T) {
	tsa := newSpoilingTSA(t, true)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	c := &TSAClient{URL: srv.URL, HTTP: srv.Client()}
	stamp := SignatureTimestamp(crypto.SHA384, func(h crypto.Hash, d []byte) ([]byte, error) { return c.Stamp(context.Background(), h, d) })
	sig := []byte("a signature value")
	token, err := stamp(sig)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.Parse(token)
	want := sha512.Sum384(sig)
	if err != nil || ts.HashAlgorithm != crypto.SHA384 || !bytes.Equal(ts.HashedMessage, want[:]) {
		t.Fatalf("token %v over %x: %v", ts, ts.HashedMessage, err)
	}
}
