package conformance

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TOTP parameters of our servers: RFC 6238 with HMAC-SHA-1, 6 digits and a
// 30 s step; the server accepts the steps now-1..now+1, each at most once per
// signer.
const (
	totpPeriod = 30 // seconds
	totpDigits = 6
	totpSkew   = 1
	// totpMargin is how far the suite's idea of now may be from the
	// server's (clock offset plus request latency). A step is used only if
	// it is inside the server's window for every instant within the margin.
	totpMargin = 3 * time.Second
)

// decodeTOTPSecret decodes a base32 seed: case-insensitive, padding and
// spaces optional.
func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	s = strings.TrimRight(s, "=")
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty secret")
	}
	return b, nil
}

// hotp is RFC 4226 with HMAC-SHA-1 and the given number of digits (≤ 9).
func hotp(secret []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - totpPeriod + 1) / totpPeriod
	}
	return u / totpPeriod
}

// otpSource hands out TOTP codes for time steps the server has not seen
// yet. It remembers the last step it handed out; a new code always uses a
// later step, and the earliest such step that the server accepts at the
// moment, so up to three authorizations need no wait at all (steps now-1,
// now and now+1). When no unused step is inside the window it moves the
// server's clock (Advance) or sleeps until one is.
type otpSource struct {
	mu      sync.Mutex
	secret  []byte
	last    int64 // last step handed out; minInt64 when none
	now     func() time.Time
	advance func(time.Duration)
	maxWait time.Duration
	file    string
	sleep   func(time.Duration) // time.Sleep; replaced in tests
}

const noStep = -1 << 63

// otpSources shares one otpSource per account and server between Run calls
// in the same process, since the server remembers used steps across them.
var otpSources sync.Map // key string -> *otpSource

func otpFor(base, user string, secret []byte) *otpSource {
	v, _ := otpSources.LoadOrStore(base+"\x00"+user, &otpSource{secret: secret, last: noStep, sleep: time.Sleep})
	o := v.(*otpSource)
	o.mu.Lock()
	o.secret = secret
	o.mu.Unlock()
	return o
}

func (o *otpSource) configure(now func() time.Time, advance func(time.Duration), maxWait time.Duration, file string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.now, o.advance, o.maxWait, o.file = now, advance, maxWait, file
	if file == "" {
		return
	}
	if b, err := os.ReadFile(file); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > o.last {
			o.last = n
		}
	}
}

// window is the range of steps the server accepts at every instant within
// totpMargin of now.
func window(now time.Time) (lo, hi int64) {
	return totpStep(now.Add(totpMargin)) - totpSkew, totpStep(now.Add(-totpMargin)) + totpSkew
}

// errNoStep says that a fresh step would need a longer wait than allowed.
type errNoStep struct{ wait, max time.Duration }

func (e errNoStep) Error() string {
	return fmt.Sprintf("the next unused TOTP time step is %v away, more than MaxWait (%v); set Target.Advance, or a larger MaxWait",
		e.wait.Round(time.Second), e.max)
}

// fresh returns the code of the earliest unused step that the server
// accepts now, and records the step as used. It fails with errNoStep when
// that needs a real-time wait longer than maxWait.
func (o *otpSource) fresh(logf func(string, ...any)) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for advances := 0; ; {
		now := o.now()
		lo, hi := window(now)
		s := max(o.last+1, lo)
		if s <= hi {
			o.last = s
			if o.file != "" {
				_ = os.WriteFile(o.file, []byte(strconv.FormatInt(s, 10)+"\n"), 0o600)
			}
			return hotp(o.secret, s, totpDigits), nil
		}
		// s > hi: step s becomes usable once now-margin reaches step s-1.
		wait := time.Unix((s-totpSkew)*totpPeriod, 0).Add(totpMargin).Sub(now)
		if o.advance != nil {
			if advances++; advances > 4 {
				return "", errors.New("Target.Now does not move when Target.Advance is called")
			}
			o.advance(totpPeriod * time.Second)
			continue
		}
		if wait > o.maxWait {
			return "", errNoStep{wait: wait, max: o.maxWait}
		}
		if logf != nil {
			logf("waiting %v for an unused TOTP time step", wait.Round(time.Second))
		}
		o.sleep(wait)
	}
}

// alwaysFresh reports whether fresh can never fail for lack of time.
func (o *otpSource) alwaysFresh() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.advance != nil || o.maxWait >= 2*totpPeriod*time.Second+totpMargin
}

// wrong returns a well-formed code that the server rejects now: it matches
// no step near now.
func (o *otpSource) wrong() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := totpStep(o.now())
	near := map[string]bool{}
	for s := now - 4; s <= now+4; s++ {
		near[hotp(o.secret, s, totpDigits)] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", (i*142857+13)%1000000)
		if !near[c] {
			return c
		}
	}
}
