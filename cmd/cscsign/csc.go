package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxAnswer bounds every JSON answer read from the server.
const maxAnswer = 1 << 20

// serverError is an error answer of the CSC or OAuth server: its error
// code and error_description, which are safe to show (they are the
// server's words for the client). It never holds what the client sent.
type serverError struct {
	Op          string // the method called, e.g. "credentials/authorize"
	Status      int
	Code        string
	Description string
}

func (e *serverError) Error() string {
	msg := e.Op + ": "
	switch {
	case e.Code != "" && e.Description != "":
		msg += e.Code + ": " + e.Description
	case e.Code != "":
		msg += e.Code
	default:
		msg += "HTTP " + http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", oneLine(msg), e.Status)
}

// oneLine keeps a server's text on one printable line, short.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// cscClient speaks the CSC API (v1 or v2) to one server. It holds the
// service token after login; the SAD of a signature is passed per call.
type cscClient struct {
	base  string // the server's base URL, without a trailing slash
	api   string // "v1" or "v2"
	http  *http.Client
	token string // service access token (Bearer), "" before login
}

func (c *cscClient) v1() bool { return c.api == "v1" }

// post sends a JSON body to a CSC method and decodes a 200 answer into out
// (nil: the answer is ignored; 204 is accepted then). auth, when set,
// replaces the Bearer token (HTTP Basic for auth/login).
func (c *cscClient) post(ctx context.Context, method string, body, out any, auth func(*http.Request)) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/csc/"+c.api+"/"+method, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	switch {
	case auth != nil:
		auth(req)
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return doJSON(c.http, req, method, out)
}

// doJSON sends req and decodes a 2xx JSON answer into out; any other answer
// becomes a *serverError with the server's error and error_description.
func doJSON(client *http.Client, req *http.Request, op string, out any) error {
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a query we do not want on screen
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("%s: the answer is larger than %d bytes", op, maxAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &serverError{Op: op, Status: resp.StatusCode}
		var m struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &m) == nil {
			e.Code, e.Description = m.Error, m.Description
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: the answer is not the JSON expected: %w", op, err)
	}
	return nil
}

// serviceInfo is what cscsign reads of the info method.
type serviceInfo struct {
	Name         string   `json:"name"`
	AuthType     []string `json:"authType"`
	OAuth2       string   `json:"oauth2"`
	OAuth2Issuer string   `json:"oauth2Issuer"`
	Methods      []string `json:"methods"`
}

func (c *cscClient) info(ctx context.Context) (*serviceInfo, error) {
	var si serviceInfo
	if err := c.post(ctx, "info", map[string]any{}, &si, func(*http.Request) {}); err != nil {
		return nil, err
	}
	return &si, nil
}

// login gets a service token with the user's name and password (auth/login,
// HTTP Basic) and keeps it.
func (c *cscClient) login(ctx context.Context, username, password string) error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := c.post(ctx, "auth/login", map[string]any{}, &out, func(r *http.Request) { r.SetBasicAuth(username, password) })
	if err != nil {
		return err
	}
	if out.AccessToken == "" {
		return errors.New("auth/login: no access_token in the answer")
	}
	c.token = out.AccessToken
	return nil
}

// list returns the user's credential IDs; userID is needed with a client's
// service token and empty otherwise.
func (c *cscClient) list(ctx context.Context, userID string) ([]string, error) {
	body := map[string]any{}
	if userID != "" {
		body["userID"] = userID
	}
	var out struct {
		CredentialIDs []string `json:"credentialIDs"`
	}
	if err := c.post(ctx, "credentials/list", body, &out, nil); err != nil {
		return nil, err
	}
	return out.CredentialIDs, nil
}

// credential is what cscsign needs to know of a credential.
type credential struct {
	ID          string
	Description string
	AuthMode    string              // explicit, oauth2code, implicit
	Chain       []*x509.Certificate // signer's certificate first
	NeedsPIN    bool
	NeedsOTP    bool // an OTP (TOTP app, or SMS code) is asked for
	SMS         bool // an SMS code can be asked for
	TOTP        bool // a code of an authenticator app is accepted
	Multisign   int
}

type certInfo struct {
	Certificates []string `json:"certificates"`
}

type presence struct {
	Presence string `json:"presence"`
	Type     string `json:"type"`
	ID       string `json:"ID"`
}

