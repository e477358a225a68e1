package hsm_test

import (
	"crypto"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
)

// The two benchmarks below run the same signatures, first straight through
// miekg/pkcs11 on dedicated sessions (the token's physical limit), then
// through Signer on a warm cache, so the wrapper's overhead is the ratio of
// their ops/s. "sessions=N" runs N goroutines, each with its own session
// (raw) or sharing the pool of 2 (Signer).
//
//	go test -run '^$' -bench 'RawSign|Signer' -benchtime 3s ./hsm/

var benchAlgs = []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256}

// runParallel splits b.N operations over n goroutines and reports ops/s.
func runParallel(b *testing.B, n int, op func(g, i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	b.ResetTimer()
	start := time.Now()
	for g := range n {
		count := b.N / n
		if g < b.N%n {
			count++
		}
		wg.Go(func() {
			for i := range count {
				if err := op(g, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

func BenchmarkRawSign(b *testing.B) {
	h := hsmtest.HSM(b)
	raw := h.Raw()
	for _, alg := range benchAlgs {
		k := fixture(b, alg)
		digest := digestOf(crypto.SHA256, "bench")
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
		input := digest
		if alg == hsm.RSA2048 {
			mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
			input = append(append([]byte(nil), hsm.DigestInfoPrefix(crypto.SHA256)...), digest...)
		}
		for _, n := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/sessions=%d", alg, n), func(b *testing.B) {
				sessions := make([]pkcs11.SessionHandle, n)
				for i := range sessions {
					s, err := raw.OpenSession()
					if err != nil {
						b.Fatal(err)
					}
					defer raw.Ctx.CloseSession(s)
					sessions[i] = s
				}
				// A session object is usable from every session.
				obj, err := raw.Unwrap(sessions[0], k)
				if err != nil {
					b.Fatal(err)
				}
				defer raw.Ctx.DestroyObject(sessions[0], obj)
				runParallel(b, n, func(g, _ int) error {
					if err := raw.Ctx.SignInit(sessions[g], mech, obj); err != nil {
						return err
					}
					_, err := raw.Ctx.Sign(sessions[g], input)
					return err
				})
			})
		}
	}
}

func BenchmarkSigner(b *testing.B) {
	h := hsmtest.HSM(b) // PoolSize 2
	for _, alg := range benchAlgs {
		k := fixture(b, alg)
		s := h.Signer(k)
		digest := digestOf(crypto.SHA256, "bench")
		if _, err := s.Sign(nil, digest, crypto.SHA256); err != nil { // warm the cache
			b.Fatal(err)
		}
		for _, n := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/sessions=%d", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				runParallel(b, n, func(_, _ int) error {
					_, err := s.Sign(nil, digest, crypto.SHA256)
					return err
				})
			})
		}
	}
}
