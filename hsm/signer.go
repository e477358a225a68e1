package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

// Key identifies a wrapped signer key. ID is a stable identifier (the
// credential ID) used as cache key; the cache entry is also keyed by
// SHA-256(Blob) so a changed blob never reuses a stale handle. Public is
// required: it selects the RSA size or curve and is checked against the
// unwrapped key.
type Key struct {
	ID        string
	Blob      []byte
	Algorithm KeyAlgorithm
	Public    crypto.PublicKey
}

// PSSOptions selects RSASSA-PSS with an explicit hash, MGF1 hash and salt
// length. SaltLength takes the same special values as rsa.PSSOptions
// (rsa.PSSSaltLengthAuto: the maximum the key allows; rsa.PSSSaltLengthEqualsHash).
type PSSOptions struct {
	Hash, MGFHash crypto.Hash
	SaltLength    int
}

// HashFunc returns o.Hash; the digest passed to Sign must be of that hash.
func (o PSSOptions) HashFunc() crypto.Hash { return o.Hash }

// ContextSigner is implemented by the signers Signer returns: SignContext
// is Sign with a context that bounds the wait for a free session.
type ContextSigner interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

var (
	_ ContextSigner     = (*signer)(nil)
	_ crypto.SignerOpts = PSSOptions{}
)

type signer struct {
	h    *HSM
	key  Key
	info algInfo
	ck   cacheKey
	rsa  *rsa.PublicKey
	ec   *ecdsa.PublicKey
	err  error // the Key is unusable; every Sign returns it
}

// Signer returns a crypto.Signer (also a ContextSigner) for k. Sign ignores
// rand and accepts:
//   - RSA with a crypto.Hash (SHA-224/256/384/512): PKCS#1 v1.5 over
//     DigestInfo(hash, digest) with CKM_RSA_PKCS. SHA-1 is refused.
//   - RSA with *rsa.PSSOptions: CKM_RSA_PKCS_PSS, MGF1 with the same hash.
//   - RSA with PSSOptions or *PSSOptions: explicit hash, MGF1 hash and salt.
//   - ECDSA with a crypto.Hash (SHA-224/256/384/512): CKM_ECDSA over the
//     digest; the result is a DER ECDSA-Sig-Value.
//
// The digest length must equal the hash size (ErrBadDigest). On first use
// the blob is unwrapped into a non-extractable session object and cached;
// see the package doc for the cache and concurrency contract.
func (h *HSM) Signer(k Key) crypto.Signer {
	k.Blob = bytes.Clone(k.Blob)
	s := &signer{h: h, key: k, ck: cacheKey{id: k.ID, sum: sha256.Sum256(k.Blob)}}
	info, ok := algParams[k.Algorithm]
	s.info = info
	if !ok {
		s.err = fmt.Errorf("%w: key algorithm %q", ErrUnsupported, k.Algorithm)
		return s
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		if !info.isRSA() || pub.N == nil || pub.N.BitLen() != info.rsaBits {
			s.err = fmt.Errorf("%w: key %q: public key does not match %s", ErrKeyMismatch, k.ID, k.Algorithm)
		}
		s.rsa = pub
	case *ecdsa.PublicKey:
		if info.isRSA() || pub.Curve != info.curve {
			s.err = fmt.Errorf("%w: key %q: public key does not match %s", ErrKeyMismatch, k.ID, k.Algorithm)
		}
		s.ec = pub
	default:
		s.err = fmt.Errorf("%w: key %q: public key of type %T", ErrUnsupported, k.ID, k.Public)
	}
	return s
}

func (s *signer) Public() crypto.PublicKey { return s.key.Public }

func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

