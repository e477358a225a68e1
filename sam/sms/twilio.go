package sms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// twilioHost is the only host the SDK's Messages API talks to (we build the
// request handler without Edge/Region, so TWILIO_EDGE/TWILIO_REGION in the
// environment do not change it).
const twilioHost = "api.twilio.com"

// DefaultTwilioTimeout bounds one request to Twilio when the configured
// http.Client has no timeout of its own.
const DefaultTwilioTimeout = 10 * time.Second

var (
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeyRe     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	serviceSIDRe = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	secretRe     = regexp.MustCompile(`^[A-Za-z0-9]+$`) // twilio-go refuses anything else
)

// TwilioConfig configures the [Twilio] sender. Authenticate with either
// AuthToken, or APIKey and APISecret (recommended: revocable, per
// deployment). Send from either From (an E.164 Twilio number) or
// MessagingServiceSID, not both.
type TwilioConfig struct {
	AccountSID          string // AC…, always required (it is in the request path)
	AuthToken           string // secret
	APIKey              string // SK…
	APISecret           string // secret
	From                string // E.164
	MessagingServiceSID string // MG…

	// BaseURL replaces https://api.twilio.com (scheme, host and an optional
	// path prefix). Empty means Twilio. Tests point it at a local fake
	// (package smstest). Plain http is accepted only for loopback hosts.
	BaseURL string

	// HTTPClient is used for requests; nil means a client with
	// DefaultTwilioTimeout. Its Transport (or http.DefaultTransport) is
	// wrapped, never modified. Redirects are never followed.
	HTTPClient *http.Client
}

// Validate checks the configuration without contacting Twilio. Errors name
// the faulty field but never repeat a secret.
func (c TwilioConfig) Validate() error {
	var errs []error
	if !accountSIDRe.MatchString(c.AccountSID) {
		errs = append(errs, errors.New("account_sid must be AC followed by 32 hex digits"))
	}
	token := c.AuthToken != ""
	key := c.APIKey != "" || c.APISecret != ""
	switch {
	case token && key:
		errs = append(errs, errors.New("set either auth_token or api_key/api_secret, not both"))
	case !token && !key:
		errs = append(errs, errors.New("auth_token or api_key/api_secret is required"))
	case token:
		if !secretRe.MatchString(c.AuthToken) {
			errs = append(errs, errors.New("auth_token must be letters and digits only"))
		}
	default:
		if !apiKeyRe.MatchString(c.APIKey) {
			errs = append(errs, errors.New("api_key must be SK followed by 32 hex digits"))
		}
		if !secretRe.MatchString(c.APISecret) {
			errs = append(errs, errors.New("api_secret is required and must be letters and digits only"))
		}
	}
	switch {
	case c.From != "" && c.MessagingServiceSID != "":
		errs = append(errs, errors.New("set either from or messaging_service_sid, not both"))
	case c.From == "" && c.MessagingServiceSID == "":
		errs = append(errs, errors.New("from or messaging_service_sid is required"))
	case c.From != "" && !ValidE164(c.From):
		errs = append(errs, fmt.Errorf("from: %w", ErrInvalidNumber))
	case c.MessagingServiceSID != "" && !serviceSIDRe.MatchString(c.MessagingServiceSID):
		errs = append(errs, errors.New("messaging_service_sid must be MG followed by 32 hex digits"))
	}
	if c.BaseURL != "" {
		if _, err := parseBaseURL(c.BaseURL); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sms: twilio config: %w", err)
	}
	return nil
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("base_url must be an absolute URL with a host and no credentials, query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, errors.New("base_url may use http only for a loopback host")
		}
	default:
		return nil, errors.New("base_url must be http or https")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Twilio sends messages with Twilio's Messages API.
type Twilio struct {
	username, password string // account SID + token, or API key + secret
	accountSID         string
	from, serviceSID   string
	http               http.Client // private copy; Transport set per call
	transport          http.RoundTripper
}

var _ Sender = (*Twilio)(nil)

// NewTwilio validates cfg and returns a sender. It makes no request.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Twilio{
		accountSID: cfg.AccountSID,
		from:       cfg.From,
		serviceSID: cfg.MessagingServiceSID,
	}
	if cfg.AuthToken != "" {
		t.username, t.password = cfg.AccountSID, cfg.AuthToken
	} else {
		t.username, t.password = cfg.APIKey, cfg.APISecret
	}
	if cfg.HTTPClient != nil {
		t.http = *cfg.HTTPClient
	}
	if t.http.Timeout <= 0 {
		t.http.Timeout = DefaultTwilioTimeout
	}
	// Like twilio-go's own default client: never follow a redirect.
	t.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.http.Jar = nil

	t.transport = t.http.Transport
	if t.transport == nil {
		t.transport = http.DefaultTransport
	}
	if cfg.BaseURL != "" {
		u, _ := parseBaseURL(cfg.BaseURL) // checked by Validate
		t.transport = rewriteHost{target: u, next: t.transport}
	}
	return t, nil
}

