package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMain points SOFTHSM2_CONF at a softhsm2.conf in a temporary directory
// (hsmtest.Main), so the tokens of this test never touch ./var.
func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

// TestBenchAgainstServer runs the whole tool in-process, twice, against a
// cscd wired in-process on the same configuration: the first run creates
// the account, the second reuses it.
func TestBenchAgainstServer(t *testing.T) {
	hsmtest.Config(t) // skips, or fails with CSC_TEST_REQUIRE_HSM=1, without SoftHSM2
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, ln.Addr().String())
	logs := startServer(t, cfgPath, ln)
	acctPath := filepath.Join(dir, "bench", "bench.json")
	ctx := context.Background()

	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-config", cfgPath, "-duration", "400ms", "-slices", "2", "-concurrency", "1,2",
		"-hashes", "1", "-account", acctPath}, &out, &errOut)
	t.Logf("first run:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, errOut.String())
	}
	report := out.String()
	checkReport(t, report, []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256}, []int{1, 2}, []int{1})
	if !strings.Contains(report, "(user cscbench, created)") {
		t.Error("first run: account not reported as created")
	}
	if !strings.Contains(report, "SADs are SCAL1 count-bound") {
		t.Error("report does not explain the SCAL1 account")
	}

	st, err := os.Stat(acctPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("account file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(acctPath)
	if err != nil {
		t.Fatal(err)
	}
	var acct account
	if err := json.Unmarshal(b, &acct); err != nil {
		t.Fatal(err)
	}
	if acct.Username != benchUsername || acct.Password == "" || acct.PIN == "" || len(acct.Credentials) != 2 ||
		acct.BaseURL != "https://"+ln.Addr().String() {
		t.Errorf("account file: %+v", acct)
	}

	out.Reset()
	errOut.Reset()
	code = run(ctx, []string{"-config", cfgPath, "-algs", "EC-P256", "-duration", "200ms", "-slices", "1",
		"-concurrency", "2", "-hashes", "10", "-account", acctPath}, &out, &errOut)
	t.Logf("second run:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, errOut.String())
	}
	checkReport(t, out.String(), []hsm.KeyAlgorithm{hsm.ECP256}, []int{2}, []int{10})
	if !strings.Contains(out.String(), "(user cscbench, reused)") {
		t.Error("second run: account not reported as reused")
	}
	b2, _ := os.ReadFile(acctPath)
	if !bytes.Equal(b, b2) {
		t.Error("second run rewrote the account file")
	}

	for name, text := range map[string]string{"bench output": report + out.String(), "server log": logs.String()} {
		for _, secret := range []string{acct.Password, acct.PIN} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a secret of the bench account", name)
			}
		}
	}
}

