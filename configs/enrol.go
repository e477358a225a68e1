package configs

import (
	"errors"
	"fmt"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
)

// Enrol is the signing credential a signer gets at the end of enrolment
// (the /enrol pages).
type Enrol struct {
	// KeyAlgorithm of the key generated in the HSM (default RSA-2048; also
	// RSA-3072, RSA-4096, EC-P256, EC-P384, EC-P521).
	KeyAlgorithm string `yaml:"key_algorithm"`
	// SCAL of the credential: 1 or 2 (default 2: each signature approved
	// for its exact hashes).
	SCAL int `yaml:"scal"`
	// Multisign is the most signatures one approval allows (default 1).
	Multisign int `yaml:"multisign"`
	// AuthMode is how signatures are approved: oauth2code (on our
	// approval pages; the default) or explicit (the SCA collects PIN and
	// one-time code and calls credentials/authorize).
	AuthMode string `yaml:"auth_mode"`
	// CertificateValidity of the certificate the development CA issues
	// (default 8760h, one year).
	CertificateValidity time.Duration `yaml:"certificate_validity"`
}

func (e *Enrol) applyDefaults() {
	if e.KeyAlgorithm == "" {
		e.KeyAlgorithm = string(hsm.RSA2048)
	}
	if e.SCAL == 0 {
		e.SCAL = 2
	}
	if e.Multisign == 0 {
		e.Multisign = 1
	}
	if e.AuthMode == "" {
		e.AuthMode = sam.AuthModeOAuth2Code
	}
	if e.CertificateValidity == 0 {
		e.CertificateValidity = 365 * 24 * time.Hour
	}
}

func (e Enrol) validate() error {
	if _, err := hsm.ParseKeyAlgorithm(e.KeyAlgorithm); err != nil {
		return fmt.Errorf("enrol.key_algorithm: %w", err)
	}
	switch {
	case e.SCAL != 1 && e.SCAL != 2:
		return errors.New("enrol.scal must be 1 or 2")
	case e.Multisign < 1 || e.Multisign > 1000:
		return errors.New("enrol.multisign must be between 1 and 1000")
	case e.AuthMode != sam.AuthModeOAuth2Code && e.AuthMode != sam.AuthModeExplicit:
		return fmt.Errorf("enrol.auth_mode must be %s or %s", sam.AuthModeOAuth2Code, sam.AuthModeExplicit)
	case e.CertificateValidity < time.Hour:
		return errors.New("enrol.certificate_validity must be at least 1h")
	}
	return nil
}

// Credential is the credential enrolment creates (the SAM fills in its ID
// and signer).
func (e Enrol) Credential() sam.NewCredential {
	return sam.NewCredential{Algorithm: hsm.KeyAlgorithm(e.KeyAlgorithm), SCAL: e.SCAL, Multisign: e.Multisign, AuthMode: e.AuthMode,
		Description: "Signing key"}
}
