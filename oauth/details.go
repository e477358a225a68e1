package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openrssp/rssp/sam"
)

// Authorization detail types (RFC 9396) for signing with one credential:
// CSC API v2.0 names it "credential", v2.2 a URI.
const (
	DetailTypeCredential    = "credential"
	DetailTypeCredentialURI = "https://cloudsignatureconsortium.org/2025/credential"
)

// Limits on what one authorization may carry.
const (
	maxDetailsLen   = 256 << 10
	maxDocuments    = 1000
	maxLabelLen     = 256
	maxIdentifierLn = 256
)

// DocumentDigest is one document the signer is asked to sign: its digest,
// the label shown on the approval page, and (CSC 2.2) what the digest is of.
type DocumentDigest struct {
	Hash     []byte
	Label    string
	HashType string // "", "sdr", "dtbsr" or "sodr" (lower-cased)
}

// CredentialDetail is a validated authorization_details entry of a credential
// type.
type CredentialDetail struct {
	Type               string
	CredentialID       string
	SignatureQualifier string
	HashAlgorithmOID   string
	Documents          []DocumentDigest
	// NumSignatures is the entry's numSignatures, or the number of documents
	// when the entry has none (CSC 2.0 made it optional).
	NumSignatures int
}

// errDetails builds the RFC 9396 refusal for a bad authorization_details.
func errDetails(format string, a ...any) *sam.Error {
	return &sam.Error{Code: "invalid_authorization_details", Description: fmt.Sprintf(format, a...)}
}

// detailWire is an entry as sent. Members we do not use (locations,
// actions, circumstantialData, ...) are allowed and ignored, as RFC 9396
// lets types be extended.
type detailWire struct {
	Type               *string         `json:"type"`
	CredentialID       json.RawMessage `json:"credentialID"`
	SignatureQualifier json.RawMessage `json:"signatureQualifier"`
	HashAlgorithmOID   json.RawMessage `json:"hashAlgorithmOID"`
	DocumentDigests    json.RawMessage `json:"documentDigests"`
	NumSignatures      json.RawMessage `json:"numSignatures"`
}

type digestWire struct {
	Hash     json.RawMessage `json:"hash"`
	Label    json.RawMessage `json:"label"`
	HashType json.RawMessage `json:"hashType"`
}

