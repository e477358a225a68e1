package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RFC 6238 Appendix B, the SHA-1 rows (seed "12345678901234567890", 8 digits).
func TestTOTPRFC6238Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	cases := []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, c := range cases {
		t.Run(time.Unix(c.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
			step := totpStep(time.Unix(c.unix, 0))
			if got := hotp(seed, step, 8); got != c.want {
				t.Errorf("8 digits: got %s, want %s", got, c.want)
			}
			if got := hotp(seed, step, totpDigits); got != c.want[2:] {
				t.Errorf("6 digits: got %s, want %s", got, c.want[2:])
			}
		})
	}
}

func TestDecodeTOTPSecret(t *testing.T) {
	want := "12345678901234567890"
	for _, s := range []string{
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
		"GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
	} {
		b, err := decodeTOTPSecret(s)
		if err != nil || string(b) != want {
			t.Errorf("decodeTOTPSecret(%q) = %q, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "1!", "GEZDGNBV1"} {
		if _, err := decodeTOTPSecret(s); err == nil {
			t.Errorf("decodeTOTPSecret(%q) succeeded", s)
		}
	}
}

// stepStart is the first second of a TOTP time step.
const stepStart = 1_700_000_010

// fakeClock is a settable clock; sleeping advances it.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
}

func newOTP(clock *fakeClock, advance func(time.Duration), maxWait time.Duration, file string) *otpSource {
	o := &otpSource{secret: []byte("12345678901234567890"), last: noStep, sleep: clock.Sleep}
	o.configure(clock.Now, advance, maxWait, file)
	return o
}

// checkCode checks that o just handed out code for an unused step that the
// server accepts at the clock's now (window now-1..now+1).
func checkCode(t *testing.T, o *otpSource, clock *fakeClock, code string, prev int64) int64 {
	t.Helper()
	s := o.last
	if s <= prev {
		t.Fatalf("step %d reused or went back (previous %d)", s, prev)
	}
	now := totpStep(clock.Now())
	if s < now-1 || s > now+1 {
		t.Fatalf("step %d outside the server's window around %d", s, now)
	}
	if code != hotp(o.secret, s, totpDigits) {
		t.Fatalf("code %s is not the code of step %d", code, s)
	}
	return s
}

func TestFreshStepsWithAdvance(t *testing.T) {
	clock := &fakeClock{t: time.Unix(stepStart+10, 0)} // 10 s into a step
	advances := 0
	o := newOTP(clock, func(d time.Duration) { advances++; clock.Advance(d) }, 0, "")
	prev := int64(noStep)
	for i := range 8 {
		code, err := o.fresh(t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		prev = checkCode(t, o, clock, code, prev)
		// now-1, now and now+1 are usable at once; then one step per code.
		if want := max(0, i-2); advances != want {
			t.Fatalf("after %d codes: %d advances, want %d", i+1, advances, want)
		}
	}
}

func TestFreshStepsNearABoundary(t *testing.T) {
	// 1 s after a step boundary the suite cannot be sure the server is not
	// still in the previous step, so now+1 is not used.
	clock := &fakeClock{t: time.Unix(stepStart+1, 0)}
	if clock.t.Unix()%totpPeriod != 1 {
		t.Fatalf("bad test clock %d", clock.t.Unix())
	}
	lo, hi := window(clock.Now())
	now := totpStep(clock.Now())
	if lo != now-1 || hi != now {
		t.Fatalf("window %d..%d, want %d..%d", lo, hi, now-1, now)
	}
}

func TestFreshStepsSleeping(t *testing.T) {
	clock := &fakeClock{t: time.Unix(stepStart+25, 0)}
	o := newOTP(clock, nil, DefaultMaxWait, "")
	prev := int64(noStep)
	for range 6 {
		before := clock.slept
		code, err := o.fresh(nil)
		if err != nil {
			t.Fatal(err)
		}
		prev = checkCode(t, o, clock, code, prev)
		if w := clock.slept - before; w > 2*totpPeriod*time.Second+totpMargin {
			t.Fatalf("waited %v for one step", w)
		}
	}
	if !o.alwaysFresh() {
		t.Errorf("DefaultMaxWait must always be enough for a fresh step")
	}
}

func TestFreshStepsWithoutWaiting(t *testing.T) {
	clock := &fakeClock{t: time.Unix(stepStart+15, 0)} // mid-step: three steps usable
	o := newOTP(clock, nil, 0, "")
	for i := range 3 {
		if _, err := o.fresh(nil); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
	}
	_, err := o.fresh(nil)
	var e errNoStep
	if !errors.As(err, &e) {
		t.Fatalf("fourth code: err %v, want errNoStep", err)
	}
	if clock.slept != 0 {
		t.Errorf("slept %v with MaxWait 0", clock.slept)
	}
	if o.alwaysFresh() {
		t.Errorf("alwaysFresh with MaxWait 0")
	}
}

func TestFreshStepsPersisted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "steps")
	clock := &fakeClock{t: time.Unix(stepStart+15, 0)}
	o := newOTP(clock, nil, DefaultMaxWait, file)
	if _, err := o.fresh(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("state file: %v", err)
	}
	again := newOTP(clock, nil, DefaultMaxWait, file)
	if again.last != o.last {
		t.Fatalf("a new run starts at step %d, want %d (the last one used)", again.last, o.last)
	}
	if _, err := again.fresh(nil); err != nil || again.last <= o.last {
		t.Fatalf("second run reused step %d (err %v)", again.last, err)
	}
}

func TestAdvanceWithoutNow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(stepStart+15, 0)}
	o := newOTP(clock, func(time.Duration) {}, 0, "") // the clock never moves
	for range 3 {
		if _, err := o.fresh(nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.fresh(nil); err == nil {
		t.Fatal("want an error when Advance does not move Now")
	}
}

func TestWrongOTP(t *testing.T) {
	clock := &fakeClock{t: time.Unix(stepStart+15, 0)}
	o := newOTP(clock, nil, 0, "")
	w := o.wrong()
	now := totpStep(clock.Now())
	for s := now - 2; s <= now+2; s++ {
		if hotp(o.secret, s, totpDigits) == w {
			t.Fatalf("wrong code %s is valid at step %d", w, s)
		}
	}
	if len(w) != totpDigits {
		t.Fatalf("wrong code %q is not %d digits", w, totpDigits)
	}
}
