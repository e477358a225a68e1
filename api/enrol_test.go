package api_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// enrolCredential is what the test server's enrolment pages create: an
// explicit SCAL2 credential, so a test can sign through credentials/authorize.
var enrolCredential = sam.NewCredential{Algorithm: hsm.RSA2048, SCAL: 2, Multisign: 1, AuthMode: sam.AuthModeExplicit,
	Description: "Enrolled signing key"}

var (
	enrolActivationRe = regexp.MustCompile(`activation code is ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\.`)
	enrolPhoneCodeRe  = regexp.MustCompile(`RSSP code ([0-9]{6,8}) to confirm this phone`)
	enrolFieldRe      = regexp.MustCompile(`name="(enrolment|csrf)" value="([^"]+)"`)
	enrolSecretRe     = regexp.MustCompile(`<code id="secret" class="key">([A-Z2-7 ]+)</code>`)
	enrolQRRe         = regexp.MustCompile(`<img id="qr" class="qr" src="data:image/png;base64,([^"]+)"`)
	enrolURIRe        = regexp.MustCompile(`<code id="uri">([^<]+)</code>`)
	enrolCredRe       = regexp.MustCompile(`<code id="credential">([^<]+)</code>`)
	enrolSubjectRe    = regexp.MustCompile(`<dd id="subject">([^<]+)</dd>`)
	enrolAgainRe      = regexp.MustCompile(`<a id="again" href="([^"]+)"`)
)

// registerPending has an operator register a signer whose activation code
// goes by SMS, and returns the code as the fake Twilio received it.
func (e *env) registerPending(t *testing.T, username, name, phone string) string {
	t.Helper()
	_, a, err := e.sam.RegisterSigner(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: username, Name: name, Actor: "test"},
		Phone: phone, Delivery: sam.DeliverySMS})
	if err != nil {
		t.Fatal(err)
	}
	if a.Code != "" || a.SentTo == "" {
		t.Fatalf("an SMS activation was returned to the operator: %+v", a)
	}
	return e.lastSMS(t, phone, enrolActivationRe)
}

// lastSMS is the first group of pattern in the newest SMS to phone.
func (e *env) lastSMS(t *testing.T, phone string, pattern *regexp.Regexp) string {
	t.Helper()
	m, ok := e.twilio.Last(phone)
	if !ok {
		t.Fatalf("no SMS to %s", phone)
	}
	got := pattern.FindStringSubmatch(m.Body)
	if got == nil {
		t.Fatalf("the SMS to %s is not the one expected (%s): %q", phone, pattern, m.Body)
	}
	return got[1]
}

// enrolForm is the hidden fields of an enrolment page plus extra.
func enrolForm(page string, extra url.Values) url.Values {
	f := url.Values{}
	for _, m := range enrolFieldRe.FindAllStringSubmatch(page, -1) {
		f.Set(m[1], m[2])
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// wantSeeOther checks a 303 to path and returns its Location.
func wantSeeOther(t *testing.T, what string, resp *http.Response, page, path string) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, path+"?") {
		t.Fatalf("%s: %d, Location %q, want 303 to %s\n%s", what, resp.StatusCode, loc, path, page)
	}
	return loc
}

// wantPage checks a 200 page that contains every one of want.
func wantPage(t *testing.T, what string, resp *http.Response, page string, want ...string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d, want 200\n%s", what, resp.StatusCode, page)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Fatalf("%s: the page does not say %q\n%s", what, w, page)
		}
	}
}

// enrolSecret reads the TOTP key from the TOTP page.
func enrolSecret(t *testing.T, page string) []byte {
	t.Helper()
	m := enrolSecretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no TOTP key on the page:\n%s", page)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil || len(seed) != 20 {
		t.Fatalf("TOTP key %q: %v", m[1], err)
	}
	return seed
}

// checkQR decodes the inline QR code of the TOTP page.
func checkQR(t *testing.T, page string) {
	t.Helper()
	m := enrolQRRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no inline QR code on the TOTP page:\n%s", page)
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 150 || b.Dx() > 390 {
		t.Fatalf("QR code of %v: want a square that fits a phone", b)
	}
}

// enrolment is one signer walking the enrolment pages with their own
// browser (a cookie jar).
type enrolment struct {
	t     *testing.T
	e     *env
	b     *browser
	phone string
	a     account
}

func (e *env) newEnrolment(t *testing.T, username, name, phone string) *enrolment {
	return &enrolment{t: t, e: e, b: newBrowser(t, e), phone: phone,
		a: account{BaseURL: e.srv.URL, Username: username, Phone: phone, Password: "correct horse " + randomText(t, 8), PIN: "4711" + randomText(t, 4)}}
}

