// Package openapitest checks HTTP responses against the server's OpenAPI 3.1
// document (package openapi) in tests.
//
// A Validator finds the operation by method and path only (scheme, host and
// query are ignored) and checks that the status is declared for it, that the
// Content-Type is one the document lists, and that the body conforms to the
// schema, with kin-openapi's JSON Schema 2020-12 validator. A path that is
// not in the document fails unless the status is 404, and a method the path
// does not list fails unless the status is 405; those two answers must still
// carry the Error body.
//
// Failure messages quote the response body with the values of secret
// members (access_token, refresh_token, SAD, ...) replaced, so a failing
// test does not print live tokens.
//
// A Validator is safe for concurrent use.
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/openrssp/rssp/openapi"
)

// Validator checks responses against one loaded and validated document.
type Validator struct {
	doc         *openapi3.T
	errorSchema *openapi3.Schema // components.schemas.Error, for 404 and 405 bodies
}

// New loads the server's document and validates it as OpenAPI 3.1; it fails
// tb (fatally) when the document does not load or is invalid.
func New(tb testing.TB) *Validator {
	tb.Helper()
	v, err := Load(openapi.Spec())
	if err != nil {
		tb.Fatalf("openapitest: %v", err)
	}
	return v
}

// Load parses an OpenAPI 3.1 document, refuses external references and
// validates it. New uses it on the embedded document; tests of the validator
// itself use it on variants.
func Load(data []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		return nil, fmt.Errorf("document is OpenAPI %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	ref := doc.Components.Schemas["Error"]
	if ref == nil || ref.Value == nil {
		return nil, errors.New("document has no components.schemas.Error")
	}
	return &Validator{doc: doc, errorSchema: ref.Value}, nil
}

// Document returns the loaded document. Callers must not modify it.
func (v *Validator) Document() *openapi3.T { return v.doc }

// Check fails tb (with Errorf, so it may run on any goroutine) when the
// response to req does not conform to the document. Only req's method and
// URL path are used.
func (v *Validator) Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if err := v.Validate(req, status, header, body); err != nil {
		method, path := "?", "?"
		if req != nil && req.URL != nil {
			method, path = req.Method, req.URL.Path
		}
		tb.Errorf("openapitest: %s %s answered %d, which does not conform to the OpenAPI document: %v\n\tContent-Type: %q\n\tbody: %s",
			method, path, status, err, header.Get("Content-Type"), excerpt(body))
	}
}

// Validate is Check returning the reason instead of failing a test.
func (v *Validator) Validate(req *http.Request, status int, header http.Header, body []byte) error {
	if req == nil || req.URL == nil {
		return errors.New("no request to match the response to")
	}
	if header == nil {
		header = http.Header{}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	// Segments are matched on the escaped path, so that a parameter holding
	// an encoded "/" (the base64 of GET /ocsp/{request}) stays one segment.
	path := req.URL.EscapedPath()
	item := v.pathItem(path)
	if item == nil {
		if status == http.StatusNotFound {
			return v.validateErrorBody(header, body)
		}
		return fmt.Errorf("path %q is not in the document (only a 404 may answer it)", path)
	}
	op := item.GetOperation(method)
	if op == nil {
		if status == http.StatusMethodNotAllowed {
			return v.validateErrorBody(header, body)
		}
		return fmt.Errorf("operation %s %s is not in the document (only a 405 may answer it)", method, path)
	}
	resp := op.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("status %d is not declared for %s %s (declared: %s)", status, method, path, declared(op))
	}
	if len(resp.Value.Content) == 0 {
		if len(body) != 0 {
			return fmt.Errorf("status %d of %s %s declares no body, got %d bytes", status, method, path, len(body))
		}
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == "text/html" || binaryMediaTypes[mt] {
		// The signer's pages (text/html) and binary protocols (RFC 3161,
		// the CA's certificate and CRL, OCSP): the media type must be
		// declared; the body is not validated further.
		if resp.Value.Content.Get(mt) == nil {
			return fmt.Errorf("status %d of %s %s answered %s, which it does not declare", status, method, path, mt)
		}
		return nil
	}
	if err := checkContentType(header.Get("Content-Type")); err != nil {
		return err
	}

	route := &routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: op}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	return describe(openapi3filter.ValidateResponse(req.Context(), input))
}

// binaryMediaTypes are the DER answers of the timestamp authority, the
// development CA and the OCSP responder.
var binaryMediaTypes = map[string]bool{
	"application/timestamp-reply": true, "application/pkix-cert": true, "application/pkix-crl": true, "application/ocsp-response": true,
}

// pathItem finds the path item for a request path: the literal path, else
// a templated one ("/admin/v1/signers/{id}") whose fixed segments match and
// whose {parameters} each match one non-empty segment.
func (v *Validator) pathItem(path string) *openapi3.PathItem {
	if item := v.doc.Paths.Value(path); item != nil {
		return item
	}
	segs := strings.Split(path, "/")
	for tmpl, item := range v.doc.Paths.Map() {
		if !strings.Contains(tmpl, "{") {
			continue
		}
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		match := true
		for i, t := range ts {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				match = segs[i] != ""
			} else {
				match = t == segs[i]
			}
			if !match {
				break
			}
		}
		if match {
			return item
		}
	}
	return nil
}

