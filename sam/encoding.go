package sam

import (
	"encoding/hex"
	"golang.org/x/crypto/cryptobyte"
	"strings"
)

// macInput encodes a domain label and fields unambiguously (each with a
// 32-bit length prefix) as the input of an HSM MAC. The domain keeps MACs made
// for one purpose from being valid for another.
func macInput(domain string, fields ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(domain)) })
	for _, f := range fields {
		b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(f) })
	}
	return b.BytesOrPanic()
}

func u64(v int64) []byte {
	var b cryptobyte.Builder
	b.AddUint64(uint64(v))
	return b.BytesOrPanic()
}

// MAC domains.
const (
	domainKeyBlob    = "rssp/key-blob/v1"
	domainSAD        = "rssp/sad/v1"
	domainPIN        = "rssp/pin/v1"
	domainPassword   = "rssp/password/v1"
	domainChallenge  = "rssp/otp-challenge/v1"
	domainActivation = "rssp/activation-code/v1"
	domainAudit      = "rssp/audit/v1"
	domainAuthority  = "rssp/authority-key/v1"
	// domainCredentialToken derives an OAuth credential token (a SAD) from
	// its authorization code.
	domainCredentialToken = "rssp/oauth-credential-token/v1"
)

// DigestFingerprint is the short, human-comparable form of a digest that the
// signer sees wherever a document is named (the consent page, an SMS): its
// first n bytes in upper-case hex, in groups of four characters
// ("1F41 251B F253 B351" for n = 8). A shorter fingerprint of the same digest
// is a prefix of a longer one, so the signer can compare them.
func DigestFingerprint(digest []byte, n int) string {
	x := strings.ToUpper(hex.EncodeToString(digest[:min(n, len(digest))]))
	var parts []string
	for i := 0; i < len(x); i += 4 {
		parts = append(parts, x[i:min(i+4, len(x))])
	}
	return strings.Join(parts, " ")
}
