package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

const (
	benchUsername = "cscbench"
	benchActor    = "cscbench"
	// maxSADSignatures is the multisign of the bench credentials and the
	// numSignatures of every SAD the bench asks for.
	maxSADSignatures = 1000
)

// account is the bench signer, saved in the -account file (mode 600). It
// holds secrets: it is never printed.
type account struct {
	BaseURL     string              `json:"base_url"`
	Username    string              `json:"username"`
	Password    string              `json:"password"`
	PIN         string              `json:"pin"`
	Credentials []accountCredential `json:"credentials"`
}

type accountCredential struct {
	ID           string `json:"id"`
	KeyAlgorithm string `json:"key_algorithm"`
}

// provisionSAM is what provisioning needs from the SAM. *sam.SAM satisfies it.
type provisionSAM interface {
	CreateSigner(ctx context.Context, n sam.NewSigner) (*store.Signer, error)
	SetPassword(ctx context.Context, signerID, password string) error
	CreateCredential(ctx context.Context, req sam.NewCredential) (*store.Credential, error)
	SetPIN(ctx context.Context, credentialID, pin string) error
	InitDevCA(ctx context.Context, cfg sam.DevCAConfig) (*x509.Certificate, bool, error)
	IssueDevCertificate(ctx context.Context, credentialID string, subj sam.Subject, validity time.Duration) ([]*x509.Certificate, error)
	DeleteCredential(ctx context.Context, credentialID, actor string) error
}

// provisionStore is what provisioning reads from the database. *store.Store
// satisfies it.
type provisionStore interface {
	SignerByUsername(ctx context.Context, username string) (*store.Signer, error)
	Credential(ctx context.Context, id string) (*store.Credential, error)
	CredentialsOf(ctx context.Context, signerID string) ([]store.Credential, error)
}

var (
	_ provisionSAM   = (*sam.SAM)(nil)
	_ provisionStore = (*store.Store)(nil)
)

// provisioner creates or reuses the bench account.
type provisioner struct {
	sam     provisionSAM
	db      provisionStore
	ca      configs.CA
	path    string
	baseURL string
	caReady bool
}

// ensure returns the account and one usable credential per algorithm:
// the saved account while its signer exists (adding credentials it lacks),
// else a new one. reused reports that the signer and every credential came
// from the saved account.
func (p *provisioner) ensure(ctx context.Context, algs []hsm.KeyAlgorithm) (acct *account, creds map[hsm.KeyAlgorithm]*store.Credential, reused bool, err error) {
	acct, err = readAccount(p.path)
	if err != nil {
		return nil, nil, false, err
	}
	var sg *store.Signer
	if acct != nil {
		sg, err = p.db.SignerByUsername(ctx, acct.Username)
		switch {
		case errors.Is(err, store.ErrNotFound):
			acct = nil // saved for another database
		case err != nil:
			return nil, nil, false, err
		case sg.Status != store.StatusActive:
			return nil, nil, false, fmt.Errorf("account %s: signer %s is %s", p.path, acct.Username, sg.Status)
		}
	}
	changed := false
	if acct == nil {
		if sg, acct, err = p.newAccount(ctx); err != nil {
			return nil, nil, false, err
		}
		changed = true
	}
	creds = make(map[hsm.KeyAlgorithm]*store.Credential)
	var keep []accountCredential
	for _, ac := range acct.Credentials {
		alg := hsm.KeyAlgorithm(ac.KeyAlgorithm)
		if creds[alg] != nil {
			keep = append(keep, ac)
			continue
		}
		cred, err := p.db.Credential(ctx, ac.ID)
		if errors.Is(err, store.ErrNotFound) || err == nil && !usable(cred, sg.ID, alg) {
			changed = true // gone or changed: forget it
			continue
		}
		if err != nil {
			return nil, nil, false, err
		}
		creds[alg] = cred
		keep = append(keep, ac)
	}
	acct.Credentials = keep
	reused = !changed
	for _, alg := range algs {
		if creds[alg] != nil {
			continue
		}
		cred, err := p.newCredential(ctx, sg.ID, alg, acct.PIN)
		if err != nil {
			return nil, nil, false, err
		}
		creds[alg] = cred
		acct.Credentials = append(acct.Credentials, accountCredential{ID: cred.ID, KeyAlgorithm: string(alg)})
		changed, reused = true, false
	}
	if acct.BaseURL != p.baseURL {
		acct.BaseURL, changed = p.baseURL, true
	}
	if changed {
		if err := writeAccount(p.path, acct); err != nil {
			return nil, nil, false, err
		}
	}
	return acct, creds, reused, nil
}

