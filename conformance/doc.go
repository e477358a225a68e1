// Package conformance will hold the black-box CSC conformance suite that
// drives any server over HTTP, using only the public API. It is empty until
// the API server exists.
package conformance
