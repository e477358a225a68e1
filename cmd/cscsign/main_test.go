package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades/padestest"
)

// wantSteps checks the progress lines, in order, and that no secret of the
// run appears in anything cscsign printed.
func wantSteps(t *testing.T, r result, steps []string, secrets ...string) {
	t.Helper()
	rest := r.stderr
	for _, s := range steps {
		i := strings.Index(rest, s+"\n")
		if i < 0 {
			t.Fatalf("stderr lacks the step %q (in order):\n%s", s, r.stderr)
		}
		rest = rest[i+len(s):]
	}
	// The paths of the test's files are left out: their random digits
	// may contain the PIN or a code.
	printed := regexp.MustCompile(regexp.QuoteMeta(os.TempDir())+`\S*`).ReplaceAllString(r.stdout+r.stderr, "<path>")
	for _, s := range secrets {
		if s != "" && strings.Contains(printed, s) {
			t.Fatalf("cscsign printed a secret:\n%s", r.stderr)
		}
	}
}

// cmsOf is the CMS in the signed PDF's /Contents.
func cmsOf(t *testing.T, path string) *pkcs7.PKCS7 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/Contents\s*<([0-9A-Fa-f]+)>`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no /Contents in the signed PDF")
	}
	raw, err := hex.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(bytes.TrimRight(raw, "\x00"))
	if err != nil {
		t.Fatalf("the CMS does not parse: %v", err)
	}
	return p7
}

// TestExplicitFlowRSA: PIN and TOTP code, a single RSA credential (chosen
// without asking), a PDF that pdfsig reports valid and trusted and qpdf
// accepts. The password comes from stdin, PIN and OTP from the
// environment, as a script would give them.
func TestExplicitFlowRSA(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.RSA2048, sam.AuthModeExplicit})
	out := filepath.Join(e.dir, "signed.pdf")
	otp := e.totp()
	r := e.run(t, map[string]string{"CSCSIGN_PIN": e.pin, "CSCSIGN_OTP": otp}, e.password+"\n", nil,
		"-server", e.srv.URL, "-cacert", e.cacert, "-username", e.username, "-in", e.inPDF(t), "-out", out,
		"-reason", "I approve", "-location", "Brussels")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature", "signing", "writing " + out},
		e.password, e.pin, otp)
	report := e.checkSignedPDF(t, out)
	for _, want := range []string{"Signing Hash Algorithm: SHA-256", "Signer full Distinguished Name: "} {
		if !strings.Contains(report, want) {
			t.Errorf("pdfsig does not say %q:\n%s", want, report)
		}
	}
	signed, _ := os.ReadFile(out)
	if !bytes.HasPrefix(signed, padestest.MinimalPDF(t, 1)) {
		t.Fatal("the signed file does not start with the original: not an incremental update")
	}
	if !bytes.Contains(signed, []byte("(I approve)")) || !bytes.Contains(signed, []byte("(Brussels)")) {
		t.Error("reason or location missing from the signature dictionary")
	}
}

// TestExplicitFlowPSSv1: the same over CSC v1 with RSASSA-PSS and SHA-384,
// the credential given by -credential and the PIN and code typed on stdin.
func TestExplicitFlowPSSv1(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.RSA2048, sam.AuthModeExplicit}, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	out := filepath.Join(e.dir, "signed.pdf")
	otp := e.totp()
	r := e.run(t, map[string]string{"CSCSIGN_PASSWORD": e.password}, e.pin+"\n"+otp+"\n", nil,
		"-server", e.srv.URL, "-api", "v1", "-cacert", e.cacert, "-username", e.username, "-credential", e.creds[0],
		"-pss", "-hash", "SHA-384", "-certify", "-in", e.inPDF(t), "-out", out)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature", "signing", "writing " + out},
		e.password, e.pin, otp)
	e.checkSignedPDF(t, out)
	p7 := cmsOf(t, out)
	if alg := p7.Signers[0].DigestEncryptionAlgorithm.Algorithm; !alg.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}) {
		t.Fatalf("signature algorithm %v, want RSASSA-PSS", alg)
	}
	signed, _ := os.ReadFile(out)
	if !bytes.Contains(signed, []byte("/DocMDP")) {
		t.Error("-certify made no certification signature")
	}
}

// TestOAuthFlowEC: an oauth2code EC credential, a client_credentials
// login, and the signer approving in the "browser" (the injected opener
// walks the server's login, consent and TOTP pages and follows the
// redirect to cscsign's loopback listener).
func TestOAuthFlowEC(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.ECP256, sam.AuthModeOAuth2Code})
	out := filepath.Join(e.dir, "signed.pdf")
	otp := e.totp()
	b := e.newBrowser(otp)
	r := e.run(t, map[string]string{"CSCSIGN_CLIENT_SECRET": testClientSecret}, "", b.open,
		"-server", e.srv.URL, "-cacert", e.cacert, "-client-id", testClientID, "-user", e.username,
		"-in", e.inPDF(t), "-out", out, "-auth-timeout", "30s")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s\nserver log:\n%s", r.code, r.stderr, e.logs)
	}
	wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature", "signing", "writing " + out},
		testClientSecret, otp)
	if b.visited == "" || !strings.Contains(r.stderr, b.visited) {
		t.Fatalf("the authorization URL was not printed:\n%s", r.stderr)
	}
	for _, want := range []string{"code_challenge_method=S256", "scope=credential", "state=", "credentialID=" + e.creds[0], "numSignatures=1"} {
		if !strings.Contains(b.visited, want) {
			t.Errorf("authorization URL lacks %s: %s", want, b.visited)
		}
	}
	if b.forged != 400 {
		t.Fatalf("a redirect with another state got %d, want 400", b.forged)
	}
	e.checkSignedPDF(t, out)
	if alg := cmsOf(t, out).Signers[0].DigestEncryptionAlgorithm.Algorithm; !alg.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}) {
		t.Fatalf("signature algorithm %v, want ecdsa-with-SHA256", alg)
	}

	t.Run("denied", func(t *testing.T) {
		out := filepath.Join(e.dir, "denied.pdf")
		b := e.newBrowser("")
		b.deny = true
		r := e.run(t, map[string]string{"CSCSIGN_CLIENT_SECRET": testClientSecret}, "", b.open,
			"-server", e.srv.URL, "-cacert", e.cacert, "-client-id", testClientID, "-user", e.username,
			"-in", e.inPDF(t), "-out", out, "-auth-timeout", "30s")
		last := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:])
		if r.code != 1 || !strings.HasPrefix(last, "cscsign: oauth2/authorize: access_denied") {
			t.Fatalf("exit %d, last line %q:\n%s", r.code, last, r.stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the out file exists after a refusal: %v", err)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		r := e.run(t, map[string]string{"CSCSIGN_CLIENT_SECRET": "wrong"}, "", nil,
			"-server", e.srv.URL, "-cacert", e.cacert, "-client-id", testClientID, "-user", e.username,
			"-in", e.inPDF(t), "-out", filepath.Join(e.dir, "x.pdf"))
		if r.code != 1 || !strings.Contains(r.stderr, "cscsign: oauth2/token: invalid_client") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
}

// TestServerErrorIsOneSafeLine: whatever the server puts in its error, the
// message stays one printable line of bounded length.
func TestServerErrorIsOneSafeLine(t *testing.T) {
	e := &serverError{Op: "credentials/authorize", Status: 400, Code: "invalid_request", Description: "bad\r\nFAKE: line\x1b[31m" + strings.Repeat("x", 1000)}
	msg := e.Error()
	if strings.ContainsAny(msg, "\r\n\x1b") || len(msg) > 400 || !strings.HasPrefix(msg, "credentials/authorize: invalid_request: bad") {
		t.Fatalf("%q", msg)
	}
	if got := (&serverError{Op: "info", Status: 502}).Error(); got != "info: HTTP Bad Gateway (HTTP 502)" {
		t.Fatalf("%q", got)
	}
}

// TestTimestampedBT: B-T with the server's own RFC 3161 endpoint: the CMS
// carries a timestamp token over the signature value, signed by the
// server's TSA under the development CA.
func TestTimestampedBT(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	out := filepath.Join(e.dir, "signed.pdf")
	otp := e.totp()
	r := e.run(t, map[string]string{"CSCSIGN_PASSWORD": e.password, "CSCSIGN_PIN": e.pin, "CSCSIGN_OTP": otp}, "", nil,
		"-server", e.srv.URL, "-cacert", e.cacert, "-username", e.username, "-level", "B-T", "-in", e.inPDF(t), "-out", out)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature", "signing", "timestamping", "writing " + out},
		e.password, e.pin, otp)
	e.checkSignedPDF(t, out)
	p7 := cmsOf(t, out)
	var token []byte
	for _, a := range p7.Signers[0].UnauthenticatedAttributes {
		if a.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}) {
			token = a.Value.Bytes
		}
	}
	if token == nil {
		t.Fatal("no signature-time-stamp attribute: not B-T")
	}
	ts, err := timestamp.Parse(token)
	if err != nil {
		t.Fatalf("the timestamp token does not verify: %v", err)
	}
	imprint := sha256.Sum256(p7.Signers[0].EncryptedDigest)
	if !bytes.Equal(ts.HashedMessage, imprint[:]) {
		t.Fatal("the timestamp is not over the signature value")
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.ca)
	if _, err := ts.Certificates[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		t.Fatalf("the TSA certificate does not chain to the development CA: %v", err)
	}
}

// TestRefused: a wrong PIN gives the server's error on one line, exit 1,
// and no output file; misuse gives exit 2.
func TestRefused(t *testing.T) {
	e := newEnv(t, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	out := filepath.Join(e.dir, "signed.pdf")
	in := e.inPDF(t)
	wrongPIN := "9999"
	otp := e.totp()
	r := e.run(t, map[string]string{"CSCSIGN_PASSWORD": e.password, "CSCSIGN_PIN": wrongPIN, "CSCSIGN_OTP": otp}, "", nil,
		"-server", e.srv.URL, "-cacert", e.cacert, "-username", e.username, "-in", in, "-out", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if last != "cscsign: credentials/authorize: invalid_authentication_data: The authentication data is invalid (HTTP 400)" {
		t.Fatalf("last line %q, want the server's error", last)
	}
	wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature"}, e.password, wrongPIN, otp)
	if strings.Contains(r.stderr, "\nsigning\n") {
		t.Fatal("it went on to sign")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the out file exists after a refusal: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.dir, ".cscsign-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	t.Run("wrong password", func(t *testing.T) {
		r := e.run(t, map[string]string{"CSCSIGN_PASSWORD": "not-it"}, "", nil,
			"-server", e.srv.URL, "-cacert", e.cacert, "-username", e.username, "-in", in, "-out", out)
		if r.code != 1 || !strings.Contains(r.stderr, "cscsign: auth/login: ") || strings.Contains(r.stderr, "not-it") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("untrusted server", func(t *testing.T) {
		r := e.run(t, map[string]string{"CSCSIGN_PASSWORD": e.password}, "", nil,
			"-server", e.srv.URL, "-username", e.username, "-in", in, "-out", out)
		if r.code != 1 || !strings.Contains(r.stderr, "certificate") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	misuse := []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"-in", in, "-out", out, "-username", "x"}, "-server, -in and -out are required"},
		{"no login", []string{"-server", e.srv.URL, "-in", in, "-out", out}, "-username or -client-id"},
		{"bad level", []string{"-server", e.srv.URL, "-in", in, "-out", out, "-username", "x", "-level", "B-LTV"}, "-level must be B-B, B-T, B-LT or B-LTA"},
		{"tsa for B-B", []string{"-server", e.srv.URL, "-in", in, "-out", out, "-username", "x", "-tsa", "https://127.0.0.1/tsa"}, "-tsa is for"},
		{"bad hash", []string{"-server", e.srv.URL, "-in", in, "-out", out, "-username", "x", "-hash", "MD5"}, "-hash must be"},
		{"bad flow", []string{"-server", e.srv.URL, "-in", in, "-out", out, "-username", "x", "-flow", "magic"}, "-flow must be"},
		{"unknown flag", []string{"-colour"}, "flag provided but not defined"},
	}
	for _, tc := range misuse {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, nil, "", nil, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q (want %q)", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

// TestHelp: --help, -help and -h print the usage line, examples and every
// flag on stdout and exit 0.
func TestHelp(t *testing.T) {
	for _, h := range []string{"--help", "-help", "-h"} {
		var out, errb syncBuffer
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := a.run(ctx, []string{h}); code != 0 || errb.String() != "" {
			t.Fatalf("%s: exit %d, stderr %q", h, code, errb.String())
		}
		s := out.String()
		for _, want := range []string{"Usage: cscsign -server URL -in FILE.pdf -out FILE.pdf", "Examples:", "B-LTA (+ a document timestamp",
			"CSCSIGN_PIN"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: no %q in\n%s", h, want, s)
			}
		}
		for _, f := range []string{"server", "api", "cacert", "in", "out", "username", "client-id", "client-secret", "user", "credential",
			"flow", "sms", "redirect-uri", "redirect-port", "no-browser", "level", "tsa", "reason", "location", "name", "contact",
			"certify", "hash", "pss", "visible"} {
			if !strings.Contains(s, "\n  -"+f+" ") && !strings.Contains(s, "\n  -"+f+"\n") {
				t.Errorf("%s does not list -%s", h, f)
			}
		}
	}
}

// TestExplicitFlowSMS: -sms over v2 (getChallenge) and v1 (sendOTP) with
// the hash, the credential chosen at the numbered prompt and the code read
// from stdin once the text has gone out.
func TestExplicitFlowSMS(t *testing.T) {
	padestest.RequireTools(t)
	e := newEnv(t, credSpec{hsm.RSA2048, sam.AuthModeExplicit}, credSpec{hsm.ECP256, sam.AuthModeExplicit})
	for _, api := range []string{"v2", "v1"} {
		t.Run(api, func(t *testing.T) {
			e.clock.Advance(time.Minute) // past the SMS cooldown
			out := filepath.Join(e.dir, "signed-"+api+".pdf")
			r := e.runWith(t, map[string]string{"CSCSIGN_PASSWORD": e.password, "CSCSIGN_PIN": e.pin}, e.smsAnswerer(t, "2\n"), nil,
				"-server", e.srv.URL, "-api", api, "-cacert", e.cacert, "-username", e.username, "-sms", "-in", e.inPDF(t), "-out", out)
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			wantSteps(t, r, []string{"logging in", "choosing credential", "authorizing 1 signature", "asking the server to send a code by SMS",
				"signing", "writing " + out}, e.password, e.pin)
			m := regexp.MustCompile(`(?m)^  2\) (\S+) `).FindStringSubmatch(r.stderr)
			if m == nil || !strings.Contains(r.stderr, "credential [1-2]: ") {
				t.Fatalf("no numbered choice of 2 credentials:\n%s", r.stderr)
			}
			cred, err := e.db.Credential(ctx, m[1])
			if err != nil {
				t.Fatal(err)
			}
			chain, _ := sam.Certificates(cred)
			if signer := cmsOf(t, out).GetOnlySigner(); signer == nil || !signer.Equal(chain[0]) {
				t.Fatal("the PDF is not signed with the credential chosen")
			}
			msgs := e.twilio.Messages()
			if last := msgs[len(msgs)-1]; last.To != e.phone || strings.Contains(r.stderr, smsCodeRe.FindStringSubmatch(last.Body)[1]) {
				t.Fatalf("SMS to %s; or its code was printed:\n%s", last.To, r.stderr)
			}
			e.checkSignedPDF(t, out)
		})
	}
}
