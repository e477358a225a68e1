package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/sam/sms/smstest"
)

const (
	signerPhone = "+447700900123"
	senderPhone = "+15005550006"
	serviceSID  = "MG0123456789abcdef0123456789abcdef"
	testCode    = "428713"
)

// twilioFor returns a Twilio sender aimed at the fake, through a client that
// refuses every non-loopback host.
func twilioFor(t *testing.T, f *smstest.Fake, mutate func(*sms.TwilioConfig)) *sms.Twilio {
	t.Helper()
	cfg := sms.TwilioConfig{
		AccountSID: f.AccountSID,
		AuthToken:  f.AuthToken,
		From:       senderPhone,
		BaseURL:    f.URL,
		HTTPClient: f.Client(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	tw, err := sms.NewTwilio(cfg)
	if err != nil {
		t.Fatalf("NewTwilio: %v", err)
	}
	return tw
}

func approval() sms.Message {
	return sms.Message{To: signerPhone, Body: sms.ApprovalText(testCode, "Example SCA", 2, "1F41 251B")}
}

func TestTwilioSend(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(f *smstest.Fake) func(*sms.TwilioConfig)
		wantFrom    string
		wantService string
		wantUser    func(f *smstest.Fake) string
	}{
		{
			name:     "auth token and from number",
			mutate:   func(*smstest.Fake) func(*sms.TwilioConfig) { return nil },
			wantFrom: senderPhone,
			wantUser: func(f *smstest.Fake) string { return f.AccountSID },
		},
		{
			name: "messaging service",
			mutate: func(*smstest.Fake) func(*sms.TwilioConfig) {
				return func(c *sms.TwilioConfig) { c.From, c.MessagingServiceSID = "", serviceSID }
			},
			wantService: serviceSID,
			wantUser:    func(f *smstest.Fake) string { return f.AccountSID },
		},
		{
			name: "API key",
			mutate: func(f *smstest.Fake) func(*sms.TwilioConfig) {
				return func(c *sms.TwilioConfig) { c.AuthToken, c.APIKey, c.APISecret = "", f.APIKey, f.APISecret }
			},
			wantFrom: senderPhone,
			wantUser: func(f *smstest.Fake) string { return f.APIKey },
		},
		{
			name: "base URL with trailing slash",
			mutate: func(f *smstest.Fake) func(*sms.TwilioConfig) {
				return func(c *sms.TwilioConfig) { c.BaseURL = f.URL + "/" }
			},
			wantFrom: senderPhone,
			wantUser: func(f *smstest.Fake) string { return f.AccountSID },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := smstest.NewFakeTwilio(t)
			tw := twilioFor(t, f, tc.mutate(f))
			m := approval()
			if err := tw.Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got, ok := f.Last(signerPhone)
			if !ok {
				t.Fatalf("no message recorded for %s; all: %+v", signerPhone, f.Messages())
			}
			if got.To != signerPhone || got.Body != m.Body || got.From != tc.wantFrom ||
				got.MessagingServiceSID != tc.wantService {
				t.Errorf("recorded %+v, want To=%s From=%q Service=%q Body=%q", got, signerPhone, tc.wantFrom, tc.wantService, m.Body)
			}
			if got.AccountSID != f.AccountSID {
				t.Errorf("account in path = %q, want %q", got.AccountSID, f.AccountSID)
			}
			if want := tc.wantUser(f); got.Username != want {
				t.Errorf("Basic auth user = %q, want %q", got.Username, want)
			}
			if !strings.HasPrefix(got.Sid, "SM") || len(f.Messages()) != 1 {
				t.Errorf("sid %q, %d messages", got.Sid, len(f.Messages()))
			}
		})
	}
}

