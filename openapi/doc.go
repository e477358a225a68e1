// Package openapi holds the OpenAPI 3.1 document of cscd, the CSC API server:
// every route it serves, the CSC v2 methods under /csc/v2, the CSC v1 methods
// under /csc/v1, and the operational endpoints /healthz, /readyz, /metrics
// and /openapi.yaml. The document is written by hand (csc.yaml), embedded in
// the binary and served as is; Spec returns it.
//
// The document is the contract the handlers are tested against: response
// schemas are closed (additionalProperties or unevaluatedProperties false),
// name every required member and fix enums, error codes per status and
// content types. Request schemas are deliberately loose, since the server
// ignores unknown members and reads a JSON null as an absent member.
//
// Package openapitest checks recorded or live HTTP responses against the
// document in tests.
package openapi
