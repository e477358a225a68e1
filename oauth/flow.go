package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

//go:embed pages/*.html pages/style.css
var pageFS embed.FS

// Approver is what the signer's pages and the token endpoint need from the
// SAM: the password at login, the approval with the second factor, and the
// credential token derived from an authorization code.
type Approver interface {
	CheckPassword(ctx context.Context, users sam.SignerLookup, username, password string) (string, error)
	Approve(ctx context.Context, req sam.ApproveRequest) (*sam.Approval, error)
	CredentialToken(ctx context.Context, code string) (string, error)
	Bearer(ctx context.Context, token string) (sam.BearerSAD, error)
	RevokeSADOf(ctx context.Context, token, clientID string) error
	SendOTP(ctx context.Context, req sam.OTPRequest) (string, error)
}

var _ Approver = (*sam.SAM)(nil)

// FlowStore keeps authorizations in progress and reads what the pages show.
type FlowStore interface {
	sam.SignerLookup
	CreateOAuthFlow(ctx context.Context, f *store.OAuthFlow) error
	OAuthFlowByID(ctx context.Context, id string) (*store.OAuthFlow, error)
	AdvanceOAuthFlow(ctx context.Context, id, from, to, signerID string, nowMs int64) (bool, error)
	AdvanceOAuthFlowForm(ctx context.Context, id, from, to, form string, nowMs int64) (bool, error)
	Credential(ctx context.Context, id string) (*store.Credential, error)
	CredentialsOf(ctx context.Context, signerID string) ([]store.Credential, error)
	OAuthClient(ctx context.Context, id string) (*store.OAuthClient, error)
	Factor(ctx context.Context, signerID, credentialID, kind string) (*store.Factor, error)
	SetOAuthFlowChallenge(ctx context.Context, id, step, challengeID string, nowMs int64) (bool, error)
}

var _ FlowStore = (*store.Store)(nil)

// flowLifetime bounds an authorization on the pages, from the first page to
// the redirect.
const flowLifetime = 10 * time.Minute

// flowCookie binds a flow to the browser that started it: one cookie per
// flow, so two authorizations in two tabs do not disturb each other.
const flowCookie = "rssp_flow_"

func cookieName(flowID string) string {
	if len(flowID) > 16 {
		flowID = flowID[:16]
	}
	return flowCookie + flowID
}

// noState stands in for an absent state parameter: CSC makes state optional,
// fosite requires one. It never reaches the client.
const noState = "rssp-no-state"

type pages struct {
	tmpl    *template.Template
	css     template.CSS
	cssHash string
}

func loadPages() (*pages, error) {
	css, err := pageFS.ReadFile("pages/style.css")
	if err != nil {
		return nil, err
	}
	t, err := template.ParseFS(pageFS, "pages/*.html")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	return &pages{tmpl: t, css: template.CSS(css), cssHash: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// pageData is what every page template sees.
type pageData struct {
	CSS           template.CSS
	Flow, CSRF    string
	ClientName    string
	Error         string
	Credential    string
	NumSignatures int
	Documents     []pageDocument
	// The OTP page: the signer can ask for a code by SMS (Phone is the
	// masked number); SMSSent says one was sent and the field expects it.
	Phone   string
	SMSSent bool
	Notice  string
}

type pageDocument struct{ Label, Fingerprint string }

func (pageData) T(key string) string               { return msg(key) }
func (pageData) Tf(key string, args ...any) string { return fmt.Sprintf(msg(key), args...) }

// render writes a page with the headers every page carries: no caching, no
// framing, a content security policy that allows only our inline style and
// forms posting to us (and, for the final redirect, to the client).
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData, formTargets ...string) {
	d.CSS = s.pages.css
	s.pages.write(w, s.log, status, name, d, false, formTargets...)
}

// write renders the page name with data (a pageData, or a struct embedding
// one with CSS set) and the headers every page carries. dataImages adds
// img-src data: to the policy, for a page that shows an image inline (the
// enrolment QR code); no other page loads images.
func (p *pages) write(w http.ResponseWriter, log *slog.Logger, status int, name string, data any, dataImages bool, formTargets ...string) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		log.Error("render page", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	img := ""
	if dataImages {
		img = "; img-src data:"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'%s; style-src 'sha256-%s'; form-action 'self'%s; frame-ancestors 'none'; base-uri 'none'",
		img, p.cssHash, strings.Join(append([]string{""}, formTargets...), " ")))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func randomToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(v))
	return v, h[:], nil
}

