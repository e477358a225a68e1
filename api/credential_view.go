package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// infoOptions are the credentials/info (and list) output switches.
type infoOptions struct {
	certificates string // none | single | chain
	certInfo     bool
	authInfo     bool
}

type keyView struct {
	Status string   `json:"status"`
	Algo   []string `json:"algo"`
	Len    int      `json:"len"`
	Curve  string   `json:"curve,omitempty"`
}

type certView struct {
	Status       string   `json:"status,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	IssuerDN     string   `json:"issuerDN,omitempty"`
	SerialNumber string   `json:"serialNumber,omitempty"`
	SubjectDN    string   `json:"subjectDN,omitempty"`
	ValidFrom    string   `json:"validFrom,omitempty"`
	ValidTo      string   `json:"validTo,omitempty"`
}

type authObject struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Format      string `json:"format,omitempty"`
	Generator   string `json:"generator,omitempty"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
}

type authView struct {
	Mode       string       `json:"mode"`
	Expression string       `json:"expression,omitempty"`
	Objects    []authObject `json:"objects,omitempty"`
}

// credentialInfoV2 is a v2 credentials/info answer (and a credentialInfos entry).
type credentialInfoV2 struct {
	CredentialID       string   `json:"credentialID,omitempty"` // only in credentials/list
	Description        string   `json:"description,omitempty"`
	SignatureQualifier string   `json:"signatureQualifier,omitempty"`
	Key                keyView  `json:"key"`
	Cert               certView `json:"cert"`
	Auth               authView `json:"auth"`
	SCAL               string   `json:"SCAL"`
	Multisign          int      `json:"multisign"`
	Lang               string   `json:"lang,omitempty"`
}

type pinView struct {
	Presence    string `json:"presence"`
	Format      string `json:"format,omitempty"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
}

type otpView struct {
	Presence    string `json:"presence"`
	Type        string `json:"type,omitempty"`
	Format      string `json:"format,omitempty"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	ID          string `json:"ID,omitempty"`
	Provider    string `json:"provider,omitempty"`
}

// credentialInfoV1 is a v1 credentials/info answer.
type credentialInfoV1 struct {
	Description string   `json:"description,omitempty"`
	Key         keyView  `json:"key"`
	Cert        certView `json:"cert"`
	AuthMode    string   `json:"authMode"`
	PIN         *pinView `json:"PIN,omitempty"`
	OTP         *otpView `json:"OTP,omitempty"`
	SCAL        string   `json:"SCAL"`
	Multisign   int      `json:"multisign"`
	Lang        string   `json:"lang,omitempty"`
}

// view is what both versions render, computed once.
type view struct {
	desc      string
	qualifier string
	key       keyView
	cert      certView
	mode      string
	pin       bool
	totp      bool // the signer has an authenticator app
	sms       bool // the signer has a phone for SMS codes
	scal      string
	multi     int
	expired   bool
}

var curveOIDs = map[elliptic.Curve]string{
	elliptic.P256(): "1.2.840.10045.3.1.7",
	elliptic.P384(): "1.3.132.0.34",
	elliptic.P521(): "1.3.132.0.35",
}

// generalizedTime formats t as RFC 5280 GeneralizedTime (YYYYMMDDHHMMSSZ).
func generalizedTime(t time.Time) string { return t.UTC().Format("20060102150405Z") }

// splitCertificates splits concatenated DER certificates.
func splitCertificates(der []byte) ([]*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, nil
	}
	return x509.ParseCertificates(der)
}

// credentialView renders a credential for credentials/info and list.
func (s *Server) credentialView(ctx context.Context, cred *store.Credential, o infoOptions) (view, error) {
	v := view{desc: cred.Description, qualifier: cred.SignatureQualifier, mode: cred.AuthMode, scal: fmt.Sprint(cred.SCAL), multi: cred.Multisign}
	pub, err := x509.ParsePKIXPublicKey(cred.PublicKey)
	if err != nil {
		return view{}, fmt.Errorf("credential %s: public key: %w", cred.ID, err)
	}
	v.key = keyView{Status: "disabled", Algo: append([]string(nil), cred.SignAlgorithms...)}
	if cred.Status == store.StatusActive {
		v.key.Status = "enabled"
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		v.key.Len = k.N.BitLen()
	case *ecdsa.PublicKey:
		v.key.Len = k.Curve.Params().BitSize
		v.key.Curve = curveOIDs[k.Curve]
	}
	certs, err := splitCertificates(cred.Certificates)
	if err != nil {
		return view{}, fmt.Errorf("credential %s: certificates: %w", cred.ID, err)
	}
	if len(certs) > 0 {
		leaf := certs[0]
		now := s.now()
		switch {
		case cred.Status == store.StatusRevoked:
			v.cert.Status = "revoked"
		case now.After(leaf.NotAfter):
			v.cert.Status, v.expired = "expired", true
			v.key.Status = "disabled"
		case now.Before(leaf.NotBefore):
			// "not yet valid" is not a CSC status; say nothing rather than something wrong.
		default:
			v.cert.Status = "valid"
		}
		switch o.certificates {
		case "single":
			v.cert.Certificates = []string{base64.StdEncoding.EncodeToString(leaf.Raw)}
		case "chain":
			for _, c := range certs {
				v.cert.Certificates = append(v.cert.Certificates, base64.StdEncoding.EncodeToString(c.Raw))
			}
		}
		if o.certInfo {
			v.cert.IssuerDN = rfc4514(leaf.RawIssuer)
			v.cert.SubjectDN = rfc4514(leaf.RawSubject)
			v.cert.SerialNumber = strings.ToUpper(leaf.SerialNumber.Text(16))
			v.cert.ValidFrom = generalizedTime(leaf.NotBefore)
			v.cert.ValidTo = generalizedTime(leaf.NotAfter)
		}
	}
	if cred.AuthMode == sam.AuthModeExplicit && o.authInfo {
		v.pin = true
		for _, kind := range []string{store.FactorTOTP, store.FactorSMS} {
			f, err := s.db.Factor(ctx, cred.SignerID, "", kind)
			switch {
			case err == nil && f.Status == store.StatusActive:
				v.totp = v.totp || kind == store.FactorTOTP
				v.sms = v.sms || kind == store.FactorSMS
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return view{}, err
			}
		}
	}
	return v, nil
}

