package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRemote runs the suite against a live server described by the
// environment (see the package doc); it skips when
// CSC_CONFORMANCE_ACCOUNT is unset.
func TestRemote(t *testing.T) {
	path := os.Getenv("CSC_CONFORMANCE_ACCOUNT")
	if path == "" {
		t.Skip("set CSC_CONFORMANCE_ACCOUNT to an account file (e.g. var/demo.json) to run the suite against a live server")
	}
	acct, err := LoadAccount(path)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Account: acct}

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := os.Getenv("CSC_CONFORMANCE_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("CSC_CONFORMANCE_CA: no PEM certificate in %s", ca)
		}
		tlsConf.RootCAs = pool
	}
	if os.Getenv("CSC_CONFORMANCE_INSECURE") == "1" {
		tlsConf.InsecureSkipVerify = true
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConf
	target.Client = &http.Client{Transport: transport, Timeout: 60 * time.Second}

	if other := os.Getenv("CSC_CONFORMANCE_OTHER"); other != "" {
		o, err := LoadAccount(other)
		if err != nil {
			t.Fatal(err)
		}
		target.OtherUser = &o
	}
	if v := os.Getenv("CSC_CONFORMANCE_VERSIONS"); v != "" {
		for _, s := range strings.Split(v, ",") {
			target.Versions = append(target.Versions, strings.TrimSpace(s))
		}
	}
	if v := os.Getenv("CSC_CONFORMANCE_MAX_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CSC_CONFORMANCE_MAX_WAIT: %v", err)
		}
		if d == 0 {
			d = -1 // never sleep
		}
		target.MaxWait = d
	}
	if v := os.Getenv("CSC_CONFORMANCE_SAD_LIFETIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CSC_CONFORMANCE_SAD_LIFETIME: %v", err)
		}
		target.SADLifetime = d
	}
	if v := os.Getenv("CSC_CONFORMANCE_OAUTH_CLIENT"); v != "" {
		parts := strings.SplitN(v, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			t.Fatalf("CSC_CONFORMANCE_OAUTH_CLIENT: want id:secret:redirect_uri")
		}
		// No Approve driver for a remote server's pages: the subtests that
		// need the signer's approval skip.
		target.OAuthClient = &OAuthClient{ID: parts[0], Secret: parts[1], RedirectURI: parts[2]}
	}
	Run(t, target)
}
