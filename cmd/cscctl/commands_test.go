package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"rsc.io/qr"
)

var idLine = regexp.MustCompile(`^[0-9a-f]{32}\n$`)

func TestUserCredentialAndTOTPLifecycle(t *testing.T) {
	e := newTestEnv(t)
	e.must("", "init")
	const password, pin = "canary-password-9931", "canary-pin-4471"
	pwFile := e.writeSecret("pw", password)
	pinFile := e.writeSecret("pin", pin)

	r := e.must("", "user", "add", "-username", "alice", "-name", "Alice Liddell", "-given", "Alice", "-surname", "Liddell",
		"-email", "alice@example.org", "-password-file", pwFile)
	if !strings.Contains(r.stdout, "created user alice") {
		t.Fatalf("user add: %s", r.stdout)
	}
	e.must(password+"\n", "user", "add", "-username", "bob", "-name", "Bob") // password from stdin
	if r := e.run("", "user", "add", "-username", "alice", "-name", "Alice again", "-password-file", pwFile); r.code != 1 ||
		!strings.Contains(r.stderr, "username already exists") {
		t.Fatalf("duplicate user: %+v", r)
	}

	// A credential certified by the development CA.
	r = e.must("", "credential", "create", "-username", "alice", "-alg", "EC-P256", "-multisign", "5", "-pin-file", pinFile)
	if !idLine.MatchString(r.stdout) {
		t.Fatalf("credential create printed %q, want the credential ID", r.stdout)
	}
	credID := strings.TrimSpace(r.stdout)
	rsa := strings.TrimSpace(e.must(pin+"\n", "credential", "create", "-username", "bob", "-alg", "RSA-2048").stdout)

	s, st, closeAll := e.open()
	cred, err := st.Credential(ctx, credID)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Status != store.StatusActive || cred.SCAL != 2 || cred.Multisign != 5 || cred.AuthMode != sam.AuthModeExplicit {
		t.Fatalf("credential %+v", cred)
	}
	chain, err := sam.Certificates(cred)
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain: %d %v", len(chain), err)
	}
	caPEM, err := os.ReadFile(filepath.Join(e.data, "dev-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("dev-ca.pem holds no certificate")
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("chain does not verify against dev-ca.pem: %v", err)
	}
	if chain[0].Subject.CommonName != "Alice Liddell" || chain[0].KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment ||
		!chain[1].IsCA || chain[1].Subject.CommonName != "Test Development CA" {
		t.Fatalf("leaf %s usage %b, CA %s", chain[0].Subject, chain[0].KeyUsage, chain[1].Subject)
	}
	pub, _ := x509.ParsePKIXPublicKey(cred.PublicKey)
	if !chain[0].PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Fatal("certificate key is not the credential key")
	}
	if err := s.CheckCredentialKeys(ctx); err != nil {
		t.Fatal(err)
	}
	closeAll()

	// The CSR path: disabled until a certificate from an external CA is imported.
	csrPath := filepath.Join(e.dir, "req.csr")
	r = e.must("", "credential", "create", "-username", "alice", "-alg", "EC-P384", "-no-pin", "-csr", csrPath)
	csrID := strings.TrimSpace(r.stdout)
	if !idLine.MatchString(r.stdout) || !strings.Contains(r.stderr, "import-cert -id "+csrID) {
		t.Fatalf("credential create -csr: %+v", r)
	}
	if r := e.must("", "credential", "list", "-username", "alice"); !regexp.MustCompile(csrID + `\s+alice\s+EC-P384\s+disabled.*none`).MatchString(r.stdout) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if r := e.run("", "credential", "enable", "-id", csrID); r.code != 1 || !strings.Contains(r.stderr, "no certificate") {
		t.Fatalf("enable without certificate: %+v", r)
	}
	csrPEM, _ := os.ReadFile(csrPath)
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CSR file:\n%s", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "Alice Liddell" {
		t.Fatalf("CSR: %v", err)
	}
	root, rootKey := testCA(t)
	good := issue(t, root, rootKey, csr.PublicKey, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment)
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	wrong := issue(t, root, rootKey, &other.PublicKey, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment)
	writeChain := func(name string, certs ...*x509.Certificate) string {
		var b []byte
		for _, c := range certs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if r := e.run("", "credential", "import-cert", "-id", csrID, "-cert", writeChain("wrong.pem", wrong, root)); r.code != 1 ||
		!strings.Contains(r.stderr, "not the credential's key") {
		t.Fatalf("import of a certificate for another key: %+v", r)
	}
	if r := e.run("", "credential", "import-cert", "-id", csrID, "-cert", writeChain("reversed.pem", root, good)); r.code != 1 {
		t.Fatalf("import of a reversed chain: %+v", r)
	}
	e.must("", "credential", "import-cert", "-id", csrID, "-cert", writeChain("chain.pem", good, root))
	if r := e.must("", "credential", "list"); !regexp.MustCompile(csrID+`\s+alice\s+EC-P384\s+active`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, rsa) || !strings.Contains(r.stdout, credID) {
		t.Fatalf("list after import:\n%s", r.stdout)
	}

	// Status changes and deletion.
	e.must("", "credential", "disable", "-id", credID)
	e.must("", "credential", "enable", "-id", credID)
	if r := e.run("no\n", "credential", "delete", "-id", csrID); r.code != 1 || !strings.Contains(r.stderr, "nothing deleted") {
		t.Fatalf("unconfirmed delete: %+v", r)
	}
	e.must("", "credential", "delete", "-id", csrID, "-yes")
	if r := e.run("", "credential", "delete", "-id", csrID, "-yes"); r.code != 1 || !strings.Contains(r.stderr, "unknown credential") {
		t.Fatalf("second delete: %+v", r)
	}
	e.must("", "user", "disable", "-username", "bob")
	r = e.must("", "user", "list")
	if !regexp.MustCompile(`alice\s+[0-9a-f]{32}\s+active\s+1\s+Alice Liddell`).MatchString(r.stdout) ||
		!regexp.MustCompile(`bob\s+[0-9a-f]{32}\s+disabled\s+1\s+Bob`).MatchString(r.stdout) {
		t.Fatalf("user list:\n%s", r.stdout)
	}
	e.must("", "user", "enable", "-username", "bob")

	// TOTP enrolment shows the seed once, as a URI and a QR code.
	r = e.must("", "totp", "enrol", "-username", "alice")
	m := regexp.MustCompile(`otpauth://totp/RSSP:alice\?secret=([A-Z2-7]+)&issuer=RSSP&algorithm=SHA1&digits=6&period=30\n`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "ONCE") || !strings.Contains(r.stdout, "█") {
		t.Fatalf("totp enrol:\n%s", r.stdout)
	}
	if seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1]); err != nil || len(seed) != 20 {
		t.Fatalf("seed %q: %d bytes, %v", m[1], len(seed), err)
	}

	// Audit: every operation above is in an intact chain.
	r = e.must("", "audit", "verify")
	if !regexp.MustCompile(`audit log intact: \d+ entries verified`).MatchString(r.stdout) {
		t.Fatalf("audit verify: %s", r.stdout)
	}
	_, st, closeAll = e.open()
	if err := st.DB().Exec("UPDATE audit_entries SET actor = 'someone else' WHERE seq = 3").Error; err != nil {
		t.Fatal(err)
	}
	closeAll()
	if r := e.run("", "audit", "verify"); r.code != 1 || !strings.Contains(r.stderr, "entry 3") {
		t.Fatalf("audit verify of an edited log: %+v", r)
	}

	// Secrets never appear in anything cscctl printed.
	all := strings.Join([]string{r.stdout, r.stderr}, "\n")
	for _, args := range [][]string{{"user", "list"}, {"credential", "list"}} {
		r := e.must("", args...)
		all += r.stdout + r.stderr
	}
	hsmPIN, _ := os.ReadFile(filepath.Join(e.data, "hsm-pin"))
	for _, secret := range []string{password, pin, strings.TrimSpace(string(hsmPIN))} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret was printed")
		}
	}
}

