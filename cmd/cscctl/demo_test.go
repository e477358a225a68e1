package main

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func TestDemoIsIdempotentAndUsable(t *testing.T) {
	e := newTestEnv(t)
	out := filepath.Join(e.dir, "var", "demo.json")
	r := e.must("", "demo", "-out", out)
	if !strings.Contains(r.stdout, "created HSM token") || !strings.Contains(r.stdout, "demo account provisioned: "+out) {
		t.Fatalf("first demo:\n%s", r.stdout)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("demo file: %v %v", st, err)
	}
	data, _ := os.ReadFile(out)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// The six fields of the quick start (issue 3), the demo OAuth client (issue 4) and the phone (issue 5).
	if want := []string{"base_url", "client_id", "client_secret", "credentials", "password", "phone", "pin", "redirect_uri", "totp_secret", "username"}; !slices.Equal(keys, want) {
		t.Fatalf("demo file fields %v, want exactly %v", keys, want)
	}
	var d demoFile
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var credKeys []string
	var creds []map[string]string
	_ = json.Unmarshal(raw["credentials"], &creds)
	for _, c := range creds {
		for k := range c {
			credKeys = append(credKeys, k)
		}
	}
	slices.Sort(credKeys)
	if !slices.Equal(credKeys, []string{"id", "id", "key_algorithm", "key_algorithm"}) {
		t.Fatalf("credential fields %v", credKeys)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(d.TOTPSecret)
	switch {
	case d.BaseURL != "https://rssp.test:8443" || d.Username != "demo":
		t.Fatalf("base_url %q username %q", d.BaseURL, d.Username)
	case !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(d.Password):
		t.Fatalf("password %q is not 16 base64url characters", d.Password)
	case !regexp.MustCompile(`^[0-9]{6}$`).MatchString(d.PIN):
		t.Fatalf("PIN %q is not 6 digits", d.PIN)
	case err != nil || len(seed) != 20 || strings.Contains(d.TOTPSecret, "="):
		t.Fatalf("totp_secret %q: %v", d.TOTPSecret, err)
	case len(d.Credentials) != 2 || d.Credentials[0].KeyAlgorithm != "RSA-2048" || d.Credentials[1].KeyAlgorithm != "EC-P256":
		t.Fatalf("credentials %+v", d.Credentials)
	}
	for _, secret := range []string{d.Password, d.PIN, d.TOTPSecret} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatal("demo printed a secret instead of pointing to the file")
		}
	}

	// Second run: nothing changes.
	r = e.must("", "demo", "-out", out)
	if !strings.Contains(r.stdout, "already provisioned") || strings.Contains(r.stdout, "created") {
		t.Fatalf("second demo:\n%s", r.stdout)
	}
	if again, _ := os.ReadFile(out); string(again) != string(data) {
		t.Fatal("second demo rewrote the file")
	}

	// A demo file from before the phone existed: the next run adds the
	// phone and leaves the rest as it was.
	var old map[string]any
	_ = json.Unmarshal(data, &old)
	delete(old, "phone")
	oldData, _ := json.Marshal(old)
	if err := os.WriteFile(out, oldData, 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.must("", "demo", "-out", out)
	upgraded, _ := os.ReadFile(out)
	var u demoFile
	if err := json.Unmarshal(upgraded, &u); err != nil || u.Phone != demoPhone || u.Password != d.Password || u.Credentials[0].ID != d.Credentials[0].ID {
		t.Fatalf("upgraded demo file %+v, %v", u, err)
	}

	// The account works: login, PIN + TOTP authorization, signature that
	// verifies with the certificate.
	s, st2, closeAll := e.open()
	if f, err := st2.Factor(ctx, mustSigner(t, st2, "demo"), "", store.FactorSMS); err != nil || f.Target != demoPhone || f.Status != store.StatusActive {
		t.Fatalf("demo phone factor %+v, %v", f, err)
	}
	if chain, err := s.TSAChain(ctx); err != nil || len(chain) != 2 {
		t.Fatalf("demo has no timestamp authority: %v", err)
	}
	checkDemoAccount(t, s, st2, &d, seed)
	closeAll()

	// The file lost: demo resets the account instead of failing.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	r = e.must("", "demo", "-out", out)
	if !strings.Contains(r.stdout, "resetting") {
		t.Fatalf("demo without its file:\n%s", r.stdout)
	}
	var d2 demoFile
	data2, _ := os.ReadFile(out)
	if err := json.Unmarshal(data2, &d2); err != nil || d2.Password == d.Password || d2.Credentials[0].ID == d.Credentials[0].ID {
		t.Fatalf("reset account %+v, %v", d2, err)
	}
	s, st2, closeAll = e.open()
	defer closeAll()
	if cs, _ := st2.Credentials(ctx, "", 10); len(cs) != 2 {
		t.Fatalf("%d credentials after the reset, want the 2 new ones", len(cs))
	}
	seed2, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(d2.TOTPSecret)
	checkDemoAccount(t, s, st2, &d2, seed2)
}

