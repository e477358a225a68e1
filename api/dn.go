package api

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strings"
)

// ldapNames are the attribute types with a registered LDAP descriptor
// (RFC 4519, RFC 2985 for email) that certificates for natural persons use.
var ldapNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.42":                   "givenName",
	"2.5.4.43":                   "initials",
	"2.5.4.97":                   "organizationIdentifier",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
	"1.2.840.113549.1.9.1":       "emailAddress",
}

// rfc4514 renders a DER Name as an RFC 4514 string: RDNs last to first,
// registered attribute types by name, string values escaped, anything else
// as a dotted OID with the value's DER in hex.
func rfc4514(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return ""
	}
	parts := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		atvs := make([]string, 0, len(seq[i]))
		for _, atv := range seq[i] {
			oid := atv.Type.String()
			name, known := ldapNames[oid]
			s, isString := atv.Value.(string)
			if known && isString {
				atvs = append(atvs, name+"="+escapeDNValue(s))
				continue
			}
			der, err := asn1.Marshal(atv.Value)
			if err != nil {
				return ""
			}
			atvs = append(atvs, oid+"=#"+hex.EncodeToString(der))
		}
		parts = append(parts, strings.Join(atvs, "+"))
	}
	return strings.Join(parts, ",")
}

// escapeDNValue escapes an attribute value as RFC 4514 §2.4 requires.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '"' || r == '+' || r == ',' || r == ';' || r == '<' || r == '>' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == 0:
			b.WriteString(`\00`)
		case (r == ' ' || r == '#') && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == ' ' && i == len(s)-1:
			b.WriteString(`\ `)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
