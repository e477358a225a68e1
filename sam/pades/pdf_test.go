package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"

	"github.com/openrssp/rssp/sam/pades/padestest"
)

// minimalPDF is a one-page PDF whose page carries its own MediaBox, for
// the tests that depend on its exact bytes (TestSignPDFRefusals and
// TestAddDSSRefusals edit them) or on a /MediaBox in the page object
// (TestSignPDF tampers with it once qpdf has compressed the content).
// Other tests take padestest.MinimalPDF.
func minimalPDF(t testing.TB) []byte {
	t.Helper()
	return padestest.BuildPDF([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 720 Td (Hello, PAdES) Tj ET\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Title (Test document) /Producer (rssp test) >>",
	}, "/Info 6 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]")
}

// signPDF signs doc with key and pki's chain, as an approval or a
// certification signature, with a fixed time and signer information.
func signPDF(t testing.TB, doc []byte, pki testPKI, scheme Scheme, h crypto.Hash, certify bool) []byte {
	t.Helper()
	return signWith(t, doc, pki, scheme, h, Options{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Certification: certify,
		Info: SignatureInfo{Name: "Erika Mustermann", Location: "Brüssel", Reason: "I approve (this) document", ContactInfo: "erika@example.org"}}, nil)
}

// signAgain has "Max Muster", under pki's root, sign signed (signed by
// "Erika Mustermann") invisibly, and fails the test unless qpdf accepts
// the result and pdfsig finds both signatures valid and trusted. It
// returns pdfsig's two reports.
func signAgain(t testing.TB, v *padestest.Validator, signed []byte, pki testPKI, scheme Scheme, h crypto.Hash) []string {
	t.Helper()
	twice := signPDF(t, signed, pki.signer(t, pki.key, "Max Muster"), scheme, h, false)
	v.QPDFCheck(t, twice)
	sigs := v.Report(t, twice)
	if len(sigs) != 2 {
		t.Fatalf("pdfsig found %d signatures after a second one", len(sigs))
	}
	padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
	padestest.WantValid(t, sigs[1], "ETSI.CAdES.detached", "Max Muster")
	return sigs
}

