package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// runner holds every cell and runs their slices interleaved.
type runner struct {
	client *client
	slice  time.Duration
	sets   []*algSet
}

// algSet is the cells of one key algorithm.
type algSet struct {
	a    *algo
	raw  []*rawCell  // 1 and 2 sessions
	http []*httpCell // per hashes per call, per concurrency
}

func (s *algSet) rawRate(sessions int) float64 {
	for _, c := range s.raw {
		if c.sessions == sessions {
			return c.rate()
		}
	}
	return 0
}

const (
	warmupTime = 300 * time.Millisecond
	// sadMargin multiplies the expected signatures of a slice when SADs are
	// pre-issued: running out inside the timed part costs an authorize call.
	sadMargin = 2.0
	// sadHorizon is how long a pre-issued SAD must stay valid beyond the
	// slice it is issued for.
	sadHorizon = 30 * time.Second
	// maxSADsPerTopUp bounds what one worker asks for before one slice.
	maxSADsPerTopUp = 200
)

// setup builds the cells, measures a first raw rate and warms the HTTP path
// (connections, the server's key cache) with every algorithm. A warm-up
// that fails is a setup error: nothing would work.
func (r *runner) setup(ctx context.Context, algs []*algo, o *options) error {
	maxConc, maxHashes := slices.Max(o.concurrency), slices.Max(o.hashes)
	for _, a := range algs {
		set := &algSet{a: a}
		for s := 1; s <= rawSessions; s++ {
			set.raw = append(set.raw, newRawCell(a, s))
		}
		for _, h := range o.hashes {
			for _, n := range o.concurrency {
				set.http = append(set.http, newHTTPCell(a, h, n))
			}
		}
		r.sets = append(r.sets, set)

		calib := newRawCell(a, 1)
		calib.run(ctx, min(r.slice, 200*time.Millisecond))
		if calib.errs > 0 {
			return fmt.Errorf("%s raw signatures: %s", a.alg, calib.firstErr)
		}
		a.rawEstimate = calib.rate()

		warm := newHTTPCell(a, maxHashes, maxConc)
		warm.noRefill = true
		if err := warm.topUp(ctx, r.client, 1); err != nil {
			return fmt.Errorf("%s warm-up: %w", a.alg, err)
		}
		warm.runSlice(ctx, r.client, warmupTime)
		if warm.errs > 0 {
			return fmt.Errorf("%s warm-up: %s", a.alg, warm.firstError())
		}
		if warm.sigs == 0 {
			return fmt.Errorf("%s warm-up: no signature in %s", a.alg, warmupTime)
		}
		if !warm.ranOut {
			a.httpEstimate = warm.rate()
		}
	}
	return ctx.Err()
}

// run runs slices rounds; each round runs every cell once for one slice.
func (r *runner) run(ctx context.Context, rounds int) error {
	for i := 0; i < rounds; i++ {
		for _, set := range r.sets {
			for _, c := range set.raw {
				c.run(ctx, r.slice)
			}
			for _, c := range set.http {
				if err := c.topUp(ctx, r.client, c.expectedSignatures(r.slice)); err != nil {
					c.record(err)
				}
				c.runSlice(ctx, r.client, r.slice)
			}
			if ctx.Err() != nil {
				return errors.New("interrupted")
			}
		}
	}
	return nil
}

// rawCell signs with the bench credential's key straight on the HSM.
type rawCell struct {
	a        *algo
	sessions int
	digests  [][]byte
	sigs     int64
	spent    time.Duration
	errs     int64
	firstErr string
}

func newRawCell(a *algo, sessions int) *rawCell {
	c := &rawCell{a: a, sessions: sessions, digests: make([][]byte, 256)}
	for i := range c.digests {
		c.digests[i] = randomDigest()
	}
	return c
}

// run signs from c.sessions goroutines for d; the first signature of each
// goroutine is verified.
func (c *rawCell) run(ctx context.Context, d time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < c.sessions; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var n int64
			var err error
			for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				dg := c.digests[i%len(c.digests)]
				var sig []byte
				if sig, err = c.a.raw.Sign(nil, dg, crypto.SHA256); err != nil {
					break
				}
				if i == w {
					if err = c.a.verify(dg, sig); err != nil {
						break
					}
				}
				n++
			}
			mu.Lock()
			c.sigs += n
			if err != nil {
				c.errs++
				if c.firstErr == "" {
					c.firstErr = err.Error()
				}
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	c.spent += time.Since(start)
}

func (c *rawCell) rate() float64 {
	if c.spent <= 0 {
		return 0
	}
	return float64(c.sigs) / c.spent.Seconds()
}

// httpCell calls signatures/signHash with hashes digests per call from conc
// workers, each with its own SADs.
type httpCell struct {
	a       *algo
	hashes  int
	conc    int
	workers []*worker

	sigs, calls, errs int64
	refills           int64 // SADs a worker had to get inside the timed part
	verified          int64
	spent             time.Duration
	lat               []time.Duration
	errSamples        map[string]int

	noRefill bool // warm-up: a worker out of SADs stops
	ranOut   bool // some worker stopped for lack of SADs
}

