package sam

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// Config is the SAM policy. Zero values take the defaults named below.
type Config struct {
	// SADLifetime is how long a SAD stays usable after issue (default 5m).
	SADLifetime time.Duration `yaml:"sad_lifetime"`
	// MaxTransaction bounds a chain of extendTransaction calls, counted from
	// the signer's approval (default 30m).
	MaxTransaction time.Duration `yaml:"max_transaction"`
	// ExtendNewHashes lets extendTransaction bind hashes the signer did not
	// see, within the count fixed at approval (the CSC nested-PDF flow). Off by
	// default: every SCAL2 hash then comes from the signer's approval.
	ExtendNewHashes bool `yaml:"extend_new_hashes"`
	// MaxFailures is the number of consecutive failed attempts after which a
	// factor is locked until an operator unlocks it (default 5).
	MaxFailures int `yaml:"max_failures"`
	// TOTPSkew is how many 30 s steps either side of now are accepted (default 1).
	TOTPSkew int `yaml:"totp_skew"`
	// ChallengeTTL is how long an out-of-band code is valid (default 2m).
	ChallengeTTL time.Duration `yaml:"challenge_ttl"`
	// ChallengeAttempts is how many tries one out-of-band code allows (default 3).
	ChallengeAttempts int `yaml:"challenge_attempts"`
	// CodeDigits is the length of out-of-band codes, 6 to 8 (default 6).
	CodeDigits int `yaml:"code_digits"`
	// SMS limits what one signer or one phone number can be sent.
	SMS SMSLimits `yaml:"sms"`
	// ActivationTTL is how long an enrolment activation code is valid
	// (default 72h).
	ActivationTTL time.Duration `yaml:"activation_ttl"`
	// PIN is the policy for PINs that signers choose at enrolment.
	PIN PINPolicy `yaml:"pin"`
	// Argon2 tunes PIN hashing.
	Argon2 Argon2Config `yaml:"argon2"`
	// CRLValidity is the time between a development CA CRL's thisUpdate and
	// nextUpdate (default 24h); a CRL is re-signed once half of it passed.
	CRLValidity time.Duration `yaml:"crl_validity"`
	// OCSPValidity is the same for the development CA's OCSP responses
	// (default 1h).
	OCSPValidity time.Duration `yaml:"ocsp_validity"`
}

// Argon2Config are argon2id parameters for PIN hashes.
type Argon2Config struct {
	Time      uint32 `yaml:"time"`       // default 1
	MemoryKiB uint32 `yaml:"memory_kib"` // default 65536
	Threads   uint8  `yaml:"threads"`    // default 2
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.SADLifetime == 0 {
		c.SADLifetime = 5 * time.Minute
	}
	if c.MaxTransaction == 0 {
		c.MaxTransaction = 30 * time.Minute
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	if c.TOTPSkew == 0 {
		c.TOTPSkew = 1
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = 2 * time.Minute
	}
	if c.ChallengeAttempts == 0 {
		c.ChallengeAttempts = 3
	}
	if c.CodeDigits == 0 {
		c.CodeDigits = 6
	}
	c.SMS = c.SMS.withDefaults()
	if c.ActivationTTL == 0 {
		c.ActivationTTL = 72 * time.Hour
	}
	c.PIN = c.PIN.withDefaults()
	if c.Argon2.Time == 0 {
		c.Argon2.Time = 1
	}
	if c.Argon2.MemoryKiB == 0 {
		c.Argon2.MemoryKiB = 64 * 1024
	}
	if c.Argon2.Threads == 0 {
		c.Argon2.Threads = 2
	}
	if c.CRLValidity == 0 {
		c.CRLValidity = 24 * time.Hour
	}
	if c.OCSPValidity == 0 {
		c.OCSPValidity = time.Hour
	}
	return c
}

// Validate reports a policy that would weaken the SAM.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.SADLifetime < time.Second || c.SADLifetime > time.Hour:
		return errors.New("sam: sad_lifetime must be between 1s and 1h")
	case c.MaxTransaction < c.SADLifetime:
		return errors.New("sam: max_transaction must be at least sad_lifetime")
	case c.MaxFailures < 1 || c.MaxFailures > 100:
		return errors.New("sam: max_failures must be between 1 and 100")
	case c.TOTPSkew < 0 || c.TOTPSkew > 2:
		return errors.New("sam: totp_skew must be 0, 1 or 2")
	case c.ChallengeTTL < 10*time.Second || c.ChallengeTTL > 15*time.Minute:
		return errors.New("sam: challenge_ttl must be between 10s and 15m")
	case c.ChallengeAttempts < 1 || c.ChallengeAttempts > 10:
		return errors.New("sam: challenge_attempts must be between 1 and 10")
	case c.CodeDigits < 6 || c.CodeDigits > 8:
		return errors.New("sam: code_digits must be 6, 7 or 8")
	case c.ActivationTTL < time.Hour || c.ActivationTTL > 30*24*time.Hour:
		return errors.New("sam: activation_ttl must be between 1h and 30 days")
	case c.CRLValidity < time.Hour || c.CRLValidity > 30*24*time.Hour:
		return errors.New("sam: crl_validity must be between 1h and 30 days")
	case c.OCSPValidity < time.Minute || c.OCSPValidity > 7*24*time.Hour:
		return errors.New("sam: ocsp_validity must be between 1m and 7 days")
	}
	if err := c.SMS.validate(); err != nil {
		return err
	}
	if err := c.PIN.validate(); err != nil {
		return err
	}
	switch {
	case c.Argon2.MemoryKiB < 8*1024:
		return errors.New("sam: argon2.memory_kib must be at least 8192")
	}
	return nil
}

