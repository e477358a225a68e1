package hsm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// Config selects the PKCS#11 module, token and master keys.
type Config struct {
	ModulePath string // PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so
	TokenLabel string // token is found by label, never by slot number
	PIN        string // user PIN (the config layer resolves it from a file or env)
	PoolSize   int    // logged-in sessions kept open; 0 => runtime.GOMAXPROCS(0)
	// MACSessions are extra sessions used only for MAC (HMAC-SHA256 over
	// records), so that a 50 µs MAC never queues behind millisecond RSA
	// signatures while its caller holds a database lock; 0 => 1.
	MACSessions  int
	KeyCacheSize int    // max unwrapped signer keys kept as session objects; 0 => 64; negative => cache disabled (unwrap+destroy per use)
	WrapKey      string // RFC 7512 URI of the AES-256 master wrapping key; "" => DefaultWrapKeyURI
	MACKey       string // RFC 7512 URI of the HMAC-SHA256 record key; "" => DefaultMACKeyURI
	// CreateToken: if no token with TokenLabel exists, initialise a free slot in-process
	// (C_InitToken with SOPIN, SO login, C_InitPIN with PIN). For development and tests.
	CreateToken bool
	SOPIN       string
}

// Default master key URIs.
const (
	DefaultWrapKeyURI = "pkcs11:object=rssp-wrap;type=secret-key"
	DefaultMACKeyURI  = "pkcs11:object=rssp-mac;type=secret-key"
	defaultCacheSize  = 64
)