// ParseAuthorizationDetails validates the authorization_details parameter of
// oauth2/authorize, pushed_authorize and token: a JSON array holding exactly
// one entry of a credential type that names a credential (or a signature
// qualifier), a hash algorithm of SHA-256 or stronger, and one or more
// document digests of that algorithm's length. Hashes may be standard or
// URL-safe base64, padded or not. Every refusal is an
// invalid_authorization_details error saying what is wrong.
func ParseAuthorizationDetails(s string) (CredentialDetail, error) {
	if len(s) > maxDetailsLen {
		return CredentialDetail{}, errDetails("authorization_details is too long")
	}
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(s), &entries); err != nil {
		return CredentialDetail{}, errDetails("authorization_details must be a JSON array")
	}
	if len(entries) != 1 {
		return CredentialDetail{}, errDetails("authorization_details must hold exactly one entry, not %d", len(entries))
	}
	var w detailWire
	if err := json.Unmarshal(entries[0], &w); err != nil || bytes.HasPrefix(bytes.TrimSpace(entries[0]), []byte("null")) {
		return CredentialDetail{}, errDetails("an authorization_details entry must be a JSON object")
	}
	if w.Type == nil {
		return CredentialDetail{}, errDetails("authorization_details entry without type")
	}
	if *w.Type != DetailTypeCredential && *w.Type != DetailTypeCredentialURI {
		return CredentialDetail{}, errDetails("unsupported authorization_details type %q", truncate(*w.Type))
	}
	d := CredentialDetail{Type: *w.Type}
	var err error
	if d.CredentialID, err = optionalString(w.CredentialID, "credentialID", maxIdentifierLn); err != nil {
		return CredentialDetail{}, err
	}
	if d.SignatureQualifier, err = optionalString(w.SignatureQualifier, "signatureQualifier", maxIdentifierLn); err != nil {
		return CredentialDetail{}, err
	}
	if d.CredentialID == "" && d.SignatureQualifier == "" {
		return CredentialDetail{}, errDetails("authorization_details needs credentialID or signatureQualifier")
	}
	if d.HashAlgorithmOID, err = optionalString(w.HashAlgorithmOID, "hashAlgorithmOID", maxIdentifierLn); err != nil {
		return CredentialDetail{}, err
	}
	hash, ok := sam.HashForOID(d.HashAlgorithmOID)
	if !ok {
		return CredentialDetail{}, errDetails("hashAlgorithmOID must be SHA-256, SHA-384 or SHA-512")
	}
	var digests []digestWire
	if isAbsent(w.DocumentDigests) || json.Unmarshal(w.DocumentDigests, &digests) != nil || len(digests) == 0 {
		return CredentialDetail{}, errDetails("documentDigests must be a non-empty array")
	}
	if len(digests) > maxDocuments {
		return CredentialDetail{}, errDetails("more than %d documentDigests", maxDocuments)
	}
	for i, dw := range digests {
		h, err := optionalString(dw.Hash, fmt.Sprintf("documentDigests[%d].hash", i), 1024)
		if err != nil {
			return CredentialDetail{}, err
		}
		raw, derr := sam.DecodeBase64(h)
		if h == "" || derr != nil {
			return CredentialDetail{}, errDetails("documentDigests[%d].hash is not base64", i)
		}
		if len(raw) != hash.Size() {
			return CredentialDetail{}, errDetails("documentDigests[%d].hash does not have the length of hashAlgorithmOID", i)
		}
		label, err := optionalString(dw.Label, fmt.Sprintf("documentDigests[%d].label", i), maxLabelLen)
		if err != nil {
			return CredentialDetail{}, err
		}
		ht, err := optionalString(dw.HashType, fmt.Sprintf("documentDigests[%d].hashType", i), 16)
		if err != nil {
			return CredentialDetail{}, err
		}
		ht = strings.ToLower(ht)
		switch ht {
		case "", "sdr", "dtbsr", "sodr":
		default:
			return CredentialDetail{}, errDetails("documentDigests[%d].hashType must be SDR, DTBSR or SODR", i)
		}
		d.Documents = append(d.Documents, DocumentDigest{Hash: raw, Label: label, HashType: ht})
	}
	if d.NumSignatures, err = numSignatures(w.NumSignatures); err != nil {
		return CredentialDetail{}, err
	}
	if d.NumSignatures == 0 {
		d.NumSignatures = len(d.Documents)
	}
	if d.NumSignatures < len(d.Documents) {
		return CredentialDetail{}, errDetails("numSignatures is smaller than the number of documentDigests")
	}
	return d, nil
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// optionalString reads a string member; absent or null is "".
func optionalString(raw json.RawMessage, name string, max int) (string, error) {
	if isAbsent(raw) {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", errDetails("%s must be a string", name)
	}
	if len(v) > max || !utf8.ValidString(v) {
		return "", errDetails("%s is too long or not UTF-8", name)
	}
	return v, nil
}

// numSignatures reads numSignatures as CSC 2.2 sends it (an integer) or as
// CSC 2.0 clients did (a decimal string); absent is 0.
func numSignatures(raw json.RawMessage) (int, error) {
	if isAbsent(raw) {
		return 0, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, errDetails("numSignatures must be a positive integer")
	}
	switch t := v.(type) {
	case json.Number:
		n = t
	case string:
		n = json.Number(t)
	default:
		return 0, errDetails("numSignatures must be a positive integer")
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 1 || i > maxDocuments {
		return 0, errDetails("numSignatures must be a positive integer up to %d", maxDocuments)
	}
	return i, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ParseHashesParam reads the hashes (v2) or hash (v1) parameter of
// oauth2/authorize: comma-separated digests, base64url as the CSC API says,
// padded or not, or standard base64 as some clients send.
func ParseHashesParam(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxDocuments {
		return nil, &sam.Error{Code: "invalid_request", Description: "Too many hashes"}
	}
	out := make([][]byte, 0, len(parts))
	for _, p := range parts {
		h, err := sam.DecodeBase64(strings.TrimSpace(p))
		if err != nil || len(h) == 0 {
			return nil, &sam.Error{Code: "invalid_request", Description: "Invalid Base64 hash string parameter"}
		}
		out = append(out, h)
	}
	return out, nil
}