func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "External CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	return mustCert(t, tmpl, tmpl, &key.PublicKey, key), key
}

func issue(t *testing.T, ca *x509.Certificate, key crypto.Signer, pub crypto.PublicKey, ku x509.KeyUsage) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "Alice Liddell"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour), KeyUsage: ku, BasicConstraintsValid: true}
	return mustCert(t, tmpl, ca, pub, key)
}

func mustCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQRRendering reads the half-block rendering back into modules.
func TestQRRendering(t *testing.T) {
	const text = "otpauth://totp/RSSP:alice?secret=JBSWY3DPEHPK3PXP&issuer=RSSP&algorithm=SHA1&digits=6&period=30"
	out, err := qrText(text)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(text, qr.M)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	const quiet = 4
	n := code.Size + 2*quiet
	if len(lines) != (n+1)/2 {
		t.Fatalf("%d lines for %d modules", len(lines), n)
	}
	for row, line := range lines {
		cells := []rune(line)
		if len(cells) != n {
			t.Fatalf("line %d has %d cells, want %d", row, len(cells), n)
		}
		for x, r := range cells {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for i, lightDrawn := range []bool{top, bottom} {
				y := 2*row + i
				if y >= n {
					continue
				}
				mx, my := x-quiet, y-quiet
				light := mx < 0 || my < 0 || mx >= code.Size || my >= code.Size || !code.Black(mx, my)
				if light != lightDrawn {
					t.Fatalf("module (%d,%d) drawn wrong", x, y)
				}
			}
		}
	}
}
