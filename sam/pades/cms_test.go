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
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// testPKI is a root CA and a signer certificate for key.
type testPKI struct {
	root, leaf *x509.Certificate
	key        crypto.Signer
	caKey      crypto.Signer
}

func newTestPKI(t testing.TB, key crypto.Signer) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "PAdES Test Root", Organization: []string{"RSSP Test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(caDER)
	return testPKI{root: root, caKey: caKey}.signer(t, key, "Erika Mustermann")
}

// signer is a PKI with the same root and a new signer certificate.
func (p testPKI) signer(t testing.TB, key crypto.Signer, cn string) testPKI {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	leafTmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, p.root, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return testPKI{root: p.root, leaf: leaf, key: key, caKey: p.caKey}
}

// signFunc signs with key as a CSC signHash would, and counts its calls.
func signFunc(key crypto.Signer, s Scheme, h crypto.Hash, calls *int) SignFunc {
	return func(digest []byte) ([]byte, error) {
		*calls++
		var opts crypto.SignerOpts = h
		if s == PSS {
			opts = &rsa.PSSOptions{SaltLength: h.Size(), Hash: h}
		}
		return key.Sign(rand.Reader, digest, opts)
	}
}

// parsedCMS is what the tests read back out of a CMS.
type parsedCMS struct {
	certs       [][]byte
	signedAttrs []byte // re-tagged as a SET, as signed
	attrs       map[string][]byte
	sigAlg      cryptobyte.String
	signature   []byte
	unsigned    map[string][]byte
}

func mustRead(t testing.TB, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Fatalf("CMS: cannot read %s", what)
	}
}

// parseCMS walks a ContentInfo of SignedData with one SignerInfo.
func parseCMS(t testing.TB, der []byte) parsedCMS {
	t.Helper()
	var p parsedCMS
	s := cryptobyte.String(der)
	var ci, sd, inner cryptobyte.String
	var oid asn1.ObjectIdentifier
	mustRead(t, s.ReadASN1(&ci, cbasn1.SEQUENCE) && s.Empty(), "ContentInfo")
	mustRead(t, ci.ReadASN1ObjectIdentifier(&oid) && oid.Equal(oidSignedData), "signedData OID")
	mustRead(t, ci.ReadASN1(&inner, cbasn1.Tag(0).Constructed().ContextSpecific()), "[0]")
	mustRead(t, inner.ReadASN1(&sd, cbasn1.SEQUENCE), "SignedData")
	var version int64
	var digestAlgs, encap, certs, signerInfos cryptobyte.String
	mustRead(t, sd.ReadASN1Integer(&version) && version == 1, "version")
	mustRead(t, sd.ReadASN1(&digestAlgs, cbasn1.SET), "digestAlgorithms")
	mustRead(t, sd.ReadASN1(&encap, cbasn1.SEQUENCE), "encapContentInfo")
	mustRead(t, encap.ReadASN1ObjectIdentifier(&oid) && oid.Equal(oidData) && encap.Empty(), "detached id-data")
	mustRead(t, sd.ReadASN1(&certs, cbasn1.Tag(0).Constructed().ContextSpecific()), "certificates")
	for !certs.Empty() {
		var c cryptobyte.String
		mustRead(t, certs.ReadASN1Element(&c, cbasn1.SEQUENCE), "certificate")
		p.certs = append(p.certs, c)
	}
	mustRead(t, sd.ReadASN1(&signerInfos, cbasn1.SET) && sd.Empty(), "signerInfos")
	var si cryptobyte.String
	mustRead(t, signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) && signerInfos.Empty(), "one SignerInfo")
	var sid, digestAlg, attrs cryptobyte.String
	mustRead(t, si.ReadASN1Integer(&version) && version == 1, "SignerInfo version")
	mustRead(t, si.ReadASN1(&sid, cbasn1.SEQUENCE), "sid")
	mustRead(t, si.ReadASN1(&digestAlg, cbasn1.SEQUENCE), "digestAlgorithm")
	mustRead(t, si.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()), "signedAttrs")
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
	p.signedAttrs = b.BytesOrPanic()
	p.attrs = readAttributes(t, attrs)
	mustRead(t, si.ReadASN1Element(&p.sigAlg, cbasn1.SEQUENCE), "signatureAlgorithm")
	var sig cryptobyte.String
	mustRead(t, si.ReadASN1(&sig, cbasn1.OCTET_STRING), "signature")
	p.signature = sig
	if !si.Empty() {
		var un cryptobyte.String
		mustRead(t, si.ReadASN1(&un, cbasn1.Tag(1).Constructed().ContextSpecific()) && si.Empty(), "unsignedAttrs")
		p.unsigned = readAttributes(t, un)
	}
	return p
}