// HSM is a logged-in connection to one token: a pool of worker sessions, an
// owner session for cached key objects, and the LRU cache of unwrapped signer
// keys. All methods are safe for concurrent use; see the package doc.
type HSM struct {
	mod  *module
	ctx  *pkcs11.Ctx
	slot uint
	pin  string

	// pool holds worker sessions and macPool the sessions reserved for MAC;
	// 0 is a placeholder for a session that must be (re)opened at checkout,
	// so capacity never shrinks.
	pool        chan pkcs11.SessionHandle
	poolSize    int
	macPool     chan pkcs11.SessionHandle
	macPoolSize int
	done        chan struct{}
	closed      atomic.Bool

	// ownerMu guards the owner session, which creates every cached key
	// object and is never used for anything else. ownerGen increments each
	// time the owner session is replaced: objects of an older generation
	// died with their session.
	ownerMu     sync.Mutex
	owner       pkcs11.SessionHandle
	ownerGen    uint64
	ownerClosed bool

	cache   *keyCache    // nil when disabled
	unwraps atomic.Int64 // signer-key unwraps, for tests and metrics

	// Master key handles (token objects), 0 until found. masterMu
	// serialises finding and creating them.
	wrapURI, macURI URI
	masterMu        sync.Mutex
	wrapH, macH     atomic.Uint64
	wrapTrusted     atomic.Bool
	// macCopyH is a session-object copy of the MAC key in the owner session
	// (see macKeyIn), 0 until made.
	macCopyH atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// module is one loaded and initialised PKCS#11 library. C_Initialize may be
// called once per process, so HSM values opened on the same module share it
// (reference counted) and the last Close finalises it.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

func acquireModule(path string) (*module, error) {
	key := filepath.Clean(path)
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[key]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := pkcs11.New(key)
	if ctx == nil {
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s", key)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("hsm: C_Initialize: %w", err)
	}
	m := &module{path: key, ctx: ctx, refs: 1}
	modules[key] = m
	return m, nil
}

func releaseModule(m *module) error {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(modules, m.path)
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	if err != nil {
		return fmt.Errorf("hsm: C_Finalize: %w", err)
	}
	return nil
}

// Open loads the module (C_Initialize once per process), finds the token by
// label (creating it if cfg.CreateToken), opens the session pool and logs the
// user in. It does not require the master keys; call CheckMasterKeys (server)
// or InitMasterKeys (setup) next.
func Open(cfg Config) (*HSM, error) {
	if cfg.ModulePath == "" {
		return nil, errors.New("hsm: ModulePath is required")
	}
	if cfg.TokenLabel == "" {
		return nil, errors.New("hsm: TokenLabel is required")
	}
	if cfg.PIN == "" {
		return nil, errors.New("hsm: PIN is required")
	}
	if cfg.MACSessions < 0 {
		return nil, errors.New("hsm: MACSessions must not be negative")
	}
	macN := cfg.MACSessions
	if macN == 0 {
		macN = 1
	}
	if cfg.PoolSize < 0 {
		return nil, errors.New("hsm: PoolSize must not be negative")
	}
	wrapURI, err := masterURI(cfg.WrapKey, DefaultWrapKeyURI, cfg.TokenLabel, "WrapKey")
	if err != nil {
		return nil, err
	}
	macURI, err := masterURI(cfg.MACKey, DefaultMACKeyURI, cfg.TokenLabel, "MACKey")
	if err != nil {
		return nil, err
	}
	n := cfg.PoolSize
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	mod, err := acquireModule(cfg.ModulePath)
	if err != nil {
		return nil, err
	}
	h := &HSM{
		mod:         mod,
		ctx:         mod.ctx,
		pin:         cfg.PIN,
		pool:        make(chan pkcs11.SessionHandle, n),
		poolSize:    n,
		macPool:     make(chan pkcs11.SessionHandle, macN),
		macPoolSize: macN,
		done:        make(chan struct{}),
		wrapURI:     wrapURI,
		macURI:      macURI,
	}
	switch {
	case cfg.KeyCacheSize == 0:
		h.cache = newKeyCache(defaultCacheSize)
	case cfg.KeyCacheSize > 0:
		h.cache = newKeyCache(cfg.KeyCacheSize)
	}
	if err := h.open(cfg); err != nil {
		h.abort()
		return nil, err
	}
	return h, nil
}

func masterURI(s, def, token, field string) (URI, error) {
	if s == "" {
		s = def
	}
	u, err := ParseURI(s)
	if err != nil {
		return URI{}, fmt.Errorf("hsm: %s: %w", field, err)
	}
	if u.Object == "" {
		return URI{}, fmt.Errorf("hsm: %s: URI must name the object", field)
	}
	if u.Type != "" && u.Type != "secret-key" {
		return URI{}, fmt.Errorf("hsm: %s: URI type must be secret-key", field)
	}
	if u.Token != "" && u.Token != token {
		return URI{}, fmt.Errorf("hsm: %s: URI token does not match TokenLabel", field)
	}
	if u.ModulePath != "" || u.PINValue != "" || u.PINSource != "" {
		return URI{}, fmt.Errorf("hsm: %s: URI must not carry module or PIN attributes", field)
	}
	return u, nil
}

func (h *HSM) open(cfg Config) error {
	slot, err := h.findToken(cfg.TokenLabel)
	if errors.Is(err, ErrTokenNotFound) && cfg.CreateToken {
		slot, err = h.createToken(cfg)
	}
	if err != nil {
		return err
	}
	h.slot = slot
	// The owner session logs the user in for the whole application.
	owner, err := h.openSession()
	if err != nil {
		return err
	}
	h.owner = owner
	for range h.poolSize {
		s, err := h.openSession()
		if err != nil {
			return err
		}
		h.pool <- s
	}
	for range h.macPoolSize {
		s, err := h.openSession()
		if err != nil {
			return err
		}
		h.macPool <- s
	}
	return nil
}

// abort releases whatever a failed Open acquired.
func (h *HSM) abort() {
	close(h.done)
	for _, p := range []chan pkcs11.SessionHandle{h.pool, h.macPool} {
		for len(p) > 0 {
			if s := <-p; s != 0 {
				_ = h.ctx.CloseSession(s)
			}
		}
	}
	if h.owner != 0 {
		_ = h.ctx.CloseSession(h.owner)
	}
	_ = releaseModule(h.mod)
}

func (h *HSM) findToken(label string) (uint, error) {
	slots, err := h.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("hsm: C_GetSlotList: %w", err)
	}
	var found []uint
	for _, s := range slots {
		ti, err := h.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 && strings.TrimRight(ti.Label, " \x00") == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: label %q", ErrTokenNotFound, label)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("hsm: %d tokens carry label %q", len(found), label)
}

// createToken initialises the first free slot with cfg.TokenLabel and sets
// the user PIN. Slot IDs may change after C_InitToken, so the token is found
// again by label.
func (h *HSM) createToken(cfg Config) (uint, error) {
	if cfg.SOPIN == "" {
		return 0, errors.New("hsm: CreateToken needs SOPIN")
	}
	slots, err := h.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("hsm: C_GetSlotList: %w", err)
	}
	free, ok := uint(0), false
	for _, s := range slots {
		ti, err := h.ctx.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free, ok = s, true
			break
		}
	}
	if !ok {
		return 0, errors.New("hsm: no free slot to create the token in")
	}
	if err := h.ctx.InitToken(free, cfg.SOPIN, cfg.TokenLabel); err != nil {
		return 0, fmt.Errorf("hsm: C_InitToken: %w", err)
	}
	slot, err := h.findToken(cfg.TokenLabel)
	if err != nil {
		return 0, err
	}
	s, err := h.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("hsm: C_OpenSession: %w", err)
	}
	defer h.ctx.CloseSession(s)
	if err := h.ctx.Login(s, pkcs11.CKU_SO, cfg.SOPIN); err != nil {
		return 0, fmt.Errorf("hsm: SO login: %w", err)
	}
	defer h.ctx.Logout(s)
	if err := h.ctx.InitPIN(s, cfg.PIN); err != nil {
		return 0, fmt.Errorf("hsm: C_InitPIN: %w", err)
	}
	return slot, nil
}