// TWILIO_EDGE/TWILIO_REGION would make twilio-go's default request handler
// rewrite the host; the sender must not be affected.
func TestTwilioIgnoresEdgeEnvironment(t *testing.T) {
	t.Setenv("TWILIO_EDGE", "dublin")
	t.Setenv("TWILIO_REGION", "ie1")
	f := smstest.NewFakeTwilio(t)
	if err := twilioFor(t, f, nil).Send(t.Context(), approval()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, ok := f.Last(signerPhone); !ok {
		t.Fatal("message not recorded")
	}
}

func TestTwilioProviderFailure(t *testing.T) {
	tests := []struct {
		name         string
		status, code int
	}{
		{"invalid To", http.StatusBadRequest, 21211},
		{"unsubscribed recipient", http.StatusBadRequest, 21610},
		{"rate limited", http.StatusTooManyRequests, 20429},
		{"server error", http.StatusInternalServerError, 20500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := smstest.NewFakeTwilio(t)
			tw := twilioFor(t, f, nil)
			m := approval()
			// A provider message that echoes the request must not leak either.
			f.FailNext(tc.status, tc.code, "cannot deliver: "+m.Body)
			err := tw.Send(t.Context(), m)
			if err == nil {
				t.Fatal("Send succeeded, want error")
			}
			want := fmt.Sprintf("sms: twilio refused the message (status %d, code %d)", tc.status, tc.code)
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			assertNoSecret(t, err, m.Body, testCode)
			var pe *sms.ProviderError
			if !errors.As(err, &pe) || pe.Status != tc.status || pe.Code != tc.code || pe.Provider != "twilio" {
				t.Errorf("ProviderError = %+v", pe)
			}
			if len(f.Messages()) != 0 {
				t.Errorf("failed message was recorded")
			}
			// The failure is one-shot.
			if err := tw.Send(t.Context(), m); err != nil {
				t.Errorf("second Send: %v", err)
			}
		})
	}
}

func TestTwilioWrongCredentials(t *testing.T) {
	f := smstest.NewFakeTwilio(t)
	tw := twilioFor(t, f, func(c *sms.TwilioConfig) { c.AuthToken = strings.Repeat("0", 32) })
	err := tw.Send(t.Context(), approval())
	var pe *sms.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Code != 20003 {
		t.Fatalf("err = %v, want 401/20003", err)
	}
	assertNoSecret(t, err, testCode, strings.Repeat("0", 32))
}

// A gateway answering HTML (not Twilio's JSON) gives a transport-level
// error that still carries nothing from the message.
func TestTwilioNonJSONFailure(t *testing.T) {
	var mu sync.Mutex
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		gotBody = r.PostForm.Get("Body")
		mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>bad gateway %s</html>", r.PostForm.Get("Body"))
	}))
	t.Cleanup(srv.Close)
	f := smstest.NewFakeTwilio(t)
	tw := twilioFor(t, f, func(c *sms.TwilioConfig) { c.BaseURL = srv.URL })
	err := tw.Send(t.Context(), approval())
	if err == nil {
		t.Fatal("Send succeeded, want error")
	}
	mu.Lock()
	defer mu.Unlock()
	if gotBody == "" {
		t.Fatal("request did not reach the gateway")
	}
	assertNoSecret(t, err, testCode, gotBody)
	if !strings.HasPrefix(err.Error(), "sms: twilio request failed: ") {
		t.Errorf("error = %q", err)
	}
}

func TestTwilioRefusesInvalidDestination(t *testing.T) {
	for _, to := range []string{
		"", "447700900123", "+44 7700 900123", "+0447700900123", "+4477009001234567",
		"+123", "+44770090012a", "tel:+447700900123", "whatsapp:+447700900123", "+447700900123\n",
	} {
		t.Run(fmt.Sprintf("%q", to), func(t *testing.T) {
			f := smstest.NewFakeTwilio(t)
			err := twilioFor(t, f, nil).Send(t.Context(), sms.Message{To: to, Body: "RSSP code " + testCode})
			if !errors.Is(err, sms.ErrInvalidNumber) {
				t.Fatalf("err = %v, want ErrInvalidNumber", err)
			}
			if n := f.Requests(); n != 0 {
				t.Errorf("%d requests reached the provider", n)
			}
			assertNoSecret(t, err, testCode)
		})
	}
}

func TestTwilioContext(t *testing.T) {
	t.Run("cancelled before sending", func(t *testing.T) {
		f := smstest.NewFakeTwilio(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := twilioFor(t, f, nil).Send(ctx, approval()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if f.Requests() != 0 {
			t.Error("request made with a cancelled context")
		}
	})
	t.Run("deadline aborts a hanging provider", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		f := smstest.NewFakeTwilio(t)
		tw := twilioFor(t, f, func(c *sms.TwilioConfig) { c.BaseURL = srv.URL })
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := tw.Send(ctx, approval())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Send took %v; the context did not reach the request", d)
		}
	})
}

