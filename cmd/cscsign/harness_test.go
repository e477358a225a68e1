package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades/padestest"
	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/sam/sms/smstest"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

var ctx = context.Background()

// offsetClock is real time plus an offset the tests move forward, so each
// signature can use a fresh TOTP step without sleeping.
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

// Test OAuth client: confidential, loopback redirect on any port (RFC 8252).
const (
	testClientID     = "cscsign-test"
	testClientSecret = "cscsign-test-secret-with-enough-entropy"
	testRedirect     = "http://127.0.0.1/callback"
	testSignerName   = "Alice Example"
)

// credSpec is one credential of the test signer.
type credSpec struct {
	alg  hsm.KeyAlgorithm
	mode string
}

// env is a whole server on loopback (real SoftHSM2, SQLite, HTTPS) with one
// signer, a timestamp authority and an OAuth client.
type env struct {
	srv      *httptest.Server
	public   string // the URL the certificates point to for revocation data
	cacert   string // the server's TLS certificate, PEM
	clock    *offsetClock
	sam      *sam.SAM
	db       *store.Store
	ca       *x509.Certificate
	logs     *syncBuffer
	username string
	password string
	pin      string
	seed     []byte
	creds    []string // IDs, in the order of the specs
	dir      string
	// twilio receives every SMS: what the signer's phone would get.
	twilio *smstest.Fake
	phone  string
	// authorizes counts credentials/authorize requests, revocationFetches
	// requests for the CRL and to the OCSP responder (cscsign's, and
	// pdfsig's when it checks a certificate online).
	authorizes, revocationFetches atomic.Int64
}

var testSAMConfig = sam.Config{Argon2: sam.Argon2Config{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}}

func newEnv(t *testing.T, specs ...credSpec) *env {
	t.Helper()
	return newEnvPublishing(t, false, specs...)
}

