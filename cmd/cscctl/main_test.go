package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

var ctx = context.Background()

// testEnv is a temporary installation: a configuration file whose data
// directory, SQLite database and PIN files live in a test directory, and a
// SoftHSM2 token of its own in hsmtest's token directory.
type testEnv struct {
	t      *testing.T
	dir    string
	config string
	data   string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	module := hsmtest.Config(t).ModulePath // skips or fails without SoftHSM2
	for _, k := range []string{configs.EnvHSMPIN, configs.EnvHSMSOPIN, configs.EnvStoreDSN, envConfig} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	label := "cscctl-" + randHex(t, 6)
	doc := fmt.Sprintf(`data_dir: data
hsm:
  module: %s
  token_label: %s
  pin_file: data/hsm-pin
  create_token: true
  so_pin_file: data/hsm-so-pin
  pool_size: 2
  key_cache_size: 8
store:
  driver: sqlite
  dsn: rssp.db
sam:
  argon2: {time: 1, memory_kib: 8192, threads: 1}
server:
  public_url: https://rssp.test:8443
ca:
  key_algorithm: EC-P256
  common_name: Test Development CA
  country: BE
`, module, label)
	path := filepath.Join(dir, "cscd.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, dir: dir, config: path, data: filepath.Join(dir, "data")}
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs cscctl in-process against the environment's configuration.
func (e *testEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code := c.run(append([]string{"-config", e.config}, args...))
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must runs cscctl and fails the test unless it succeeds.
func (e *testEnv) must(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("cscctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// open opens the installation directly, as the server would.
func (e *testEnv) open() (*sam.SAM, *store.Store, func()) {
	e.t.Helper()
	cfg, err := configs.Load(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := hsm.Open(cfg.HSMConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		h.Close()
		e.t.Fatal(err)
	}
	s, err := sam.New(cfg.SAM, h, st)
	if err != nil {
		e.t.Fatal(err)
	}
	return s, st, func() { st.Close(); h.Close() }
}

func (e *testEnv) writeSecret(name, value string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestInitIsIdempotent(t *testing.T) {
	e := newTestEnv(t)
	r := e.must("", "init")
	for _, want := range []string{"created " + filepath.Join(e.data, "hsm-pin"), "created " + filepath.Join(e.data, "hsm-so-pin"),
		"created HSM token", "created HSM master keys", "database ready", "development CA created: CN=Test Development CA", "dev-ca.pem"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("first init does not say %q:\n%s", want, r.stdout)
		}
	}
	for _, f := range []string{"hsm-pin", "hsm-so-pin"} {
		st, err := os.Stat(filepath.Join(e.data, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	pin, _ := os.ReadFile(filepath.Join(e.data, "hsm-pin"))
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(pin))) {
		t.Fatal("init printed the HSM PIN")
	}
	r = e.must("", "init")
	if strings.Contains(r.stdout, "created") || !strings.Contains(r.stdout, "master keys present") || !strings.Contains(r.stdout, "development CA present") {
		t.Fatalf("second init:\n%s", r.stdout)
	}
}
