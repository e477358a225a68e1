package sam

import (
	"crypto"
	"encoding/hex"
	"testing"
)

// RSASSA-PSS-params seen in the field.
const (
	// SHA-256, MGF1-SHA-256, salt 32 (NULL hash parameters).
	pssSHA256Salt32 = "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"
	// SHA-256, MGF1-SHA-256, salt 222, parameters absent, trailer 1 given.
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePSSParams(t *testing.T) {
	tests := []struct {
		name string
		der  string
		want *struct {
			hash, mgf crypto.Hash
			salt      int
		}
	}{
		{"sha256 salt 32", pssSHA256Salt32, &struct {
			hash, mgf crypto.Hash
			salt      int
		}{crypto.SHA256, crypto.SHA256, 32}},
		{"sha512, mgf1 sha512, salt 64, absent params, trailer 1",
			"3035a00d300b0609608648016503040203a11a301806092a864886f70d010108300b0609608648016503040203a203020140a303020101",
			&struct {
				hash, mgf crypto.Hash
				salt      int
			}{crypto.SHA512, crypto.SHA512, 64}},
		{"empty sequence means SHA-1 defaults", "3000", nil},
		{"SHA-1 hash (EUDI sample)", "3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101", nil},
		{"trailer 2", "3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020102", nil},
		{"not MGF1", "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010109300d06096086480165030402010500a203020120", nil},
		{"trailing garbage", pssSHA256Salt32 + "00", nil},
		{"truncated", pssSHA256Salt32[:40], nil},
		{"negative salt", "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a2030201ff", nil},
		{"not a sequence", "0500", nil},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePSSParams(mustHex(t, tc.der))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Hash != tc.want.hash || p.MGFHash != tc.want.mgf || p.SaltLength != tc.want.salt {
				t.Fatalf("got %+v", p)
			}
		})
	}
}

func FuzzParsePSSParams(f *testing.F) {
	f.Add(mustHexF(pssSHA256Salt32))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		p, err := ParsePSSParams(der)
		if err != nil {
			return
		}
		if p.Hash == 0 || p.MGFHash == 0 || p.SaltLength < 0 {
			t.Fatalf("accepted incomplete parameters %+v", p)
		}
	})
}

func mustHexF(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzDecodeHashes(f *testing.F) {
	f.Add("", "")
	f.Add("AAAA,BBBB", "00")
	f.Fuzz(func(t *testing.T, hashes, consumed string) {
		decoded, err := decodeHashes(hashes)
		if err != nil {
			return
		}
		if encodeHashes(decoded) != hashes && len(decoded) > 0 {
			// Non-canonical base64 may decode; what we write must round-trip.
			again, err := decodeHashes(encodeHashes(decoded))
			if err != nil || len(again) != len(decoded) {
				t.Fatalf("re-encoding does not round-trip")
			}
		}
	})
}
