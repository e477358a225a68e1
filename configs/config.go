// Package configs holds the server's typed configuration and the example
// configuration files beside it; a test loads every example file.
//
// Files are YAML decoded strictly: an unknown key is an error, so a typo never
// silently falls back to a default. Secrets are never written in the file
// itself: the HSM user PIN comes from a file (hsm.pin_file) or an environment
// variable (CSC_HSM_PIN), and the environment may override the database DSN
// (CSC_STORE_DSN), which can carry a password.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"gopkg.in/yaml.v3"
)

// Environment variables that override the file.
const (
	EnvHSMPIN   = "CSC_HSM_PIN"
	EnvHSMSOPIN = "CSC_HSM_SO_PIN"
	EnvStoreDSN = "CSC_STORE_DSN"
)

// Config is the whole server configuration.
type Config struct {
	// DataDir holds the SQLite database and, in development, the SoftHSM2
	// token directory. Relative paths in this file are resolved against the
	// directory of the file itself.
	DataDir string       `yaml:"data_dir"`
	HSM     HSM          `yaml:"hsm"`
	Store   store.Config `yaml:"store"`
	SAM     sam.Config   `yaml:"sam"`
	Server  Server       `yaml:"server"`
	Service Service      `yaml:"service"`
	Login   Login        `yaml:"login"`
	OAuth   OAuth        `yaml:"oauth"`
	CA      CA           `yaml:"ca"`
	SMS     SMS          `yaml:"sms"`
	// TSA is where signDoc's timestamps come from (tsa.go).
	TSA TSA `yaml:"tsa"`
	// Enrol is the credential signers get at enrolment (enrol.go).
	Enrol Enrol `yaml:"enrol"`
	// Production refuses development-only settings (the log SMS sender).
	Production bool `yaml:"production"`
}

// HSM configures the PKCS#11 token.
type HSM struct {
	Module       string `yaml:"module"`
	TokenLabel   string `yaml:"token_label"`
	PINFile      string `yaml:"pin_file"`
	PoolSize     int    `yaml:"pool_size"`
	MACSessions  int    `yaml:"mac_sessions"`
	KeyCacheSize int    `yaml:"key_cache_size"`
	// WrapKey and MACKey are RFC 7512 pkcs11: URIs of the master keys.
	WrapKey string `yaml:"wrap_key"`
	MACKey  string `yaml:"mac_key"`
	// CreateToken initialises the token on first start if it is missing
	// (development only); the SO PIN then comes from so_pin_file or CSC_HSM_SO_PIN.
	CreateToken bool   `yaml:"create_token"`
	SOPINFile   string `yaml:"so_pin_file"`

	pin, soPIN string
}

// Load reads, decodes strictly, applies environment overrides, resolves
// secrets and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Decode(f, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Decode is Load for an already open file; baseDir resolves relative paths.
func Decode(r io.Reader, baseDir string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	c.resolvePaths(baseDir)
	c.applyDefaults()
	c.Enrol.applyDefaults()
	if dsn := os.Getenv(EnvStoreDSN); dsn != "" {
		c.Store.DSN = dsn
	}
	if err := c.resolveSecrets(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) resolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	c.HSM.PINFile = abs(c.HSM.PINFile)
	c.HSM.SOPINFile = abs(c.HSM.SOPINFile)
	c.Server.TLSCert = abs(c.Server.TLSCert)
	c.Server.TLSKey = abs(c.Server.TLSKey)
	c.SMS.Twilio.AuthTokenFile = abs(c.SMS.Twilio.AuthTokenFile)
	c.SMS.Twilio.APISecretFile = abs(c.SMS.Twilio.APISecretFile)
	c.TSA.CAFile = abs(c.TSA.CAFile)
	if (c.Store.Driver == "" || c.Store.Driver == store.DriverSQLite) && c.Store.DSN != "" && !filepath.IsAbs(c.Store.DSN) {
		if c.DataDir != "" {
			c.Store.DSN = filepath.Join(c.DataDir, c.Store.DSN)
		} else {
			c.Store.DSN = abs(c.Store.DSN)
		}
	}
}

func (c *Config) resolveSecrets() error {
	var err error
	if c.HSM.pin, err = secret(EnvHSMPIN, c.HSM.PINFile, "hsm.pin_file"); err != nil {
		return err
	}
	if c.HSM.CreateToken {
		if c.HSM.soPIN, err = secret(EnvHSMSOPIN, c.HSM.SOPINFile, "hsm.so_pin_file"); err != nil {
			return err
		}
	}
	return c.SMS.resolveSecrets()
}

// secret reads a secret from the environment (preferred) or from a file that
// others cannot read.
func secret(env, file, key string) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	if file == "" {
		return "", fmt.Errorf("%s or %s is required", key, env)
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: %s is readable by group or others (chmod 600 it)", key, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", key, file)
	}
	return v, nil
}

// Validate checks every section.
func (c *Config) Validate() error {
	if c.HSM.Module == "" {
		return errors.New("hsm.module is required")
	}
	if c.HSM.TokenLabel == "" {
		return errors.New("hsm.token_label is required")
	}
	if c.HSM.PoolSize < 0 || c.HSM.PoolSize > 256 {
		return errors.New("hsm.pool_size must be between 0 (one per CPU) and 256")
	}
	if c.HSM.MACSessions < 0 || c.HSM.MACSessions > 64 {
		return errors.New("hsm.mac_sessions must be between 0 (one) and 64")
	}
	for _, u := range []struct{ key, v string }{{"hsm.wrap_key", c.HSM.WrapKey}, {"hsm.mac_key", c.HSM.MACKey}} {
		if u.v == "" {
			continue
		}
		if _, err := hsm.ParseURI(u.v); err != nil {
			return fmt.Errorf("%s: %w", u.key, err)
		}
	}
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if err := c.validateServer(); err != nil {
		return err
	}
	if err := c.validateSMS(); err != nil {
		return err
	}
	if err := c.validateTSA(); err != nil {
		return err
	}
	if err := c.Enrol.validate(); err != nil {
		return err
	}
	return c.SAM.Validate()
}

// HSMConfig returns the hsm package configuration with secrets resolved.
func (c *Config) HSMConfig() hsm.Config {
	return hsm.Config{
		ModulePath: c.HSM.Module, TokenLabel: c.HSM.TokenLabel, PIN: c.HSM.pin,
		PoolSize: c.HSM.PoolSize, MACSessions: c.HSM.MACSessions, KeyCacheSize: c.HSM.KeyCacheSize, WrapKey: c.HSM.WrapKey, MACKey: c.HSM.MACKey,
		CreateToken: c.HSM.CreateToken, SOPIN: c.HSM.soPIN,
	}
}