// cscRequest is what a credential-scope authorization asks the signer to
// approve, from its parameters or its authorization_details.
type cscRequest struct {
	credentialID  string
	qualifier     string // a signature qualifier naming the credential instead
	numSignatures int
	hashOID       string
	hashes        [][]byte
	labels        []string
	details       *CredentialDetail
}

// parseCSC validates the CSC parameters of an authorization request.
func parseCSC(form url.Values, scopes fosite.Arguments) (*cscRequest, error) {
	if scopes.Has(ScopeService) && (scopes.Has(ScopeCredential) || form.Get("authorization_details") != "") {
		// A credential token is a SAD and never refreshable; a service
		// grant is. One authorization is one or the other.
		return nil, fosite.ErrInvalidScope.WithDescription("ask for scope service or for a credential, not both")
	}
	if raw := form.Get("authorization_details"); raw != "" {
		d, err := ParseAuthorizationDetails(raw)
		if err != nil {
			return nil, err
		}
		c := &cscRequest{credentialID: d.CredentialID, qualifier: d.SignatureQualifier, numSignatures: d.NumSignatures, hashOID: d.HashAlgorithmOID, details: &d}
		if c.credentialID == "" {
			c.credentialID = form.Get("credentialID") // resolved from the qualifier after login
		}
		for _, doc := range d.Documents {
			c.hashes = append(c.hashes, doc.Hash)
			c.labels = append(c.labels, doc.Label)
		}
		return c, nil
	}
	if !scopes.Has(ScopeCredential) {
		return nil, nil
	}
	c := &cscRequest{credentialID: form.Get("credentialID"), qualifier: form.Get("signatureQualifier"), hashOID: form.Get("hashAlgorithmOID")}
	if c.credentialID == "" && c.qualifier == "" {
		return nil, fosite.ErrInvalidRequest.WithDescription("scope credential needs credentialID or signatureQualifier")
	}
	n, err := strconv.Atoi(form.Get("numSignatures"))
	if err != nil || n < 1 || n > maxDocuments {
		return nil, fosite.ErrInvalidRequest.WithDescription("scope credential needs numSignatures, a positive integer")
	}
	c.numSignatures = n
	hs := form.Get("hashes")
	if hs == "" {
		hs = form.Get("hash") // CSC v1 name
	}
	if c.hashes, err = ParseHashesParam(hs); err != nil {
		return nil, fosite.ErrInvalidRequest.WithDescription("hashes must be comma-separated base64url digests")
	}
	if len(c.hashes) > 0 && c.hashOID == "" {
		return nil, fosite.ErrInvalidRequest.WithDescription("hashes need hashAlgorithmOID")
	}
	c.labels = make([]string, len(c.hashes))
	return c, nil
}

