// Package hsmtest gives tests a real SoftHSM2 token in a private directory.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }
//
// and call HSM(t) in tests that need the token. Each test binary (each
// package under go test ./...) gets its own token directory, so packages
// tested in parallel never share a token.
package hsmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openrssp/rssp/hsm"
)

// Fixed credentials of the throw-away test token.
const (
	TokenLabel = "rssp-test"
	UserPIN    = "rssp-test-user-pin"
	SOPIN      = "rssp-test-so-pin"
)

// ModuleEnv names the environment variable that overrides the module path.
const ModuleEnv = "CSC_TEST_PKCS11_MODULE"

var defaultModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
}

var (
	mu      sync.Mutex
	dir     string // set by Main
	shared  *hsm.HSM
	openErr error
)

// Main creates a temporary directory with its own softhsm2.conf (tokens in
// that directory, file object store, log level ERROR), points SOFTHSM2_CONF
// at it before anything initialises PKCS#11, runs the tests, closes the
// shared HSM if one was opened, removes the directory and returns the exit
// code.
func Main(m *testing.M) int {
	d, err := os.MkdirTemp("", "rssp-softhsm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hsmtest:", err)
		return 1
	}
	defer os.RemoveAll(d)
	tokens := filepath.Join(d, "tokens")
	conf := filepath.Join(d, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.Mkdir(tokens, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "hsmtest:", err)
		return 1
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "hsmtest:", err)
		return 1
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		fmt.Fprintln(os.Stderr, "hsmtest:", err)
		return 1
	}
	mu.Lock()
	dir = d
	mu.Unlock()

	code := m.Run()

	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "hsmtest: close:", err)
		}
		shared = nil
	}
	dir = ""
	return code
}

// ModulePath returns the SoftHSM2 module to use: $CSC_TEST_PKCS11_MODULE if
// set, else the first default location that exists, else "".
func ModulePath() string {
	if p := os.Getenv(ModuleEnv); p != "" {
		return p
	}
	for _, p := range defaultModules {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// required reports whether a missing HSM must fail the test instead of
// skipping it.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CSC_TEST_REQUIRE_HSM") == "1"
}

// Config returns the configuration HSM uses, for tests that open a second
// HSM on the same token (for example with another cache size). It skips or
// fails like HSM when no module is available.
func Config(t testing.TB) hsm.Config {
	t.Helper()
	mod := ModulePath()
	if mod == "" {
		msg := "hsmtest: SoftHSM2 module not found; install softhsm2 or set " + ModuleEnv
		if required() {
			t.Fatal(msg + " (required because CI=true or CSC_TEST_REQUIRE_HSM=1)")
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(mod); err != nil {
		msg := fmt.Sprintf("hsmtest: SoftHSM2 module not usable (%v); install softhsm2 or set %s", err, ModuleEnv)
		if required() {
			t.Fatal(msg + " (required because CI=true or CSC_TEST_REQUIRE_HSM=1)")
		}
		t.Skip(msg)
	}
	mu.Lock()
	d := dir
	mu.Unlock()
	if d == "" {
		t.Fatal("hsmtest: call hsmtest.Main from TestMain before using the HSM (it isolates the token directory)")
	}
	return hsm.Config{
		ModulePath:   mod,
		TokenLabel:   TokenLabel,
		PIN:          UserPIN,
		PoolSize:     2,
		KeyCacheSize: 16,
		CreateToken:  true,
		SOPIN:        SOPIN,
	}
}

// HSM returns the process-wide test HSM, opened once with CreateToken,
// PoolSize 2, KeyCacheSize 16 and the master keys initialised. Main closes
// it; tests must not.
func HSM(t testing.TB) *hsm.HSM {
	t.Helper()
	cfg := Config(t)
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && openErr == nil {
		h, err := hsm.Open(cfg)
		if err == nil {
			if _, err = h.InitMasterKeys(context.Background()); err != nil {
				_ = h.Close()
			}
		}
		if err != nil {
			openErr = err
		} else {
			shared = h
		}
	}
	if openErr != nil {
		t.Fatalf("hsmtest: open test HSM: %v", openErr)
	}
	return shared
}
