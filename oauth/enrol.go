package oauth

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// The enrolment pages take a signer registered by an operator from the
// activation code to a ready signing credential, in four steps on one
// enrolment row:
//
//	GET/POST /enrol          the activation code (spent by the SAM)
//	GET/POST /enrol/secrets  login password and signing PIN, each typed twice
//	GET/POST /enrol/phone    the code sent by SMS to the claimed phone number
//	GET/POST /enrol/totp     the authenticator app: QR code shown once, first code
//	GET      /enrol/done     the credential ID and certificate subject
//
// They follow the rules of the approval pages: no JavaScript, no external
// assets, the same headers and content security policy, the row bound to
// the browser by its own cookie, a CSRF token stored only hashed, and every
// step taken by a conditional UPDATE. A step is first claimed (moved to
// "<step>.busy"), then run, then moved on (or back, when the signer typed
// something wrong), so a double submit cannot run a step twice: the second
// request finds the step claimed or passed. Secrets typed here (PIN,
// password, codes) go straight to the SAM and are never logged; the TOTP
// seed is shown once, on the page that creates it, and is kept only wrapped
// by the HSM.

// EnrolSAM is what the enrolment pages need from the SAM.
type EnrolSAM interface {
	Activate(ctx context.Context, code string) (*store.Signer, error)
	NewCredentialID() (string, error)
	HashPIN(ctx context.Context, credentialID, pin string) ([]byte, error)
	CheckPIN(pin string) error
	SetEnrolmentPassword(ctx context.Context, signerID, password string) error
	SendPhoneBinding(ctx context.Context, signerID string) (challengeID, sentTo string, err error)
	ConfirmPhone(ctx context.Context, signerID, challengeID, code string) error
	NewTOTPSecret(ctx context.Context, account string) (sam.TOTPSecret, []byte, error)
	ConfirmTOTP(ctx context.Context, signerID string, blob []byte, code string) error
	CompleteEnrolment(ctx context.Context, c sam.Completion) (*store.Credential, error)
}

var _ EnrolSAM = (*sam.SAM)(nil)

// EnrolStore keeps enrolments in progress and reads what the pages show:
// the signer's username (the account name in the authenticator app), the
// claimed phone number (shown masked) and the finished credential.
type EnrolStore interface {
	CreateEnrolment(ctx context.Context, e *store.Enrolment) error
	EnrolmentByID(ctx context.Context, id string) (*store.Enrolment, error)
	AdvanceEnrolment(ctx context.Context, id, from, to string, set map[string]any, nowMs int64) (bool, error)
	Signer(ctx context.Context, id string) (*store.Signer, error)
	Factor(ctx context.Context, signerID, credentialID, kind string) (*store.Factor, error)
	Credential(ctx context.Context, id string) (*store.Credential, error)
}

var _ EnrolStore = (*store.Store)(nil)

// EnrolConfig is what enrolment creates.
type EnrolConfig struct {
	// Credential is the credential made at the end: key algorithm, SCAL,
	// multisign, auth mode and description (ID and signer are filled in).
	Credential sam.NewCredential
	// Validity of its certificate (0: the SAM's default).
	Validity time.Duration
	// Lifetime of an enrolment from the activation code to the last step
	// (default 30 minutes).
	Lifetime time.Duration
}

