package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pdf"

	"github.com/openrssp/rssp/sam/pades/padestest"
)

// twoPagePDF has a small first page with its own MediaBox and a US Letter
// second page that inherits its MediaBox from the page tree.
func twoPagePDF() []byte {
	return padestest.BuildPDF([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 612 792] /Resources << /Font << /F1 7 0 R >> >> >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 5 0 R >>",
		"<< /Type /Page /Parent 2 0 R /Contents 6 0 R >>",
		"<< /Length 39 >>\nstream\nBT /F1 18 Tf 36 250 Td (Page one) Tj ET\nendstream",
		"<< /Length 48 >>\nstream\nBT /F1 18 Tf 72 700 Td (Page two, to sign) Tj ET\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}, "")
}

// signWith signs doc with pki's key and chain, and o's other options.
func signWith(t testing.TB, doc []byte, pki testPKI, scheme Scheme, h crypto.Hash, o Options, tsa func(crypto.Hash, []byte) ([]byte, error)) []byte {
	t.Helper()
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf, pki.root}, Hash: h, Scheme: scheme, Sign: signFunc(pki.key, scheme, h, &calls)}
	bound := 0
	if tsa != nil {
		co.Timestamp = SignatureTimestamp(h, tsa)
		bound = 4096
	}
	reserve, err := MaxCMSSize(co, bound)
	if err != nil {
		t.Fatal(err)
	}
	o.Hash, o.Reserve = h, reserve
	o.CMS = func(digest []byte) ([]byte, error) { return BuildCMS(digest, co) }
	out, err := Sign(doc, o)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("the signer was called %d times", calls)
	}
	if !bytes.HasPrefix(out, doc) {
		t.Fatal("not an incremental update: the original bytes changed")
	}
	return out
}

