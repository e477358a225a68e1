package api_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades"
	"github.com/openrssp/rssp/sam/pades/padestest"
)

const oidSHA256 = "2.16.840.1.101.3.4.2.1"

func sha(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

// pdfValidator trusts the env's development CA.
func (e *env) pdfValidator(t *testing.T) *padestest.Validator {
	t.Helper()
	ca, err := e.sam.DevCACertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return padestest.NewValidator(t, ca)
}

// signedPDF decodes the one signed document of a signDoc answer.
func signedPDF(t *testing.T, out map[string]any) []byte {
	t.Helper()
	docs := toStrings(out["DocumentWithSignature"])
	if len(docs) != 1 || out["SignatureObject"] != nil {
		t.Fatalf("signDoc answer: %v", out)
	}
	pdf, err := base64.StdEncoding.DecodeString(docs[0])
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

// TestSignDocThroughOAuth: the signer approves a PDF by its label and
// fingerprint on our pages; the credential token then signs that PDF and
// no other.
func TestSignDocThroughOAuth(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		registerWebClient(t, e)
		v := e.pdfValidator(t)
		cred := e.alice.Credentials[0]
		doc := padestest.MinimalPDF(t, 1)
		verifier, challenge := pkcePair(t)
		details := `[{"type":"credential","credentialID":"` + cred.ID + `","hashAlgorithmOID":"` + oidSHA256 +
			`","documentDigests":[{"hash":"` + b64(sha(doc)) + `","label":"Lease agreement.pdf"}]}]`
		q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
			"authorization_details": {details}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"sd-1"}}
		b := newBrowser(t, e)
		consent := loginAndConsent(b, e.srv.URL+"/oauth2/authorize?"+q.Encode(), e.alice)
		for _, want := range []string{"Lease agreement.pdf", sam.DigestFingerprint(sha(doc), 8)} {
			if !strings.Contains(consent, want) {
				t.Fatalf("the consent page does not show %q", want)
			}
		}
		e.clock.Advance(30 * time.Second)
		loc := approveConsent(b, consent, e.totp(e.alice, 0))
		status, out := e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect},
			"code_verifier": {verifier}, "authorization_details": {details}})
		if status != 200 {
			t.Fatalf("token: %d %v", status, out)
		}
		token := out["access_token"].(string)
		req := func(pdf []byte) map[string]any {
			return map[string]any{"credentialID": cred.ID, "documents": []map[string]any{{
				"document": b64(pdf), "signature_format": "P", "conformance_level": "ADES-B-LTA", "signAlgo": "1.2.840.113549.1.1.11",
				"signed_props":             []map[string]string{{"attribute_name": "Reason", "attribute_value": "Lease approved"}, {"attribute_name": "Location", "attribute_value": "Gent"}},
				"signed_envelope_property": "Revision"}}}
		}

		// Another document than the approved one: 403, and nothing spent.
		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, req(padestest.MinimalPDF(t, 2)))
		wantError(t, status, out, 403, "invalid_hash", "Document or documentDigest does not match authorized hash")

		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, req(doc))
		if status != 200 {
			t.Fatalf("signDoc: %d %v", status, out)
		}
		pdf := signedPDF(t, out)
		if !bytes.HasPrefix(pdf, doc) {
			t.Fatal("the signed PDF is not an incremental update of the approved one")
		}
		r := v.Report(t, pdf)
		padestest.WantValid(t, r[0], "ETSI.CAdES.detached", "Alice Example")
		if !strings.Contains(r[0], "Signing Time:") {
			t.Errorf("no signing time in the report:\n%s", r[0])
		}
		v.QPDFCheck(t, pdf)
		// B-LTA: the validation data, then a document timestamp over all.
		sigs, err := pades.Signatures(pdf)
		if err != nil || len(sigs) != 2 || sigs[1].SubFilter != "ETSI.RFC3161" {
			t.Fatalf("signatures: %v %+v", err, sigs)
		}
		if vd, err := pades.DSS(pdf); err != nil || len(vd.Certs) < 3 || len(vd.CRLs) != 1 || len(vd.OCSPs) != 2 {
			t.Fatalf("DSS: %v, %d certificates, %d CRLs, %d OCSP responses", err, len(vd.Certs), len(vd.CRLs), len(vd.OCSPs))
		}

		// numSignatures was 1: the token is spent.
		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, req(doc))
		if status != 400 && status != 401 {
			t.Fatalf("a second signDoc with a spent token: %d %v", status, out)
		}
	})
}

