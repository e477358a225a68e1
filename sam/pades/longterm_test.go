package pades

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/openrssp/rssp/sam/pades/padestest"
)

// testTSA is a timestamp authority under a test root, built with
// digitorus/timestamp, counting its tokens.
type testTSA struct {
	pki   testPKI
	calls int
}

func newTestTSA(t testing.TB, pki testPKI) *testTSA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 3161 §2.3: the only extended key usage is timeStamping, marked
	// critical (openssl ts -verify insists on it).
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Test TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.root, key.Public(), pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testTSA{pki: testPKI{root: pki.root, leaf: leaf, key: key, caKey: pki.caKey}}
}

// opensslVerifyToken has openssl check a TimeStampToken over digest, up to
// root: an implementation of RFC 3161 other than the one that made it.
func opensslVerifyToken(t testing.TB, token, digest []byte, root *x509.Certificate) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CSC_TEST_REQUIRE_PDF_TOOLS") == "1" {
			t.Fatal("openssl missing")
		}
		t.Log("openssl missing: the independent timestamp check is skipped")
		return
	}
	dir := t.TempDir()
	tok, ca := filepath.Join(dir, "token.der"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(tok, token, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "ts", "-verify", "-digest", hex.EncodeToString(digest), "-in", tok, "-token_in", "-CAfile", ca).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	wrong := bytes.Clone(digest)
	wrong[0] ^= 1
	if out, err := exec.Command(bin, "ts", "-verify", "-digest", hex.EncodeToString(wrong), "-in", tok, "-token_in", "-CAfile", ca).CombinedOutput(); err == nil {
		t.Fatalf("openssl accepts the token for another digest:\n%s", out)
	}
}

// stamp returns a TimeStampToken (with the TSA certificate) over digest.
func (a *testTSA) stamp(h crypto.Hash, digest []byte) ([]byte, error) {
	a.calls++
	ts := timestamp.Timestamp{HashAlgorithm: h, HashedMessage: digest, Time: time.Now().UTC().Truncate(time.Second),
		Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}, AddTSACertificate: true}
	resp, err := ts.CreateResponseWithOpts(a.pki.leaf, a.pki.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	parsed, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, err
	}
	return parsed.RawToken, nil
}

