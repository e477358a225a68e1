package oauth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
)

var (
	docA = sha256.Sum256([]byte("contract A"))
	docB = sha256.Sum256([]byte("contract B"))
	stdA = base64.StdEncoding.EncodeToString(docA[:])
	urlB = base64.RawURLEncoding.EncodeToString(docB[:])
)

func TestParseAuthorizationDetails(t *testing.T) {
	const sha = `"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1"`
	valid := []struct {
		name, in string
		want     oauth.CredentialDetail
	}{
		{"CSC 2.0, standard base64, no numSignatures",
			`[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"hash":"` + stdA + `","label":"Contract A"}]}]`,
			oauth.CredentialDetail{Type: "credential", CredentialID: "c1", HashAlgorithmOID: "2.16.840.1.101.3.4.2.1", NumSignatures: 1,
				Documents: []oauth.DocumentDigest{{Hash: docA[:], Label: "Contract A"}}}},
		{"CSC 2.2 URI type, base64url, hashType upper case, numSignatures integer, extra members",
			`[{"type":"https://cloudsignatureconsortium.org/2025/credential","signatureQualifier":"eu_eidas_qes",` + sha +
				`,"numSignatures":3,"locations":["https://rssp.example"],"documentDigests":[{"hash":"` + stdA + `","label":"A","hashType":"DTBSR"},{"hash":"` + urlB + `","label":"B"}]}]`,
			oauth.CredentialDetail{Type: oauth.DetailTypeCredentialURI, SignatureQualifier: "eu_eidas_qes", HashAlgorithmOID: "2.16.840.1.101.3.4.2.1",
				NumSignatures: 3, Documents: []oauth.DocumentDigest{{Hash: docA[:], Label: "A", HashType: "dtbsr"}, {Hash: docB[:], Label: "B"}}}},
		{"numSignatures as a string (early EUDI clients)",
			`[{"type":"credential","credentialID":"c1",` + sha + `,"numSignatures":"2","documentDigests":[{"hash":"` + stdA + `"},{"hash":"` + urlB + `"}]}]`,
			oauth.CredentialDetail{Type: "credential", CredentialID: "c1", HashAlgorithmOID: "2.16.840.1.101.3.4.2.1", NumSignatures: 2,
				Documents: []oauth.DocumentDigest{{Hash: docA[:]}, {Hash: docB[:]}}}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauth.ParseAuthorizationDetails(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	invalid := []struct{ name, in, want string }{
		{"not JSON", `credential`, "must be a JSON array"},
		{"an object, not an array", `{"type":"credential"}`, "must be a JSON array"},
		{"empty array", `[]`, "exactly one entry"},
		{"two entries", `[{"type":"credential"},{"type":"credential"}]`, "exactly one entry"},
		{"null entry", `[null]`, "must be a JSON object"},
		{"no type", `[{"credentialID":"c1"}]`, "without type"},
		{"other type", `[{"type":"payment_initiation"}]`, `unsupported authorization_details type "payment_initiation"`},
		{"no credential", `[{"type":"credential",` + sha + `,"documentDigests":[{"hash":"` + stdA + `"}]}]`, "needs credentialID or signatureQualifier"},
		{"credentialID a number", `[{"type":"credential","credentialID":7}]`, "credentialID must be a string"},
		{"SHA-1", `[{"type":"credential","credentialID":"c1","hashAlgorithmOID":"1.3.14.3.2.26","documentDigests":[{"hash":"` + stdA + `"}]}]`, "SHA-256, SHA-384 or SHA-512"},
		{"no hash algorithm", `[{"type":"credential","credentialID":"c1","documentDigests":[{"hash":"` + stdA + `"}]}]`, "SHA-256, SHA-384 or SHA-512"},
		{"no documents", `[{"type":"credential","credentialID":"c1",` + sha + `}]`, "non-empty array"},
		{"empty documents", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[]}]`, "non-empty array"},
		{"documents an object", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":{"hash":"x"}}]`, "non-empty array"},
		{"hash missing", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"label":"A"}]}]`, "documentDigests[0].hash is not base64"},
		{"hash not base64", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"hash":"#!"}]}]`, "documentDigests[0].hash is not base64"},
		{"hash of the wrong length", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"hash":"AAAA"}]}]`, "length of hashAlgorithmOID"},
		{"bad hashType", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"hash":"` + stdA + `","hashType":"raw"}]}]`, "SDR, DTBSR or SODR"},
		{"label too long", `[{"type":"credential","credentialID":"c1",` + sha + `,"documentDigests":[{"hash":"` + stdA + `","label":"` + strings.Repeat("x", 300) + `"}]}]`, "label is too long"},
		{"numSignatures zero", `[{"type":"credential","credentialID":"c1",` + sha + `,"numSignatures":0,"documentDigests":[{"hash":"` + stdA + `"}]}]`, "positive integer"},
		{"numSignatures fractional", `[{"type":"credential","credentialID":"c1",` + sha + `,"numSignatures":1.5,"documentDigests":[{"hash":"` + stdA + `"}]}]`, "positive integer"},
		{"fewer signatures than documents", `[{"type":"credential","credentialID":"c1",` + sha + `,"numSignatures":1,"documentDigests":[{"hash":"` + stdA + `"},{"hash":"` + urlB + `"}]}]`, "smaller than the number"},
		{"Python repr instead of JSON", `[{'type': 'credential', 'credentialID': 'c1'}]`, "must be a JSON array"},
	}
	for _, tc := range invalid {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := oauth.ParseAuthorizationDetails(tc.in)
			var e *sam.Error
			if !errors.As(err, &e) || e.Code != "invalid_authorization_details" || !strings.Contains(e.Description, tc.want) {
				t.Fatalf("error %v, want invalid_authorization_details containing %q", err, tc.want)
			}
		})
	}
}