// checkReport parses the table rows and checks every cell ran with non-zero
// rates, ratios and no error, and that targets are printed.
func checkReport(t *testing.T, report string, algs []hsm.KeyAlgorithm, concs, hashes []int) {
	t.Helper()
	raw := map[string]bool{}
	httpRows := map[string]bool{}
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if _, err := hsm.ParseKeyAlgorithm(f[0]); err != nil {
			continue
		}
		switch len(f) {
		case 4: // alg sessions sig/s errors
			if rate, _ := strconv.ParseFloat(f[2], 64); rate <= 0 {
				t.Errorf("raw row with no rate: %q", line)
			}
			if f[3] != "0" {
				t.Errorf("raw row with errors: %q", line)
			}
			raw[f[0]+"/"+f[1]] = true
		case 10: // alg conc hashes sig/s calls/s ratio/raw2 ratio/raw1 p50 p99 errors
			for _, i := range []int{3, 4, 5, 7, 8} {
				if v, _ := strconv.ParseFloat(f[i], 64); v <= 0 {
					t.Errorf("HTTP row with column %d not positive: %q", i, line)
				}
			}
			if f[1] == "1" {
				if v, _ := strconv.ParseFloat(f[6], 64); v <= 0 {
					t.Errorf("concurrency-1 row without ratio to raw 1-session: %q", line)
				}
			}
			if f[9] != "0" {
				t.Errorf("HTTP row with errors: %q", line)
			}
			httpRows[f[0]+"/"+f[1]+"/"+f[2]] = true
		default:
			t.Errorf("unexpected table row: %q", line)
		}
	}
	for _, a := range algs {
		for _, s := range []int{1, 2} {
			if !raw[fmt.Sprintf("%s/%d", a, s)] {
				t.Errorf("no raw row for %s with %d session(s)", a, s)
			}
		}
		for _, c := range concs {
			for _, h := range hashes {
				if !httpRows[fmt.Sprintf("%s/%d/%d", a, c, h)] {
					t.Errorf("no HTTP row for %s, concurrency %d, %d hash(es)/call", a, c, h)
				}
			}
		}
	}
	for _, want := range []string{"ratio/raw2", "ratio/raw1", "targets (", "zero errors (all cells)", "PASS"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// writeConfig writes a development configuration in dir: its own token,
// SQLite in dir/data, PIN files of mode 0600, cheap argon2 parameters.
func writeConfig(t *testing.T, dir, listen string) string {
	t.Helper()
	for _, f := range []string{"hsm-pin", "hsm-so-pin"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`data_dir: data
hsm:
  module: %s
  token_label: cscbench-%d
  pin_file: hsm-pin
  so_pin_file: hsm-so-pin
  create_token: true
  pool_size: 2
  mac_sessions: 1
store:
  driver: sqlite
  dsn: rssp.db
sam:
  argon2:
    time: 1
    memory_kib: 8192
    threads: 1
server:
  listen: %s
`, hsmtest.ModulePath(), time.Now().UnixNano(), listen)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cscd.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer wires cscd as cmd/cscd does (HSM, store, SAM, logins, API),
// serves TLS on ln with a development certificate written where cscd writes
// its own (data_dir/tls-cert.pem), and waits for /readyz.
func startServer(t *testing.T, cfgPath string, ln net.Listener) *syncBuffer {
	t.Helper()
	ctx := context.Background()
	if err := configs.BootstrapDev(cfgPath); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hsm.Open(cfg.HSMConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	if _, err := keys.InitMasterKeys(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signing, err := sam.New(cfg.SAM, keys, db)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logins := oauth.NewLogins(oauth.LoginConfig{AccessTTL: cfg.Login.AccessTTL, RefreshTTL: cfg.Login.RefreshTTL}, signing, db, nil)
	srv := api.New(api.Config{
		Service:      api.ServiceInfo{Name: cfg.Service.Name, Logo: cfg.Service.Logo, Region: cfg.Service.Region, Lang: cfg.Service.Lang, Description: cfg.Service.Description},
		MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxInFlight: cfg.Server.MaxInFlight,
	}, api.Deps{
		SAM: signing, Tokens: logins, Store: db, Logger: log, Registry: prometheus.NewRegistry(), PoolStats: keys.PoolStats,
		Checks: []api.Check{{Name: "database", Ping: db.Ping}, {Name: "hsm", Ping: keys.Ping}},
	})
	pair, caPEM := devTLS(t)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "tls-cert.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: srv.Handler(), TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		WriteTimeout: cfg.Server.WriteTimeout, IdleTimeout: cfg.Server.IdleTimeout,
	}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := hc.Get(cfg.Server.PublicURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// devTLS makes a self-signed server certificate for 127.0.0.1, like the one
// cscd generates in data_dir.
func devTLS(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cscbench test server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"help documents every flag", []string{"-help"}, 0, "-concurrency"},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
		{"zero concurrency", []string{"-concurrency", "0"}, 2, "-concurrency"},
		{"too many hashes", []string{"-hashes", "1001"}, 2, "-hashes"},
		{"unknown algorithm", []string{"-algs", "DSA-1024"}, 2, "-algs"},
		{"no slices", []string{"-slices", "0"}, 2, "-slices"},
		{"slices too short", []string{"-duration", "50ms", "-slices", "10"}, 2, "at least 10ms"},
		{"insecure with cacert", []string{"-insecure", "-cacert", "x.pem"}, 2, "exclude"},
		{"stray argument", []string{"extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errOut); code != tc.code {
				t.Fatalf("exit status %d, want %d (%s)", code, tc.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.want)
			}
		})
	}
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"-help"}, &out, &errOut)
	for _, f := range []string{"-config", "-url", "-cacert", "-insecure", "-concurrency", "-hashes", "-algs", "-duration", "-slices", "-account", "CSC_CONFIG", "SCAL1"} {
		if !strings.Contains(errOut.String(), f) {
			t.Errorf("-help does not document %s", f)
		}
	}
}

func TestSetupErrorExitsOne(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errOut); code != 1 {
		t.Fatalf("exit status %d, want 1 (%s)", code, errOut.String())
	}
}