// EnrolDeps are the enrolment pages' collaborators.
type EnrolDeps struct {
	SAM    EnrolSAM
	DB     EnrolStore
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Enrolment serves the enrolment pages under /enrol.
type Enrolment struct {
	cfg   EnrolConfig
	sam   EnrolSAM
	db    EnrolStore
	now   func() time.Time
	log   *slog.Logger
	pages *pages
	mux   *http.ServeMux
}

// Enrolment steps, as stored in the row. A claimed step is step + busy.
const (
	enrolSecrets = "secrets"
	enrolPhone   = "phone"
	enrolTOTP    = "totp"
	enrolDone    = "done"
	enrolFailed  = "failed" // the credential could not be created
	busy         = ".busy"
)

// enrolPaths are the pages of the steps.
var enrolPaths = map[string]string{
	enrolSecrets: "/enrol/secrets",
	enrolPhone:   "/enrol/phone",
	enrolTOTP:    "/enrol/totp",
	enrolDone:    "/enrol/done",
}

// enrolCookie binds an enrolment to its browser (one cookie per
// enrolment); formCookie carries the activation form's CSRF token.
const (
	enrolCookie = "rssp_enrol_"
	formCookie  = "rssp_enrol_form"
	enrolPath   = "/enrol"
)

// qrScale is the QR code's pixels per module: an otpauth URI makes a code
// of about 40 modules, some 290 pixels, narrower than a phone.
const qrScale = 6

// NewEnrolment builds the enrolment pages.
func NewEnrolment(cfg EnrolConfig, d EnrolDeps) (*Enrolment, error) {
	if d.SAM == nil || d.DB == nil {
		return nil, errors.New("oauth: enrolment needs the SAM and the store")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 30 * time.Minute
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	e := &Enrolment{cfg: cfg, sam: d.SAM, db: d.DB, now: d.Now, log: d.Logger, pages: pg, mux: http.NewServeMux()}
	e.mux.HandleFunc("GET /enrol", e.activationForm)
	e.mux.HandleFunc("POST /enrol", e.activate)
	e.mux.HandleFunc("GET /enrol/secrets", e.secretsPage)
	e.mux.HandleFunc("POST /enrol/secrets", e.secrets)
	e.mux.HandleFunc("GET /enrol/phone", e.phonePage)
	e.mux.HandleFunc("POST /enrol/phone", e.phone)
	e.mux.HandleFunc("GET /enrol/totp", e.totpPage)
	e.mux.HandleFunc("POST /enrol/totp", e.totp)
	e.mux.HandleFunc("GET /enrol/done", e.done)
	return e, nil
}

// ServeHTTP serves the pages under /enrol.
func (e *Enrolment) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// enrolPage is what the enrolment templates see.
type enrolPage struct {
	pageData
	Enrolment string
	Step      int
	Notice    string
	Phone     string       // masked
	QR        template.URL // data:image/png;base64,... made here from the otpauth URI
	OTPAuth   template.URL // otpauth://totp/...
	Secret    string       // the base32 seed, in groups of four
	AgainURL  string       // the TOTP page again, for a new secret
	Subject   string
}

func (e *Enrolment) render(w http.ResponseWriter, status int, name string, d enrolPage) {
	d.CSS = e.pages.css
	e.pages.write(w, e.log, status, name, d, d.QR != "")
}

func (e *Enrolment) expired(w http.ResponseWriter) {
	e.render(w, http.StatusBadRequest, "error.html", enrolPage{pageData: pageData{Error: msg("enrol.expired")}})
}

// fail shows the signer a page without detail and logs the cause.
func (e *Enrolment) fail(w http.ResponseWriter, what string, err error) {
	e.log.Error("enrolment", slog.String("step", what), slog.String("error", err.Error()))
	e.render(w, http.StatusInternalServerError, "error.html", enrolPage{pageData: pageData{Error: msg("enrol.failed")}})
}

// seeOther redirects without a body (http.Redirect writes one for GET).
func seeOther(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// stepURL is the page of step for an enrolment. The CSRF token travels in
// the redirects between the pages (never logged: the access log has no query
// strings, and the pages send no Referer).
func stepURL(step, id, csrf string) string {
	return enrolPaths[step] + "?" + url.Values{"enrolment": {id}, "csrf": {csrf}}.Encode()
}

func enrolCookieName(id string) string {
	if len(id) > 16 {
		id = id[:16]
	}
	return enrolCookie + id
}

func (e *Enrolment) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: enrolPath, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge / time.Second)})
}

// activationForm is GET /enrol. The form's CSRF token is also set as a
// cookie, and the two must match on POST.
func (e *Enrolment) activationForm(w http.ResponseWriter, r *http.Request) {
	e.showActivation(w, r, http.StatusOK, "")
}

func (e *Enrolment) showActivation(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	token, _, err := randomToken()
	if err != nil {
		e.fail(w, "activation form", err)
		return
	}
	e.setCookie(w, r, formCookie, token, e.cfg.Lifetime)
	e.render(w, status, "enrol.html", enrolPage{pageData: pageData{CSRF: token, Error: errMsg}})
}