// worker is one HTTP client loop and the SADs it holds; sads[0] is in use.
type worker struct {
	sads []*sad
}

func newHTTPCell(a *algo, hashes, conc int) *httpCell {
	c := &httpCell{a: a, hashes: hashes, conc: conc, errSamples: map[string]int{}}
	for range conc {
		c.workers = append(c.workers, &worker{})
	}
	return c
}

func (c *httpCell) rate() float64 {
	if c.spent <= 0 {
		return 0
	}
	return float64(c.sigs) / c.spent.Seconds()
}

// expectedSignatures is a generous estimate of the signatures one slice of
// d will produce: from this cell's own rate once measured, else from the
// warm-up at the highest concurrency, else from the raw rate.
func (c *httpCell) expectedSignatures(d time.Duration) int {
	rate := c.rate()
	switch {
	case rate > 0:
	case c.a.httpEstimate > 0:
		rate = c.a.httpEstimate
	default:
		rate = c.a.rawEstimate * float64(c.conc)
	}
	return int(math.Ceil(rate * d.Seconds() * sadMargin))
}

// perSAD is how many signatures one SAD gives at c.hashes per call.
func (c *httpCell) perSAD() int { return maxSADSignatures / c.hashes * c.hashes }

// topUp makes every worker hold SADs for its share of total signatures,
// valid well beyond the coming slice, authorizing in parallel before the
// clock starts.
func (c *httpCell) topUp(ctx context.Context, cl *client, total int) error {
	share := (total + c.conc - 1) / c.conc
	horizon := time.Now().Add(sadHorizon)
	errs := make([]error, len(c.workers))
	var wg sync.WaitGroup
	for i, w := range c.workers {
		w.sads = slices.DeleteFunc(w.sads, func(s *sad) bool { return s.left < c.hashes || s.expires.Before(horizon) })
		have := 0
		for _, s := range w.sads {
			have += s.left / c.hashes * c.hashes
		}
		n := 0
		if have < share {
			n = min((share-have+c.perSAD()-1)/c.perSAD(), maxSADsPerTopUp)
		}
		if len(w.sads) == 0 {
			n = max(n, 1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				s, err := cl.authorize(ctx, c.a.cred.ID, c.a.pin)
				if err != nil {
					errs[i] = err
					return
				}
				w.sads = append(w.sads, s)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sliceResult is what one worker did in one slice.
type sliceResult struct {
	sigs, calls, refills, verified int64
	lat                            []time.Duration
	errs                           []error
	ranOut                         bool
}

// runSlice runs every worker for d and adds up the results.
func (c *httpCell) runSlice(ctx context.Context, cl *client, d time.Duration) {
	results := make([]sliceResult, len(c.workers))
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, w := range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work(ctx, cl, w, deadline, &results[i])
		}()
	}
	wg.Wait()
	c.spent += time.Since(start)
	for _, r := range results {
		c.sigs += r.sigs
		c.calls += r.calls
		c.refills += r.refills
		c.verified += r.verified
		c.lat = append(c.lat, r.lat...)
		c.ranOut = c.ranOut || r.ranOut
		for _, err := range r.errs {
			c.record(err)
		}
	}
}

func (c *httpCell) record(err error) {
	if err == nil {
		return
	}
	c.errs++
	c.errSamples[err.Error()]++
}

func (c *httpCell) firstError() string {
	for msg := range c.errSamples {
		return msg
	}
	return ""
}

// work is one worker's loop until deadline. The first successful answer is
// verified in full.
func (c *httpCell) work(ctx context.Context, cl *client, w *worker, deadline time.Time, r *sliceResult) {
	verify := true
	digests := make([][]byte, c.hashes)
	r.lat = make([]time.Duration, 0, 256)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for len(w.sads) > 0 && w.sads[0].left < c.hashes {
			w.sads = w.sads[1:]
		}
		if len(w.sads) == 0 {
			if c.noRefill {
				r.ranOut = true
				return
			}
			s, err := cl.authorize(ctx, c.a.cred.ID, c.a.pin)
			r.refills++
			if err != nil {
				if ctx.Err() == nil {
					r.errs = append(r.errs, err)
				}
				return
			}
			w.sads = append(w.sads, s)
		}
		s := w.sads[0]
		for i := range digests {
			digests[i] = randomDigest()
		}
		t0 := time.Now()
		sigs, err := cl.signHash(ctx, c.a, s.token, digests)
		r.lat = append(r.lat, time.Since(t0))
		r.calls++
		if err != nil {
			if ctx.Err() != nil {
				return // interrupted: not the server's error
			}
			// The SAD may or may not be spent: never reuse it.
			s.left = 0
			r.errs = append(r.errs, fmt.Errorf("signatures/signHash: %w", err))
			continue
		}
		s.left -= c.hashes
		if verify {
			verify = false
			bad := false
			for i := range sigs {
				if err := c.a.verify(digests[i], sigs[i]); err != nil {
					r.errs = append(r.errs, fmt.Errorf("signatures/signHash: signature %d does not verify with the certificate: %w", i, err))
					bad = true
					break
				}
			}
			r.verified += int64(len(sigs))
			if bad {
				continue
			}
		}
		r.sigs += int64(len(sigs))
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
