// Package padestest helps tests check PDF signatures with real validators:
// poppler's pdfsig (with an NSS database trusting a test root) and qpdf.
// Without the tools a test skips, or fails under CI=true or
// CSC_TEST_REQUIRE_PDF_TOOLS=1 (`make test-deps` installs poppler-utils, qpdf
// and libnss3-tools).
package padestest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// MinimalPDF is a PDF of the given number of A4 pages (at least one), each
// with a line of text, a classic cross-reference table and an /Info
// dictionary, its offsets computed.
func MinimalPDF(t testing.TB, pages int) []byte {
	t.Helper()
	pages = max(pages, 1)
	// 1 catalog, 2 page tree, 3 font, 4 info, then a page and its content per page.
	kids := make([]string, pages)
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 5+2*i)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 595 842] >>", strings.Join(kids, " "), pages),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Title (Test document) /Producer (rssp test) >>",
	}
	for i := range pages {
		text := fmt.Sprintf("BT /F1 24 Tf 72 720 Td (Hello, PAdES: page %d) Tj ET", i+1)
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /Contents %d 0 R /Resources << /Font << /F1 3 0 R >> >> >>", 6+2*i),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(text), text))
	}
	return BuildPDF(objs, "/Info 4 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]")
}

// BuildPDF writes objs as objects 1 to n (object 1 the catalog) after a
// PDF 1.7 header, then a classic cross-reference table with the offsets
// computed and a trailer of /Size, /Root 1 0 R and the entries in trailer
// (empty for none). It is for fixtures MinimalPDF does not cover: a
// MediaBox on the page itself, a DSS already in the catalog, exact bytes a
// test edits.
func BuildPDF(objs []string, trailer string) []byte {
	if trailer != "" {
		trailer = " " + trailer
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
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}

// Validator runs pdfsig against an NSS database that trusts one root, and
// qpdf.
type Validator struct {
	pdfsig, qpdf, nss string
}

// RequireTools skips the test when pdfsig, qpdf or certutil is missing,
// unless tools are required, and returns their paths.
func RequireTools(t testing.TB) (pdfsig, qpdf, certutil string) {
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

// NewValidator finds the tools (see RequireTools) and makes the NSS
// database trusting root.
func NewValidator(t testing.TB, root *x509.Certificate) *Validator {
	t.Helper()
	pdfsig, qpdf, certutil := RequireTools(t)
	v := &Validator{pdfsig: pdfsig, qpdf: qpdf, nss: t.TempDir()}
	run(t, certutil, "-N", "-d", "sql:"+v.nss, "--empty-password")
	ca := filepath.Join(v.nss, "root.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, certutil, "-A", "-d", "sql:"+v.nss, "-n", "rssp-test-root", "-t", "CT,C,C", "-i", ca)
	return v
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// Report runs pdfsig on doc and returns one report per signature, in file
// order. With CSC_TEST_ARTEFACTS set the file is kept there.
func (v *Validator) Report(t testing.TB, doc []byte) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(v.pdfsig, "-nssdir", "sql:"+v.nss, f).CombinedOutput() // exits non-zero when a signature is invalid
	if dir := os.Getenv("CSC_TEST_ARTEFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "pades-"+strings.ReplaceAll(t.Name(), "/", "_")+".pdf"), doc, 0o644)
	}
	parts := regexp.MustCompile(`(?m)^Signature #\d+:`).Split(string(out), -1)
	if len(parts) < 2 {
		t.Fatalf("pdfsig lists no signature:\n%s", out)
	}
	return parts[1:]
}

// QPDFCheck fails the test unless qpdf --check accepts doc without a warning.
func (v *Validator) QPDFCheck(t testing.TB, doc []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "check.pdf")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(v.qpdf, "--check", f).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
}

// WantValid fails the test unless one pdfsig report says the signature is
// valid, its certificate trusted, with that SubFilter and signer name.
func WantValid(t testing.TB, report, subFilter, signer string) {
	t.Helper()
	for _, want := range []string{"Signature Validation: Signature is Valid.", "Certificate Validation: Certificate is Trusted.",
		"Signature Type: " + subFilter, "Signer Certificate Common Name: " + signer} {
		if !strings.Contains(report, want) {
			t.Errorf("pdfsig does not say %q:\n%s", want, report)
		}
	}
}
