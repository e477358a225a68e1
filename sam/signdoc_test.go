package sam_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades"
	"github.com/openrssp/rssp/sam/pades/padestest"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
	"golang.org/x/crypto/ocsp"
)

// signDocFixture is a fixture with a development CA and TSA, on a clock a
// little behind the real one: pdfsig checks certificates against the real
// time, and authorize moves the clock on by a TOTP step each time.
func signDocFixture(t *testing.T, driver string) (*fixture, *x509.Certificate) {
	f := newFixture(t, driver, testConfig())
	f.clock = &fakeClock{now: time.Now().Add(-10 * time.Minute)}
	var err error
	if f.sam, err = sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithCodeSender(f.sender)); err != nil {
		t.Fatal(err)
	}
	ca, _, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{CommonName: "SignDoc Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.sam.InitDevTSA(ctx, sam.DevTSAConfig{}); err != nil {
		t.Fatal(err)
	}
	return f, ca
}

// certifiedCredential is a credential with a certificate of the development CA.
func (f *fixture) certifiedCredential(signerID string, alg hsm.KeyAlgorithm) (*store.Credential, []*x509.Certificate) {
	f.t.Helper()
	c := f.credential(signerID, alg, 2, 4)
	chain, err := f.sam.IssueDevCertificate(ctx, c.ID, sam.Subject{}, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return c, chain
}

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func TestSignDoc(t *testing.T) {
	for _, driver := range storetest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			f, ca := signDocFixture(t, driver)
			v := padestest.NewValidator(t, ca)
			alice := f.signer("alice")
			rsaCred, rsaChain := f.certifiedCredential(alice, hsm.RSA2048)
			ecCred, ecChain := f.certifiedCredential(alice, hsm.ECP256)
			doc := padestest.MinimalPDF(t, 1)
			content := []byte("a contract, signed detached")

			t.Run("PAdES B-T and CAdES over a digest under one SAD", func(t *testing.T) {
				sad := f.authorize(rsaCred, 2, sum256(doc), sum256(content))
				out, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{
						{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelT, SignAlgorithm: sam.OIDSHA256WithRSA,
							Info: pades.SignatureInfo{Reason: "Approved", Location: "Brussels"}},
						{Digest: sum256(content), DigestAlgorithm: sam.OIDSHA256, Format: sam.FormatCAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDSHA256WithRSA},
					}})
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != 2 || out[0].Format != sam.FormatPAdES || out[1].Format != sam.FormatCAdES {
					t.Fatalf("results: %+v", out)
				}
				if !bytes.HasPrefix(out[0].Data, doc) {
					t.Fatal("the signed PDF is not an incremental update of the approved one")
				}
				reports := v.Report(t, out[0].Data)
				padestest.WantValid(t, reports[0], "ETSI.CAdES.detached", rsaChain[0].Subject.CommonName)
				v.QPDFCheck(t, out[0].Data)
				verifyDetached(t, out[1].Data, content, ca)

				// The SAD was for two signatures and both are spent.
				if _, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDSHA256WithRSA}}}); err == nil {
					t.Fatal("a spent SAD signed again")
				}
			})

			t.Run("another document is refused and consumes nothing", func(t *testing.T) {
				sad := f.authorize(ecCred, 1, sum256(doc))
				other := padestest.MinimalPDF(t, 2)
				req := sam.SignDocRequest{CredentialID: ecCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: other, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDECDSAWithSHA256}}}
				if _, err := f.sam.SignDoc(ctx, req); !errors.Is(err, sam.ErrDocumentNotAuthorized) {
					t.Fatalf("another document: %v", err)
				}
				req.Documents[0].Content = doc
				out, err := f.sam.SignDoc(ctx, req)
				if err != nil {
					t.Fatalf("the approved document after a refusal: %v", err)
				}
				padestest.WantValid(t, v.Report(t, out[0].Data)[0], "ETSI.CAdES.detached", ecChain[0].Subject.CommonName)
			})

			t.Run("a malformed PDF is refused before the SAD is consumed", func(t *testing.T) {
				garbage := []byte("%PDF-1.7\nthis is not a PDF at all\n%%EOF\n")
				sad := f.authorize(rsaCred, 1, sum256(garbage))
				req := sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: garbage, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDSHA256WithRSA}}}
				if _, err := f.sam.SignDoc(ctx, req); !errors.Is(err, sam.ErrMalformedDocument) {
					t.Fatalf("malformed PDF: %v", err)
				}
				// Still usable: the same bytes signed detached (CAdES).
				req.Documents[0].Format = sam.FormatCAdES
				out, err := f.sam.SignDoc(ctx, req)
				if err != nil {
					t.Fatalf("the SAD after a refused PDF: %v", err)
				}
				verifyDetached(t, out[0].Data, garbage, ca)
			})

			t.Run("RSASSA-PSS certification signature", func(t *testing.T) {
				params, err := pades.PSSParams(crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				sad := f.authorize(rsaCred, 1, sum256(doc))
				req := sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelB, Envelope: sam.EnvelopeCertification,
						SignAlgorithm: sam.OIDRSAPSS, SignAlgoParams: params}}}
				out, err := f.sam.SignDoc(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				padestest.WantValid(t, v.Report(t, out[0].Data)[0], "ETSI.CAdES.detached", rsaChain[0].Subject.CommonName)
				v.QPDFCheck(t, out[0].Data)
			})

			t.Run("B-LTA: DSS and document timestamp", func(t *testing.T) {
				sad := f.authorize(rsaCred, 1, sum256(doc))
				out, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelLTA, SignAlgorithm: sam.OIDSHA256WithRSA}}})
				if err != nil {
					t.Fatal(err)
				}
				signed := out[0].Data
				padestest.WantValid(t, v.Report(t, signed)[0], "ETSI.CAdES.detached", rsaChain[0].Subject.CommonName)
				v.QPDFCheck(t, signed)
				sigs, err := pades.Signatures(signed)
				if err != nil || len(sigs) != 2 || sigs[0].SubFilter != "ETSI.CAdES.detached" || sigs[1].SubFilter != "ETSI.RFC3161" {
					t.Fatalf("signatures: %v %+v", err, sigs)
				}
				checkDocTimestamp(t, signed, sigs[1])
				tsaChain, err := f.sam.TSAChain(ctx)
				if err != nil {
					t.Fatal(err)
				}
				checkDSS(t, signed, ca, rsaChain[0], tsaChain[0])
			})

			t.Run("the default envelope of a signed PDF is Revision", func(t *testing.T) {
				first := f.authorize(rsaCred, 1, sum256(doc))
				out, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: first.Token,
					Documents: []sam.DocumentToSign{{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDSHA256WithRSA}}})
				if err != nil {
					t.Fatal(err)
				}
				once := out[0].Data
				sad := f.authorize(ecCred, 1, sum256(once))
				req := sam.SignDocRequest{CredentialID: ecCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: once, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDECDSAWithSHA256,
						Envelope: sam.EnvelopeCertification}}}
				if _, err := f.sam.SignDoc(ctx, req); !errors.Is(err, &sam.Error{Code: "invalid_request", Description: "Invalid parameter signed_envelope_property"}) {
					t.Fatalf("certifying a signed document: %v", err)
				}
				req.Documents[0].Envelope = ""
				out, err = f.sam.SignDoc(ctx, req)
				if err != nil {
					t.Fatalf("the default envelope on a signed document: %v", err)
				}
				r := v.Report(t, out[0].Data)
				if len(r) != 2 {
					t.Fatalf("%d signatures", len(r))
				}
				padestest.WantValid(t, r[0], "ETSI.CAdES.detached", rsaChain[0].Subject.CommonName)
				padestest.WantValid(t, r[1], "ETSI.CAdES.detached", ecChain[0].Subject.CommonName)
			})

			t.Run("B-T from an external TSA", func(t *testing.T) {
				tsa := padestest.NewTSA(t)
				ext, err := sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithTimestamper(tsaClient{&pades.TSAClient{URL: tsa.URL}}))
				if err != nil {
					t.Fatal(err)
				}
				sad := f.authorize(ecCred, 1, sum256(doc))
				out, err := ext.SignDoc(ctx, sam.SignDocRequest{CredentialID: ecCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelT, SignAlgorithm: sam.OIDECDSAWithSHA256}}})
				if err != nil {
					t.Fatal(err)
				}
				if tsa.Requests.Load() != 1 {
					t.Fatalf("the external TSA answered %d requests", tsa.Requests.Load())
				}
				padestest.WantValid(t, v.Report(t, out[0].Data)[0], "ETSI.CAdES.detached", ecChain[0].Subject.CommonName)
			})

			t.Run("refusals before consumption", func(t *testing.T) {
				sad := f.authorize(rsaCred, 1, sum256(doc))
				base := sam.DocumentToSign{Content: doc, Format: sam.FormatPAdES, Level: sam.LevelB, SignAlgorithm: sam.OIDSHA256WithRSA}
				for _, tc := range []struct {
					name string
					edit func(d *sam.DocumentToSign)
					want error
				}{
					{"PAdES from a digest", func(d *sam.DocumentToSign) {
						d.Content, d.Digest, d.DigestAlgorithm = nil, sum256(doc), sam.OIDSHA256
					}, &sam.Error{Code: "invalid_request", Description: "Invalid parameter signature_format"}},
					{"unknown format", func(d *sam.DocumentToSign) { d.Format = "X" }, &sam.Error{Code: "invalid_request", Description: "Invalid parameter signature_format"}},
					{"unknown level", func(d *sam.DocumentToSign) { d.Level = "B-Q" }, &sam.Error{Code: "invalid_request", Description: "Invalid parameter conformance_level"}},
					{"CAdES B-LT", func(d *sam.DocumentToSign) { d.Format, d.Level = sam.FormatCAdES, sam.LevelLT }, &sam.Error{Code: "invalid_request", Description: "Invalid parameter conformance_level"}},
					{"algorithm of another key", func(d *sam.DocumentToSign) { d.SignAlgorithm = sam.OIDECDSAWithSHA256 }, sam.ErrSignAlgorithm},
					{"PSS with another salt", func(d *sam.DocumentToSign) {
						d.SignAlgorithm, d.SignAlgoParams = sam.OIDRSAPSS, pssParams(t, 20)
					}, sam.ErrSignAlgoParams},
					{"short client digest", func(d *sam.DocumentToSign) {
						d.Content, d.Digest, d.DigestAlgorithm, d.Format = nil, make([]byte, 20), sam.OIDSHA256, sam.FormatCAdES
					}, sam.ErrDigestLength},
				} {
					d := base
					tc.edit(&d)
					_, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
						Documents: []sam.DocumentToSign{d}})
					if !errors.Is(err, tc.want) {
						t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
					}
				}
				if _, err := f.sam.SignDoc(ctx, sam.SignDocRequest{CredentialID: rsaCred.ID, SignerID: alice, ClientID: testClient, SAD: sad.Token,
					Documents: []sam.DocumentToSign{base}}); err != nil {
					t.Fatalf("the SAD after the refusals: %v", err)
				}
			})
		})
	}
}

