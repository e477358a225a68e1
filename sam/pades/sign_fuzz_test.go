package pades

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/openrssp/rssp/sam/pades/padestest"
)

// FuzzSignUntrusted feeds arbitrary documents to what signDoc runs on a
// client's PDF before and after consuming a SAD: Check, then Sign. Neither
// may panic; whatever Check accepts, Sign must turn into an incremental
// update of the same bytes, calling the CMS builder exactly once.
func FuzzSignUntrusted(f *testing.F) {
	one, two := padestest.MinimalPDF(f, 1), padestest.MinimalPDF(f, 2)
	for _, seed := range [][]byte{one, two, one[:len(one)/2], bytes.Replace(two, []byte("/Count 2"), []byte("/Count 9"), 1),
		bytes.Replace(one, []byte("/Root 1 0 R"), []byte("/Root 4 0 R"), 1), []byte("%PDF-1.7\n%%EOF\n")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := Check(doc); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Check refused with an untyped error: %v", err)
			}
			return
		}
		calls := 0
		cms := bytes.Repeat([]byte{0x30}, 64)
		out, err := Sign(doc, Options{Hash: crypto.SHA256, Reserve: 128, CMS: func(digest []byte) ([]byte, error) {
			calls++
			if len(digest) != sha256.Size {
				t.Fatalf("digest of %d bytes", len(digest))
			}
			return cms, nil
		}})
		if err != nil {
			if calls != 0 {
				t.Fatalf("Sign failed after building the CMS: %v", err)
			}
			return
		}
		if calls != 1 || !bytes.HasPrefix(out, doc) {
			t.Fatalf("%d CMS calls, incremental update %v", calls, bytes.HasPrefix(out, doc))
		}
	})
}