// activate is POST /enrol: the SAM spends the activation code, and a new
// enrolment row, bound to this browser, starts at the secrets step. Every
// answer but the redirect counts as a failure for the per-address limiter.
func (e *Enrolment) activate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := r.Cookie(formCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		e.showActivation(w, r, http.StatusOK, msg("enrol.cookies"))
		return
	}
	sg, err := e.sam.Activate(ctx, r.PostFormValue("code"))
	if errors.Is(err, sam.ErrActivationInvalid) {
		e.showActivation(w, r, http.StatusOK, msg("enrol.invalid"))
		return
	}
	if err != nil {
		e.fail(w, "activate", err)
		return
	}
	id, _, err1 := randomToken()
	browser, browserHash, err2 := randomToken()
	csrf, csrfHash, err3 := randomToken()
	credID, err4 := e.sam.NewCredentialID()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		e.fail(w, "activate", err)
		return
	}
	en := &store.Enrolment{ID: id, SignerID: sg.ID, BrowserHash: browserHash, CSRFHash: csrfHash, Step: enrolSecrets,
		CredentialID: credID, ExpiresAt: e.now().Add(e.cfg.Lifetime).UnixMilli()}
	if err := e.db.CreateEnrolment(ctx, en); err != nil {
		e.fail(w, "activate", err)
		return
	}
	e.log.Info("enrolment started", slog.String("signer", sg.ID))
	e.setCookie(w, r, enrolCookieName(id), browser, e.cfg.Lifetime)
	e.setCookie(w, r, formCookie, "", -1)
	seeOther(w, stepURL(enrolSecrets, id, csrf))
}

// load finds the enrolment a request names and checks that it belongs to
// this browser, carries the CSRF token (in the form for a POST, in the query
// for a GET: every page is reached by a redirect that carries it) and has
// not expired. Otherwise it shows the expired page and returns nil.
func (e *Enrolment) load(w http.ResponseWriter, r *http.Request) (*store.Enrolment, string) {
	id, csrf := r.URL.Query().Get("enrolment"), r.URL.Query().Get("csrf")
	if r.Method == http.MethodPost {
		id, csrf = r.PostFormValue("enrolment"), r.PostFormValue("csrf")
	}
	c, cerr := r.Cookie(enrolCookieName(id))
	var en *store.Enrolment
	var err error
	if id != "" && cerr == nil {
		en, err = e.db.EnrolmentByID(r.Context(), id)
	}
	ok := id != "" && cerr == nil && err == nil && en.ExpiresAt > e.now().UnixMilli() &&
		subtle.ConstantTimeCompare(hash(c.Value), en.BrowserHash) == 1 &&
		subtle.ConstantTimeCompare(hash(csrf), en.CSRFHash) == 1
	if !ok {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Error("enrolment", slog.String("step", "load"), slog.String("error", err.Error()))
		}
		e.expired(w)
		return nil, ""
	}
	return en, csrf
}

// at reports whether the enrolment is at step. If it is at another step
// the browser is sent to that step's page (a reload, the back button, a
// double submit); a step still being processed or a failed enrolment gets
// its page.
func (e *Enrolment) at(w http.ResponseWriter, en *store.Enrolment, csrf, step string) bool {
	switch {
	case en.Step == step:
		return true
	case strings.HasSuffix(en.Step, busy):
		e.render(w, http.StatusBadRequest, "error.html", enrolPage{pageData: pageData{Error: msg("enrol.busy")}})
	case en.Step == enrolFailed:
		e.render(w, http.StatusBadRequest, "error.html", enrolPage{pageData: pageData{Error: msg("enrol.failed")}})
	case enrolPaths[en.Step] != "":
		seeOther(w, stepURL(en.Step, en.ID, csrf))
	default:
		e.expired(w)
	}
	return false
}

// step loads the enrolment for a page of step.
func (e *Enrolment) step(w http.ResponseWriter, r *http.Request, step string) (*store.Enrolment, string, bool) {
	en, csrf := e.load(w, r)
	if en == nil || !e.at(w, en, csrf, step) {
		return nil, "", false
	}
	return en, csrf, true
}