type credInfoAnswer struct {
	Description string   `json:"description"`
	Cert        certInfo `json:"cert"`
	Multisign   int      `json:"multisign"`
	// v2
	Auth struct {
		Mode    string `json:"mode"`
		Objects []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"objects"`
	} `json:"auth"`
	// v1
	AuthMode string    `json:"authMode"`
	PIN      *presence `json:"PIN"`
	OTP      *presence `json:"OTP"`
}

// credentialInfo reads a credential with its whole certificate chain.
func (c *cscClient) credentialInfo(ctx context.Context, id string) (*credential, error) {
	var out credInfoAnswer
	body := map[string]any{"credentialID": id, "certificates": "chain", "certInfo": true, "authInfo": true}
	if err := c.post(ctx, "credentials/info", body, &out, nil); err != nil {
		return nil, err
	}
	cr := &credential{ID: id, Description: out.Description, Multisign: out.Multisign}
	if c.v1() {
		cr.AuthMode = out.AuthMode
		cr.NeedsPIN = out.PIN != nil && out.PIN.Presence != "false"
		cr.NeedsOTP = out.OTP != nil && out.OTP.Presence != "false"
		cr.SMS = out.OTP != nil && out.OTP.Type == "online"
		cr.TOTP = cr.NeedsOTP && !cr.SMS
	} else {
		cr.AuthMode = out.Auth.Mode
		for _, o := range out.Auth.Objects {
			switch o.ID {
			case "PIN":
				cr.NeedsPIN = true
			case "OTP":
				cr.NeedsOTP, cr.TOTP = true, true
			case "SMS":
				cr.NeedsOTP, cr.SMS = true, true
			}
		}
	}
	if len(out.Cert.Certificates) == 0 {
		return nil, fmt.Errorf("credentials/info: credential %s has no certificate", id)
	}
	for i, s := range out.Cert.Certificates {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("credentials/info: certificate %d is not base64: %w", i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("credentials/info: certificate %d: %w", i, err)
		}
		cr.Chain = append(cr.Chain, cert)
	}
	return cr, nil
}

// hashFields names the hashes and their algorithm in a request of this API
// version.
func (c *cscClient) hashFields(body map[string]any, hashes [][]byte, hashOID string) {
	enc := make([]string, len(hashes))
	for i, h := range hashes {
		enc[i] = base64.StdEncoding.EncodeToString(h)
	}
	if c.v1() {
		body["hash"], body["hashAlgo"] = enc, hashOID
		return
	}
	body["hashes"], body["hashAlgorithmOID"] = enc, hashOID
}

// sendSMS asks the server to text the signer a code for these hashes:
// credentials/sendOTP in v1, credentials/getChallenge (authObjectID SMS)
// in v2. Our server binds the code to the hashes, so they go along.
func (c *cscClient) sendSMS(ctx context.Context, id string, hashes [][]byte, hashOID string) error {
	body := map[string]any{"credentialID": id, "numSignatures": len(hashes)}
	c.hashFields(body, hashes, hashOID)
	if c.v1() {
		return c.post(ctx, "credentials/sendOTP", body, nil, nil)
	}
	body["authObjectID"] = "SMS"
	return c.post(ctx, "credentials/getChallenge", body, nil, nil)
}

// authorize is credentials/authorize with explicit factors; otpID is the
// v2 auth object the code answers ("OTP" or "SMS"). It returns the SAD.
func (c *cscClient) authorize(ctx context.Context, id string, hashes [][]byte, hashOID, pin, otp, otpID string) (string, error) {
	body := map[string]any{"credentialID": id, "numSignatures": len(hashes)}
	c.hashFields(body, hashes, hashOID)
	if c.v1() {
		if pin != "" {
			body["PIN"] = pin
		}
		if otp != "" {
			body["OTP"] = otp
		}
	} else {
		var auth []map[string]string
		if pin != "" {
			auth = append(auth, map[string]string{"id": "PIN", "value": pin})
		}
		if otp != "" {
			auth = append(auth, map[string]string{"id": otpID, "value": otp})
		}
		if auth != nil {
			body["authData"] = auth
		}
	}
	var out struct {
		SAD string `json:"SAD"`
	}
	if err := c.post(ctx, "credentials/authorize", body, &out, nil); err != nil {
		return "", err
	}
	if out.SAD == "" {
		return "", errors.New("credentials/authorize: no SAD in the answer")
	}
	return out.SAD, nil
}

// signHash has the server sign hashes under a SAD. With a credential
// token from the OAuth flow, that token is the bearer and the SAD at once:
// sad is then empty and bearer is the token.
func (c *cscClient) signHash(ctx context.Context, id, sad, bearer string, hashes [][]byte, hashOID, signAlgo string, params []byte) ([][]byte, error) {
	body := map[string]any{"credentialID": id, "signAlgo": signAlgo}
	if sad != "" {
		body["SAD"] = sad
	}
	c.hashFields(body, hashes, hashOID)
	if params != nil {
		body["signAlgoParams"] = base64.StdEncoding.EncodeToString(params)
	}
	var auth func(*http.Request)
	if bearer != "" {
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+bearer) }
	}
	var out struct {
		Signatures []string `json:"signatures"`
	}
	if err := c.post(ctx, "signatures/signHash", body, &out, auth); err != nil {
		return nil, err
	}
	if len(out.Signatures) != len(hashes) {
		return nil, fmt.Errorf("signatures/signHash: %d signatures for %d hashes", len(out.Signatures), len(hashes))
	}
	sigs := make([][]byte, len(out.Signatures))
	for i, s := range out.Signatures {
		var err error
		if sigs[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("signatures/signHash: signature %d is not base64: %w", i, err)
		}
	}
	return sigs, nil
}