// testCRL is a CRL of pki's root, revoking nothing.
func testCRL(t testing.TB, pki testPKI) []byte {
	t.Helper()
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(now.UnixNano()), ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour)}, pki.root, pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// testOCSP is a "good" OCSP response from pki's root about cert.
func testOCSP(t testing.TB, pki testPKI, cert *x509.Certificate) []byte {
	t.Helper()
	now := time.Now()
	der, err := ocsp.CreateResponse(pki.root, pki.root, ocsp.Response{Status: ocsp.Good, SerialNumber: cert.SerialNumber,
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func sameData(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

func wantDSS(t testing.TB, doc []byte, want ValidationData) {
	t.Helper()
	got, err := DSS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !sameData(got.Certs, want.Certs) || !sameData(got.CRLs, want.CRLs) || !sameData(got.OCSPs, want.OCSPs) {
		t.Fatalf("DSS holds %d certificates, %d CRLs, %d OCSP responses, not what was put in (%d, %d, %d)",
			len(got.Certs), len(got.CRLs), len(got.OCSPs), len(want.Certs), len(want.CRLs), len(want.OCSPs))
	}
}

// rangesDigest hashes the byte ranges of a signature.
func rangesDigest(t testing.TB, doc []byte, br [4]int64, h crypto.Hash) []byte {
	t.Helper()
	if br[0] != 0 || br[1] > br[2] || br[2]+br[3] > int64(len(doc)) {
		t.Fatalf("byte range %v outside %d bytes", br, len(doc))
	}
	d := h.New()
	d.Write(doc[br[0] : br[0]+br[1]])
	d.Write(doc[br[2] : br[2]+br[3]])
	return d.Sum(nil)
}

// verifyToken checks a TimeStampToken's CMS by hand: its message-digest
// attribute is the SHA-256 of the TSTInfo it carries, and its signature
// over the signed attributes verifies with tsa's key.
func verifyToken(t testing.TB, token []byte, tsa *x509.Certificate) {
	t.Helper()
	s := cryptobyte.String(token)
	var ci, inner, sd, digestAlgs, encap, eContent, tstInfo, signerInfos, si, sid, digestAlg, attrs, sigAlg, sig cryptobyte.String
	var oid asn1.ObjectIdentifier
	var version int64
	mustRead(t, s.ReadASN1(&ci, cbasn1.SEQUENCE), "ContentInfo")
	mustRead(t, ci.ReadASN1ObjectIdentifier(&oid) && oid.Equal(oidSignedData), "signedData")
	mustRead(t, ci.ReadASN1(&inner, cbasn1.Tag(0).Constructed().ContextSpecific()), "[0]")
	mustRead(t, inner.ReadASN1(&sd, cbasn1.SEQUENCE), "SignedData")
	mustRead(t, sd.ReadASN1Integer(&version), "version")
	mustRead(t, sd.ReadASN1(&digestAlgs, cbasn1.SET), "digestAlgorithms")
	mustRead(t, sd.ReadASN1(&encap, cbasn1.SEQUENCE), "encapContentInfo")
	mustRead(t, encap.ReadASN1ObjectIdentifier(&oid) && oid.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}), "id-ct-TSTInfo")
	mustRead(t, encap.ReadASN1(&eContent, cbasn1.Tag(0).Constructed().ContextSpecific()), "eContent")
	mustRead(t, eContent.ReadASN1(&tstInfo, cbasn1.OCTET_STRING), "TSTInfo")
	sd.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific())
	sd.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific())
	mustRead(t, sd.ReadASN1(&signerInfos, cbasn1.SET), "signerInfos")
	mustRead(t, signerInfos.ReadASN1(&si, cbasn1.SEQUENCE), "SignerInfo")
	mustRead(t, si.ReadASN1Integer(&version), "SignerInfo version")
	mustRead(t, si.ReadASN1(&sid, cbasn1.SEQUENCE), "sid")
	mustRead(t, si.ReadASN1(&digestAlg, cbasn1.SEQUENCE), "digestAlgorithm")
	mustRead(t, si.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()), "signedAttrs")
	mustRead(t, si.ReadASN1(&sigAlg, cbasn1.SEQUENCE), "signatureAlgorithm")
	mustRead(t, si.ReadASN1(&sig, cbasn1.OCTET_STRING), "signature")
	var md []byte
	if _, err := asn1.Unmarshal(readAttributes(t, attrs)[oidMessageDigest.String()], &md); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(tstInfo); !bytes.Equal(md, sum[:]) {
		t.Fatal("the token's message-digest is not the SHA-256 of its TSTInfo")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
	if err := tsa.CheckSignature(x509.ECDSAWithSHA256, b.BytesOrPanic(), sig); err != nil {
		t.Fatalf("the token's signature does not verify with the TSA certificate: %v", err)
	}
}

