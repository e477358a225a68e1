package store

import "time"

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Token is a service authorization token issued by auth/login (and, later, the
// OAuth server). The token itself is never stored, only its SHA-256 in Hash.
// A login and the refreshes that descend from it share FamilyID, so revoking
// a refresh token revokes the whole family. Times are Unix milliseconds.
type Token struct {
	ID        string `gorm:"primaryKey;size:64"`
	Hash      []byte `gorm:"not null;uniqueIndex"`
	Kind      string `gorm:"size:16;not null"`
	FamilyID  string `gorm:"size:64;not null;index"`
	SignerID  string `gorm:"size:64;not null;index"`
	ClientID  string `gorm:"size:128;not null"`
	Scope     string `gorm:"size:64;not null"`
	ExpiresAt int64  `gorm:"not null"`
	UsedAt    int64  `gorm:"not null"` // refresh tokens: when exchanged (0 while unused)
	RevokedAt int64  `gorm:"not null"` // 0 while usable
	CreatedAt time.Time
}

// Authority is a certificate authority whose key the HSM holds, wrapped like a
// signer key and bound to this row by KeyMAC (the built-in development CA).
type Authority struct {
	ID           string `gorm:"primaryKey;size:64"`
	KeyAlgorithm string `gorm:"size:16;not null"`
	KeyBlob      []byte `gorm:"not null"`
	KeyMAC       []byte `gorm:"not null"`
	PublicKey    []byte `gorm:"not null"` // PKIX DER
	Certificate  []byte `gorm:"not null"` // DER, self-signed for a root
	CreatedAt    time.Time
}