// KeyStore is what the SAM needs from the HSM. *hsm.HSM satisfies it.
type KeyStore interface {
	GenerateWrappedKey(ctx context.Context, alg hsm.KeyAlgorithm) ([]byte, crypto.PublicKey, error)
	Signer(k hsm.Key) crypto.Signer
	Forget(keyID string)
	MAC(ctx context.Context, data []byte) ([]byte, error)
	VerifyMAC(ctx context.Context, data, mac []byte) (bool, error)
	WrapSecret(ctx context.Context, secret []byte) ([]byte, error)
	HMACWrapped(ctx context.Context, blob []byte, hash crypto.Hash, data []byte) ([]byte, error)
}

var _ KeyStore = (*hsm.HSM)(nil)

// credentialStore reads and changes credentials.
type credentialStore interface {
	Signer(ctx context.Context, id string) (*store.Signer, error)
	CreateCredential(ctx context.Context, c *store.Credential) error
	Credential(ctx context.Context, id string) (*store.Credential, error)
	SetCredentialStatus(ctx context.Context, id, status string, nowMs int64) error
}

// factorStore keeps factors and their counters.
type factorStore interface {
	PutFactor(ctx context.Context, f *store.Factor) error
	Factor(ctx context.Context, signerID, credentialID, kind string) (*store.Factor, error)
	ReserveAttempt(ctx context.Context, factorID string, maxFailures int) (int, bool, error)
	ResetFailures(ctx context.Context, factorID string) error
	ReleaseAttempt(ctx context.Context, factorID string) error
	AcceptTOTPStep(ctx context.Context, factorID string, step int64) (bool, error)
	CreateChallenge(ctx context.Context, c *store.Challenge) error
	Challenge(ctx context.Context, id string) (*store.Challenge, error)
	ReserveChallengeAttempt(ctx context.Context, id string, maxAttempts int, nowMs int64) (bool, error)
	UseChallenge(ctx context.Context, id string, nowMs int64) (bool, error)
	RevokeSADsOf(ctx context.Context, credentialID string, nowMs int64) error
}

// sadStore keeps SAD records.
type sadStore interface {
	CreateSAD(ctx context.Context, sad *store.SAD, audit store.AuditFunc) error
	SADByTokenHash(ctx context.Context, tokenHash []byte) (*store.SAD, error)
	UpdateSAD(ctx context.Context, u store.SADUpdate, successor *store.SAD, audit store.AuditFunc) (bool, error)
	RevokeSAD(ctx context.Context, id string, nowMs int64) (bool, error)
}

// auditStore keeps the audit chain.
type auditStore interface {
	AppendAudit(ctx context.Context, build store.AuditFunc) (*store.AuditEntry, error)
	AuditHeadRow(ctx context.Context) (*store.AuditHead, error)
	AuditEntries(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error)
}

// Store is everything the SAM needs from the database. *store.Store satisfies it.
type Store interface {
	credentialStore
	factorStore
	sadStore
	auditStore
	adminStore
	oobStore
	operatorStore
	revocationStore
}

var _ Store = (*store.Store)(nil)

// Clock tells the time; tests inject a fake.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Option customises a SAM.
type Option func(*SAM)