// activate sends the activation code from the enrolment form and returns
// the answer.
func (n *enrolment) activate(code string) (*http.Response, string) {
	n.t.Helper()
	resp, page := n.b.do(http.MethodGet, "/enrol", nil)
	wantPage(n.t, "activation form", resp, page, `action="/enrol"`)
	return n.b.do(http.MethodPost, "/enrol", enrolForm(page, url.Values{"code": {code}}))
}

// secretsPage activates and returns the password and PIN page.
func (n *enrolment) secretsPage(code string) string {
	n.t.Helper()
	resp, page := n.activate(code)
	loc := wantSeeOther(n.t, "activation", resp, page, "/enrol/secrets")
	resp, page = n.b.do(http.MethodGet, loc, nil)
	wantPage(n.t, "password and PIN page", resp, page, `name="password2"`, `name="pin2"`)
	return page
}

func (n *enrolment) secrets(page string) (*http.Response, string) {
	return n.b.do(http.MethodPost, "/enrol/secrets", enrolForm(page, url.Values{"password": {n.a.Password}, "password2": {n.a.Password},
		"pin": {n.a.PIN}, "pin2": {n.a.PIN}}))
}

// phonePage sets password and PIN and returns the phone page. The
// activation SMS went out moments ago: the phone code can go only once the
// SMS cooldown has passed, which the signer spends on this page.
func (n *enrolment) phonePage(secretsPage string) string {
	n.t.Helper()
	n.e.clock.Advance(n.e.cfg.SMS.Cooldown + time.Second)
	resp, page := n.secrets(secretsPage)
	loc := wantSeeOther(n.t, "password and PIN", resp, page, "/enrol/phone")
	resp, page = n.b.do(http.MethodGet, loc, nil)
	wantPage(n.t, "phone page", resp, page, "We sent a code by SMS to "+sam.MaskPhone(n.phone))
	return page
}

func (n *enrolment) confirmPhone(page, code string) (*http.Response, string) {
	return n.b.do(http.MethodPost, "/enrol/phone", enrolForm(page, url.Values{"action": {"confirm"}, "code": {code}}))
}

// totpPage confirms the phone and returns the TOTP page.
func (n *enrolment) totpPage(phonePage string) string {
	n.t.Helper()
	resp, page := n.confirmPhone(phonePage, n.e.lastSMS(n.t, n.phone, enrolPhoneCodeRe))
	loc := wantSeeOther(n.t, "phone code", resp, page, "/enrol/totp")
	resp, page = n.b.do(http.MethodGet, loc, nil)
	wantPage(n.t, "TOTP page", resp, page, "otpauth://totp/RSSP:"+n.a.Username)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data:") || !strings.Contains(csp, "default-src 'none'") {
		n.t.Fatalf("TOTP page Content-Security-Policy %q", csp)
	}
	return page
}

// get loads the page at path for the enrolment of an earlier page.
func (n *enrolment) get(path, earlier string) (*http.Response, string) {
	f := enrolForm(earlier, nil)
	return n.b.do(http.MethodGet, path+"?"+url.Values{"enrolment": {f.Get("enrolment")}, "csrf": {f.Get("csrf")}}.Encode(), nil)
}

// totp types the app's current code on the TOTP page.
func (n *enrolment) totp(page string, seed []byte) (*http.Response, string) {
	return n.b.do(http.MethodPost, "/enrol/totp", enrolForm(page, url.Values{"action": {"confirm"}, "otp": {hotp(seed, n.e.clock.Now().Unix()/30)}}))
}

// done reads the credential ID and certificate subject from the done page.
func (n *enrolment) done(loc string) (credentialID, subject string) {
	n.t.Helper()
	resp, page := n.b.do(http.MethodGet, loc, nil)
	wantPage(n.t, "done page", resp, page, "Your signing credential is ready")
	c, s := enrolCredRe.FindStringSubmatch(page), enrolSubjectRe.FindStringSubmatch(page)
	if c == nil || s == nil {
		n.t.Fatalf("done page without credential ID or subject:\n%s", page)
	}
	return c[1], html.UnescapeString(s[1])
}

