// Package openapi will embed the OpenAPI 3.1 document of every endpoint the
// server serves. It is empty until the API server exists.
package openapi