// openSession opens a read-write session and makes sure the user is logged
// in (login state is per application, so this logs in at most once unless
// every session was closed).
func (h *HSM) openSession() (pkcs11.SessionHandle, error) {
	s, err := h.ctx.OpenSession(h.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("hsm: C_OpenSession: %w", err)
	}
	info, err := h.ctx.GetSessionInfo(s)
	if err == nil && info.State == pkcs11.CKS_RW_USER_FUNCTIONS {
		return s, nil
	}
	if err := h.ctx.Login(s, pkcs11.CKU_USER, h.pin); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = h.ctx.CloseSession(s)
		return 0, fmt.Errorf("hsm: user login: %w", err) // the PIN is never part of the error
	}
	return s, nil
}

// checkout takes a session from pool, waiting until one is free, ctx is
// done, or the HSM is closed.
func (h *HSM) checkout(ctx context.Context, pool chan pkcs11.SessionHandle) (pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var s pkcs11.SessionHandle
	select {
	case s = <-pool:
	default:
		select {
		case s = <-pool:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-h.done:
			return 0, ErrClosed
		}
	}
	if h.closed.Load() {
		pool <- s
		return 0, ErrClosed
	}
	if s == 0 {
		var err error
		if s, err = h.openSession(); err != nil {
			pool <- 0
			return 0, err
		}
	}
	return s, nil
}

// checkin returns a session after use. If err shows the session is broken it
// is closed and a placeholder is returned instead, so the next checkout opens
// (and if needed logs in) a replacement.
func (h *HSM) checkin(pool chan pkcs11.SessionHandle, s pkcs11.SessionHandle, err error) {
	if err != nil && isSessionError(err) {
		_ = h.ctx.CloseSession(s)
		s = 0
	}
	pool <- s
}

// withSession runs fn on a worker session. If fn fails because the session
// is broken, the session is closed and fn is retried on another; after
// poolSize such failures the next checkout opens a fresh session, so at most
// poolSize+1 attempts are made. fn must be safe to repeat.
//
// On a handle or login error (see isHandleError) it calls recoverHandles
// and retries once; fn must therefore look up master keys itself (with
// masterKeyIn) rather than capture their handles.
func (h *HSM) withSession(ctx context.Context, fn func(pkcs11.SessionHandle) error) error {
	return h.withPool(ctx, h.pool, h.poolSize, fn)
}

// withMACSession is withSession on the sessions reserved for MAC.
func (h *HSM) withMACSession(ctx context.Context, fn func(pkcs11.SessionHandle) error) error {
	return h.withPool(ctx, h.macPool, h.macPoolSize, fn)
}

func (h *HSM) withPool(ctx context.Context, pool chan pkcs11.SessionHandle, size int, fn func(pkcs11.SessionHandle) error) error {
	recovered := false
	for attempt := 0; ; attempt++ {
		s, err := h.checkout(ctx, pool)
		if err != nil {
			return err
		}
		err = fn(s)
		retry := false
		switch {
		case err == nil:
		case isSessionError(err):
			retry = attempt < size
		case !recovered && isHandleError(err):
			recovered, retry = true, true
			h.recoverHandles(s)
		}
		h.checkin(pool, s, err)
		if !retry {
			return err
		}
	}
}

// recoverHandles runs after a handle or login error on session s. It
// forgets the master key handles (cheap to find again) and, if the
// application has been logged out (which invalidates every handle to a
// private object), logs in again and forgets every cached key without
// destroying it.
func (h *HSM) recoverHandles(s pkcs11.SessionHandle) {
	h.forgetMaster()
	info, err := h.ctx.GetSessionInfo(s)
	if err != nil || info.State == pkcs11.CKS_RW_USER_FUNCTIONS {
		return
	}
	if err := h.ctx.Login(s, pkcs11.CKU_USER, h.pin); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return
	}
	if h.cache != nil {
		h.cache.dropAll()
	}
}