// TestEnrolmentPages: a signer registered by an operator receives the
// activation code by SMS and walks the pages (password and PIN, the phone
// code, the authenticator app from the QR page) to a ready credential; then
// logs in with the new password, sees the credential, and signs with it
// using the PIN and an SMS code through the explicit API.
func TestEnrolmentPages(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		const phone = "+447700900103"
		code := e.registerPending(t, "carol", "Carol Enrol", phone)
		n := e.newEnrolment(t, "carol", "Carol Enrol", phone)

		// Activation: typed in lower case without dashes it still works.
		resp, page := n.activate(strings.ToLower(strings.ReplaceAll(code, "-", "")))
		loc := wantSeeOther(t, "activation", resp, page, "/enrol/secrets")
		for _, c := range resp.Cookies() {
			if strings.HasPrefix(c.Name, "rssp_enrol_") && c.Value != "" && (!c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/enrol") {
				t.Errorf("enrolment cookie %s: HttpOnly %v Secure %v SameSite %v Path %q", c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Path)
			}
		}
		resp, page = n.b.do(http.MethodGet, loc, nil)
		wantPage(t, "password and PIN page", resp, page, `name="pin2"`)
		if resp.Header.Get("X-Frame-Options") != "DENY" || strings.Contains(resp.Header.Get("Content-Security-Policy"), "img-src") ||
			resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("password page headers: %v", resp.Header)
		}
		// The enrolment is bound to this browser: another one is refused.
		if resp, page := newBrowser(t, e).do(http.MethodGet, loc, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "expired") {
			t.Fatalf("another browser on the enrolment: %d\n%s", resp.StatusCode, page)
		}
		page = n.totpPage(n.phonePage(page))
		checkQR(t, page)
		first := enrolSecret(t, page)
		if u := enrolURIRe.FindStringSubmatch(page); u == nil || !strings.Contains(html.UnescapeString(u[1]), "secret="+
			base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(first)) {
			t.Fatalf("the otpauth URI on the page is not the key's:\n%s", page)
		}
		// A reload shows a new key; the first one no longer works.
		resp, page = n.get("/enrol/totp", page)
		wantPage(t, "TOTP page reloaded", resp, page, `id="qr"`)
		seed := enrolSecret(t, page)
		if bytes.Equal(seed, first) {
			t.Fatal("the reloaded TOTP page shows the same key again")
		}
		resp, wrong := n.totp(page, first)
		wantPage(t, "code of the replaced key", resp, wrong, "This code does not match", "The QR code is not shown again")
		if strings.Contains(wrong, `id="qr"`) || strings.Contains(wrong, `id="secret"`) {
			t.Fatal("the page after a wrong code shows the key again")
		}
		if m := enrolAgainRe.FindStringSubmatch(wrong); m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), "/enrol/totp?") {
			t.Fatalf("no way to a new QR code after a wrong code:\n%s", wrong)
		}
		resp, page = n.totp(page, seed)
		credID, subject := n.done(wantSeeOther(t, "TOTP code", resp, page, "/enrol/done"))
		if !strings.Contains(subject, "CN=Carol Enrol") {
			t.Errorf("certificate subject %q", subject)
		}

		// The new signer logs in with the new password and sees the credential.
		tok := e.login(t, n.a)
		status, out, _ := e.call(t, "/csc/v2/credentials/list", tok, map[string]any{})
		if ids := toStrings(out["credentialIDs"]); status != 200 || len(ids) != 1 || ids[0] != credID {
			t.Fatalf("credentials/list: %d %v, want [%s]", status, out, credID)
		}
		status, out, _ = e.call(t, "/csc/v2/credentials/info", tok, map[string]any{"credentialID": credID, "certificates": "single"})
		if status != 200 || out["SCAL"] != "2" {
			t.Fatalf("credentials/info: %d %v", status, out)
		}
		der, _ := base64.StdEncoding.DecodeString(toStrings(out["cert"].(map[string]any)["certificates"])[0])
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Subject.CommonName != "Carol Enrol" {
			t.Errorf("certificate CN %q", leaf.Subject.CommonName)
		}
		// An SCAL2 signature with the PIN and an SMS code for the hash.
		h := digest("signed after enrolment")
		e.clock.Advance(e.cfg.SMS.Cooldown + time.Second)
		status, out, _ = e.call(t, "/csc/v2/credentials/getChallenge", tok, map[string]any{"credentialID": credID, "authObjectID": "SMS",
			"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"})
		if status != http.StatusNoContent {
			t.Fatalf("getChallenge: %d %v", status, out)
		}
		smsCode := e.lastSMS(t, phone, regexp.MustCompile(`RSSP code ([0-9]{6,8}) to approve`))
		status, out, _ = e.call(t, "/csc/v2/credentials/authorize", tok, map[string]any{"credentialID": credID, "numSignatures": 1,
			"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
			"authData": []map[string]string{{"id": "PIN", "value": n.a.PIN}, {"id": "SMS", "value": smsCode}}})
		if status != 200 {
			t.Fatalf("credentials/authorize with PIN and SMS code: %d %v", status, out)
		}
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", tok, map[string]any{"credentialID": credID, "SAD": out["SAD"],
			"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		if status != 200 {
			t.Fatalf("signHash: %d %v", status, out)
		}
		sig, _ := base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
		verify(t, leaf.PublicKey, h, sig)

		// And through the OAuth approval page, with a code by SMS.
		registerWebClient(t, e)
		n.a.Phone = phone
		h2 := digest("approved on the page after enrolment")
		verifier, challenge := pkcePair(t)
		approved := newBrowser(t, e).approveWithSMS(url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
			"scope": {"credential"}, "credentialID": {credID}, "numSignatures": {"1"}, "hashes": {base64.RawURLEncoding.EncodeToString(h2)},
			"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"enrolled"}}, n.a)
		status, out = e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {approved.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
		if status != 200 || out["credentialID"] != credID {
			t.Fatalf("token after the SMS approval: %d %v", status, out)
		}
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", out["access_token"].(string), map[string]any{"credentialID": credID,
			"hashes": []string{b64(h2)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		if status != 200 {
			t.Fatalf("signHash with the credential token: %d %v", status, out)
		}
		sig, _ = base64.StdEncoding.DecodeString(toStrings(out["signatures"])[0])
		verify(t, leaf.PublicKey, h2, sig)

		// No secret of the enrolment reaches the log.
		logs := e.logs.String()
		for name, s := range map[string]string{"activation code": code, "password": n.a.Password, "PIN": n.a.PIN,
			"TOTP key": base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), "SMS code": smsCode} {
			if strings.Contains(logs, s) {
				t.Errorf("the %s appears in the server log", name)
			}
		}
		// The pages served no enrolment after it ended.
		if resp, page := n.get("/enrol/secrets", wrong); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), "/enrol/done?") {
			t.Fatalf("an earlier step after the end: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
	})
}