// verifyDetached checks a detached CMS over content against the CA.
func verifyDetached(t *testing.T, der, content []byte, ca *x509.Certificate) {
	t.Helper()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	p7.Content = content
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if err := p7.VerifyWithChain(pool); err != nil {
		t.Fatalf("detached CMS: %v", err)
	}
}

// tsaClient is an external RFC 3161 authority as the SAM's timestamp source.
type tsaClient struct{ *pades.TSAClient }

func (tsaClient) MaxTokenSize() int { return 8 << 10 }

// checkDocTimestamp checks that a document timestamp's token is over the
// digest of its byte ranges.
func checkDocTimestamp(t *testing.T, doc []byte, f pades.SignatureField) {
	t.Helper()
	ts, err := timestamp.Parse(f.Contents)
	if err != nil {
		t.Fatal(err)
	}
	h := ts.HashAlgorithm.New()
	br := f.ByteRange
	h.Write(doc[br[0] : br[0]+br[1]])
	h.Write(doc[br[2] : br[2]+br[3]])
	if !bytes.Equal(h.Sum(nil), ts.HashedMessage) || br[2]+br[3] != int64(len(doc)) {
		t.Fatal("the document timestamp does not cover the document")
	}
}

// checkDSS checks that the DSS holds the signer's and the TSA's
// certificates, a CRL of the CA, and a good OCSP response of the CA for
// each of them.
func checkDSS(t *testing.T, doc []byte, ca *x509.Certificate, certs ...*x509.Certificate) {
	t.Helper()
	vd, err := pades.DSS(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if !slices.ContainsFunc(vd.Certs, func(d []byte) bool { return bytes.Equal(d, c.Raw) }) {
			t.Errorf("the DSS lacks the certificate of %s", c.Subject.CommonName)
		}
	}
	if len(vd.CRLs) != 1 {
		t.Fatalf("%d CRLs", len(vd.CRLs))
	}
	crl, err := x509.ParseRevocationList(vd.CRLs[0])
	if err != nil || crl.CheckSignatureFrom(ca) != nil {
		t.Fatalf("CRL: %v", err)
	}
	good := map[string]bool{}
	for _, der := range vd.OCSPs {
		r, err := ocsp.ParseResponse(der, ca)
		if err != nil {
			t.Fatalf("OCSP: %v", err)
		}
		good[r.SerialNumber.String()] = r.Status == ocsp.Good
	}
	for _, c := range certs {
		if !good[c.SerialNumber.String()] {
			t.Errorf("no good OCSP response for %s", c.Subject.CommonName)
		}
	}
}
