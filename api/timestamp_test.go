package api_test

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"testing"

	"github.com/digitorus/timestamp"
)

// TestSignaturesTimestamp: CSC signatures/timestamp in both versions gives
// a token over the hash with the hex nonce, verified against the TSA
// certificate it carries; the CSC error table's cases are refused.
func TestSignaturesTimestamp(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		tok := e.login(t, e.alice)
		h := digest("the signature value to stamp")
		for _, v := range []string{"v1", "v2"} {
			status, out, _ := e.call(t, "/csc/"+v+"/signatures/timestamp", tok, map[string]any{"hash": b64(h),
				"hashAlgo": "2.16.840.1.101.3.4.2.1", "nonce": "0a1b2c3d4e5f", "clientData": "x"})
			if status != 200 {
				t.Fatalf("%s timestamp: %d %v", v, status, out)
			}
			der, err := base64.StdEncoding.DecodeString(out["timestamp"].(string))
			if err != nil {
				t.Fatal(err)
			}
			ts, err := timestamp.Parse(der)
			if err != nil {
				t.Fatalf("%s token does not verify: %v", v, err)
			}
			if !bytes.Equal(ts.HashedMessage, h) || ts.HashAlgorithm != crypto.SHA256 || ts.Nonce.Cmp(big.NewInt(0x0a1b2c3d4e5f)) != 0 {
				t.Fatalf("%s token: %+v", v, ts)
			}
			if len(ts.Certificates) == 0 || ts.Certificates[0].Subject.CommonName != "RSSP Development TSA" {
				t.Fatalf("%s token carries no TSA certificate", v)
			}
		}
		for _, tc := range []struct {
			name string
			body map[string]any
			desc string
		}{
			{"hash missing", map[string]any{"hashAlgo": "2.16.840.1.101.3.4.2.1"}, "Missing (or invalid type) string parameter hash"},
			{"hash empty", map[string]any{"hash": "", "hashAlgo": "2.16.840.1.101.3.4.2.1"}, "Empty hash parameter"},
			{"hash not base64", map[string]any{"hash": "%%%", "hashAlgo": "2.16.840.1.101.3.4.2.1"}, "Invalid Base64 hash string parameter"},
			{"wrong length", map[string]any{"hash": b64(h[:20]), "hashAlgo": "2.16.840.1.101.3.4.2.1"}, "Invalid digest value length"},
			{"unknown hashAlgo", map[string]any{"hash": b64(h), "hashAlgo": "1.2.3"}, "Invalid parameter hashAlgo"},
			{"nonce not hex", map[string]any{"hash": b64(h), "hashAlgo": "2.16.840.1.101.3.4.2.1", "nonce": "xyz"}, "Invalid parameter nonce"},
			{"nonce too long", map[string]any{"hash": b64(h), "hashAlgo": "2.16.840.1.101.3.4.2.1", "nonce": "00112233445566778899aabbccddeeff0011223344"}, "Invalid parameter nonce"},
		} {
			status, out, _ := e.call(t, "/csc/v2/signatures/timestamp", tok, tc.body)
			wantError(t, status, out, 400, "invalid_request", tc.desc)
		}
		status, out, _ := e.call(t, "/csc/v2/signatures/timestamp", "", map[string]any{"hash": b64(h), "hashAlgo": "2.16.840.1.101.3.4.2.1"})
		if status != 401 {
			t.Fatalf("timestamp without a token: %d %v", status, out)
		}
	})
}

// TestRFC3161Endpoint: /tsa answers DER queries from any RFC 3161 client,
// refuses other media types, and limits each address.
func TestRFC3161Endpoint(t *testing.T) {
	e := newEnv(t, "sqlite")
	query, err := timestamp.CreateRequest(bytes.NewReader([]byte("a document")), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true, Nonce: big.NewInt(7)})
	if err != nil {
		t.Fatal(err)
	}
	post := func(ct string, body []byte) (int, []byte, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/tsa", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data, resp.Header
	}
	status, body, hdr := post("application/timestamp-query", query)
	if status != 200 || hdr.Get("Content-Type") != "application/timestamp-reply" {
		t.Fatalf("/tsa: %d %s", status, hdr.Get("Content-Type"))
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil || ts.Nonce.Int64() != 7 {
		t.Fatalf("/tsa answer: %+v %v", ts, err)
	}
	if status, body, _ := post("application/timestamp-query", []byte("not DER")); status != 200 {
		t.Fatalf("malformed query: %d", status)
	} else if _, err := timestamp.ParseResponse(body); err == nil {
		t.Fatal("a token for a malformed query")
	}
	if status, _, _ := post("application/json", query); status != http.StatusUnsupportedMediaType {
		t.Fatalf("JSON body: %d, want 415", status)
	}
	limited := false
	for range 40 {
		if status, _, _ := post("application/timestamp-query", query); status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("40 timestamps in a row from one address were not limited")
	}
}
