package configs

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades"
)

// TSA chooses where the signatures the server builds itself (signDoc at
// B-T and above) get their timestamps: the built-in timestamp authority
// (the default), or an external RFC 3161 authority. The built-in one keeps
// answering signatures/timestamp and POST /tsa either way.
type TSA struct {
	// URL of an external RFC 3161 TSA (http or https); empty keeps the
	// built-in authority.
	URL string `yaml:"url"`
	// CAFile holds PEM certificates that must anchor the external TSA's
	// certificate; empty trusts whatever answers at URL (the relying party
	// still judges the TSA when it validates the signature).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one request to the TSA (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxTokenBytes is the largest token the TSA may return (default 16
	// KiB): the space reserved for it in a PDF signature is computed from
	// it, and a larger token fails the signature.
	MaxTokenBytes int `yaml:"max_token_bytes"`
}

func (t *TSA) withDefaults() {
	if t.Timeout == 0 {
		t.Timeout = 10 * time.Second
	}
	if t.MaxTokenBytes == 0 {
		t.MaxTokenBytes = 16 << 10
	}
}

func (c *Config) validateTSA() error {
	t := c.TSA
	if t.URL == "" {
		if t.CAFile != "" {
			return errors.New("tsa.ca_file is set without tsa.url")
		}
		return nil
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("tsa.url: %q is not an http or https URL", t.URL)
	}
	switch {
	case t.Timeout < time.Second || t.Timeout > 2*time.Minute:
		return errors.New("tsa.timeout must be between 1s and 2m")
	case t.MaxTokenBytes < 1024 || t.MaxTokenBytes > 64<<10:
		return errors.New("tsa.max_token_bytes must be between 1 KiB and 64 KiB")
	}
	return nil
}

// NewTimestamper builds the external TSA client for the SAM, or returns nil
// when the built-in authority is to be used.
func (c *Config) NewTimestamper() (sam.Timestamper, error) {
	t := c.TSA
	if t.URL == "" {
		return nil, nil
	}
	client := &pades.TSAClient{URL: t.URL, Timeout: t.Timeout, MaxResponse: int64(t.MaxTokenBytes) + 4096}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tsa.ca_file: %w", err)
		}
		client.Roots = x509.NewCertPool()
		if !client.Roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tsa.ca_file: no PEM certificate in %s", t.CAFile)
		}
	}
	return externalTSA{client: client, max: t.MaxTokenBytes}, nil
}

// externalTSA is an RFC 3161 client as the SAM's timestamp source.
type externalTSA struct {
	client *pades.TSAClient
	max    int
}

func (e externalTSA) Stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	token, err := e.client.Stamp(ctx, h, digest)
	if err == nil && len(token) > e.max {
		err = fmt.Errorf("the TSA's token has %d bytes, more than tsa.max_token_bytes", len(token))
	}
	return token, err
}

func (e externalTSA) MaxTokenSize() int { return e.max }
