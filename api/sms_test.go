package api_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/sam/sms"
)

// TestOAuthApprovalBySMS: on the approval page the signer asks for a code by
// SMS instead of using the authenticator app; the SMS names the client,
// the number of documents and the first document's fingerprint; the code
// approves exactly this request, and the credential token signs.
func TestOAuthApprovalBySMS(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		registerWebClient(t, e)
		cred := e.alice.Credentials[0]
		h1, h2 := digest("sms approved 1"), digest("sms approved 2")
		verifier, challenge := pkcePair(t)
		q := url.Values{"response_type": {"code"}, "client_id": {flowClientID}, "redirect_uri": {flowRedirect},
			"scope": {"credential"}, "credentialID": {cred.ID}, "numSignatures": {"2"},
			"hashes":           {base64.RawURLEncoding.EncodeToString(h1) + "," + base64.RawURLEncoding.EncodeToString(h2)},
			"hashAlgorithmOID": {"2.16.840.1.101.3.4.2.1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"sms"}}

		b := newBrowser(t, e)
		otpPage := func() string {
			consent := loginAndConsent(b, e.srv.URL+"/oauth2/authorize?"+q.Encode(), e.alice)
			f := fields(consent)
			f.Set("action", "approve")
			resp, page := b.do(http.MethodPost, "/oauth2/consent", f)
			if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
				t.Fatalf("consent: %d %s", resp.StatusCode, page)
			}
			_, page = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
			return page
		}
		page := otpPage()
		if !strings.Contains(page, `value="sms"`) || !strings.Contains(page, "*********001") {
			t.Fatalf("the OTP page does not offer an SMS to the masked number: %s", page)
		}
		f := fields(page)
		f.Set("action", "sms")
		resp, page := b.do(http.MethodPost, "/oauth2/otp", f)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "We sent a code by SMS") {
			t.Fatalf("send SMS: %d %s", resp.StatusCode, page)
		}
		msg, ok := e.twilio.Last(e.alice.Phone)
		if !ok {
			t.Fatal("no SMS reached the fake Twilio")
		}
		if fp := sms.Fingerprint(h1); !strings.Contains(msg.Body, "Web SCA") || !strings.Contains(msg.Body, "2 documents") || !strings.Contains(msg.Body, fp) {
			t.Fatalf("the SMS does not say what it approves (client, count, fingerprint %s): %q", fp, msg.Body)
		}
		code := e.smsCode(t, e.alice.Phone)
		if strings.Contains(page, code) {
			t.Fatal("the page shows the SMS code")
		}
		// Asking again at once is refused politely (cooldown) and sends nothing.
		n := len(e.twilio.Messages())
		resp, page = b.do(http.MethodPost, "/oauth2/otp", f)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Wait a little") || len(e.twilio.Messages()) != n {
			t.Fatalf("resend inside the cooldown: %d %s", resp.StatusCode, page)
		}
		// A TOTP code is not what the page waits for now: refused.
		f.Set("action", "approve")
		e.clock.Advance(30 * time.Second)
		f.Set("otp", e.totp(e.alice, 0))
		if resp, page = b.do(http.MethodPost, "/oauth2/otp", f); resp.StatusCode != http.StatusOK || !strings.Contains(page, "The code is wrong") {
			t.Fatalf("TOTP code after an SMS was sent: %d %s", resp.StatusCode, page)
		}
		f.Set("otp", code)
		resp, page = b.do(http.MethodPost, "/oauth2/otp", f)
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			t.Fatalf("approve with the SMS code: %d %s", resp.StatusCode, page)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		status, out := e.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
		if status != 200 || out["credentialID"] != cred.ID {
			t.Fatalf("token: %d %v", status, out)
		}
		status, out, _ = e.call(t, "/csc/v2/signatures/signHash", out["access_token"].(string), map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(h1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"})
		if status != 200 {
			t.Fatalf("signHash with the SMS-approved token: %d %v", status, out)
		}
		if strings.Contains(e.logs.String(), code) {
			t.Error("the SMS code appears in the server log")
		}
	})
}

// approveWithSMS walks the signer's pages for the authorization request in
// query, asks for a code by SMS on the OTP page, enters it and returns the
// redirect to the client.
func (b *browser) approveWithSMS(query url.Values, a account) *url.URL {
	b.t.Helper()
	consent := loginAndConsent(b, b.e.srv.URL+"/oauth2/authorize?"+query.Encode(), a)
	f := fields(consent)
	f.Set("action", "approve")
	resp, page := b.do(http.MethodPost, "/oauth2/consent", f)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		b.t.Fatalf("consent: %d %s", resp.StatusCode, page)
	}
	_, page = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	f = fields(page)
	f.Set("action", "sms")
	b.e.clock.Advance(b.e.cfg.SMS.Cooldown + time.Second)
	if resp, page = b.do(http.MethodPost, "/oauth2/otp", f); resp.StatusCode != http.StatusOK || !strings.Contains(page, "We sent a code by SMS") {
		b.t.Fatalf("send SMS: %d %s", resp.StatusCode, page)
	}
	f.Set("action", "approve")
	f.Set("otp", b.e.smsCode(b.t, a.Phone))
	resp, page = b.do(http.MethodPost, "/oauth2/otp", f)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		b.t.Fatalf("approve with the SMS code: %d %s", resp.StatusCode, page)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// TestSMSLimits: per-signer limits over the explicit API (429), an SCAL2
