// Package api will hold the echo HTTP server of the CSC API (v2 under
// /csc/v2, v1 under /csc/v1): one file per CSC method, request decoding and
// validation, and the single error renderer that turns sam.Error values into
// {"error","error_description"} bodies. Handlers stay thin: decode, validate,
// one call into package sam or oauth, render. It is empty until the API
// server is built on top of the signing core.
package api
