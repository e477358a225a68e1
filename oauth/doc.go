// Package oauth issues and checks the service tokens of the CSC API.
//
// Today it holds the token service of CSC auth/login (Logins): opaque
// 256-bit random access and refresh tokens, stored only as their SHA-256,
// with refresh rotation (a refresh token is exchanged at most once, in one
// atomic statement, and presenting a spent one revokes the whole login).
// Passwords are checked by the SAM, never here.
//
// The OAuth 2.0 authorization server (ory/fosite: authorize, token, revoke,
// PAR, metadata) and the signer's own pages (login, second factor, consent)
// that turn an approval into a SAD will live here too.
package oauth