// validateErrorBody checks the body of a 404 or 405, which no operation
// declares: it must be a JSON Error.
func (v *Validator) validateErrorBody(header http.Header, body []byte) error {
	ct := header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("error body has Content-Type %q, want application/json", ct)
	}
	if err := checkContentType(ct); err != nil {
		return err
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := v.errorSchema.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("error body doesn't match schema #/components/schemas/Error:%s", reasons(err))
	}
	return nil
}

// describe rewrites a kin-openapi response error as one line per schema
// violation, each naming the JSON pointer of the failing member. kin-openapi's
// own messages repeat the failing value and schema, which is noisy and could
// quote a token; the body is quoted once, redacted, by Check.
func describe(err error) error {
	var re *openapi3filter.ResponseError
	if !errors.As(err, &re) || re.Err == nil {
		return err
	}
	var se *openapi3.SchemaError
	var me openapi3.MultiError
	if !errors.As(re.Err, &se) && !errors.As(re.Err, &me) {
		return err
	}
	return fmt.Errorf("%s:%s", re.Reason, reasons(re.Err))
}

// reasons lists the schema violations within err, one per line.
func reasons(err error) string {
	var all, falseSchema []string
	seen := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *openapi3.SchemaError:
			if e.Origin != nil {
				walk(e.Origin)
				return
			}
			var leaf *jsonschema.ValidationError
			if errors.As(e, &leaf) {
				// JSON Schema 2020-12 validator: e wraps one leaf error.
				if _, ok := leaf.ErrorKind.(*kind.FalseSchema); ok {
					falseSchema = append(falseSchema, fmt.Sprintf("at '/%s': member not declared in the schema", strings.Join(leaf.InstanceLocation, "/")))
					return
				}
				all = append(all, leaf.Error())
				return
			}
			all = append(all, fmt.Sprintf("at '/%s': %s", strings.Join(e.JSONPointer(), "/"), e.Reason))
		case openapi3.MultiError:
			for _, e := range e {
				walk(e)
			}
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		default:
			all = append(all, err.Error())
		}
	}
	walk(err)
	// With unevaluatedProperties, a member whose subschema failed also counts
	// as unevaluated: report undeclared members only when nothing else failed.
	if len(all) == 0 {
		all = falseSchema
	}
	var b strings.Builder
	for _, r := range all {
		if !seen[r] {
			seen[r] = true
			b.WriteString("\n\t- ")
			b.WriteString(r)
		}
	}
	return b.String()
}

// checkContentType refuses a missing or malformed Content-Type and a JSON
// body announced in a charset other than UTF-8. The document lists media
// types without parameters, which kin-openapi matches on the base type.
func checkContentType(ct string) error {
	if ct == "" {
		return errors.New("response has a body but no Content-Type")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("malformed Content-Type %q: %w", ct, err)
	}
	if cs, ok := params["charset"]; ok && mt == "application/json" && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("Content-Type %q: JSON must be UTF-8", ct)
	}
	return nil
}

// declared lists the statuses an operation declares, for error messages.
func declared(op *openapi3.Operation) string {
	var codes []string
	for code := range op.Responses.Map() {
		codes = append(codes, code)
	}
	if len(codes) == 0 {
		return "none"
	}
	slices.Sort(codes)
	return strings.Join(codes, ", ")
}

// Transport returns a RoundTripper that sends each request through base
// (http.DefaultTransport when nil) and checks every response it receives
// with Check. It reads the whole body and gives the caller an identical
// one. A failure to read the body fails tb and is returned to the caller.
func (v *Validator) Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &checkingTransport{v: v, tb: tb, base: base}
}

type checkingTransport struct {
	v    *Validator
	tb   testing.TB
	base http.RoundTripper
}

var _ http.RoundTripper = (*checkingTransport)(nil)

func (t *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	closeErr := resp.Body.Close()
	if err == nil {
		err = closeErr
	}
	if err != nil {
		t.tb.Errorf("openapitest: %s %s: reading the response body: %v", req.Method, req.URL.Path, err)
		return nil, fmt.Errorf("openapitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.v.Check(t.tb, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// secretMembers are JSON members whose values never appear in a message.
var secretMembers = map[string]bool{
	"access_token":  true,
	"refresh_token": true,
	"token":         true,
	"SAD":           true,
	"PIN":           true,
	"OTP":           true,
	"password":      true,
	"value":         true, // authData values
}

const maxExcerpt = 2048

// excerpt renders a body for a failure message: JSON with secret values
// replaced, anything else cut to maxExcerpt bytes. A body that is not JSON
// is quoted as is, since it cannot carry a JSON member.
func excerpt(body []byte) string {
	if len(body) == 0 {
		return "(empty)"
	}
	var value any
	if json.Unmarshal(body, &value) == nil {
		if out, err := json.Marshal(redact(value)); err == nil {
			body = out
		}
	}
	s := string(body)
	if len(s) > maxExcerpt {
		s = s[:maxExcerpt] + fmt.Sprintf("... (%d bytes)", len(body))
	}
	return s
}

func redact(value any) any {
	switch v := value.(type) {
	case map[string]any:
		for k, e := range v {
			if secretMembers[k] {
				if _, isString := e.(string); isString {
					v[k] = "[redacted]"
					continue
				}
			}
			v[k] = redact(e)
		}
	case []any:
		for i, e := range v {
			v[i] = redact(e)
		}
	}
	return value
}
