// Package conformance is a black-box conformance suite for a CSC API
// (Cloud Signature Consortium) remote signing server. It drives the server
// only over HTTP(S), through the public API under /csc/v1 and /csc/v2, and
// imports nothing of the server: it can test ours or anyone's that follows
// the same contract (the CSC API v1.0.4.0 and v2.0.0.2 texts, and openapi/csc.yaml).
//
// # Running it against a running server
//
// Start a server with an explicit-mode SCAL 2 account (PIN and TOTP), e.g.
// `make run`, which writes ./var/demo.json, then:
//
//	CSC_CONFORMANCE_ACCOUNT=$PWD/var/demo.json \
//	CSC_CONFORMANCE_CA=/path/to/the/server-ca.pem \
//	  go test -v -count=1 -run TestRemote ./conformance/
//
// Environment of TestRemote (it skips when CSC_CONFORMANCE_ACCOUNT is unset):
//
//	CSC_CONFORMANCE_ACCOUNT      account file (base_url, username, password, pin, totp_secret, credentials)
//	CSC_CONFORMANCE_CA           PEM file of certificates to trust for the server's TLS certificate
//	CSC_CONFORMANCE_INSECURE=1   skip TLS verification instead (never against production)
//	CSC_CONFORMANCE_OTHER        account file of a second user, for the cross-user attacks
//	CSC_CONFORMANCE_VERSIONS     "v1", "v2" or "v1,v2" (default both)
//	CSC_CONFORMANCE_MAX_WAIT     longest real-time wait, a Go duration (default 65s; "0" never sleeps)
//	CSC_CONFORMANCE_SAD_LIFETIME the server's SAD lifetime (e.g. 5m); with a MAX_WAIT that covers it the
//	                             expired-SAD test waits for it, otherwise it is skipped
//
// From Go, in-process: call [Run] with a [Target] whose Client trusts the
// server and, for a server with an injected clock, Advance and Now, so that
// time-dependent tests (TOTP steps, SAD and token expiry) need no waiting.
//
// # What it checks
//
// Per version, as subtests: info (POST, GET, required members, methods
// served); routing (404/405/413 JSON errors); the service token on every
// method (401 invalid_token); auth/login (Basic, rememberMe, refresh token
// rotation, reuse of a spent refresh token revoking the login, errors);
// auth/revoke; credentials/list and credentials/info (shape, combined OIDs,
// certificates leaf first, GeneralizedTime, SCAL "2", multisign, auth
// objects); a signing happy path per credential with every signature
// verified with the standard library (PKCS#1 v1.5, RSASSA-PSS with salt 32
// and with the longest salt, bare rsaEncryption or id-ecPublicKey with the
// hash named, ECDSA in DER); the error table of credentials/authorize and
// signatures/signHash with exact error codes and descriptions; SCAL 2
// attacks on a SAD (hash swap, replay, over-use, another credential, another
// user); SAD and access-token expiry.
//
// # Time, TOTP and lockout
//
// The server accepts each TOTP time step once per signer, within now±1
// step, so every authorization needs an unused step. The suite uses the
// earliest unused step the server accepts (up to three are usable at once)
// and otherwise calls Target.Advance or sleeps until the next step (at most
// about 63 s; see Target.MaxWait). Against a remote server the last used
// step is kept in a file in os.TempDir, so that running the suite twice in a
// row does not replay a step. A full run needs about five authorizations per
// version: one per credential, one wrong PIN, one for the SCAL 2 attacks and,
// with Advance or a long MaxWait, one for SAD expiry.
//
// Wrong PIN and OTP attempts count toward the server's lockout (5
// consecutive failures). The suite makes at most two failures in a row and
// then authorizes successfully, which resets the count; it also resets it at
// the end of each version. Should the server refuse right factors, it sends
// no authorization at all once 4 failures are outstanding. It never locks the
// account. Failed passwords at auth/login (one per version) are followed only
// by the successful logins that come after them.
package conformance
