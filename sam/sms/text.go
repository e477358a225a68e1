package sms

import (
	"fmt"
	"github.com/openrssp/rssp/sam"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxSMSLength is the number of GSM-7 characters in a single-part SMS.
const MaxSMSLength = 160

const (
	ellipsis          = "..." // GSM-7 has no "…"
	maxFingerprintLen = 24    // room for "XXXX XXXX XXXX XXXX" and more
	unnamedClient     = "an unnamed client"
	gsmUnsafeASCII    = "`[]{}\\~^|" // not in GSM-7's basic table (cost 2 or absent)
)

// ApprovalText returns the body of an SMS that carries a one-time code and
// says what it approves, for example:
//
//	RSSP code 123456 to approve 2 documents for Example SCA (first document 1F41 251B). Never share this code.
//
// code is the one-time code as made by the SAM (digits); it is used as is.
// clientName is untrusted: it is reduced to printable GSM-7-safe ASCII
// (accents dropped, control characters and newlines removed, spaces
// collapsed) and, if needed, truncated with "..." so the whole text fits
// [MaxSMSLength] characters. documents is the number of documents (hashes)
// being signed. fingerprint is a short digest fingerprint, usually from
// [Fingerprint]; it is reduced to letters, digits and spaces and to 24
// characters, and left out when empty.
//
// The result is pure GSM-7-safe ASCII and at most 160 characters whenever
// code is a reasonable length (up to 20 characters).
func ApprovalText(code, clientName string, documents int, fingerprint string) string {
	fp := cleanFingerprint(fingerprint)
	build := func(name string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "RSSP code %s to approve ", code)
		switch {
		case documents == 1:
			b.WriteString("1 document")
		case documents > 1:
			fmt.Fprintf(&b, "%d documents", documents)
		default:
			b.WriteString("a signature")
		}
		b.WriteString(" for ")
		b.WriteString(name)
		if fp != "" {
			if documents > 1 {
				b.WriteString(" (first document ")
			} else {
				b.WriteString(" (document ")
			}
			b.WriteString(fp)
			b.WriteString(")")
		}
		b.WriteString(". Never share this code.")
		return b.String()
	}

	name := cleanClientName(clientName)
	if name == "" {
		name = unnamedClient
	}
	room := MaxSMSLength - len(build(""))
	if len(name) > room {
		if room > len(ellipsis) {
			name = strings.TrimRight(name[:room-len(ellipsis)], " ") + ellipsis
		} else {
			name = ellipsis // only with an unreasonably long code
		}
	}
	return build(name)
}

// Fingerprint returns a short, human-comparable fingerprint of a digest:
// its first four bytes in upper-case hex, in two groups ("1F41 251B").
// It is the prefix of the fingerprint the consent page shows.
func Fingerprint(digest []byte) string { return sam.DigestFingerprint(digest, 4) }

// cleanClientName keeps printable ASCII that GSM-7 encodes in one
// character. Accented Latin letters lose their accent (é → e); whitespace
// of any kind becomes one space; everything else is dropped.
func cleanClientName(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r < 0x20 || r > 0x7e, strings.ContainsRune(gsmUnsafeASCII, r):
			continue // includes combining accents, emoji, controls, bidi marks
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cleanFingerprint keeps ASCII letters, digits and single spaces, up to
// maxFingerprintLen characters.
func cleanFingerprint(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if b.Len() >= maxFingerprintLen {
			break
		}
		switch {
		case r == ' ':
			space = b.Len() > 0
		case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if space {
				b.WriteByte(' ')
				space = false
				if b.Len() >= maxFingerprintLen {
					continue
				}
			}
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), " ")
}
