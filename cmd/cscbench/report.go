package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openrssp/rssp/hsm"
)

// Targets, measured at targetConcurrency against the raw 2-session rate of
// targetAlg.
const (
	targetAlg         = hsm.RSA2048
	targetConcurrency = 4
	targetRatio1      = 0.6 // 1 hash per call
	targetRatio10     = 0.8 // 10 hashes per call
	targetP99         = 50 * time.Millisecond
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// report prints the raw rates, the HTTP table, error samples and targets.
func report(out io.Writer, r *runner, o *options) {
	fmt.Fprintln(out, "raw PKCS#11, same token (warm unwrapped key, one C_SignInit+C_Sign per signature; no database, no HTTP)")
	fmt.Fprintf(out, "  %-9s %8s %10s %7s\n", "alg", "sessions", "sig/s", "errors")
	for _, set := range r.sets {
		for _, c := range set.raw {
			fmt.Fprintf(out, "  %-9s %8d %10.0f %7d\n", set.a.alg, c.sessions, c.rate(), c.errs)
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "HTTP signatures/signHash (ratio/raw2: to the raw 2-session rate; ratio/raw1: to the raw 1-session rate, concurrency 1)")
	fmt.Fprintf(out, "  %-9s %4s %11s %10s %8s %10s %10s %8s %8s %7s\n",
		"alg", "conc", "hashes/call", "sig/s", "calls/s", "ratio/raw2", "ratio/raw1", "p50 ms", "p99 ms", "errors")
	var notes []string
	for _, set := range r.sets {
		raw1, raw2 := set.rawRate(1), set.rawRate(2)
		for _, c := range set.http {
			sort.Slice(c.lat, func(i, j int) bool { return c.lat[i] < c.lat[j] })
			ratio1 := "-"
			if c.conc == 1 {
				ratio1 = fmt.Sprintf("%.2f", safeDiv(c.rate(), raw1))
			}
			calls := 0.0
			if c.spent > 0 {
				calls = float64(c.calls) / c.spent.Seconds()
			}
			fmt.Fprintf(out, "  %-9s %4d %11d %10.0f %8.0f %10.2f %10s %8s %8s %7d\n",
				set.a.alg, c.conc, c.hashes, c.rate(), calls, safeDiv(c.rate(), raw2), ratio1,
				ms(percentile(c.lat, 50)), ms(percentile(c.lat, 99)), c.errs)
			cell := fmt.Sprintf("%s concurrency %d, %d hash(es)/call", set.a.alg, c.conc, c.hashes)
			msgs := make([]string, 0, len(c.errSamples))
			for m := range c.errSamples {
				msgs = append(msgs, m)
			}
			slices.Sort(msgs)
			for _, m := range msgs {
				notes = append(notes, fmt.Sprintf("  error    %s: %d x %s", cell, c.errSamples[m], m))
			}
			if c.refills > 0 {
				notes = append(notes, fmt.Sprintf("  note     %s: %d SAD(s) authorized inside the timed part (estimate too low)", cell, c.refills))
			}
		}
	}
	var verified int64
	for _, set := range r.sets {
		for _, c := range set.http {
			verified += c.verified
		}
	}
	fmt.Fprintf(out, "  (%d returned signatures verified with the standard library against the credential certificates)\n", verified)
	if len(notes) > 0 {
		fmt.Fprintln(out, strings.Join(notes, "\n"))
	}
	fmt.Fprintln(out)
	printTargets(out, r)
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// printTargets prints each target with its measured value and PASS, MISS or
// n/a when the run did not measure it.
func printTargets(out io.Writer, r *runner) {
	fmt.Fprintf(out, "targets (concurrency %d; ratios against the raw 2-session %s rate)\n", targetConcurrency, targetAlg)
	line := func(name, value string, ok, measured bool) {
		verdict := "n/a (not measured)"
		switch {
		case measured && ok:
			verdict = "PASS"
		case measured:
			verdict = "MISS"
		}
		fmt.Fprintf(out, "  %-44s %-12s %s\n", name, value, verdict)
	}
	var set *algSet
	for _, s := range r.sets {
		if s.a.alg == targetAlg {
			set = s
		}
	}
	for _, t := range []struct {
		hashes int
		min    float64
	}{{1, targetRatio1}, {10, targetRatio10}} {
		name := fmt.Sprintf("ratio, %d hash(es)/call, %s >= %.1f", t.hashes, targetAlg, t.min)
		var c *httpCell
		if set != nil {
			for _, hc := range set.http {
				if hc.conc == targetConcurrency && hc.hashes == t.hashes {
					c = hc
				}
			}
		}
		if c == nil {
			line(name, "-", false, false)
			continue
		}
		ratio := safeDiv(c.rate(), set.rawRate(2))
		line(name, fmt.Sprintf("%.2f", ratio), ratio >= t.min, true)
	}
	var errs int64
	var worst time.Duration
	measured := false
	for _, s := range r.sets {
		for _, c := range s.raw {
			errs += c.errs
		}
		for _, c := range s.http {
			errs += c.errs
			if c.conc == targetConcurrency {
				measured = true
				worst = max(worst, percentile(c.lat, 99))
			}
		}
	}
	line("zero errors (all cells)", fmt.Sprint(errs), errs == 0, true)
	p99 := "-"
	if measured {
		p99 = ms(worst) + " ms"
	}
	line(fmt.Sprintf("p99 < %s (worst concurrency-%d cell)", targetP99, targetConcurrency), p99, worst < targetP99, measured)
}