// claim moves the enrolment from step to step.busy, so that only one
// request runs the step. A request that loses sees where the enrolment is.
func (e *Enrolment) claim(w http.ResponseWriter, r *http.Request, en *store.Enrolment, csrf, step string) bool {
	ok, err := e.db.AdvanceEnrolment(r.Context(), en.ID, step, step+busy, nil, e.now().UnixMilli())
	if err != nil {
		e.fail(w, step, err)
		return false
	}
	if !ok {
		cur, err := e.db.EnrolmentByID(r.Context(), en.ID)
		if err != nil || cur.ExpiresAt <= e.now().UnixMilli() {
			e.expired(w)
		} else if e.at(w, cur, csrf, step) {
			// Back at step already: the request that held it refused
			// what it was given. This one lost the race all the same.
			e.render(w, http.StatusBadRequest, "error.html", enrolPage{pageData: pageData{Error: msg("enrol.busy")}})
		}
	}
	return ok
}

// release moves a claimed step on to next (or back to itself), setting the
// given columns.
func (e *Enrolment) release(ctx context.Context, en *store.Enrolment, step, next string, set map[string]any) error {
	ok, err := e.db.AdvanceEnrolment(ctx, en.ID, step+busy, next, set, e.now().UnixMilli())
	if err == nil && !ok {
		err = errors.New("enrolment expired during a step")
	}
	return err
}

func (e *Enrolment) page(en *store.Enrolment, csrf string, n int) enrolPage {
	return enrolPage{pageData: pageData{CSRF: csrf}, Enrolment: en.ID, Step: n}
}

// secretsPage is GET /enrol/secrets.
func (e *Enrolment) secretsPage(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolSecrets)
	if !ok {
		return
	}
	e.render(w, http.StatusOK, "enrol_secrets.html", e.page(en, csrf, 1))
}

// secrets is POST /enrol/secrets: the password is set and the PIN hashed
// for the credential to come (kept in the row); then the code that proves
// the phone goes out.
func (e *Enrolment) secrets(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolSecrets)
	if !ok {
		return
	}
	ctx := r.Context()
	d := e.page(en, csrf, 1)
	password, pin := r.PostFormValue("password"), r.PostFormValue("pin")
	switch {
	case password != r.PostFormValue("password2"):
		d.Error = msg("enrol.password.differ")
	case pin != r.PostFormValue("pin2"):
		d.Error = msg("enrol.pin.differ")
	default:
		d.Error = pinRefusal(e.sam.CheckPIN(pin))
	}
	if d.Error != "" {
		e.render(w, http.StatusOK, "enrol_secrets.html", d)
		return
	}
	if !e.claim(w, r, en, csrf, enrolSecrets) {
		return
	}
	pinHash, err := e.sam.HashPIN(ctx, en.CredentialID, pin)
	if err == nil {
		err = e.sam.SetEnrolmentPassword(ctx, en.SignerID, password)
	}
	if err != nil {
		if rerr := e.release(ctx, en, enrolSecrets, enrolSecrets, nil); rerr != nil {
			e.fail(w, enrolSecrets, rerr)
			return
		}
		if d.Error = pinRefusal(err); d.Error == "" && errors.Is(err, sam.ErrInvalidPassword) {
			d.Error = msg("enrol.password.refused")
		}
		if d.Error == "" {
			e.fail(w, enrolSecrets, err)
			return
		}
		e.render(w, http.StatusOK, "enrol_secrets.html", d)
		return
	}
	// The code goes out as the phone step begins. If it cannot, the phone
	// page says so and offers to send one.
	challengeID, _, err := e.sam.SendPhoneBinding(ctx, en.SignerID)
	if err != nil {
		e.logSend(err)
	}
	if err := e.release(ctx, en, enrolSecrets, enrolPhone, map[string]any{"pin_hash": pinHash, "challenge_id": challengeID}); err != nil {
		e.fail(w, enrolSecrets, err)
		return
	}
	seeOther(w, stepURL(enrolPhone, en.ID, csrf))
}

// pinRefusal is the message for a PIN the policy refuses, or "".
func pinRefusal(err error) string {
	var pe *sam.PINPolicyError
	if errors.As(err, &pe) {
		return fmt.Sprintf(msg("enrol.pin.refused"), pe.Reason)
	}
	return ""
}

// sendRefusal is the polite message for a code that was not sent.
func sendRefusal(err error) string {
	switch {
	case errors.Is(err, sam.ErrResendTooSoon):
		return msg("enrol.phone.wait")
	case errors.Is(err, sam.ErrSMSRateLimited):
		return msg("enrol.phone.limited")
	}
	return msg("enrol.phone.unsent")
}

func (e *Enrolment) logSend(err error) {
	if !sam.IsRateLimited(err) {
		e.log.Warn("enrolment: phone code not sent", slog.String("error", err.Error()))
	}
}

