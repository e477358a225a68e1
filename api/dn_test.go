package api

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestRFC4514(t *testing.T) {
	name := pkix.Name{
		Country: []string{"BE"}, Organization: []string{"Example, Inc."}, CommonName: " Ada + Lovelace ",
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: "Ada"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: "Lovelace"},
			{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "x"},
		},
	}
	raw, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	got := rfc4514(raw)
	want := `1.2.3.4=#130178,SN=Lovelace,givenName=Ada,CN=\ Ada \+ Lovelace\ ,O=Example\, Inc.,C=BE`
	if got != want {
		t.Fatalf("rfc4514 =\n %s\nwant\n %s", got, want)
	}
	if rfc4514([]byte{0x30, 0x01}) != "" {
		t.Fatal("malformed DER rendered")
	}
}