// With no BaseURL the sender aims at api.twilio.com; the test client refuses
// it, which proves both the default and that tests cannot leave the host.
func TestTwilioDefaultTargetsTwilioButTestsStayLocal(t *testing.T) {
	f := smstest.NewFakeTwilio(t)
	tw := twilioFor(t, f, func(c *sms.TwilioConfig) { c.BaseURL = "" })
	err := tw.Send(t.Context(), approval())
	if err == nil || !strings.Contains(err.Error(), `refusing non-loopback host "api.twilio.com"`) {
		t.Fatalf("err = %v, want refusal of api.twilio.com", err)
	}
	assertNoSecret(t, err, testCode)
}

func TestTwilioConcurrentSends(t *testing.T) {
	f := smstest.NewFakeTwilio(t)
	tw := twilioFor(t, f, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			to := fmt.Sprintf("+4477009001%02d", i)
			errs <- tw.Send(t.Context(), sms.Message{To: to, Body: sms.ApprovalText(fmt.Sprintf("%06d", i), "Example SCA", 1, "ABCD 0123")})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(f.Messages()); n != 20 {
		t.Errorf("%d messages recorded, want 20", n)
	}
	if m, ok := f.Last("+447700900107"); !ok || !strings.Contains(m.Body, "000007") {
		t.Errorf("Last = %+v, %v", m, ok)
	}
}

func TestTwilioConfigValidate(t *testing.T) {
	const (
		acct   = "AC0123456789abcdef0123456789abcdef"
		token  = "0123456789abcdef0123456789abcdef"
		key    = "SK0123456789abcdef0123456789abcdef"
		secret = "s3cretS3cretS3cretS3cretS3cret00"
	)
	good := sms.TwilioConfig{AccountSID: acct, AuthToken: token, From: senderPhone}
	tests := []struct {
		name    string
		mutate  func(*sms.TwilioConfig)
		wantErr string // substring; "" means valid
	}{
		{"token and from", func(*sms.TwilioConfig) {}, ""},
		{"API key and service", func(c *sms.TwilioConfig) {
			c.AuthToken, c.APIKey, c.APISecret, c.From, c.MessagingServiceSID = "", key, secret, "", serviceSID
		}, ""},
		{"https base URL", func(c *sms.TwilioConfig) { c.BaseURL = "https://twilio-proxy.example.net/prefix" }, ""},
		{"http loopback base URL", func(c *sms.TwilioConfig) { c.BaseURL = "http://127.0.0.1:8080" }, ""},
		{"http localhost base URL", func(c *sms.TwilioConfig) { c.BaseURL = "http://localhost:8080" }, ""},
		{"http IPv6 loopback base URL", func(c *sms.TwilioConfig) { c.BaseURL = "http://[::1]:8080" }, ""},
		{"missing account", func(c *sms.TwilioConfig) { c.AccountSID = "" }, "account_sid"},
		{"malformed account", func(c *sms.TwilioConfig) { c.AccountSID = "ACtest" }, "account_sid"},
		{"no credentials", func(c *sms.TwilioConfig) { c.AuthToken = "" }, "auth_token or api_key/api_secret is required"},
		{"token and key", func(c *sms.TwilioConfig) { c.APIKey, c.APISecret = key, secret }, "not both"},
		{"key without secret", func(c *sms.TwilioConfig) { c.AuthToken, c.APIKey = "", key }, "api_secret"},
		{"secret without key", func(c *sms.TwilioConfig) { c.AuthToken, c.APISecret = "", secret }, "api_key"},
		{"malformed key", func(c *sms.TwilioConfig) { c.AuthToken, c.APIKey, c.APISecret = "", "SKshort", secret }, "api_key"},
		{"token with symbols", func(c *sms.TwilioConfig) { c.AuthToken = "tok:en/with+symbols" }, "auth_token"},
		{"no sender", func(c *sms.TwilioConfig) { c.From = "" }, "from or messaging_service_sid is required"},
		{"from and service", func(c *sms.TwilioConfig) { c.MessagingServiceSID = serviceSID }, "not both"},
		{"from not E.164", func(c *sms.TwilioConfig) { c.From = "0044 7700 900123" }, "from: not an E.164"},
		{"alphanumeric from", func(c *sms.TwilioConfig) { c.From = "RSSP" }, "from: not an E.164"},
		{"malformed service", func(c *sms.TwilioConfig) { c.From, c.MessagingServiceSID = "", "MGxyz" }, "messaging_service_sid"},
		{"http non-loopback base URL", func(c *sms.TwilioConfig) { c.BaseURL = "http://fake.example.net" }, "loopback"},
		{"relative base URL", func(c *sms.TwilioConfig) { c.BaseURL = "/twilio" }, "base_url"},
		{"base URL with credentials", func(c *sms.TwilioConfig) { c.BaseURL = "https://u:p@example.net" }, "base_url"},
		{"ftp base URL", func(c *sms.TwilioConfig) { c.BaseURL = "ftp://127.0.0.1" }, "base_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "sms: twilio config: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			// Secrets are never echoed.
			for _, s := range []string{cfg.AuthToken, cfg.APISecret} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a secret", err)
				}
			}
			if _, nerr := sms.NewTwilio(cfg); nerr == nil {
				t.Error("NewTwilio accepted an invalid config")
			}
		})
	}
}

