// Command cscd is the CSC API server.
//
//	cscd [-config configs/cscd.yaml]
//
// It opens the HSM and the database named in the configuration, refuses to
// start if a credential's key does not match its certificate, and serves the
// CSC API v1 and v2 over HTTPS until SIGINT or SIGTERM, then shuts down
// gracefully within server.shutdown_timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/store"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cscd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", envOr("CSC_CONFIG", "configs/cscd.yaml"), "configuration file (env CSC_CONFIG)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "cscd serves the CSC API v1 and v2 (remote signing).\n\nUsage: cscd [-config FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *configPath, log, nil, nil); err != nil {
		log.Error("cscd stopped", slog.String("error", err.Error()))
		fmt.Fprintln(stderr, "cscd:", err)
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// serve runs the server until ctx ends. It listens on server.listen unless
// given a listener (tests). ready, if not nil, receives the listening
// address once the server accepts connections.
func serve(ctx context.Context, configPath string, log *slog.Logger, ln net.Listener, ready chan<- string) error {
	if err := configs.BootstrapDev(configPath); err != nil {
		return err
	}
	cfg, err := configs.Load(configPath)
	if err != nil {
		return err
	}
	hcfg := cfg.HSMConfig()
	if hcfg.PoolSize == 0 {
		hcfg.PoolSize = runtime.NumCPU()
	}
	macSessions := max(hcfg.MACSessions, 1)
	// A session inside a long C call holds a Go P for the whole call: give
	// the runtime one P per HSM session on top of one per core (see hsm).
	if want := runtime.NumCPU() + hcfg.PoolSize + macSessions; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	// The live heap is small (tens of MB) and short-lived garbage per
	// request is what the collector mostly sees: collect less often unless
	// the operator set GOGC.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
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
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer db.Close()
	// Certificates the development CA issues point to this server's CRL,
	// OCSP responder and CA certificate.
	samOpts := []sam.Option{sam.WithPublicURL(cfg.Server.PKIBaseURL())}
	smsSender, err := cfg.NewSMSSender(log)
	if err != nil {
		return err
	}
	if smsSender != nil {
		samOpts = append(samOpts, sam.WithCodeSender(sms.CodeSender{Sender: smsSender}))
	} else {
		log.Info("no SMS sender configured: one-time codes by SMS and SMS activation are off")
	}
	stamper, err := cfg.NewTimestamper()
	if err != nil {
		return err
	}
	if stamper != nil {
		samOpts = append(samOpts, sam.WithTimestamper(stamper))
		log.Info("signDoc timestamps come from an external TSA", slog.String("url", cfg.TSA.URL))
	}
	signing, err := sam.New(cfg.SAM, keys, db, samOpts...)
	if err != nil {
		return err
	}
	if err := signing.CheckCredentialKeys(ctx); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	logins := oauth.NewLogins(oauth.LoginConfig{AccessTTL: cfg.Login.AccessTTL, RefreshTTL: cfg.Login.RefreshTTL}, signing, db, nil)
	// fosite's token HMAC key: derived in the HSM from the MAC master key,
	// the same on every node sharing the token, never stored or logged.
	oauthSecret, err := keys.MAC(ctx, []byte("rssp/oauth-global-secret/v1"))
	if err != nil {
		return err
	}
	authz, err := oauth.NewServer(oauth.ServerConfig{
		Issuer: cfg.Server.PublicURL, AccessTTL: cfg.OAuth.AccessTTL, RefreshTTL: cfg.OAuth.RefreshTTL,
		CodeTTL: cfg.OAuth.CodeTTL, PARTTL: cfg.OAuth.PARTTL, AllowPlainPKCE: cfg.OAuth.AllowPlainPKCE,
	}, oauth.ServerDeps{Storage: oauth.NewStorage(db, nil), SAM: signing, DB: db, Logger: log}, oauthSecret)
	if err != nil {
		return err
	}
	enrol, err := oauth.NewEnrolment(oauth.EnrolConfig{Credential: cfg.Enrol.Credential(), Validity: cfg.Enrol.CertificateValidity},
		oauth.EnrolDeps{SAM: signing, DB: db, Logger: log})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	srv := api.New(api.Config{
		Service: api.ServiceInfo{Name: cfg.Service.Name, Logo: cfg.Service.Logo, Region: cfg.Service.Region,
			Lang: cfg.Service.Lang, Description: cfg.Service.Description},
		MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxDocumentBytes: cfg.Server.MaxDocumentBytes,
		MaxInFlight: cfg.Server.MaxInFlight, OAuth2URL: cfg.Server.PublicURL,
	}, api.Deps{
		SAM: signing, TSA: signing, Revocation: signing, Tokens: oauth.Tokens{Logins: logins, OAuth: authz}, Store: db, OAuth: authz,
		Logger: log, Registry: reg, PoolStats: keys.PoolStats,
		Checks: []api.Check{{Name: "database", Ping: db.Ping}, {Name: "hsm", Ping: keys.Ping}},
		Enrol:  enrol,
		// The operators' admin API (/admin/v1): closed to all until
		// `cscctl operator add` makes an operator key.
		Admin: signing,
	})

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return err
		}
	}
	if !cfg.Server.PlainHTTP {
		tlsCfg, generated, err := loadTLS(cfg.Server.TLSCert, cfg.Server.TLSKey, cfg.DataDir, cfg.Server.Listen)
		if err != nil {
			ln.Close()
			return err
		}
		if generated != "" {
			log.Warn("generated a self-signed development TLS certificate", slog.String("file", generated))
		}
		hs.TLSConfig = tlsCfg
	} else {
		log.Warn("serving plain HTTP: only behind a TLS-terminating proxy")
	}

	// The PKI listener: plain HTTP, the CA's publications and /tsa only.
	var pki *http.Server
	var pkiLn net.Listener
	if cfg.Server.PKIListen != "" {
		if pkiLn, err = net.Listen("tcp", cfg.Server.PKIListen); err != nil {
			ln.Close()
			return err
		}
		pki = &http.Server{Handler: srv.PKIHandler(), ReadHeaderTimeout: hs.ReadHeaderTimeout, ReadTimeout: hs.ReadTimeout,
			WriteTimeout: hs.WriteTimeout, IdleTimeout: hs.IdleTimeout, MaxHeaderBytes: 16 << 10, ErrorLog: hs.ErrorLog}
	}

	go janitor(ctx, db, log)
	errc := make(chan error, 2)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if pki != nil {
		go func() { errc <- pki.Serve(pkiLn) }()
		log.Info("PKI publications on plain HTTP", slog.String("addr", pkiLn.Addr().String()), slog.String("pki_url", cfg.Server.PKIBaseURL()))
	}
	log.Info("cscd listening", slog.String("addr", ln.Addr().String()), slog.String("public_url", cfg.Server.PublicURL),
		slog.Int("hsm_sessions", hcfg.PoolSize), slog.String("store", db.Driver()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", cfg.Server.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if pki != nil {
		if err := pki.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown of the PKI listener: %w", err)
		}
	}
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil // deferred: close the database, then the HSM
}

// janitor deletes expired SADs and tokens every minute.
func janitor(ctx context.Context, db *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-time.Hour).UnixMilli()
		if _, err := db.DeleteExpiredSADs(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired SADs", slog.String("error", err.Error()))
		}
		if _, err := db.DeleteExpiredTokens(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired tokens", slog.String("error", err.Error()))
		}
		if _, err := db.DeleteExpiredOAuthFlows(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired OAuth flows", slog.String("error", err.Error()))
		}
		if _, err := db.DeleteExpiredOAuth(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired OAuth grants", slog.String("error", err.Error()))
		}
		if _, err := db.DeleteExpiredEnrolments(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired enrolments", slog.String("error", err.Error()))
		}
		// Throttle windows last at most 7 days (sam.SMSLimits).
		if _, err := db.DeleteExpiredOutOfBand(ctx, cutoff, time.Now().Add(-8*24*time.Hour).UnixMilli()); err != nil && ctx.Err() == nil {
			log.Warn("janitor: expired codes and throttles", slog.String("error", err.Error()))
		}
	}
}
