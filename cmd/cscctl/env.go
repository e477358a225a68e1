package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// env is what a command works with: the configuration, the database, and
// (for commands that need keys or MACs) the HSM and the SAM.
type env struct {
	cfg *configs.Config
	st  *store.Store
	hsm *hsm.HSM
	sam *sam.SAM
}

func (e *env) close() {
	if e.st != nil {
		_ = e.st.Close()
	}
	if e.hsm != nil {
		_ = e.hsm.Close()
	}
}

// loadConfig prepares a development machine (see configs.BootstrapDev) and
// loads the configuration. It returns the paths the bootstrap created.
func (c *cli) loadConfig() (*configs.Config, []string, error) {
	created, err := configs.BootstrapDevCreated(c.configPath)
	if err != nil {
		return nil, created, err
	}
	cfg, err := configs.Load(c.configPath)
	if err != nil {
		return nil, created, err
	}
	return cfg, created, nil
}

// openStore opens the database only, for commands that read.
func (c *cli) openStore(ctx context.Context) (*env, error) {
	cfg, _, err := c.loadConfig()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return &env{cfg: cfg, st: st}, nil
}

// open opens the HSM (which must have been initialised: token and master
// keys), the database and the SAM.
func (c *cli) open(ctx context.Context) (*env, error) {
	cfg, _, err := c.loadConfig()
	if err != nil {
		return nil, err
	}
	hc := cfg.HSMConfig()
	hc.CreateToken = false
	h, err := hsm.Open(hc)
	if errors.Is(err, hsm.ErrTokenNotFound) {
		return nil, fmt.Errorf("HSM token %q not found: run 'cscctl init' first", hc.TokenLabel)
	}
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, hsm: h}
	if err := h.CheckMasterKeys(ctx); err != nil {
		e.close()
		if errors.Is(err, hsm.ErrKeyNotFound) {
			return nil, errors.New("HSM master keys not found: run 'cscctl init' first")
		}
		return nil, err
	}
	if e.st, err = store.Open(ctx, cfg.Store); err != nil {
		e.close()
		return nil, err
	}
	if e.sam, err = sam.New(cfg.SAM, h, e.st, sam.WithPublicURL(cfg.Server.PKIBaseURL())); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// initOptions tune initialise.
type initOptions struct {
	devCA bool                        // create the development CA
	check func(*configs.Config) error // optional: refuse a configuration before anything is created in the HSM
}

// initialise is `cscctl init`: token, master keys, schema and development
// CA, each created only when missing. report receives one line per step.
func (c *cli) initialise(ctx context.Context, opts initOptions, report func(format string, a ...any)) (*env, error) {
	cfg, created, err := c.loadConfig()
	for _, p := range created {
		report("created %s", p)
	}
	if err != nil {
		return nil, err
	}
	if opts.check != nil {
		if err := opts.check(cfg); err != nil {
			return nil, err
		}
	}
	hc := cfg.HSMConfig()
	mayCreate := hc.CreateToken
	hc.CreateToken = false
	h, err := hsm.Open(hc)
	if errors.Is(err, hsm.ErrTokenNotFound) && mayCreate {
		hc.CreateToken = true
		if h, err = hsm.Open(hc); err == nil {
			report("created HSM token %q", hc.TokenLabel)
		}
	}
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, hsm: h}
	made, err := h.InitMasterKeys(ctx)
	if err != nil {
		e.close()
		return nil, err
	}
	if made {
		report("created HSM master keys")
	} else {
		report("HSM master keys present")
	}
	if e.st, err = store.Open(ctx, cfg.Store); err != nil {
		e.close()
		return nil, err
	}
	if e.st.Driver() == store.DriverSQLite {
		report("database ready: %s", cfg.Store.DSN)
	} else {
		report("database ready: %s", e.st.Driver()) // the DSN may carry a password
	}
	if e.sam, err = sam.New(cfg.SAM, h, e.st, sam.WithPublicURL(cfg.Server.PKIBaseURL())); err != nil {
		e.close()
		return nil, err
	}
	if !opts.devCA {
		return e, nil
	}
	ca, made, err := e.sam.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.KeyAlgorithm(cfg.CA.KeyAlgorithm),
		CommonName: cfg.CA.CommonName, Organization: cfg.CA.Organization, Country: cfg.CA.Country})
	if err != nil {
		e.close()
		return nil, err
	}
	verb := "present"
	if made {
		verb = "created"
	}
	report("development CA %s: %s (SHA-256 %X)", verb, ca.Subject, sha256.Sum256(ca.Raw))
	if cfg.DataDir != "" {
		p := filepath.Join(cfg.DataDir, "dev-ca.pem")
		wrote, err := writeIfChanged(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644)
		if err != nil {
			e.close()
			return nil, err
		}
		if wrote {
			report("wrote %s (give it to relying parties as a trust anchor)", p)
		}
	}
	tsa, made, err := e.sam.InitDevTSA(ctx, sam.DevTSAConfig{})
	if err != nil {
		e.close()
		return nil, err
	}
	verb = "present"
	if made {
		verb = "created"
	}
	report("timestamp authority %s: %s (certified by the development CA)", verb, tsa.Subject)
	return e, nil
}

// writeIfChanged writes data to path unless it already holds exactly data.
func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	return true, writeFileAtomic(path, data, perm)
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// actor names the operator in the audit log.
func actor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return "cscctl:" + name
}

// signerByUsername resolves a username, with a clear error for an unknown one.
func (e *env) signerByUsername(ctx context.Context, username string) (*store.Signer, error) {
	sg, err := e.st.SignerByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("unknown user %q", username)
	}
	return sg, err
}

// credential loads a credential, with a clear error for an unknown ID.
func (e *env) credential(ctx context.Context, id string) (*store.Credential, error) {
	cred, err := e.st.Credential(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("unknown credential %q", id)
	}
	return cred, err
}

// leafOf returns a credential's leaf certificate, or nil.
func leafOf(cred *store.Credential) *x509.Certificate {
	certs, err := sam.Certificates(cred)
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}

func initCommand() *command {
	return &command{
		name:     "init",
		summary:  "create the HSM token (dev), master keys, database schema and development CA when missing",
		synopsis: "[-no-dev-ca]",
		setup: func(fs *flag.FlagSet) action {
			noCA := fs.Bool("no-dev-ca", false, "do not create the built-in development CA")
			return func(ctx context.Context, c *cli) error {
				e, err := c.initialise(ctx, initOptions{devCA: !*noCA}, func(format string, a ...any) { fmt.Fprintf(c.stdout, format+"\n", a...) })
				if err != nil {
					return err
				}
				e.close()
				return nil
			}
		},
	}
}