// Authorize is oauth2/authorize: fosite checks the client, redirect URI,
// PKCE and any pushed request; we check the CSC parameters, keep the request
// in a flow row, and show the login page.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if q.Get("state") == "" && q.Get("request_uri") == "" {
		q.Set("state", noState)
		r.URL.RawQuery = q.Encode()
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	form := cloneValues(ar.GetRequestForm())
	form.Del("request_uri")
	if form.Get("state") == "" {
		form.Set("state", noState)
	}
	if _, err := parseCSC(form, ar.GetRequestedScopes()); err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	flowID, _, err := randomToken()
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	browser, browserHash, err1 := randomToken()
	csrf, csrfHash, err2 := randomToken()
	if err := errors.Join(err1, err2); err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	f := &store.OAuthFlow{ID: flowID, BrowserHash: browserHash, CSRFHash: csrfHash, ClientID: ar.GetClient().GetID(),
		Form: form.Encode(), Step: store.FlowLogin, ExpiresAt: s.now().Add(flowLifetime).UnixMilli()}
	if err := s.db.CreateOAuthFlow(ctx, f); err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(flowID), Value: browser, Path: "/oauth2/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode, MaxAge: int(flowLifetime / time.Second)})
	s.render(w, http.StatusOK, "login.html", pageData{Flow: flowID, CSRF: csrf, ClientName: s.clientName(ctx, f.ClientID)})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (s *Server) clientName(ctx context.Context, id string) string {
	if c, err := s.db.OAuthClient(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}

// flowFor loads the flow a page request names and checks it belongs to this
// browser, carries the right CSRF token (for a POST), is at step and has
// not expired. A failure shows the expired page.
func (s *Server) flowFor(w http.ResponseWriter, r *http.Request, step string) (*store.OAuthFlow, string, bool) {
	id := r.FormValue("flow")
	c, err := r.Cookie(cookieName(id))
	f, ferr := s.db.OAuthFlowByID(r.Context(), id)
	ok := id != "" && err == nil && ferr == nil && f.Step == step && f.ExpiresAt > s.now().UnixMilli() &&
		subtle.ConstantTimeCompare(hash(c.Value), f.BrowserHash) == 1
	if ok && r.Method == http.MethodPost {
		ok = subtle.ConstantTimeCompare(hash(r.PostFormValue("csrf")), f.CSRFHash) == 1
	}
	if !ok {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return nil, "", false
	}
	return f, r.FormValue("csrf"), true
}

func hash(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// The flow's one CSRF token travels in the pages' forms and in the query of
// the redirects between pages (never logged: the access log has no query
// strings, and the pages send no Referer).

// Login is POST oauth2/login: the password, checked by the SAM.
func (s *Server) Login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, csrf, ok := s.flowFor(w, r, store.FlowLogin)
	if !ok {
		return
	}
	ctx := r.Context()
	signerID, err := s.sam.CheckPassword(ctx, s.db, r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		if !errors.Is(err, sam.ErrLoginFailed) {
			s.log.Error("login", slog.String("error", err.Error()))
		}
		s.render(w, http.StatusOK, "login.html", pageData{Flow: f.ID, CSRF: csrf, ClientName: s.clientName(ctx, f.ClientID), Error: msg("login.failed")})
		return
	}
	if advanced, err := s.db.AdvanceOAuthFlow(ctx, f.ID, store.FlowLogin, store.FlowConsent, signerID, s.now().UnixMilli()); err != nil || !advanced {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return
	}
	http.Redirect(w, r, "/oauth2/consent?flow="+url.QueryEscape(f.ID)+"&csrf="+url.QueryEscape(csrf), http.StatusSeeOther)
}

// Consent is oauth2/consent: GET shows what the client asks, POST takes the
// signer's answer.
func (s *Server) Consent(w http.ResponseWriter, r *http.Request) {
	f, csrf, ok := s.flowFor(w, r, store.FlowConsent)
	if !ok {
		return
	}
	ctx := r.Context()
	form, _ := url.ParseQuery(f.Form)
	req, err := parseCSC(form, fosite.Arguments(strings.Fields(form.Get("scope"))))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return
	}
	d := pageData{Flow: f.ID, CSRF: csrf, ClientName: s.clientName(ctx, f.ClientID)}
	resolved := false
	if req != nil && req.credentialID == "" {
		// The request names a signature qualifier: the signer's (first)
		// active credential that answers to it.
		if req.credentialID, err = s.credentialForQualifier(ctx, f.SignerID, req.qualifier); err != nil {
			s.finishError(w, r, f, fosite.ErrAccessDenied.WithDescription("No credential of this user answers to the signature qualifier"))
			return
		}
		resolved = true
	}
	if req != nil {
		cred, err := s.db.Credential(ctx, req.credentialID)
		if err != nil || cred.SignerID != f.SignerID || cred.Status != store.StatusActive {
			s.finishError(w, r, f, fosite.ErrAccessDenied.WithDescription("The credential is not available to this user"))
			return
		}
		d.Credential = cred.ID
		if cred.Description != "" {
			d.Credential = cred.Description + " (" + cred.ID + ")"
		}
		d.NumSignatures = req.numSignatures
		for i, h := range req.hashes {
			label := req.labels[i]
			if label == "" {
				label = fmt.Sprintf(msg("consent.document"), i+1)
			}
			d.Documents = append(d.Documents, pageDocument{Label: label, Fingerprint: fingerprint(h)})
		}
	}
	if r.Method == http.MethodGet {
		s.render(w, http.StatusOK, "consent.html", d, s.redirectOrigin(ctx, f.ClientID, form))
		return
	}
	if r.PostFormValue("action") != "approve" {
		s.finishError(w, r, f, fosite.ErrAccessDenied.WithDescription("The signer denied the request"))
		return
	}
	if req == nil { // scope service: consent is the last step
		if advanced, err := s.db.AdvanceOAuthFlow(ctx, f.ID, store.FlowConsent, store.FlowDone, "", s.now().UnixMilli()); err != nil || !advanced {
			s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
			return
		}
		s.finish(w, r, f, nil, nil)
		return
	}
	if resolved {
		form.Set("credentialID", req.credentialID)
	}
	if advanced, err := s.db.AdvanceOAuthFlowForm(ctx, f.ID, store.FlowConsent, store.FlowOTP, form.Encode(), s.now().UnixMilli()); err != nil || !advanced {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return
	}
	http.Redirect(w, r, "/oauth2/otp?flow="+url.QueryEscape(f.ID)+"&csrf="+url.QueryEscape(csrf), http.StatusSeeOther)
}

