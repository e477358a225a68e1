package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

const (
	demoUsername = "demo"
	demoPhone    = "+447700900123" // Ofcom's range for drama: never a real phone
)

// demoFile is the quick-start account file (contract: exactly these fields).
type demoFile struct {
	BaseURL     string           `json:"base_url"`
	Username    string           `json:"username"`
	Password    string           `json:"password"`
	PIN         string           `json:"pin"`
	TOTPSecret  string           `json:"totp_secret"`
	Phone       string           `json:"phone"`
	Credentials []demoCredential `json:"credentials"`
	// The demo OAuth client (a confidential SCA with a loopback redirect).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RedirectURI  string `json:"redirect_uri"`
}

// The demo OAuth client.
const (
	demoClientID    = "demo-sca"
	demoRedirectURI = "http://127.0.0.1:8765/callback"
)

type demoCredential struct {
	ID           string `json:"id"`
	KeyAlgorithm string `json:"key_algorithm"`
}

var demoAlgorithms = []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256}

func demoCommand() *command {
	return &command{
		name:     "demo",
		summary:  "run init and provision the local development demo account, secrets in a mode-600 file (idempotent)",
		synopsis: "[-out var/demo.json] [-force]",
		setup: func(fs *flag.FlagSet) action {
			out := fs.String("out", "var/demo.json", "where to write the account file (mode 0600)")
			force := fs.Bool("force", false, "allow a configuration without hsm.create_token (not a development setup)")
			return func(ctx context.Context, c *cli) error {
				return c.demo(ctx, *out, *force)
			}
		},
	}
}

func (c *cli) demo(ctx context.Context, out string, force bool) error {
	devOnly := func(cfg *configs.Config) error {
		if !cfg.HSM.CreateToken && !force {
			return usagef("demo is for development configurations (hsm.create_token: true); use -force to provision it anyway")
		}
		return nil
	}
	if d, err := readDemoFile(out); err == nil {
		if ok, err := c.demoExists(ctx, d); err != nil {
			return err
		} else if ok {
			if err := c.upgradeDemo(ctx, out, d, devOnly); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "demo account already provisioned: %s\n", out)
			c.demoSummary(out, d)
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(c.stderr, "%s is unreadable (%v); provisioning a new demo account\n", out, err)
	}

	e, err := c.initialise(ctx, initOptions{devCA: true, check: devOnly}, func(format string, a ...any) { fmt.Fprintf(c.stdout, format+"\n", a...) })
	if err != nil {
		return err
	}
	defer e.close()
	d := &demoFile{BaseURL: e.cfg.Server.PublicURL, Username: demoUsername}
	if d.Password, err = randomPassword(); err != nil {
		return err
	}
	if d.PIN, err = randomDigits(6); err != nil {
		return err
	}
	sg, err := e.demoSigner(ctx, d.Password, func(format string, a ...any) { fmt.Fprintf(c.stdout, format+"\n", a...) })
	if err != nil {
		return err
	}
	seed, _, err := newTOTP(sg.Username)
	if err != nil {
		return err
	}
	if err := e.sam.EnrolTOTP(ctx, sg.ID, seed); err != nil {
		return err
	}
	d.TOTPSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
	// A number from the range Ofcom keeps for drama: with the log sender
	// (configs/cscd.yaml) its codes appear on the server's console.
	d.Phone = demoPhone
	if err := e.sam.SetPhone(ctx, sg.ID, d.Phone); err != nil {
		return err
	}
	for _, alg := range demoAlgorithms {
		cred, err := e.createCredential(ctx, sg, newCredential{username: sg.Username, alg: alg, scal: 2, multisign: 10,
			auth: sam.AuthModeExplicit, description: "Demo " + string(alg) + " key", pin: d.PIN})
		if err != nil {
			return err
		}
		d.Credentials = append(d.Credentials, demoCredential{ID: cred.ID, KeyAlgorithm: cred.KeyAlgorithm})
	}
	if err := c.addDemoClient(ctx, d); err != nil {
		return err
	}
	if err := writeDemoFile(out, d); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "demo account provisioned: %s\n", out)
	c.demoSummary(out, d)
	return nil
}

// demoSigner creates the demo signer, or resets an existing one whose
// account file was lost: new password, active, old credentials deleted.
func (e *env) demoSigner(ctx context.Context, password string, report func(string, ...any)) (*store.Signer, error) {
	sg, err := e.st.SignerByUsername(ctx, demoUsername)
	if errors.Is(err, store.ErrNotFound) {
		sg, err = e.sam.CreateSigner(ctx, sam.NewSigner{Username: demoUsername, Name: "Demo Signer", GivenName: "Demo", Surname: "Signer",
			Password: password, Actor: actor()})
		if err == nil {
			report("created user %s", demoUsername)
		}
		return sg, err
	}
	if err != nil {
		return nil, err
	}
	report("user %s exists without its account file: resetting its password, TOTP seed and credentials", demoUsername)
	if sg.Status != store.StatusActive {
		if err := e.sam.SetSignerStatus(ctx, sg.ID, store.StatusActive, actor()); err != nil {
			return nil, err
		}
	}
	if err := e.sam.SetPassword(ctx, sg.ID, password); err != nil {
		return nil, err
	}
	creds, err := e.st.CredentialsOf(ctx, sg.ID)
	if err != nil {
		return nil, err
	}
	for _, cr := range creds {
		if err := e.sam.DeleteCredential(ctx, cr.ID, actor()); err != nil {
			return nil, err
		}
	}
	return sg, nil
}

