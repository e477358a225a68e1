package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// body is a decoded JSON request object. Fields are read one by one so that
// every wrong type gets the CSC description naming the field, and a JSON null
// counts as absent (CSC API §7.1).
type body map[string]json.RawMessage

// readBody reads and decodes the request body under the size limit. An
// empty body is an empty object.
func (s *Server) readBody(c echo.Context) (body, error) {
	return s.readBodyLimit(c, s.cfg.MaxBodyBytes)
}

// readBodyLimit is readBody with its own size limit (413 beyond it).
func (s *Server) readBodyLimit(c echo.Context, limit int64) (body, error) {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	data, err := io.ReadAll(r)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, withStatus(http.StatusRequestEntityTooLarge, errBodyTooLarge)
	}
	if err != nil {
		return nil, invalid("The request body could not be read")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return body{}, nil
	}
	var b body
	if err := json.Unmarshal(data, &b); err != nil || b == nil {
		return nil, errBadJSON
	}
	return b, nil
}

// present reports whether a field is given with a non-null value.
func (b body) present(name string) bool {
	v, ok := b[name]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

func missingString(name string) *sam.Error {
	return invalid("Missing (or invalid type) string parameter " + name)
}

func invalidParam(name string) *sam.Error { return invalid("Invalid parameter " + name) }

// str reads a string field: ok is false when it is absent or null, err is set
// when it has another type.
func (b body) str(name string) (v string, ok bool, err error) {
	if !b.present(name) {
		return "", false, nil
	}
	if err := json.Unmarshal(b[name], &v); err != nil {
		return "", false, err
	}
	return v, true, nil
}

// requiredString reads a mandatory non-empty string.
func (b body) requiredString(name string) (string, error) {
	v, ok, err := b.str(name)
	if err != nil || !ok || v == "" {
		return "", missingString(name)
	}
	return v, nil
}

// optionalString reads an optional string; a wrong type is "Invalid parameter".
func (b body) optionalString(name string) (string, error) {
	v, _, err := b.str(name)
	if err != nil {
		return "", invalidParam(name)
	}
	return v, nil
}

// optionalBool reads an optional boolean (default false).
func (b body) optionalBool(name string) (bool, error) {
	if !b.present(name) {
		return false, nil
	}
	var v bool
	if err := json.Unmarshal(b[name], &v); err != nil {
		return false, invalidParam(name)
	}
	return v, nil
}

// integer reads an integer field (a JSON number without fraction); ok is
// false when absent.
func (b body) integer(name string) (v int, ok bool, err error) {
	if !b.present(name) {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(b[name], &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, false, errors.New("not an integer")
	}
	return int(f), true, nil
}

// hashArray reads an array of base64 digests. Absent, null or not an array
// of strings: "Missing (or invalid type) array parameter <name>".
func (b body) hashArray(name string) (hashes [][]byte, ok bool, err error) {
	if !b.present(name) {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal(b[name], &list); err != nil {
		return nil, false, invalid("Missing (or invalid type) array parameter " + name)
	}
	if len(list) == 0 {
		return nil, true, invalid("Empty hash array")
	}
	if len(list) > maxHashes {
		return nil, true, invalid("Too many hashes")
	}
	hashes = make([][]byte, len(list))
	for i, h := range list {
		d, err := sam.DecodeBase64(h)
		if err != nil || len(d) == 0 {
			return nil, true, invalid("Invalid Base64 hash string parameter")
		}
		hashes[i] = d
	}
	return hashes, true, nil
}

// maxHashes bounds the hashes of one request (the SAM enforces the same).
const maxHashes = 1000

// encodeAll encodes values as standard padded base64.
func encodeAll(values [][]byte) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = base64.StdEncoding.EncodeToString(v)
	}
	return out
}
