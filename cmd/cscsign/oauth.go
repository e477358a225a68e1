package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// oauthEndpoints are the authorization server's endpoints.
type oauthEndpoints struct {
	Authorize string `json:"authorization_endpoint"`
	Token     string `json:"token_endpoint"`
}

// discoverOAuth finds the authorization server of a CSC service: its RFC
// 8414 metadata under oauth2Issuer (or oauth2), and failing that the CSC
// convention <oauth2>/oauth2/authorize and <oauth2>/oauth2/token.
func discoverOAuth(ctx context.Context, client *http.Client, si *serviceInfo) (*oauthEndpoints, error) {
	issuer := si.OAuth2Issuer
	if issuer == "" {
		issuer = si.OAuth2
	}
	if issuer == "" {
		return nil, errors.New("the server's info names no OAuth 2.0 authorization server (oauth2 or oauth2Issuer)")
	}
	iu, err := url.Parse(strings.TrimRight(issuer, "/"))
	if err != nil || iu.Scheme != "https" && !loopbackHost(iu.Hostname()) {
		return nil, fmt.Errorf("the server's OAuth 2.0 address %q is not an https URL", issuer)
	}
	// RFC 8414 §3: the well-known segment goes between host and path.
	meta := *iu
	meta.Path = "/.well-known/oauth-authorization-server" + iu.Path
	var ep oauthEndpoints
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, meta.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if err := doJSON(client, req, "OAuth metadata", &ep); err == nil && ep.Authorize != "" && ep.Token != "" {
		return &ep, nil
	}
	if si.OAuth2Issuer != "" {
		return nil, fmt.Errorf("no OAuth 2.0 metadata at %s", meta.String())
	}
	base := iu.String()
	return &oauthEndpoints{Authorize: base + "/oauth2/authorize", Token: base + "/oauth2/token"}, nil
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// oauthClient is cscsign as an OAuth 2.0 client of the signing service.
type oauthClient struct {
	http     *http.Client
	ep       *oauthEndpoints
	id       string
	secret   string // "" for a public client
	redirect string // the registered redirect URI (loopback)
	port     int    // the port to listen on, 0 for the URI's or a free one
	timeout  time.Duration
}

// token posts a token request with the client's authentication (HTTP
// Basic, RFC 6749 §2.3.1; client_id in the body for a public client) and
// returns the access token.
func (o *oauthClient) token(ctx context.Context, form url.Values) (string, error) {
	if o.secret == "" {
		form.Set("client_id", o.id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if o.secret != "" {
		req.SetBasicAuth(url.QueryEscape(o.id), url.QueryEscape(o.secret))
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := doJSON(o.http, req, "oauth2/token", &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", errors.New("oauth2/token: no access_token in the answer")
	}
	return out.AccessToken, nil
}

// clientCredentials gets a service token for the client itself.
func (o *oauthClient) clientCredentials(ctx context.Context) (string, error) {
	if o.secret == "" {
		return "", errors.New("the client_credentials grant needs -client-secret (or $CSCSIGN_CLIENT_SECRET)")
	}
	return o.token(ctx, url.Values{"grant_type": {"client_credentials"}, "scope": {"service"}})
}

// codeRequest is one credential authorization through the signer's browser.
type codeRequest struct {
	credentialID string
	hashes       [][]byte
	hashOID      string
	// show tells the user where to go; open opens a browser on the URL
	// (nil: the URL is only shown) and reports its own failure.
	show func(authorizeURL string)
	open func(authorizeURL string)
}

// randomString is n random bytes as unpadded base64url.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// credentialToken runs the authorization code flow with PKCE (S256) and a
// state for scope credential over the hashes: it listens on the loopback
// redirect URI, sends the signer's browser to the authorization endpoint,
// waits for the redirect, and exchanges the code. The access token it
// returns is the SAD of those hashes (CSC v2 §8.4).
func (o *oauthClient) credentialToken(ctx context.Context, r codeRequest) (string, error) {
	ru, err := url.Parse(o.redirect)
	if err != nil || ru.Scheme != "http" || !loopbackHost(ru.Hostname()) || ru.Hostname() == "localhost" {
		return "", fmt.Errorf("-redirect-uri %q must be http://127.0.0.1[:port]/path or http://[::1][:port]/path (RFC 8252 loopback)", o.redirect)
	}
	port := o.port
	if port == 0 && ru.Port() != "" {
		if port, err = strconv.Atoi(ru.Port()); err != nil {
			return "", fmt.Errorf("-redirect-uri %q: bad port", o.redirect)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ru.Hostname(), strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("listening for the browser's redirect: %w", err)
	}
	defer ln.Close()
	ru.Host = net.JoinHostPort(ru.Hostname(), strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if ru.Path == "" {
		ru.Path = "/"
	}
	redirect := ru.String()

	verifier, err := randomString(32)
	if err != nil {
		return "", err
	}
	state, err := randomString(16)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(verifier))
	enc := make([]string, len(r.hashes))
	for i, h := range r.hashes {
		enc[i] = base64.RawURLEncoding.EncodeToString(h)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {o.id}, "redirect_uri": {redirect}, "scope": {"credential"},
		"credentialID": {r.credentialID}, "numSignatures": {strconv.Itoa(len(r.hashes))}, "hashes": {strings.Join(enc, ",")},
		"hashAlgorithmOID": {r.hashOID}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "state": {state}}
	sep := "?"
	if strings.Contains(o.ep.Authorize, "?") {
		sep = "&"
	}
	authorizeURL := o.ep.Authorize + sep + q.Encode()

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != ru.Path {
			http.NotFound(w, req)
			return
		}
		rq := req.URL.Query()
		var res result
		switch {
		case subtle.ConstantTimeCompare([]byte(rq.Get("state")), []byte(state)) != 1:
			// Not the answer to our request (or a forged one): ignore it
			// and keep waiting.
			http.Error(w, "This is not the answer to cscsign's request.", http.StatusBadRequest)
			return
		case rq.Get("error") != "":
			res.err = &serverError{Op: "oauth2/authorize", Status: http.StatusFound, Code: rq.Get("error"), Description: rq.Get("error_description")}
		case rq.Get("code") == "":
			res.err = errors.New("oauth2/authorize: the redirect carries no code")
		default:
			res.code = rq.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		msg := "The signature is authorized; cscsign goes on. You can close this window."
		if res.err != nil {
			msg = "The authorization did not succeed: " + res.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><title>cscsign</title><p>%s</p>\n", html.EscapeString(msg))
		select {
		case done <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	r.show(authorizeURL)
	if r.open != nil {
		r.open(authorizeURL)
	}
	timeout := o.timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer from the browser within %v", timeout)
	}
	if res.err != nil {
		return "", res.err
	}
	return o.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {res.code}, "redirect_uri": {redirect},
		"code_verifier": {verifier}})
}
