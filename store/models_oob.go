package store

import "time"

// StatusPending marks a signer registered but not yet enrolled, and a factor
// claimed but not yet bound (a phone number before its code came back).
const StatusPending = "pending"

// Challenge purposes: what an out-of-band code is for.
const (
	PurposeApprove     = "approve"      // a signature: bound to credential and hashes
	PurposeBindPhone   = "bind_phone"   // proves the phone at enrolment
	PurposePhoneChange = "phone_change" // sent to the old number to confirm a change
)

// Throttle is a counter for one rate-limited key (an SMS destination, a
// signer, a cooldown): Count events since WindowStart (Unix ms).
type Throttle struct {
	Name        string `gorm:"primaryKey;size:128"`
	WindowStart int64  `gorm:"not null"`
	Count       int    `gorm:"not null"`
}

// Activation is a one-time enrolment code given to a registered signer out of
// band. Only an HSM MAC of the code is stored.
type Activation struct {
	ID        string `gorm:"primaryKey;size:64"`
	SignerID  string `gorm:"size:64;not null;index"`
	CodeMAC   []byte `gorm:"not null;uniqueIndex"`
	Delivery  string `gorm:"size:16;not null"` // sms or print
	Actor     string `gorm:"size:128;not null"`
	ExpiresAt int64  `gorm:"not null"`
	UsedAt    int64  `gorm:"not null"`
	CreatedAt time.Time
}

// Enrolment is one signer's enrolment in progress on the enrolment page:
// bound to a browser by BrowserHash, moved forward one conditional UPDATE at
// a time. CredentialID is chosen at the start so the PIN can be hashed for
// it before the key exists; PINHash and TOTPBlob (the seed, wrapped by the
// HSM) wait here until the enrolment completes.
type Enrolment struct {
	ID           string `gorm:"primaryKey;size:64"`
	SignerID     string `gorm:"size:64;not null;index"`
	BrowserHash  []byte `gorm:"not null"`
	CSRFHash     []byte `gorm:"not null"`
	Step         string `gorm:"size:16;not null"`
	CredentialID string `gorm:"size:64;not null"`
	PINHash      []byte
	TOTPBlob     []byte
	ChallengeID  string `gorm:"size:64;not null"`
	ExpiresAt    int64  `gorm:"not null;index"`
	CreatedAt    time.Time
}

// PhoneChange is a request to bind a new phone number to a signer. It is
// applied once confirmed by a code sent to the old number, or approved by
// two different operators.
type PhoneChange struct {
	ID          string `gorm:"primaryKey;size:64"`
	SignerID    string `gorm:"size:64;not null;index"`
	NewPhone    string `gorm:"size:32;not null"`
	RequestedBy string `gorm:"size:128;not null"`
	ApprovedBy  string `gorm:"size:128;not null"` // first operator approval
	ChallengeID string `gorm:"size:64;not null"`  // code sent to the old number, if any
	Status      string `gorm:"size:16;not null"`  // pending, applied, cancelled
	ExpiresAt   int64  `gorm:"not null"`
	AppliedAt   int64  `gorm:"not null"`
	CreatedAt   time.Time
}

// Operator is a person allowed to use the admin API. Only the SHA-256 of the
// operator's (high-entropy, random) key is stored.
type Operator struct {
	ID        string `gorm:"primaryKey;size:64"`
	Name      string `gorm:"size:128;not null;uniqueIndex"`
	KeyHash   []byte `gorm:"not null;uniqueIndex"`
	Status    string `gorm:"size:16;not null"`
	CreatedAt time.Time
}