// usable reports whether cred is a bench credential the tool can drive.
func usable(cred *store.Credential, signerID string, alg hsm.KeyAlgorithm) bool {
	return cred.SignerID == signerID && cred.Status == store.StatusActive && cred.KeyAlgorithm == string(alg) &&
		cred.SCAL == 1 && cred.AuthMode == sam.AuthModeExplicit && cred.Multisign >= maxSADSignatures &&
		len(cred.Certificates) > 0
}

// newAccount creates the bench signer with a random password and PIN. If
// the signer exists without a usable account file (the file was lost), its
// password is replaced and its old credentials, whose PIN is lost with the
// file, are deleted.
func (p *provisioner) newAccount(ctx context.Context) (*store.Signer, *account, error) {
	acct := &account{Username: benchUsername, BaseURL: p.baseURL}
	var err error
	if acct.Password, err = randomString(24); err != nil {
		return nil, nil, err
	}
	if acct.PIN, err = randomDigits(8); err != nil {
		return nil, nil, err
	}
	sg, err := p.db.SignerByUsername(ctx, benchUsername)
	switch {
	case errors.Is(err, store.ErrNotFound):
		sg, err = p.sam.CreateSigner(ctx, sam.NewSigner{Username: benchUsername, Name: "CSC Bench", Password: acct.Password, Actor: benchActor})
		if err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	case sg.Status != store.StatusActive:
		return nil, nil, fmt.Errorf("signer %s exists and is %s", benchUsername, sg.Status)
	default:
		if err := p.sam.SetPassword(ctx, sg.ID, acct.Password); err != nil {
			return nil, nil, err
		}
		old, err := p.db.CredentialsOf(ctx, sg.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range old {
			if err := p.sam.DeleteCredential(ctx, c.ID, benchActor); err != nil {
				return nil, nil, err
			}
		}
	}
	return sg, acct, nil
}

// newCredential creates a SCAL 1 credential with explicit authorization,
// multisign 1000 and the PIN, certified by the development CA.
func (p *provisioner) newCredential(ctx context.Context, signerID string, alg hsm.KeyAlgorithm, pin string) (*store.Credential, error) {
	if !p.caReady {
		_, _, err := p.sam.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.KeyAlgorithm(p.ca.KeyAlgorithm),
			CommonName: p.ca.CommonName, Organization: p.ca.Organization, Country: p.ca.Country})
		if err != nil {
			return nil, fmt.Errorf("development CA: %w", err)
		}
		p.caReady = true
	}
	cred, err := p.sam.CreateCredential(ctx, sam.NewCredential{SignerID: signerID, Algorithm: alg, SCAL: 1,
		Multisign: maxSADSignatures, AuthMode: sam.AuthModeExplicit, Description: "cscbench load-test credential", Disabled: true})
	if err != nil {
		return nil, fmt.Errorf("create %s credential: %w", alg, err)
	}
	if err := p.sam.SetPIN(ctx, cred.ID, pin); err != nil {
		return nil, err
	}
	if _, err := p.sam.IssueDevCertificate(ctx, cred.ID, sam.Subject{}, p.ca.CertValidity); err != nil {
		return nil, fmt.Errorf("certify %s credential: %w", alg, err)
	}
	return p.db.Credential(ctx, cred.ID)
}

// readAccount returns the saved account, or nil if there is none.
func readAccount(path string) (*account, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	var a account
	if err := json.Unmarshal(b, &a); err != nil || a.Username == "" || a.Password == "" || a.PIN == "" {
		return nil, fmt.Errorf("account %s is not a cscbench account file; remove it to start over", path)
	}
	return &a, nil
}

// writeAccount replaces the account file atomically, readable by the owner
// only.
func writeAccount(path string, a *account) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".bench-*.json")
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("account: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("account: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	return nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func randomDigits(n int) (string, error) {
	out := make([]byte, n)
	for i := range out {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		out[i] = byte('0' + d.Int64())
	}
	return string(out), nil
}
