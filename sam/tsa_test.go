package sam_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/openrssp/rssp/sam"
)

// TestTimestampAuthority: the TSA's key lives in the HSM and its
// certificate comes from the development CA with the timestamping profile;
// a token carries the digest, the nonce and our policy, verifies against
// the TSA certificate (and with openssl against the CA), and is audited.
func TestTimestampAuthority(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		// The CMS library stamps the token with the wall clock, so the TSA
		// certificate must be valid now: this SAM's clock is the real time.
		f.clock = &fakeClock{now: time.Now()}
		var err error
		if f.sam, err = sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.sam.Timestamp(ctx, sam.TimestampRequest{Hash: crypto.SHA256, Digest: make([]byte, 32)}); !errors.Is(err, sam.ErrNoTSA) {
			t.Fatalf("timestamp without a TSA: %v", err)
		}
		if _, _, err := f.sam.InitDevTSA(ctx, sam.DevTSAConfig{}); err == nil {
			t.Fatal("a TSA was created without a CA to certify it")
		}
		ca, _, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{})
		if err != nil {
			t.Fatal(err)
		}
		cert, created, err := f.sam.InitDevTSA(ctx, sam.DevTSAConfig{})
		if err != nil || !created {
			t.Fatal(created, err)
		}
		if again, created, err := f.sam.InitDevTSA(ctx, sam.DevTSAConfig{}); err != nil || created || !again.Equal(cert) {
			t.Fatalf("second InitDevTSA: %v %v", created, err)
		}
		if err := cert.CheckSignatureFrom(ca); err != nil || cert.IsCA || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
			t.Fatalf("TSA certificate profile: %v %+v", err, cert.ExtKeyUsage)
		}
		critical := false
		for _, e := range cert.Extensions {
			if e.Id.String() == "2.5.29.37" {
				critical = e.Critical
			}
		}
		if !critical {
			t.Fatal("the extended key usage of a TSA certificate must be critical (RFC 3161 §2.3)")
		}

		digest := sha256.Sum256([]byte("the signature value"))
		nonce := big.NewInt(0x1234abcd)
		token, resp, err := f.sam.Timestamp(ctx, sam.TimestampRequest{Hash: crypto.SHA256, Digest: digest[:], Nonce: nonce, Requester: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := timestamp.Parse(token) // verifies the CMS signature with the embedded certificate
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ts.HashedMessage, digest[:]) || ts.HashAlgorithm != crypto.SHA256 || ts.Nonce.Cmp(nonce) != 0 ||
			!ts.Policy.Equal(sam.DevTSAPolicy) || !ts.Time.Equal(f.clock.Now().UTC().Truncate(time.Second)) {
			t.Fatalf("token: %+v", ts)
		}
		if len(ts.Certificates) == 0 || !ts.Certificates[0].Equal(cert) {
			t.Fatal("the token does not carry the TSA certificate")
		}
		if !f.hasAudit(sam.EventTimestampIssued, sam.OutcomeOK, "test", map[string]any{"serial": ts.SerialNumber.Text(16)}) {
			t.Fatal("the timestamp was not audited")
		}
		opensslTSVerify(t, resp, digest[:], ca, cert)

		for name, req := range map[string]sam.TimestampRequest{
			"SHA-1":        {Hash: crypto.SHA1, Digest: make([]byte, 20)},
			"short digest": {Hash: crypto.SHA256, Digest: make([]byte, 31)},
			"huge nonce":   {Hash: crypto.SHA256, Digest: digest[:], Nonce: new(big.Int).Lsh(big.NewInt(1), 200)},
		} {
			if _, _, err := f.sam.Timestamp(ctx, req); err == nil {
				t.Errorf("%s: a token was issued", name)
			}
		}

		// The plain RFC 3161 exchange.
		query, err := timestamp.CreateRequest(bytes.NewReader([]byte("document")), &timestamp.RequestOptions{Hash: crypto.SHA384, Certificates: true, Nonce: big.NewInt(42)})
		if err != nil {
			t.Fatal(err)
		}
		answer, err := f.sam.TimestampQuery(ctx, query, "anonymous")
		if err != nil {
			t.Fatal(err)
		}
		if ts, err := timestamp.ParseResponse(answer); err != nil || ts.Nonce.Int64() != 42 || ts.HashAlgorithm != crypto.SHA384 {
			t.Fatalf("RFC 3161 answer: %+v %v", ts, err)
		}
		for name, q := range map[string][]byte{"garbage": []byte("not DER"), "empty": nil} {
			answer, err := f.sam.TimestampQuery(ctx, q, "anonymous")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := timestamp.ParseResponse(answer); err == nil {
				t.Errorf("%s: a token for a malformed query", name)
			}
		}
	})
}

// opensslTSVerify checks a TimeStampResp with openssl ts -verify against
// the CA, when openssl is installed.
func opensslTSVerify(t *testing.T, resp, digest []byte, ca, tsa *x509.Certificate) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("openssl not installed: the independent timestamp check is skipped")
		return
	}
	dir := t.TempDir()
	respFile, caFile, tsaFile := filepath.Join(dir, "resp.tsr"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tsa.pem")
	for name, data := range map[string][]byte{respFile: resp, caFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		tsaFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsa.Raw})} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "ts", "-verify", "-digest", hex.EncodeToString(digest), "-in", respFile, "-CAfile", caFile, "-untrusted", tsaFile).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Verification: OK")) {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
}