// code request without hashes, and codes never in responses or logs.
func TestSMSLimits(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		tok := e.login(t, e.alice)
		cred := e.alice.Credentials[0]
		send := func(h []byte) (int, map[string]any) {
			status, out, _ := e.call(t, "/csc/v2/credentials/getChallenge", tok, map[string]any{"credentialID": cred.ID, "authObjectID": "SMS",
				"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"})
			return status, out
		}
		var codes []string
		for i := range e.cfg.SMS.PerSigner {
			e.clock.Advance(e.cfg.SMS.Cooldown + time.Second)
			if status, out := send(digest("doc " + string(rune('a'+i)))); status != 204 {
				t.Fatalf("code %d: %d %v", i, status, out)
			}
			codes = append(codes, e.smsCode(t, e.alice.Phone))
		}
		e.clock.Advance(e.cfg.SMS.Cooldown + time.Second)
		status, out := send(digest("one too many"))
		wantError(t, status, out, 429, "temporarily_unavailable", "Too many codes were sent; try again later")
		// The window passes: codes can be sent again.
		e.clock.Advance(e.cfg.SMS.Window)
		tok = e.login(t, e.alice)
		if status, out := send(digest("next hour")); status != 204 {
			t.Fatalf("after the window: %d %v", status, out)
		}
		// SCAL2: a code is bound to hashes, so asking without them is refused.
		status, out, _ = e.call(t, "/csc/v1/credentials/sendOTP", tok, map[string]any{"credentialID": cred.ID})
		wantError(t, status, out, 400, "invalid_request", "Missing (or invalid type) array parameter hash")
		// Bob cannot have a code sent for Alice's credential.
		status, out, _ = e.call(t, "/csc/v2/credentials/sendOTP", e.login(t, e.bob), map[string]any{"credentialID": cred.ID,
			"hashes": []string{b64(digest("x"))}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"})
		wantError(t, status, out, 400, "invalid_request", "Invalid parameter credentialID")
		for _, c := range codes {
			if strings.Contains(e.logs.String(), c) {
				t.Errorf("code %s in the server log", c)
			}
		}
	})
}

// TestSMSProviderFailure: Twilio refusing the message gives a clear 503,
// never a code, and the code that was made cannot be used.
func TestSMSProviderFailure(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		tok := e.login(t, e.alice)
		cred := e.alice.Credentials[0]
		e.twilio.FailNext(400, 21610, "Attempt to send to unsubscribed recipient")
		h := digest("provider fails")
		status, out, _ := e.call(t, "/csc/v1/credentials/sendOTP", tok, map[string]any{"credentialID": cred.ID, "hash": []string{b64(h)}})
		wantError(t, status, out, 503, "temporarily_unavailable", "The code could not be sent; try again later")
		if len(e.twilio.Messages()) != 0 {
			t.Fatal("a message was recorded although the provider refused it")
		}
		// No outstanding code: an OTP now is a TOTP code as usual.
		e.clock.Advance(30 * time.Second)
		status, out, _ = e.call(t, "/csc/v1/credentials/authorize", tok, map[string]any{"credentialID": cred.ID, "numSignatures": 1,
			"hash": []string{b64(h)}, "PIN": e.alice.PIN, "OTP": e.totp(e.alice, 0)})
		if status != 200 {
			t.Fatalf("TOTP after a failed SMS: %d %v", status, out)
		}
	})
}

// TestInfoDescribesFactors: credentials/info names the second factors the
// signer has: both (v2 "PIN AND (OTP OR SMS)", v1 the offline TOTP), and
// after the authenticator app was reset the SMS alone (v2 "PIN AND SMS",
// v1 an online OTP that the client asks for with sendOTP).
func TestInfoDescribesFactors(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		cred := e.alice.Credentials[0]
		info := func(v string) map[string]any {
			t.Helper()
			status, out, _ := e.call(t, "/csc/"+v+"/credentials/info", e.login(t, e.alice), map[string]any{"credentialID": cred.ID, "authInfo": true})
			if status != 200 {
				t.Fatalf("%s info: %d %v", v, status, out)
			}
			return out
		}
		if got := info("v2")["auth"].(map[string]any)["expression"]; got != "PIN AND (OTP OR SMS)" {
			t.Fatalf("v2 expression with both factors: %v", got)
		}
		if otp := info("v1")["OTP"].(map[string]any); otp["type"] != "offline" || otp["provider"] != "totp" {
			t.Fatalf("v1 OTP with both factors: %v", otp)
		}
		if err := e.sam.ResetFactor(ctx, e.alice.signerID, "totp", "operator"); err != nil {
			t.Fatal(err)
		}
		auth := info("v2")["auth"].(map[string]any)
		if auth["expression"] != "PIN AND SMS" {
			t.Fatalf("v2 expression with SMS only: %v", auth["expression"])
		}
		var ids []string
		for _, o := range auth["objects"].([]any) {
			obj := o.(map[string]any)
			ids = append(ids, obj["id"].(string)+":"+obj["type"].(string))
		}
		if strings.Join(ids, ",") != "PIN:Password,SMS:ChallengeResponse" {
			t.Fatalf("v2 auth objects with SMS only: %v", ids)
		}
		if otp := info("v1")["OTP"].(map[string]any); otp["type"] != "online" || otp["ID"] != "SMS" || otp["presence"] != "true" {
			t.Fatalf("v1 OTP with SMS only: %v", otp)
		}
	})
}