// TestLongTermLevels builds B-T, then B-LT (DSS with the chains, a CRL and
// an OCSP response, merged a second time without duplicates), then B-LTA
// (a document timestamp), then a further signature, with each signer key
// type; pdfsig keeps every CAdES signature valid and trusted all along.
func TestLongTermLevels(t *testing.T) {
	padestest.RequireTools(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	streamed := objectStreams(t, padestest.MinimalPDF(t, 1))
	cases := []struct {
		name    string
		doc     []byte
		key     crypto.Signer
		scheme  Scheme
		hash    crypto.Hash
		certify bool
	}{
		{"RSA PKCS1v15", padestest.MinimalPDF(t, 1), rsaKey, PKCS1v15, crypto.SHA256, false},
		{"RSA PSS certification", padestest.MinimalPDF(t, 1), rsaKey, PSS, crypto.SHA256, true},
		{"ECDSA SHA-384 object streams", streamed, ecKey, ECDSA, crypto.SHA384, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pki := newTestPKI(t, tc.key)
			tsa := newTestTSA(t, pki)
			v := padestest.NewValidator(t, pki.root)
			info := Options{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Info: SignatureInfo{Name: "Erika Mustermann"}}

			// B-T.
			first := info
			first.Certification = tc.certify
			bt := signWith(t, tc.doc, pki, tc.scheme, tc.hash, first, tsa.stamp)
			if tsa.calls != 1 {
				t.Fatalf("TSA called %d times", tsa.calls)
			}

			// B-LT: the signer's chain, the TSA's chain, a CRL and an
			// OCSP response; a duplicate in the input is stored once.
			crl, resp := testCRL(t, pki), testOCSP(t, pki, pki.leaf)
			lt, err := AddDSS(bt, ValidationData{Certs: [][]byte{pki.leaf.Raw, pki.root.Raw, tsa.pki.leaf.Raw, pki.root.Raw},
				CRLs: [][]byte{crl}, OCSPs: [][]byte{resp}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(lt, bt) {
				t.Fatal("AddDSS changed earlier bytes")
			}
			v.QPDFCheck(t, lt)
			want := ValidationData{Certs: [][]byte{pki.leaf.Raw, pki.root.Raw, tsa.pki.leaf.Raw}, CRLs: [][]byte{crl}, OCSPs: [][]byte{resp}}
			wantDSS(t, lt, want)
			sigs := v.Report(t, lt)
			if len(sigs) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")

			// A second AddDSS merges: old entries kept, new ones added once.
			extra := pki.signer(t, tc.key, "Another Certificate").leaf
			resp2 := testOCSP(t, pki, tsa.pki.leaf)
			lt2, err := AddDSS(lt, ValidationData{Certs: [][]byte{pki.root.Raw, extra.Raw}, CRLs: [][]byte{crl}, OCSPs: [][]byte{resp, resp2}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(lt2, lt) {
				t.Fatal("the second AddDSS changed earlier bytes")
			}
			v.QPDFCheck(t, lt2)
			want = ValidationData{Certs: append(want.Certs, extra.Raw), CRLs: want.CRLs, OCSPs: [][]byte{resp, resp2}}
			wantDSS(t, lt2, want)
			if again, err := AddDSS(lt2, want); err != nil || !bytes.Equal(again, lt2) {
				t.Fatalf("adding what the DSS holds changed the document (%v)", err)
			}

			// B-LTA: a document timestamp over everything so far.
			calls := tsa.calls
			lta, err := AddDocumentTimestamp(lt2, DocTimestampOptions{Hash: tc.hash, Reserve: 8192, Stamp: tsa.stamp})
			if err != nil {
				t.Fatal(err)
			}
			if tsa.calls != calls+1 {
				t.Fatalf("TSA called %d times for one document timestamp", tsa.calls-calls)
			}
			if !bytes.HasPrefix(lta, lt2) {
				t.Fatal("AddDocumentTimestamp changed earlier bytes")
			}
			v.QPDFCheck(t, lta)
			wantDSS(t, lta, want)
			fields, err := Signatures(lta)
			if err != nil {
				t.Fatal(err)
			}
			if len(fields) != 2 || fields[0].SubFilter != "ETSI.CAdES.detached" || fields[1].SubFilter != "ETSI.RFC3161" {
				t.Fatalf("Signatures: %+v", fields)
			}
			p := parseCMS(t, fields[0].Contents)
			sigHash := tc.hash.New()
			sigHash.Write(p.signature)
			opensslVerifyToken(t, p.unsigned[oidSignatureTimestamp.String()], sigHash.Sum(nil), pki.root)
			if fields[1].ByteRange[2]+fields[1].ByteRange[3] != int64(len(lta)) {
				t.Fatalf("the document timestamp covers %v of %d bytes", fields[1].ByteRange, len(lta))
			}
			ts, err := timestamp.Parse(fields[1].Contents)
			if err != nil {
				t.Fatal(err)
			}
			if digest := rangesDigest(t, lta, fields[1].ByteRange, tc.hash); ts.HashAlgorithm != tc.hash || !bytes.Equal(ts.HashedMessage, digest) {
				t.Fatalf("the document timestamp's imprint (%v %x) is not the digest of its byte ranges (%x)", ts.HashAlgorithm, ts.HashedMessage, digest)
			}
			verifyToken(t, fields[1].Contents, tsa.pki.leaf)
			opensslVerifyToken(t, fields[1].Contents, ts.HashedMessage, pki.root)
			if len(ts.Certificates) != 1 || !ts.Certificates[0].Equal(tsa.pki.leaf) {
				t.Fatal("the token does not carry the TSA certificate")
			}
			sigs = v.Report(t, lta)
			if len(sigs) != 2 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
			// poppler 22.12 lists the document timestamp but does not check
			// it: "Signature Type: unknown", "Signature has not yet been
			// verified." It is the Go checks above that verify it.
			for _, w := range []string{"Signer Certificate Common Name: Test TSA", "Total document signed"} {
				if !strings.Contains(sigs[1], w) {
					t.Errorf("pdfsig does not say %q about the document timestamp:\n%s", w, sigs[1])
				}
			}
			if strings.Contains(sigs[1], "Signature is Valid") {
				t.Logf("poppler now validates document timestamps: update this test")
			}
			t.Logf("pdfsig on the document timestamp:%s", sigs[1])

			// A further signature keeps all earlier ones and the DSS.
			final := signWith(t, lta, pki.signer(t, tc.key, "Max Muster"), tc.scheme, tc.hash, info, tsa.stamp)
			v.QPDFCheck(t, final)
			wantDSS(t, final, want)
			later, err := Signatures(final)
			if err != nil || len(later) != 3 {
				t.Fatalf("Signatures after a third: %d, %v", len(later), err)
			}
			if later[1].ByteRange != fields[1].ByteRange || !bytes.Equal(later[1].Contents, fields[1].Contents) ||
				!bytes.Equal(rangesDigest(t, final, later[1].ByteRange, tc.hash), ts.HashedMessage) {
				t.Fatal("the document timestamp no longer matches its byte ranges after a further signature")
			}
			sigs = v.Report(t, final)
			if len(sigs) != 3 {
				t.Fatalf("pdfsig found %d signatures", len(sigs))
			}
			padestest.WantValid(t, sigs[0], "ETSI.CAdES.detached", "Erika Mustermann")
			padestest.WantValid(t, sigs[2], "ETSI.CAdES.detached", "Max Muster")
		})
	}
}

// TestAddDSSMergesExistingDSS: a DSS another tool wrote directly in the
// catalog, with a compressed stream and a VRI, keeps its entries and its
// VRI; only what is new is added.
func TestAddDSSMergesExistingDSS(t *testing.T) {
	padestest.RequireTools(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	v := padestest.NewValidator(t, pki.root)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(pki.root.Raw)
	zw.Close()
	doc := padestest.BuildPDF([]string{
		"<< /Type /Catalog /Pages 2 0 R /DSS << /Certs [5 0 R] /VRI << /0123 << /Cert [5 0 R] >> >> >> >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
		"<< /Length 0 >>\nstream\n\nendstream",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes()),
	}, "")
	wantDSS(t, doc, ValidationData{Certs: [][]byte{pki.root.Raw}})
	crl := testCRL(t, pki)
	out, err := AddDSS(doc, ValidationData{Certs: [][]byte{pki.leaf.Raw, pki.root.Raw}, CRLs: [][]byte{crl}})
	if err != nil {
		t.Fatal(err)
	}
	v.QPDFCheck(t, out)
	wantDSS(t, out, ValidationData{Certs: [][]byte{pki.root.Raw, pki.leaf.Raw}, CRLs: [][]byte{crl}})
	d, err := open(out)
	if err != nil {
		t.Fatal(err)
	}
	if vri := d.root.Key("DSS").Key("VRI").Key("0123").Key("Cert"); vri.Len() != 1 || refOf(vri.Index(0)) != (ref{id: 5}) {
		t.Fatalf("the VRI was not kept: %v", d.root.Key("DSS"))
	}
}

// TestDocumentTimestampRefusals: a token larger than the reservation is
// ErrTooLarge and one over another digest ErrTimestamp, with the TSA asked
// exactly once; a malformed document never reaches the TSA.
func TestDocumentTimestampRefusals(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	tsa := newTestTSA(t, pki)
	doc := padestest.MinimalPDF(t, 1)

	if _, err := AddDocumentTimestamp(doc, DocTimestampOptions{Hash: crypto.SHA256, Reserve: 200, Stamp: tsa.stamp}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("token larger than reserved: %v, want ErrTooLarge", err)
	}
	if tsa.calls != 1 {
		t.Fatalf("TSA called %d times for a too-large token, want once", tsa.calls)
	}

	tsa.calls = 0
	other := func(h crypto.Hash, digest []byte) ([]byte, error) {
		wrong := bytes.Clone(digest)
		wrong[0] ^= 1
		return tsa.stamp(h, wrong)
	}
	if _, err := AddDocumentTimestamp(doc, DocTimestampOptions{Hash: crypto.SHA256, Reserve: 8192, Stamp: other}); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("token over another digest: %v, want ErrTimestamp", err)
	}
	otherHash := func(h crypto.Hash, digest []byte) ([]byte, error) {
		sum := make([]byte, 48)
		copy(sum, digest)
		return tsa.stamp(crypto.SHA384, sum)
	}
	if _, err := AddDocumentTimestamp(doc, DocTimestampOptions{Hash: crypto.SHA256, Reserve: 8192, Stamp: otherHash}); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("token with another hash algorithm: %v, want ErrTimestamp", err)
	}
	garbage := func(crypto.Hash, []byte) ([]byte, error) {
		tsa.calls++
		return []byte{0x30, 0x03, 0x02, 0x01, 0x07}, nil
	}
	if _, err := AddDocumentTimestamp(doc, DocTimestampOptions{Hash: crypto.SHA256, Reserve: 8192, Stamp: garbage}); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("not a token: %v, want ErrTimestamp", err)
	}
	if tsa.calls != 3 {
		t.Fatalf("TSA called %d times for three refused tokens", tsa.calls)
	}

	tsa.calls = 0
	if _, err := AddDocumentTimestamp([]byte("%PDF-1.7 nothing"), DocTimestampOptions{Hash: crypto.SHA256, Reserve: 8192, Stamp: tsa.stamp}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed document: %v, want ErrMalformed", err)
	}
	if _, err := AddDocumentTimestamp(doc, DocTimestampOptions{Hash: crypto.SHA1, Reserve: 8192, Stamp: tsa.stamp}); err == nil {
		t.Fatal("SHA-1 accepted")
	}
	if tsa.calls != 0 {
		t.Fatalf("TSA called %d times for refused requests", tsa.calls)
	}
}

// TestAddDSSRefusals: data that is not a certificate, CRL or OCSP
// response, or a malformed document, changes nothing.
func TestAddDSSRefusals(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(t, key)
	doc := minimalPDF(t)
	for name, v := range map[string]ValidationData{
		"CRL as certificate": {Certs: [][]byte{testCRL(t, pki)}},
		"certificate as CRL": {CRLs: [][]byte{pki.leaf.Raw}},
		"garbage OCSP":       {OCSPs: [][]byte{{0x30, 0x00}}},
		"too many":           {Certs: slices.Repeat([][]byte{pki.leaf.Raw}, maxDSSEntries+1)},
	} {
		if _, err := AddDSS(doc, v); !errors.Is(err, ErrValidationData) {
			t.Errorf("%s: %v, want ErrValidationData", name, err)
		}
	}
	if _, err := AddDSS(doc[:100], ValidationData{Certs: [][]byte{pki.leaf.Raw}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated document: %v, want ErrMalformed", err)
	}
	if v, err := DSS(doc); err != nil || len(v.Certs)+len(v.CRLs)+len(v.OCSPs) != 0 {
		t.Errorf("DSS of a document without one: %+v, %v", v, err)
	}
	bad := bytes.Replace(doc, []byte("/Pages 2 0 R"), []byte("/Pages 2 0 R /DSS << /Certs 3 0 R >>"), 1)
	if _, err := DSS(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("DSS whose /Certs is a page: %v, want ErrMalformed", err)
	}
}

// FuzzSignatures: Signatures and DSS never panic, and fail only with
// ErrMalformed.
func FuzzSignatures(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki := newTestPKI(f, key)
	tsa := newTestTSA(f, pki)
	signed := signWith(f, minimalPDF(f), pki, ECDSA, crypto.SHA256, Options{}, tsa.stamp)
	lt, err := AddDSS(signed, ValidationData{Certs: [][]byte{pki.leaf.Raw}, CRLs: [][]byte{testCRL(f, pki)}})
	if err != nil {
		f.Fatal(err)
	}
	lta, err := AddDocumentTimestamp(lt, DocTimestampOptions{Hash: crypto.SHA256, Reserve: 4096, Stamp: tsa.stamp})
	if err != nil {
		f.Fatal(err)
	}
	visible := signWith(f, twoPagePDF(), pki, ECDSA, crypto.SHA256, Options{Info: SignatureInfo{Name: "Erika Mustermann"},
		Appearance: &Appearance{Page: 2, Rect: [4]float64{36, 36, 236, 96}}}, nil)
	for _, seed := range [][]byte{minimalPDF(f), twoPagePDF(), signed, lt, lta, visible} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sigs, err := Signatures(doc)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Signatures: %v, not ErrMalformed", err)
		}
		for _, s := range sigs {
			for _, n := range s.ByteRange {
				if n < 0 {
					t.Fatalf("negative byte range %v", s.ByteRange)
				}
			}
		}
		if _, err := DSS(doc); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("DSS: %v, not ErrMalformed", err)
		}
	})
}
