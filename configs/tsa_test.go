package configs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitorus/timestamp"
	"github.com/openrssp/rssp/sam/pades/padestest"
)

// TestExternalTSA: tsa.url makes signDoc's timestamps come from an external
// RFC 3161 authority, anchored in tsa.ca_file when it is set.
func TestExternalTSA(t *testing.T) {
	t.Setenv(EnvHSMPIN, "1234")
	tsa := padestest.NewTSA(t)
	other := padestest.NewTSA(t)
	dir := t.TempDir()
	write := func(name string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tsa-root.pem", tsa.Root.Raw)
	write("other-root.pem", other.Root.Raw)
	base := "hsm: {module: /m.so, token_label: t}\nstore: {dsn: x.db}\n"
	load := func(yaml string) *Config {
		t.Helper()
		c, err := Decode(strings.NewReader(base+yaml), dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if ts, err := load("").NewTimestamper(); ts != nil || err != nil {
		t.Fatalf("no tsa.url must keep the built-in TSA: %v %v", ts, err)
	}
	digest := sha256.Sum256([]byte("signature value"))
	ts, err := load("tsa: {url: '" + tsa.URL + "', ca_file: tsa-root.pem}\n").NewTimestamper()
	if err != nil || ts == nil {
		t.Fatal(ts, err)
	}
	if ts.MaxTokenSize() != 16<<10 {
		t.Fatalf("default max token size %d", ts.MaxTokenSize())
	}
	token, err := ts.Stamp(context.Background(), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := timestamp.Parse(token)
	if err != nil || !bytes.Equal(parsed.HashedMessage, digest[:]) || tsa.Requests.Load() != 1 {
		t.Fatalf("token: %v %x, %d requests", err, parsed.HashedMessage, tsa.Requests.Load())
	}
	// A token larger than max_token_bytes fails rather than overflowing the PDF.
	small := ts.(externalTSA)
	small.max = len(token) / 2 // any token of this TSA is larger
	if _, err := small.Stamp(context.Background(), crypto.SHA256, digest[:]); err == nil || !strings.Contains(err.Error(), "max_token_bytes") {
		t.Fatalf("a token over the bound: %v", err)
	}
	// Anchored in another CA: refused.
	ts, err = load("tsa: {url: '" + tsa.URL + "', ca_file: other-root.pem}\n").NewTimestamper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Stamp(context.Background(), crypto.SHA256, digest[:]); err == nil {
		t.Fatal("a TSA outside tsa.ca_file was accepted")
	}
	for _, tc := range []struct{ yaml, want string }{
		{"tsa: {url: 'ftp://tsa.example'}\n", "tsa.url"},
		{"tsa: {url: 'not a url'}\n", "tsa.url"},
		{"tsa: {ca_file: tsa-root.pem}\n", "without tsa.url"},
		{"tsa: {url: 'http://127.0.0.1:1/', timeout: 10m}\n", "tsa.timeout"},
		{"tsa: {url: 'http://127.0.0.1:1/', max_token_bytes: 100}\n", "tsa.max_token_bytes"},
	} {
		if _, err := Decode(strings.NewReader(base+tc.yaml), dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error about %s", tc.yaml, err, tc.want)
		}
	}
}