// withOwner runs fn on the owner session under ownerMu, replacing the owner
// session (and retrying once) if it is broken. gen is the generation of the
// owner session fn ran on.
func (h *HSM) withOwner(fn func(s pkcs11.SessionHandle, gen uint64) error) error {
	h.ownerMu.Lock()
	defer h.ownerMu.Unlock()
	replaced, recovered := false, false
	for {
		if h.ownerClosed {
			return ErrClosed
		}
		if h.owner == 0 {
			s, err := h.openSession()
			if err != nil {
				return err
			}
			h.owner = s
		}
		err := fn(h.owner, h.ownerGen)
		switch {
		case err == nil:
			return nil
		case !replaced && isSessionError(err):
			replaced = true
			h.replaceOwnerLocked()
		case !recovered && isHandleError(err):
			recovered = true
			h.recoverHandles(h.owner)
		default:
			return err
		}
	}
}

// replaceOwnerLocked closes the owner session; every cached object died
// with it, so the cache forgets them without destroying. ownerMu is held.
func (h *HSM) replaceOwnerLocked() {
	if h.owner != 0 {
		_ = h.ctx.CloseSession(h.owner)
	}
	h.owner = 0
	h.macCopyH.Store(0) // died with the owner session
	old := h.ownerGen
	h.ownerGen++
	if h.cache != nil {
		h.cache.dropGeneration(old)
	}
}

// destroyOwned destroys a cached object if the owner session that created
// it is still the current one (otherwise it is already gone).
func (h *HSM) destroyOwned(o pkcs11.ObjectHandle, gen uint64) {
	h.ownerMu.Lock()
	defer h.ownerMu.Unlock()
	if h.ownerClosed || h.owner == 0 || gen != h.ownerGen {
		return
	}
	_ = h.ctx.DestroyObject(h.owner, o)
}

// Close waits for in-flight operations to return their sessions, destroys all
// cached key objects, closes every session, logs out and finalises the module
// if no other HSM in the process uses it. It is idempotent; later calls
// return the first result.
func (h *HSM) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		close(h.done)
		var errs []error
		for _, p := range []struct {
			ch   chan pkcs11.SessionHandle
			size int
		}{{h.pool, h.poolSize}, {h.macPool, h.macPoolSize}} {
			for range p.size {
				if s := <-p.ch; s != 0 {
					if err := h.ctx.CloseSession(s); err != nil && !isSessionError(err) {
						errs = append(errs, fmt.Errorf("hsm: C_CloseSession: %w", err))
					}
				}
			}
		}
		if h.cache != nil {
			for _, e := range h.cache.closeAll() {
				h.destroyOwned(e.handle, e.gen)
			}
		}
		h.ownerMu.Lock()
		if h.owner != 0 {
			if h.lastUser() {
				_ = h.ctx.Logout(h.owner)
			}
			if err := h.ctx.CloseSession(h.owner); err != nil && !isSessionError(err) {
				errs = append(errs, fmt.Errorf("hsm: C_CloseSession: %w", err))
			}
			h.owner = 0
		}
		h.ownerClosed = true
		h.ownerMu.Unlock()
		if err := releaseModule(h.mod); err != nil {
			errs = append(errs, err)
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// lastUser reports whether no other open HSM shares this module; logging
// out would log out every session of the process.
func (h *HSM) lastUser() bool {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	return h.mod.refs == 1
}

// PoolStats reports the size of the signing session pool and how many of its
// sessions are checked out right now.
func (h *HSM) PoolStats() (size, inUse int) {
	inUse = h.poolSize - len(h.pool)
	if inUse < 0 {
		inUse = 0
	}
	return h.poolSize, inUse
}

// Ping checks that the token answers on a pooled, logged-in session.
func (h *HSM) Ping(ctx context.Context) error {
	return h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		info, err := h.ctx.GetSessionInfo(s)
		if err != nil {
			return err
		}
		if info.State != pkcs11.CKS_RW_USER_FUNCTIONS && info.State != pkcs11.CKS_RO_USER_FUNCTIONS {
			return errors.New("hsm: session is not logged in")
		}
		return nil
	})
}