// newEnvPublishing is newEnv with the public URL in the certificates (CRL
// distribution point, OCSP, caIssuers) chosen: by default a plain HTTP
// listener on loopback that serves the same handler, as CAs usually
// publish revocation data over http (RFC 5280 §4.2.1.13), and which NSS,
// under pdfsig, fetches OCSP responses from while it validates; with
// httpsPublic the server's own HTTPS URL, which cscsign reaches trusting
// -cacert (pdfsig cannot: it then reports the certificates' status as
// unknown).
func newEnvPublishing(t *testing.T, httpsPublic bool, specs ...credSpec) *env {
	t.Helper()
	keys := hsmtest.HSM(t)
	db := storetest.Open(t, "sqlite")
	// The server's clock starts half an hour behind real time (and moves
	// on 30 s per TOTP code asked for). Besides fresh TOTP steps, this
	// keeps the OCSP responses' thisUpdate (server clock) before their
	// producedAt, which x/crypto/ocsp sets to real time truncated to the
	// minute: NSS, under pdfsig, refuses a response whose thisUpdate is
	// later than its producedAt ("not yet valid"), and would report the
	// certificates' status unknown.
	clock := &offsetClock{offset: -30 * time.Minute}
	fake := smstest.NewFakeTwilio(t)
	tw, err := sms.NewTwilio(sms.TwilioConfig{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006",
		BaseURL: fake.URL, HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	// The server's URL is known before the SAM is made, so that the
	// certificates the development CA issues point to its CRL, OCSP
	// responder and CA certificate (served below through Deps.Revocation).
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	plain := httptest.NewServer(nil)
	t.Cleanup(plain.Close)
	public := plain.URL
	if httpsPublic {
		public = ts.URL
	}
	s, err := sam.New(testSAMConfig, keys, db, sam.WithClock(clock), sam.WithCodeSender(sms.CodeSender{Sender: tw}),
		sam.WithPublicURL(public))
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := s.InitDevCA(ctx, sam.DevCAConfig{KeyAlgorithm: hsm.ECP256})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InitDevTSA(ctx, sam.DevTSAConfig{}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logins := oauth.NewLogins(oauth.LoginConfig{AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour}, s, db, clock.Now)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	authz, err := oauth.NewServer(oauth.ServerConfig{Issuer: ts.URL, HashCost: 4},
		oauth.ServerDeps{Storage: oauth.NewStorage(db, clock.Now), SAM: s, DB: db, Now: clock.Now, Logger: logger}, secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{
		Service:      api.ServiceInfo{Name: "RSSP test", Logo: "https://127.0.0.1/logo.png", Region: "EU", Lang: "en-US", Description: "test"},
		MaxBodyBytes: 64 << 10, OAuth2URL: ts.URL,
	}, api.Deps{SAM: s, TSA: s, Revocation: s, Tokens: oauth.Tokens{Logins: logins, OAuth: authz}, Store: db, OAuth: authz, Logger: logger, Now: clock.Now,
		PoolStats: keys.PoolStats, Admin: s})
	dir := t.TempDir()
	e := &env{srv: ts, clock: clock, sam: s, db: db, ca: ca, logs: logs, dir: dir, username: "alice",
		password: "pw-" + rand.Text(), pin: "4711", twilio: fake, phone: "+447700900001"}
	h := srv.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/credentials/authorize") {
			e.authorizes.Add(1)
		}
		if r.URL.Path == sam.CRLPath || r.URL.Path == sam.OCSPPath || strings.HasPrefix(r.URL.Path, sam.OCSPPath+"/") {
			e.revocationFetches.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	plain.Config.Handler = ts.Config.Handler
	e.public = public
	e.cacert = filepath.Join(dir, "tls.pem")
	if err := os.WriteFile(e.cacert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sg, err := s.CreateSigner(ctx, sam.NewSigner{Username: e.username, Name: testSignerName, Password: e.password, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.seed = make([]byte, 20)
	if _, err := rand.Read(e.seed); err != nil {
		t.Fatal(err)
	}
	if err := s.EnrolTOTP(ctx, sg.ID, e.seed); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPhone(ctx, sg.ID, e.phone); err != nil {
		t.Fatal(err)
	}
	for _, sp := range specs {
		cred, err := s.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: sp.alg, SCAL: 2, Multisign: 1,
			AuthMode: sp.mode, Description: string(sp.alg) + " key"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetPIN(ctx, cred.ID, e.pin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.IssueDevCertificate(ctx, cred.ID, sam.SignerSubject(sg), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		e.creds = append(e.creds, cred.ID)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(testClientSecret), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOAuthClient(ctx, &store.OAuthClient{ID: testClientID, Name: "cscsign test", SecretHash: hash,
		RedirectURIs: []string{testRedirect}, GrantTypes: []string{"authorization_code", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// totp is the code of the server's current TOTP step, after moving the
// server's clock one step on so that every call gets an unused step.
func (e *env) totp() string {
	e.clock.Advance(30 * time.Second)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(e.clock.Now().Unix()/30))
	m := hmac.New(sha1.New, e.seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}

var smsCodeRe = regexp.MustCompile(`\bcode ([0-9]{6,8})\b`)

// smsAnswerer is cscsign's stdin for -sms: first the lines given, then,
// once the SMS has gone out, the code it carries, as the signer would type
// it.
func (e *env) smsAnswerer(t *testing.T, before string) io.Reader {
	pr, pw := io.Pipe()
	sent := len(e.twilio.Messages())
	stop, finished := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		pr.Close()
		<-finished
	})
	go func() {
		defer close(finished)
		defer pw.Close()
		if _, err := io.WriteString(pw, before); err != nil {
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if msgs := e.twilio.Messages(); len(msgs) > sent {
				if m := smsCodeRe.FindStringSubmatch(msgs[len(msgs)-1].Body); m != nil {
					_, _ = io.WriteString(pw, m[1]+"\n")
				}
				return
			}
		}
	}()
	return pr
}

// result is one cscsign run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs cscsign with args, env as its environment, stdin as its input
// (not a terminal) and open as its browser.
func (e *env) run(t *testing.T, environ map[string]string, stdin string, open func(string) error, args ...string) result {
	t.Helper()
	return e.runWith(t, environ, strings.NewReader(stdin), open, args...)
}

func (e *env) runWith(t *testing.T, environ map[string]string, stdin io.Reader, open func(string) error, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	a := &app{stdin: stdin, stdout: &out, stderr: &errb,
		getenv: func(k string) string { return environ[k] }, isTerminal: func() bool { return false }, openBrowser: open}
	code := a.run(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// inPDF writes the test document and returns its path.
func (e *env) inPDF(t *testing.T) string {
	t.Helper()
	p := filepath.Join(e.dir, "in.pdf")
	if err := os.WriteFile(p, padestest.MinimalPDF(t, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- the signer's browser ----

// browser plays the signer's browser on the server's own pages: it keeps
// cookies, does not follow redirects, and fills the forms.
type browser struct {
	e      *env
	client *http.Client
	otp    string
	// deny refuses on the consent page instead of approving.
	deny bool
	// visited is the authorization URL the browser was sent to.
	visited string
	// forged is what cscsign's listener answered a redirect with a state
	// of someone else's, sent before the real one.
	forged int
}

func (e *env) newBrowser(otp string) *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, client: &c, otp: otp}
}

func (b *browser) do(method, target string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if !strings.HasPrefix(target, "http") {
		target = b.e.srv.URL + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data), nil
}

var hiddenField = regexp.MustCompile(`name="(flow|csrf)" value="([^"]+)"`)

func fields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// open is the injected browser opener: it logs in, approves with the
// TOTP code and follows the redirect to cscsign's loopback listener.
func (b *browser) open(authorizeURL string) error {
	b.visited = authorizeURL
	if !strings.HasPrefix(authorizeURL, b.e.srv.URL+"/oauth2/authorize?") {
		return fmt.Errorf("authorization URL %s is not the server's authorization endpoint", authorizeURL)
	}
	step := func(what string, resp *http.Response, page string, err error, want ...int) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for _, w := range want {
			if resp.StatusCode == w {
				return nil
			}
		}
		return fmt.Errorf("%s: HTTP %d %s", what, resp.StatusCode, page)
	}
	resp, page, err := b.do(http.MethodGet, authorizeURL, nil)
	if err := step("authorize", resp, page, err, http.StatusOK); err != nil {
		return err
	}
	f := fields(page)
	f.Set("username", b.e.username)
	f.Set("password", b.e.password)
	resp, page, err = b.do(http.MethodPost, "/oauth2/login", f)
	if err := step("login", resp, page, err, http.StatusSeeOther); err != nil {
		return err
	}
	resp, page, err = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	if err := step("consent page", resp, page, err, http.StatusOK); err != nil {
		return err
	}
	f = fields(page)
	f.Set("action", "approve")
	if b.deny {
		f.Set("action", "deny")
	}
	resp, page, err = b.do(http.MethodPost, "/oauth2/consent", f)
	if err := step("consent", resp, page, err, http.StatusFound, http.StatusSeeOther); err != nil {
		return err
	}
	next := resp.Header.Get("Location")
	if strings.HasPrefix(next, "/oauth2/otp?") {
		resp, page, err = b.do(http.MethodGet, next, nil)
		if err := step("otp page", resp, page, err, http.StatusOK); err != nil {
			return err
		}
		f = fields(page)
		f.Set("action", "approve")
		f.Set("otp", b.otp)
		resp, page, err = b.do(http.MethodPost, "/oauth2/otp", f)
		if err := step("otp", resp, page, err, http.StatusFound, http.StatusSeeOther); err != nil {
			return err
		}
		next = resp.Header.Get("Location")
	}
	// The redirect goes to cscsign's listener on loopback. Another page
	// sending a code there first, with a state of its own, is turned away.
	if !strings.HasPrefix(next, "http://127.0.0.1:") {
		return fmt.Errorf("redirect to %q, not to the loopback listener", next)
	}
	nu, err := url.Parse(next)
	if err != nil {
		return err
	}
	forged := *nu
	forged.RawQuery = url.Values{"code": {"forged-code"}, "state": {"someone-elses"}}.Encode()
	r, err := http.Get(forged.String())
	if err != nil {
		return fmt.Errorf("forged redirect to cscsign: %w", err)
	}
	r.Body.Close()
	b.forged = r.StatusCode
	r, err = http.Get(next)
	if err != nil {
		return fmt.Errorf("redirect to cscsign: %w", err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(body), "authorized") && !b.deny {
		return fmt.Errorf("cscsign's listener answered %d %s", r.StatusCode, body)
	}
	return nil
}

// ---- PDF tools ----

// checkSignedPDF has pdfsig (with an NSS database trusting the development
// CA) report one valid, trusted signature by the test signer, and qpdf
// accept the file.
func (e *env) checkSignedPDF(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := padestest.NewValidator(t, e.ca)
	reports := v.Report(t, data)
	if len(reports) != 1 {
		t.Fatalf("pdfsig finds %d signatures:\n%s", len(reports), strings.Join(reports, "\n"))
	}
	padestest.WantValid(t, reports[0], "ETSI.CAdES.detached", testSignerName)
	v.QPDFCheck(t, data)
	return reports[0]
}