// Send sends m. It checks that m.To is E.164 before any request. On a
// provider refusal it returns a *[ProviderError]; no error contains m.Body.
//
// twilio-go builds its requests with context.Background(); Send binds ctx
// to the request through the transport, so cancelling ctx aborts the call.
// A cancelled call may still have been accepted by Twilio.
func (t *Twilio) Send(ctx context.Context, m Message) error {
	if err := checkDestination(m.To); err != nil {
		return err
	}
	if m.Body == "" {
		return errors.New("sms: empty message body")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sms: twilio: %w", err)
	}

	// A fresh SDK client per call: nothing shared between goroutines, and
	// the call's context reaches the request.
	hc := t.http
	hc.Transport = withContext{ctx: ctx, next: t.transport}
	base := &twclient.Client{
		Credentials: twclient.NewCredentials(t.username, t.password),
		HTTPClient:  &hc,
	}
	base.SetAccountSid(t.accountSID)
	// Built by hand rather than with NewRequestHandler, which would read
	// TWILIO_EDGE/TWILIO_REGION from the environment and change the host.
	api := twapi.NewApiService(&twclient.RequestHandler{Client: base})

	params := (&twapi.CreateMessageParams{}).SetTo(m.To).SetBody(m.Body)
	if t.serviceSID != "" {
		params.SetMessagingServiceSid(t.serviceSID)
	} else {
		params.SetFrom(t.from)
	}

	msg, err := api.CreateMessage(params)
	if err != nil {
		return twilioError(ctx, err)
	}
	if msg.Status != nil && (*msg.Status == "failed" || *msg.Status == "undelivered") {
		pe := &ProviderError{Provider: "twilio", Status: http.StatusOK}
		if msg.ErrorCode != nil {
			pe.Code = *msg.ErrorCode
		}
		return pe
	}
	return nil
}

// twilioError turns an SDK error into ours. Twilio's free-text message is
// dropped: only status and code are kept. Other errors (network, decoding)
// are wrapped; they describe the transport or a JSON syntax position, never
// the form we sent.
func twilioError(ctx context.Context, err error) error {
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		return &ProviderError{Provider: "twilio", Status: rest.Status, Code: rest.Code}
	}
	var v1 *twclient.RestErrorV1
	if errors.As(err, &v1) {
		return &ProviderError{Provider: "twilio", Status: v1.HttpStatusCode, Code: v1.Code}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("sms: twilio: %w", ctxErr)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// Keep the operation and cause, not the URL's query (there is none
		// for a POST, but be strict).
		return fmt.Errorf("sms: twilio request failed: %w", uerr.Err)
	}
	return fmt.Errorf("sms: twilio request failed: %w", err)
}

// rewriteHost sends requests meant for api.twilio.com to target instead.
// Any other host is refused, so a misconfigured SDK cannot wander off.
type rewriteHost struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Hostname() != twilioHost {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("sms: refusing request to unexpected host %q", req.URL.Hostname())
	}
	r := req.Clone(req.Context())
	r.URL.Scheme = rt.target.Scheme
	r.URL.Host = rt.target.Host
	r.URL.Path = strings.TrimSuffix(rt.target.Path, "/") + req.URL.Path
	r.URL.RawPath = ""
	r.Host = ""
	return rt.next.RoundTrip(r)
}

// withContext attaches a call's context to requests made by the SDK.
type withContext struct {
	ctx  context.Context
	next http.RoundTripper
}

func (rt withContext) RoundTrip(req *http.Request) (*http.Response, error) {
	return rt.next.RoundTrip(req.WithContext(rt.ctx))
}