// fingerprint is the short form of a digest shown on the consent page:
// its first 8 bytes in hex, in groups of four characters.
func fingerprint(h []byte) string { return sam.DigestFingerprint(h, 8) }

// OTP is oauth2/otp: the second factor, checked by the SAM together with
// everything the signer approved; on success the client gets its code.
func (s *Server) OTP(w http.ResponseWriter, r *http.Request) {
	f, csrf, ok := s.flowFor(w, r, store.FlowOTP)
	if !ok {
		return
	}
	ctx := r.Context()
	form, _ := url.ParseQuery(f.Form)
	req, err := parseCSC(form, fosite.Arguments(strings.Fields(form.Get("scope"))))
	if err != nil || req == nil {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return
	}
	d := pageData{Flow: f.ID, CSRF: csrf, NumSignatures: req.numSignatures, SMSSent: f.ChallengeID != ""}
	if ph, err := s.db.Factor(ctx, f.SignerID, "", store.FactorSMS); err == nil && ph.Status == store.StatusActive {
		d.Phone = sam.MaskPhone(ph.Target)
	}
	origin := s.redirectOrigin(ctx, f.ClientID, form)
	if r.Method == http.MethodGet {
		s.render(w, http.StatusOK, "otp.html", d, origin)
		return
	}
	switch r.PostFormValue("action") {
	case "approve":
	case "sms":
		s.sendSMS(w, r, f, req, d, origin)
		return
	default:
		s.finishError(w, r, f, fosite.ErrAccessDenied.WithDescription("The signer denied the request"))
		return
	}
	approval, err := s.sam.Approve(ctx, sam.ApproveRequest{CredentialID: req.credentialID, SignerID: f.SignerID, ClientID: f.ClientID,
		NumSignatures: req.numSignatures, HashAlgorithm: req.hashOID, Hashes: req.hashes, OTP: r.PostFormValue("otp"), ChallengeID: f.ChallengeID})
	switch {
	case errors.Is(err, sam.ErrCredentialLocked):
		d.Error = msg("otp.locked")
		s.render(w, http.StatusOK, "otp.html", d, origin)
		return
	case errors.Is(err, sam.ErrAuthentication):
		d.Error = msg("otp.failed")
		s.render(w, http.StatusOK, "otp.html", d, origin)
		return
	case err != nil:
		s.finishError(w, r, f, fosite.ErrAccessDenied.WithDescription("The request cannot be approved").WithWrap(err))
		return
	}
	if advanced, err := s.db.AdvanceOAuthFlow(ctx, f.ID, store.FlowOTP, store.FlowDone, "", s.now().UnixMilli()); err != nil || !advanced {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
		return
	}
	s.finish(w, r, f, req, approval)
}