func TestParseHashesParam(t *testing.T) {
	padded := base64.URLEncoding.EncodeToString(docB[:])
	got, err := oauth.ParseHashesParam(stdA + "," + urlB + "," + padded)
	if err != nil || len(got) != 3 || !bytes.Equal(got[0], docA[:]) || !bytes.Equal(got[1], docB[:]) || !bytes.Equal(got[2], docB[:]) {
		t.Fatalf("ParseHashesParam = %x, %v", got, err)
	}
	for _, bad := range []string{",", stdA + ",", "a+b-", "%%"} {
		if _, err := oauth.ParseHashesParam(bad); err == nil {
			t.Errorf("ParseHashesParam(%q) accepted", bad)
		}
	}
	if got, err := oauth.ParseHashesParam(""); err != nil || got != nil {
		t.Fatalf("empty parameter: %v %v", got, err)
	}
}

// FuzzAuthorizationDetails: never a panic; whatever is accepted names a
// credential, has digests of the algorithm's length and enough signatures.
func FuzzAuthorizationDetails(f *testing.F) {
	f.Add(`[{"type":"credential","credentialID":"c1","hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","documentDigests":[{"hash":"` + stdA + `","label":"A"}]}]`)
	f.Add(`[{"type":"https://cloudsignatureconsortium.org/2025/credential","signatureQualifier":"q","hashAlgorithmOID":"2.16.840.1.101.3.4.2.3","numSignatures":"2","documentDigests":[{"hash":"` + urlB + `"}]}]`)
	f.Add(`[null]`)
	f.Add(`[{"type":1}]`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := oauth.ParseAuthorizationDetails(s)
		if err != nil {
			var e *sam.Error
			if !errors.As(err, &e) || e.Code != "invalid_authorization_details" {
				t.Fatalf("unexpected error type %T %v", err, err)
			}
			return
		}
		h, ok := sam.HashForOID(d.HashAlgorithmOID)
		if !ok || (d.CredentialID == "" && d.SignatureQualifier == "") || len(d.Documents) == 0 || d.NumSignatures < len(d.Documents) {
			t.Fatalf("accepted an invalid detail: %+v", d)
		}
		for _, doc := range d.Documents {
			if len(doc.Hash) != h.Size() {
				t.Fatalf("accepted a digest of %d bytes for %s", len(doc.Hash), d.HashAlgorithmOID)
			}
		}
	})
}
