package sam

import "errors"

// Error is a refusal with a CSC/OAuth error code and a description that is
// safe to show to the client. The cause, if any, is for logs only.
type Error struct {
	Code        string
	Description string
	cause       error
	parent      *Error // a more specific refusal also matches its general one
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error with the same code and description, so that
// errors.Is(err, ErrSADExpired) works on errors carrying a cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Code == e.Code && t.Description == e.Description {
		return true
	}
	return e.parent != nil && e.parent.Is(target)
}

// With returns a copy of e carrying cause, which is for logs only.
func (e *Error) With(cause error) *Error { return e.with(cause) }

// with returns a copy of e carrying cause.
func (e *Error) with(cause error) *Error {
	return &Error{Code: e.Code, Description: e.Description, cause: cause, parent: e.parent}
}

// Refusals. The descriptions follow the CSC API tables where one exists.
var (
	ErrSADInvalid         = &Error{Code: "invalid_request", Description: "Invalid parameter SAD"}
	ErrSADExpired         = &Error{Code: "invalid_request", Description: "SAD expired"}
	ErrSADExhausted       = &Error{Code: "invalid_request", Description: "SAD has no signatures left"}
	ErrSADRevoked         = &Error{Code: "invalid_request", Description: "SAD has been revoked"}
	ErrSADCountExceeded   = &Error{Code: "invalid_request", Description: "More hashes than the SAD still authorizes"}
	ErrHashNotAuthorized  = &Error{Code: "invalid_request", Description: "Hash is not authorized by the SAD."}
	ErrCredentialInvalid  = &Error{Code: "invalid_request", Description: "Invalid parameter credentialID"}
	ErrCredentialDisabled = &Error{Code: "invalid_request", Description: "The credential identified by credentialID is disabled"}
	ErrCredentialLocked   = &Error{Code: "invalid_request", Description: "Credential locked"}
	ErrAuthentication     = &Error{Code: "invalid_authentication_data", Description: "The authentication data is invalid"}
	ErrInvalidPINFormat   = &Error{Code: "invalid_request", Description: "Invalid parameter PIN"}
	ErrNumSignatures      = &Error{Code: "invalid_request", Description: "Invalid value for parameter numSignatures"}
	ErrTooManySignatures  = &Error{Code: "invalid_request", Description: "Numbers of signatures is too high"}
	ErrHashesMissing      = &Error{Code: "invalid_request", Description: "Missing (or invalid type) array parameter hashes"}
	ErrHashAlgorithm      = &Error{Code: "invalid_request", Description: "Invalid parameter hashAlgorithmOID"}
	ErrHashOIDMissing     = &Error{Code: "invalid_request", Description: "Missing (or invalid type) string parameter hashAlgorithmOID"}
	ErrDigestLength       = &Error{Code: "invalid_request", Description: "Invalid digest value length"}
	ErrSignAlgorithm      = &Error{Code: "invalid_request", Description: "Invalid parameter signAlgo"}
	ErrSignAlgoParams     = &Error{Code: "invalid_request", Description: "Invalid parameter signAlgoParams"}
	ErrChallenge          = &Error{Code: "invalid_request", Description: "Invalid or expired challenge"}
	ErrNoSender           = &Error{Code: "invalid_request", Description: "No out-of-band channel is configured for this signer"}
	ErrInternal           = &Error{Code: "server_error", Description: "Internal error"}
	ErrLoginFailed        = &Error{Code: "authentication_error", Description: "An error occurred during authentication process"}
	ErrInvalidPassword    = &Error{Code: "invalid_request", Description: "Invalid password"}
	// ErrOAuth2CodeOnly: credentials/authorize "SHALL NOT be used" for an
	// oauth2code credential (CSC API §11.6); the signer approves on our pages.
	ErrOAuth2CodeOnly = &Error{Code: "invalid_request", Description: "The credential is authorized through OAuth 2.0 (authMode oauth2code), not credentials/authorize"}

	// Which factor failed or is locked. They also match ErrAuthentication and
	// ErrCredentialLocked, so a caller that must not tell them apart (CSC v2
	// answers invalid_authentication_data) can test for the general error.
	// Every factor given is checked and counted before any of these is
	// returned, so the distinction costs an attacker attempts like any other.
	ErrPINInvalid = &Error{Code: "invalid_pin", Description: "The PIN is invalid", parent: ErrAuthentication}
	ErrOTPInvalid = &Error{Code: "invalid_otp", Description: "The OTP is invalid", parent: ErrAuthentication}
	ErrPINLocked  = &Error{Code: "invalid_request", Description: "PIN locked", parent: ErrCredentialLocked}
	ErrOTPLocked  = &Error{Code: "invalid_request", Description: "OTP locked", parent: ErrCredentialLocked}
)

// internal wraps an unexpected failure as server_error; the cause stays out of
// the client's view.
func internal(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return ErrInternal.with(err)
}

// invalidParameter is the CSC refusal of a parameter with a wrong value.
func invalidParameter(name string) *Error {
	return &Error{Code: "invalid_request", Description: "Invalid parameter " + name}
}
