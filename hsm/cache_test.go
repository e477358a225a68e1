package hsm_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
)

// Signing never creates token objects, and the cache bounds the number of
// session objects even when more keys are in use than it holds.
func TestNoTokenGrowth(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	const cacheSize = 16 // hsmtest's KeyCacheSize
	keys := []hsm.Key{fixture(t, hsm.RSA2048), fixture(t, hsm.ECP384)}
	for i := range 20 {
		keys = append(keys, newKey(t, h, hsm.ECP256, fmt.Sprintf("growth-%d", i)))
	}
	h.FlushKeyCache()
	tokBefore, sessBefore, err := h.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		k := keys[rng.IntN(len(keys))]
		hash := crypto.SHA256
		if k.Algorithm == hsm.ECP384 {
			hash = crypto.SHA384
		}
		d := digestOf(hash, fmt.Sprint(i))
		sig, err := h.Signer(k).Sign(nil, d, hash)
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		if err := verify(k.Public, d, sig, hash); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		if i%100 == 99 {
			_, sess, err := h.ObjectCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sess-sessBefore > cacheSize {
				t.Fatalf("after %d signatures: %d session objects, cache size %d", i+1, sess-sessBefore, cacheSize)
			}
		}
	}
	tokAfter, sessAfter, err := h.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tokAfter != tokBefore {
		t.Fatalf("token objects %d -> %d after 1000 signatures", tokBefore, tokAfter)
	}
	if sessAfter-sessBefore > cacheSize || h.CacheLen() > cacheSize {
		t.Fatalf("%d session objects, %d cache entries; cache size %d", sessAfter-sessBefore, h.CacheLen(), cacheSize)
	}
	h.FlushKeyCache()
	if _, sess, _ := h.ObjectCounts(ctx); sess != sessBefore {
		t.Fatalf("after FlushKeyCache: %d session objects, want baseline %d", sess, sessBefore)
	}
	t.Logf("1000 signatures over %d keys: %d unwraps in this process so far", len(keys), h.Unwraps())
}

