package hsm_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/openrssp/rssp/hsm"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want hsm.URI
		str  string // canonical String(); "" means same as in
	}{
		{"empty path", "pkcs11:", hsm.URI{}, ""},
		{"default wrap key", hsm.DefaultWrapKeyURI, hsm.URI{Object: "rssp-wrap", Type: "secret-key"}, ""},
		{"RFC 7512 example", "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91",
			hsm.URI{Token: "The Software PKCS#11 Softtoken", Manufacturer: "Snake Oil, Inc.", Model: "1.0", Object: "my-certificate", Type: "cert", ID: []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91}},
			"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91"},
		{"all path attributes", "pkcs11:token=tok;manufacturer=SoftHSM%20project;serial=abc123;model=SoftHSM%20v2;library-description=Implementation%20of%20PKCS11;object=key;type=private;id=%01%AB",
			hsm.URI{Token: "tok", Manufacturer: "SoftHSM project", Serial: "abc123", Model: "SoftHSM v2", LibraryDescription: "Implementation of PKCS11", Object: "key", Type: "private", ID: []byte{1, 0xab}}, ""},
		{"order-independent", "pkcs11:id=%01;object=a;token=t", hsm.URI{Token: "t", Object: "a", ID: []byte{1}}, "pkcs11:token=t;object=a;id=%01"},
		{"lower-case hex and scheme case", "PKCS11:object=a%2fb%3b", hsm.URI{Object: "a/b;"}, "pkcs11:object=a%2Fb%3B"},
		{"res-avail characters kept", "pkcs11:object=a:b@c!$'()*+,=[]", hsm.URI{Object: "a:b@c!$'()*+,=[]"}, ""},
		{"ampersand allowed in path", "pkcs11:object=a&b", hsm.URI{Object: "a&b"}, "pkcs11:object=a%26b"},
		{"UTF-8 label", "pkcs11:object=cl%C3%A9", hsm.URI{Object: "clé"}, ""},
		{"query", "pkcs11:object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			hsm.URI{Object: "k", ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/run/pin"}, ""},
		{"pin-value", "pkcs11:?pin-value=12%2634", hsm.URI{PINValue: "12&34"}, ""},
		{"query slash and question mark", "pkcs11:?module-path=/a?b|c", hsm.URI{ModulePath: "/a?b|c"}, "pkcs11:?module-path=/a%3Fb%7Cc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := hsm.ParseURI(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u, tc.want) {
				t.Fatalf("got %+v\nwant %+v", u, tc.want)
			}
			want := tc.str
			if want == "" {
				want = tc.in
			}
			if got := u.String(); got != want {
				t.Fatalf("String() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"other scheme", "http://x"},
		{"no scheme", "object=a"},
		{"fragment", "pkcs11:object=a#frag"},
		{"unknown path attribute", "pkcs11:slot-id=1"},
		{"vendor attribute", "pkcs11:x-vendor=1"},
		{"query attribute in path", "pkcs11:pin-value=1"},
		{"path attribute in query", "pkcs11:?object=a"},
		{"module-name unsupported", "pkcs11:?module-name=softhsm2"},
		{"duplicate", "pkcs11:object=a;object=b"},
		{"duplicate query", "pkcs11:?pin-source=a&pin-source=b"},
		{"pin-value and pin-source", "pkcs11:?pin-value=1&pin-source=f"},
		{"empty value", "pkcs11:object="},
		{"RFC 7512 example with empty serial", "pkcs11:token=Softtoken;object=my-certificate;type=cert;serial="},
		{"empty id", "pkcs11:id="},
		{"missing equals", "pkcs11:object"},
		{"empty attribute", "pkcs11:object=a;;type=cert"},
		{"trailing semicolon", "pkcs11:object=a;"},
		{"empty query", "pkcs11:object=a?"},
		{"trailing ampersand", "pkcs11:?pin-source=a&"},
		{"bad type", "pkcs11:type=key"},
		{"space", "pkcs11:object=a b"},
		{"slash in path", "pkcs11:object=a/b"},
		{"ampersand in query value", "pkcs11:?pin-source=a&b"},
		{"truncated percent", "pkcs11:object=a%4"},
		{"bad hex", "pkcs11:object=a%G1"},
		{"not UTF-8", "pkcs11:object=%FF"},
		{"question mark in path value", "pkcs11:object=a;type=cert?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if u, err := hsm.ParseURI(tc.in); err == nil {
				t.Fatalf("accepted as %+v", u)
			}
		})
	}
	// Errors never echo attribute values (they may be PINs).
	_, err := hsm.ParseURI("pkcs11:?pin-value=s3cr%ZZet")
	if err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Fatalf("error %v", err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:", hsm.DefaultWrapKeyURI, hsm.DefaultMACKeyURI,
		"pkcs11:token=tok;manufacturer=m;serial=1;model=x;library-description=d;object=o;type=public;id=%00%FF",
		"pkcs11:object=a?module-path=/usr/lib/x.so&pin-source=file:/p",
		"pkcs11:?pin-value=1234", "pkcs11:object=a%2F%3b&", "PKCS11:object=x", "pkcs11:object=a#b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := hsm.ParseURI(s)
		if err != nil {
			return
		}
		s2 := u.String()
		u2, err := hsm.ParseURI(s2)
		if err != nil {
			t.Fatalf("ParseURI(%q) ok, but its String() %q fails: %v", s, s2, err)
		}
		if !reflect.DeepEqual(u, u2) {
			t.Fatalf("round trip of %q: %+v != %+v", s, u, u2)
		}
		if s3 := u2.String(); s3 != s2 {
			t.Fatalf("String not canonical: %q then %q", s2, s3)
		}
	})
}
