package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// The admin API (/admin/v1) lets operators register signers, reissue
// activation codes, change phone numbers (confirmed by the old number or by
// two operators) and reset or unlock factors. Every request carries an
// operator key as a Bearer token; the operator's name is the actor the SAM
// audits. JSON in and out, errors in the one {error, error_description}
// shape. It is served only when Deps.Admin is set.

// Admin is what the admin API needs from the SAM.
type Admin interface {
	OperatorByKey(ctx context.Context, key string) (*store.Operator, error)
	RegisterSigner(ctx context.Context, r sam.Registration) (*store.Signer, sam.Activation, error)
	SignerSummaries(ctx context.Context) ([]sam.SignerSummary, error)
	IssueActivation(ctx context.Context, signerID, delivery, actor string) (sam.Activation, error)
	RequestPhoneChange(ctx context.Context, r sam.PhoneChangeRequest) (sam.PhoneChange, error)
	ConfirmPhoneChange(ctx context.Context, changeID, code string) error
	ApprovePhoneChange(ctx context.Context, changeID, operator string) (int, error)
	ResetFactor(ctx context.Context, signerID, kind, actor string) error
	UnlockFactor(ctx context.Context, signerID, credentialID, kind, actor string) error
}

var _ Admin = (*sam.SAM)(nil)

// adminPrefix is where the admin API lives.
const adminPrefix = "/admin/v1"

// ctxOperator holds the authenticated *store.Operator.
const ctxOperator = "rssp.operator"

// Admin API refusals.
var (
	errUsernameExists     = invalid("Username already exists")
	errUnknownSigner      = invalid("Unknown signer")
	errUnknownFactor      = invalid("Unknown signer, or the signer has no such factor")
	errUnknownPhoneChange = invalid("Unknown phone change")
	errAdminNoKey         = &sam.Error{Code: sam.ErrOperatorKey.Code, Description: "An operator key is required (Authorization: Bearer)"}
)

// adminAPI serves /admin/v1 with the SAM's operator methods.
type adminAPI struct {
	srv *Server
	sam Admin
}

// adminRoutes registers the admin API when a is set.
func (s *Server) adminRoutes(e *echo.Echo, a Admin) {
	if a == nil {
		return
	}
	h := &adminAPI{srv: s, sam: a}
	mw := []echo.MiddlewareFunc{s.limit, h.authenticate}
	e.POST(adminPrefix+"/signers", h.registerSigner, mw...)
	e.GET(adminPrefix+"/signers", h.listSigners, mw...)
	e.POST(adminPrefix+"/signers/:id/activation", h.issueActivation, mw...)
	e.POST(adminPrefix+"/signers/:id/phone-changes", h.requestPhoneChange, mw...)
	e.POST(adminPrefix+"/phone-changes/:id/confirm", h.confirmPhoneChange, mw...)
	e.POST(adminPrefix+"/phone-changes/:id/approve", h.approvePhoneChange, mw...)
	e.POST(adminPrefix+"/signers/:id/factors/:kind/reset", h.resetFactor, mw...)
	e.POST(adminPrefix+"/signers/:id/factors/:kind/unlock", h.unlockFactor, mw...)
}

// authenticate requires "Authorization: Bearer <operator key>" of an active
// operator. Missing, malformed, unknown and disabled all answer 401
// invalid_token. Admin answers are never cached: some carry codes.
func (a *adminAPI) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		scheme, key, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="rssp-admin"`)
			return withStatus(http.StatusUnauthorized, errAdminNoKey)
		}
		o, err := a.sam.OperatorByKey(c.Request().Context(), key)
		if err != nil {
			if errors.Is(err, sam.ErrOperatorKey) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="rssp-admin", error="invalid_token"`)
				return withStatus(http.StatusUnauthorized, sam.ErrOperatorKey)
			}
			return err
		}
		c.Set(ctxOperator, o)
		return next(c)
	}
}

// operator is the authenticated operator's name, the actor of every call.
func operator(c echo.Context) string {
	o, _ := c.Get(ctxOperator).(*store.Operator)
	if o == nil {
		return ""
	}
	return o.Name
}

// adminError gives a SAM answer its admin API status: a record that does not
// exist is 404 (with notFound's description), rate limits are 429, refusals
// keep their own status, anything else is a server error.
func adminError(err error, notFound *sam.Error) error {
	var e *sam.Error
	switch {
	case errors.Is(err, store.ErrNotFound) && notFound != nil:
		return withStatus(http.StatusNotFound, notFound)
	case sam.IsRateLimited(err) && errors.As(err, &e):
		return withStatus(http.StatusTooManyRequests, e)
	}
	return err
}