func readAttributes(t testing.TB, s cryptobyte.String) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for !s.Empty() {
		var a, values, v cryptobyte.String
		var oid asn1.ObjectIdentifier
		mustRead(t, s.ReadASN1(&a, cbasn1.SEQUENCE), "Attribute")
		mustRead(t, a.ReadASN1ObjectIdentifier(&oid), "attribute type")
		mustRead(t, a.ReadASN1(&values, cbasn1.SET) && a.Empty(), "attribute values")
		mustRead(t, values.ReadAnyASN1Element(&v, nil) && values.Empty(), "one attribute value")
		if _, dup := out[oid.String()]; dup {
			t.Fatalf("attribute %s twice", oid)
		}
		out[oid.String()] = v
	}
	return out
}

func TestBuildCMS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		key    crypto.Signer
		scheme Scheme
		hash   crypto.Hash
		alg    asn1.ObjectIdentifier
	}{
		{"RSA PKCS#1 v1.5 SHA-256", rsaKey, PKCS1v15, crypto.SHA256, oidSHA256WithRSA},
		{"RSA PKCS#1 v1.5 SHA-512", rsaKey, PKCS1v15, crypto.SHA512, oidSHA512WithRSA},
		{"RSASSA-PSS SHA-256", rsaKey, PSS, crypto.SHA256, oidRSAPSS},
		{"ECDSA P-256 SHA-256", ecKey, ECDSA, crypto.SHA256, oidECDSAWithSHA256},
		{"ECDSA P-256 SHA-384", ecKey, ECDSA, crypto.SHA384, oidECDSAWithSHA384},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pki := newTestPKI(t, tc.key)
			content := []byte("%PDF-1.7 the bytes a /ByteRange covers")
			h := tc.hash.New()
			h.Write(content)
			contentDigest := h.Sum(nil)
			calls := 0
			der, err := BuildCMS(contentDigest, CMSOptions{Chain: []*x509.Certificate{pki.leaf, pki.root}, Hash: tc.hash, Scheme: tc.scheme,
				Sign: signFunc(tc.key, tc.scheme, tc.hash, &calls)})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("the signer was called %d times, want exactly once", calls)
			}
			p := parseCMS(t, der)

			// Signed attributes: exactly these three, no signing-time.
			if _, ok := p.attrs[oidSigningTime.String()]; ok {
				t.Fatal("signing-time is a signed attribute: PAdES baseline forbids it")
			}
			if len(p.attrs) != 3 {
				t.Fatalf("signed attributes %v, want content-type, message-digest, signing-certificate-v2", keys(p.attrs))
			}
			var md []byte
			if _, err := asn1.Unmarshal(p.attrs[oidMessageDigest.String()], &md); err != nil || !bytes.Equal(md, contentDigest) {
				t.Fatalf("message-digest %x, want %x (%v)", md, contentDigest, err)
			}
			var ct asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(p.attrs[oidContentType.String()], &ct); err != nil || !ct.Equal(oidData) {
				t.Fatalf("content-type %v", ct)
			}
			checkESS(t, p.attrs[oidSigningCertV2.String()], pki.leaf)

			// The signature is over the DER SET of the signed attributes.
			var gotAlg asn1.ObjectIdentifier
			alg := p.sigAlg
			var algSeq cryptobyte.String
			if !alg.ReadASN1(&algSeq, cbasn1.SEQUENCE) || !algSeq.ReadASN1ObjectIdentifier(&gotAlg) || !gotAlg.Equal(tc.alg) {
				t.Fatalf("signatureAlgorithm %v, want %v", gotAlg, tc.alg)
			}
			if tc.scheme == PSS {
				want, _ := PSSParams(tc.hash)
				if !bytes.Equal(algSeq, want) {
					t.Fatalf("PSS parameters %x, want %x", []byte(algSeq), want)
				}
			}
			hs := tc.hash.New()
			hs.Write(p.signedAttrs)
			if err := checkSignature(pki.leaf.PublicKey, tc.scheme, tc.hash, hs.Sum(nil), p.signature); err != nil {
				t.Fatal(err)
			}
			if len(p.certs) != 2 || p.unsigned != nil {
				t.Fatalf("%d certificates, unsigned attributes %v", len(p.certs), keys(p.unsigned))
			}
			if opensslVerify(t, der, content, pki.root) != nil {
				t.Fatal("openssl refuses the CMS")
			}
			if err := opensslVerify(t, der, append(content, '!'), pki.root); err == nil {
				t.Fatal("openssl accepts the CMS for other content")
			}
		})
	}
}