func (s *signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	mech, input, err := s.prepare(digest, opts)
	if err != nil {
		return nil, err
	}
	h := s.h
	var sig []byte
	if h.cache == nil {
		err = s.signUncached(ctx, mech, input, &sig)
	} else {
		for attempt := 0; ; attempt++ {
			var e *cacheEntry
			if e, err = h.acquireKey(ctx, s); err != nil {
				return nil, err
			}
			err = h.withSession(ctx, func(sess pkcs11.SessionHandle) error {
				var err error
				sig, err = h.signWith(sess, mech, e.handle, input)
				return err
			})
			if err != nil && isHandleError(err) && attempt == 0 {
				// The object vanished (its owner session died): unwrap again.
				h.cache.invalidate(e)
				h.releaseKey(e)
				continue
			}
			h.releaseKey(e)
			break
		}
	}
	if err != nil {
		if isCode(err, pkcs11.CKR_MECHANISM_INVALID) || isCode(err, pkcs11.CKR_MECHANISM_PARAM_INVALID) || isCode(err, pkcs11.CKR_ARGUMENTS_BAD) {
			// The token refuses these parameters (SoftHSM2, for one, requires
			// the PSS MGF1 hash to equal the message hash).
			return nil, fmt.Errorf("hsm: sign with key %q: %w: %w", s.key.ID, ErrUnsupported, err)
		}
		return nil, fmt.Errorf("hsm: sign with key %q: %w", s.key.ID, err)
	}
	if s.ec != nil {
		return ecdsaRawToDER(sig)
	}
	return sig, nil
}

func (s *signer) signUncached(ctx context.Context, mech []*pkcs11.Mechanism, input []byte, sig *[]byte) error {
	h := s.h
	return h.withSession(ctx, func(sess pkcs11.SessionHandle) error {
		o, err := h.unwrapSigner(sess, &s.key, s.info)
		if err != nil {
			return err
		}
		defer h.ctx.DestroyObject(sess, o)
		*sig, err = h.signWith(sess, mech, o, input)
		return err
	})
}

func (h *HSM) signWith(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, o pkcs11.ObjectHandle, input []byte) ([]byte, error) {
	if err := h.ctx.SignInit(s, mech, o); err != nil {
		return nil, err
	}
	return h.ctx.Sign(s, input)
}

// acquireKey returns the cache entry for s's key with a reference held,
// unwrapping the blob in the owner session if this is the first user.
func (h *HSM) acquireKey(ctx context.Context, s *signer) (*cacheEntry, error) {
	e, ready, created, victims := h.cache.acquire(s.ck)
	for _, v := range victims {
		h.destroyOwned(v.handle, v.gen)
	}
	if created {
		err := h.withOwner(func(sess pkcs11.SessionHandle, gen uint64) error {
			o, err := h.unwrapSigner(sess, &s.key, s.info)
			if err != nil {
				return err
			}
			// Published under ownerMu so that a concurrent owner
			// replacement sees the generation.
			h.cache.complete(e, o, gen, nil)
			return nil
		})
		if err != nil {
			h.cache.complete(e, 0, 0, err)
			h.releaseKey(e)
			return nil, err
		}
		return e, nil
	}
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			h.releaseKey(e)
			return nil, ctx.Err()
		}
		if e.err != nil {
			h.releaseKey(e)
			return nil, e.err
		}
	}
	return e, nil
}

func (h *HSM) releaseKey(e *cacheEntry) {
	if h.cache.release(e) {
		h.destroyOwned(e.handle, e.gen)
	}
}

// Forget evicts and destroys any cached object for keyID (credential
// disabled or deleted). An object in use by a running Sign is destroyed when
// that Sign finishes.
func (h *HSM) Forget(keyID string) {
	if h.cache == nil {
		return
	}
	for _, v := range h.cache.forget(keyID, false) {
		h.destroyOwned(v.handle, v.gen)
	}
}

// FlushKeyCache evicts and destroys every cached object (objects in use are
// destroyed when their Sign finishes).
func (h *HSM) FlushKeyCache() {
	if h.cache == nil {
		return
	}
	for _, v := range h.cache.forget("", true) {
		h.destroyOwned(v.handle, v.gen)
	}
}

var mechECDSA = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
var mechRSAPKCS = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}

type hashParams struct {
	ckm, mgf uint
	prefix   []byte // DER DigestInfo up to the digest (RFC 8017 9.2 note 1)
}