func checkDemoAccount(t *testing.T, s *sam.SAM, st *store.Store, d *demoFile, seed []byte) {
	t.Helper()
	signerID, err := s.CheckPassword(ctx, st, d.Username, d.Password)
	if err != nil {
		t.Fatalf("demo login: %v", err)
	}
	ec := d.Credentials[1]
	cred, err := st.Credential(ctx, ec.ID)
	if err != nil || cred.SCAL != 2 || cred.Multisign != 10 || cred.AuthMode != sam.AuthModeExplicit || cred.Status != store.StatusActive {
		t.Fatalf("demo credential %+v, %v", cred, err)
	}
	h := sha256.Sum256([]byte("demo document"))
	sad, err := s.Authorize(ctx, sam.AuthorizeRequest{CredentialID: ec.ID, SignerID: signerID, ClientID: "test", NumSignatures: 1,
		HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h[:]}, PIN: d.PIN, OTP: totpNow(seed)})
	if err != nil {
		t.Fatalf("demo authorize: %v", err)
	}
	sigs, err := s.SignHash(ctx, sam.SignRequest{CredentialID: ec.ID, SignerID: signerID, ClientID: "test", SAD: sad.Token,
		SignAlgorithm: sam.OIDECDSAWithSHA256, Hashes: [][]byte{h[:]}})
	if err != nil {
		t.Fatalf("demo sign: %v", err)
	}
	chain, _ := sam.Certificates(cred)
	if !ecdsa.VerifyASN1(chain[0].PublicKey.(*ecdsa.PublicKey), h[:], sigs[0]) {
		t.Fatal("demo signature does not verify with the demo certificate")
	}
}

func totpNow(seed []byte) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(time.Now().Unix()/30))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}

