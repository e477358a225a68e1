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
//	CSC_CONFORMANCE_OAUTH_CLIENT "id:secret:redirect_uri" of a confidential OAuth client (grants
//	                             authorization_code, client_credentials, refresh_token; scopes service
//	                             and credential), for the v2/oauth2 subtests; id and secret contain no ':'.
//	                             TestRemote has no driver for the signer's pages, so the subtests that
//	                             need an approval skip; call [Run] with Target.Approve for them
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
// With Target.OAuthClient, v2 also checks the OAuth 2.0 flows of CSC API v2
// §8.4 under v2/oauth2: the RFC 8414 metadata at the base URL and info
// advertising it (oauth2client, oauth2code, oauth2 = the base URL); the
// client_credentials grant (HTTP Basic and client_secret_post, scope
// service only, invalid_client and invalid_scope, credentials/list by
// userID, RFC 7009 revocation); and, with Target.Approve driving the
// signer's pages, the authorization code grant with PKCE S256 and a state:
// scope credential over comma-separated base64url hashes giving a
// credential token that signs exactly the approved hashes once each (every
// signature verified) and opens nothing else, the code single-use and bound
// to its code_verifier and redirect_uri, a revoked credential token
// refused; pushed authorization (RFC 9126) with a single-use request_uri;
// authorization_details (RFC 9396) repeated at the token endpoint and
// echoed with the credential; refresh-token rotation with reuse revoking
// the family (scope service); and, with Target.Deny, access_denied with the
// state. Each approval of scope credential costs one TOTP step, like an
// authorization; Approve gets the code to enter.
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
// with Advance or a long MaxWait, one for SAD expiry; with Target.Approve,
// v2 needs about six more for the OAuth approvals of scope credential.
//
// Wrong PIN and OTP attempts count toward the server's lockout (5
// consecutive failures). The suite makes at most two failures in a row and
// then authorizes successfully, which resets the count; it also resets it at
// the end of each version. Should the server refuse right factors, it sends
// no authorization at all once 4 failures are outstanding. It never locks the
// account. Failed passwords at auth/login (one per version) are followed only
// by the successful logins that come after them.
package conformance
