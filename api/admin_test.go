package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// adminCall sends an admin API request with an operator key (none if key is
// empty) and a JSON body (none if body is nil).
func (e *env) adminCall(t testing.TB, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	status, out, hdr := e.do(t, req)
	if hdr.Get("Cache-Control") != "no-store" && status != http.StatusNotFound {
		t.Errorf("%s %s: Cache-Control %q", method, path, hdr.Get("Cache-Control"))
	}
	return status, out
}

// operator registers an operator and returns its key.
func (e *env) operator(t testing.TB, name string) string {
	t.Helper()
	key, err := e.sam.CreateOperator(ctx, name, "test")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// auditEvents returns the audit entries of an event.
func (e *env) auditEvents(t testing.TB, event string) []store.AuditEntry {
	t.Helper()
	all, err := e.db.AuditEntries(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, a := range all {
		if a.Event == event {
			out = append(out, a)
		}
	}
	return out
}

// smsMatch reads what pattern captures from the last SMS to phone.
func (e *env) smsMatch(t testing.TB, phone string, pattern *regexp.Regexp) string {
	t.Helper()
	m, ok := e.twilio.Last(phone)
	if !ok {
		t.Fatalf("no SMS to %s", phone)
	}
	got := pattern.FindStringSubmatch(m.Body)
	if got == nil {
		t.Fatalf("SMS to %s has no code: %q", phone, m.Body)
	}
	return got[1]
}

var (
	activationSMS  = regexp.MustCompile(`activation code is ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\.`)
	phoneChangeSMS = regexp.MustCompile(`RSSP code ([0-9]{6,8}) to move`)
	maskedPhone    = regexp.MustCompile(`^\*+[0-9]{3}$`)
)

func TestAdminAuthentication(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		key := e.operator(t, "ops.ann")
		off := e.operator(t, "ops.off")
		if err := e.sam.SetOperatorStatus(ctx, "ops.off", store.StatusDisabled, "test"); err != nil {
			t.Fatal(err)
		}
		login := e.login(t, e.alice)
		tests := []struct {
			name   string
			header string
		}{
			{"no key", ""},
			{"unknown key", "Bearer " + sam.OperatorKeyPrefix + strings.Repeat("A", 43)},
			{"key without prefix", "Bearer " + strings.TrimPrefix(key, sam.OperatorKeyPrefix)},
			{"disabled operator", "Bearer " + off},
			{"Basic scheme", "Basic " + key},
			{"signer's access token", "Bearer " + login},
			{"empty bearer", "Bearer "},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, m := range []string{http.MethodGet, http.MethodPost} {
					req, _ := http.NewRequest(m, e.srv.URL+"/admin/v1/signers", strings.NewReader(`{}`))
					if tc.header != "" {
						req.Header.Set("Authorization", tc.header)
					}
					status, out, hdr := e.do(t, req)
					wantError(t, status, out, http.StatusUnauthorized, "invalid_token", "")
					if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
					}
				}
			})
		}
		if status, out := e.adminCall(t, http.MethodGet, "/admin/v1/signers", key, nil); status != 200 {
			t.Fatalf("good key: %d %v", status, out)
		}
		// An operator key is no CSC service token.
		status, out, _ := e.call(t, "/csc/v2/credentials/list", key, map[string]any{})
		wantError(t, status, out, http.StatusUnauthorized, "invalid_token", "")
		for _, k := range []string{key, off} {
			if strings.Contains(e.logs.String(), k) || strings.Contains(e.logs.String(), strings.TrimPrefix(k, sam.OperatorKeyPrefix)) {
				t.Error("an operator key appears in the server log")
			}
		}
	})
}

// TestAdminOff: without Deps.Admin the admin paths do not exist.
func TestAdminOff(t *testing.T) {
	srv := api.New(api.Config{}, api.Deps{Logger: slog.New(slog.DiscardHandler)})
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(m, "/admin/v1/signers", strings.NewReader(`{}`)))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s /admin/v1/signers without Admin: %d", m, rec.Code)
		}
	}
}