// TestSignDocExplicit: PIN and TOTP through credentials/authorize, then a
// PAdES document and a detached CAdES signature over a digest; and every
// refusal of the request table, none of which spends the SAD.
func TestSignDocExplicit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		v := e.pdfValidator(t)
		token := e.login(t, e.alice)
		cred := e.alice.Credentials[1] // EC P-256
		doc := padestest.MinimalPDF(t, 1)
		content := []byte("detached content")
		e.clock.Advance(30 * time.Second)
		status, out, _ := e.call(t, "/csc/v2/credentials/authorize", token, map[string]any{"credentialID": cred.ID, "numSignatures": 2,
			"hashes": []string{b64(sha(doc)), b64(sha(content))}, "hashAlgorithmOID": oidSHA256,
			"authData": []map[string]string{{"id": "PIN", "value": e.alice.PIN}, {"id": "OTP", "value": e.totp(e.alice, 0)}}})
		if status != 200 {
			t.Fatalf("authorize: %d %v", status, out)
		}
		sad := out["SAD"].(string)
		pdfEntry := map[string]any{"document": b64(doc), "signature_format": "P", "signAlgo": "1.2.840.10045.4.3.2"}
		digestEntry := map[string]any{"hashes": []string{b64(sha(content))}, "hashAlgorithmOID": oidSHA256, "signature_format": "C",
			"conformance_level": "Ades-B-T", "signAlgo": "1.2.840.10045.4.3.2"}
		with := func(entry map[string]any, k string, val any) map[string]any {
			out := map[string]any{}
			for kk, vv := range entry {
				out[kk] = vv
			}
			out[k] = val
			return out
		}
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
			code   string
			desc   string
		}{
			{"both", map[string]any{"documents": []any{pdfEntry}, "documentDigests": []any{digestEntry}}, 400, "invalid_request", "Both documentDigests and documents parameters passed"},
			{"neither", map[string]any{}, 400, "invalid_request", "Empty documentDigests and documents objects"},
			{"empty documents", map[string]any{"documents": []any{}}, 400, "invalid_request", "Empty documentDigests and documents objects"},
			{"documents not an array", map[string]any{"documents": "x"}, 400, "invalid_request", "Invalid array parameter documents"},
			{"document not base64", map[string]any{"documents": []any{with(pdfEntry, "document", "%%%")}}, 400, "invalid_request", "Invalid array parameter documents"},
			{"digests without hashes", map[string]any{"documentDigests": []any{with(digestEntry, "hashes", nil)}}, 400, "invalid_request", "Invalid object parameter documentDigests"},
			{"format X", map[string]any{"documents": []any{with(pdfEntry, "signature_format", "X")}}, 400, "invalid_request", "Invalid parameter signature_format"},
			{"PAdES from digests", map[string]any{"documentDigests": []any{with(digestEntry, "signature_format", "P")}}, 400, "invalid_request", "Invalid parameter signature_format"},
			{"level", map[string]any{"documents": []any{with(pdfEntry, "conformance_level", "Ades-Q")}}, 400, "invalid_request", "Invalid parameter conformance_level"},
			{"envelope", map[string]any{"documents": []any{with(pdfEntry, "signed_envelope_property", "Enveloping")}}, 400, "invalid_request", "Invalid parameter signed_envelope_property"},
			{"CAdES attached", map[string]any{"documentDigests": []any{with(digestEntry, "signed_envelope_property", "Attached")}}, 400, "invalid_request", "Invalid parameter signed_envelope_property"},
			{"signed_props name", map[string]any{"documents": []any{with(pdfEntry, "signed_props", []map[string]string{{"attribute_name": "Signer"}})}}, 400, "invalid_request", "Invalid parameter signed_props"},
			{"RSA algorithm for an EC key", map[string]any{"documents": []any{with(pdfEntry, "signAlgo", "1.2.840.113549.1.1.11")}}, 400, "invalid_request", "Invalid parameter signAlgo"},
			{"no signAlgo", map[string]any{"documents": []any{with(pdfEntry, "signAlgo", nil)}}, 400, "invalid_request", "Missing (or invalid type) string parameter signAlgo"},
			{"validation info", map[string]any{"documents": []any{pdfEntry}, "returnValidationInfo": true}, 400, "invalid_request", "Invalid parameter returnValidationInfo"},
			{"not a PDF", map[string]any{"documents": []any{with(pdfEntry, "document", b64([]byte("%PDF-1.7 nothing else")))}}, 400, "invalid_request", "Invalid parameter documents: not a well-formed, unencrypted PDF"},
			{"another digest", map[string]any{"documentDigests": []any{with(digestEntry, "hashes", []string{b64(digest("other"))})}}, 403, "invalid_hash", "Document or documentDigest does not match authorized hash"},
			{"another SAD", map[string]any{"documents": []any{pdfEntry}, "SAD": "not-a-sad"}, 400, "invalid_request", "Invalid parameter SAD"},
		} {
			body := map[string]any{"credentialID": cred.ID, "SAD": sad}
			for k, val := range tc.body {
				body[k] = val
			}
			status, out, _ := e.call(t, "/csc/v2/signatures/signDoc", token, body)
			if status != tc.status || out["error"] != tc.code || out["error_description"] != tc.desc {
				t.Errorf("%s: %d %v, want %d %s %q", tc.name, status, out, tc.status, tc.code, tc.desc)
			}
		}
		// A body over the limit for documents (1 MiB here): 413.
		big := map[string]any{"credentialID": cred.ID, "SAD": sad, "documents": []any{with(pdfEntry, "document", b64(make([]byte, 1<<20)))}}
		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, big)
		wantError(t, status, out, 413, "invalid_request", "Request body too large")
		// signDoc is a v2 method.
		status, out, _ = e.call(t, "/csc/v1/signatures/signDoc", token, map[string]any{"credentialID": cred.ID, "SAD": sad, "documents": []any{pdfEntry}})
		wantError(t, status, out, 404, "invalid_request", "Unknown method")

		// The SAD survived every refusal: both signatures now succeed.
		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, map[string]any{"credentialID": cred.ID, "SAD": sad, "documents": []any{pdfEntry}})
		if status != 200 {
			t.Fatalf("signDoc P: %d %v", status, out)
		}
		pdf := signedPDF(t, out)
		padestest.WantValid(t, v.Report(t, pdf)[0], "ETSI.CAdES.detached", "Alice Example")
		v.QPDFCheck(t, pdf)

		status, out, _ = e.call(t, "/csc/v2/signatures/signDoc", token, map[string]any{"credentialID": cred.ID, "SAD": sad, "documentDigests": []any{digestEntry}})
		if status != 200 || out["DocumentWithSignature"] != nil || len(toStrings(out["SignatureObject"])) != 1 {
			t.Fatalf("signDoc C: %d %v", status, out)
		}
		cms, _ := base64.StdEncoding.DecodeString(toStrings(out["SignatureObject"])[0])
		checkDetachedCMS(t, e, cms, content)
	})
}

// checkDetachedCMS verifies a detached CAdES B-T signature over content
// against the development CA, and its signature timestamp's imprint.
func checkDetachedCMS(t *testing.T, e *env, cms, content []byte) {
	t.Helper()
	p7, err := pkcs7.Parse(cms)
	if err != nil {
		t.Fatal(err)
	}
	p7.Content = content
	ca, err := e.sam.DevCACertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if err := p7.VerifyWithChain(pool); err != nil {
		t.Fatalf("detached CMS: %v", err)
	}
	si := p7.Signers[0]
	for _, a := range si.AuthenticatedAttributes {
		if a.Type.String() == "1.2.840.113549.1.9.5" {
			t.Error("the CMS carries signing-time, which CAdES baseline keeps out")
		}
	}
	var token []byte
	for _, a := range si.UnauthenticatedAttributes {
		if a.Type.String() == "1.2.840.113549.1.9.16.2.14" {
			token = a.Value.Bytes
		}
	}
	if token == nil {
		t.Fatal("no signature timestamp (B-T)")
	}
	ts, err := timestamp.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha(si.EncryptedDigest); !bytes.Equal(ts.HashedMessage, want) {
		t.Fatal("the timestamp is not over the signature value")
	}
}
