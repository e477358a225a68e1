// Command cscbench is a load tool for CSC signatures/signHash over HTTP. In
// the same run, on the same token, it measures the raw PKCS#11 sign rate and
// prints the HTTP rate as a ratio of it, with per-request latency and the
// error count.
//
//	cscbench [-config configs/cscd.yaml] [-url URL] [-cacert FILE | -insecure]
//	         [-algs RSA-2048,EC-P256] [-concurrency 1,2,4] [-hashes 1,10]
//	         [-duration 3s] [-slices 6] [-account var/bench.json]
//
// It needs a running cscd with the same configuration: the configuration
// names the token and the database the bench opens itself.
//
// # Account
//
// The bench signs with its own signer, provisioned once directly through the
// SAM (the HSM, database and SAM opened exactly as cscd opens them): user
// cscbench with a random password and, per key algorithm, a credential with
// SCAL 1, explicit authorization, multisign 1000, a random PIN and a
// certificate from the development CA. The account ({base_url, username,
// password, pin, credentials[{id, key_algorithm}]}) is saved in -account
// (mode 600) and reused while its signer and credentials exist. The database
// is closed once the account is ready: the server owns it.
//
// SADs are SCAL1 count-bound: SCAL2 approvals need a fresh TOTP step each
// (each step is accepted once, within ±1 step), so pre-issuing thousands of
// SCAL2 SADs over HTTP is impossible by design. The signHash work per call is
// the same: SAD lookup, MAC check, atomic consumption with audit, HSM
// signature, verification, closing audit.
//
// # Measurement
//
// A cell is one configuration: raw PKCS#11 with 1 or 2 sessions, or HTTP
// signHash for one algorithm, number of hashes per call and concurrency.
// Every cell runs for -duration, cut into -slices short slices, and the
// slices of all cells are interleaved, so a change in machine load during
// the run affects raw and HTTP cells alike.
//
// Raw cells sign random SHA-256 digests with the bench credential's warm
// unwrapped key from 1 or 2 goroutines, on an HSM opened with a pool of 2
// sessions, with no database and no HTTP.
//
// HTTP cells run one worker per unit of concurrency over one keep-alive
// http.Client. Each worker holds its own SADs (credentials/authorize with
// numSignatures 1000 and the PIN), issued before the slice's clock starts
// from a generous estimate of the rate (authorize costs an argon2id check);
// it switches to its next SAD when one runs out. A worker that still runs
// out authorizes inline, inside the timed part, and the report says so.
// Each call signs fresh random SHA-256 digests; the first response of every
// worker in every slice is verified with the standard library against the
// credential certificate from credentials/info. A non-200 answer, a
// transport error or a wrong signature counts as an error.
//
// # Output and exit status
//
// A table per algorithm: signatures per second, the ratio to the raw
// 2-session rate (and to the raw 1-session rate at concurrency 1), p50 and
// p99 latency and errors, then the targets with PASS or MISS. The exit
// status is 0 even when a target is missed (this is a measurement tool),
// 1 on a setup error and 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	configPath  string
	url         string
	cacert      string
	insecure    bool
	concurrency []int
	hashes      []int
	algs        []hsm.KeyAlgorithm
	duration    time.Duration
	slices      int
	account     string
}

