package sam

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

// BenchmarkSigningCore measures, in one run and on the same token, the raw
// PKCS#11 sign rate (a warm unwrapped key, one C_SignInit+C_Sign per
// signature, no database) and the full SAM path (SAD lookup and MAC check,
// atomic consumption with its audit entry, key-binding check, HSM signature,
// verification with the standard library, closing audit entry), and prints
// the SAM rate as a ratio of the raw rate at the same concurrency. SAD
// issuance is done before the clock starts: it is not part of signHash.
//
//	go test -run '^$' -bench SigningCore -benchtime 1x ./sam
//
// CSC_BENCH_SECONDS sets the seconds per cell (default 3); CSC_BENCH_ALG
// (RSA-2048 or EC-P256), CSC_BENCH_SESSIONS and CSC_BENCH_HASHES keep only
// the matching cells. The database is SQLite, plus PostgreSQL when
// CSC_TEST_POSTGRES_DSN is set.
func BenchmarkSigningCore(b *testing.B) {
	seconds := 3.0
	if v := os.Getenv("CSC_BENCH_SECONDS"); v != "" {
		fmt.Sscanf(v, "%g", &seconds)
	}
	dur := time.Duration(seconds * float64(time.Second))
	keys := hsmtest.HSM(b)
	for _, driver := range storetest.Drivers() {
		st := storetest.Open(b, driver)
		s, err := New(Config{}, keys, st)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := st.CreateSigner(ctx, &store.Signer{ID: "bench", Name: "Bench", Status: store.StatusActive}); err != nil {
			b.Fatal(err)
		}
		var rows []string
		for _, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256} {
			if !benchWants("CSC_BENCH_ALG", string(alg)) {
				continue
			}
			cred, err := s.CreateCredential(ctx, NewCredential{SignerID: "bench", Algorithm: alg, Multisign: 10})
			if err != nil {
				b.Fatal(err)
			}
			pub, _ := x509.ParsePKIXPublicKey(cred.PublicKey)
			signAlgo := OIDSHA256WithRSA
			if alg == hsm.ECP256 {
				signAlgo = OIDECDSAWithSHA256
			}
			signer := keys.Signer(hsm.Key{ID: cred.ID, Blob: cred.KeyBlob, Algorithm: alg, Public: pub})
			d := randomDigest32()
			if _, err := signer.Sign(nil, d, crypto.SHA256); err != nil { // warm the key cache
				b.Fatal(err)
			}
			for _, workers := range []int{1, 2} {
				if !benchWants("CSC_BENCH_SESSIONS", fmt.Sprint(workers)) {
					continue
				}
				raw := measure(dur, workers, func(int) (int, error) {
					_, err := signer.Sign(nil, d, crypto.SHA256)
					return 1, err
				})
				rows = append(rows, fmt.Sprintf("%-8s %-8s sessions=%d  raw PKCS#11            %8.0f sig/s", driver, alg, workers, raw))
				b.ReportMetric(raw, fmt.Sprintf("raw-%s-s%d-sig/s", alg, workers))
				for _, perSAD := range []int{10, 1} {
					if !benchWants("CSC_BENCH_HASHES", fmt.Sprint(perSAD)) {
						continue
					}
					rate := s.benchSAMPath(b, cred, signAlgo, workers, perSAD, raw, dur)
					ratio := rate / raw
					rows = append(rows, fmt.Sprintf("%-8s %-8s sessions=%d  SAM, %2d hash(es)/SAD  %8.0f sig/s  ratio %.2f", driver, alg, workers, perSAD, rate, ratio))
					b.ReportMetric(ratio, fmt.Sprintf("ratio-%s-%s-s%d-h%d", driver, alg, workers, perSAD))
				}
			}
		}
		fmt.Println(strings.Join(rows, "\n"))
	}
}

// benchSAMPath pre-issues enough SADs for dur at the raw rate, then signs
// through SignHash with workers goroutines and returns signatures per second.
func (s *SAM) benchSAMPath(b *testing.B, cred *store.Credential, signAlgo string, workers, perSAD int, raw float64, dur time.Duration) float64 {
	ctx := context.Background()
	n := int(raw*dur.Seconds())/perSAD + 2*workers
	type job struct {
		token  string
		hashes [][]byte
	}
	jobs := make([]job, n)
	for i := range jobs {
		hashes := make([][]byte, perSAD)
		for j := range hashes {
			hashes[j] = randomDigest32()
		}
		sad, err := s.issue(ctx, cred, "bench", "bench-client", perSAD, OIDSHA256, hashes, s.now())
		if err != nil {
			b.Fatal(err)
		}
		jobs[i] = job{sad.Token, hashes}
	}
	var next atomic.Int64
	return measure(dur, workers, func(int) (int, error) {
		i := next.Add(1) - 1
		if int(i) >= len(jobs) {
			return 0, errExhausted
		}
		sigs, err := s.SignHash(ctx, SignRequest{CredentialID: cred.ID, SignerID: "bench", ClientID: "bench-client",
			SAD: jobs[i].token, SignAlgorithm: signAlgo, Hashes: jobs[i].hashes})
		return len(sigs), err
	})
}

func benchWants(env, v string) bool {
	want := os.Getenv(env)
	return want == "" || want == v
}

var errExhausted = fmt.Errorf("benchmark ran out of pre-issued SADs")

// measure runs op from workers goroutines for dur (or until op reports
// errExhausted) and returns completed signatures per second of wall time.
func measure(dur time.Duration, workers int, op func(worker int) (int, error)) float64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				k, err := op(w)
				if err != nil {
					if err != errExhausted {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				total.Add(int64(k))
			}
		}(w)
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		panic(err)
	}
	return float64(total.Load()) / time.Since(start).Seconds()
}

func randomDigest32() []byte {
	d := make([]byte, 32)
	if _, err := rand.Read(d); err != nil {
		panic(err)
	}
	return d
}