func (v view) v2(lang string) credentialInfoV2 {
	out := credentialInfoV2{Description: v.desc, SignatureQualifier: v.qualifier, Key: v.key, Cert: v.cert, Auth: authView{Mode: v.mode},
		SCAL: v.scal, Multisign: v.multi, Lang: lang}
	if !v.pin {
		return out
	}
	out.Auth.Objects = append(out.Auth.Objects, authObject{Type: "Password", ID: "PIN", Format: "A", Label: "PIN",
		Description: "The PIN of this signing credential"})
	var second []string
	if v.totp {
		out.Auth.Objects = append(out.Auth.Objects, authObject{Type: "Password", ID: "OTP", Format: "N", Generator: "totp",
			Label: "OTP", Description: "The 6-digit code shown by your authenticator app"})
		second = append(second, "OTP")
	}
	if v.sms {
		out.Auth.Objects = append(out.Auth.Objects, authObject{Type: "ChallengeResponse", ID: smsObjectID, Format: "N",
			Label: "SMS code", Description: "A code sent by SMS to your phone; call credentials/getChallenge with the hashes first"})
		second = append(second, smsObjectID)
	}
	switch len(second) {
	case 0:
		out.Auth.Expression = "PIN"
	case 1:
		out.Auth.Expression = "PIN AND " + second[0]
	default:
		out.Auth.Expression = "PIN AND (" + strings.Join(second, " OR ") + ")"
	}
	return out
}

// v1 describes one OTP, as v1 allows: the authenticator app (offline) when
// the signer has one, else SMS (online: the client calls sendOTP). An
// answer to an SMS code is accepted either way.
func (v view) v1(lang string) credentialInfoV1 {
	out := credentialInfoV1{Description: v.desc, Key: v.key, Cert: v.cert, AuthMode: v.mode, SCAL: v.scal, Multisign: v.multi, Lang: lang}
	if !v.pin {
		return out
	}
	out.PIN = &pinView{Presence: "true", Format: "A", Label: "PIN", Description: "The PIN of this signing credential"}
	switch {
	case v.totp:
		out.OTP = &otpView{Presence: "true", Type: "offline", Format: "N", Label: "OTP",
			Description: "The 6-digit code shown by your authenticator app", Provider: "totp"}
	case v.sms:
		out.OTP = &otpView{Presence: "true", Type: "online", Format: "N", Label: "SMS code", ID: smsObjectID,
			Description: "A code sent by SMS to your phone after credentials/sendOTP with the hashes", Provider: "sms"}
	default:
		out.OTP = &otpView{Presence: "false", Type: "offline", Format: "N"}
	}
	return out
}

// readInfoOptions reads certificates, certInfo and authInfo.
func readInfoOptions(b body) (infoOptions, error) {
	o := infoOptions{certificates: "single"}
	cs, err := b.optionalString("certificates")
	if err != nil {
		return o, err
	}
	switch cs {
	case "":
	case "none", "single", "chain":
		o.certificates = cs
	default:
		return o, invalidParam("certificates")
	}
	if o.certInfo, err = b.optionalBool("certInfo"); err != nil {
		return o, err
	}
	if o.authInfo, err = b.optionalBool("authInfo"); err != nil {
		return o, err
	}
	return o, nil
}

// ownCredential loads a credential of the caller; another user's credential
// is indistinguishable from an unknown one. A client token (no signer) may
// see any signer's credential.
func (s *Server) ownCredential(ctx context.Context, signerID, id string) (*store.Credential, error) {
	cred, err := s.db.Credential(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && signerID != "" && cred.SignerID != signerID) {
		return nil, sam.ErrCredentialInvalid
	}
	if err != nil {
		return nil, sam.ErrInternal.With(err)
	}
	return cred, nil
}

// actingSigner is the signer a request acts for: the token's signer, or, for
// a client token (oauth2client, which names no signer), the owner of the
// credential. Either way the SAM then demands that signer's own factors or
// a SAD that signer approved.
func (s *Server) actingSigner(ctx context.Context, p oauth.Principal, credentialID string) (string, error) {
	if p.SignerID != "" {
		return p.SignerID, nil
	}
	cred, err := s.ownCredential(ctx, "", credentialID)
	if err != nil {
		return "", err
	}
	return cred.SignerID, nil
}