func TestApprovalText(t *testing.T) {
	long := strings.Repeat("Very Long Client Name ", 10)[:200]
	tests := []struct {
		name        string
		code        string
		client      string
		documents   int
		fingerprint string
		want        string   // exact text, if set
		contains    []string // substrings, if set
		absent      []string
		wantLen     int // exact length, if set
	}{
		{
			name: "example", code: "123456", client: "Example SCA", documents: 2, fingerprint: "1F41 251B",
			want: "RSSP code 123456 to approve 2 documents for Example SCA (first document 1F41 251B). Never share this code.",
		},
		{
			name: "one document", code: "12345678", client: "Example SCA", documents: 1, fingerprint: "1F41 251B",
			want: "RSSP code 12345678 to approve 1 document for Example SCA (document 1F41 251B). Never share this code.",
		},
		{
			name: "no fingerprint", code: "123456", client: "Example SCA", documents: 3,
			want: "RSSP code 123456 to approve 3 documents for Example SCA. Never share this code.",
		},
		{
			name: "no documents", code: "123456", client: "Example SCA", documents: 0,
			want: "RSSP code 123456 to approve a signature for Example SCA. Never share this code.",
		},
		{
			name: "empty client name", code: "123456", client: " \t\n", documents: 1, fingerprint: "ABCD EF01",
			want: "RSSP code 123456 to approve 1 document for an unnamed client (document ABCD EF01). Never share this code.",
		},
		{
			name: "200-character client name", code: "12345678", client: long, documents: 1000, fingerprint: "1F41 251B",
			contains: []string{"RSSP code 12345678 ", "1000 documents", "for Very Long Client Name", "... (first document 1F41 251B). Never share this code."},
			wantLen:  sms.MaxSMSLength,
		},
		{
			name: "accents are dropped", code: "123456", client: "Société Générale Zürich Øresund", documents: 1, fingerprint: "1F41 251B",
			contains: []string{"for Societe Generale Zurich resund (document"},
		},
		{
			name: "emoji, CJK and bidi controls are stripped", code: "123456", client: "Bank 🚀 銀行 \u202eevil\u202c", documents: 1,
			contains: []string{"for Bank evil. Never"},
		},
		{
			name: "newlines cannot fake a second line", code: "123456", client: "Good Bank\r\nRSSP: code is for LOGIN\x00\x1b[31m", documents: 1,
			contains: []string{"for Good Bank RSSP: code is for LOGIN31m."},
			absent:   []string{"\n", "\r", "\x00", "\x1b", "["},
		},
		{
			name: "GSM-7 extension characters are stripped", code: "123456", client: "A{B}[C]|D~E^F\\G`H", documents: 1,
			contains: []string{"for ABCDEFGH."},
		},
		{
			name: "long Unicode client name", code: "123456", client: strings.Repeat("Ünïcödé ", 40), documents: 2, fingerprint: "1F41 251B",
			contains: []string{"for Unicode Unicode", "..."},
			wantLen:  sms.MaxSMSLength,
		},
		{
			name: "fingerprint is sanitised and bounded", code: "123456", client: "X", documents: 1,
			fingerprint: "1F41\n251B)<script> " + strings.Repeat("A", 50),
			contains:    []string{"(document 1F41251Bscript AAAAAAAAA). Never"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sms.ApprovalText(tc.code, tc.client, tc.documents, tc.fingerprint)
			if tc.want != "" && got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Errorf("%q does not contain %q", got, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(got, s) {
					t.Errorf("%q contains %q", got, s)
				}
			}
			if tc.wantLen != 0 && len(got) != tc.wantLen {
				t.Errorf("length %d, want %d: %q", len(got), tc.wantLen, got)
			}
			checkApprovalInvariants(t, got, tc.code)
		})
	}
}

