package configs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/openrssp/rssp/sam/sms"
)

// Environment variables for the SMS provider's secrets, which never go in
// the file.
const (
	EnvTwilioAuthToken = "CSC_TWILIO_AUTH_TOKEN"
	EnvTwilioAPISecret = "CSC_TWILIO_API_SECRET"
)

// SMS chooses how one-time codes and activation codes reach phones.
type SMS struct {
	// Sender is "twilio", or "log" (development only: codes are printed to
	// the server log, refused when production is set), or empty for none
	// (sendOTP and SMS enrolment then answer that no code can be sent).
	Sender string `yaml:"sender"`
	Twilio Twilio `yaml:"twilio"`
}

// Twilio is the Twilio Messages API account. The auth token or API secret
// come from CSC_TWILIO_AUTH_TOKEN / CSC_TWILIO_API_SECRET or the files
// named here.
type Twilio struct {
	AccountSID          string `yaml:"account_sid"`
	AuthTokenFile       string `yaml:"auth_token_file"`
	APIKey              string `yaml:"api_key"`
	APISecretFile       string `yaml:"api_secret_file"`
	From                string `yaml:"from"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// BaseURL replaces https://api.twilio.com; only for tests against a
	// local fake (plain http is accepted for loopback only).
	BaseURL string `yaml:"base_url"`

	authToken, apiSecret string
}

func (s *SMS) resolveSecrets() error {
	if s.Sender != "twilio" {
		return nil
	}
	t := &s.Twilio
	var err error
	if t.APIKey == "" {
		t.authToken, err = secret(EnvTwilioAuthToken, t.AuthTokenFile, "sms.twilio.auth_token_file")
	} else {
		t.apiSecret, err = secret(EnvTwilioAPISecret, t.APISecretFile, "sms.twilio.api_secret_file")
	}
	return err
}

// TwilioConfig is the sms package configuration with secrets resolved.
func (s *SMS) TwilioConfig() sms.TwilioConfig {
	t := s.Twilio
	return sms.TwilioConfig{AccountSID: t.AccountSID, AuthToken: t.authToken, APIKey: t.APIKey, APISecret: t.apiSecret,
		From: t.From, MessagingServiceSID: t.MessagingServiceSID, BaseURL: t.BaseURL}
}

func (c *Config) validateSMS() error {
	switch c.SMS.Sender {
	case "":
	case "log":
		if c.Production {
			return errors.New("sms.sender: log prints one-time codes to the console and is refused when production is set; configure twilio")
		}
	case "twilio":
		if err := c.SMS.TwilioConfig().Validate(); err != nil {
			return fmt.Errorf("sms.twilio: %w", err)
		}
	default:
		return fmt.Errorf("sms.sender: %q is not twilio, log or empty", c.SMS.Sender)
	}
	return nil
}

// NewSMSSender builds the configured sender, or nil when none is.
func (c *Config) NewSMSSender(log *slog.Logger) (sms.Sender, error) {
	switch c.SMS.Sender {
	case "log":
		if log == nil {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		return sms.NewLog(log, c.Production)
	case "twilio":
		return sms.NewTwilio(c.SMS.TwilioConfig())
	}
	return nil, nil
}
