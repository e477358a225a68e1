package configs

import (
	"strings"
	"testing"
)

// TestSMSSenderChoice: the log sender works in development and is refused
// with production set; twilio needs its account and secret, which come
// from the environment, never from the file.
func TestSMSSenderChoice(t *testing.T) {
	t.Setenv(EnvHSMPIN, "1234")
	base := "hsm: {module: /m.so, token_label: t}\nstore: {dsn: x.db}\n"
	decode := func(yaml string) (*Config, error) { return Decode(strings.NewReader(base+yaml), t.TempDir()) }

	c, err := decode("sms: {sender: log}\n")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.NewSMSSender(nil); err != nil || s == nil {
		t.Fatalf("log sender in development: %v %v", s, err)
	}
	if _, err := decode("sms: {sender: log}\nproduction: true\n"); err == nil || !strings.Contains(err.Error(), "refused when production is set") {
		t.Fatalf("log sender in production: %v", err)
	}
	if _, err := decode("sms: {sender: carrier-pigeon}\n"); err == nil || !strings.Contains(err.Error(), "sms.sender") {
		t.Fatalf("unknown sender: %v", err)
	}
	if c, err := decode(""); err != nil {
		t.Fatal(err)
	} else if s, err := c.NewSMSSender(nil); err != nil || s != nil {
		t.Fatalf("no sender configured gave %v %v", s, err)
	}

	twilio := "sms: {sender: twilio, twilio: {account_sid: AC0123456789abcdef0123456789abcdef, from: '+15005550006'}}\n"
	if _, err := decode(twilio); err == nil || !strings.Contains(err.Error(), EnvTwilioAuthToken) {
		t.Fatalf("twilio without its auth token: %v", err)
	}
	t.Setenv(EnvTwilioAuthToken, "0123456789abcdef0123456789abcdef")
	c, err = decode(twilio)
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.SMS.TwilioConfig(); tc.AuthToken != "0123456789abcdef0123456789abcdef" || tc.From != "+15005550006" {
		t.Fatalf("twilio config %+v", tc)
	}
	if _, err := decode("sms: {sender: twilio, twilio: {account_sid: nope, from: '+15005550006'}}\n"); err == nil || !strings.Contains(err.Error(), "account_sid") {
		t.Fatalf("bad account SID: %v", err)
	}
}