func checkApprovalInvariants(t *testing.T, text, code string) {
	t.Helper()
	if len(text) > sms.MaxSMSLength {
		t.Errorf("length %d > %d: %q", len(text), sms.MaxSMSLength, text)
	}
	if !strings.HasPrefix(text, "RSSP code "+code+" to approve ") || !strings.HasSuffix(text, ". Never share this code.") {
		t.Errorf("unexpected frame: %q", text)
	}
	for i, r := range text {
		if r < 0x20 || r > 0x7e || strings.ContainsRune("`[]{}\\~^|", r) {
			t.Errorf("non GSM-7-safe character %q at %d in %q", r, i, text)
		}
	}
}

func FuzzApprovalText(f *testing.F) {
	f.Add("Example SCA", 2, "1F41 251B")
	f.Add(strings.Repeat("é", 300), 1, "")
	f.Add("a\nb\x00c\u202e", -5, "))((")
	f.Fuzz(func(t *testing.T, client string, documents int, fingerprint string) {
		checkApprovalInvariants(t, sms.ApprovalText("12345678", client, documents, fingerprint), "12345678")
	})
}

func TestFingerprint(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0x1f, 0x41, 0x25, 0x1b, 0xff, 0xee}, "1F41 251B"},
		{[]byte{0x1f, 0x41, 0x25, 0x1b}, "1F41 251B"},
		{[]byte{0xab, 0xcd}, "ABCD"},
		{nil, ""},
	}
	for _, tc := range tests {
		if got := sms.Fingerprint(tc.in); got != tc.want {
			t.Errorf("Fingerprint(%x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogSender(t *testing.T) {
	t.Run("refused in production", func(t *testing.T) {
		var buf bytes.Buffer
		l, err := sms.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)), true)
		if !errors.Is(err, sms.ErrLogSenderInProduction) || l != nil {
			t.Fatalf("NewLog(production) = %v, %v; want ErrLogSenderInProduction", l, err)
		}
		if buf.Len() != 0 {
			t.Errorf("refused sender logged: %s", buf.String())
		}
	})
	t.Run("nil logger", func(t *testing.T) {
		if _, err := sms.NewLog(nil, false); err == nil {
			t.Fatal("NewLog(nil) succeeded")
		}
	})
	t.Run("development prints the message loudly", func(t *testing.T) {
		var buf bytes.Buffer
		l, err := sms.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)), false)
		if err != nil {
			t.Fatal(err)
		}
		var s sms.Sender = l
		m := approval()
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("want a start-up warning and one message, got:\n%s", buf.String())
		}
		var rec struct{ Level, Msg, To, Body string }
		if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Level != "WARN" || !strings.Contains(rec.Msg, "DEVELOPMENT ONLY") || rec.To != m.To || rec.Body != m.Body {
			t.Errorf("log record = %+v", rec)
		}
		if !strings.Contains(lines[0], "DEVELOPMENT ONLY") || !strings.Contains(lines[0], `"level":"WARN"`) {
			t.Errorf("start-up warning = %s", lines[0])
		}
	})
	t.Run("invalid destination", func(t *testing.T) {
		var buf bytes.Buffer
		l, err := sms.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)), false)
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		if err := l.Send(t.Context(), sms.Message{To: "07700 900123", Body: "RSSP code " + testCode}); !errors.Is(err, sms.ErrInvalidNumber) {
			t.Fatalf("err = %v, want ErrInvalidNumber", err)
		}
		if strings.Contains(buf.String(), testCode) {
			t.Errorf("refused message was logged: %s", buf.String())
		}
	})
}

func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}