// demoExists reports whether the account in d is present in the database:
// its user and every credential it names.
func (c *cli) demoExists(ctx context.Context, d *demoFile) (bool, error) {
	e, err := c.openStore(ctx)
	if err != nil {
		return false, err
	}
	defer e.close()
	sg, err := e.st.SignerByUsername(ctx, d.Username)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, dc := range d.Credentials {
		cred, err := e.st.Credential(ctx, dc.ID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && cred.SignerID != sg.ID) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return len(d.Credentials) > 0, nil
}

func readDemoFile(path string) (*demoFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d demoFile
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	if d.Username == "" {
		return nil, errors.New("no username")
	}
	return &d, nil
}

// demoSummary says what the account is without printing its secrets.
func (c *cli) demoSummary(out string, d *demoFile) {
	fmt.Fprintf(c.stdout, "  local development account only: its password, PIN and TOTP seed are in %s (mode 0600)\n", out)
	fmt.Fprintf(c.stdout, "  server:   %s\n  user:     %s\n", d.BaseURL, d.Username)
	for _, cr := range d.Credentials {
		fmt.Fprintf(c.stdout, "  credential %s (%s, SCAL 2, PIN + TOTP)\n", cr.ID, cr.KeyAlgorithm)
	}
	// The quick start keeps the account file beside the server's data, where
	// cscd writes its development TLS certificate on first start.
	cert := filepath.Join(filepath.Dir(out), "tls-cert.pem")
	fmt.Fprintf(c.stdout, "try it once the server is up:\n")
	fmt.Fprintf(c.stdout, "  curl --cacert %s -d '{}' %s/csc/v2/info\n", cert, d.BaseURL)
	fmt.Fprintf(c.stdout, "  curl --cacert %s -u \"%s:$(jq -r .password %s)\" -d '{}' %s/csc/v2/auth/login\n", cert, d.Username, out, d.BaseURL)
	fmt.Fprintf(c.stdout, "  then README.md, \"A signature with curl\": list, info, authorize with the PIN and a TOTP code\n")
	fmt.Fprintf(c.stdout, "  (cscctl totp code -account %s) and signHash, verified with openssl\n", out)
	if d.ClientID != "" {
		fmt.Fprintf(c.stdout, "browser flow (OAuth, approve on our pages): OAuth client %s, redirect %s;\n", d.ClientID, d.RedirectURI)
		fmt.Fprintf(c.stdout, "  README.md, \"Signing through the browser\", builds the authorize URL and exchanges the code\n")
	}
}

// randomPassword is 16 base64url characters (96 random bits).
func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomDigits is n (at most 18) uniformly random decimal digits.
func randomDigits(n int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v.Int64()), nil
}

func writeDemoFile(out string, d *demoFile) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return writeFileAtomic(out, append(data, '\n'), 0o600)
}

// addDemoClient (re)registers the demo OAuth client with a new secret and
// records it in d.
func (c *cli) addDemoClient(ctx context.Context, d *demoFile) error {
	cl, err := newOAuthClient(demoClientID, "Demo SCA", []string{demoRedirectURI}, false, "service,credential", "")
	if err != nil {
		return err
	}
	secret, err := newClientSecret()
	if err != nil {
		return err
	}
	if cl.SecretHash, err = bcrypt.GenerateFromPassword([]byte(secret), clientSecretCost); err != nil {
		return err
	}
	e, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.st.DeleteOAuthClient(ctx, demoClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := e.st.CreateOAuthClient(ctx, cl); err != nil {
		return err
	}
	d.ClientID, d.ClientSecret, d.RedirectURI = cl.ID, secret, demoRedirectURI
	fmt.Fprintf(c.stdout, "registered OAuth client %s (redirect %s)\n", cl.ID, demoRedirectURI)
	return nil
}

// upgradeDemo brings a demo installation made by an earlier version up to
// date: what init creates (the timestamp authority), the OAuth client and
// the phone number, each added only when missing.
func (c *cli) upgradeDemo(ctx context.Context, out string, d *demoFile, check func(*configs.Config) error) error {
	quiet := func(string, ...any) {}
	e, err := c.initialise(ctx, initOptions{devCA: true, check: check}, quiet)
	if err != nil {
		return err
	}
	defer e.close()
	changed := false
	if d.Phone == "" {
		sg, err := e.st.SignerByUsername(ctx, demoUsername)
		if err != nil {
			return err
		}
		if err := e.sam.SetPhone(ctx, sg.ID, demoPhone); err != nil {
			return err
		}
		d.Phone, changed = demoPhone, true
	}
	if d.ClientID == "" { // written before the OAuth client existed
		if err := c.addDemoClient(ctx, d); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return writeDemoFile(out, d)
	}
	return nil
}
