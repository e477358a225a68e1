package hsm

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/miekg/pkcs11"
)

// cacheKey identifies an unwrapped key: the caller's stable ID plus the hash
// of the blob, so a changed blob never reuses a stale handle.
type cacheKey struct {
	id  string
	sum [sha256.Size]byte
}

// cacheEntry is one unwrapped key object. Fields other than key are guarded
// by keyCache.mu, except handle and err, which are written once before ready
// is closed and only read after that.
type cacheEntry struct {
	key    cacheKey
	elem   *list.Element // position in the LRU list; nil once removed
	ready  chan struct{} // non-nil while the unwrap is in flight
	handle pkcs11.ObjectHandle
	gen    uint64 // owner-session generation that created handle
	err    error
	refs   int  // operations currently using handle
	dead   bool // object already destroyed or died with its session
}

// keyCache is an LRU of unwrapped key objects with reference counts: an
// entry evicted while in use is destroyed by the last user to release it.
// The first user of a missing key creates an in-flight entry and unwraps;
// concurrent users of the same key wait on it instead of unwrapping again.
//
// Lock order: HSM.ownerMu may be held when taking keyCache.mu, never the
// reverse. Methods return entries to destroy instead of destroying them.
type keyCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]*cacheEntry
	lru *list.List // front = most recently used
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, m: make(map[cacheKey]*cacheEntry, max), lru: list.New()}
}

// acquire returns the entry for k with a reference held. If created, the
// caller must unwrap and call complete. Otherwise, if ready is non-nil, the
// caller must wait on it and then check e.err. victims must be destroyed.
func (c *keyCache) acquire(k cacheKey) (e *cacheEntry, ready chan struct{}, created bool, victims []*cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.m[k]; e != nil {
		e.refs++
		c.lru.MoveToFront(e.elem)
		return e, e.ready, false, nil
	}
	e = &cacheEntry{key: k, ready: make(chan struct{}), refs: 1}
	e.elem = c.lru.PushFront(e)
	c.m[k] = e
	for c.lru.Len() > c.max {
		old := c.lru.Back().Value.(*cacheEntry)
		if v := c.removeLocked(old); v != nil {
			victims = append(victims, v)
		}
	}
	return e, e.ready, true, victims
}

// removeLocked takes e out of the cache and returns it if the caller must
// destroy it now (no users left).
func (c *keyCache) removeLocked(e *cacheEntry) *cacheEntry {
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
		delete(c.m, e.key)
	}
	if e.refs == 0 && !e.dead && e.ready == nil && e.err == nil {
		e.dead = true
		return e
	}
	return nil
}

// complete publishes the result of the unwrap for a created entry. On
// error the entry leaves the cache so a later call retries.
func (c *keyCache) complete(e *cacheEntry, h pkcs11.ObjectHandle, gen uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.handle, e.gen, e.err = h, gen, err
	if err != nil {
		e.dead = true
		if e.elem != nil {
			c.lru.Remove(e.elem)
			e.elem = nil
			delete(c.m, e.key)
		}
	}
	close(e.ready)
	e.ready = nil
}

// release drops a reference and reports whether the caller must destroy
// the object (it was evicted while in use and this was the last user).
func (c *keyCache) release(e *cacheEntry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.elem == nil && !e.dead && e.err == nil && e.ready == nil {
		e.dead = true
		return true
	}
	return false
}

// invalidate removes an entry whose handle the token no longer knows; it
// is never destroyed.
func (c *keyCache) invalidate(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.dead = true
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
		delete(c.m, e.key)
	}
}

// forget removes every entry for id (all when all is true) and returns
// those to destroy now; entries in use are destroyed on release.
func (c *keyCache) forget(id string, all bool) (victims []*cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if all || k.id == id {
			if v := c.removeLocked(e); v != nil {
				victims = append(victims, v)
			}
		}
	}
	return victims
}

// closeAll empties the cache for Close and returns every completed object
// not yet destroyed, whether in use or not (no operation can use it after
// the pool is drained).
func (c *keyCache) closeAll() (victims []*cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		c.lru.Remove(e.elem)
		e.elem = nil
		delete(c.m, e.key)
		if !e.dead && e.ready == nil && e.err == nil {
			e.dead = true
			victims = append(victims, e)
		}
	}
	return victims
}

// dropGeneration forgets, without destroying, the completed entries created
// by an owner session that has been closed.
func (c *keyCache) dropGeneration(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		if e.ready == nil && e.gen == gen {
			e.dead = true
			c.lru.Remove(e.elem)
			e.elem = nil
			delete(c.m, e.key)
		}
	}
}

// dropAll forgets, without destroying, every completed entry: their
// handles became invalid when the application was logged out.
func (c *keyCache) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		if e.ready == nil {
			e.dead = true
			c.lru.Remove(e.elem)
			e.elem = nil
			delete(c.m, e.key)
		}
	}
}

// len returns the number of cached entries (including in-flight unwraps).
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
