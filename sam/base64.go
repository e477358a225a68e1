package sam

import (
	"encoding/base64"
	"errors"
	"strings"
)

// DecodeBase64 accepts standard or URL-safe base64, padded or not, as CSC
// clients send both (hashes in JSON bodies, the comma-separated hashes of
// oauth2/authorize, documentDigests), but not a mix of the two alphabets and
// nothing that is not canonical.
func DecodeBase64(s string) ([]byte, error) {
	std := strings.ContainsAny(s, "+/")
	url := strings.ContainsAny(s, "-_")
	if std && url {
		return nil, errors.New("mixed base64 alphabets")
	}
	s = strings.TrimRight(s, "=")
	if url {
		return base64.RawURLEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}
