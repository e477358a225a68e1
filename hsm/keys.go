package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// KeyAlgorithm names a signer key type and size.
type KeyAlgorithm string

// Supported signer key algorithms.
const (
	RSA2048 KeyAlgorithm = "RSA-2048"
	RSA3072 KeyAlgorithm = "RSA-3072"
	RSA4096 KeyAlgorithm = "RSA-4096"
	ECP256  KeyAlgorithm = "EC-P256"
	ECP384  KeyAlgorithm = "EC-P384"
	ECP521  KeyAlgorithm = "EC-P521"
)

// ParseKeyAlgorithm accepts exactly the names of the KeyAlgorithm constants.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	a := KeyAlgorithm(s)
	if _, ok := algParams[a]; !ok {
		return "", fmt.Errorf("%w: key algorithm %q", ErrUnsupported, s)
	}
	return a, nil
}

type algInfo struct {
	rsaBits  int
	curve    elliptic.Curve
	ecParams []byte // DER OID of the named curve (CKA_EC_PARAMS)
}

var algParams = map[KeyAlgorithm]algInfo{
	RSA2048: {rsaBits: 2048},
	RSA3072: {rsaBits: 3072},
	RSA4096: {rsaBits: 4096},
	ECP256:  {curve: elliptic.P256(), ecParams: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}},
	ECP384:  {curve: elliptic.P384(), ecParams: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}},
	ECP521:  {curve: elliptic.P521(), ecParams: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}},
}

func (a algInfo) isRSA() bool { return a.rsaBits != 0 }

func (a algInfo) keyType() uint {
	if a.isRSA() {
		return pkcs11.CKK_RSA
	}
	return pkcs11.CKK_EC
}

var wrapMech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}

// GenerateWrappedKey generates a key pair as session objects, wraps the
// private key under the master wrap key with CKM_AES_KEY_WRAP_PAD, reads the
// public key and destroys both objects. No token object is created. The
// private key is SENSITIVE and EXTRACTABLE only so that it can be wrapped
// (and WRAP_WITH_TRUSTED when the wrap key is trusted, see WrapWithTrusted).
func (h *HSM) GenerateWrappedKey(ctx context.Context, alg KeyAlgorithm) (blob []byte, pub crypto.PublicKey, err error) {
	info, ok := algParams[alg]
	if !ok {
		return nil, nil, fmt.Errorf("%w: key algorithm %q", ErrUnsupported, alg)
	}
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, info.keyType()),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, info.keyType()),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
	var mech []*pkcs11.Mechanism
	if info.isRSA() {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
		pubT = append(pubT,
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, info.rsaBits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	} else {
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, info.ecParams))
	}
	err = h.withSession(ctx, func(s pkcs11.SessionHandle) error {
		wrapKey, err := h.masterKeyIn(s, false)
		if err != nil {
			return err
		}
		privT := privT
		if h.wrapTrusted.Load() {
			privT = append(privT[:len(privT):len(privT)], pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true))
		}
		pubObj, privObj, err := h.ctx.GenerateKeyPair(s, mech, pubT, privT)
		if err != nil {
			return fmt.Errorf("hsm: generate %s: %w", alg, err)
		}
		defer h.ctx.DestroyObject(s, pubObj)
		defer h.ctx.DestroyObject(s, privObj)
		blob, err = h.ctx.WrapKey(s, wrapMech, wrapKey, privObj)
		if err != nil {
			return fmt.Errorf("hsm: wrap %s: %w", alg, err)
		}
		pub, err = h.readPublic(s, pubObj, info)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return blob, pub, nil
}

func (h *HSM) readPublic(s pkcs11.SessionHandle, o pkcs11.ObjectHandle, info algInfo) (crypto.PublicKey, error) {
	if info.isRSA() {
		attrs, err := h.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("hsm: read RSA public key: %w", err)
		}
		n := new(big.Int).SetBytes(attrs[0].Value)
		e := new(big.Int).SetBytes(attrs[1].Value)
		if n.BitLen() != info.rsaBits || !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("hsm: token returned an RSA public key of the wrong size")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	}
	attrs, err := h.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("hsm: read EC public key: %w", err)
	}
	return parseECPoint(info.curve, attrs[0].Value)
}