// maskedPhone is the claimed phone number as the pages show it.
func (e *Enrolment) maskedPhone(ctx context.Context, signerID string) (string, error) {
	f, err := e.db.Factor(ctx, signerID, "", store.FactorSMS)
	if err != nil {
		return "", err
	}
	return sam.MaskPhone(f.Target), nil
}

func (e *Enrolment) phoneData(ctx context.Context, en *store.Enrolment, csrf string) (enrolPage, error) {
	d := e.page(en, csrf, 2)
	var err error
	d.Phone, err = e.maskedPhone(ctx, en.SignerID)
	if en.ChallengeID == "" {
		d.Notice = msg("enrol.phone.none")
	}
	return d, err
}

// phonePage is GET /enrol/phone.
func (e *Enrolment) phonePage(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolPhone)
	if !ok {
		return
	}
	d, err := e.phoneData(r.Context(), en, csrf)
	if err != nil {
		e.fail(w, enrolPhone, err)
		return
	}
	if en.ChallengeID == "" {
		// No code went out when the step began (the SMS cooldown after
		// the activation code, or the provider): try again now.
		if !e.sendCode(w, r, en, csrf, &d) {
			return
		}
		if d.Error == "" {
			d.Notice = "" // the page says a code was sent
		}
	}
	e.render(w, http.StatusOK, "enrol_phone.html", d)
}

// sendCode sends a new code to the phone, the step claimed meanwhile, and
// says on the page whether it went; if it did not, an earlier code keeps
// working. False when it wrote an error page instead.
func (e *Enrolment) sendCode(w http.ResponseWriter, r *http.Request, en *store.Enrolment, csrf string, d *enrolPage) bool {
	if !e.claim(w, r, en, csrf, enrolPhone) {
		return false
	}
	ctx := r.Context()
	challengeID, sentTo, err := e.sam.SendPhoneBinding(ctx, en.SignerID)
	var set map[string]any
	if err == nil {
		set = map[string]any{"challenge_id": challengeID}
		d.Notice = fmt.Sprintf(msg("enrol.phone.resent"), sentTo)
	} else {
		e.logSend(err)
		d.Error = sendRefusal(err)
	}
	if err := e.release(ctx, en, enrolPhone, enrolPhone, set); err != nil {
		e.fail(w, enrolPhone, err)
		return false
	}
	return true
}

// phone is POST /enrol/phone: action resend sends a new code, otherwise
// the code typed is checked by the SAM and the phone bound.
func (e *Enrolment) phone(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolPhone)
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := e.phoneData(ctx, en, csrf)
	if err != nil {
		e.fail(w, enrolPhone, err)
		return
	}
	if r.PostFormValue("action") == "resend" {
		if e.sendCode(w, r, en, csrf, &d) {
			e.render(w, http.StatusOK, "enrol_phone.html", d)
		}
		return
	}
	if en.ChallengeID == "" {
		e.render(w, http.StatusOK, "enrol_phone.html", d)
		return
	}
	if !e.claim(w, r, en, csrf, enrolPhone) {
		return
	}
	err = e.sam.ConfirmPhone(ctx, en.SignerID, en.ChallengeID, strings.TrimSpace(r.PostFormValue("code")))
	if err != nil {
		if rerr := e.release(ctx, en, enrolPhone, enrolPhone, nil); rerr != nil {
			e.fail(w, enrolPhone, rerr)
			return
		}
		if !errors.Is(err, sam.ErrOTPInvalid) {
			e.fail(w, enrolPhone, err)
			return
		}
		d.Notice, d.Error = "", msg("enrol.phone.wrong")
		e.render(w, http.StatusOK, "enrol_phone.html", d)
		return
	}
	if err := e.release(ctx, en, enrolPhone, enrolTOTP, nil); err != nil {
		e.fail(w, enrolPhone, err)
		return
	}
	seeOther(w, stepURL(enrolTOTP, en.ID, csrf))
}

