package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/conformance"
	"github.com/openrssp/rssp/store"
)

// The OAuth client the conformance suite drives the authorization server
// with: confidential, with every grant and scope the CSC API has.
const (
	confClientID     = "conformance-sca"
	confClientSecret = "conformance-sca-secret-with-enough-entropy"
	confRedirect     = "http://127.0.0.1:8766/conformance/callback"
)

// TestConformance runs the black-box CSC conformance suite, v1 and v2, over
// real HTTPS against an in-process server on SQLite and PostgreSQL. The
// server's clock is moved forward instead of sleeping (fresh TOTP steps,
// expired SADs), and every answer is checked against the OpenAPI document.
// The signer's pages of the OAuth flows are driven by a form-filling client.
func TestConformance(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		registerConformanceClient(t, e)
		acct := func(a account) conformance.Account {
			c := conformance.Account{BaseURL: a.BaseURL, Username: a.Username, Password: a.Password, PIN: a.PIN, TOTPSecret: a.TOTPSecret, Phone: a.Phone}
			for _, cr := range a.Credentials {
				c.Credentials = append(c.Credentials, conformance.Credential{ID: cr.ID, KeyAlgorithm: cr.KeyAlgorithm})
			}
			return c
		}
		other := acct(e.bob)
		conformance.Run(t, conformance.Target{
			Account:     acct(e.alice),
			Client:      e.client,
			Advance:     e.clock.Advance,
			Now:         e.clock.Now,
			SADLifetime: e.cfg.SADLifetime,
			OtherUser:   &other,
			SMSCode:     e.smsCode,
			SMSCooldown: e.cfg.SMS.Cooldown,
			OAuthClient: &conformance.OAuthClient{ID: confClientID, Secret: confClientSecret, RedirectURI: confRedirect},
			Approve: func(t testing.TB, authorizeURL, otp string) *url.URL {
				return approveURL(browserFor(t, e), authorizeURL, e.alice, otp)
			},
			Deny: func(t testing.TB, authorizeURL string) *url.URL {
				return denyURL(browserFor(t, e), authorizeURL, e.alice)
			},
		})
	})
}

func registerConformanceClient(t *testing.T, e *env) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(confClientSecret), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateOAuthClient(ctx, &store.OAuthClient{ID: confClientID, Name: "Conformance SCA", SecretHash: hash,
		RedirectURIs: []string{confRedirect}, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}); err != nil {
		t.Fatal(err)
	}
}

// browserFor is a fresh browser for one approval; the suite always passes
// its subtests' *testing.T.
func browserFor(t testing.TB, e *env) *browser {
	tt, ok := t.(*testing.T)
	if !ok {
		t.Fatalf("the browser needs a *testing.T, got %T", t)
	}
	return newBrowser(tt, e)
}

// approveURL walks the signer's pages (login, consent, second factor) for
// the authorization at authorizeURL, as approve does, with a ready OTP ("":
// the request needs no second factor). It returns the redirect to the
// client.
func approveURL(b *browser, authorizeURL string, a account, otp string) *url.URL {
	b.t.Helper()
	return approveConsent(b, loginAndConsent(b, authorizeURL, a), otp)
}

// approveConsent approves on the consent page and, when asked, with the
// second factor otp; it returns the redirect to the client.
func approveConsent(b *browser, consent, otp string) *url.URL {
	b.t.Helper()
	f := fields(consent)
	f.Set("action", "approve")
	resp, page := b.do(http.MethodPost, "/oauth2/consent", f)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("consent: %d %s", resp.StatusCode, page)
	}
	next := resp.Header.Get("Location")
	if !strings.HasPrefix(next, "/oauth2/otp?") { // no second factor: the redirect to the client
		return parseLocation(b, next)
	}
	if otp == "" {
		b.t.Fatalf("the pages ask for a second factor, but Approve got no OTP")
	}
	resp, page = b.do(http.MethodGet, next, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("otp page: %d %s", resp.StatusCode, page)
	}
	f = fields(page)
	f.Set("action", "approve")
	f.Set("otp", otp)
	resp, page = b.do(http.MethodPost, "/oauth2/otp", f)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("otp: %d %s", resp.StatusCode, page)
	}
	return parseLocation(b, resp.Header.Get("Location"))
}

// loginAndConsent opens authorizeURL, logs a in and returns the consent
// page.
func loginAndConsent(b *browser, authorizeURL string, a account) string {
	b.t.Helper()
	if !strings.HasPrefix(authorizeURL, b.e.srv.URL+"/oauth2/authorize?") {
		b.t.Fatalf("authorization URL %s is not our authorization endpoint", authorizeURL)
	}
	resp, page := b.do(http.MethodGet, authorizeURL, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/oauth2/login"`) {
		b.t.Fatalf("authorize: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			b.t.Fatalf("login page without %s", h)
		}
	}
	f := fields(page)
	f.Set("username", a.Username)
	f.Set("password", a.Password)
	resp, page = b.do(http.MethodPost, "/oauth2/login", f)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", resp.StatusCode, page)
	}
	resp, page = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	return page
}

func parseLocation(b *browser, loc string) *url.URL {
	b.t.Helper()
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		b.t.Fatalf("bad redirect %q: %v", loc, err)
	}
	return u
}

// denyURL logs a in for the authorization at authorizeURL and refuses it
// on the consent page; it returns the redirect to the client.
func denyURL(b *browser, authorizeURL string, a account) *url.URL {
	b.t.Helper()
	f := fields(loginAndConsent(b, authorizeURL, a))
	f.Set("action", "deny")
	resp, page := b.do(http.MethodPost, "/oauth2/consent", f)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("consent refused: %d %s", resp.StatusCode, page)
	}
	return parseLocation(b, resp.Header.Get("Location"))
}