// TestEnrolmentRefusals: expired and reused activation codes, a wrong phone
// code, a trivial PIN and mismatched passwords are refused with a clear
// message and change nothing; a second submit of a step does not run it
// again; too many wrong activation codes from one address get 429.
func TestEnrolmentRefusals(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		const phone = "+447700900104"
		code := e.registerPending(t, "dave", "Dave Enrol", phone)
		n := e.newEnrolment(t, "dave", "Dave Enrol", phone)
		secrets := n.secretsPage(code)

		t.Run("reused activation code", func(t *testing.T) {
			resp, page := e.newEnrolment(t, "dave", "Dave Enrol", phone).activate(code)
			wantPage(t, "reused code", resp, page, "wrong, has expired or was already used")
		})
		t.Run("trivial PIN and mismatches", func(t *testing.T) {
			sent := len(e.twilio.Messages())
			for _, tc := range []struct {
				name                string
				password, password2 string
				pin, pin2           string
				want                string
			}{
				{"trivial PIN", n.a.Password, n.a.Password, "123456", "123456", "This PIN is not accepted: this PIN is too easy to guess"},
				{"short PIN", n.a.Password, n.a.Password, "12", "12", "This PIN is not accepted: a PIN has 6 to 64 characters"},
				{"PINs differ", n.a.Password, n.a.Password, n.a.PIN, n.a.PIN + "1", "The two PINs are not the same"},
				{"passwords differ", n.a.Password, n.a.Password + "x", n.a.PIN, n.a.PIN, "The two passwords are not the same"},
				{"short password", "short", "short", n.a.PIN, n.a.PIN, "This password is not accepted"},
			} {
				resp, page := n.b.do(http.MethodPost, "/enrol/secrets", enrolForm(secrets, url.Values{"password": {tc.password},
					"password2": {tc.password2}, "pin": {tc.pin}, "pin2": {tc.pin2}}))
				wantPage(t, tc.name, resp, page, html.EscapeString(tc.want))
			}
			if len(e.twilio.Messages()) != sent {
				t.Fatal("a refused step sent the phone code")
			}
		})
		t.Run("double submit of a step", func(t *testing.T) {
			e.clock.Advance(e.cfg.SMS.Cooldown + time.Second) // after the activation SMS
			sent := len(e.twilio.Messages())
			resp, page := n.secrets(secrets)
			loc := wantSeeOther(t, "password and PIN", resp, page, "/enrol/phone")
			resp, page = n.secrets(secrets)
			if again := wantSeeOther(t, "password and PIN again", resp, page, "/enrol/phone"); again != loc {
				t.Fatalf("second submit went to %s, the first to %s", again, loc)
			}
			if got := len(e.twilio.Messages()); got != sent+1 {
				t.Fatalf("%d phone codes sent for a step submitted twice, want 1", got-sent)
			}
		})
		phonePage := func() string {
			resp, page := n.get("/enrol/phone", secrets)
			wantPage(t, "phone page", resp, page, `value="resend"`)
			return page
		}
		t.Run("wrong phone code", func(t *testing.T) {
			right := e.lastSMS(t, phone, enrolPhoneCodeRe)
			wrong := "000000"
			if right == wrong {
				wrong = "000001"
			}
			resp, page := n.confirmPhone(phonePage(), wrong)
			wantPage(t, "wrong phone code", resp, page, "This code is wrong or has expired")
			// Asking for a new code at once is refused politely.
			resp, page = n.b.do(http.MethodPost, "/enrol/phone", enrolForm(page, url.Values{"action": {"resend"}}))
			wantPage(t, "resend inside the cooldown", resp, page, "Please wait half a minute")
			// After the cooldown a new code goes out and replaces the old.
			e.clock.Advance(e.cfg.SMS.Cooldown + time.Second)
			resp, page = n.b.do(http.MethodPost, "/enrol/phone", enrolForm(page, url.Values{"action": {"resend"}}))
			wantPage(t, "resend", resp, page, "A new code is on its way to "+sam.MaskPhone(phone))
			if resp, page = n.confirmPhone(page, right); resp.StatusCode != http.StatusOK || !strings.Contains(page, "This code is wrong") {
				t.Fatalf("the replaced code: %d\n%s", resp.StatusCode, page)
			}
			form := phonePage()
			resp, page = n.confirmPhone(form, e.lastSMS(t, phone, enrolPhoneCodeRe))
			loc := wantSeeOther(t, "phone code", resp, page, "/enrol/totp")
			// The same form again: sent to the next step, nothing rerun.
			resp, page = n.confirmPhone(form, "000000")
			if again := wantSeeOther(t, "phone code again", resp, page, "/enrol/totp"); again != loc {
				t.Fatalf("second phone submit went to %s", again)
			}
		})
		t.Run("concurrent submits of the last step", func(t *testing.T) {
			resp, page := n.get("/enrol/totp", secrets)
			wantPage(t, "TOTP page", resp, page, `id="qr"`)
			seed := enrolSecret(t, page)
			form := enrolForm(page, url.Values{"action": {"confirm"}, "otp": {hotp(seed, e.clock.Now().Unix()/30)}}).Encode()
			var wg sync.WaitGroup
			statuses := make([]int, 3)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/enrol/totp", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if resp, err := n.b.client.Do(req); err == nil {
						resp.Body.Close()
						statuses[i] = resp.StatusCode
					}
				}()
			}
			wg.Wait()
			sg, err := e.db.SignerByUsername(ctx, "dave")
			if err != nil {
				t.Fatal(err)
			}
			creds, err := e.db.CredentialsOf(ctx, sg.ID)
			if err != nil || len(creds) != 1 || creds[0].Status != store.StatusActive || sg.Status != store.StatusActive {
				t.Fatalf("after %v: signer %s, credentials %v (%v), want one active", statuses, sg.Status, creds, err)
			}
			resp, page = n.totp(page, seed)
			n.done(wantSeeOther(t, "TOTP code after the end", resp, page, "/enrol/done"))
		})
		t.Run("expired activation code", func(t *testing.T) {
			late := e.registerPending(t, "erin", "Erin Late", "+447700900105")
			e.clock.Advance(e.cfg.ActivationTTL + time.Hour)
			resp, page := e.newEnrolment(t, "erin", "Erin Late", "+447700900105").activate(late)
			wantPage(t, "expired code", resp, page, "wrong, has expired or was already used")
		})
		t.Run("wrong codes from one address", func(t *testing.T) {
			b := e.newEnrolment(t, "nobody", "Nobody", phone)
			for i := range 40 {
				resp, page := b.activate("AAAA-BBBB-CCCC")
				if resp.StatusCode == http.StatusTooManyRequests {
					if i < 5 {
						t.Fatalf("429 after only %d wrong codes", i)
					}
					return
				}
				wantPage(t, "wrong code", resp, page, "wrong, has expired or was already used")
			}
			t.Fatal("40 wrong activation codes from one address were all checked")
		})
	})
}
