package oauth

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/ory/fosite"
)

// Session is what the authorization server remembers about a grant, from
// the authorization code to the last refreshed token: fosite's standard
// session plus what the signer approved for a credential-scope token.
// Anything needed after the authorization request lives here, because stored
// requests keep only a sanitized form.
type Session struct {
	fosite.DefaultSession

	CredentialID         string          `json:"credentialID,omitempty"`
	NumSignatures        int             `json:"numSignatures,omitempty"`
	Hashes               []string        `json:"hashes,omitempty"`
	HashAlgorithmOID     string          `json:"hashAlgorithmOID,omitempty"`
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

var (
	_ fosite.Session            = (*Session)(nil)
	_ fosite.ExtraClaimsSession = (*Session)(nil)
)

// NewSession returns an empty session for subject.
func NewSession(subject string) *Session {
	return &Session{DefaultSession: fosite.DefaultSession{Subject: subject}}
}

// Clone deep-copies the session, custom fields included. fosite clones the
// session of the original grant on refresh; the embedded DefaultSession's
// Clone would drop every field declared here.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if d, ok := s.DefaultSession.Clone().(*fosite.DefaultSession); ok && d != nil {
		c.DefaultSession = *d
	}
	c.Hashes = slices.Clone(s.Hashes)
	c.AuthorizationDetails = bytes.Clone(s.AuthorizationDetails)
	return &c
}

// GetExtraClaims returns the claims token introspection reports besides the
// standard ones: DefaultSession.Extra, with the credential fields of this
// session written into it, so a resource server sees what the token
// authorises.
func (s *Session) GetExtraClaims() map[string]interface{} {
	if s == nil {
		return nil
	}
	extra := s.DefaultSession.GetExtraClaims()
	if s.CredentialID != "" {
		extra["credentialID"] = s.CredentialID
	}
	if s.NumSignatures != 0 {
		extra["numSignatures"] = s.NumSignatures
	}
	if len(s.Hashes) > 0 {
		extra["hashes"] = slices.Clone(s.Hashes)
	}
	if s.HashAlgorithmOID != "" {
		extra["hashAlgorithmOID"] = s.HashAlgorithmOID
	}
	if len(s.AuthorizationDetails) > 0 {
		extra["authorization_details"] = json.RawMessage(bytes.Clone(s.AuthorizationDetails))
	}
	return extra
}