// parseECPoint accepts CKA_EC_POINT as a DER OCTET STRING wrapping the
// uncompressed point (PKCS#11 and SoftHSM) or as the bare point.
func parseECPoint(curve elliptic.Curve, v []byte) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	point := v
	if len(v) != 1+2*size {
		var inner []byte
		rest, err := asn1.Unmarshal(v, &inner)
		if err != nil || len(rest) != 0 {
			return nil, errors.New("hsm: malformed CKA_EC_POINT")
		}
		point = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("hsm: CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

// unwrapSigner unwraps k's blob in session s as a non-extractable session
// object and checks that it belongs to k.Public. The object is destroyed on
// any error.
func (h *HSM) unwrapSigner(s pkcs11.SessionHandle, k *Key, info algInfo) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, info.keyType()),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
	if len(k.Blob) == 0 {
		return 0, fmt.Errorf("hsm: key %q: empty blob", k.ID)
	}
	wrapKey, err := h.masterKeyIn(s, false)
	if err != nil {
		return 0, err
	}
	o, err := h.ctx.UnwrapKey(s, wrapMech, wrapKey, k.Blob, tmpl)
	if err != nil {
		return 0, fmt.Errorf("hsm: unwrap key %q: %w", k.ID, err)
	}
	if err := h.checkUnwrapped(s, o, k, info); err != nil {
		_ = h.ctx.DestroyObject(s, o)
		return 0, err
	}
	h.unwraps.Add(1)
	return o, nil
}

// selfTestDigest is signed once per unwrap of an EC key to prove the key
// matches the presented public key.
var selfTestDigest = func() []byte {
	d := make([]byte, 64)
	copy(d, "rssp hsm unwrap self-test")
	return d
}()

// checkUnwrapped refuses a blob that does not belong to k.Public: RSA by
// comparing the (non-sensitive) modulus and exponent, EC by checking the
// curve and verifying a test signature.
func (h *HSM) checkUnwrapped(s pkcs11.SessionHandle, o pkcs11.ObjectHandle, k *Key, info algInfo) error {
	if info.isRSA() {
		pub := k.Public.(*rsa.PublicKey)
		attrs, err := h.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return fmt.Errorf("hsm: read unwrapped key %q: %w", k.ID, err)
		}
		if !bytes.Equal(attrs[0].Value, pub.N.Bytes()) ||
			new(big.Int).SetBytes(attrs[1].Value).Cmp(big.NewInt(int64(pub.E))) != 0 {
			return fmt.Errorf("%w: key %q", ErrKeyMismatch, k.ID)
		}
		return nil
	}
	pub := k.Public.(*ecdsa.PublicKey)
	attrs, err := h.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil)})
	if err != nil {
		return fmt.Errorf("hsm: read unwrapped key %q: %w", k.ID, err)
	}
	if !bytes.Equal(attrs[0].Value, info.ecParams) {
		return fmt.Errorf("%w: key %q: curve", ErrKeyMismatch, k.ID)
	}
	digest := selfTestDigest[:min(len(selfTestDigest), (info.curve.Params().BitSize+7)/8)]
	if err := h.ctx.SignInit(s, mechECDSA, o); err != nil {
		return fmt.Errorf("hsm: self-test key %q: %w", k.ID, err)
	}
	raw, err := h.ctx.Sign(s, digest)
	if err != nil {
		return fmt.Errorf("hsm: self-test key %q: %w", k.ID, err)
	}
	half := len(raw) / 2
	r := new(big.Int).SetBytes(raw[:half])
	ss := new(big.Int).SetBytes(raw[half:])
	if len(raw)%2 != 0 || !ecdsa.Verify(pub, digest, r, ss) {
		return fmt.Errorf("%w: key %q", ErrKeyMismatch, k.ID)
	}
	return nil
}
