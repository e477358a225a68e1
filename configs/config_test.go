package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleFilesLoad loads every example file shipped in this folder.
func TestExampleFilesLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("example files: %v %v", files, err)
	}
	t.Setenv(EnvHSMPIN, "user-pin-from-env")
	t.Setenv(EnvHSMSOPIN, "so-pin-from-env")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.HSMConfig().PIN; got != "user-pin-from-env" {
				t.Fatalf("PIN not taken from %s", EnvHSMPIN)
			}
			if c.SAM.SADLifetime != 5*time.Minute {
				t.Fatalf("sad_lifetime = %v", c.SAM.SADLifetime)
			}
		})
	}
}

func TestDevDefaultsResolveRelativePaths(t *testing.T) {
	t.Setenv(EnvHSMPIN, "1234")
	t.Setenv(EnvHSMSOPIN, "5678")
	c, err := Load("cscd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../var/rssp.db")
	if c.Store.DSN != abs || c.HSMConfig().SOPIN != "5678" || !c.HSM.CreateToken {
		t.Fatalf("dsn %q, create %v", c.Store.DSN, c.HSM.CreateToken)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Setenv(EnvHSMPIN, "1234")
	base := "hsm: {module: /m.so, token_label: t}\nstore: {dsn: x.db}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", base + "colour: blue\n", "colour"},
		{"unknown nested key", "hsm: {module: /m.so, token_label: t, pin: 1234}\nstore: {dsn: x.db}\n", "pin"},
		{"missing module", "hsm: {token_label: t}\nstore: {dsn: x.db}\n", "hsm.module"},
		{"bad driver", "hsm: {module: /m.so, token_label: t}\nstore: {driver: mysql, dsn: x}\n", "unknown driver"},
		{"bad uri", "hsm: {module: /m.so, token_label: t, wrap_key: 'http://x'}\nstore: {dsn: x.db}\n", "hsm.wrap_key"},
		{"weak policy", base + "sam: {max_failures: 1000}\n", "max_failures"},
		{"two documents", base + "---\nhsm: {}\n", "more than one"},
		{"bad duration", base + "sam: {sad_lifetime: soon}\n", "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSecretsFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	doc := "hsm: {module: /m.so, token_label: t, pin_file: pin}\nstore: {dsn: x.db}\n"

	t.Setenv(EnvHSMPIN, "")
	if _, err := Decode(strings.NewReader(doc), dir); err == nil {
		t.Fatal("loaded without a PIN")
	}
	if err := os.WriteFile(pinFile, []byte("4321\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(strings.NewReader(doc), dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable PIN file accepted: %v", err)
	}
	if err := os.Chmod(pinFile, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Decode(strings.NewReader(doc), dir)
	if err != nil || c.HSMConfig().PIN != "4321" {
		t.Fatalf("PIN from file: %v", err)
	}
	t.Setenv(EnvHSMPIN, "9999")
	t.Setenv(EnvStoreDSN, "/elsewhere/db.sqlite")
	c, err = Decode(strings.NewReader(doc), dir)
	if err != nil || c.HSMConfig().PIN != "9999" || c.Store.DSN != "/elsewhere/db.sqlite" {
		t.Fatalf("environment overrides: %v", err)
	}
}