// sendSMS sends a one-time code for exactly this request to the signer's
// phone and records it with the flow, so the code field then answers it.
func (s *Server) sendSMS(w http.ResponseWriter, r *http.Request, f *store.OAuthFlow, req *cscRequest, d pageData, origin string) {
	ctx := r.Context()
	id, err := s.sam.SendOTP(ctx, sam.OTPRequest{SignerID: f.SignerID, ClientID: f.ClientID, ClientName: s.clientName(ctx, f.ClientID),
		Binding: sam.Binding{CredentialID: req.credentialID, HashAlgorithm: req.hashOID, Hashes: req.hashes, NumSignatures: req.numSignatures}})
	switch {
	case sam.IsRateLimited(err):
		d.Error = msg("otp.sms.wait")
	case errors.Is(err, sam.ErrCredentialLocked):
		d.Error = msg("otp.locked")
	case err != nil:
		s.log.WarnContext(ctx, "SMS code not sent", slog.String("flow", f.ID), slog.Any("error", err))
		d.Error = msg("otp.sms.failed")
	default:
		if ok, err := s.db.SetOAuthFlowChallenge(ctx, f.ID, store.FlowOTP, id, s.now().UnixMilli()); err != nil || !ok {
			s.render(w, http.StatusBadRequest, "error.html", pageData{Error: msg("error.expired")})
			return
		}
		d.SMSSent, d.Notice = true, fmt.Sprintf(msg("otp.sms.sent"), d.Phone)
	}
	s.render(w, http.StatusOK, "otp.html", d, origin)
}

// rebuild turns a flow's stored request back into a fosite authorization
// request: fosite validates it again (client, redirect URI, PKCE, scopes).
func (s *Server) rebuild(ctx context.Context, f *store.OAuthFlow) (fosite.AuthorizeRequester, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.Issuer+"/oauth2/authorize?"+f.Form, nil)
	if err != nil {
		return nil, err
	}
	return s.provider.NewAuthorizeRequest(ctx, r)
}

// finish issues the authorization code and redirects to the client. For a
// credential scope the approval becomes a SAD whose token derives from the
// code.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, f *store.OAuthFlow, req *cscRequest, approval *sam.Approval) {
	ctx := r.Context()
	ar, err := s.rebuild(ctx, f)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	sess := NewSession(f.SignerID)
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	if req != nil {
		if !ar.GetGrantedScopes().Has(ScopeCredential) {
			ar.GrantScope(ScopeCredential)
		}
		sess.CredentialID, sess.NumSignatures, sess.HashAlgorithmOID = req.credentialID, req.numSignatures, req.hashOID
		for _, h := range req.hashes {
			sess.Hashes = append(sess.Hashes, base64.StdEncoding.EncodeToString(h))
		}
		if req.details != nil {
			sess.AuthorizationDetails = []byte(ar.GetRequestForm().Get("authorization_details"))
		}
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	if approval != nil {
		if _, err := approval.Issue(ctx, resp.GetCode()); err != nil {
			s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	if resp.GetParameters().Get("state") == noState {
		resp.GetParameters().Del("state")
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// finishError ends a flow by sending the client an error with its state.
func (s *Server) finishError(w http.ResponseWriter, r *http.Request, f *store.OAuthFlow, rfcErr *fosite.RFC6749Error) {
	ctx := r.Context()
	ar, err := s.rebuild(ctx, f)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	_, _ = s.db.AdvanceOAuthFlow(ctx, f.ID, f.Step, store.FlowDone, "", s.now().UnixMilli())
	if req, ok := ar.(*fosite.AuthorizeRequest); ok && req.State == noState {
		// fosite would echo the placeholder; the client sent no state.
		req.State = ""
	}
	s.provider.WriteAuthorizeError(ctx, w, ar, rfcErr)
}

// redirectOrigin is the origin of the client's redirect URI for this flow.
// A form whose submission ends in a redirect to the client must list it in
// form-action, or browsers that apply form-action to redirects (Chrome)
// block the way back to the client.
func (s *Server) redirectOrigin(ctx context.Context, clientID string, form url.Values) string {
	raw := form.Get("redirect_uri")
	if raw == "" {
		if c, err := s.db.OAuthClient(ctx, clientID); err == nil && len(c.RedirectURIs) > 0 {
			raw = c.RedirectURIs[0]
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || strings.ContainsAny(u.Host, " ;'") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// credentialForQualifier picks the signer's first active credential that
// answers to a signature qualifier.
func (s *Server) credentialForQualifier(ctx context.Context, signerID, qualifier string) (string, error) {
	creds, err := s.db.CredentialsOf(ctx, signerID)
	if err != nil {
		return "", err
	}
	for _, c := range creds {
		if qualifier != "" && c.SignatureQualifier == qualifier && c.Status == store.StatusActive {
			return c.ID, nil
		}
	}
	return "", errors.New("no credential for the qualifier")
}
