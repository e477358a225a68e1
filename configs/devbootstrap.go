package configs

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvSoftHSMConf is the variable SoftHSM2 reads its configuration file from.
const EnvSoftHSMConf = "SOFTHSM2_CONF"

// BootstrapDev prepares a fresh machine for a development configuration,
// one with hsm.create_token set; for any other configuration it does
// nothing. It must run before anything in the process initialises PKCS#11,
// because SoftHSM2 reads SOFTHSM2_CONF only then. BootstrapDevCreated does
// the same and also returns the paths it created.
//
//   - The user and SO PIN files named by hsm.pin_file and hsm.so_pin_file
//     are created with random PINs (mode 0600, directories 0700) when they
//     are missing and the matching environment variable (CSC_HSM_PIN,
//     CSC_HSM_SO_PIN) is not set. An existing file is never changed.
//   - If hsm.module is SoftHSM2 and SOFTHSM2_CONF is unset, the token
//     directory is kept under data_dir: data_dir/softhsm2.conf and
//     data_dir/tokens are created when missing, and SOFTHSM2_CONF is set for
//     this process (and its children) to that file.
//
// A PIN file missing while that token directory already holds tokens is an
// error rather than a new random PIN, which could never open the token: the
// file must be restored, or the directory removed to start over.
func BootstrapDev(configPath string) error {
	_, err := BootstrapDevCreated(configPath)
	return err
}

// BootstrapDevCreated is BootstrapDev, returning the paths it created (files
// and directories), for tools that report them.
func BootstrapDevCreated(configPath string) (created []string, err error) {
	c, err := decodeUnresolved(configPath)
	if err != nil {
		return nil, err
	}
	if !c.HSM.CreateToken {
		return nil, nil
	}
	tokenDir := ""
	if c.DataDir != "" && strings.Contains(strings.ToLower(filepath.Base(c.HSM.Module)), "softhsm") {
		if os.Getenv(EnvSoftHSMConf) == "" {
			conf := filepath.Join(c.DataDir, "softhsm2.conf")
			tokenDir = filepath.Join(c.DataDir, "tokens")
			made, err := ensureSoftHSMConf(conf, tokenDir)
			if err != nil {
				return created, err
			}
			created = append(created, made...)
			if err := os.Setenv(EnvSoftHSMConf, conf); err != nil {
				return created, fmt.Errorf("bootstrap: %w", err)
			}
		} else if own := filepath.Join(c.DataDir, "softhsm2.conf"); sameFile(os.Getenv(EnvSoftHSMConf), own) {
			tokenDir = filepath.Join(c.DataDir, "tokens")
		}
	}
	for _, p := range []struct{ env, file, key string }{
		{EnvHSMPIN, c.HSM.PINFile, "hsm.pin_file"},
		{EnvHSMSOPIN, c.HSM.SOPINFile, "hsm.so_pin_file"},
	} {
		if os.Getenv(p.env) != "" || p.file == "" {
			continue
		}
		if _, err := os.Stat(p.file); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return created, fmt.Errorf("bootstrap: %s: %w", p.key, err)
		}
		if tokenDir != "" && !emptyDir(tokenDir) {
			return created, fmt.Errorf("bootstrap: %s %s is missing but %s already holds a token; restore the PIN file, or remove %s to start over",
				p.key, p.file, tokenDir, tokenDir)
		}
		if err := writeRandomPIN(p.file); err != nil {
			return created, fmt.Errorf("bootstrap: %s: %w", p.key, err)
		}
		created = append(created, p.file)
	}
	return created, nil
}

// decodeUnresolved reads a configuration file strictly and resolves its
// paths, without reading secrets or validating (they may not exist yet).
func decodeUnresolved(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolvePaths(filepath.Dir(abs))
	return &c, nil
}

// ensureSoftHSMConf writes a SoftHSM2 configuration keeping tokens in
// tokenDir, unless conf exists, and creates tokenDir.
func ensureSoftHSMConf(conf, tokenDir string) ([]string, error) {
	var made []string
	if err := os.MkdirAll(filepath.Dir(conf), 0o700); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := os.Stat(tokenDir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(tokenDir, 0o700); err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		made = append(made, tokenDir)
	}
	body := fmt.Sprintf("# SoftHSM2 configuration for development, written by rssp.\n"+
		"directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokenDir)
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return made, nil
	}
	if err != nil {
		return made, fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return made, fmt.Errorf("bootstrap: %w", err)
	}
	if err := f.Close(); err != nil {
		return made, fmt.Errorf("bootstrap: %w", err)
	}
	return append(made, conf), nil
}

// writeRandomPIN creates path (never replacing an existing file) holding 24
// random base64url characters, readable by the owner only.
func writeRandomPIN(path string) error {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(base64.RawURLEncoding.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func emptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) == 0 || errors.Is(err, fs.ErrNotExist)
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
