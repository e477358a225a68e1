package hsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// InitMasterKeys creates the master wrap key and the MAC key if they are
// absent (found by the label, and id if given, of Config.WrapKey and
// Config.MACKey) and reports whether it created either. It is idempotent
// within and across processes, but two processes running it at the same
// time on an empty token could both create keys: run it from one place
// (setup, cscctl).
//
// The wrap key is a token AES-256 key: PRIVATE, SENSITIVE, not EXTRACTABLE,
// WRAP and UNWRAP only. It is first requested with CKA_TRUSTED=true; a token
// that refuses (SoftHSM2 lets only the SO set CKA_TRUSTED, and the SO cannot
// create private objects) gets it without, and WrapWithTrusted reports false.
// The MAC key is a 32-byte generic secret: PRIVATE, SENSITIVE, not
// EXTRACTABLE, SIGN and VERIFY only.
func (h *HSM) InitMasterKeys(ctx context.Context) (created bool, err error) {
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		h.masterMu.Lock()
		defer h.masterMu.Unlock()
		for _, mac := range []bool{false, true} {
			u := h.masterURIFor(mac)
			o, found, err := h.findSecretIn(s, u)
			if err != nil {
				return err
			}
			if !found {
				if o, err = h.createMasterIn(s, u, mac); err != nil {
					return err
				}
				created = true
			}
			if err := h.adoptMasterIn(s, o, mac); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
}

// CheckMasterKeys returns an error wrapping ErrKeyNotFound if either master
// key is missing, or an error if one exists with unsafe attributes (for
// example extractable). The server calls it at start and refuses to run on
// error.
func (h *HSM) CheckMasterKeys(ctx context.Context) error {
	for _, mac := range []bool{false, true} {
		if _, err := h.masterKey(ctx, mac); err != nil {
			return err
		}
	}
	return nil
}

// WrapWithTrusted reports whether the wrap key is CKA_TRUSTED, in which case
// generated signer keys carry CKA_WRAP_WITH_TRUSTED (they can then be wrapped
// only by trusted keys). Valid after InitMasterKeys, CheckMasterKeys or the
// first key operation.
func (h *HSM) WrapWithTrusted() bool { return h.wrapTrusted.Load() }

func (h *HSM) masterURIFor(mac bool) URI {
	if mac {
		return h.macURI
	}
	return h.wrapURI
}

func (h *HSM) masterSlot(mac bool) *atomic.Uint64 {
	if mac {
		return &h.macH
	}
	return &h.wrapH
}

// masterKey returns the handle of the wrap key (mac=false) or MAC key,
// finding and checking it on first use.
func (h *HSM) masterKey(ctx context.Context, mac bool) (o pkcs11.ObjectHandle, err error) {
	if v := h.masterSlot(mac).Load(); v != 0 {
		return pkcs11.ObjectHandle(v), nil
	}
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		var err error
		o, err = h.masterKeyIn(s, mac)
		return err
	})
	return o, err
}

// masterKeyIn is masterKey using session s for any lookup, for callers that
// already hold a session (taking a second one could deadlock a small pool).
func (h *HSM) masterKeyIn(s pkcs11.SessionHandle, mac bool) (pkcs11.ObjectHandle, error) {
	p := h.masterSlot(mac)
	if v := p.Load(); v != 0 {
		return pkcs11.ObjectHandle(v), nil
	}
	h.masterMu.Lock()
	defer h.masterMu.Unlock()
	if v := p.Load(); v != 0 {
		return pkcs11.ObjectHandle(v), nil
	}
	u := h.masterURIFor(mac)
	o, found, err := h.findSecretIn(s, u)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%w: %s", ErrKeyNotFound, u.String())
	}
	if err := h.adoptMasterIn(s, o, mac); err != nil {
		return 0, err
	}
	return o, nil
}

// forgetMaster drops the cached master handles so the next operation finds
// the keys again (after a handle error or a lost login).
func (h *HSM) forgetMaster() {
	h.wrapH.Store(0)
	h.macH.Store(0)
	// If the copy is still valid it stays in the owner session until that
	// closes: at most one extra session object per recovery.
	h.macCopyH.Store(0)
}

func (h *HSM) findSecretIn(s pkcs11.SessionHandle, u URI) (o pkcs11.ObjectHandle, found bool, err error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object),
	}
	if u.ID != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	objs, err := h.findObjects(s, tmpl, 2)
	if err != nil {
		return 0, false, fmt.Errorf("hsm: find %s: %w", u.String(), err)
	}
	switch len(objs) {
	case 0:
		return 0, false, nil
	case 1:
		return objs[0], true, nil
	}
	return 0, false, fmt.Errorf("hsm: more than one key matches %s", u.String())
}

