package oauth_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

// phoneInbox is the SAM's code sender in these tests: the codes a phone
// would receive.
type phoneInbox struct {
	mu    sync.Mutex
	codes []string
}

func (p *phoneInbox) SendCode(_ context.Context, _ string, m sam.CodeMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes = append(p.codes, m.Code)
	return nil
}

func (p *phoneInbox) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.codes[len(p.codes)-1]
}

// brokenCA is the SAM whose last enrolment step fails.
type brokenCA struct{ *sam.SAM }

func (brokenCA) CompleteEnrolment(context.Context, sam.Completion) (*store.Credential, error) {
	return nil, errors.New("the development CA is unavailable")
}

var enrolFields = regexp.MustCompile(`name="(enrolment|csrf)" value="([^"]+)"`)

// enrolClient is a browser without JavaScript: a cookie jar that does not
// follow redirects.
type enrolClient struct {
	t    *testing.T
	base string
	c    *http.Client
	last string // the last page, for its hidden fields
}

func (c *enrolClient) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		f := url.Values{}
		for _, m := range enrolFields.FindAllStringSubmatch(c.last, -1) {
			f.Set(m[1], m[2])
		}
		for k, v := range form {
			f[k] = v
		}
		body = strings.NewReader(f.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		c.last = string(data)
	}
	return resp, string(data)
}

// follow posts form to path and loads the page the 303 leads to.
func (c *enrolClient) follow(path string, form url.Values) string {
	c.t.Helper()
	resp, page := c.do(http.MethodPost, path, form)
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("POST %s: %d\n%s", path, resp.StatusCode, page)
	}
	resp, page = c.do(http.MethodGet, resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET after POST %s: %d\n%s", path, resp.StatusCode, page)
	}
	return page
}

func totpCode(seed []byte, counter int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}

// TestEnrolmentCompletionFails: when the SAM cannot finish the enrolment
// the signer gets a page telling them to contact the operator (not a raw
// error), the enrolment stays failed rather than stuck, the cause goes to
// the log, and none of the secrets typed does.
func TestEnrolmentCompletionFails(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.Store) {
		inbox := &phoneInbox{}
		s, err := sam.New(sam.Config{Argon2: sam.Argon2Config{MemoryKiB: 8192, Threads: 1}}, hsmtest.HSM(t), db, sam.WithCodeSender(inbox))
		if err != nil {
			t.Fatal(err)
		}
		_, act, err := s.RegisterSigner(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: "heidi", Name: "Heidi", Actor: "test"},
			Phone: "+447700900107", Delivery: sam.DeliveryPrint})
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
		enrol, err := oauth.NewEnrolment(oauth.EnrolConfig{}, oauth.EnrolDeps{SAM: brokenCA{s}, DB: db, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(enrol)
		t.Cleanup(srv.Close)
		jar, _ := cookiejar.New(nil)
		c := &enrolClient{t: t, base: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}

		const password, pin = "a long enough password", "493817"
		c.do(http.MethodGet, "/enrol", nil)
		c.follow("/enrol", url.Values{"code": {act.Code}})
		c.follow("/enrol/secrets", url.Values{"password": {password}, "password2": {password}, "pin": {pin}, "pin2": {pin}})
		page := c.follow("/enrol/phone", url.Values{"action": {"confirm"}, "code": {inbox.last()}})
		m := regexp.MustCompile(`id="secret" class="key">([A-Z2-7 ]+)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no TOTP key:\n%s", page)
		}
		seed, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		otp := totpCode(seed, time.Now().Unix()/30)
		totpPage := page
		resp, page := c.do(http.MethodPost, "/enrol/totp", url.Values{"action": {"confirm"}, "otp": {otp}})
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(page, "could not be created") ||
			resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("failed completion: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
		}
		// Again: the step is not run a second time, and says so.
		c.last = totpPage
		resp, page = c.do(http.MethodPost, "/enrol/totp", url.Values{"action": {"confirm"}, "otp": {otp}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "could not be created") {
			t.Fatalf("after a failed completion: %d\n%s", resp.StatusCode, page)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "the development CA is unavailable") {
			t.Errorf("the cause is not in the log: %s", logs.String())
		}
		for name, secret := range map[string]string{"password": password, "PIN": pin, "activation code": act.Code, "TOTP code": otp,
			"TOTP key": strings.ReplaceAll(m[1], " ", "")} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the %s is in the log", name)
			}
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
