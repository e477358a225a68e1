package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"hsm-pin", "hsm-so-pin"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(fmt.Sprintf("%s-%d\n", f, time.Now().UnixNano())), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`data_dir: data
hsm:
  module: %s
  token_label: cscd-test-%d
  pin_file: hsm-pin
  so_pin_file: hsm-so-pin
  create_token: true
  pool_size: 2
store:
  dsn: rssp.db
sam:
  argon2: {time: 1, memory_kib: 8192, threads: 1}
server:
  shutdown_timeout: 5s
  pki_listen: %s
`, hsmtest.ModulePath(), time.Now().UnixNano(), freeAddr(t))
	p := filepath.Join(dir, "cscd.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs serve on a loopback listener and returns its base URL, a client
// trusting the generated development certificate, and a stop function that
// reports serve's result.
func start(t *testing.T, cfgPath string) (string, *http.Client, func() error, *syncBuffer) {
	t.Helper()
	hsmtest.Config(t) // skips without SoftHSM2 (fails with CSC_TEST_REQUIRE_HSM=1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfgPath, slog.New(slog.NewJSONHandler(logs, nil)), ln, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	pemBytes, err := os.ReadFile(filepath.Join(filepath.Dir(cfgPath), "data", devCertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("serve did not return after shutdown")
		}
	}
	return "https://" + addr, client, stop, logs
}

// TestServeAndShutdown starts the server from a fresh data directory (token,
// master keys, schema and TLS certificate created on first start), checks it
// answers over TLS, and shuts it down gracefully.
func TestServeAndShutdown(t *testing.T) {
	cfg := writeConfig(t)
	base, client, stop, logs := start(t, cfg)
	for _, path := range []string{"/readyz", "/csc/v2/info", "/csc/v1/info", "/.well-known/oauth-authorization-server"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	// The revocation endpoints are wired: without a development CA (cscctl
	// init makes one) there is no CRL, and OCSP answers in its own format.
	if resp, err := client.Get(base + "/ca/crl"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/ca/crl without a CA: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := client.Post(base+"/ocsp", "application/ocsp-request", strings.NewReader("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" || len(body) == 0 || len(body) > 16 {
		t.Fatalf("/ocsp with garbage: %d %s %x", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// The same publications, and only them, on the plain-HTTP PKI listener.
	pkiURL := pkiBase(t, cfg)
	plain := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/ca/crl": http.StatusNotFound, "/ca/cert": http.StatusNotFound, "/healthz": http.StatusOK,
		"/csc/v2/info": http.StatusNotFound, "/readyz": http.StatusNotFound} {
		resp, err := plain.Get(pkiURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("PKI listener %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err = plain.Post(pkiURL+"/ocsp", "application/ocsp-request", strings.NewReader("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("PKI listener /ocsp: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"cscd listening"`, `"msg":"PKI publications on plain HTTP"`, `"msg":"shutting down"`, `"msg":"stopped"`, `"route":"/readyz"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

// TestRefusesMismatchedCertificate swaps two credentials' certificates in
// the database, as a hostile administrator could, and checks that the server
// refuses to start.
func TestRefusesMismatchedCertificate(t *testing.T) {
	cfgPath := writeConfig(t)
	_, _, stop, _ := start(t, cfgPath) // first start creates token, keys and schema
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hsm.Open(cfg.HSMConfig())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sam.New(cfg.SAM, keys, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.ECP256}); err != nil {
		t.Fatal(err)
	}
	sg, err := s.CreateSigner(ctx, sam.NewSigner{Username: "eve", Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		c, err := s.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: hsm.ECP256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.IssueDevCertificate(ctx, c.ID, sam.Subject{}, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	a, _ := db.Credential(ctx, ids[0])
	b, _ := db.Credential(ctx, ids[1])
	if err := db.DB().Exec("UPDATE credentials SET certificates = ? WHERE id = ?", b.Certificates, a.ID).Error; err != nil {
		t.Fatal(err)
	}
	db.Close()
	keys.Close()

	logs := &syncBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = serve(ctx, cfgPath, slog.New(slog.NewJSONHandler(logs, nil)), ln, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("serve with a swapped certificate: %v", err)
	}
}

// pkiBase reads the PKI listener's URL back from the configuration file.
func pkiBase(t *testing.T, cfgPath string) string {
	t.Helper()
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "pki_listen: "); ok {
			return "http://" + v
		}
	}
	t.Fatal("no pki_listen in the configuration")
	return ""
}
