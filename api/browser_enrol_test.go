package api_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openrssp/rssp/sam"
)

// TestBrowserEnrolment: Chromium, with JavaScript disabled and a phone's
// viewport, walks the enrolment pages of a signer registered with an SMS
// activation code: the code, password and PIN, the phone code, the QR page
// (the inline QR image must render under the page's policy), the first
// code of the authenticator app, and the done page naming the credential.
func TestBrowserEnrolment(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, "sqlite")
	const phone = "+447700900106"
	code := e.registerPending(t, "grace", "Grace Browser", phone)
	password, pin := "correct horse "+randomText(t, 8), "4711"+randomText(t, 4)

	b := newChromium(t, e, chromium)
	b.do("activation page", chromedp.Navigate(e.srv.URL+"/enrol"), chromedp.WaitVisible(chromedp.CSS("#code")))
	b.fitsPhone("activation")
	b.do("activate",
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS(`button[value="activate"]`)),
		chromedp.WaitVisible(chromedp.CSS("#pin2")))
	b.fitsPhone("password and PIN")

	e.clock.Advance(e.cfg.SMS.Cooldown + time.Second) // the activation SMS went out moments ago
	b.do("password and PIN",
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#password2"), password),
		chromedp.SendKeys(chromedp.CSS("#pin"), pin),
		chromedp.SendKeys(chromedp.CSS("#pin2"), pin),
		chromedp.Click(chromedp.CSS(`button[value="save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="resend"]`)))
	if got := b.text("#sent"); !strings.Contains(got, sam.MaskPhone(phone)) {
		t.Errorf("phone page: %q, want the masked number %s", got, sam.MaskPhone(phone))
	}
	b.fitsPhone("phone")
	b.do("phone code",
		chromedp.SendKeys(chromedp.CSS("#code"), e.lastSMS(t, phone, enrolPhoneCodeRe)),
		chromedp.Click(chromedp.CSS(`button[value="confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS("#qr")))

	// The QR code renders: the image loaded under the page's policy (a
	// blocked data: image has no natural width), and it is a PNG that fits.
	w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`(() => { const i = document.getElementById("qr"); return i.complete ? i.naturalWidth : -1 })()`))
	if err != nil || w < 150 {
		t.Fatalf("QR image natural width %d (%v): not rendered", w, err)
	}
	src, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("#qr"), "src"))
	if err != nil || !strings.HasPrefix(src.Value, "data:image/png;base64,") {
		t.Fatalf("QR image source %.40q (%v)", src.Value, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src.Value, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("the QR image is not a PNG: %v", err)
	}
	b.fitsPhone("authenticator app")
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := artefactPath(t, "browser-enrol-totp.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("TOTP page screenshot: %s", path)

	// The signer's app: the key as shown on the page.
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(b.text("#secret"), " ", ""))
	if err != nil || len(seed) != 20 {
		t.Fatalf("TOTP key on the page: %v", err)
	}
	b.do("first code",
		chromedp.SendKeys(chromedp.CSS("#otp"), hotp(seed, e.clock.Now().Unix()/30)),
		chromedp.Click(chromedp.CSS(`button[value="confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS("#done")))
	b.fitsPhone("done")
	if got := b.text("#done"); got != "Your signing credential is ready" {
		t.Errorf("done page heading %q", got)
	}
	sg, err := e.db.SignerByUsername(ctx, "grace")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := e.db.CredentialsOf(ctx, sg.ID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials of the enrolled signer: %v %v", creds, err)
	}
	if got := b.text("#credential"); got != creds[0].ID {
		t.Errorf("done page credential %q, want %s", got, creds[0].ID)
	}
	if got := b.text("#subject"); !strings.Contains(got, "CN=Grace Browser") {
		t.Errorf("done page subject %q", got)
	}
	// The new password works.
	e.login(t, account{Username: "grace", Password: password})
}
