package sam

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	// A session inside a long C call (an RSA signature) holds a Go P for the
	// whole call, so the runtime needs a P per HSM session on top of one per
	// core, or the other requests' database work waits for a P while cores
	// idle. The server sets GOMAXPROCS the same way (see package hsm).
	procs := runtime.NumCPU() + 2 /* hsmtest pool */ + 1 /* MAC session */
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	fmt.Printf("GOMAXPROCS=%d on %d CPUs, HSM pool of 2 sessions + 1 MAC session\n", procs, runtime.NumCPU())
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
				// Raw and SAM cells run interleaved in short slices, so that a
				// change in machine load during the run affects both alike.
				raw := &cell{op: func(int) (int, error) {
					_, err := signer.Sign(nil, d, crypto.SHA256)
					return 1, err
				}}
				cells := []*cell{raw}
				var perSADs []int
				for _, perSAD := range []int{10, 1} {
					if benchWants("CSC_BENCH_HASHES", fmt.Sprint(perSAD)) {
						perSADs = append(perSADs, perSAD)
						cells = append(cells, s.samCell(b, cred, signAlgo, perSAD, expectedRate(alg, workers)*dur.Seconds()*1.5))
					}
				}
				// With two sessions the SAM cells also run with four concurrent
				// requests: a loaded server has more requests in flight than
				// HSM sessions, so one request's database work overlaps
				// another's signature. The pool still has two sessions.
				var loaded []*cell
				if workers == 2 {
					for _, perSAD := range perSADs {
						loaded = append(loaded, s.samCell(b, cred, signAlgo, perSAD, expectedRate(alg, workers)*dur.Seconds()*1.5))
					}
				}
				const slices = 6
				for i := 0; i < slices; i++ {
					for _, c := range cells {
						c.run(dur/slices, workers)
					}
					for _, c := range loaded {
						c.run(dur/slices, 2*workers)
					}
				}
				rawRate := raw.rate()
				rows = append(rows, fmt.Sprintf("%-8s %-8s sessions=%d  raw PKCS#11                               %8.0f sig/s              (%.1f cores busy)", driver, alg, workers, rawRate, raw.cores()))
				b.ReportMetric(rawRate, fmt.Sprintf("raw-%s-s%d-sig/s", alg, workers))
				for i, perSAD := range perSADs {
					rate := cells[i+1].rate()
					ratio := rate / rawRate
					rows = append(rows, fmt.Sprintf("%-8s %-8s sessions=%d  SAM, %2d hash(es)/SAD, %d request(s) in flight %8.0f sig/s  ratio %.2f (%.1f cores busy)", driver, alg, workers, perSAD, workers, rate, ratio, cells[i+1].cores()))
					b.ReportMetric(ratio, fmt.Sprintf("ratio-%s-%s-s%d-h%d", driver, alg, workers, perSAD))
				}
				for i, perSAD := range perSADs {
					if i >= len(loaded) {
						break
					}
					rate := loaded[i].rate()
					ratio := rate / rawRate
					rows = append(rows, fmt.Sprintf("%-8s %-8s sessions=%d  SAM, %2d hash(es)/SAD, %d request(s) in flight %8.0f sig/s  ratio %.2f (%.1f cores busy)", driver, alg, workers, perSAD, 2*workers, rate, ratio, loaded[i].cores()))
					b.ReportMetric(ratio, fmt.Sprintf("ratio-%s-%s-s%d-r%d-h%d", driver, alg, workers, 2*workers, perSAD))
				}
			}
		}
		fmt.Println(strings.Join(rows, "\n"))
	}
}

// expectedRate is a generous upper bound of signatures per second, used to
// pre-issue enough SADs.
func expectedRate(alg hsm.KeyAlgorithm, workers int) float64 {
	if alg == hsm.ECP256 {
		return 6000 * float64(workers)
	}
	return 1500 * float64(workers)
}

// cell accumulates signatures, wall time and process CPU time over the
// slices it runs.
type cell struct {
	op    func(worker int) (int, error)
	sigs  float64
	spent time.Duration
	cpu   time.Duration
}

func (c *cell) run(d time.Duration, workers int) {
	cpu0 := processCPU()
	start := time.Now()
	n := measure(d, workers, c.op)
	elapsed := time.Since(start)
	c.cpu += processCPU() - cpu0
	c.sigs += n * elapsed.Seconds()
	c.spent += elapsed
}

func (c *cell) rate() float64 { return c.sigs / c.spent.Seconds() }

// cores is the average number of CPUs the process kept busy in this cell.
func (c *cell) cores() float64 { return c.cpu.Seconds() / c.spent.Seconds() }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// samCell pre-issues about budget signatures' worth of SADs with perSAD
// hashes each and returns a cell that redeems them through SignHash.
func (s *SAM) samCell(b *testing.B, cred *store.Credential, signAlgo string, perSAD int, budget float64) *cell {
	ctx := context.Background()
	// At most 20000 SADs: a cell that runs out stops early and its rate
	// is still right (signatures over the time it ran).
	n := min(int(budget)/perSAD+4, 20000)
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
	return &cell{op: func(int) (int, error) {
		i := next.Add(1) - 1
		if int(i) >= len(jobs) {
			return 0, errExhausted
		}
		sigs, err := s.SignHash(ctx, SignRequest{CredentialID: cred.ID, SignerID: "bench", ClientID: "bench-client",
			SAD: jobs[i].token, SignAlgorithm: signAlgo, Hashes: jobs[i].hashes})
		return len(sigs), err
	}}
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

func benchWants(env, v string) bool {
	want := os.Getenv(env)
	return want == "" || want == v
}
