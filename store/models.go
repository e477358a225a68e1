package store

import "time"

// Status values shared by signers, credentials and factors.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
	StatusRevoked  = "revoked"
)

// Factor kinds.
const (
	FactorPIN      = "pin"
	FactorTOTP     = "totp"
	FactorSMS      = "sms"
	FactorPassword = "password" // login password of a signer (auth/login, signer pages)
)

// Signer is a natural person who owns credentials.
type Signer struct {
	ID        string `gorm:"primaryKey;size:64"`
	Username  string `gorm:"size:128;uniqueIndex"` // login name for auth/login and the signer pages
	Name      string `gorm:"size:256;not null"`
	GivenName string `gorm:"size:128"`
	Surname   string `gorm:"size:128"`
	Email     string `gorm:"size:256"`
	Status    string `gorm:"size:16;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Credential is a signing key with its certificate and policy. The private key
// exists here only as KeyBlob, wrapped under the HSM master key; KeyMAC binds
// the blob to this credential and its signer.
type Credential struct {
	ID          string `gorm:"primaryKey;size:64"`
	SignerID    string `gorm:"size:64;not null;index"`
	Status      string `gorm:"size:16;not null"`
	Description string `gorm:"size:512"`
	// SignatureQualifier (CSC, e.g. eu_eidas_qes) lets an OAuth request
	// name the kind of signature instead of the credential.
	SignatureQualifier string   `gorm:"size:64;not null;default:''"`
	KeyAlgorithm       string   `gorm:"size:16;not null"`
	KeyBlob            []byte   `gorm:"not null"`
	KeyMAC             []byte   `gorm:"not null"`
	PublicKey          []byte   `gorm:"not null"` // PKIX DER
	Certificates       []byte   // DER certificates, leaf first, concatenated
	SignAlgorithms     []string `gorm:"serializer:json"`
	SCAL               int      `gorm:"not null"`
	Multisign          int      `gorm:"not null"`
	AuthMode           string   `gorm:"size:16;not null"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Factor is one authentication factor: a credential PIN (CredentialID set), or
// a signer's TOTP app or SMS phone (CredentialID empty). Failures counts
// consecutive failed or in-flight attempts; LastStep is the last accepted TOTP
// time step.
type Factor struct {
	ID           string `gorm:"primaryKey;size:64"`
	SignerID     string `gorm:"size:64;not null;uniqueIndex:idx_factor_owner"`
	CredentialID string `gorm:"size:64;not null;uniqueIndex:idx_factor_owner"`
	Kind         string `gorm:"size:16;not null;uniqueIndex:idx_factor_owner"`
	Secret       []byte // PIN: argon2id string; TOTP: seed wrapped by the HSM
	Target       string `gorm:"size:64"` // SMS: phone number
	Failures     int    `gorm:"not null"`
	LastStep     int64  `gorm:"not null"`
	Status       string `gorm:"size:16;not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SAD is the server side of a Signature Activation Data token. The token
// itself is never stored, only its SHA-256. Remaining, Consumed and Version
// are its mutable state; everything else is the binding fixed at issue.
// Times are Unix milliseconds so that comparisons inside SQL behave the same
// on every database.
type SAD struct {
	ID            string `gorm:"primaryKey;size:64"`
	TokenHash     []byte `gorm:"not null;uniqueIndex"`
	CredentialID  string `gorm:"size:64;not null;index"`
	SignerID      string `gorm:"size:64;not null"`
	ClientID      string `gorm:"size:128;not null"`
	SCAL          int    `gorm:"not null"`
	HashAlgorithm string `gorm:"size:64;not null"`
	Hashes        string `gorm:"not null"` // standard base64 digests, comma separated, authorised order
	Consumed      string `gorm:"not null"` // one '0'/'1' per entry of Hashes
	NumSignatures int    `gorm:"not null"`
	Remaining     int    `gorm:"not null"`
	Version       int64  `gorm:"not null"`
	OriginAt      int64  `gorm:"not null"` // when the signer approved (carried through extensions)
	ExpiresAt     int64  `gorm:"not null"`
	RevokedAt     int64  `gorm:"not null"` // 0 while usable
	MAC           []byte `gorm:"not null"` // HSM MAC over the binding (everything but the mutable state)
	CreatedAt     time.Time
}

// Challenge is a one-time code sent out of band (SMS), bound to what it
// authorises (Binding) and stored only as an HSM MAC. Purpose says what the
// code is for; Target is the number it went to.
type Challenge struct {
	ID           string `gorm:"primaryKey;size:64"`
	SignerID     string `gorm:"size:64;not null;index"`
	CredentialID string `gorm:"size:64;not null"`
	Purpose      string `gorm:"size:16;not null;default:'approve'"`
	ClientID     string `gorm:"size:128;not null;default:''"`
	Target       string `gorm:"size:32;not null;default:''"`
	Binding      []byte `gorm:"not null"`
	CodeMAC      []byte `gorm:"not null"`
	ExpiresAt    int64  `gorm:"not null"`
	Attempts     int    `gorm:"not null"`
	UsedAt       int64  `gorm:"not null"`
	CreatedAt    time.Time
}

// AuditEntry is one record of the append-only, hash-chained audit log. Chain
// commits to the previous entry's Chain and to this entry's fields.
type AuditEntry struct {
	Seq          int64  `gorm:"primaryKey;autoIncrement:false"`
	At           int64  `gorm:"not null"` // Unix milliseconds
	Event        string `gorm:"size:64;not null"`
	Outcome      string `gorm:"size:16;not null"`
	Actor        string `gorm:"size:128;not null"`
	CredentialID string `gorm:"size:64;not null;index"`
	ClientID     string `gorm:"size:128;not null"`
	Details      string `gorm:"not null"` // canonical JSON
	Chain        []byte `gorm:"not null"`
}

// AuditHead is the single row naming the last audit entry.
type AuditHead struct {
	ID    int    `gorm:"primaryKey;autoIncrement:false"`
	Seq   int64  `gorm:"not null"`
	Chain []byte `gorm:"not null"`
}
