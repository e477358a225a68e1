package hsm

import (
	"errors"

	"github.com/miekg/pkcs11"
)

// Sentinel errors. Errors returned by this package wrap one of these, or a
// pkcs11.Error from the module (use errors.As to read the CKR_ code), with
// fmt.Errorf's %w; test them with errors.Is.
var (
	// ErrKeyNotFound: a master key named by Config.WrapKey or Config.MACKey is
	// not on the token. The server must refuse to start.
	ErrKeyNotFound = errors.New("hsm: master key not found")
	// ErrBadDigest: the digest length does not match the hash in the signer options.
	ErrBadDigest = errors.New("hsm: digest length does not match hash")
	// ErrUnsupported: the key algorithm, hash, or signer options are not supported.
	ErrUnsupported = errors.New("hsm: unsupported algorithm or options")
	// ErrTokenNotFound: no token carries the configured label.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrKeyMismatch: an unwrapped blob does not belong to the public key it
	// was presented with (swapped or corrupted record).
	ErrKeyMismatch = errors.New("hsm: wrapped key does not match its public key")
	// ErrClosed: the HSM has been closed.
	ErrClosed = errors.New("hsm: closed")
)

// isSessionError reports whether err means the session itself is unusable and
// must be closed and replaced (as opposed to a problem with the request).
func isSessionError(err error) bool {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return false
	}
	switch uint(e) {
	case pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_GENERAL_ERROR,
		pkcs11.CKR_OPERATION_ACTIVE:
		return true
	}
	return false
}

// isHandleError reports whether err means an object handle is no longer
// valid: a session object whose creating session was closed, or any private
// object after the application was logged out.
func isHandleError(err error) bool {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return false
	}
	switch uint(e) {
	case pkcs11.CKR_KEY_HANDLE_INVALID,
		pkcs11.CKR_OBJECT_HANDLE_INVALID,
		pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID,
		pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID,
		pkcs11.CKR_USER_NOT_LOGGED_IN:
		return true
	}
	return false
}

// isCode reports whether err wraps the given CKR_ code.
func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