// rawSessions is the size of the bench's own HSM pool: raw cells run with
// 1 and 2 sessions.
const rawSessions = 2

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("cscbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var conc, hashes, algs string
	fs.StringVar(&o.configPath, "config", envOr("CSC_CONFIG", "configs/cscd.yaml"),
		"server configuration file (env CSC_CONFIG); the bench opens the same token and database")
	fs.StringVar(&o.url, "url", "", "base URL of the server (default: server.public_url of the configuration)")
	fs.StringVar(&o.cacert, "cacert", "", "PEM file of the CA to trust for the server's TLS certificate\n(default: <data_dir>/tls-cert.pem, the development certificate cscd generates)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate (development only)")
	fs.StringVar(&conc, "concurrency", "1,2,4", "comma-separated `list` of concurrent HTTP requests (one worker each)")
	fs.StringVar(&hashes, "hashes", "1,10", "comma-separated `list` of hashes per signHash call (1 to 1000)")
	fs.StringVar(&algs, "algs", "RSA-2048,EC-P256", "comma-separated `list` of key algorithms (RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384, EC-P521)")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured time per cell (raw or HTTP), spread over the slices")
	fs.IntVar(&o.slices, "slices", 6, "slices per cell; the slices of all cells are interleaved")
	fs.StringVar(&o.account, "account", "var/bench.json", "file keeping the bench signer's account (created with mode 600, reused)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `cscbench measures CSC signatures/signHash over HTTP against a running cscd and,
in the same run and on the same token, the raw PKCS#11 sign rate, and prints
the HTTP rate as a ratio of the raw rate, with p50/p99 latency and errors.
Start cscd with the same -config first: the bench opens its token and database.

It signs with its own signer (user cscbench, SCAL 1 credentials, multisign
1000, dev-CA certificates), created once through the SAM with the server's
configuration and saved in -account. SADs are SCAL1 count-bound: SCAL2
approvals need a fresh TOTP step each; the signHash work per call is the
same: SAD lookup, MAC check, atomic consumption with audit, HSM signature,
verification, closing audit.

Targets (RSA-2048, concurrency 4, against the raw 2-session rate): 1 hash/call
>= 0.6, 10 hashes/call >= 0.8, zero errors, p99 < 50 ms. Exit status 0 even
when a target is missed, 1 on a setup error, 2 on bad flags.

Usage: cscbench [flags]
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.concurrency, err = intList(conc, 1, 1024); err != nil {
		return nil, fmt.Errorf("-concurrency: %w", err)
	}
	if o.hashes, err = intList(hashes, 1, maxSADSignatures); err != nil {
		return nil, fmt.Errorf("-hashes: %w", err)
	}
	seen := map[hsm.KeyAlgorithm]bool{}
	for _, s := range strings.Split(algs, ",") {
		a, err := hsm.ParseKeyAlgorithm(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("-algs: %w", err)
		}
		if !seen[a] {
			seen[a] = true
			o.algs = append(o.algs, a)
		}
	}
	if o.slices < 1 {
		return nil, errors.New("-slices must be at least 1")
	}
	if o.duration/time.Duration(o.slices) < 10*time.Millisecond {
		return nil, errors.New("-duration divided by -slices must be at least 10ms")
	}
	if o.insecure && o.cacert != "" {
		return nil, errors.New("-insecure and -cacert exclude each other")
	}
	return o, nil
}

// intList parses a comma-separated list of distinct integers in [lo, hi].
func intList(s string, lo, hi int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q: want integers from %d to %d", f, lo, hi)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run is the whole tool; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "cscbench:", err)
		return 2
	}
	if err := bench(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "cscbench:", err)
		return 1
	}
	return 0
}

