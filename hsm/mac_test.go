package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
)

func TestMAC(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	data := []byte("credential-42|blob-sha256|owner")
	m1, err := h.MAC(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := h.MAC(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m1) != 32 || !bytes.Equal(m1, m2) {
		t.Fatalf("MAC not deterministic or wrong size: %x %x", m1, m2)
	}
	empty, err := h.MAC(ctx, nil)
	if err != nil || len(empty) != 32 {
		t.Fatalf("MAC(nil) = %x, %v", empty, err)
	}
	tampered := append([]byte(nil), m1...)
	tampered[5] ^= 0x80
	for _, tc := range []struct {
		name string
		data []byte
		mac  []byte
		want bool
	}{
		{"valid", data, m1, true},
		{"other data", []byte("credential-43|blob-sha256|owner"), m1, false},
		{"flipped bit", data, tampered, false},
		{"truncated", data, m1[:16], false},
		{"empty mac", data, nil, false},
		{"empty data valid", nil, empty, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.VerifyMAC(ctx, tc.data, tc.mac)
			if err != nil || ok != tc.want {
				t.Fatalf("VerifyMAC = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestWrappedSecretHMAC(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	_, sessBefore, _ := h.ObjectCounts(ctx)
	seed20 := []byte("12345678901234567890") // RFC 6238 SHA-1 seed
	seed32 := []byte("12345678901234567890123456789012")
	seed64 := []byte("1234567890123456789012345678901234567890123456789012345678901234")
	seed104 := bytes.Repeat([]byte{0xa5}, 104) // longer than the SHA-1/256 block
	counter := func(c uint64) []byte { return binary.BigEndian.AppendUint64(nil, c) }
	for _, tc := range []struct {
		name string
		seed []byte
		hash crypto.Hash
		hf   func() hash.Hash
	}{
		{"SHA-1/20-byte seed", seed20, crypto.SHA1, sha1.New},
		{"SHA-256/20-byte seed", seed20, crypto.SHA256, sha256.New},
		{"SHA-512/20-byte seed", seed20, crypto.SHA512, sha512.New},
		{"SHA-256/32-byte seed", seed32, crypto.SHA256, sha256.New},
		{"SHA-512/64-byte seed", seed64, crypto.SHA512, sha512.New},
		{"SHA-1/104-byte seed", seed104, crypto.SHA1, sha1.New},
		{"SHA-256/104-byte seed", seed104, crypto.SHA256, sha256.New},
		{"SHA-512/104-byte seed", seed104, crypto.SHA512, sha512.New},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := h.WrapSecret(ctx, tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(blob, tc.seed[:16]) {
				t.Fatal("blob contains the seed in clear")
			}
			for _, c := range []uint64{0, 1, 37037036} {
				got, err := h.HMACWrapped(ctx, blob, tc.hash, counter(c))
				if err != nil {
					t.Fatal(err)
				}
				mac := hmac.New(tc.hf, tc.seed)
				mac.Write(counter(c))
				if want := mac.Sum(nil); !bytes.Equal(got, want) {
					t.Fatalf("counter %d: HSM %x, crypto/hmac %x", c, got, want)
				}
			}
		})
	}
	// RFC 6238 appendix B, T = 59 s (counter 1), SHA-1, 8 digits: 94287082.
	blob, err := h.WrapSecret(ctx, seed20)
	if err != nil {
		t.Fatal(err)
	}
	mac, err := h.HMACWrapped(ctx, blob, crypto.SHA1, counter(1))
	if err != nil {
		t.Fatal(err)
	}
	off := mac[len(mac)-1] & 0x0f
	code := (binary.BigEndian.Uint32(mac[off:]) & 0x7fffffff) % 100000000
	if code != 94287082 {
		t.Fatalf("TOTP = %08d, want 94287082", code)
	}
	if _, sess, _ := h.ObjectCounts(ctx); sess != sessBefore {
		t.Fatalf("session objects %d -> %d: secrets must be destroyed after use", sessBefore, sess)
	}

	for _, tc := range []struct {
		name string
		blob []byte
		hash crypto.Hash
		want error
	}{
		{"SHA-384 unsupported", blob, crypto.SHA384, hsm.ErrUnsupported},
		{"MD5 unsupported", blob, crypto.MD5, hsm.ErrUnsupported},
		{"tampered blob", append(append([]byte(nil), blob[:len(blob)-1]...), blob[len(blob)-1]^1), crypto.SHA1, nil},
		{"empty blob", nil, crypto.SHA1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.HMACWrapped(ctx, tc.blob, tc.hash, counter(1))
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := h.WrapSecret(ctx, nil); err == nil {
		t.Fatal("WrapSecret(nil) succeeded")
	}
	// 100 bytes would come back from SoftHSM2 with RFC 5649 padding attached.
	if _, err := h.WrapSecret(ctx, bytes.Repeat([]byte{1}, 100)); !errors.Is(err, hsm.ErrUnsupported) {
		t.Fatalf("WrapSecret(100 bytes) = %v, want ErrUnsupported", err)
	}
}

func TestMasterKeys(t *testing.T) {
	h := hsmtest.HSM(t) // InitMasterKeys already ran
	ctx := context.Background()
	tok, _, _ := h.ObjectCounts(ctx)
	for i := range 2 {
		created, err := h.InitMasterKeys(ctx)
		if err != nil || created {
			t.Fatalf("InitMasterKeys call %d = %v, %v; want false, nil", i+2, created, err)
		}
	}
	if tok2, _, _ := h.ObjectCounts(ctx); tok2 != tok || tok < 2 {
		t.Fatalf("token objects %d -> %d: a repeated InitMasterKeys must not create keys", tok, tok2)
	}
	if err := h.CheckMasterKeys(ctx); err != nil {
		t.Fatal(err)
	}
	sensitive, extractable, trusted, token, err := h.WrapKeyAttrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sensitive || extractable || !token {
		t.Fatalf("wrap key: sensitive=%v extractable=%v token=%v", sensitive, extractable, token)
	}
	if trusted != h.WrapWithTrusted() {
		t.Fatalf("WrapWithTrusted()=%v but CKA_TRUSTED=%v", h.WrapWithTrusted(), trusted)
	}
	t.Logf("wrap key CKA_TRUSTED=%v (SoftHSM2 refuses CKA_TRUSTED=true from the user)", trusted)

	for _, tc := range []struct {
		name string
		mod  func(*hsm.Config)
	}{
		{"missing wrap key", func(c *hsm.Config) { c.WrapKey = "pkcs11:object=no-such-wrap;type=secret-key" }},
		{"missing MAC key", func(c *hsm.Config) { c.MACKey = "pkcs11:object=rssp-mac;id=%99" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := openExtra(t, tc.mod)
			if err := o.CheckMasterKeys(ctx); !errors.Is(err, hsm.ErrKeyNotFound) {
				t.Fatalf("CheckMasterKeys = %v, want ErrKeyNotFound", err)
			}
			if _, _, err := o.GenerateWrappedKey(ctx, hsm.ECP256); !errors.Is(err, hsm.ErrKeyNotFound) && tc.name == "missing wrap key" {
				t.Fatalf("GenerateWrappedKey = %v, want ErrKeyNotFound", err)
			}
		})
	}
}

// Creating master keys on a fresh token under custom URIs, with an id.
func TestInitMasterKeysCustomURI(t *testing.T) {
	o := openExtra(t, func(c *hsm.Config) {
		c.WrapKey = "pkcs11:token=rssp-test;object=alt-wrap;id=%01%02;type=secret-key"
		c.MACKey = "pkcs11:object=alt%20mac"
	})
	ctx := context.Background()
	if err := o.CheckMasterKeys(ctx); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("before init: %v", err)
	}
	created, err := o.InitMasterKeys(ctx)
	if err != nil || !created {
		t.Fatalf("InitMasterKeys = %v, %v", created, err)
	}
	if created, err = o.InitMasterKeys(ctx); err != nil || created {
		t.Fatalf("second InitMasterKeys = %v, %v", created, err)
	}
	if err := o.CheckMasterKeys(ctx); err != nil {
		t.Fatal(err)
	}
	k := newKey(t, o, hsm.ECP256, "alt")
	d := make([]byte, 32)
	sig, err := o.Signer(k).Sign(nil, d, crypto.SHA256)
	if err != nil || verify(k.Public, d, sig, crypto.SHA256) != nil {
		t.Fatalf("sign under alternate wrap key: %v", err)
	}
	// A blob made under one wrap key does not unwrap under another.
	if _, err := hsmtest.HSM(t).Signer(k).Sign(nil, d, crypto.SHA256); err == nil {
		t.Fatal("blob unwrapped under a different master key")
	}
	m1, _ := o.MAC(ctx, d)
	m2, _ := hsmtest.HSM(t).MAC(ctx, d)
	if bytes.Equal(m1, m2) {
		t.Fatal("two MAC keys gave the same MAC")
	}
}

// Documents what the token does with CKA_TRUSTED=true from the user, and
// that WrapWithTrusted follows it. SoftHSM2 2.6.1 refuses it with
// CKR_ATTRIBUTE_READ_ONLY (only the SO may set it).
func TestTrustedAttribute(t *testing.T) {
	h := hsmtest.HSM(t)
	raw := h.Raw()
	s, err := raw.OpenSession()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Ctx.CloseSession(s)
	o, err := raw.Ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, true),
	})
	if err == nil {
		raw.Ctx.DestroyObject(s, o)
		t.Logf("token accepts CKA_TRUSTED=true from the user; WrapWithTrusted=%v", h.WrapWithTrusted())
		return
	}
	t.Logf("token refuses CKA_TRUSTED=true from the user: %v", err)
	if h.WrapWithTrusted() {
		t.Fatal("WrapWithTrusted is true although the token refuses CKA_TRUSTED")
	}
}

// TestMACSurvivesOwnerSessionLoss: MACs use a session-object copy of the MAC
// key held by the owner session; when that session dies the copy is made
// again and MACs stay the same.
func TestMACSurvivesOwnerSessionLoss(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	data := []byte("record")
	before, err := h.MAC(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	h.BreakOwnerSession()
	after, err := h.MAC(ctx, data)
	if err != nil {
		t.Fatalf("MAC after losing the owner session: %v", err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("MAC changed after the MAC key copy was made again")
	}
}