func TestForget(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	k := fixture(t, hsm.ECP256)
	h.FlushKeyCache()
	_, base, _ := h.ObjectCounts(ctx)
	d := digestOf(crypto.SHA256, "forget")
	if _, err := h.Signer(k).Sign(nil, d, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := h.ObjectCounts(ctx); n != base+1 {
		t.Fatalf("session objects %d, want %d", n, base+1)
	}
	h.Forget("no-such-key")
	if h.CacheLen() != 1 {
		t.Fatalf("Forget of another ID evicted: %d entries", h.CacheLen())
	}
	h.Forget(k.ID)
	if _, n, _ := h.ObjectCounts(ctx); n != base || h.CacheLen() != 0 {
		t.Fatalf("after Forget: %d session objects (base %d), %d entries", n, base, h.CacheLen())
	}
	// A changed blob for the same ID gets its own entry.
	k2 := newKey(t, h, hsm.ECP256, k.ID)
	for _, kk := range []hsm.Key{k, k2} {
		sig, err := h.Signer(kk).Sign(nil, d, crypto.SHA256)
		if err != nil || verify(kk.Public, d, sig, crypto.SHA256) != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	if h.CacheLen() != 2 {
		t.Fatalf("same ID, two blobs: %d entries, want 2", h.CacheLen())
	}
	h.Forget(k.ID)
	if h.CacheLen() != 0 {
		t.Fatalf("Forget left %d entries", h.CacheLen())
	}
}

// 8 goroutines x 50 signatures over 3 keys with room for 2 in the cache:
// constant eviction while keys are in use.
func TestConcurrentSigning(t *testing.T) {
	h := openExtra(t, func(c *hsm.Config) { c.KeyCacheSize = 2; c.PoolSize = 2 })
	keys := []hsm.Key{fixture(t, hsm.RSA2048), fixture(t, hsm.ECP256), fixture(t, hsm.ECP384)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := keys[(g+i)%len(keys)]
				hash := crypto.SHA256
				d := digestOf(hash, fmt.Sprint(g, i))
				sig, err := h.Signer(k).Sign(nil, d, hash)
				if err == nil {
					err = verify(k.Public, d, sig, hash)
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d sign %d (%s): %w", g, i, k.Algorithm, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.CacheLen(); n > 2 {
		t.Fatalf("%d cache entries, size 2", n)
	}
	t.Logf("400 signatures, %d unwraps", h.Unwraps())
}

// Concurrent first use of one key unwraps it once.
func TestSingleUnwrap(t *testing.T) {
	h := openExtra(t, func(c *hsm.Config) { c.PoolSize = 2 })
	k := fixture(t, hsm.RSA2048)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			<-start
			d := digestOf(crypto.SHA256, fmt.Sprint(g))
			sig, err := h.Signer(k).Sign(nil, d, crypto.SHA256)
			if err == nil {
				err = verify(k.Public, d, sig, crypto.SHA256)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.Unwraps(); n != 1 {
		t.Fatalf("%d unwraps for 8 concurrent first uses, want 1", n)
	}
}

// Sessions broken behind the pool's back are replaced; cached keys survive
// a broken worker session, and are unwrapped again when the owner session
// (which holds them) dies.
func TestSessionReplacement(t *testing.T) {
	h := openExtra(t, func(c *hsm.Config) { c.PoolSize = 2; c.KeyCacheSize = 4 })
	ctx := context.Background()
	k := fixture(t, hsm.ECP256)
	r := fixture(t, hsm.RSA2048)
	sign := func(t *testing.T) {
		t.Helper()
		for _, kk := range []hsm.Key{k, r} {
			d := digestOf(crypto.SHA256, t.Name())
			sig, err := h.Signer(kk).Sign(nil, d, crypto.SHA256)
			if err != nil {
				t.Fatalf("sign after break: %v", err)
			}
			if err := verify(kk.Public, d, sig, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.MAC(ctx, []byte("x")); err != nil {
			t.Fatalf("MAC after break: %v", err)
		}
	}
	sign(t) // warm the cache
	for _, tc := range []struct {
		name        string
		brk         func(t *testing.T)
		wantUnwraps int64 // extra unwraps caused by the break
	}{
		{"worker sessions", func(t *testing.T) {
			if n := h.BreakWorkerSessions(); n == 0 {
				t.Fatal("no pooled session to break")
			}
		}, 0},
		{"owner session", func(*testing.T) { h.BreakOwnerSession() }, 2},
		{"all sessions", func(*testing.T) { h.BreakWorkerSessions(); h.BreakOwnerSession() }, 2},
		{"logout", func(t *testing.T) {
			if err := h.LogoutBehindPool(); err != nil {
				t.Fatal(err)
			}
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Unwraps()
			tc.brk(t)
			sign(t)
			sign(t)
			if got := h.Unwraps() - before; tc.wantUnwraps >= 0 && got != tc.wantUnwraps {
				t.Fatalf("%d unwraps after the break, want %d", got, tc.wantUnwraps)
			}
		})
	}
}

func TestCheckoutRespectsContext(t *testing.T) {
	h := openExtra(t, func(c *hsm.Config) { c.PoolSize = 1 })
	k := fixture(t, hsm.ECP256)
	s := h.Signer(k).(hsm.ContextSigner)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SignContext(ctx, digestOf(crypto.SHA256, "x"), crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: err = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s.SignContext(ctx, digestOf(crypto.SHA256, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	hsmtest.HSM(t)
	cfg := hsmtest.Config(t)
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := fixture(t, hsm.ECP256)
	if _, err := h.Signer(k).Sign(nil, digestOf(crypto.SHA256, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shared := hsmtest.HSM(t)
	_, before, _ := shared.ObjectCounts(ctx)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, after, _ := shared.ObjectCounts(ctx); after != before-1 {
		t.Fatalf("session objects %d -> %d: Close must destroy cached keys", before, after)
	}
	if _, err := h.Signer(k).Sign(nil, digestOf(crypto.SHA256, "x"), crypto.SHA256); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Sign after Close: %v", err)
	}
	if _, err := h.MAC(ctx, nil); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("MAC after Close: %v", err)
	}
	// The shared HSM is unaffected (the module stays initialised).
	if _, err := shared.MAC(ctx, []byte("still open")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	hsmtest.HSM(t)
	for _, tc := range []struct {
		name string
		mod  func(*hsm.Config)
		want error
	}{
		{"unknown token", func(c *hsm.Config) { c.TokenLabel = "no-such-token"; c.CreateToken = false }, hsm.ErrTokenNotFound},
		{"no module", func(c *hsm.Config) { c.ModulePath = "/nonexistent/libnothing.so" }, nil},
		{"no PIN", func(c *hsm.Config) { c.PIN = "" }, nil},
		{"bad wrap URI", func(c *hsm.Config) { c.WrapKey = "pkcs11:object=x;slot-id=3" }, nil},
		{"wrap URI for another token", func(c *hsm.Config) { c.WrapKey = "pkcs11:token=other;object=x" }, nil},
		{"wrap URI with PIN", func(c *hsm.Config) { c.MACKey = "pkcs11:object=x?pin-value=1234" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := hsmtest.Config(t)
			tc.mod(&cfg)
			h, err := hsm.Open(cfg)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
