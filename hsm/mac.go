package hsm

import (
	"context"
	"crypto"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

var mechHMACSHA256 = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_HMAC, nil)}

// MAC returns HMAC-SHA256 of data under the master MAC key, computed inside
// the HSM. It is deterministic.
func (h *HSM) MAC(ctx context.Context, data []byte) ([]byte, error) {
	var mac []byte
	err := h.withMACSession(ctx, func(s pkcs11.SessionHandle) error {
		key, err := h.macKeyIn(s)
		if err != nil {
			return err
		}
		mac, err = h.signWith(s, mechHMACSHA256, key, data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: MAC: %w", err)
	}
	return mac, nil
}

// macKeyIn returns a session-object copy of the master MAC key, made once in
// the owner session. SoftHSM2 keeps token objects in files and checks them
// on every use, while a session object lives in memory: the copy makes a MAC
// about three times cheaper (measured: 31 µs -> 11 µs). C_CopyObject keeps
// every attribute but CKA_TOKEN, so the copy is as sensitive and
// non-extractable as the original. It dies with the owner session; it is
// forgotten, and made again on next use, whenever the master handles are
// (after a handle error or lost login) or the owner session is replaced.
func (h *HSM) macKeyIn(s pkcs11.SessionHandle) (pkcs11.ObjectHandle, error) {
	if v := h.macCopyH.Load(); v != 0 {
		return pkcs11.ObjectHandle(v), nil
	}
	tokenKey, err := h.masterKeyIn(s, true)
	if err != nil {
		return 0, err
	}
	var copied pkcs11.ObjectHandle
	err = h.withOwner(func(o pkcs11.SessionHandle, _ uint64) error {
		if v := h.macCopyH.Load(); v != 0 {
			copied = pkcs11.ObjectHandle(v)
			return nil
		}
		c, err := h.ctx.CopyObject(o, tokenKey, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
		if err != nil {
			return err
		}
		h.macCopyH.Store(uint64(c))
		copied = c
		return nil
	})
	return copied, err
}

// VerifyMAC recomputes the MAC of data and compares it with mac in constant
// time. A wrong MAC is (false, nil); err is for HSM failures only.
func (h *HSM) VerifyMAC(ctx context.Context, data, mac []byte) (bool, error) {
	want, err := h.MAC(ctx, data)
	if err != nil {
		return false, err
	}
	return hmac.Equal(want, mac), nil
}

// secretPadLen: secrets shorter than this are zero-padded before import.
// HMAC pads keys shorter than the hash block size with zeros anyway, so for
// SHA-1, SHA-256 (64-byte blocks) and SHA-512 (128) the HMAC is unchanged,
// while the token's minimum HMAC key lengths (SoftHSM2: 20 bytes for SHA-1,
// 32 for SHA-256, 64 for SHA-512) are met.
//
// The padded length is also a multiple of 8, so CKM_AES_KEY_WRAP_PAD adds
// no padding of its own: SoftHSM2 2.6.1 does not strip RFC 5649 padding on
// unwrap, so a 100-byte secret would come back as 104 bytes and, being
// longer than a SHA-1/SHA-256 block, give a different HMAC. Longer secrets
// must therefore already be a multiple of 8 bytes.
const secretPadLen = 64

// WrapSecret imports secret (for example a TOTP seed; at most 64 bytes, or a
// multiple of 8 bytes, see secretPadLen) as a generic-secret
// session object, wraps it under the master wrap key with
// CKM_AES_KEY_WRAP_PAD and destroys the object. The returned blob is only
// usable through HMACWrapped: from then on the secret exists in clear only
// inside the HSM. The caller should zero its own copy.
func (h *HSM) WrapSecret(ctx context.Context, secret []byte) (blob []byte, err error) {
	if len(secret) == 0 {
		return nil, errors.New("hsm: empty secret")
	}
	if len(secret) > secretPadLen && len(secret)%8 != 0 {
		return nil, fmt.Errorf("%w: secrets longer than %d bytes must be a multiple of 8 bytes", ErrUnsupported, secretPadLen)
	}
	value := make([]byte, max(len(secret), secretPadLen))
	copy(value, secret)
	defer clear(value)
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		wrapKey, err := h.masterKeyIn(s, false)
		if err != nil {
			return err
		}
		o, err := h.ctx.CreateObject(s, tmpl)
		if err != nil {
			return err
		}
		defer h.ctx.DestroyObject(s, o)
		blob, err = h.ctx.WrapKey(s, wrapMech, wrapKey, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: wrap secret: %w", err)
	}
	return blob, nil
}

var unwrapSecretTmpl = []*pkcs11.Attribute{
	pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
	pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
	pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
	pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
	pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
	pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
	pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
	pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
	pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
}

// HMACWrapped unwraps a WrapSecret blob into a non-extractable session
// object, returns HMAC(hash) of data under it and destroys the object.
// hash is crypto.SHA1, crypto.SHA256 or crypto.SHA512.
func (h *HSM) HMACWrapped(ctx context.Context, blob []byte, hash crypto.Hash, data []byte) ([]byte, error) {
	var m uint
	switch hash {
	case crypto.SHA1:
		m = pkcs11.CKM_SHA_1_HMAC
	case crypto.SHA256:
		m = pkcs11.CKM_SHA256_HMAC
	case crypto.SHA512:
		m = pkcs11.CKM_SHA512_HMAC
	default:
		return nil, fmt.Errorf("%w: HMAC hash %v", ErrUnsupported, hash)
	}
	if len(blob) == 0 {
		return nil, errors.New("hsm: empty secret blob")
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)}
	var mac []byte
	err := h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		wrapKey, err := h.masterKeyIn(s, false)
		if err != nil {
			return err
		}
		o, err := h.ctx.UnwrapKey(s, wrapMech, wrapKey, blob, unwrapSecretTmpl)
		if err != nil {
			return err
		}
		defer h.ctx.DestroyObject(s, o)
		mac, err = h.signWith(s, mech, o, data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: HMAC with wrapped secret: %w", err)
	}
	return mac, nil
}

// ObjectCounts counts the objects visible to the logged-in user: token
// objects (CKA_TOKEN=true) and session objects of this process.
func (h *HSM) ObjectCounts(ctx context.Context) (token, session int, err error) {
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		t, err := h.findObjects(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)}, 0)
		if err != nil {
			return err
		}
		o, err := h.findObjects(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)}, 0)
		if err != nil {
			return err
		}
		token, session = len(t), len(o)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("hsm: count objects: %w", err)
	}
	return token, session, nil
}