func TestMisuse(t *testing.T) {
	e := newTestEnv(t)
	before := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "Usage: cscctl"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown global flag", []string{"-colour", "init"}, 2, "flag provided but not defined"},
		{"group without subcommand", []string{"user"}, 2, "Subcommands:"},
		{"unknown subcommand", []string{"user", "remove"}, 2, `unknown subcommand "remove"`},
		{"unknown flag", []string{"user", "add", "-nick", "x"}, 2, "flag provided but not defined: -nick"},
		{"missing flag", []string{"user", "add", "-username", "x"}, 2, "-username and -name are required"},
		{"stray argument", []string{"user", "list", "extra"}, 2, `unexpected argument "extra"`},
		{"bad algorithm", []string{"credential", "create", "-username", "x", "-alg", "DSA-1024"}, 2, `unknown -alg "DSA-1024"`},
		{"bad scal", []string{"credential", "create", "-username", "x", "-alg", "EC-P256", "-scal", "3"}, 2, "-scal must be 1 or 2"},
		{"bad auth", []string{"credential", "create", "-username", "x", "-alg", "EC-P256", "-auth", "magic"}, 2, "-auth must be"},
		{"missing id", []string{"credential", "delete"}, 2, "-id is required"},
		{"before init", []string{"user", "add", "-username", "x", "-name", "X"}, 1, "run 'cscctl init' first"},
	}
	for _, tc := range before {
		t.Run(tc.name, func(t *testing.T) {
			checkMisuse(t, e.run("", tc.args...), tc.code, tc.want)
		})
	}
	e.must("", "init")
	after := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown user", []string{"credential", "create", "-username", "nobody", "-alg", "EC-P256", "-no-pin"}, 1, `unknown user "nobody"`},
		{"unknown user status", []string{"user", "disable", "-username", "nobody"}, 1, `unknown user "nobody"`},
		{"unknown totp user", []string{"totp", "enrol", "-username", "nobody"}, 1, `unknown user "nobody"`},
		{"unknown credential", []string{"credential", "disable", "-id", "feedface"}, 1, `unknown credential "feedface"`},
		{"missing cert file", []string{"credential", "import-cert", "-id", "x", "-cert", "/nonexistent.pem"}, 1, "no such file"},
	}
	for _, tc := range after {
		t.Run(tc.name, func(t *testing.T) {
			checkMisuse(t, e.run("", tc.args...), tc.code, tc.want)
		})
	}
	t.Run("missing config", func(t *testing.T) {
		var out, errb strings.Builder
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		if code := c.run([]string{"-config", filepath.Join(t.TempDir(), "none.yaml"), "user", "list"}); code != 1 || strings.Count(errb.String(), "\n") != 1 {
			t.Fatalf("exit %d, stderr %q", code, errb.String())
		}
	})
}

func checkMisuse(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, code, r.stderr, want)
	}
	if r.stdout != "" {
		t.Fatalf("misuse wrote to stdout: %q", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "cscctl") {
		t.Fatalf("stderr %q does not start with the command", r.stderr)
	}
	if !strings.Contains(r.stderr, "Usage:") && strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("error is not one line: %q", r.stderr)
	}
}

// TestHelp: every command and subcommand answers -h, --help and -help with
// its one-line description on stdout and exit status 0.
func TestHelp(t *testing.T) {
	var walk func(path []string, cmds []*command)
	walk = func(path []string, cmds []*command) {
		for _, cmd := range cmds {
			p := append(slices.Clone(path), cmd.name)
			for _, h := range []string{"-h", "--help", "-help"} {
				var out, errb strings.Builder
				c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
				if code := c.run(append(slices.Clone(p), h)); code != 0 || errb.Len() != 0 ||
					!strings.HasPrefix(out.String(), "cscctl "+strings.Join(p, " ")+": "+cmd.summary+"\n") || !strings.Contains(out.String(), "Usage:") {
					t.Errorf("%s %s: exit %d, stdout %q, stderr %q", strings.Join(p, " "), h, code, out.String(), errb.String())
				}
				if len(cmd.subs) == 0 && strings.Contains(cmd.synopsis, "-") && !strings.Contains(out.String(), "Flags:") {
					t.Errorf("%s %s lists no flags", strings.Join(p, " "), h)
				}
			}
			if strings.Contains(cmd.summary, "\n") {
				t.Errorf("%s: summary is not one line", cmd.name)
			}
			walk(p, cmd.subs)
		}
	}
	walk(nil, commands())
	var out strings.Builder
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &out}
	if code := c.run([]string{"-h"}); code != 0 || !strings.Contains(out.String(), "-config") {
		t.Fatalf("cscctl -h: %d %q", code, out.String())
	}
	for _, cmd := range commands() {
		if !strings.Contains(out.String(), "  "+cmd.name) {
			t.Errorf("cscctl -h does not list %s", cmd.name)
		}
	}
}
