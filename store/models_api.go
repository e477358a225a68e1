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

// IssuedCertificate is a certificate one of our authorities issued (a
// signer or TSA certificate of the development CA), with its revocation
// state: what the CRL lists and what OCSP answers. Certificates an external
// CA issued are not recorded here.
type IssuedCertificate struct {
	AuthorityID  string `gorm:"primaryKey;size:64"`
	Serial       string `gorm:"primaryKey;size:64"` // lowercase hex, no leading zeros
	CredentialID string `gorm:"size:64;not null;index"`
	Purpose      string `gorm:"size:16;not null"` // signer, tsa
	NotAfter     int64  `gorm:"not null"`         // unix ms
	RevokedAt    int64  `gorm:"not null"`         // unix ms; 0 while not revoked
	Reason       int    `gorm:"not null"`         // RFC 5280 CRLReason once revoked
	CreatedAt    time.Time
}

// RevocationList is an authority's revocation state: Revision counts the
// revocations recorded so far, and DER is the CRL with number Number that
// lists the revocations up to revision Covers. Number 0 means none signed.
type RevocationList struct {
	AuthorityID string `gorm:"primaryKey;size:64"`
	Revision    int64  `gorm:"not null"`
	Number      int64  `gorm:"not null"`
	Covers      int64  `gorm:"not null"`
	DER         []byte `gorm:"column:der"`
	ThisUpdate  int64  `gorm:"not null"` // unix ms
	NextUpdate  int64  `gorm:"not null"` // unix ms
}
