package api

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
	"golang.org/x/time/rate"
)

// failureLimiter is a token bucket per client address that only failed
// logins drain. It is per node: a cluster bounds an address at the nodes'
// sum, which is still a bound, and the per-signer lockout in the database
// holds cluster-wide anyway.
type failureLimiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleBucket is how long an address's bucket is kept after its last failure.
const idleBucket = 10 * time.Minute

func newFailureLimiter(r float64, burst int, now func() time.Time) *failureLimiter {
	if now == nil {
		now = time.Now
	}
	return &failureLimiter{rate: rate.Limit(r), burst: burst, now: now, buckets: map[string]*bucket{}}
}

// middleware refuses a client with no failures left and charges one for
// each failed login.
func (f *failureLimiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := c.RealIP()
		if !f.allowed(ip) {
			return withStatus(http.StatusTooManyRequests, errTooManyRequests)
		}
		err := next(c)
		if errors.Is(err, sam.ErrLoginFailed) {
			f.charge(ip)
		}
		return err
	}
}

func (f *failureLimiter) allowed(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[ip]
	return !ok || b.lim.TokensAt(f.now()) >= 1
}

func (f *failureLimiter) charge(ip string) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.swept) > idleBucket {
		for k, b := range f.buckets {
			if now.Sub(b.seen) > idleBucket {
				delete(f.buckets, k)
			}
		}
		f.swept = now
	}
	b, ok := f.buckets[ip]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(f.rate, f.burst)}
		f.buckets[ip] = b
	}
	b.seen = now
	b.lim.AllowN(now, 1)
}

// middlewareHTTP applies the limiter to the signer's login page, where a
// failed login re-renders the page (200) instead of returning an error:
// the limiter then counts each POST that did not redirect.
func (f *failureLimiter) middlewareHTTP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := c.RealIP()
		if !f.allowed(ip) {
			return withStatus(http.StatusTooManyRequests, errTooManyRequests)
		}
		err := next(c)
		if c.Response().Status != http.StatusSeeOther {
			f.charge(ip)
		}
		return err
	}
}

// middlewareEvery charges every request, not only failures: for endpoints
// that anyone may call but that cost real work (the RFC 3161 endpoint).
func (f *failureLimiter) middlewareEvery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := c.RealIP()
		if !f.allowed(ip) {
			return withStatus(http.StatusTooManyRequests, errTooManyRequests)
		}
		f.charge(ip)
		return next(c)
	}
}