func TestAdminRegisterSigner(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		key := e.operator(t, "ops.ann")
		var codes []string

		// Printed: the code is in the answer, no SMS goes out.
		before := len(e.twilio.Messages())
		status, out := e.adminCall(t, http.MethodPost, "/admin/v1/signers", key, map[string]any{"username": "carol", "name": "Carol Example",
			"given_name": "Carol", "surname": "Example", "email": "carol@example.org", "phone": "+44 7700 900123", "activation": "print"})
		if status != http.StatusCreated || out["status"] != "pending" || out["username"] != "carol" {
			t.Fatalf("register print: %d %v", status, out)
		}
		act := out["activation"].(map[string]any)
		code, _ := act["code"].(string)
		if act["delivery"] != "print" || code == "" || act["sent_to"] != nil {
			t.Fatalf("print activation %v", act)
		}
		if exp, err := time.Parse(time.RFC3339, act["expires_at"].(string)); err != nil || exp.Sub(e.clock.Now()) < 71*time.Hour {
			t.Fatalf("expires_at %v: %v", act["expires_at"], err)
		}
		if n := len(e.twilio.Messages()); n != before {
			t.Fatalf("printed activation sent %d SMS", n-before)
		}
		codes = append(codes, code)
		sg, err := e.sam.Activate(ctx, code)
		if err != nil || sg.ID != out["id"] || sg.Status != store.StatusPending {
			t.Fatalf("the printed code does not activate carol: %+v %v", sg, err)
		}

		// By SMS: the code goes to the phone only.
		const davePhone = "+447700900124"
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers", key, map[string]any{"username": "dave", "name": "Dave Example",
			"phone": davePhone, "activation": "sms"})
		if status != http.StatusCreated || out["status"] != "pending" {
			t.Fatalf("register sms: %d %v", status, out)
		}
		daveID := out["id"].(string)
		act = out["activation"].(map[string]any)
		if act["delivery"] != "sms" || act["code"] != nil || act["sent_to"] != "**********124" {
			t.Fatalf("sms activation %v", act)
		}
		code = e.smsMatch(t, davePhone, activationSMS)
		codes = append(codes, code)
		if raw, _ := json.Marshal(out); strings.Contains(string(raw), code) || strings.Contains(string(raw), sam.NormalizeActivationCode(code)) {
			t.Fatal("the SMS activation code is in the answer")
		}

		// A new code by SMS replaces the first one.
		e.clock.Advance(time.Minute)
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+daveID+"/activation", key, map[string]any{"activation": "sms"})
		if status != 200 || out["delivery"] != "sms" || out["code"] != nil || !maskedPhone.MatchString(out["sent_to"].(string)) {
			t.Fatalf("reissue: %d %v", status, out)
		}
		second := e.smsMatch(t, davePhone, activationSMS)
		codes = append(codes, second)
		if _, err := e.sam.Activate(ctx, code); err == nil {
			t.Fatal("the replaced activation code still works")
		}
		if sg, err := e.sam.Activate(ctx, second); err != nil || sg.ID != daveID {
			t.Fatalf("the new code: %+v %v", sg, err)
		}

		// Refusals.
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers", key, map[string]any{"username": "carol", "name": "Carol Again",
			"phone": "+447700900125", "activation": "print"})
		wantError(t, status, out, http.StatusConflict, "invalid_request", "Username already exists")
		for name, tc := range map[string]struct {
			body map[string]any
			desc string
		}{
			"bad phone":      {map[string]any{"username": "erin", "name": "Erin", "phone": "07700 900126", "activation": "print"}, sam.ErrInvalidPhone.Description},
			"no phone":       {map[string]any{"username": "erin", "name": "Erin", "activation": "print"}, "Missing (or invalid type) string parameter phone"},
			"bad activation": {map[string]any{"username": "erin", "name": "Erin", "phone": "+447700900126", "activation": "email"}, "Invalid parameter activation"},
			"space in name":  {map[string]any{"username": "e rin", "name": "Erin", "phone": "+447700900126", "activation": "print"}, ""},
			"email a number": {map[string]any{"username": "erin", "name": "Erin", "phone": "+447700900126", "activation": "print", "email": 7}, "Invalid parameter email"},
		} {
			t.Run(name, func(t *testing.T) {
				status, out := e.adminCall(t, http.MethodPost, "/admin/v1/signers", key, tc.body)
				wantError(t, status, out, http.StatusBadRequest, "invalid_request", tc.desc)
			})
		}
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/nobody/activation", key, map[string]any{"activation": "print"})
		wantError(t, status, out, http.StatusNotFound, "invalid_request", "Unknown signer")

		// The list: phones masked, never in clear.
		status, out = e.adminCall(t, http.MethodGet, "/admin/v1/signers", key, nil)
		if status != 200 {
			t.Fatalf("list: %d %v", status, out)
		}
		byName := map[string]map[string]any{}
		for _, s := range out["signers"].([]any) {
			s := s.(map[string]any)
			byName[s["username"].(string)] = s
		}
		if c := byName["carol"]; c["status"] != "pending" || c["email"] != "carol@example.org" || c["phone"] != "**********123" {
			t.Fatalf("carol listed as %v", c)
		}
		if a := byName["alice"]; a["status"] != "active" || a["phone"] != "**********001" {
			t.Fatalf("alice listed as %v", a)
		}
		if raw, _ := json.Marshal(out); strings.Contains(string(raw), "900123") || strings.Contains(string(raw), davePhone) {
			t.Fatal("a phone number is listed in clear")
		}

		// Audited under the operator's name; no code in the log or the audit.
		if got := e.auditEvents(t, sam.EventSignerCreated); len(got) < 2 || got[len(got)-1].Actor != "ops.ann" {
			t.Fatalf("signer.created entries %+v", got)
		}
		if got := e.auditEvents(t, sam.EventActivationIssued); len(got) != 3 || got[2].Actor != "ops.ann" {
			t.Fatalf("activation.issued entries %+v", got)
		}
		all, _ := e.db.AuditEntries(ctx, 0, 100000)
		raw, _ := json.Marshal(all)
		for _, c := range codes {
			for _, s := range []string{c, sam.NormalizeActivationCode(c)} {
				if strings.Contains(e.logs.String(), s) || strings.Contains(string(raw), s) {
					t.Errorf("activation code %s is in the log or the audit", c)
				}
			}
		}
		if _, err := e.sam.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAdminPhoneChange(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		ann, ben := e.operator(t, "ops.ann"), e.operator(t, "ops.ben")

		t.Run("confirmed by the old number", func(t *testing.T) {
			const newPhone = "+447700900111"
			old := e.alice.Phone
			status, out := e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+e.alice.signerID+"/phone-changes", ann,
				map[string]any{"phone": newPhone, "confirm": "old_phone"})
			if status != http.StatusCreated || out["status"] != "pending" || out["sent_to"] != "**********001" || out["approvals"] != 0.0 {
				t.Fatalf("request: %d %v", status, out)
			}
			id := out["id"].(string)
			code := e.smsMatch(t, old, phoneChangeSMS)
			if strings.Contains(e.logs.String(), code) {
				t.Error("the confirmation code is in the server log")
			}
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/confirm", ann, map[string]any{"code": wrong})
			wantError(t, status, out, http.StatusBadRequest, "invalid_otp", "")
			if f, _ := e.db.Factor(ctx, e.alice.signerID, "", store.FactorSMS); f.Target != old {
				t.Fatalf("a wrong code changed the phone to %s", f.Target)
			}
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/confirm", ann, map[string]any{"code": code})
			if status != 200 || out["status"] != "applied" {
				t.Fatalf("confirm: %d %v", status, out)
			}
			if f, _ := e.db.Factor(ctx, e.alice.signerID, "", store.FactorSMS); f.Target != newPhone || f.Status != store.StatusActive {
				t.Fatalf("factor after the change: %+v", f)
			}
			if m, _ := e.twilio.Last(old); !strings.Contains(m.Body, "new phone number") || strings.Contains(m.Body, code) {
				t.Fatalf("the old number was not told: %q", m.Body)
			}
			// The code worked once.
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/confirm", ann, map[string]any{"code": code})
			wantError(t, status, out, http.StatusBadRequest, "invalid_otp", "")
		})

		t.Run("approved by two operators", func(t *testing.T) {
			const newPhone = "+447700900222"
			old := e.bob.Phone
			sent := len(e.twilio.Messages())
			status, out := e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+e.bob.signerID+"/phone-changes", ann,
				map[string]any{"phone": newPhone, "confirm": "operators"})
			if status != http.StatusCreated || out["approvals"] != 1.0 || out["sent_to"] != nil {
				t.Fatalf("request: %d %v", status, out)
			}
			if len(e.twilio.Messages()) != sent {
				t.Fatal("an operator-approved change sent a code")
			}
			id := out["id"].(string)
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/approve", ann, nil)
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", sam.ErrPhoneChange.Description)
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/confirm", ben, map[string]any{"code": "123456"})
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", sam.ErrPhoneChange.Description)
			if f, _ := e.db.Factor(ctx, e.bob.signerID, "", store.FactorSMS); f.Target != old {
				t.Fatalf("changed before the second approval: %s", f.Target)
			}
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/approve", ben, nil)
			if status != 200 || out["status"] != "applied" || out["approvals"] != 2.0 {
				t.Fatalf("second approval: %d %v", status, out)
			}
			if f, _ := e.db.Factor(ctx, e.bob.signerID, "", store.FactorSMS); f.Target != newPhone {
				t.Fatalf("factor after the change: %+v", f)
			}
			if m, ok := e.twilio.Last(old); !ok || !strings.Contains(m.Body, "new phone number") {
				t.Fatalf("the old number was not told: %q", m.Body)
			}
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/"+id+"/approve", ben, nil)
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", "")
		})

		t.Run("refusals", func(t *testing.T) {
			status, out := e.adminCall(t, http.MethodPost, "/admin/v1/phone-changes/nope/approve", ann, nil)
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", sam.ErrPhoneChange.Description)
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+e.bob.signerID+"/phone-changes", ann,
				map[string]any{"phone": "12", "confirm": "operators"})
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", sam.ErrInvalidPhone.Description)
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+e.bob.signerID+"/phone-changes", ann,
				map[string]any{"phone": "+447700900333", "confirm": "email"})
			wantError(t, status, out, http.StatusBadRequest, "invalid_request", "Invalid parameter confirm")
			status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/nobody/phone-changes", ann,
				map[string]any{"phone": "+447700900333", "confirm": "operators"})
			wantError(t, status, out, http.StatusNotFound, "invalid_request", "Unknown signer")
		})

		// Every step is audited under the operator who took it.
		var actors []string
		for _, a := range e.auditEvents(t, sam.EventPhoneChange) {
			var d map[string]any
			_ = json.Unmarshal([]byte(a.Details), &d)
			actors = append(actors, a.Actor+":"+a.Outcome+":"+d["action"].(string))
			if strings.Contains(a.Details, "+4477009") {
				t.Errorf("a phone number in clear in the audit: %s", a.Details)
			}
		}
		joined := strings.Join(actors, " ")
		for _, want := range []string{"ops.ann:ok:requested", "ops.ann:fail:approve", "ops.ben:ok:approved", "ops.ben:ok:applied"} {
			if !strings.Contains(joined, want) {
				t.Errorf("no %s in the phone change audit: %s", want, joined)
			}
		}
		if _, err := e.sam.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAdminFactorResetAndUnlock(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		key := e.operator(t, "ops.ann")
		token := e.login(t, e.alice)
		cred := e.alice.Credentials[0]
		authorize := func(pin string) (int, map[string]any) {
			e.clock.Advance(30 * time.Second)
			status, out, _ := e.call(t, "/csc/v2/credentials/authorize", token, map[string]any{"credentialID": cred.ID, "numSignatures": 1,
				"hashes": []string{b64(digest("reset"))}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
				"authData": []map[string]string{{"id": "PIN", "value": pin}, {"id": "OTP", "value": e.totp(e.alice, 0)}}})
			return status, out
		}
		if status, out := authorize(e.alice.PIN); status != 200 {
			t.Fatalf("authorize before the reset: %d %v", status, out)
		}

		// Unlock a PIN locked by failures.
		for range e.cfg.MaxFailures {
			authorize("bad-" + e.alice.PIN)
		}
		status, out := authorize(e.alice.PIN)
		wantError(t, status, out, http.StatusBadRequest, "invalid_request", "Credential locked")
		base := "/admin/v1/signers/" + e.alice.signerID + "/factors/"
		status, out = e.adminCall(t, http.MethodPost, base+"pin/unlock", key, nil)
		wantError(t, status, out, http.StatusBadRequest, "invalid_request", "Missing (or invalid type) string parameter credential_id")
		status, out = e.adminCall(t, http.MethodPost, base+"totp/unlock", key, map[string]any{"credential_id": cred.ID})
		wantError(t, status, out, http.StatusBadRequest, "invalid_request", "")
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/"+e.bob.signerID+"/factors/pin/unlock", key,
			map[string]any{"credential_id": cred.ID})
		wantError(t, status, out, http.StatusNotFound, "invalid_request", "")
		if status, out = e.adminCall(t, http.MethodPost, base+"pin/unlock", key, map[string]any{"credential_id": cred.ID}); status != 204 {
			t.Fatalf("unlock: %d %v", status, out)
		}
		if status, out = authorize(e.alice.PIN); status != 200 {
			t.Fatalf("authorize after unlock: %d %v", status, out)
		}

		// Reset the TOTP app: a right code no longer works.
		status, out = e.adminCall(t, http.MethodPost, base+"password/reset", key, nil)
		wantError(t, status, out, http.StatusBadRequest, "invalid_request", "")
		status, out = e.adminCall(t, http.MethodPost, "/admin/v1/signers/nobody/factors/totp/reset", key, nil)
		wantError(t, status, out, http.StatusNotFound, "invalid_request", "")
		if status, out = e.adminCall(t, http.MethodPost, base+"totp/reset", key, nil); status != 204 {
			t.Fatalf("reset: %d %v", status, out)
		}
		if status, out = authorize(e.alice.PIN); status == 200 {
			t.Fatalf("authorize with a reset TOTP app: %d %v", status, out)
		}
		f, err := e.db.Factor(ctx, e.alice.signerID, "", store.FactorTOTP)
		if err != nil || f.Status != store.StatusRevoked {
			t.Fatalf("TOTP factor after reset: %+v %v", f, err)
		}
		resets := e.auditEvents(t, sam.EventFactorReset)
		if len(resets) != 1 || resets[0].Actor != "ops.ann" || !strings.Contains(resets[0].Details, `"factor":"totp"`) ||
			!strings.Contains(resets[0].Details, e.alice.signerID) {
			t.Fatalf("factor.reset audit %+v", resets)
		}
		unlocks := 0
		for _, a := range e.auditEvents(t, sam.EventFactorSuccess) {
			if a.Actor == "ops.ann" && strings.Contains(a.Details, `"unlock"`) {
				unlocks++
			}
		}
		if unlocks != 1 {
			t.Fatalf("%d unlock audit entries by ops.ann", unlocks)
		}
		if _, err := e.sam.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
