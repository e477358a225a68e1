package conformance

import (
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Credential names one credential of an account and the key it should have.
type Credential struct {
	ID string `json:"id"`
	// KeyAlgorithm is one of RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384
	// or EC-P521. The suite checks credentials/info and the certificate
	// against it and picks the signature algorithms it exercises from it.
	KeyAlgorithm string `json:"key_algorithm"`
}

// Account is a signer account on the server under test, in the shape of the
// demo account file (./var/demo.json, written by `make run`).
type Account struct {
	BaseURL    string `json:"base_url"`    // e.g. https://127.0.0.1:8443, without /csc/v2
	Username   string `json:"username"`    // HTTP Basic user for auth/login
	Password   string `json:"password"`    // HTTP Basic password
	PIN        string `json:"pin"`         // the credentials' PIN
	TOTPSecret string `json:"totp_secret"` // base32 TOTP seed (RFC 6238, SHA-1, 6 digits, 30 s)
	// Phone is the number bound for SMS codes, if any: credentials/info must
	// then offer the SMS object too.
	Phone       string       `json:"phone,omitempty"`
	Credentials []Credential `json:"credentials"` // explicit-mode SCAL 2 credentials with PIN and TOTP
}

// Target describes the server under test and how far the suite may go.
type Target struct {
	Account

	// Client sends every request. nil means a client with a 60 s timeout
	// that trusts only the system roots; callers pass one that trusts the
	// server's certificate.
	Client *http.Client

	// Versions is a subset of "v1" and "v2" (served under /csc/v1 and
	// /csc/v2). Empty means both.
	Versions []string

	// Advance moves the server's clock forward by d. In-process servers with
	// an injected clock set it, and must then set Now too. When Advance is
	// nil the suite waits in real time instead, and skips what would need a
	// longer wait than MaxWait.
	Advance func(d time.Duration)

	// Now is the server's notion of the current time, used to compute TOTP
	// codes and time steps. nil means time.Now.
	Now func() time.Time

	// SADLifetime is how long a SAD lives on this server. With Advance set
	// the suite uses the larger of SADLifetime and the expiresIn of the SAD
	// (5 minutes when both are unknown). Without Advance the expired-SAD test
	// runs only when SADLifetime is set and SADLifetime plus a few seconds
	// fits in MaxWait.
	SADLifetime time.Duration

	// MaxWait is the longest single real-time wait the suite may do when
	// Advance is nil. Zero means DefaultMaxWait, which is always enough to
	// reach an unused TOTP time step but not to outlive a SAD or an access
	// token. A negative value means never sleep: tests that need a fresh
	// TOTP step beyond the ones usable right away are then skipped.
	MaxWait time.Duration

	// Check, when set, is called with every request and response, so that
	// the caller can validate them against the OpenAPI document. The
	// request's body has been sent; req.GetBody returns a fresh copy.
	Check func(t testing.TB, req *http.Request, status int, header http.Header, body []byte)

	// OtherUser, when set, is a second account on the same server. The suite
	// only logs it in and uses its credential IDs in attacks (list never
	// shows them, info, authorize and signHash refuse them, its tokens cannot
	// be revoked by us, it cannot use our SAD). Its PIN and TOTP secret are
	// not used.
	OtherUser *Account

	// OAuthClient, when set, is a confidential OAuth 2.0 client registered
	// on the server's authorization server (CSC API v2 §8.4), allowed the
	// grants authorization_code, client_credentials and refresh_token and
	// the scopes service and credential. Without it the v2/oauth2 subtests
	// are skipped.
	OAuthClient *OAuthClient

	// Approve performs the signer's approval of an OAuth authorization
	// request the way the server wants it (a browser, a form-driving
	// client, ...): it opens authorizeURL (the authorization endpoint with
	// the request's query), logs the account in, approves, enters otp as
	// the second factor when one is asked for (otp is "" for scope service,
	// which needs none), and returns the redirect the authorization server
	// sent to the client (with code and state, or error). It ends t when
	// the pages misbehave. Without it the subtests that need an approval are
	// skipped. Each otp is of an unused TOTP step, as for
	// credentials/authorize.
	Approve func(t testing.TB, authorizeURL, otp string) *url.URL

	// SMSCode, when set, returns the newest one-time code the server sent
	// by SMS to phone (read from the test's fake SMS provider). With
	// Account.Phone and SMSCode set the suite signs with SMS codes
	// (sendOTP, and getChallenge in v2) and attacks their binding;
	// otherwise those subtests are skipped.
	SMSCode func(t testing.TB, phone string) string

	// SMSCooldown is the server's least time between two codes for one
	// signer (0 means 30 s); the suite lets it pass before each code.
	SMSCooldown time.Duration

	// Deny, when set, is like Approve but the signer refuses the request
	// (at the first page that offers it); it returns the redirect to the
	// client, which must carry error=access_denied and the state.
	Deny func(t testing.TB, authorizeURL string) *url.URL
}

// OAuthClient is a confidential OAuth 2.0 client of the server under test.
type OAuthClient struct {
	ID          string
	Secret      string
	RedirectURI string // registered redirect URI for the authorization code grant
}

// DefaultMaxWait is the longest real-time wait when Target.MaxWait is zero:
// the worst case to reach an unused TOTP time step (two 30 s steps plus the
// clock margin), with a little room.
const DefaultMaxWait = 65 * time.Second

// defaultSADLifetime is assumed when neither the server (expiresIn) nor the
// Target says how long a SAD lives; it is the default of our SAM.
const defaultSADLifetime = 5 * time.Minute

// Run drives the server described by target over HTTP(S) only and reports
// every deviation from the CSC API as we serve it (see the package doc). Subtests are
// named by version and by area, e.g. v2/scal2/replay_of_a_signed_hash.
func Run(t *testing.T, target Target) {
	t.Helper()
	s, err := newSuite(target)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	for _, v := range s.versions {
		t.Run(v.name, func(t *testing.T) {
			vs := &vsuite{suite: s, v: v}
			vs.run(t)
		})
	}
}

// LoadAccount reads an account file in the shape of ./var/demo.json.
// Unknown members are ignored; missing required ones are an error.
func LoadAccount(path string) (Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Account{}, err
	}
	var a Account
	if err := json.Unmarshal(b, &a); err != nil {
		return Account{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := a.validate(); err != nil {
		return Account{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func (a Account) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"base_url", a.BaseURL}, {"username", a.Username}, {"password", a.Password},
		{"pin", a.PIN}, {"totp_secret", a.TOTPSecret},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("account: missing %s", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(a.BaseURL, "http://") && !strings.HasPrefix(a.BaseURL, "https://") {
		return fmt.Errorf("account: base_url %q is not an http(s) URL", a.BaseURL)
	}
	if _, err := decodeTOTPSecret(a.TOTPSecret); err != nil {
		return fmt.Errorf("account: totp_secret: %w", err)
	}
	if len(a.Credentials) == 0 {
		return errors.New("account: no credentials")
	}
	seen := map[string]bool{}
	for _, c := range a.Credentials {
		if c.ID == "" {
			return errors.New("account: a credential has no id")
		}
		if seen[c.ID] {
			return fmt.Errorf("account: credential %q listed twice", c.ID)
		}
		seen[c.ID] = true
		if _, ok := keyAlgorithms[c.KeyAlgorithm]; !ok {
			return fmt.Errorf("account: credential %q: unknown key_algorithm %q", c.ID, c.KeyAlgorithm)
		}
	}
	return nil
}

// keySpec is what a KeyAlgorithm name promises about the key.
type keySpec struct {
	rsa      bool
	bits     int // RSA modulus size, or EC field size
	curve    elliptic.Curve
	curveOID string
}

var keyAlgorithms = map[string]keySpec{
	"RSA-2048": {rsa: true, bits: 2048},
	"RSA-3072": {rsa: true, bits: 3072},
	"RSA-4096": {rsa: true, bits: 4096},
	"EC-P256":  {bits: 256, curve: elliptic.P256(), curveOID: "1.2.840.10045.3.1.7"},
	"EC-P384":  {bits: 384, curve: elliptic.P384(), curveOID: "1.3.132.0.34"},
	"EC-P521":  {bits: 521, curve: elliptic.P521(), curveOID: "1.3.132.0.35"},
}

// version holds what differs between /csc/v1 and /csc/v2.
type version struct {
	name     string // "v1" or "v2"
	base     string // "/csc/v1"
	specs    string // info.specs
	hashes   string // "hash" (v1) or "hashes" (v2)
	hashAlgo string // "hashAlgo" (v1) or "hashAlgorithmOID" (v2)
}

func (v version) v1() bool { return v.name == "v1" }

var versions = map[string]version{
	"v1": {name: "v1", base: "/csc/v1", specs: "1.0.4.0", hashes: "hash", hashAlgo: "hashAlgo"},
	"v2": {name: "v2", base: "/csc/v2", specs: "2.0.0.2", hashes: "hashes", hashAlgo: "hashAlgorithmOID"},
}

// suite is the state shared by both versions of one Run.
type suite struct {
	target   Target
	client   *http.Client
	base     string // BaseURL without a trailing slash
	versions []version
	me       *signer
	other    *Account
	primary  Credential // used for error paths and SCAL2 attacks: the first RSA credential, else the first
	now      func() time.Time
	maxWait  time.Duration
}

// signer is the account under test with the state the server keeps about
// it that matters to the suite: used TOTP steps and unresolved failed
// factor attempts.
type signer struct {
	Account
	otp *otpSource
	// failures counts failed factor attempts since the last successful
	// authorization on failCred. The suite keeps it at 2 or less, so the
	// server's lockout (5 consecutive failures) is never reached, even if a
	// run is interrupted and the next one adds 2 more.
	failures int
	failCred string
	// resetFailed is set when an authorization meant to reset the count
	// failed; no deliberate failure is made after that.
	resetFailed bool
}

// maxOutstandingFailures is the most failed factor attempts the suite ever
// risks (the server locks at 5): it sends no authorization at all beyond it.
const maxOutstandingFailures = 4

func newSuite(target Target) (*suite, error) {
	if err := target.Account.validate(); err != nil {
		return nil, err
	}
	if target.Advance != nil && target.Now == nil {
		return nil, errors.New("Target.Now must be set when Target.Advance is: the suite computes TOTP codes from the server's clock")
	}
	s := &suite{target: target, client: target.Client, base: strings.TrimRight(target.BaseURL, "/"), now: target.Now}
	if s.client == nil {
		s.client = &http.Client{Timeout: 60 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case target.MaxWait == 0:
		s.maxWait = DefaultMaxWait
	case target.MaxWait < 0:
		s.maxWait = 0
	default:
		s.maxWait = target.MaxWait
	}
	names := target.Versions
	if len(names) == 0 {
		names = []string{"v2", "v1"}
	}
	for _, n := range names {
		v, ok := versions[n]
		if !ok {
			return nil, fmt.Errorf("unknown version %q (want v1 or v2)", n)
		}
		if slices.ContainsFunc(s.versions, func(x version) bool { return x.name == n }) {
			continue
		}
		s.versions = append(s.versions, v)
	}
	if o := target.OtherUser; o != nil {
		if o.Username == "" || o.Password == "" || len(o.Credentials) == 0 {
			return nil, errors.New("OtherUser needs username, password and at least one credential")
		}
		if o.Username == target.Username {
			return nil, errors.New("OtherUser must be a different user")
		}
		s.other = o
	}
	if c := target.OAuthClient; c != nil {
		if c.ID == "" || c.Secret == "" || c.RedirectURI == "" {
			return nil, errors.New("OAuthClient needs ID, Secret and RedirectURI")
		}
		if u, err := url.Parse(c.RedirectURI); err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("OAuthClient.RedirectURI %q is not an absolute URI", c.RedirectURI)
		}
	}
	secret, _ := decodeTOTPSecret(target.TOTPSecret)
	s.me = &signer{Account: target.Account, otp: otpFor(s.base, target.Username, secret)}
	s.me.otp.configure(s.now, target.Advance, s.maxWait, stateFile(s.base, target.Username, target.Advance))
	s.primary = target.Credentials[0]
	for _, c := range target.Credentials {
		if keyAlgorithms[c.KeyAlgorithm].rsa {
			s.primary = c
			break
		}
	}
	return s, nil
}

// stateFile is where the last used TOTP step of a remote account is kept
// between runs, so that running the suite twice within a minute does not
// replay a step (which the server would count as a failed attempt). Servers
// with an injected clock (Advance set) need no file.
func stateFile(base, user string, advance func(time.Duration)) string {
	if advance != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(base + "\x00" + user))
	return filepath.Join(os.TempDir(), "csc-conformance-totp-"+hex.EncodeToString(sum[:8]))
}
