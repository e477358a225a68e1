package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/openapi/openapitest"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/sam/sms/smstest"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

var ctx = context.Background()

// offsetClock is real time plus an offset the tests can move forward, so a
// black-box client can use a fresh TOTP step or outlive a SAD without
// sleeping.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// syncBuffer collects the server's log output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// account is a provisioned signer, shaped like ./var/demo.json.
type account struct {
	BaseURL     string       `json:"base_url"`
	Username    string       `json:"username"`
	Password    string       `json:"password"`
	PIN         string       `json:"pin"`
	TOTPSecret  string       `json:"totp_secret"`
	Phone       string       `json:"phone,omitempty"`
	Credentials []credential `json:"credentials"`
	seed        []byte
	signerID    string
}

type credential struct {
	ID           string `json:"id"`
	KeyAlgorithm string `json:"key_algorithm"`
}

// env is a complete server (real SoftHSM2, a real database, real HTTPS on
// loopback) with two provisioned signers.
type env struct {
	srv    *httptest.Server
	client *http.Client
	clock  *offsetClock
	sam    *sam.SAM
	db     *store.Store
	logs   *syncBuffer
	alice  account
	bob    account
	cfg    sam.Config
	// twilio is the local fake of Twilio's Messages API that every SMS goes
	// to; its messages are what a signer's phone would receive.
	twilio *smstest.Fake
}

// testSAMConfig keeps argon2id cheap in tests; production keeps 64 MiB.
var testSAMConfig = sam.Config{Argon2: sam.Argon2Config{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}}

