package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverLogged drives logins, refreshes, authorizations (good and
// bad) and signatures, then looks for every secret the client sent or
// received in the server's log output, which runs at debug level.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, "sqlite")
	a := e.alice
	secrets := map[string]string{"password": a.Password, "PIN": a.PIN}

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/csc/v1/auth/login", strings.NewReader(`{"rememberMe":true}`))
	req.SetBasicAuth(a.Username, a.Password)
	status, out, _ := e.do(t, req)
	if status != 200 {
		t.Fatalf("login: %d %v", status, out)
	}
	secrets["access token"], secrets["refresh token"] = out["access_token"].(string), out["refresh_token"].(string)
	status, out, _ = e.call(t, "/csc/v1/auth/login", "", map[string]any{"refresh_token": secrets["refresh token"]})
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, out)
	}
	token := out["access_token"].(string)
	secrets["rotated access token"], secrets["rotated refresh token"] = token, out["refresh_token"].(string)
	// A wrong password and a wrong PIN also pass through the log path.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/csc/v1/auth/login", nil)
	req.SetBasicAuth(a.Username, "wrong-"+a.Password)
	e.do(t, req)

	cred := a.Credentials[0]
	h := digest("secrets")
	otp := e.totp(a, 0)
	secrets["OTP"] = otp
	e.call(t, "/csc/v2/credentials/authorize", token, map[string]any{"credentialID": cred.ID, "numSignatures": 1,
		"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
		"authData": []map[string]string{{"id": "PIN", "value": "bad-" + a.PIN}, {"id": "OTP", "value": otp}}})
	e.clock.Advance(30 * time.Second)
	otp = e.totp(a, 0)
	secrets["second OTP"] = otp
	status, out, _ = e.call(t, "/csc/v2/credentials/authorize", token, map[string]any{"credentialID": cred.ID, "numSignatures": 1,
		"hashes": []string{b64(h)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
		"authData": []map[string]string{{"id": "PIN", "value": a.PIN}, {"id": "OTP", "value": otp}}})
	if status != 200 {
		t.Fatalf("authorize: %d %v", status, out)
	}
	secrets["SAD"] = out["SAD"].(string)
	status, out, _ = e.call(t, "/csc/v2/signatures/signHash", token, map[string]any{"credentialID": cred.ID, "SAD": secrets["SAD"],
		"hashes": []string{b64(h)}, "signAlgo": "1.2.840.113549.1.1.11"})
	if status != 200 {
		t.Fatalf("signHash: %d %v", status, out)
	}
	resp, err := e.client.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `csc_signatures_total{algorithm="1.2.840.113549.1.1.11"} 1`) {
		t.Errorf("signatures per algorithm not counted:\n%s", metrics)
	}
	// Replay: a refusal whose cause is logged.
	e.call(t, "/csc/v2/signatures/signHash", token, map[string]any{"credentialID": cred.ID, "SAD": secrets["SAD"],
		"hashes": []string{b64(h)}, "signAlgo": "1.2.840.113549.1.1.11"})
	status, _, _ = e.call(t, "/csc/v2/auth/revoke", token, map[string]any{"token": secrets["rotated refresh token"]})
	if status != 204 {
		t.Fatalf("revoke: %d", status)
	}

	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"/csc/v2/signatures/signHash"`) || !strings.Contains(logs, `"error":"invalid_authentication_data"`) {
		t.Fatalf("the log does not show the requests and refusals it should:\n%s", logs)
	}
	for name, v := range secrets {
		if v == "" {
			t.Fatalf("secret %s not captured", name)
		}
		if strings.Contains(logs, v) {
			t.Errorf("the %s appears in the server log", name)
		}
	}
}
