package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/openrssp/rssp/sam/pades"
)

// app is one run of cscsign, with its terminal and its environment
// injectable for tests.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// openBrowser opens a URL in the user's browser; nil means xdg-open
	// when it is installed, else nothing (the URL is printed anyway).
	openBrowser func(url string) error
	// isTerminal reports whether stdin is a terminal, and readSecret
	// reads a line from it without echo.
	isTerminal func() bool
	readSecret func() (string, error)
	lines      *bufio.Reader
}

func newApp(stdin *os.File, stdout, stderr io.Writer) *app {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	a.isTerminal, a.readSecret = terminalOf(stdin)
	a.openBrowser = xdgOpen
	return a
}

// xdgOpen starts xdg-open on the URL without waiting for the browser.
func xdgOpen(url string) error {
	p, err := exec.LookPath("xdg-open")
	if err != nil {
		return errors.New("xdg-open is not installed")
	}
	cmd := exec.Command(p, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// options are the parsed flags.
type options struct {
	server, api, cacert, in, out             string
	username, clientID, clientSecret, userID string
	credential, flow                         string
	sms, noBrowser                           bool
	redirectURI                              string
	redirectPort                             int
	authTimeout, timeout                     time.Duration
	level, tsa                               string
	visible                                  string
	appearance                               *pades.Appearance // parsed -visible
	reason, location, name, contact          string
	certify, pss                             bool
	hash                                     string
}

const usageHead = `cscsign signs a PDF (PAdES B-B, B-T, B-LT or B-LTA) with a key of a CSC API v2 or v1 signing service.

Usage: cscsign -server URL -in FILE.pdf -out FILE.pdf (-username NAME | -client-id ID -user NAME) [flags]

Examples:
  # PIN and TOTP code typed at the prompts (or $CSCSIGN_PIN, $CSCSIGN_OTP)
  CSCSIGN_PASSWORD=secret cscsign -server https://127.0.0.1:8443 -cacert var/tls-cert.pem \
      -username demo -in doc.pdf -out signed.pdf
  # the signer approves in the browser (OAuth 2.0), with a signature timestamp
  CSCSIGN_CLIENT_SECRET=secret cscsign -server https://127.0.0.1:8443 -cacert var/tls-cert.pem \
      -client-id demo-sca -user demo -flow oauth -level B-T -in doc.pdf -out signed.pdf
  # long-term (B-LTA), visible in a 200x60 point box at the bottom left of page 1
  cscsign -server https://127.0.0.1:8443 -cacert var/tls-cert.pem -username demo -level B-LTA \
      -visible 1:36,36,236,96 -in doc.pdf -out signed.pdf

Levels: B-B (the signature), B-T (+ a signature timestamp), B-LT (+ the certificates,
OCSP responses and CRLs that validate it, in the DSS; fetched from the URLs the
certificates name), B-LTA (+ a document timestamp over it all).
Environment: CSCSIGN_PASSWORD, CSCSIGN_PIN, CSCSIGN_OTP, CSCSIGN_CLIENT_SECRET; secrets are never printed.

Flags:
`

func (a *app) flags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("cscsign", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.server, "server", "", "base URL of the signing service, e.g. https://host:8443 (CSC paths /csc/v2/... or /csc/v1/...)")
	fs.StringVar(&o.api, "api", "v2", "CSC API version: v2 or v1")
	fs.StringVar(&o.cacert, "cacert", "", "PEM file of the CA certificates to trust for the server's TLS (default: the system's)")
	fs.StringVar(&o.in, "in", "", "the PDF to sign")
	fs.StringVar(&o.out, "out", "", "where to write the signed PDF (written only when signing succeeded)")
	fs.StringVar(&o.username, "username", "", "log in as this user with a password (auth/login; $CSCSIGN_PASSWORD or a prompt)")
	fs.StringVar(&o.clientID, "client-id", "", "OAuth 2.0 client ID: client_credentials login without -username, and the client of -flow oauth")
	fs.StringVar(&o.clientSecret, "client-secret", "", "OAuth 2.0 client secret (prefer $CSCSIGN_CLIENT_SECRET; empty: a public client)")
	fs.StringVar(&o.userID, "user", "", "the signer's user ID, for credentials/list with a client_credentials token")
	fs.StringVar(&o.credential, "credential", "", "credential ID (default: the only one of credentials/list, or a numbered choice)")
	fs.StringVar(&o.flow, "flow", "", "authorization: explicit (PIN + one-time code) or oauth (browser); default from the credential's authMode")
	fs.BoolVar(&o.sms, "sms", false, "explicit flow: have the server text a code (sendOTP v1, getChallenge v2) instead of a TOTP code")
	fs.StringVar(&o.redirectURI, "redirect-uri", "http://127.0.0.1/callback", "oauth flow: the client's loopback redirect URI")
	fs.IntVar(&o.redirectPort, "redirect-port", 0, "oauth flow: port to listen on for the redirect (default: the URI's, else a free one)")
	fs.BoolVar(&o.noBrowser, "no-browser", false, "oauth flow: only print the URL, do not open a browser")
	fs.DurationVar(&o.authTimeout, "auth-timeout", 5*time.Minute, "oauth flow: how long to wait for the signer's approval")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on each HTTP request")
	fs.StringVar(&o.level, "level", "B-B", "PAdES baseline level: B-B, B-T (signature timestamp), B-LT (and validation data) or B-LTA (and a document timestamp)")
	fs.StringVar(&o.tsa, "tsa", "", "B-T and above: RFC 3161 timestamp authority URL (default: <server>/tsa)")
	fs.StringVar(&o.visible, "visible", "", "a visible signature at page:llx,lly,urx,ury (points from the page's lower left), e.g. 1:36,36,236,96")
	fs.StringVar(&o.reason, "reason", "", "reason for signing, in the signature dictionary")
	fs.StringVar(&o.location, "location", "", "location of signing")
	fs.StringVar(&o.name, "name", "", "signer's name in the signature dictionary (default: the certificate's common name)")
	fs.StringVar(&o.contact, "contact", "", "signer's contact information")
	fs.BoolVar(&o.certify, "certify", false, "a certification signature (DocMDP: later only form filling and signatures)")
	fs.StringVar(&o.hash, "hash", "SHA-256", "digest algorithm: SHA-256, SHA-384 or SHA-512")
	fs.BoolVar(&o.pss, "pss", false, "RSA keys: sign with RSASSA-PSS instead of PKCS#1 v1.5")
	return fs
}

func (a *app) usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// run executes cscsign with args and returns the exit status: 0 signed
// (or help), 1 failed, 2 misuse.
func (a *app) run(ctx context.Context, args []string) int {
	var o options
	fs := a.flags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(fs, a.stdout)
			return 0
		}
		fmt.Fprintf(a.stderr, "cscsign: %v (cscsign -help lists the flags)\n", err)
		return 2
	}
	if err := o.check(fs.Args()); err != nil {
		fmt.Fprintf(a.stderr, "cscsign: %v (cscsign -help lists the flags)\n", err)
		return 2
	}
	if o.clientSecret == "" {
		o.clientSecret = a.getenv("CSCSIGN_CLIENT_SECRET")
	}
	if err := a.sign(ctx, &o); err != nil {
		fmt.Fprintf(a.stderr, "cscsign: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// check validates the flags that need no server.
func (o *options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q", rest[0])
	case o.server == "" || o.in == "" || o.out == "":
		return errors.New("-server, -in and -out are required")
	case !strings.HasPrefix(o.server, "https://") && !strings.HasPrefix(o.server, "http://"):
		return fmt.Errorf("-server %q is not an http(s) URL", o.server)
	case o.api != "v1" && o.api != "v2":
		return fmt.Errorf("-api must be v1 or v2, not %q", o.api)
	case o.username == "" && o.clientID == "":
		return errors.New("-username or -client-id is needed to log in")
	case o.username == "" && o.userID == "":
		return errors.New("-client-id without -username needs -user (the signer's user ID)")
	case o.flow != "" && o.flow != "explicit" && o.flow != "oauth":
		return fmt.Errorf("-flow must be explicit or oauth, not %q", o.flow)
	case o.level != "B-B" && o.level != "B-T" && o.level != "B-LT" && o.level != "B-LTA":
		return fmt.Errorf("-level must be B-B, B-T, B-LT or B-LTA, not %q", o.level)
	case o.tsa != "" && o.level == "B-B":
		return errors.New("-tsa is for -level B-T, B-LT or B-LTA")
	case o.sms && o.flow == "oauth":
		return errors.New("-sms is for the explicit flow (on the browser's pages the signer asks for a code there)")
	case o.redirectPort < 0 || o.redirectPort > 65535:
		return errors.New("-redirect-port must be a port number")
	case o.in == o.out:
		return errors.New("-out must differ from -in")
	}
	if _, _, err := hashByName(o.hash); err != nil {
		return err
	}
	if o.visible != "" {
		a, err := parseVisible(o.visible)
		if err != nil {
			return err
		}
		o.appearance = a
	}
	o.server = strings.TrimRight(o.server, "/")
	return nil
}

// step prints one progress line.
func (a *app) step(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

// parseVisible reads -visible page:llx,lly,urx,ury (points, in the page's
// default user space). Whether the box fits the page is for pades.Sign to
// say, which it does before the signature is authorized.
func parseVisible(s string) (*pades.Appearance, error) {
	bad := fmt.Errorf("-visible %q: want page:llx,lly,urx,ury, e.g. 1:36,36,236,96", s)
	page, rect, ok := strings.Cut(s, ":")
	if !ok {
		return nil, bad
	}
	var a pades.Appearance
	n, err := strconv.Atoi(page)
	if err != nil || n < 1 {
		return nil, bad
	}
	a.Page = n
	parts := strings.Split(rect, ",")
	if len(parts) != 4 {
		return nil, bad
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad
		}
		a.Rect[i] = f
	}
	if a.Rect[0] >= a.Rect[2] || a.Rect[1] >= a.Rect[3] {
		return nil, fmt.Errorf("-visible %q: want llx < urx and lly < ury", s)
	}
	return &a, nil
}