// checkESS checks that signing-certificate-v2 names leaf by its SHA-256
// hash and by issuer and serial number.
func checkESS(t *testing.T, der []byte, leaf *x509.Certificate) {
	t.Helper()
	s := cryptobyte.String(der)
	var scv2, certs, id, hash, issuerSerial, names, dirName cryptobyte.String
	mustRead(t, s.ReadASN1(&scv2, cbasn1.SEQUENCE), "SigningCertificateV2")
	mustRead(t, scv2.ReadASN1(&certs, cbasn1.SEQUENCE), "certs")
	mustRead(t, certs.ReadASN1(&id, cbasn1.SEQUENCE) && certs.Empty(), "one ESSCertIDv2")
	mustRead(t, id.ReadASN1(&hash, cbasn1.OCTET_STRING), "certHash (SHA-256 by default)")
	if sum := sha256.Sum256(leaf.Raw); !bytes.Equal(hash, sum[:]) {
		t.Fatalf("certHash %x, want SHA-256 of the signer certificate %x", []byte(hash), sum)
	}
	mustRead(t, id.ReadASN1(&issuerSerial, cbasn1.SEQUENCE), "issuerSerial")
	mustRead(t, issuerSerial.ReadASN1(&names, cbasn1.SEQUENCE), "GeneralNames")
	mustRead(t, names.ReadASN1(&dirName, cbasn1.Tag(4).Constructed().ContextSpecific()), "directoryName")
	if !bytes.Equal(dirName, leaf.RawIssuer) {
		t.Fatal("issuerSerial names another issuer")
	}
	serial := new(big.Int)
	mustRead(t, issuerSerial.ReadASN1Integer(serial), "serial")
	if serial.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("serial %v, want %v", serial, leaf.SerialNumber)
	}
}

// opensslVerify checks the CMS with an independent implementation. It is
// nil when openssl verified it (or is not installed: then the failure
// check is skipped too).
func opensslVerify(t *testing.T, der, content []byte, root *x509.Certificate) error {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed: the independent CMS check cannot run")
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sig := write("sig.der", der)
	doc := write("content.bin", content)
	ca := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}))
	out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", doc, "-CAfile", ca,
		"-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		t.Logf("openssl cms -verify: %v\n%s", err, out)
	}
	return err
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBuildCMSTimestampAndRefusals: the signature timestamp becomes an
// unsigned attribute over the signature value; a signer that fails, a
// signature from another key, or a digest of the wrong size produce no CMS.
func TestBuildCMSTimestampAndRefusals(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t, key)
	digest := sha256.Sum256([]byte("doc"))
	calls := 0
	var stamped []byte
	token := []byte{0x30, 0x03, 0x02, 0x01, 0x07} // any DER value stands in for the token here
	der, err := BuildCMS(digest[:], CMSOptions{Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA,
		Sign: signFunc(key, ECDSA, crypto.SHA256, &calls),
		Timestamp: func(sig []byte) ([]byte, error) {
			stamped = sig
			return token, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := parseCMS(t, der)
	if !bytes.Equal(stamped, p.signature) {
		t.Fatal("the timestamp was not asked for the signature value")
	}
	if got := p.unsigned[oidSignatureTimestamp.String()]; !bytes.Equal(got, token) {
		t.Fatalf("signature-time-stamp attribute %x, want %x", got, token)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, o := range map[string]CMSOptions{
		"signer fails": {Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA,
			Sign: func([]byte) ([]byte, error) { return nil, os.ErrDeadlineExceeded }},
		"another key": {Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA, Sign: signFunc(other, ECDSA, crypto.SHA256, &calls)},
		"PSS on EC":   {Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: PSS, Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)},
		"no chain":    {Hash: crypto.SHA256, Scheme: ECDSA, Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)},
		"SHA-1":       {Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA1, Scheme: ECDSA, Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)},
	} {
		if _, err := BuildCMS(digest[:], o); err == nil {
			t.Errorf("%s: a CMS was built", name)
		}
	}
	if _, err := BuildCMS(digest[:20], CMSOptions{Chain: []*x509.Certificate{pki.leaf}, Hash: crypto.SHA256, Scheme: ECDSA,
		Sign: signFunc(key, ECDSA, crypto.SHA256, &calls)}); err == nil {
		t.Error("a 20-byte digest was accepted for SHA-256")
	}
}