// WithClock sets the clock.
func WithClock(c Clock) Option { return func(s *SAM) { s.clock = c } }

// WithRand sets the random source for SADs, IDs and codes (default crypto/rand).
func WithRand(r io.Reader) Option { return func(s *SAM) { s.rand = r } }

// WithCodeSender sets the out-of-band code channel.
func WithCodeSender(cs CodeSender) Option { return func(s *SAM) { s.sender = cs } }

// WithPublicURL tells the SAM the base URL where the server publishes the
// development CA (configs server.pki_url, else server.public_url), e.g.
// http://pki.rssp.example.org. Certificates the development CA issues then
// point to <url>/ca/crl (CRL distribution point) and <url>/ocsp and
// <url>/ca/cert (authority information access). Without it they carry no
// such pointers.
func WithPublicURL(u string) Option {
	return func(s *SAM) { s.publicURL = strings.TrimRight(u, "/") }
}

// SAM is the Signature Activation Module. See the package documentation for
// its security properties and concurrency model.
type SAM struct {
	cfg    Config
	keys   KeyStore
	db     Store
	clock  Clock
	rand   io.Reader
	sender CodeSender
	// stamper issues signDoc's timestamps; nil is the built-in TSA.
	stamper Timestamper
	argon   *argon2id.Params

	publicURL string     // see WithPublicURL; "" without
	revo      revocation // CRL and OCSP caches (crl.go, ocsp.go)

	dummyOnce sync.Once // dummyHash: spent on logins of unknown users
	dummyHash string

	// authentic remembers (MAC input, MAC) pairs that this SAM computed or
	// verified with the HSM, so reading back a record it just wrote, or a key
	// blob it already checked, needs no second HSM call. Any change to the
	// record or the MAC changes the digest and sends the check to the HSM.
	authMu    sync.Mutex
	authentic map[[32]byte]struct{}
}

// maxAuthentic bounds the memory of authentic MACs; when full it starts over.
const maxAuthentic = 1 << 16

func authKey(input, mac []byte) [32]byte {
	return sha256.Sum256(macInput("authentic", input, mac))
}

// mac computes an HSM MAC over input and remembers the pair as authentic.
func (s *SAM) mac(ctx context.Context, input []byte) ([]byte, error) {
	m, err := s.keys.MAC(ctx, input)
	if err != nil {
		return nil, err
	}
	s.remember(authKey(input, m))
	return m, nil
}

// checkMAC reports whether mac is the HSM MAC of input, asking the HSM only
// for pairs this SAM has not computed or verified before.
func (s *SAM) checkMAC(ctx context.Context, input, mac []byte) (bool, error) {
	k := authKey(input, mac)
	s.authMu.Lock()
	_, seen := s.authentic[k]
	s.authMu.Unlock()
	if seen {
		return true, nil
	}
	ok, err := s.keys.VerifyMAC(ctx, input, mac)
	if err != nil || !ok {
		return false, err
	}
	s.remember(k)
	return true, nil
}

func (s *SAM) remember(k [32]byte) {
	s.authMu.Lock()
	if len(s.authentic) >= maxAuthentic {
		clear(s.authentic)
	}
	s.authentic[k] = struct{}{}
	s.authMu.Unlock()
}

// New builds a SAM.
func New(cfg Config, keys KeyStore, db Store, opts ...Option) (*SAM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	s := &SAM{
		cfg:   cfg,
		keys:  keys,
		db:    db,
		clock: systemClock{},
		rand:  rand.Reader,
		argon: &argon2id.Params{
			Memory: cfg.Argon2.MemoryKiB, Iterations: cfg.Argon2.Time, Parallelism: cfg.Argon2.Threads,
			SaltLength: 16, KeyLength: 32,
		},
		authentic: make(map[[32]byte]struct{}),
		revo:      revocation{ocsp: make(map[ocspKey]*ocspEntry)},
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

func (s *SAM) now() time.Time { return s.clock.Now() }

// randomBytes reads n bytes from the SAM's random source.
func (s *SAM) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, fmt.Errorf("random source: %w", err)
	}
	return b, nil
}

// newID returns a random 128-bit identifier in hex.
func (s *SAM) newID() (string, error) {
	b, err := s.randomBytes(16)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// NewCredentialID chooses the ID of a credential to be created later.
func (s *SAM) NewCredentialID() (string, error) { return s.newID() }

// validID reports an ID in the form newID makes.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}