// bench sets up the account, the HSM and the HTTP client, runs every cell
// and prints the report. Only setup errors are returned.
func bench(ctx context.Context, o *options, out io.Writer) error {
	if err := configs.BootstrapDev(o.configPath); err != nil {
		return err
	}
	cfg, err := configs.Load(o.configPath)
	if err != nil {
		return err
	}
	if o.url == "" {
		o.url = cfg.Server.PublicURL
	}
	o.url = strings.TrimRight(o.url, "/")
	if o.cacert == "" && !o.insecure && strings.HasPrefix(o.url, "https:") {
		o.cacert = filepath.Join(cfg.DataDir, "tls-cert.pem")
	}

	hcfg := cfg.HSMConfig()
	hcfg.PoolSize = rawSessions
	macSessions := max(hcfg.MACSessions, 1)
	// As in cscd: a session inside a long C call holds a Go P for the whole
	// call, so the runtime needs a P per HSM session on top of one per core.
	procs := runtime.NumCPU() + hcfg.PoolSize + macSessions
	if prev := runtime.GOMAXPROCS(0); prev < procs {
		runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(prev)
	}
	keys, err := hsm.Open(hcfg)
	if err != nil {
		return err
	}
	defer keys.Close()
	if hcfg.CreateToken {
		if _, err := keys.InitMasterKeys(ctx); err != nil {
			return err
		}
	} else if err := keys.CheckMasterKeys(ctx); err != nil {
		return err
	}

	acct, creds, reused, err := openAccount(ctx, cfg, keys, o)
	if err != nil {
		return err
	}

	c, err := newClient(o)
	if err != nil {
		return err
	}
	defer c.hc.CloseIdleConnections()
	if err := c.login(ctx, acct.Username, acct.Password); err != nil {
		return fmt.Errorf("login as %s at %s: %w", acct.Username, o.url, err)
	}

	var algs []*algo
	for _, alg := range o.algs {
		a, err := newAlgo(ctx, c, keys, creds[alg], acct.PIN)
		if err != nil {
			return err
		}
		algs = append(algs, a)
	}

	fmt.Fprintf(out, "cscbench: CSC signatures/signHash over HTTP against raw PKCS#11 on the same token\n")
	fmt.Fprintf(out, "server       %s (TLS: %s)\n", o.url, trustDescription(o))
	fmt.Fprintf(out, "token        %s via %s; server HSM pool: %s\n", cfg.HSM.TokenLabel, cfg.HSM.Module, serverPool(cfg))
	fmt.Fprintf(out, "bench        GOMAXPROCS=%d on %d CPUs; raw cells on a pool of %d sessions + %d MAC session(s)\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), rawSessions, macSessions)
	state := "created"
	if reused {
		state = "reused"
	}
	fmt.Fprintf(out, "account      %s (user %s, %s)\n", o.account, acct.Username, state)
	fmt.Fprintf(out, "note         SADs are SCAL1 count-bound: SCAL2 approvals need a fresh TOTP step each; the signHash work\n"+
		"             per call is the same: SAD lookup, MAC check, atomic consumption with audit, HSM signature,\n"+
		"             verification, closing audit. SADs (numSignatures %d) are issued outside the timed part.\n", maxSADSignatures)
	slice := o.duration / time.Duration(o.slices)
	fmt.Fprintf(out, "cells        %s each, in %d interleaved slice(s) of %s\n\n", o.duration, o.slices, slice)

	r := &runner{client: c, slice: slice}
	if err := r.setup(ctx, algs, o); err != nil {
		return err
	}
	if err := r.run(ctx, o.slices); err != nil {
		return err
	}
	report(out, r, o)
	return nil
}

func trustDescription(o *options) string {
	switch {
	case strings.HasPrefix(o.url, "http:"):
		return "none, plain HTTP"
	case o.insecure:
		return "certificate NOT verified (-insecure)"
	default:
		return "trusting " + o.cacert
	}
}

func serverPool(cfg *configs.Config) string {
	if cfg.HSM.PoolSize == 0 {
		return fmt.Sprintf("one session per CPU (%d here)", runtime.NumCPU())
	}
	return fmt.Sprintf("%d sessions", cfg.HSM.PoolSize)
}

// openAccount opens the database and the SAM as cscd does, makes sure the
// bench account exists and returns it with its credentials, then closes the
// database.
func openAccount(ctx context.Context, cfg *configs.Config, keys *hsm.HSM, o *options) (*account, map[hsm.KeyAlgorithm]*store.Credential, bool, error) {
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, nil, false, err
	}
	defer db.Close()
	s, err := sam.New(cfg.SAM, keys, db)
	if err != nil {
		return nil, nil, false, err
	}
	p := &provisioner{sam: s, db: db, ca: cfg.CA, path: o.account, baseURL: o.url}
	return p.ensure(ctx, o.algs)
}