// widgetOn returns the annotations of page n (1-based) of doc.
func annotsOn(t testing.TB, doc []byte, n int) pdf.Value {
	t.Helper()
	d, err := open(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.page(n)
	if err != nil {
		t.Fatal(err)
	}
	return p.Key("Annots")
}

// render draws page n of doc at 50 dpi with pdftoppm.
func render(t testing.TB, doc []byte, n int, name string) image.Image {
	t.Helper()
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CSC_TEST_REQUIRE_PDF_TOOLS") == "1" {
			t.Fatal("pdftoppm missing: make test-deps installs poppler-utils")
		}
		t.Skip("pdftoppm missing")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprint(n)
	run(t, bin, "-png", "-r", "50", "-f", p, "-l", p, "-singlefile", in, filepath.Join(dir, "page"))
	raw, err := os.ReadFile(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	if a := os.Getenv("CSC_TEST_ARTEFACTS"); a != "" {
		_ = os.WriteFile(filepath.Join(a, "pades-"+strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png"), raw, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// changedPixels counts the pixels that differ between two renderings,
// inside and outside rect (in points, at 50 dpi, with a margin of two
// pixels around it for antialiasing).
func changedPixels(a, b image.Image, rect [4]float64, pageHeight float64) (inside, outside int) {
	s := 50.0 / 72
	x0, x1 := int(rect[0]*s)-2, int(math.Ceil(rect[2]*s))+2
	y0, y1 := int((pageHeight-rect[3])*s)-2, int(math.Ceil((pageHeight-rect[1])*s))+2
	bounds := a.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 == r2 && g1 == g2 && b1 == b2 {
				continue
			}
			if x >= x0 && x <= x1 && y >= y0 && y <= y1 {
				inside++
			} else {
				outside++
			}
		}
	}
	return inside, outside
}

func streamText(t testing.TB, v pdf.Value) string {
	t.Helper()
	b, err := io.ReadAll(v.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVisibleSignature: a visible signature on the page asked for, with
// its widget and appearance, valid for pdfsig, rendered by pdftoppm where
// the rectangle is and nowhere else.
func TestVisibleSignature(t *testing.T) {
	padestest.RequireTools(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPKI, ecPKI := newTestPKI(t, rsaKey), newTestPKI(t, ecKey)
	base := twoPagePDF()
	streamed := objectStreams(t, base)
	info := SignatureInfo{Name: "Erika Mustermann", Location: "Brüssel", Reason: "I approve (this) document"}
	cases := []struct {
		name      string
		doc       []byte
		pki       testPKI
		scheme    Scheme
		certify   bool
		app       Appearance
		pageH     float64
		wantLines []string // as they appear in the content stream
	}{
		{"RSA PKCS1v15 approval page 2, default text", base, rsaPKI, PKCS1v15, false,
			Appearance{Page: 2, Rect: [4]float64{320, 60, 580, 150}}, 792,
			[]string{"(Digitally signed by Erika Mustermann) Tj", "(Date: 2026-11-23 10:00:00 UTC) Tj", `(Reason: I approve \(this\) document) Tj`, `(Location: Br\374ssel) Tj`}},
		{"RSA PSS certification page 1, own text", base, rsaPKI, PSS, true,
			Appearance{Page: 1, Rect: [4]float64{20, 20, 280, 90}, Lines: []string{"Łódź — “certified” ✓", "Line\ttwo"}}, 300,
			[]string{`(L\363dz \227 \223certified\224 ?) Tj`, "(Line two) Tj"}},
		{"ECDSA approval page 2, object streams", streamed, ecPKI, ECDSA, false,
			Appearance{Page: 2, Rect: [4]float64{36, 36, 236, 96}}, 792,
			[]string{"(Digitally signed by Erika Mustermann) Tj"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := padestest.NewValidator(t, tc.pki.root)
			app := tc.app
			signed := signWith(t, tc.doc, tc.pki, tc.scheme, crypto.SHA256, Options{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				Info: info, Certification: tc.certify, Appearance: &app}, nil)
			v.QPDFCheck(t, signed)
			sigs := v.Report(t, signed)
			if len(sigs) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")

			// The widget is on the page asked for, printable, with the
			// rectangle and an appearance drawing the text.
			other := 3 - tc.app.Page
			if a := annotsOn(t, signed, other); a.Len() != 0 {
				t.Fatalf("page %d got annotations too", other)
			}
			annots := annotsOn(t, signed, tc.app.Page)
			if annots.Len() != 1 {
				t.Fatalf("page %d has %d annotations", tc.app.Page, annots.Len())
			}
			w := annots.Index(0)
			if w.Key("Subtype").Name() != "Widget" || w.Key("FT").Name() != "Sig" || w.Key("F").Int64() != 4 {
				t.Fatalf("widget %v", w)
			}
			if r, ok := rectangle(w.Key("Rect")); !ok || r != tc.app.Rect {
				t.Fatalf("widget /Rect %v, want %v", r, tc.app.Rect)
			}
			ap := w.Key("AP").Key("N")
			if ap.Kind() != pdf.Stream || ap.Key("Subtype").Name() != "Form" {
				t.Fatalf("no form XObject as normal appearance: %v", ap)
			}
			if bbox, _ := rectangle(ap.Key("BBox")); bbox != [4]float64{0, 0, tc.app.Rect[2] - tc.app.Rect[0], tc.app.Rect[3] - tc.app.Rect[1]} {
				t.Fatalf("appearance /BBox %v", bbox)
			}
			font := ap.Key("Resources").Key("Font").Key("Helv")
			if font.Key("BaseFont").Name() != "Helvetica" || font.Key("Encoding").Name() != "WinAnsiEncoding" {
				t.Fatalf("font %v", font)
			}
			content := streamText(t, ap)
			if !strings.Contains(content, " re S") {
				t.Errorf("no border in the appearance:\n%s", content)
			}
			for _, l := range tc.wantLines {
				if !strings.Contains(content, l) {
					t.Errorf("appearance lacks %q:\n%s", l, content)
				}
			}

			// pdftoppm draws it: the page changes inside the box only.
			before, after := render(t, tc.doc, tc.app.Page, "unsigned"), render(t, signed, tc.app.Page, "signed")
			inside, outside := changedPixels(before, after, tc.app.Rect, tc.pageH)
			if inside < 200 || outside != 0 {
				t.Fatalf("rendering changed %d pixels inside the box and %d outside", inside, outside)
			}

			// A second, invisible signature keeps this one valid.
			signAgain(t, v, signed, tc.pki, tc.scheme, crypto.SHA256)
		})
	}
}

// TestAppearanceRefusals: a page that does not exist, a rectangle without
// area, outside the page (with the page's own or inherited MediaBox) or
// too small for its text is ErrAppearance, before anything is signed.
func TestAppearanceRefusals(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	calls := 0
	co := CMSOptions{Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA, Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)}
	doc := twoPagePDF()
	for name, a := range map[string]Appearance{
		"page 0":                    {Page: 0, Rect: [4]float64{10, 10, 100, 50}},
		"page 3 of 2":               {Page: 3, Rect: [4]float64{10, 10, 100, 50}},
		"empty rectangle":           {Page: 1, Rect: [4]float64{10, 10, 10, 50}},
		"flat rectangle":            {Page: 2, Rect: [4]float64{10, 50, 100, 50}},
		"inverted rectangle":        {Page: 2, Rect: [4]float64{100, 50, 10, 10}},
		"outside page 1's own box":  {Page: 1, Rect: [4]float64{320, 60, 580, 150}},
		"outside the inherited box": {Page: 2, Rect: [4]float64{400, 700, 700, 800}},
		"negative coordinates":      {Page: 2, Rect: [4]float64{-10, -10, 100, 50}},
		"not a number":              {Page: 2, Rect: [4]float64{math.NaN(), 10, 100, 50}},
		"too small for its text":    {Page: 2, Rect: [4]float64{10, 10, 14, 14}},
		"too many lines":            {Page: 2, Rect: [4]float64{10, 10, 500, 700}, Lines: make([]string, 40)},
		"a line far too long":       {Page: 2, Rect: [4]float64{10, 10, 500, 700}, Lines: []string{strings.Repeat("x", 500)}},
	} {
		_, err := Sign(doc, Options{Hash: crypto.SHA256, Reserve: 4096, Appearance: &a, Info: SignatureInfo{Name: "Erika"},
			CMS: func(d []byte) ([]byte, error) { return BuildCMS(d, co) }})
		if !errors.Is(err, ErrAppearance) {
			t.Errorf("%s: %v, want ErrAppearance", name, err)
		}
	}
	if calls != 0 {
		t.Fatalf("the signer was called %d times for refused appearances", calls)
	}
}

func TestWinAnsi(t *testing.T) {
	for in, want := range map[string]string{
		"Erika Mustermann": "Erika Mustermann",
		"Brüssel €5":       "Br\xfcssel \x805",
		"Łódź Ő ő":         "L\xf3dz O o",
		"a\u2011b\u2003c":  "a-b c",
		"日本":               "??",
		"tab\there\n":      "tab here ",
	} {
		if got := string(winAnsi(in)); got != want {
			t.Errorf("winAnsi(%q) = %q, want %q", in, got, want)
		}
	}
}