// pathID reads a path parameter holding an identifier; anything that
// cannot be one answers 404 like an unknown identifier.
func pathID(c echo.Context, name string, notFound *sam.Error) (string, error) {
	id := c.Param(name)
	if id == "" || len(id) > 64 {
		return "", withStatus(http.StatusNotFound, notFound)
	}
	return id, nil
}

// activationJSON is an issued activation code as the operator sees it: the
// code itself only when it is for printing.
type activationJSON struct {
	Delivery  string `json:"delivery"`
	ExpiresAt string `json:"expires_at"`
	Code      string `json:"code,omitempty"`
	SentTo    string `json:"sent_to,omitempty"`
}

func renderActivation(delivery string, a sam.Activation) activationJSON {
	out := activationJSON{Delivery: delivery, ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339)}
	if delivery == sam.DeliveryPrint {
		out.Code = a.Code
	} else {
		out.SentTo = a.SentTo
	}
	return out
}

// readDelivery reads the activation delivery: "sms" or "print".
func readDelivery(b body) (string, error) {
	d, err := b.requiredString("activation")
	if err != nil {
		return "", err
	}
	if d != sam.DeliverySMS && d != sam.DeliveryPrint {
		return "", invalidParam("activation")
	}
	return d, nil
}

// registerSigner is POST /admin/v1/signers: a pending signer with a claimed
// phone number and an activation code, printed or sent by SMS.
func (a *adminAPI) registerSigner(c echo.Context) error {
	b, err := a.srv.readBody(c)
	if err != nil {
		return err
	}
	var r sam.Registration
	for _, f := range []struct {
		name string
		dst  *string
	}{{"username", &r.Username}, {"name", &r.Name}, {"phone", &r.Phone}} {
		if *f.dst, err = b.requiredString(f.name); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"given_name", &r.GivenName}, {"surname", &r.Surname}, {"email", &r.Email}} {
		if *f.dst, err = b.optionalString(f.name); err != nil {
			return err
		}
	}
	if r.Delivery, err = readDelivery(b); err != nil {
		return err
	}
	r.Actor = operator(c)
	if err := sam.CheckRegistration(r); err != nil {
		return err
	}
	sg, act, err := a.sam.RegisterSigner(c.Request().Context(), r)
	if errors.Is(err, sam.ErrUsernameTaken) {
		return withStatus(http.StatusConflict, errUsernameExists)
	}
	if err != nil {
		return adminError(err, nil)
	}
	return c.JSON(http.StatusCreated, struct {
		ID         string         `json:"id"`
		Username   string         `json:"username"`
		Status     string         `json:"status"`
		Activation activationJSON `json:"activation"`
	}{sg.ID, sg.Username, sg.Status, renderActivation(r.Delivery, act)})
}

type signerJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	Status   string `json:"status"`
	Phone    string `json:"phone,omitempty"` // masked
}

// listSigners is GET /admin/v1/signers: every signer, phones masked.
func (a *adminAPI) listSigners(c echo.Context) error {
	list, err := a.sam.SignerSummaries(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]signerJSON, len(list))
	for i, sg := range list {
		out[i] = signerJSON{ID: sg.ID, Username: sg.Username, Name: sg.Name, Email: sg.Email, Status: sg.Status, Phone: sg.Phone}
	}
	return c.JSON(http.StatusOK, struct {
		Signers []signerJSON `json:"signers"`
	}{out})
}

// issueActivation is POST /admin/v1/signers/{id}/activation: a new code for
// a signer who has not enrolled yet; older codes stop working.
func (a *adminAPI) issueActivation(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownSigner)
	if err != nil {
		return err
	}
	b, err := a.srv.readBody(c)
	if err != nil {
		return err
	}
	delivery, err := readDelivery(b)
	if err != nil {
		return err
	}
	act, err := a.sam.IssueActivation(c.Request().Context(), id, delivery, operator(c))
	if err != nil {
		return adminError(err, errUnknownSigner)
	}
	return c.JSON(http.StatusOK, renderActivation(delivery, act))
}

// Phone change confirmations.
const (
	confirmOldPhone  = "old_phone" // a code to the current number
	confirmOperators = "operators" // this operator and a second one
)

type phoneChangeJSON struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	SentTo    string `json:"sent_to,omitempty"`
	ExpiresAt string `json:"expires_at"`
	Approvals int    `json:"approvals"`
}

