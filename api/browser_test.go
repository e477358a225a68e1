package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/store"
)

// The browser test drives the signer's pages (login, consent, second
// factor) with a real headless Chromium, JavaScript disabled, from the
// client's authorization request to a verified signature.
const (
	browserClientID     = "browser-sca"
	browserClientName   = "Browser SCA Test"
	browserClientSecret = "browser-sca-secret-with-enough-entropy"
	browserState        = "st-browser-42"
	// browserTimeout bounds everything Chromium does, so a hang fails.
	browserTimeout = 60 * time.Second
)

// chromiumPath finds Chromium. Without it the test skips, loudly, unless
// CI=true or CSC_TEST_REQUIRE_BROWSER=1, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not installed: apt-get install chromium (or run `make test` as root, which installs it)"
	if os.Getenv("CI") == "true" || os.Getenv("CSC_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; CI=true or CSC_TEST_REQUIRE_BROWSER=1 requires the browser test")
	}
	t.Skip("SKIPPING THE BROWSER TEST: " + msg)
	return ""
}

// callbackServer is the client's redirect URI: a plain HTTP listener on
// loopback that hands each callback's query to the test.
func callbackServer(t *testing.T) (redirectURI string, got <-chan url.Values) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan url.Values, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The script would retitle the page if the browser ran scripts; the
		// noscript element renders only when it does not.
		fmt.Fprint(w, `<!doctype html><html><head><title>client</title></head><body>`+
			`<script>document.title = "javascript ran"</script>`+
			`<p id="back">Back at the client.</p><noscript><p id="nojs">Scripts are disabled.</p></noscript></body></html>`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/callback", ch
}

func registerBrowserClient(t *testing.T, e *env, redirectURI string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(browserClientSecret), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: browserClientID, Name: browserClientName, SecretHash: hash,
		RedirectURIs: []string{redirectURI}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scopes: []string{"credential"}}); err != nil {
		t.Fatal(err)
	}
}

// browserToken posts to oauth2/token as the browser test's client.
func (e *env) browserToken(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(browserClientID, browserClientSecret)
	status, out, _ := e.do(t, req)
	return status, out
}

// wantFingerprint is the consent page's short form of a digest, computed
// here independently: the first 8 bytes in upper-case hex, in groups of 4.
func wantFingerprint(h []byte) string {
	x := strings.ToUpper(hex.EncodeToString(h[:8]))
	return x[0:4] + " " + x[4:8] + " " + x[8:12] + " " + x[12:16]
}

// artefactPath is where the test writes a file worth keeping:
// CSC_TEST_ARTEFACTS if set, else the test's temporary directory.
func artefactPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CSC_TEST_ARTEFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// phoneWidth is the viewport the pages are shown in: a phone's, in CSS pixels.
const phoneWidth, phoneHeight = 390, 844

// chromiumTab is one tab of a headless Chromium with JavaScript disabled
// and a phone's viewport, alive for at most browserTimeout.
type chromiumTab struct {
	t   *testing.T
	ctx context.Context
}

// newChromium starts Chromium for e's pages: headless, as root without the
// sandbox, trusting the test server's self-signed certificate (loopback
// only). When the test fails, the browser's console (where a CSP violation
// shows), its output and the server's log go to the test log.
func newChromium(t *testing.T, e *env, path string) *chromiumTab {
	t.Helper()
	output, console := &syncBuffer{}, &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.IgnoreCertErrors, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.CombinedOutput(output))
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithLogf(t.Logf), chromedp.WithListener(func(ev any) {
		if ev, ok := ev.(*cdplog.EventEntryAdded); ok {
			fmt.Fprintf(console, "%s %s: %s\n", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text)
		}
	}))
	t.Cleanup(cancelTab)
	t.Cleanup(func() {
		if t.Failed() {
			var out []string
			for _, l := range strings.Split(output.String(), "\n") {
				if !strings.Contains(l, "dbus") { // no system bus in a container
					out = append(out, l)
				}
			}
			t.Logf("server log:\n%s\nchromium console:\n%s\nchromium output:\n%s", e.logs.String(), console.String(), strings.Join(out, "\n"))
		}
	})
	b := &chromiumTab{t: t, ctx: ctx}
	b.do("start chromium",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
			return err
		}),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	return b
}

// do runs the actions of one step and fails the test, naming the step and
// the page the browser is on, if one fails.
func (b *chromiumTab) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s (at %s): %v", name, loc, err)
	}
}

// text is the visible text of the first element matching the CSS selector.
func (b *chromiumTab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// fitsPhone fails the test if the page scrolls sideways at phone width.
func (b *chromiumTab) fitsPhone(page string) {
	b.t.Helper()
	w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
	if err != nil {
		b.t.Fatalf("%s page width: %v", page, err)
	}
	if w > phoneWidth {
		b.t.Errorf("%s page is %d px wide at a %d px viewport: it scrolls sideways on a phone", page, w, phoneWidth)
	}
}

// logIn walks the login page of the authorization request to the consent page.
func (b *chromiumTab) logIn(authorize string, a account) {
	b.t.Helper()
	b.do("login page", chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.fitsPhone("login")
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS("#username"), a.Username),
		chromedp.SendKeys(chromedp.CSS("#password"), a.Password),
		chromedp.Click(chromedp.CSS(`button[value="login"]`)),
		chromedp.WaitVisible(chromedp.CSS("#client")))
}

