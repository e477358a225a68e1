package sam

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/sam/pades"
	"github.com/openrssp/rssp/sam/pades/padestest"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

// BenchmarkSignDoc measures signatures/signDoc's SAM path on a one-page PDF
// (SAD consumption for the document's digest, the PDF update, the CMS, the
// signature in the HSM and its verification, and per level the timestamps
// of the built-in TSA, whose key is in the HSM too, and the validation
// data) as a ratio of the raw PKCS#11 sign rate and of SignHash with one
// hash per SAD, in one run on the same token, one request at a time,
// RSA-2048 on SQLite:
//
//	go test -run '^$' -bench SignDoc -benchtime 1x ./sam
//
// CSC_BENCH_SECONDS sets the seconds per cell (default 3).
func BenchmarkSignDoc(b *testing.B) {
	seconds := 3.0
	if v := os.Getenv("CSC_BENCH_SECONDS"); v != "" {
		fmt.Sscanf(v, "%g", &seconds)
	}
	dur := time.Duration(seconds * float64(time.Second))
	ctx := context.Background()
	keys := hsmtest.HSM(b)
	st := storetest.Open(b, "sqlite")
	s, err := New(Config{}, keys, st)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.InitDevCA(ctx, DevCAConfig{}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.InitDevTSA(ctx, DevTSAConfig{}); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateSigner(ctx, &store.Signer{ID: "bench", Name: "Bench Signer", Status: store.StatusActive}); err != nil {
		b.Fatal(err)
	}
	cred, err := s.CreateCredential(ctx, NewCredential{SignerID: "bench", Algorithm: hsm.RSA2048, Multisign: 10})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.IssueDevCertificate(ctx, cred.ID, Subject{}, 0); err != nil {
		b.Fatal(err)
	}
	pub, _ := x509.ParsePKIXPublicKey(cred.PublicKey)
	signer := keys.Signer(hsm.Key{ID: cred.ID, Blob: cred.KeyBlob, Algorithm: hsm.RSA2048, Public: pub})
	d := randomDigest32()
	if _, err := signer.Sign(nil, d, crypto.SHA256); err != nil { // warm the key cache
		b.Fatal(err)
	}
	doc := padestest.MinimalPDF(b, 1)
	budget := 1500 * dur.Seconds()
	raw := &cell{op: func(int) (int, error) {
		_, err := signer.Sign(nil, d, crypto.SHA256)
		return 1, err
	}}
	hash := s.samCell(b, cred, OIDSHA256WithRSA, 1, budget)
	levels := []Level{LevelB, LevelT, LevelLTA}
	docs := make([]*cell, len(levels))
	for i, l := range levels {
		docs[i] = s.signDocCell(b, cred, doc, l, budget/4)
	}
	const slices = 6
	for range slices {
		for _, c := range append([]*cell{raw, hash}, docs...) {
			c.run(dur/slices, 1)
		}
	}
	rows := []string{
		fmt.Sprintf("RSA-2048 raw PKCS#11                          %7.0f sig/s", raw.rate()),
		fmt.Sprintf("RSA-2048 SignHash, 1 hash/SAD                 %7.0f sig/s  ratio/raw %.2f", hash.rate(), hash.rate()/raw.rate()),
	}
	for i, l := range levels {
		r := docs[i].rate()
		rows = append(rows, fmt.Sprintf("RSA-2048 SignDoc, 1-page PDF, PAdES %-5s     %7.0f doc/s  ratio/raw %.2f  ratio/SignHash %.2f", l, r, r/raw.rate(), r/hash.rate()))
		b.ReportMetric(r/raw.rate(), "ratio-signdoc-"+string(l))
	}
	fmt.Println(strings.Join(rows, "\n"))
}

// signDocCell pre-issues SADs for doc's digest and returns a cell that
// redeems them through SignDoc at level, checking the first result.
func (s *SAM) signDocCell(b *testing.B, cred *store.Credential, doc []byte, level Level, budget float64) *cell {
	ctx := context.Background()
	digest := sha256.Sum256(doc)
	tokens := make([]string, min(int(budget)+4, 5000))
	for i := range tokens {
		sad, err := s.issue(ctx, cred, "bench", "bench-client", 1, OIDSHA256, [][]byte{digest[:]}, s.now())
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = sad.Token
	}
	var next atomic.Int64
	return &cell{op: func(int) (int, error) {
		i := next.Add(1) - 1
		if int(i) >= len(tokens) {
			return 0, errExhausted
		}
		out, err := s.SignDoc(ctx, SignDocRequest{CredentialID: cred.ID, SignerID: "bench", ClientID: "bench-client", SAD: tokens[i],
			Documents: []DocumentToSign{{Content: doc, Format: FormatPAdES, Level: level, SignAlgorithm: OIDSHA256WithRSA}}})
		if err == nil && i == 0 {
			if sigs, perr := pades.Signatures(out[0].Data); perr != nil || len(sigs) == 0 {
				err = fmt.Errorf("signDoc %s gave no signature: %v", level, perr)
			}
		}
		return len(out), err
	}}
}