// totpPage is GET /enrol/totp: every visit makes a new seed, wrapped by the
// HSM and kept in the row until confirmed, and shows it once, as a QR code
// made here (inline, as a data: URI: the seed is never stored in clear, so
// no later request could draw it), the otpauth URI and the base32 key.
func (e *Enrolment) totpPage(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolTOTP)
	if !ok {
		return
	}
	ctx := r.Context()
	sg, err := e.db.Signer(ctx, en.SignerID)
	if err != nil {
		e.fail(w, enrolTOTP, err)
		return
	}
	secret, seed, err := e.sam.NewTOTPSecret(ctx, sg.Username)
	clear(seed) // the page shows the URI's copy; nothing else needs it
	if err != nil {
		e.fail(w, enrolTOTP, err)
		return
	}
	d := e.page(en, csrf, 3)
	if err := fillTOTP(&d, secret.URI); err != nil {
		e.fail(w, enrolTOTP, err)
		return
	}
	ok, err = e.db.AdvanceEnrolment(ctx, en.ID, enrolTOTP, enrolTOTP, map[string]any{"totp_blob": secret.Blob}, e.now().UnixMilli())
	if err != nil {
		e.fail(w, enrolTOTP, err)
		return
	}
	if !ok {
		e.expired(w)
		return
	}
	e.render(w, http.StatusOK, "enrol_totp.html", d)
}

// fillTOTP puts the QR code, the URI and the key of an otpauth URI on the
// page.
func fillTOTP(d *enrolPage, uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" {
		return errors.New("oauth: the SAM gave no otpauth URI")
	}
	code, err := qr.Encode(uri, qr.M)
	if err != nil {
		return err
	}
	code.Scale = qrScale
	d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()))
	d.OTPAuth = template.URL(uri)
	d.Secret = groups(u.Query().Get("secret"), 4)
	return nil
}

// groups splits s into groups of n characters, for reading and typing.
func groups(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// totp is POST /enrol/totp: the first code from the app binds it; then the
// SAM completes the enrolment (key in the HSM, PIN, certificate).
func (e *Enrolment) totp(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolTOTP)
	if !ok {
		return
	}
	if len(en.TOTPBlob) == 0 {
		seeOther(w, stepURL(enrolTOTP, en.ID, csrf))
		return
	}
	if !e.claim(w, r, en, csrf, enrolTOTP) {
		return
	}
	ctx := r.Context()
	err := e.sam.ConfirmTOTP(ctx, en.SignerID, en.TOTPBlob, strings.TrimSpace(r.PostFormValue("otp")))
	if err != nil {
		if rerr := e.release(ctx, en, enrolTOTP, enrolTOTP, nil); rerr != nil {
			e.fail(w, enrolTOTP, rerr)
			return
		}
		if !errors.Is(err, sam.ErrOTPInvalid) {
			e.fail(w, enrolTOTP, err)
			return
		}
		d := e.page(en, csrf, 3)
		d.Error, d.Notice, d.AgainURL = msg("enrol.totp.wrong"), msg("enrol.totp.hidden"), stepURL(enrolTOTP, en.ID, csrf)
		e.render(w, http.StatusOK, "enrol_totp.html", d)
		return
	}
	cred, err := e.sam.CompleteEnrolment(ctx, sam.Completion{SignerID: en.SignerID, CredentialID: en.CredentialID, PINHash: en.PINHash,
		Credential: e.cfg.Credential, Validity: e.cfg.Validity})
	if err != nil {
		_ = e.release(ctx, en, enrolTOTP, enrolFailed, nil)
		e.fail(w, "complete", err)
		return
	}
	if err := e.release(ctx, en, enrolTOTP, enrolDone, nil); err != nil {
		e.fail(w, "complete", err)
		return
	}
	e.log.Info("enrolment completed", slog.String("signer", en.SignerID), slog.String("credential", cred.ID))
	seeOther(w, stepURL(enrolDone, en.ID, csrf))
}

// done is GET /enrol/done: the credential is ready.
func (e *Enrolment) done(w http.ResponseWriter, r *http.Request) {
	en, csrf, ok := e.step(w, r, enrolDone)
	if !ok {
		return
	}
	cred, err := e.db.Credential(r.Context(), en.CredentialID)
	if err != nil {
		e.fail(w, enrolDone, err)
		return
	}
	d := e.page(en, csrf, 4)
	d.Credential = cred.ID
	if certs, err := x509.ParseCertificates(cred.Certificates); err == nil && len(certs) > 0 {
		d.Subject = certs[0].Subject.String()
	}
	e.render(w, http.StatusOK, "enrol_done.html", d)
}