// callback waits for the browser to land on the client's redirect URI, and
// checks that the client's page rendered its noscript element: scripts
// stayed off to the end.
func (b *chromiumTab) callback(got <-chan url.Values) url.Values {
	b.t.Helper()
	var q url.Values
	select {
	case q = <-got:
	case <-time.After(browserTimeout / 3):
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		page, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		b.t.Fatalf("no callback at the client's redirect URI; the browser is at %s:\n%s", loc, page)
	}
	b.do("client page without scripts", chromedp.WaitVisible(chromedp.CSS("#nojs")))
	if title, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil || title != "client" {
		b.t.Fatalf("client page title %q (%v): scripts ran", title, err)
	}
	return q
}

// browserAuthorize is the client's authorization request for one hash.
func browserAuthorize(e *env, redirectURI, credentialID, challenge string, h []byte) string {
	return e.srv.URL + "/oauth2/authorize?" + url.Values{"response_type": {"code"}, "client_id": {browserClientID},
		"redirect_uri": {redirectURI}, "scope": {"credential"}, "credentialID": {credentialID}, "numSignatures": {"1"},
		"hashes": {base64.RawURLEncoding.EncodeToString(h)}, "hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {browserState}}.Encode()
}

// TestBrowserApprovesSignature: a client sends the signer to oauth2/authorize
// for one hash; Chromium, with JavaScript disabled and a phone's viewport,
// logs in, shows the consent page (client, credential, fingerprint),
// approves with a TOTP code and lands on the client's redirect URI with a
// code and the state; the code gives a credential token that signs the
// approved hash.
func TestBrowserApprovesSignature(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, "sqlite")
	redirectURI, callbacks := callbackServer(t)
	registerBrowserClient(t, e, redirectURI)
	cred := e.alice.Credentials[0]
	h := digest("approved in a real browser")
	verifier, challenge := pkcePair(t)
	authorize := browserAuthorize(e, redirectURI, cred.ID, challenge, h)

	// The pages' security headers, seen by a plain HTTP client.
	req, _ := http.NewRequest(http.MethodGet, authorize, nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("authorize page: %d, Content-Security-Policy %q, X-Frame-Options %q", resp.StatusCode, csp, resp.Header.Get("X-Frame-Options"))
	}

	b := newChromium(t, e, chromium)
	b.logIn(authorize, e.alice)
	// The consent page shows who asks, for which credential, and what.
	if got := b.text("#client"); got != browserClientName {
		t.Errorf("consent page client: %q, want %q", got, browserClientName)
	}
	if got := b.text("#credential"); !strings.Contains(got, cred.ID) {
		t.Errorf("consent page credential: %q, want it to name %s", got, cred.ID)
	}
	if got := b.text("#count"); got != "1" {
		t.Errorf("consent page count: %q, want 1", got)
	}
	if got, want := b.text("#documents code"), wantFingerprint(h); got != want {
		t.Errorf("consent page fingerprint: %q, want %q", got, want)
	}
	b.fitsPhone("consent")
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := artefactPath(t, "browser-consent.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("consent page screenshot: %s", path)

	b.do("approve", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.CSS("#otp")))
	b.fitsPhone("second factor")
	e.clock.Advance(30 * time.Second) // a TOTP step not used before
	b.do("second factor",
		chromedp.SendKeys(chromedp.CSS("#otp"), e.totp(e.alice, 0)),
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
	cb := b.callback(callbacks)
	if cb.Get("code") == "" || cb.Get("state") != browserState || cb.Has("error") {
		t.Fatalf("callback query: %v", cb)
	}

	status, out := e.browserToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if status != http.StatusOK || out["credentialID"] != cred.ID || out["token_type"] != "Bearer" {
		t.Fatalf("token: %d %v", status, out)
	}
	sad := out["access_token"].(string)
	status, out, _ = e.call(t, "/csc/v2/credentials/info", sad, map[string]any{"credentialID": cred.ID})
	if status != http.StatusOK {
		t.Fatalf("credentials/info: %d %v", status, out)
	}
	der, _ := base64.StdEncoding.DecodeString(toStrings(out["cert"].(map[string]any)["certificates"])[0])
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	var signAlgo string
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		signAlgo = "1.2.840.113549.1.1.11"
	case *ecdsa.PublicKey:
		signAlgo = "1.2.840.10045.4.3.2"
	default:
		t.Fatalf("unexpected key %T", leaf.PublicKey)
	}
	status, out, _ = e.call(t, "/csc/v2/signatures/signHash", sad, map[string]any{"credentialID": cred.ID,
		"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": signAlgo})
	if status != http.StatusOK {
		t.Fatalf("signHash: %d %v", status, out)
	}
	sig, err := base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
	if err != nil {
		t.Fatal(err)
	}
	verify(t, leaf.PublicKey, h, sig)
}

// TestBrowserDeniesSignature: the signer denies on the consent page, and
// on the second-factor page; each time the browser lands on the client's
// redirect URI with access_denied and the state, and no code.
func TestBrowserDeniesSignature(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, "sqlite")
	redirectURI, callbacks := callbackServer(t)
	registerBrowserClient(t, e, redirectURI)
	cred := e.alice.Credentials[0]
	_, challenge := pkcePair(t)
	authorize := browserAuthorize(e, redirectURI, cred.ID, challenge, digest("denied in a real browser"))
	b := newChromium(t, e, chromium)
	for _, page := range []string{"consent", "second factor"} {
		b.logIn(authorize, e.alice)
		if page == "second factor" {
			b.do("approve", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.CSS("#otp")))
		}
		b.do("deny on the "+page+" page", chromedp.Click(chromedp.CSS(`button[value="deny"]`)))
		cb := b.callback(callbacks)
		if cb.Get("error") != "access_denied" || cb.Get("state") != browserState || cb.Has("code") {
			t.Fatalf("callback query after denying on the %s page: %v", page, cb)
		}
	}
}