// run runs a tool padestest.Validator does not cover (a qpdf rewrite,
// pdftoppm) and fails the test when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// objectStreams rewrites doc with object and cross-reference streams.
func objectStreams(t testing.TB, doc []byte) []byte {
	t.Helper()
	_, qpdf, _ := padestest.RequireTools(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, qpdf, "--object-streams=generate", in, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignPDF(t *testing.T) {
	padestest.RequireTools(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPKI, ecPKI := newTestPKI(t, rsaKey), newTestPKI(t, ecKey)
	base := minimalPDF(t)
	streamed := objectStreams(t, base)
	cases := []struct {
		name    string
		doc     []byte
		pki     testPKI
		scheme  Scheme
		hash    crypto.Hash
		certify bool
	}{
		{"RSA PKCS1v15 approval", base, rsaPKI, PKCS1v15, crypto.SHA256, false},
		{"RSA PSS certification", base, rsaPKI, PSS, crypto.SHA256, true},
		{"ECDSA P-256 SHA-384", base, ecPKI, ECDSA, crypto.SHA384, false},
		{"object and xref streams", streamed, rsaPKI, PKCS1v15, crypto.SHA256, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := padestest.NewValidator(t, tc.pki.root)
			signed := signPDF(t, tc.doc, tc.pki, tc.scheme, tc.hash, tc.certify)
			v.QPDFCheck(t, signed)
			sigs := v.Report(t, signed)
			if len(sigs) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
			if !strings.Contains(sigs[0], "Total document signed") {
				t.Errorf("the signature does not cover the whole document:\n%s", sigs[0])
			}
			if !strings.Contains(sigs[0], "Signing Time: Nov 23 2026 10:00:00") {
				t.Errorf("pdfsig does not show /M as the signing time:\n%s", sigs[0])
			}

			// A second signer's signature keeps the first valid. (With the
			// same certificate twice, poppler 22.12 reports the second
			// signature valid but its certificate as "Unknown issue" in our
			// runs, as it does for any of them with -no-ocsp; to revisit
			// once the certificates carry an OCSP URL.)
			sigs = signAgain(t, v, signed, tc.pki, tc.scheme, tc.hash)
			if strings.Contains(sigs[0], "Total document signed") || !strings.Contains(sigs[1], "Total document signed") {
				t.Errorf("the first signature should cover its revision only, the second everything:\n%s\n%s", sigs[0], sigs[1])
			}

			// A changed byte after signing breaks the signature.
			tampered := bytes.Clone(signed)
			i := bytes.Index(tampered, []byte("Hello, PAdES"))
			if i < 0 {
				i = bytes.Index(tampered, []byte("/MediaBox")) // compressed content
			}
			tampered[i+1] ^= 0x01
			if sigs := v.Report(t, tampered); len(sigs) != 1 || strings.Contains(sigs[0], "Signature is Valid") {
				t.Fatalf("a tampered document still verifies:\n%v", sigs)
			}
		})
	}
}

// TestSignPDFByteRangeAndContents reads the signature dictionary back: the
// byte range covers everything but /Contents, which holds the CMS.
func TestSignPDFByteRangeAndContents(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t, key)
	signed := signPDF(t, padestest.MinimalPDF(t, 1), pki, ECDSA, crypto.SHA256, false)
	m := regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+) *\] /Contents <([0-9A-F]+)>`).FindSubmatch(signed)
	if m == nil {
		t.Fatal("no byte range and contents")
	}
	a, _ := strconv.Atoi(string(m[1]))
	b, _ := strconv.Atoi(string(m[2]))
	c, _ := strconv.Atoi(string(m[3]))
	if signed[a] != '<' || signed[b-1] != '>' || b+c != len(signed) {
		t.Fatalf("byte range %d %d %d does not frame /Contents in %d bytes", a, b, c, len(signed))
	}
	raw, _ := hex.DecodeString(string(m[4]))
	p := parseCMS(t, trimZeros(raw))
	if p.attrs[oidSigningTime.String()] != nil {
		t.Fatal("signing-time in the CMS")
	}
	if !regexp.MustCompile(`/M \(D:20261123100000Z\)`).Match(signed) || !regexp.MustCompile(`/SubFilter /ETSI.CAdES.detached`).Match(signed) {
		t.Fatal("no /M or no ETSI.CAdES.detached SubFilter")
	}
}

// trimZeros drops the zero padding after a DER element.
func trimZeros(b []byte) []byte {
	var el cryptobyte.String
	s := cryptobyte.String(b)
	if !s.ReadAnyASN1Element(&el, nil) {
		return b
	}
	return el
}

// TestSignPDFRefusals: malformed documents give ErrMalformed, an
// undersized reservation ErrTooLarge, and the signer is never called twice.
func TestSignPDFRefusals(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA, Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)}
	cmsFn := func(d []byte) ([]byte, error) { return BuildCMS(d, co) }
	good := minimalPDF(t)
	for name, doc := range map[string][]byte{
		"empty":           nil,
		"not a PDF":       []byte("hello world"),
		"truncated":       good[:len(good)/2],
		"bad xref offset": bytes.Replace(good, []byte("startxref\n"), []byte("startxref\n9"), 1),
		"encrypted":       bytes.Replace(good, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt << /Filter /Standard >>"), 1),
		"no pages":        bytes.Replace(good, []byte("/Kids [3 0 R] /Count 1"), []byte("/Kids [] /Count 0"), 1),
		"garbage objects": bytes.Replace(good, []byte("<< /Type /Catalog"), []byte("<< /Type /Catalog /X [[[[[[[[["), 1),
	} {
		if _, err := Sign(doc, Options{Hash: crypto.SHA256, Reserve: 4096, CMS: cmsFn}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if calls != 0 {
		t.Fatalf("the signer was called %d times for malformed documents", calls)
	}
	if _, err := Sign(good, Options{Hash: crypto.SHA256, Reserve: 64, CMS: cmsFn}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("undersized reservation: %v, want ErrTooLarge", err)
	}
	if calls != 1 {
		t.Fatalf("the signer was called %d times for one too-large signature; it must be called once, never retried", calls)
	}
}

// TestSignPDFWithSignatureTimestamp (B-T): the CMS carries a timestamp
// token over the hash of its signature value; pdfsig still reports the
// signature valid and trusted, and the reserved size held the token.
func TestSignPDFWithSignatureTimestamp(t *testing.T) {
	padestest.RequireTools(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	tsa := newTestTSA(t, pki)
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf, pki.root}, Hash: crypto.SHA256, Scheme: ECDSA,
		Sign: signFunc(key, ECDSA, crypto.SHA256, &calls), Timestamp: SignatureTimestamp(crypto.SHA256, tsa.stamp)}
	reserve, err := MaxCMSSize(co, 4096)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(padestest.MinimalPDF(t, 1), Options{Hash: crypto.SHA256, Reserve: reserve, Info: SignatureInfo{Name: "Erika Mustermann"},
		CMS: func(d []byte) ([]byte, error) { return BuildCMS(d, co) }})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || tsa.calls != 1 {
		t.Fatalf("signer called %d times, TSA %d times; want once each", calls, tsa.calls)
	}
	m := regexp.MustCompile(`/Contents <([0-9A-F]+)>`).FindSubmatch(signed)
	raw, _ := hex.DecodeString(string(m[1]))
	p := parseCMS(t, trimZeros(raw))
	token := p.unsigned[oidSignatureTimestamp.String()]
	ts, err := timestamp.Parse(token)
	if err != nil {
		t.Fatalf("the signature timestamp does not verify: %v", err)
	}
	imprint := sha256.Sum256(p.signature)
	if !bytes.Equal(ts.HashedMessage, imprint[:]) {
		t.Fatal("the timestamp is not over the signature value")
	}
	sigs := padestest.NewValidator(t, pki.root).Report(t, signed)
	if len(sigs) != 1 {
		t.Fatalf("%d signatures", len(sigs))
	}
	padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
}
