package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const devDoc = `data_dir: var
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: t
  pin_file: var/hsm-pin
  create_token: true
  so_pin_file: var/hsm-so-pin
store:
  dsn: rssp.db
`

func writeConfig(t *testing.T, doc string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "cscd.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func unsetenv(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		t.Setenv(k, "") // restored at cleanup
		os.Unsetenv(k)
	}
}

func TestBootstrapDevFreshMachine(t *testing.T) {
	unsetenv(t, EnvSoftHSMConf, EnvHSMPIN, EnvHSMSOPIN, EnvStoreDSN)
	dir, path := writeConfig(t, devDoc)
	created, err := BootstrapDevCreated(path)
	if err != nil {
		t.Fatal(err)
	}
	v := filepath.Join(dir, "var")
	want := []string{filepath.Join(v, "tokens"), filepath.Join(v, "softhsm2.conf"), filepath.Join(v, "hsm-pin"), filepath.Join(v, "hsm-so-pin")}
	if !slices.Equal(created, want) {
		t.Fatalf("created %v, want %v", created, want)
	}
	if got := os.Getenv(EnvSoftHSMConf); got != filepath.Join(v, "softhsm2.conf") {
		t.Fatalf("%s = %q", EnvSoftHSMConf, got)
	}
	conf, _ := os.ReadFile(filepath.Join(v, "softhsm2.conf"))
	if !strings.Contains(string(conf), "directories.tokendir = "+filepath.Join(v, "tokens")+"\n") {
		t.Fatalf("softhsm2.conf:\n%s", conf)
	}
	for _, f := range want[1:] {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
	pin, _ := os.ReadFile(filepath.Join(v, "hsm-pin"))
	so, _ := os.ReadFile(filepath.Join(v, "hsm-so-pin"))
	if len(pin) < 20 || string(pin) == string(so) {
		t.Fatal("PINs are short or equal")
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("load after bootstrap: %v", err)
	}
	if c.HSMConfig().PIN != strings.TrimSpace(string(pin)) || c.HSMConfig().SOPIN != strings.TrimSpace(string(so)) {
		t.Fatal("Load does not read the PINs written")
	}

	// Idempotent: nothing new, nothing changed.
	created, err = BootstrapDevCreated(path)
	if err != nil || len(created) != 0 {
		t.Fatalf("second run created %v, %v", created, err)
	}
	if again, _ := os.ReadFile(filepath.Join(v, "hsm-pin")); string(again) != string(pin) {
		t.Fatal("PIN file rewritten")
	}

	// A token exists but its PIN file is gone: refuse to invent a new PIN.
	if err := os.Mkdir(filepath.Join(v, "tokens", "some-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(v, "hsm-pin")); err != nil {
		t.Fatal(err)
	}
	if err := BootstrapDev(path); err == nil || !strings.Contains(err.Error(), "already holds a token") {
		t.Fatalf("missing PIN with an existing token: %v", err)
	}
}

func TestBootstrapDevLeavesOthersAlone(t *testing.T) {
	t.Run("no create_token", func(t *testing.T) {
		unsetenv(t, EnvSoftHSMConf, EnvHSMPIN, EnvHSMSOPIN)
		dir, path := writeConfig(t, strings.Replace(devDoc, "create_token: true", "create_token: false", 1))
		created, err := BootstrapDevCreated(path)
		if err != nil || len(created) != 0 || os.Getenv(EnvSoftHSMConf) != "" {
			t.Fatalf("created %v, %v", created, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "var")); err == nil {
			t.Fatal("data directory created")
		}
	})
	t.Run("SOFTHSM2_CONF and PINs from the environment", func(t *testing.T) {
		t.Setenv(EnvSoftHSMConf, "/elsewhere/softhsm2.conf")
		t.Setenv(EnvHSMPIN, "1234")
		t.Setenv(EnvHSMSOPIN, "5678")
		dir, path := writeConfig(t, devDoc)
		created, err := BootstrapDevCreated(path)
		if err != nil || len(created) != 0 || os.Getenv(EnvSoftHSMConf) != "/elsewhere/softhsm2.conf" {
			t.Fatalf("created %v, %v", created, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "var")); err == nil {
			t.Fatal("data directory created")
		}
	})
	t.Run("bad file", func(t *testing.T) {
		_, path := writeConfig(t, devDoc+"colour: blue\n")
		if err := BootstrapDev(path); err == nil || !strings.Contains(err.Error(), "colour") {
			t.Fatalf("unknown key: %v", err)
		}
	})
}
