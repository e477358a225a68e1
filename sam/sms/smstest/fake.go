// Package smstest provides a local fake of Twilio's Messages API for tests.
//
// The fake is an httptest server on 127.0.0.1 that speaks enough of
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json for twilio-go: form
// fields To, Body and From or MessagingServiceSid; HTTP Basic auth with the
// account SID and auth token, or an API key and secret; 201 with a message
// resource on success; Twilio's error JSON {code, message, more_info,
// status} on failure. It records accepted messages so tests can read the
// code a signer would have received. Nothing leaves the machine.
package smstest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is a message the fake accepted.
type Message struct {
	Sid                 string // SM…
	AccountSID          string // from the request path
	Username            string // Basic auth user: account SID or API key
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
}

type failure struct {
	status, code int
	message      string
}

// Fake is a fake Twilio. Its credential fields are set by NewFakeTwilio to
// fresh random values; read them to configure the sender under test and
// treat them as read-only.
type Fake struct {
	URL        string // base URL, e.g. http://127.0.0.1:41234
	AccountSID string // AC + 32 hex
	AuthToken  string // 32 hex
	APIKey     string // SK + 32 hex, also accepted as Basic user
	APISecret  string // 32 alphanumerics

	srv *httptest.Server

	mu       sync.Mutex
	messages []Message
	requests int
	fail     []failure
}

// NewFakeTwilio starts a fake on a loopback port, closed by t.Cleanup.
func NewFakeTwilio(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		AccountSID: "AC" + randomHex(16),
		AuthToken:  randomHex(16),
		APIKey:     "SK" + randomHex(16),
		APISecret:  randomHex(16),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Messages returns the accepted messages, oldest first.
func (f *Fake) Messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.messages...)
}

// Last returns the latest message accepted for the phone number to.
func (f *Fake) Last(to string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.messages) - 1; i >= 0; i-- {
		if f.messages[i].To == to {
			return f.messages[i], true
		}
	}
	return Message{}, false
}

// Requests returns how many HTTP requests reached the fake, whatever their
// outcome.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// FailNext makes the next well-authenticated request fail with the given
// HTTP status and Twilio error code and message (e.g. 400, 21211, "The 'To'
// number is not a valid phone number."). Calls queue up.
func (f *Fake) FailNext(status, twilioErrorCode int, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, failure{status: status, code: twilioErrorCode, message: message})
}

// Client returns an http.Client whose transport refuses any host that is
// not loopback, so a test cannot reach the internet even if a URL rewrite
// is missing.
func (f *Fake) Client() *http.Client { return LoopbackOnlyClient() }

// LoopbackOnlyClient returns an http.Client (5 s timeout) that fails every
// request to a host other than 127.0.0.0/8, ::1 or localhost, before any
// DNS lookup or connection.
func LoopbackOnlyClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: loopbackOnly{next: http.DefaultTransport}}
}

type loopbackOnly struct{ next http.RoundTripper }

func (rt loopbackOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("smstest: refusing non-loopback host %q in a test", host)
	}
	return rt.next.RoundTrip(req)
}

func (f *Fake) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()

	user, pass, ok := r.BasicAuth()
	if !ok || !(equal(user, f.AccountSID) && equal(pass, f.AuthToken) ||
		equal(user, f.APIKey) && equal(pass, f.APISecret)) {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	rest, found := strings.CutPrefix(r.URL.Path, "/2010-04-01/Accounts/")
	sid, found2 := strings.CutSuffix(rest, "/Messages.json")
	if !found || !found2 || strings.Contains(sid, "/") {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if sid != f.AccountSID {
		writeError(w, http.StatusForbidden, 20003, "Authenticate")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, 20001, "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Unable to parse form")
		return
	}
	m := Message{
		AccountSID:          sid,
		Username:            user,
		To:                  r.PostForm.Get("To"),
		From:                r.PostForm.Get("From"),
		MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"),
		Body:                r.PostForm.Get("Body"),
	}

	f.mu.Lock()
	if len(f.fail) > 0 {
		fl := f.fail[0]
		f.fail = f.fail[1:]
		f.mu.Unlock()
		writeError(w, fl.status, fl.code, fl.message)
		return
	}
	f.mu.Unlock()

	switch {
	case m.To == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case m.From == "" && m.MessagingServiceSID == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
		return
	case m.Body == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}

	m.Sid = "SM" + randomHex(16)
	f.mu.Lock()
	f.messages = append(f.messages, m)
	f.mu.Unlock()

	now := time.Now().UTC().Format(time.RFC1123Z)
	var from, service any = m.From, m.MessagingServiceSID
	if m.From == "" {
		from = nil // Twilio assigns a sender later when a service is used
	}
	if m.MessagingServiceSID == "" {
		service = nil
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"account_sid":           sid,
		"api_version":           "2010-04-01",
		"body":                  m.Body,
		"date_created":          now,
		"date_sent":             nil,
		"date_updated":          now,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  from,
		"messaging_service_sid": service,
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.Sid,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": "/2010-04-01/Accounts/" + sid + "/Messages/" + m.Sid + "/Media.json"},
		"to":                    m.To,
		"uri":                   "/2010-04-01/Accounts/" + sid + "/Messages/" + m.Sid + ".json",
	})
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code":      code,
		"message":   message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// randomHex returns 2n hex digits; crypto/rand.Read never fails (Go 1.24+).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