func hashInfo(h crypto.Hash) (hashParams, bool) {
	switch h {
	case crypto.SHA224:
		return hashParams{pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224, []byte{0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c}}, true
	case crypto.SHA256:
		return hashParams{pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}}, true
	case crypto.SHA384:
		return hashParams{pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}}, true
	case crypto.SHA512:
		return hashParams{pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}}, true
	}
	return hashParams{}, false
}

// prepare validates digest and opts and returns the mechanism and the bytes
// to hand to C_Sign.
func (s *signer) prepare(digest []byte, opts crypto.SignerOpts) ([]*pkcs11.Mechanism, []byte, error) {
	if opts == nil {
		return nil, nil, fmt.Errorf("%w: nil signer options", ErrUnsupported)
	}
	var pss *PSSOptions
	switch o := opts.(type) {
	case *rsa.PSSOptions:
		if o == nil {
			return nil, nil, fmt.Errorf("%w: nil signer options", ErrUnsupported)
		}
		pss = &PSSOptions{Hash: o.Hash, MGFHash: o.Hash, SaltLength: o.SaltLength}
	case *PSSOptions:
		if o == nil {
			return nil, nil, fmt.Errorf("%w: nil signer options", ErrUnsupported)
		}
		pss = o
	case PSSOptions:
		pss = &o
	}
	hash := opts.HashFunc()
	hp, ok := hashInfo(hash)
	if !ok {
		return nil, nil, fmt.Errorf("%w: hash %v", ErrUnsupported, hash)
	}
	if len(digest) != hash.Size() {
		return nil, nil, fmt.Errorf("%w: got %d bytes for %v", ErrBadDigest, len(digest), hash)
	}
	if s.ec != nil {
		if pss != nil {
			return nil, nil, fmt.Errorf("%w: PSS options for an EC key", ErrUnsupported)
		}
		return mechECDSA, digest, nil
	}
	if pss == nil {
		input := make([]byte, 0, len(hp.prefix)+len(digest))
		input = append(append(input, hp.prefix...), digest...)
		return mechRSAPKCS, input, nil
	}
	mgf, ok := hashInfo(pss.MGFHash)
	if !ok {
		return nil, nil, fmt.Errorf("%w: MGF1 hash %v", ErrUnsupported, pss.MGFHash)
	}
	emLen := (s.rsa.N.BitLen() - 1 + 7) / 8
	maxSalt := emLen - hash.Size() - 2
	salt := pss.SaltLength
	switch {
	case salt == rsa.PSSSaltLengthAuto:
		salt = maxSalt
	case salt == rsa.PSSSaltLengthEqualsHash:
		salt = hash.Size()
	case salt < 0:
		return nil, nil, fmt.Errorf("%w: PSS salt length %d", ErrUnsupported, salt)
	}
	if salt > maxSalt || maxSalt < 0 {
		return nil, nil, fmt.Errorf("%w: PSS salt length %d exceeds %d for this key and hash", ErrUnsupported, salt, maxSalt)
	}
	params := pkcs11.NewPSSParams(hp.ckm, mgf.mgf, uint(salt))
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params)}, digest, nil
}

// ecdsaRawToDER converts the PKCS#11 r||s encoding to a DER Ecdsa-Sig-Value
// (SEQUENCE { r INTEGER, s INTEGER }).
func ecdsaRawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, errors.New("hsm: malformed ECDSA signature from token")
	}
	r, s := derIntBody(raw[:len(raw)/2]), derIntBody(raw[len(raw)/2:])
	body := 2 + len(r) + 2 + len(s) // lengths below are < 128 for every curve we support
	out := make([]byte, 0, body+4)
	out = append(out, 0x30)
	out = appendDERLen(out, body)
	out = append(out, 0x02, byte(len(r)))
	out = append(out, r...)
	out = append(out, 0x02, byte(len(s)))
	out = append(out, s...)
	return out, nil
}

// derIntBody returns the minimal two's-complement content octets of an
// unsigned big-endian integer.
func derIntBody(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

func appendDERLen(out []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(out, byte(n))
	case n < 0x100:
		return append(out, 0x81, byte(n))
	default:
		return append(out, 0x82, byte(n>>8), byte(n))
	}
}
