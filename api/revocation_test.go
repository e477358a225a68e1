package api_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openrssp/rssp/sam"
	"golang.org/x/crypto/ocsp"
)

// fetch sends a request and returns status, content type and body.
func (e *env) fetch(t *testing.T, method, path, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// leafOf returns the first certificate of a's first credential.
func (e *env) leafOf(t *testing.T, a account) *x509.Certificate {
	t.Helper()
	cred, err := e.db.Credential(ctx, a.Credentials[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := sam.Certificates(cred)
	if err != nil || len(chain) == 0 {
		t.Fatalf("chain: %v", err)
	}
	return chain[0]
}

// TestRevocationEndpoints: the CA certificate, the CRL and the OCSP
// responder (POST and GET) over HTTP, before and after a revocation.
func TestRevocationEndpoints(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		status, ct, der := e.fetch(t, http.MethodGet, "/ca/cert", "", nil)
		if status != 200 || ct != "application/pkix-cert" {
			t.Fatalf("/ca/cert: %d %s", status, ct)
		}
		ca, err := x509.ParseCertificate(der)
		if err != nil || !ca.IsCA {
			t.Fatalf("/ca/cert: %v", err)
		}
		getCRL := func() *x509.RevocationList {
			t.Helper()
			status, ct, der := e.fetch(t, http.MethodGet, "/ca/crl", "", nil)
			if status != 200 || ct != "application/pkix-crl" {
				t.Fatalf("/ca/crl: %d %s", status, ct)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("CRL does not verify: %v", err)
			}
			return crl
		}
		if crl := getCRL(); len(crl.RevokedCertificateEntries) != 0 {
			t.Fatalf("first CRL lists %d certificates", len(crl.RevokedCertificateEntries))
		}

		leaf := e.leafOf(t, e.alice)
		req, err := ocsp.CreateRequest(leaf, ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		ask := func(method string) *ocsp.Response {
			t.Helper()
			var status int
			var ct string
			var der []byte
			if method == http.MethodPost {
				status, ct, der = e.fetch(t, method, "/ocsp", "application/ocsp-request", req)
			} else {
				status, ct, der = e.fetch(t, method, "/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(req)), "", nil)
			}
			if status != 200 || ct != "application/ocsp-response" {
				t.Fatalf("%s /ocsp: %d %s", method, status, ct)
			}
			r, err := ocsp.ParseResponseForCert(der, leaf, ca)
			if err != nil {
				t.Fatalf("%s /ocsp: %v", method, err)
			}
			return r
		}
		for _, m := range []string{http.MethodPost, http.MethodGet} {
			if r := ask(m); r.Status != ocsp.Good {
				t.Fatalf("%s: status %d, want good", m, r.Status)
			}
		}

		// Malformed requests: an OCSP malformedRequest, never a 500.
		for name, send := range map[string]func() (int, string, []byte){
			"garbage POST": func() (int, string, []byte) {
				return e.fetch(t, http.MethodPost, "/ocsp", "application/ocsp-request", []byte("garbage"))
			},
			"empty POST": func() (int, string, []byte) {
				return e.fetch(t, http.MethodPost, "/ocsp", "application/ocsp-request", nil)
			},
			"huge POST": func() (int, string, []byte) {
				return e.fetch(t, http.MethodPost, "/ocsp", "application/ocsp-request", make([]byte, 1<<20))
			},
			"not base64": func() (int, string, []byte) { return e.fetch(t, http.MethodGet, "/ocsp/%25%25!!", "", nil) },
			"base64 of junk": func() (int, string, []byte) {
				return e.fetch(t, http.MethodGet, "/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString([]byte{0x30, 0x03, 1, 2, 3})), "", nil)
			},
		} {
			status, ct, der := send()
			if status != 200 || ct != "application/ocsp-response" {
				t.Fatalf("%s: %d %s", name, status, ct)
			}
			var re ocsp.ResponseError
			if _, err := ocsp.ParseResponse(der, nil); !errors.As(err, &re) || re.Status != ocsp.Malformed {
				t.Fatalf("%s: %v, want malformedRequest", name, err)
			}
		}

		if listed, err := e.sam.RevokeCredential(ctx, e.alice.Credentials[0].ID, sam.ReasonKeyCompromise, "test"); err != nil || !listed {
			t.Fatalf("revoke: %v %v", listed, err)
		}
		crl := getCRL()
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 ||
			crl.RevokedCertificateEntries[0].ReasonCode != 1 {
			t.Fatalf("CRL after revocation: %+v", crl.RevokedCertificateEntries)
		}
		for _, m := range []string{http.MethodPost, http.MethodGet} {
			if r := ask(m); r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise {
				t.Fatalf("%s after revocation: status %d reason %d", m, r.Status, r.RevocationReason)
			}
		}
	})
}

// TestRevocationRateLimit: each address is limited on these endpoints.
func TestRevocationRateLimit(t *testing.T) {
	e := newEnv(t, "sqlite")
	for i := range 300 {
		status, _, _ := e.fetch(t, http.MethodGet, "/ca/cert", "", nil)
		if status == http.StatusTooManyRequests {
			return
		}
		if status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	t.Fatal("300 requests in a row from one address were not limited")
}

// TestRevocationWithOpenSSL: openssl's own OCSP client and CRL check
// accept what we serve, over plain HTTP on loopback.
func TestRevocationWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	e := newEnv(t, "sqlite")
	plain := httptest.NewServer(e.srv.Config.Handler)
	t.Cleanup(plain.Close)
	dir := t.TempDir()
	ca, err := e.sam.DevCACertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaf := e.leafOf(t, e.alice)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	leafPEM := write("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ocspCheck := func(want string) {
		t.Helper()
		out := run("ocsp", "-issuer", caPEM, "-cert", leafPEM, "-url", plain.URL+"/ocsp", "-CAfile", caPEM)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leafPEM+": "+want) {
			t.Fatalf("openssl ocsp, want %s:\n%s", want, out)
		}
	}
	crlCheck := func() string {
		t.Helper()
		resp, err := http.Get(plain.URL + "/ca/crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		crl := write("crl.der", der)
		out := run("crl", "-inform", "DER", "-in", crl, "-CAfile", caPEM, "-noout", "-text")
		if !strings.Contains(out, "verify OK") {
			t.Fatalf("openssl crl:\n%s", out)
		}
		return out
	}
	ocspCheck("good")
	crlCheck()
	if _, err := e.sam.RevokeCredential(ctx, e.alice.Credentials[0].ID, sam.ReasonSuperseded, "test"); err != nil {
		t.Fatal(err)
	}
	ocspCheck("revoked")
	if out := crlCheck(); !strings.Contains(strings.ToUpper(out), strings.ToUpper(leaf.SerialNumber.Text(16))) {
		t.Fatalf("openssl crl does not list serial %X:\n%s", leaf.SerialNumber, out)
	}
}
