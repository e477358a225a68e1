package sam_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

var ctx = context.Background()

const (
	testPIN    = "4711-pin"
	testClient = "sca-client"
)

// totpSeed is the RFC 6238 SHA-1 test seed.
var totpSeed = []byte("12345678901234567890")

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recordingSender stands in for the SMS gateway at the SAM's own interface
// (the Twilio client is exercised against a local fake in its own package).
type recordingSender struct {
	mu       sync.Mutex
	codes    map[string]string
	messages []sam.CodeMessage
	fail     error
}

func (r *recordingSender) SendCode(_ context.Context, to string, m sam.CodeMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.codes[to] = m.Code
	r.messages = append(r.messages, m)
	return nil
}

func (r *recordingSender) last(to string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[to]
}

type fixture struct {
	t      testing.TB
	sam    *sam.SAM
	st     *store.Store
	keys   *hsm.HSM
	clock  *fakeClock
	sender *recordingSender
}

func testConfig() sam.Config {
	return sam.Config{SADLifetime: 5 * time.Minute, MaxFailures: 5, SMS: sam.SMSLimits{Cooldown: time.Second},
		Argon2: sam.Argon2Config{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}}
}

func newFixture(t testing.TB, driver string, cfg sam.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, st: storetest.Open(t, driver), keys: hsmtest.HSM(t),
		// Start mid-step so that +-1 step arithmetic is unambiguous.
		clock:  &fakeClock{now: time.Unix(1_900_000_015, 0)},
		sender: &recordingSender{codes: map[string]string{}}}
	s, err := sam.New(cfg, f.keys, f.st, sam.WithClock(f.clock), sam.WithCodeSender(f.sender))
	if err != nil {
		t.Fatal(err)
	}
	f.sam = s
	return f
}

// forEachDB runs fn on SQLite and, when configured, PostgreSQL.
func forEachDB(t *testing.T, cfg sam.Config, fn func(t *testing.T, f *fixture)) {
	for _, d := range storetest.Drivers() {
		t.Run(d, func(t *testing.T) { fn(t, newFixture(t, d, cfg)) })
	}
}

// signer creates an active signer with a TOTP app and a phone.
func (f *fixture) signer(id string) string {
	f.t.Helper()
	if err := f.st.CreateSigner(ctx, &store.Signer{ID: id, Name: "Test " + id, Status: store.StatusActive}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.sam.EnrolTOTP(ctx, id, totpSeed); err != nil {
		f.t.Fatal(err)
	}
	if err := f.sam.SetPhone(ctx, id, testPhone(id)); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// credential creates a credential with testPIN.
func (f *fixture) credential(signerID string, alg hsm.KeyAlgorithm, scal, multisign int) *store.Credential {
	f.t.Helper()
	c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: signerID, Algorithm: alg, SCAL: scal, Multisign: multisign, AuthMode: sam.AuthModeExplicit})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.sam.SetPIN(ctx, c.ID, testPIN); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// totp computes the current RFC 6238 code independently of the SAM.
func (f *fixture) totp() string {
	step := f.clock.Now().Unix() / 30
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, totpSeed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}

// authorize moves to a fresh TOTP step and asks for a SAD with valid factors.
func (f *fixture) authorize(c *store.Credential, num int, hashes ...[]byte) sam.IssuedSAD {
	f.t.Helper()
	f.clock.Advance(30 * time.Second)
	sad, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient,
		NumSignatures: num, HashAlgorithm: sam.OIDSHA256, Hashes: hashes, PIN: testPIN, OTP: f.totp()})
	if err != nil {
		f.t.Fatalf("authorize: %v", err)
	}
	return sad
}

func (f *fixture) signReq(c *store.Credential, sad string, hashes ...[]byte) sam.SignRequest {
	algo := sam.OIDECDSAWithSHA256
	if c.KeyAlgorithm[:3] == "RSA" {
		algo = sam.OIDSHA256WithRSA
	}
	return sam.SignRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, SAD: sad,
		SignAlgorithm: algo, Hashes: hashes}
}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func randomDigest() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// sendOTP asks for an SMS code for b as the test client, one cooldown after
// the previous one.
func (f *fixture) sendOTP(signerID string, b sam.Binding) (string, error) {
	f.clock.Advance(time.Second)
	return f.sam.SendOTP(ctx, sam.OTPRequest{SignerID: signerID, ClientID: testClient, ClientName: "Test SCA", Binding: b})
}

// testPhone is the phone of the test signer id: +4915100000 and the last
// character of id when it is a digit, else a digit derived from it.
func testPhone(id string) string {
	c := id[len(id)-1]
	if c >= '0' && c <= '9' {
		return "+4915100000" + string(c)
	}
	return fmt.Sprintf("+4915100000%d", c%10)
}