// requestPhoneChange is POST /admin/v1/signers/{id}/phone-changes. With
// confirm "old_phone" a code goes to the signer's current number (applied by
// .../confirm); with "operators" this request is the first of two operator
// approvals (applied by .../approve from another operator).
func (a *adminAPI) requestPhoneChange(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownSigner)
	if err != nil {
		return err
	}
	b, err := a.srv.readBody(c)
	if err != nil {
		return err
	}
	phone, err := b.requiredString("phone")
	if err != nil {
		return err
	}
	confirm, err := b.requiredString("confirm")
	if err != nil {
		return err
	}
	if confirm != confirmOldPhone && confirm != confirmOperators {
		return invalidParam("confirm")
	}
	byOperator := confirm == confirmOperators
	pc, err := a.sam.RequestPhoneChange(c.Request().Context(), sam.PhoneChangeRequest{SignerID: id, NewPhone: phone,
		Actor: operator(c), ByOperator: byOperator})
	if err != nil {
		return adminError(err, errUnknownSigner)
	}
	out := phoneChangeJSON{ID: pc.ID, Status: store.StatusPending, SentTo: pc.SentTo, ExpiresAt: pc.ExpiresAt.UTC().Format(time.RFC3339)}
	if byOperator {
		out.Approvals = 1
	}
	return c.JSON(http.StatusCreated, out)
}

type phoneChangeStatusJSON struct {
	Status    string `json:"status"`
	Approvals int    `json:"approvals,omitempty"`
}

// Phone change statuses as the admin API reports them.
const (
	phoneChangePending = "pending"
	phoneChangeApplied = "applied"
)

// confirmPhoneChange is POST /admin/v1/phone-changes/{id}/confirm with the
// code the signer received on the old number.
func (a *adminAPI) confirmPhoneChange(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownPhoneChange)
	if err != nil {
		return err
	}
	b, err := a.srv.readBody(c)
	if err != nil {
		return err
	}
	code, err := b.requiredString("code")
	if err != nil {
		return err
	}
	if err := a.sam.ConfirmPhoneChange(c.Request().Context(), id, code); err != nil {
		return adminError(err, errUnknownPhoneChange)
	}
	return c.JSON(http.StatusOK, phoneChangeStatusJSON{Status: phoneChangeApplied})
}

// approvePhoneChange is POST /admin/v1/phone-changes/{id}/approve: this
// operator's approval; the second, from another operator, applies it.
func (a *adminAPI) approvePhoneChange(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownPhoneChange)
	if err != nil {
		return err
	}
	if _, err := a.srv.readBody(c); err != nil {
		return err
	}
	n, err := a.sam.ApprovePhoneChange(c.Request().Context(), id, operator(c))
	if err != nil {
		return adminError(err, errUnknownPhoneChange)
	}
	status := phoneChangePending
	if n >= 2 {
		status = phoneChangeApplied
	}
	return c.JSON(http.StatusOK, phoneChangeStatusJSON{Status: status, Approvals: n})
}

// resetFactor is POST /admin/v1/signers/{id}/factors/{kind}/reset: revoke a
// lost TOTP app or phone.
func (a *adminAPI) resetFactor(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownFactor)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	if kind != store.FactorTOTP && kind != store.FactorSMS {
		return invalid("Invalid factor kind: totp or sms can be reset")
	}
	if _, err := a.srv.readBody(c); err != nil {
		return err
	}
	if err := a.sam.ResetFactor(c.Request().Context(), id, kind, operator(c)); err != nil {
		return adminError(err, errUnknownFactor)
	}
	return c.NoContent(http.StatusNoContent)
}

// unlockFactor is POST /admin/v1/signers/{id}/factors/{kind}/unlock: clear
// a lockout of the password, TOTP or SMS factor, or of a credential's PIN
// (kind "pin" with {"credential_id"}).
func (a *adminAPI) unlockFactor(c echo.Context) error {
	id, err := pathID(c, "id", errUnknownFactor)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	switch kind {
	case store.FactorPassword, store.FactorTOTP, store.FactorSMS, store.FactorPIN:
	default:
		return invalid("Invalid factor kind: password, totp, sms or pin can be unlocked")
	}
	b, err := a.srv.readBody(c)
	if err != nil {
		return err
	}
	var credentialID string
	if kind == store.FactorPIN {
		if credentialID, err = b.requiredString("credential_id"); err != nil {
			return err
		}
	} else if b.present("credential_id") {
		return invalid("credential_id goes only with the pin factor")
	}
	if err := a.sam.UnlockFactor(c.Request().Context(), id, credentialID, kind, operator(c)); err != nil {
		return adminError(err, errUnknownFactor)
	}
	return c.NoContent(http.StatusNoContent)
}
