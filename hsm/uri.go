package hsm

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// URI is a PKCS#11 URI (RFC 7512) restricted to the attributes this server
// uses. Values are stored percent-decoded.
//
// ParseURI is strict: it rejects attributes it does not model (including
// standard ones such as slot-id or library-version and vendor "x-" attributes),
// duplicate attributes, empty values, characters RFC 7512 does not allow
// unencoded, malformed percent-encoding, text values that are not UTF-8,
// unknown object types, and a fragment. A URI that selects a key must not
// carry an attribute that would be silently ignored.
type URI struct {
	// Path attributes.
	Token              string // token label
	Object             string // object label (CKA_LABEL)
	Type               string // "cert", "data", "private", "public" or "secret-key"
	ID                 []byte // CKA_ID, raw bytes; nil when absent
	Serial             string // token serial number
	Manufacturer       string // token manufacturer
	Model              string // token model
	LibraryDescription string // module description ("library-description")

	// Query attributes.
	ModulePath string // "module-path"
	PINValue   string // "pin-value": a secret; String() includes it
	PINSource  string // "pin-source"
}

var errURI = errors.New("hsm: invalid PKCS#11 URI")

var uriTypes = map[string]bool{"cert": true, "data": true, "private": true, "public": true, "secret-key": true}

// ParseURI parses a "pkcs11:" URI. Error messages name the offending attribute
// but never echo its value (it may be a PIN).
func ParseURI(s string) (URI, error) {
	var u URI
	const scheme = "pkcs11:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return u, fmt.Errorf("%w: scheme must be %q", errURI, scheme)
	}
	rest := s[len(scheme):]
	if strings.IndexByte(rest, '#') >= 0 {
		return u, fmt.Errorf("%w: fragment not allowed", errURI)
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	seen := make(map[string]bool, 8)
	if path != "" {
		for attr := range strings.SplitSeq(path, ";") {
			if err := u.setAttr(attr, false, seen); err != nil {
				return URI{}, err
			}
		}
	}
	if hasQuery {
		if query == "" {
			return URI{}, fmt.Errorf("%w: empty query", errURI)
		}
		for attr := range strings.SplitSeq(query, "&") {
			if err := u.setAttr(attr, true, seen); err != nil {
				return URI{}, err
			}
		}
	}
	if u.PINValue != "" && u.PINSource != "" {
		return URI{}, fmt.Errorf("%w: pin-value and pin-source are mutually exclusive", errURI)
	}
	return u, nil
}

func (u *URI) setAttr(attr string, inQuery bool, seen map[string]bool) error {
	name, raw, ok := strings.Cut(attr, "=")
	if !ok || name == "" {
		return fmt.Errorf("%w: malformed attribute", errURI)
	}
	var text *string
	isID := false
	if inQuery {
		switch name {
		case "module-path":
			text = &u.ModulePath
		case "pin-value":
			text = &u.PINValue
		case "pin-source":
			text = &u.PINSource
		}
	} else {
		switch name {
		case "token":
			text = &u.Token
		case "object":
			text = &u.Object
		case "type":
			text = &u.Type
		case "serial":
			text = &u.Serial
		case "manufacturer":
			text = &u.Manufacturer
		case "model":
			text = &u.Model
		case "library-description":
			text = &u.LibraryDescription
		case "id":
			isID = true
		}
	}
	if text == nil && !isID {
		where := "path"
		if inQuery {
			where = "query"
		}
		return fmt.Errorf("%w: unsupported %s attribute %q", errURI, where, safeName(name))
	}
	if seen[name] {
		return fmt.Errorf("%w: duplicate attribute %q", errURI, name)
	}
	seen[name] = true
	val, err := pctDecode(raw, inQuery)
	if err != nil {
		return fmt.Errorf("%w: attribute %q: %v", errURI, name, err)
	}
	if len(val) == 0 {
		return fmt.Errorf("%w: attribute %q is empty", errURI, name)
	}
	if isID {
		u.ID = val
		return nil
	}
	if !utf8.Valid(val) {
		return fmt.Errorf("%w: attribute %q is not UTF-8", errURI, name)
	}
	if name == "type" && !uriTypes[string(val)] {
		return fmt.Errorf("%w: unknown object type", errURI)
	}
	*text = string(val)
	return nil
}

// safeName shortens an attribute name for an error message; it is printed
// with %q so control characters are escaped.
func safeName(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// isUnreserved reports RFC 3986 unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isResAvail reports RFC 7512 pk11-res-avail characters, allowed unencoded
// in both path and query values.
func isResAvail(c byte) bool {
	switch c {
	case ':', '[', ']', '@', '!', '$', '\'', '(', ')', '*', '+', ',', '=':
		return true
	}
	return false
}

func allowedRaw(c byte, inQuery bool) bool {
	if isUnreserved(c) || isResAvail(c) {
		return true
	}
	if inQuery {
		return c == '/' || c == '?' || c == '|'
	}
	return c == '&'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func pctDecode(s string, inQuery bool) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return nil, errors.New("truncated percent-encoding")
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, errors.New("bad percent-encoding")
			}
			out = append(out, hi<<4|lo)
			i += 2
			continue
		}
		if !allowedRaw(c, inQuery) {
			return nil, errors.New("character must be percent-encoded")
		}
		out = append(out, c)
	}
	return out, nil
}

const hexUpper = "0123456789ABCDEF"

func pctEncode(b *strings.Builder, v []byte, inQuery, all bool) {
	for _, c := range v {
		if !all && (isUnreserved(c) || isResAvail(c) || inQuery && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
}

// String returns the URI in a canonical form: path attributes in the order
// token, manufacturer, serial, model, library-description, object, type, id;
// then query attributes module-path, pin-source, pin-value. Text values keep
// unreserved and pk11-res-avail characters; everything else, and every byte
// of id, is percent-encoded. ParseURI(u.String()) returns u for any u that
// ParseURI produced. The result contains pin-value if set.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	sep := byte(0)
	add := func(name string, v []byte, inQuery, all bool) {
		if len(v) == 0 {
			return
		}
		if sep != 0 {
			b.WriteByte(sep)
		}
		b.WriteString(name)
		b.WriteByte('=')
		pctEncode(&b, v, inQuery, all)
		if inQuery {
			sep = '&'
		} else {
			sep = ';'
		}
	}
	add("token", []byte(u.Token), false, false)
	add("manufacturer", []byte(u.Manufacturer), false, false)
	add("serial", []byte(u.Serial), false, false)
	add("model", []byte(u.Model), false, false)
	add("library-description", []byte(u.LibraryDescription), false, false)
	add("object", []byte(u.Object), false, false)
	add("type", []byte(u.Type), false, false)
	add("id", u.ID, false, true)
	if u.ModulePath != "" || u.PINSource != "" || u.PINValue != "" {
		b.WriteByte('?')
		sep = 0
		add("module-path", []byte(u.ModulePath), true, false)
		add("pin-source", []byte(u.PINSource), true, false)
		add("pin-value", []byte(u.PINValue), true, false)
	}
	return b.String()
}
