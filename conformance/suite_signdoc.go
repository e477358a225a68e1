package conformance

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/asn1"
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/digitorus/pkcs7"
)

// Two small PDFs: the one the signer approves and another one.
var (
	//go:embed testdata/one-page.pdf
	approvedPDF []byte
	//go:embed testdata/two-pages.pdf
	otherPDF []byte
)

const descDocumentNotAuthorized = "Document or documentDigest does not match authorized hash"

// testSignDoc: when info lists signatures/signDoc (v2), a SAD for the
// SHA-256 of a PDF signs that PDF and no other. The answer is the PDF with
// an incremental update whose ETSI.CAdES.detached CMS covers the byte
// ranges and verifies with the credential's certificate; the request
// table's refusals leave the SAD intact.
func (vs *vsuite) testSignDoc(t *testing.T) {
	m := expectOK(t, vs.do(t, call{method: http.MethodPost, path: vs.path("info"), body: map[string]any{}}))
	methods, _ := getStrings(m, "methods")
	if !slices.Contains(methods, "signatures/signDoc") {
		t.Skip("info does not list signatures/signDoc")
	}
	tok := vs.login(t)
	cred := vs.primary
	ci := vs.fullInfo(t, tok, cred)
	algo := defaultAlgo(keyAlgorithms[cred.KeyAlgorithm])
	h := sha256.Sum256(approvedPDF)
	sad := vs.authorizeOK(t, tok, cred.ID, 1, []string{b64(h[:])})
	entry := map[string]any{"document": b64(approvedPDF), "signature_format": "P", "conformance_level": "Ades-B-B",
		"signAlgo": algo.oid, "signed_envelope_property": "Revision"}
	body := map[string]any{"credentialID": cred.ID, "SAD": sad.sad, "documents": []any{entry}}

	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		desc   string
	}{
		{"another_document", with(body, map[string]any{"documents": []any{with(entry, map[string]any{"document": b64(otherPDF)})}}),
			http.StatusForbidden, "invalid_hash", descDocumentNotAuthorized},
		{"both_documents_and_digests", with(body, map[string]any{"documentDigests": []any{map[string]any{"hashes": []string{b64(h[:])},
			"hashAlgorithmOID": oidSHA256, "signature_format": "C", "signAlgo": algo.oid}}}),
			http.StatusBadRequest, "invalid_request", "Both documentDigests and documents parameters passed"},
		{"neither", with(body, nil, "documents"), http.StatusBadRequest, "invalid_request", "Empty documentDigests and documents objects"},
		{"signature_format_unknown", with(body, map[string]any{"documents": []any{with(entry, map[string]any{"signature_format": "Q"})}}),
			http.StatusBadRequest, "invalid_request", "Invalid parameter signature_format"},
		{"conformance_level_unknown", with(body, map[string]any{"documents": []any{with(entry, map[string]any{"conformance_level": "Ades-Z"})}}),
			http.StatusBadRequest, "invalid_request", "Invalid parameter conformance_level"},
		{"SAD_unknown", with(body, map[string]any{"SAD": randomToken()}), http.StatusBadRequest, "invalid_request", descInvalidSAD},
	} {
		t.Run(c.name, func(t *testing.T) {
			expectError(t, vs.post(t, "signatures/signDoc", bearer(tok), c.body), c.status, c.code, c.desc)
		})
	}

	t.Run("sign_the_approved_PDF", func(t *testing.T) {
		out := expectOK(t, vs.post(t, "signatures/signDoc", bearer(tok), body))
		docs, ok := getStrings(out, "DocumentWithSignature")
		if !ok || len(docs) != 1 {
			t.Fatalf("DocumentWithSignature must hold one signed document: %v", out)
		}
		signed, err := decodeStdBase64(docs[0])
		if err != nil {
			t.Fatalf("DocumentWithSignature is not standard base64: %v", err)
		}
		checkPAdES(t, signed, approvedPDF, ci)
	})
	t.Run("replay", func(t *testing.T) {
		expectError(t, vs.post(t, "signatures/signDoc", bearer(tok), body), http.StatusBadRequest, "invalid_request")
	})
}

var byteRangeRe = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`)

// checkPAdES checks that signed is original plus an incremental update
// holding one PAdES baseline signature whose CMS covers the byte ranges
// and verifies with the credential's key.
func checkPAdES(t *testing.T, signed, original []byte, ci *credInfo) {
	t.Helper()
	if !bytes.HasPrefix(signed, original) {
		t.Fatal("the signed PDF does not start with the document sent: not an incremental update")
	}
	update := signed[len(original):]
	if !bytes.Contains(update, []byte("/SubFilter /ETSI.CAdES.detached")) {
		t.Fatal("no PAdES signature (SubFilter ETSI.CAdES.detached) in the update")
	}
	br := byteRangeRe.FindSubmatch(update)
	if br == nil {
		t.Fatal("no /ByteRange in the update")
	}
	var r [4]int
	for i := range r {
		r[i], _ = strconv.Atoi(string(br[i+1]))
	}
	if r[0] != 0 || r[1] <= len(original) || r[2] <= r[1] || r[2]+r[3] != len(signed) {
		t.Fatalf("/ByteRange %v does not cover the whole file but /Contents", r)
	}
	gap := signed[r[1]:r[2]]
	if len(gap) < 2 || gap[0] != '<' || gap[len(gap)-1] != '>' || !bytes.Contains(signed[max(r[1]-20, 0):r[1]], []byte("/Contents")) {
		t.Fatal("the gap between the byte ranges is not the /Contents hex string")
	}
	der, err := hex.DecodeString(string(gap[1 : len(gap)-1]))
	if err != nil {
		t.Fatalf("/Contents is not hex: %v", err)
	}
	var cms asn1.RawValue // /Contents is zero-padded after the DER
	if _, err := asn1.Unmarshal(der, &cms); err != nil {
		t.Fatalf("/Contents is not DER: %v", err)
	}
	p7, err := pkcs7.Parse(cms.FullBytes)
	if err != nil {
		t.Fatalf("/Contents is not a CMS SignedData: %v", err)
	}
	p7.Content = append(slices.Clip(signed[:r[1]]), signed[r[2]:]...)
	if err := p7.Verify(); err != nil {
		t.Fatalf("the CMS does not verify over the byte ranges: %v", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil || !signer.Equal(ci.chain[0]) {
		t.Fatal("the CMS is not signed with the credential's certificate")
	}
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		if a.Type.String() == "1.2.840.113549.1.9.5" {
			t.Error("the CMS carries signing-time, which PAdES baseline forbids")
		}
	}
}