// findObjects returns up to max matching handles (all if max <= 0).
func (h *HSM) findObjects(s pkcs11.SessionHandle, tmpl []*pkcs11.Attribute, max int) ([]pkcs11.ObjectHandle, error) {
	if err := h.ctx.FindObjectsInit(s, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	for max <= 0 || len(out) < max {
		batch, _, err := h.ctx.FindObjects(s, 256)
		if err != nil {
			_ = h.ctx.FindObjectsFinal(s)
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
		out = append(out, batch...)
	}
	if err := h.ctx.FindObjectsFinal(s); err != nil {
		return nil, err
	}
	return out, nil
}

func (h *HSM) createMasterIn(s pkcs11.SessionHandle, u URI, mac bool) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
	if u.ID != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	var mech []*pkcs11.Mechanism
	if mac {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil)}
		tmpl = append(tmpl,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false))
	} else {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
		tmpl = append(tmpl,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false))
	}
	var o pkcs11.ObjectHandle
	var err error
	if !mac {
		trusted := append(tmpl[:len(tmpl):len(tmpl)], pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, true))
		o, err = h.ctx.GenerateKey(s, mech, trusted)
		if err != nil && refusedAttribute(err) {
			// The token will not let this user mark the key trusted.
			o, err = h.ctx.GenerateKey(s, mech, tmpl)
		}
	} else {
		o, err = h.ctx.GenerateKey(s, mech, tmpl)
	}
	if err != nil {
		return 0, fmt.Errorf("hsm: create %s: %w", u.String(), err)
	}
	return o, nil
}

func refusedAttribute(err error) bool {
	for _, c := range []uint{pkcs11.CKR_ATTRIBUTE_READ_ONLY, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID,
		pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_TEMPLATE_INCONSISTENT} {
		if isCode(err, c) {
			return true
		}
	}
	return false
}

// adoptMasterIn checks a master key's attributes and records its handle (and,
// for the wrap key, whether it is trusted). masterMu is held.
func (h *HSM) adoptMasterIn(s pkcs11.SessionHandle, o pkcs11.ObjectHandle, mac bool) error {
	a, err := h.keyAttributesIn(s, o)
	if err != nil {
		return err
	}
	name := "wrap key"
	if mac {
		name = "MAC key"
	}
	switch {
	case !a.Sensitive || a.Extractable:
		return fmt.Errorf("hsm: %s must be sensitive and not extractable", name)
	case !mac && (a.KeyType != pkcs11.CKK_AES || a.ValueLen != 32 || !a.Unwrap || !a.Wrap):
		return fmt.Errorf("hsm: %s must be a 256-bit AES key allowed to wrap and unwrap", name)
	case mac && (a.KeyType != pkcs11.CKK_GENERIC_SECRET || a.ValueLen < 32 || !a.Sign):
		return fmt.Errorf("hsm: %s must be a generic secret of at least 32 bytes allowed to sign", name)
	}
	if !mac {
		h.wrapTrusted.Store(a.Trusted)
	}
	h.masterSlot(mac).Store(uint64(o))
	return nil
}

// keyAttrs is the subset of secret-key attributes the package checks.
type keyAttrs struct {
	KeyType, ValueLen                           uint
	Sensitive, Extractable, Trusted             bool
	Wrap, Unwrap, Sign, Encrypt, Decrypt, Token bool
}

func (h *HSM) keyAttributesIn(s pkcs11.SessionHandle, o pkcs11.ObjectHandle) (keyAttrs, error) {
	types := []uint{pkcs11.CKA_KEY_TYPE, pkcs11.CKA_VALUE_LEN, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
		pkcs11.CKA_TRUSTED, pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP, pkcs11.CKA_SIGN, pkcs11.CKA_ENCRYPT,
		pkcs11.CKA_DECRYPT, pkcs11.CKA_TOKEN}
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := h.ctx.GetAttributeValue(s, o, tmpl)
	if err != nil {
		return keyAttrs{}, fmt.Errorf("hsm: read key attributes: %w", err)
	}
	v := make(map[uint][]byte, len(got))
	for _, a := range got {
		v[a.Type] = a.Value
	}
	b := func(t uint) bool { return len(v[t]) == 1 && v[t][0] != 0 }
	return keyAttrs{
		KeyType: ulong(v[pkcs11.CKA_KEY_TYPE]), ValueLen: ulong(v[pkcs11.CKA_VALUE_LEN]),
		Sensitive: b(pkcs11.CKA_SENSITIVE), Extractable: b(pkcs11.CKA_EXTRACTABLE), Trusted: b(pkcs11.CKA_TRUSTED),
		Wrap: b(pkcs11.CKA_WRAP), Unwrap: b(pkcs11.CKA_UNWRAP), Sign: b(pkcs11.CKA_SIGN),
		Encrypt: b(pkcs11.CKA_ENCRYPT), Decrypt: b(pkcs11.CKA_DECRYPT), Token: b(pkcs11.CKA_TOKEN),
	}, nil
}

// ulong decodes a CK_ULONG attribute value (native byte order).
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return 0
}