func newEnv(t testing.TB, driver string, algs ...hsm.KeyAlgorithm) *env {
	t.Helper()
	if len(algs) == 0 {
		algs = []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256}
	}
	keys := hsmtest.HSM(t)
	db := storetest.Open(t, driver)
	clock := &offsetClock{}
	fake := smstest.NewFakeTwilio(t)
	tw, err := sms.NewTwilio(sms.TwilioConfig{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006",
		BaseURL: fake.URL, HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sam.New(testSAMConfig, keys, db, sam.WithClock(clock), sam.WithCodeSender(sms.CodeSender{Sender: tw}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.ECP256}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InitDevTSA(ctx, sam.DevTSAConfig{}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logins := oauth.NewLogins(oauth.LoginConfig{AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour}, s, db, clock.Now)
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	authz, err := oauth.NewServer(oauth.ServerConfig{Issuer: ts.URL, HashCost: 4},
		oauth.ServerDeps{Storage: oauth.NewStorage(db, clock.Now), SAM: s, DB: db, Now: clock.Now, Logger: logger}, secret)
	if err != nil {
		t.Fatal(err)
	}
	// The enrolment pages give an explicit SCAL2 credential, so the tests
	// can sign with it through credentials/authorize.
	enrol, err := oauth.NewEnrolment(oauth.EnrolConfig{Credential: enrolCredential, Validity: 24 * time.Hour},
		oauth.EnrolDeps{SAM: s, DB: db, Now: clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{
		Service:      api.ServiceInfo{Name: "RSSP test", Logo: "https://127.0.0.1/logo.png", Region: "EU", Lang: "en-US", Description: "test"},
		MaxBodyBytes: 64 << 10, MaxDocumentBytes: 1 << 20, OAuth2URL: ts.URL,
	}, api.Deps{
		SAM: s, TSA: s, Revocation: s, Tokens: oauth.Tokens{Logins: logins, OAuth: authz}, Store: db, OAuth: authz, Logger: logger, Now: clock.Now,
		PoolStats: keys.PoolStats, Checks: []api.Check{{Name: "database", Ping: db.Ping}, {Name: "hsm", Ping: keys.Ping}},
		Admin: s, Enrol: enrol,
	})
	ts.Config.Handler = srv.Handler()
	// Every answer the tests receive is checked against our OpenAPI document.
	client := ts.Client()
	client.Transport = validator(t).Transport(t, client.Transport)
	e := &env{srv: ts, client: client, clock: clock, sam: s, db: db, logs: logs, cfg: testSAMConfig.WithDefaults(), twilio: fake}
	e.alice = e.provision(t, "alice", "Alice Example", algs)
	e.bob = e.provision(t, "bob", "Bob Example", algs[:1])
	e.alice.Phone, e.bob.Phone = "+447700900001", "+447700900002"
	for _, a := range []account{e.alice, e.bob} {
		if err := s.SetPhone(ctx, a.signerID, a.Phone); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// provision creates a signer with a password, a TOTP app and one explicit
// SCAL2 credential per algorithm, each with the same PIN and a dev-CA
// certificate, the way `cscctl demo` does.
func (e *env) provision(t testing.TB, username, name string, algs []hsm.KeyAlgorithm) account {
	t.Helper()
	a := account{BaseURL: e.srv.URL, Username: username, Password: randomText(t, 18), PIN: "4711-" + randomText(t, 4)}
	sg, err := e.sam.CreateSigner(ctx, sam.NewSigner{Username: username, Name: name, Password: a.Password, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	a.signerID = sg.ID
	a.seed = make([]byte, 20)
	if _, err := rand.Read(a.seed); err != nil {
		t.Fatal(err)
	}
	if err := e.sam.EnrolTOTP(ctx, sg.ID, a.seed); err != nil {
		t.Fatal(err)
	}
	a.TOTPSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(a.seed)
	for _, alg := range algs {
		cred, err := e.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: alg, SCAL: 2, Multisign: 10,
			AuthMode: sam.AuthModeExplicit, Description: string(alg) + " signing key"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sam.SetPIN(ctx, cred.ID, a.PIN); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sam.IssueDevCertificate(ctx, cred.ID, sam.SignerSubject(sg), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		a.Credentials = append(a.Credentials, credential{ID: cred.ID, KeyAlgorithm: string(alg)})
	}
	return a
}

func randomText(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))[:n]
}

// call posts a JSON body (or, if body is a string, the raw text) and decodes
// the JSON answer.
func (e *env) call(t testing.TB, path, bearer string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.do(t, req)
}

func (e *env) do(t testing.TB, req *http.Request) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(data) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s: bad JSON %q: %v", req.URL.Path, data, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// login returns a service access token for a.
func (e *env) login(t testing.TB, a account) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/csc/v2/auth/login", strings.NewReader("{}"))
	req.SetBasicAuth(a.Username, a.Password)
	status, out, _ := e.do(t, req)
	if status != http.StatusOK {
		t.Fatalf("login %s: %d %v", a.Username, status, out)
	}
	return out["access_token"].(string)
}

// totp computes the code for the server's current step plus delta steps.
func (e *env) totp(a account, delta int64) string {
	return hotp(a.seed, e.clock.Now().Unix()/30+delta)
}

func wantError(t testing.TB, status int, out map[string]any, wantStatus int, code, desc string) {
	t.Helper()
	if status != wantStatus || out["error"] != code || (desc != "" && out["error_description"] != desc) {
		t.Fatalf("got %d %v, want %d %s %q", status, out, wantStatus, code, desc)
	}
}

var (
	validatorOnce sync.Once
	validatorDoc  *openapitest.Validator
)

// validator loads the OpenAPI document once per test binary.
func validator(t testing.TB) *openapitest.Validator {
	validatorOnce.Do(func() { validatorDoc = openapitest.New(t) })
	return validatorDoc
}

// forEachDriver runs fn against SQLite and, when configured, PostgreSQL.
func forEachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, d := range storetest.Drivers() {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// smsCodeRe finds the one-time code in an SMS text.
var smsCodeRe = regexp.MustCompile(`\bcode ([0-9]{6,8})\b`)

// smsCode is the code in the newest SMS the fake Twilio accepted for phone.
func (e *env) smsCode(t testing.TB, phone string) string {
	t.Helper()
	m, ok := e.twilio.Last(phone)
	if !ok {
		t.Fatalf("no SMS was sent to %s", phone)
	}
	c := smsCodeRe.FindStringSubmatch(m.Body)
	if c == nil {
		t.Fatalf("no code in the SMS %q", m.Body)
	}
	return c[1]
}
