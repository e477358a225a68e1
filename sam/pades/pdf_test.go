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
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
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
)

// minimalPDF is a one-page PDF with a classic cross-reference table, its
// offsets computed.
func minimalPDF(t testing.TB) []byte {
	t.Helper()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 720 Td (Hello, PAdES) Tj ET\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Title (Test document) /Producer (rssp test) >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] >>\nstartxref\n%d\n%%%%EOF\n",
		len(objs)+1, xref)
	return b.Bytes()
}

// signPDF signs doc with key and pki's chain.
func signPDF(t testing.TB, doc []byte, pki testPKI, scheme Scheme, h crypto.Hash, certify bool) []byte {
	t.Helper()
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf, pki.root}, Hash: h, Scheme: scheme, Sign: signFunc(pki.key, scheme, h, &calls)}
	reserve, err := MaxCMSSize(co, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sign(doc, Options{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Hash: h, Reserve: reserve, Certification: certify,
		Info: SignatureInfo{Name: "Erika Mustermann", Location: "Brüssel", Reason: "I approve (this) document", ContactInfo: "erika@example.org"},
		CMS:  func(digest []byte) ([]byte, error) { return BuildCMS(digest, co) }})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("the signer was called %d times", calls)
	}
	if !bytes.HasPrefix(out, doc) {
		t.Fatal("the signed file does not start with the original bytes: not an incremental update")
	}
	return out
}

// tools returns the paths of pdfsig, qpdf and certutil, or skips.
func tools(t testing.TB) (pdfsig, qpdf, certutil string) {
	t.Helper()
	var missing []string
	look := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		return p
	}
	pdfsig, qpdf, certutil = look("pdfsig"), look("qpdf"), look("certutil")
	if len(missing) > 0 {
		if os.Getenv("CSC_TEST_REQUIRE_PDF_TOOLS") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("missing %v: make test-deps installs poppler-utils, qpdf and libnss3-tools", missing)
		}
		t.Skipf("missing %v (make test-deps installs poppler-utils, qpdf and libnss3-tools)", missing)
	}
	return pdfsig, qpdf, certutil
}

// nssTrusting makes an NSS database that trusts root, for pdfsig.
func nssTrusting(t testing.TB, certutil string, root *x509.Certificate) string {
	t.Helper()
	dir := t.TempDir()
	run(t, certutil, "-N", "-d", "sql:"+dir, "--empty-password")
	ca := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, certutil, "-A", "-d", "sql:"+dir, "-n", "rssp-test-root", "-t", "CT,C,C", "-i", ca)
	return dir
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// pdfsigReport runs pdfsig on a file and returns its report.
func pdfsigReport(t testing.TB, pdfsig, nss string, doc []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(pdfsig, "-nssdir", "sql:"+nss, f).CombinedOutput() // exits non-zero when a signature is invalid
	if dir := os.Getenv("CSC_TEST_ARTEFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "pades-"+strings.ReplaceAll(t.Name(), "/", "_")+".pdf"), doc, 0o644)
	}
	return string(out)
}

func qpdfCheck(t testing.TB, qpdf string, doc []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "check.pdf")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--check", f).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
}

// signatureReports splits pdfsig's report per signature.
func signatureReports(report string) []string {
	parts := regexp.MustCompile(`(?m)^Signature #\d+:`).Split(report, -1)
	if len(parts) < 2 {
		return nil
	}
	return parts[1:]
}

func wantValid(t testing.TB, sig, subFilter, signer string) {
	t.Helper()
	for _, want := range []string{"Signature Validation: Signature is Valid.", "Certificate Validation: Certificate is Trusted.",
		"Signature Type: " + subFilter, "Signer Certificate Common Name: " + signer} {
		if !strings.Contains(sig, want) {
			t.Errorf("pdfsig does not say %q:\n%s", want, sig)
		}
	}
}

func TestSignPDF(t *testing.T) {
	pdfsig, qpdf, certutil := tools(t)
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
	objStreams := filepath.Join(t.TempDir(), "objstm.pdf")
	in := filepath.Join(t.TempDir(), "in.pdf")
	if err := os.WriteFile(in, base, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, qpdf, "--object-streams=generate", in, objStreams)
	streamed, err := os.ReadFile(objStreams)
	if err != nil {
		t.Fatal(err)
	}
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
			nss := nssTrusting(t, certutil, tc.pki.root)
			signed := signPDF(t, tc.doc, tc.pki, tc.scheme, tc.hash, tc.certify)
			qpdfCheck(t, qpdf, signed)
			sigs := signatureReports(pdfsigReport(t, pdfsig, nss, signed))
			if len(sigs) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			wantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
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
			twice := signPDF(t, signed, tc.pki.signer(t, tc.pki.key, "Max Muster"), tc.scheme, tc.hash, false)
			qpdfCheck(t, qpdf, twice)
			sigs = signatureReports(pdfsigReport(t, pdfsig, nss, twice))
			if len(sigs) != 2 {
				t.Fatalf("pdfsig found %d signatures after a second one", len(sigs))
			}
			wantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
			wantValid(t, sigs[1], "ETSI.CAdES.detached", "Max Muster")
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
			if sigs := signatureReports(pdfsigReport(t, pdfsig, nss, tampered)); len(sigs) != 1 || strings.Contains(sigs[0], "Signature is Valid") {
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
	signed := signPDF(t, minimalPDF(t), pki, ECDSA, crypto.SHA256, false)
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
	pdfsig, _, certutil := tools(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tsa := pki.signer(t, tsaKey, "Test TSA")
	stamps := 0
	stamp := func(h crypto.Hash, digest []byte) ([]byte, error) {
		stamps++
		ts := timestamp.Timestamp{HashAlgorithm: h, HashedMessage: digest, Time: time.Now().UTC().Truncate(time.Second),
			Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}, AddTSACertificate: true}
		resp, err := ts.CreateResponseWithOpts(tsa.leaf, tsaKey, crypto.SHA256)
		if err != nil {
			return nil, err
		}
		parsed, err := timestamp.ParseResponse(resp)
		if err != nil {
			return nil, err
		}
		return parsed.RawToken, nil
	}
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf, pki.root}, Hash: crypto.SHA256, Scheme: ECDSA,
		Sign: signFunc(key, ECDSA, crypto.SHA256, &calls), Timestamp: SignatureTimestamp(crypto.SHA256, stamp)}
	reserve, err := MaxCMSSize(co, 4096)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(minimalPDF(t), Options{Hash: crypto.SHA256, Reserve: reserve, Info: SignatureInfo{Name: "Erika Mustermann"},
		CMS: func(d []byte) ([]byte, error) { return BuildCMS(d, co) }})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || stamps != 1 {
		t.Fatalf("signer called %d times, TSA %d times; want once each", calls, stamps)
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
	sigs := signatureReports(pdfsigReport(t, pdfsig, nssTrusting(t, certutil, pki.root), signed))
	if len(sigs) != 1 {
		t.Fatalf("%d signatures", len(sigs))
	}
	wantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
}
