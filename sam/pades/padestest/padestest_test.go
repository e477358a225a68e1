package padestest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBuildPDF: every cross-reference entry and startxref point at what
// they name, the trailer holds the extra entries, and qpdf --check
// accepts the file without a warning.
func TestBuildPDF(t *testing.T) {
	_, qpdf, _ := RequireTools(t)
	for name, tc := range map[string]struct {
		doc     []byte
		objs    int
		trailer string
	}{
		"MinimalPDF one page":    {MinimalPDF(t, 1), 6, "/Info 4 0 R"},
		"MinimalPDF three pages": {MinimalPDF(t, 3), 10, "/Info 4 0 R"},
		"no trailer entries": {BuildPDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
		}, ""), 3, "/Root 1 0 R >>"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := tc.doc
			m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(doc)
			if m == nil {
				t.Fatal("no startxref at the end")
			}
			xref, _ := strconv.Atoi(string(m[1]))
			if !bytes.HasPrefix(doc[xref:], []byte(fmt.Sprintf("xref\n0 %d\n", tc.objs+1))) {
				t.Fatalf("startxref %d does not point at a table of %d entries", xref, tc.objs+1)
			}
			entries := regexp.MustCompile(`(\d{10}) 00000 n \n`).FindAllSubmatch(doc[xref:], -1)
			if len(entries) != tc.objs {
				t.Fatalf("%d in-use entries, want %d", len(entries), tc.objs)
			}
			for i, e := range entries {
				off, _ := strconv.Atoi(string(e[1]))
				if want := fmt.Sprintf("%d 0 obj\n", i+1); !bytes.HasPrefix(doc[off:], []byte(want)) {
					t.Errorf("entry %d points at %q", i+1, doc[off:min(off+12, len(doc))])
				}
			}
			if !bytes.Contains(doc, []byte(tc.trailer)) || !bytes.Contains(doc, []byte(fmt.Sprintf("/Size %d /Root 1 0 R", tc.objs+1))) {
				t.Errorf("trailer lacks %q or /Size and /Root:\n%s", tc.trailer, doc[xref:])
			}
			f := filepath.Join(t.TempDir(), "doc.pdf")
			if err := os.WriteFile(f, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(qpdf, "--check", f).CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
		})
	}
}
