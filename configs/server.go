package configs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Server configures the HTTP listener.
type Server struct {
	// Listen is host:port (default 127.0.0.1:8443).
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the server (default https://Listen, or
	// http:// with plain_http). It becomes the demo account's base_url.
	PublicURL string `yaml:"public_url"`
	// TLSCert and TLSKey are PEM files. When both are empty a self-signed
	// development certificate is generated in data_dir on first start.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// PlainHTTP serves without TLS. Only for a TLS-terminating proxy in front.
	PlainHTTP bool `yaml:"plain_http"`
	// Timeouts (defaults: read header 5s, read 15s, write 30s, idle 120s, shutdown 20s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// PKIListen, when set, is a second listener, in plain HTTP, that serves
	// only what relying parties fetch: the development CA's certificate,
	// CRL and OCSP answers, and POST /tsa (RFC 5280 and RFC 6960 publish
	// them over HTTP; validators such as poppler do not fetch them over
	// TLS). PKIURL is its public base URL, which certificates point to
	// (default http://<pki_listen>); without either they point to
	// public_url.
	PKIListen string `yaml:"pki_listen"`
	PKIURL    string `yaml:"pki_url"`
	// MaxBodyBytes limits every request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDocumentBytes limits the body of signatures/signDoc, which carries
	// whole documents in base64 (default 32 MiB).
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`
	// MaxInFlight bounds concurrent CSC requests; beyond it requests get 503
	// (default 256).
	MaxInFlight int `yaml:"max_in_flight"`
}

// Service is what info tells clients about this service.
type Service struct {
	Name        string `yaml:"name"`
	Logo        string `yaml:"logo"`
	Region      string `yaml:"region"` // ISO 3166-1 alpha-2
	Lang        string `yaml:"lang"`   // RFC 5646
	Description string `yaml:"description"`
}

// Login configures auth/login tokens.
type Login struct {
	AccessTTL  time.Duration `yaml:"access_ttl"`  // default 1h
	RefreshTTL time.Duration `yaml:"refresh_ttl"` // default 24h (rememberMe)
}

// OAuth configures the OAuth 2.0 authorization server.
type OAuth struct {
	AccessTTL  time.Duration `yaml:"access_ttl"`  // default 1h
	RefreshTTL time.Duration `yaml:"refresh_ttl"` // default 24h
	CodeTTL    time.Duration `yaml:"code_ttl"`    // default 5m
	PARTTL     time.Duration `yaml:"par_ttl"`     // default 90s
	// AllowPlainPKCE admits code_challenge_method=plain; off, S256 only.
	AllowPlainPKCE bool `yaml:"allow_plain_pkce"`
}

// CA configures the built-in development certificate authority, whose key is
// generated in (and never leaves) the HSM.
type CA struct {
	// KeyAlgorithm of the CA key (default EC-P384).
	KeyAlgorithm string `yaml:"key_algorithm"`
	// CommonName and Organization of the CA (defaults "RSSP Development CA", "RSSP").
	CommonName   string `yaml:"common_name"`
	Organization string `yaml:"organization"`
	Country      string `yaml:"country"`
	// CertValidity of issued signer certificates (default 2 years).
	CertValidity time.Duration `yaml:"cert_validity"`
}

func (c *Config) applyDefaults() {
	c.TSA.withDefaults()
	s := &c.Server
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8443"
	}
	if s.PublicURL == "" {
		scheme := "https"
		if s.PlainHTTP {
			scheme = "http"
		}
		s.PublicURL = scheme + "://" + s.Listen
	}
	if s.PKIListen != "" && s.PKIURL == "" {
		s.PKIURL = "http://" + s.PKIListen
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&s.ReadHeaderTimeout, 5*time.Second)
	def(&s.ReadTimeout, 15*time.Second)
	def(&s.WriteTimeout, 30*time.Second)
	def(&s.IdleTimeout, 120*time.Second)
	def(&s.ShutdownTimeout, 20*time.Second)
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 1 << 20
	}
	if s.MaxDocumentBytes == 0 {
		s.MaxDocumentBytes = 32 << 20
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = 256
	}
	v := &c.Service
	if v.Name == "" {
		v.Name = "RSSP"
	}
	if v.Logo == "" {
		v.Logo = s.PublicURL + "/logo.png"
	}
	if v.Region == "" {
		v.Region = "EU"
	}
	if v.Lang == "" {
		v.Lang = "en-US"
	}
	if v.Description == "" {
		v.Description = "Remote signing service (CSC API)"
	}
	def(&c.OAuth.AccessTTL, time.Hour)
	def(&c.OAuth.RefreshTTL, 24*time.Hour)
	def(&c.OAuth.CodeTTL, 5*time.Minute)
	def(&c.OAuth.PARTTL, 90*time.Second)
	def(&c.Login.AccessTTL, time.Hour)
	def(&c.Login.RefreshTTL, 24*time.Hour)
	if c.CA.KeyAlgorithm == "" {
		c.CA.KeyAlgorithm = "EC-P384"
	}
	if c.CA.CommonName == "" {
		c.CA.CommonName = "RSSP Development CA"
	}
	if c.CA.Organization == "" {
		c.CA.Organization = "RSSP"
	}
	def(&c.CA.CertValidity, 2*365*24*time.Hour)
}

func (c *Config) validateServer() error {
	s := c.Server
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	u, err := url.Parse(s.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("server.public_url: want an http(s) URL, got %q", s.PublicURL)
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("server.tls_cert and server.tls_key go together")
	}
	if s.PlainHTTP && s.TLSCert != "" {
		return errors.New("server.plain_http and server.tls_cert exclude each other")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", s.ReadHeaderTimeout}, {"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout}, {"shutdown_timeout", s.ShutdownTimeout}} {
		if d.v < 0 || d.v > 10*time.Minute {
			return fmt.Errorf("server.%s must be between 0 and 10m", d.key)
		}
	}
	if s.MaxBodyBytes < 1024 || s.MaxBodyBytes > 256<<20 {
		return errors.New("server.max_body_bytes must be between 1 KiB and 256 MiB")
	}
	if s.PKIListen != "" && s.PKIListen == s.Listen {
		return errors.New("server.pki_listen must differ from server.listen")
	}
	if s.PKIURL != "" {
		if u, err := url.Parse(s.PKIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("server.pki_url: %q is not an http or https URL", s.PKIURL)
		}
	}
	if s.MaxDocumentBytes < s.MaxBodyBytes || s.MaxDocumentBytes > 256<<20 {
		return errors.New("server.max_document_bytes must be between max_body_bytes and 256 MiB")
	}
	if s.MaxInFlight < 1 {
		return errors.New("server.max_in_flight must be positive")
	}
	if len(c.Service.Region) != 2 {
		return errors.New("service.region must be an ISO 3166-1 alpha-2 code")
	}
	if c.Login.AccessTTL < time.Minute || c.Login.AccessTTL > 24*time.Hour {
		return errors.New("login.access_ttl must be between 1m and 24h")
	}
	if c.Login.RefreshTTL < c.Login.AccessTTL || c.Login.RefreshTTL > 90*24*time.Hour {
		return errors.New("login.refresh_ttl must be between access_ttl and 90 days")
	}
	o := c.OAuth
	if o.AccessTTL < time.Minute || o.AccessTTL > 24*time.Hour || o.RefreshTTL < o.AccessTTL || o.RefreshTTL > 90*24*time.Hour {
		return errors.New("oauth: access_ttl must be 1m to 24h and refresh_ttl between access_ttl and 90 days")
	}
	if o.CodeTTL < 10*time.Second || o.CodeTTL > 10*time.Minute || o.PARTTL < 10*time.Second || o.PARTTL > 10*time.Minute {
		return errors.New("oauth: code_ttl and par_ttl must be between 10s and 10m")
	}
	if c.CA.CertValidity < time.Hour || c.CA.CertValidity > 10*365*24*time.Hour {
		return errors.New("ca.cert_validity must be between 1h and 10 years")
	}
	return nil
}

// PKIBaseURL is where the development CA's publications are found: the
// base URL certificates point to.
func (s Server) PKIBaseURL() string {
	if s.PKIURL != "" {
		return s.PKIURL
	}
	return s.PublicURL
}
