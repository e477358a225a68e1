package openapi

import _ "embed"

//go:embed csc.yaml
var spec string

// Spec returns the OpenAPI 3.1 document (YAML) describing every route the
// server serves. Each call returns a fresh copy that the caller may modify.
func Spec() []byte {
	return []byte(spec)
}
