package hsm

import (
	"context"
	"crypto"

	"github.com/miekg/pkcs11"
)

// Test hooks. They live in an _test.go file so they are compiled only into
// this package's test binary.

// BreakWorkerSessions closes every pooled worker session behind the pool's
// back, as a token reset or a dropped connection would, and returns how many
// it closed.
func (h *HSM) BreakWorkerSessions() int {
	got := make([]pkcs11.SessionHandle, 0, h.poolSize)
	for range h.poolSize {
		got = append(got, <-h.pool)
	}
	n := 0
	for _, s := range got {
		if s != 0 {
			_ = h.ctx.CloseSession(s)
			n++
		}
		h.pool <- s
	}
	return n
}

// BreakOwnerSession closes the owner session behind the cache's back; every
// cached key object dies with it.
func (h *HSM) BreakOwnerSession() {
	h.ownerMu.Lock()
	defer h.ownerMu.Unlock()
	if h.owner != 0 {
		_ = h.ctx.CloseSession(h.owner)
	}
}

// LogoutBehindPool logs the application out of the token.
func (h *HSM) LogoutBehindPool() error {
	h.ownerMu.Lock()
	defer h.ownerMu.Unlock()
	return h.ctx.Logout(h.owner)
}

// CacheLen returns the number of cached key entries.
func (h *HSM) CacheLen() int {
	if h.cache == nil {
		return 0
	}
	return h.cache.len()
}

// Unwraps returns how many signer-key unwraps this HSM has done.
func (h *HSM) Unwraps() int64 { return h.unwraps.Load() }

// WrapKeyAttrs reads the master wrap key's protection attributes.
func (h *HSM) WrapKeyAttrs(ctx context.Context) (sensitive, extractable, trusted, token bool, err error) {
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		o, err := h.masterKeyIn(s, false)
		if err != nil {
			return err
		}
		a, err := h.keyAttributesIn(s, o)
		sensitive, extractable, trusted, token = a.Sensitive, a.Extractable, a.Trusted, a.Token
		return err
	})
	return
}

// Raw gives benchmarks direct access to the module for a baseline.
type Raw struct {
	Ctx *pkcs11.Ctx
	h   *HSM
}

func (h *HSM) Raw() Raw { return Raw{Ctx: h.ctx, h: h} }

// OpenSession opens an extra logged-in session outside the pool.
func (r Raw) OpenSession() (pkcs11.SessionHandle, error) { return r.h.openSession() }

// Unwrap unwraps k into session s (the object dies with s).
func (r Raw) Unwrap(s pkcs11.SessionHandle, k Key) (pkcs11.ObjectHandle, error) {
	sg := r.h.Signer(k).(*signer)
	if sg.err != nil {
		return 0, sg.err
	}
	return r.h.unwrapSigner(s, &sg.key, sg.info)
}

// DigestInfoPrefix exposes the PKCS#1 v1.5 DigestInfo prefix for the raw baseline.
func DigestInfoPrefix(h crypto.Hash) []byte {
	p, _ := hashInfo(h)
	return p.prefix
}
