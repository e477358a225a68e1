package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

type sadResponse struct {
	SAD       string `json:"SAD"`
	ExpiresIn int    `json:"expiresIn"`
}

func (s *Server) sadResponse(c echo.Context, issued sam.IssuedSAD) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	secs := int(math.Ceil(issued.ExpiresAt.Sub(s.now()).Seconds()))
	return c.JSON(http.StatusOK, sadResponse{SAD: issued.Token, ExpiresIn: max(secs, 1)})
}

// hashNames are a version's names for the hash list and its algorithm.
func hashNames(v version) (hashes, alg string) {
	if v == v1 {
		return "hash", "hashAlgo"
	}
	return "hashes", "hashAlgorithmOID"
}

// readHashes reads the version's hash array and hash algorithm. v1 has no
// algorithm field at authorization: an optional hashAlgo is honoured, else
// the digest length names SHA-256, SHA-384 or SHA-512.
func readHashes(b body, v version) (hashes [][]byte, hashOID string, err error) {
	hn, an := hashNames(v)
	hashes, _, err = b.hashArray(hn)
	if err != nil {
		return nil, "", err
	}
	hashOID, err = b.optionalString(an)
	if err != nil {
		return nil, "", invalidParam(an)
	}
	if hashOID != "" {
		if _, ok := sam.HashForOID(hashOID); !ok {
			return nil, "", invalidParam(an)
		}
	}
	if len(hashes) == 0 || hashOID != "" {
		return hashes, hashOID, nil
	}
	if v == v2 {
		return nil, "", missingString(an)
	}
	switch len(hashes[0]) {
	case 32:
		hashOID = sam.OIDSHA256
	case 48:
		hashOID = sam.OIDSHA384
	case 64:
		hashOID = sam.OIDSHA512
	default:
		return nil, "", sam.ErrDigestLength
	}
	return hashes, hashOID, nil
}

// factor reads one factor value; a value that is not a string is refused
// with "Invalid parameter <name>".
func factorValue(raw json.RawMessage, name string) (string, error) {
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", invalidParam(name)
	}
	return v, nil
}

// readFactors reads PIN and OTP: top-level in v1, authData objects in v2,
// where the OTP is either "OTP" (the authenticator app) or "SMS" (the
// answer to the code getChallenge or sendOTP sent), and channel says which.
func readFactors(b body, v version) (pin, otp, channel string, err error) {
	if v == v1 {
		if b.present("PIN") {
			if pin, err = factorValue(b["PIN"], "PIN"); err != nil {
				return "", "", "", err
			}
		}
		if b.present("OTP") {
			if otp, err = factorValue(b["OTP"], "OTP"); err != nil {
				return "", "", "", err
			}
		}
		return pin, otp, channel, nil
	}
	if !b.present("authData") {
		return "", "", "", nil
	}
	var objs []struct {
		ID    string          `json:"id"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b["authData"], &objs); err != nil {
		return "", "", "", invalidParam("authData")
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if seen[o.ID] {
			return "", "", "", invalidParam("authData")
		}
		seen[o.ID] = true
		switch o.ID {
		case "PIN":
			pin, err = factorValue(o.Value, "PIN")
		case "OTP", smsObjectID:
			if channel != "" {
				return "", "", "", invalidParam("authData")
			}
			otp, err = factorValue(o.Value, o.ID)
			channel = sam.ChannelTOTP
			if o.ID == smsObjectID {
				channel = sam.ChannelSMS
			}
		default:
			err = invalidParam("authData")
		}
		if err != nil {
			return "", "", "", err
		}
	}
	return pin, otp, channel, nil
}

// v2Refusal hides which factor failed, as CSC v2 answers
// invalid_authentication_data and "Credential locked" for both.
func v2Refusal(err error) error {
	switch {
	case errors.Is(err, sam.ErrPINInvalid), errors.Is(err, sam.ErrOTPInvalid):
		return sam.ErrAuthentication
	case errors.Is(err, sam.ErrPINLocked), errors.Is(err, sam.ErrOTPLocked):
		return sam.ErrCredentialLocked
	}
	return err
}

// credentialsAuthorize issues a SAD for explicitly supplied factors (CSC API
// §11.6): PIN and OTP, bound to the hashes for SCAL2.
func (s *Server) credentialsAuthorize(c echo.Context, v version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	id, err := b.requiredString("credentialID")
	if err != nil {
		return err
	}
	num, ok, err := b.integer("numSignatures")
	if err != nil || !ok {
		return invalid("Missing (or invalid type) integer parameter numSignatures")
	}
	hashes, hashOID, err := readHashes(b, v)
	if err != nil {
		return err
	}
	pin, otp, channel, err := readFactors(b, v)
	if err != nil {
		return err
	}
	desc, err := b.optionalString("description")
	if err != nil || utf8.RuneCountInString(desc) > 500 {
		return invalidParam("description")
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	p := principal(c)
	signerID, err := s.actingSigner(c.Request().Context(), p, id)
	if err != nil {
		return err
	}
	issued, err := s.sam.Authorize(c.Request().Context(), sam.AuthorizeRequest{
		CredentialID: id, SignerID: signerID, ClientID: p.ClientID, NumSignatures: num,
		HashAlgorithm: hashOID, Hashes: hashes, PIN: pin, OTP: otp, OTPChannel: channel,
	})
	if err != nil {
		if v == v2 {
			return v2Refusal(err)
		}
		return err
	}
	return s.sadResponse(c, issued)
}
