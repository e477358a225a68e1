// Package oauth will hold the OAuth 2.0 authorization server (ory/fosite):
// authorize, token, revoke, PAR and metadata, and the signer's own pages
// (login, second factor, consent) that turn an approval into a SAD through
// package sam. It is empty until the authorization server is built.
package oauth
