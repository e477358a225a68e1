package sam

import (
	"golang.org/x/crypto/cryptobyte"
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
	domainKeyBlob   = "rssp/key-blob/v1"
	domainSAD       = "rssp/sad/v1"
	domainPIN       = "rssp/pin/v1"
	domainPassword  = "rssp/password/v1"
	domainChallenge = "rssp/otp-challenge/v1"
	domainAudit     = "rssp/audit/v1"
	domainAuthority = "rssp/authority-key/v1"
	// domainCredentialToken derives an OAuth credential token (a SAD) from
	// its authorization code.
	domainCredentialToken = "rssp/oauth-credential-token/v1"
)
