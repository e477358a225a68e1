package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
)

func TestParseKeyAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    hsm.KeyAlgorithm
		wantErr bool
	}{
		{"RSA-2048", hsm.RSA2048, false},
		{"RSA-3072", hsm.RSA3072, false},
		{"RSA-4096", hsm.RSA4096, false},
		{"EC-P256", hsm.ECP256, false},
		{"EC-P384", hsm.ECP384, false},
		{"EC-P521", hsm.ECP521, false},
		{"rsa-2048", "", true},
		{"RSA-1024", "", true},
		{"", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := hsm.ParseKeyAlgorithm(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseKeyAlgorithm(%q) = %q, %v", tc.in, got, err)
			}
			if err != nil && !errors.Is(err, hsm.ErrUnsupported) {
				t.Fatalf("error %v is not ErrUnsupported", err)
			}
		})
	}
}

func TestGenerateWrappedKey(t *testing.T) {
	h := hsmtest.HSM(t)
	ctx := context.Background()
	tokBefore, _, err := h.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg   hsm.KeyAlgorithm
		bits  int
		curve elliptic.Curve
		hash  crypto.Hash
	}{
		{hsm.RSA2048, 2048, nil, crypto.SHA256},
		{hsm.RSA3072, 3072, nil, crypto.SHA384},
		{hsm.RSA4096, 4096, nil, crypto.SHA512},
		{hsm.ECP256, 0, elliptic.P256(), crypto.SHA256},
		{hsm.ECP384, 0, elliptic.P384(), crypto.SHA384},
		{hsm.ECP521, 0, elliptic.P521(), crypto.SHA512},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			k := fixture(t, tc.alg)
			if len(k.Blob) == 0 {
				t.Fatal("empty blob")
			}
			switch p := k.Public.(type) {
			case *rsa.PublicKey:
				if tc.bits == 0 || p.N.BitLen() != tc.bits || p.E != 65537 {
					t.Fatalf("RSA key: %d bits, e=%d", p.N.BitLen(), p.E)
				}
			case *ecdsa.PublicKey:
				if tc.curve == nil || p.Curve != tc.curve {
					t.Fatalf("EC key on %v", p.Curve.Params().Name)
				}
			default:
				t.Fatalf("public key type %T", k.Public)
			}
			d := digestOf(tc.hash, "keygen "+string(tc.alg))
			sig, err := h.Signer(k).Sign(nil, d, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			if err := verify(k.Public, d, sig, tc.hash); err != nil {
				t.Fatal(err)
			}
		})
	}
	tokAfter, _, err := h.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tokAfter != tokBefore {
		t.Fatalf("token objects %d -> %d: key generation must not create token objects", tokBefore, tokAfter)
	}
}

func TestSignRSA(t *testing.T) {
	h := hsmtest.HSM(t)
	k := fixture(t, hsm.RSA2048)
	s := h.Signer(k)
	if s.Public() != k.Public {
		t.Fatal("Public() differs from Key.Public")
	}
	for _, tc := range []struct {
		name string
		hash crypto.Hash
		opts crypto.SignerOpts
	}{
		{"PKCS1v15/SHA-224", crypto.SHA224, crypto.SHA224},
		{"PKCS1v15/SHA-256", crypto.SHA256, crypto.SHA256},
		{"PKCS1v15/SHA-384", crypto.SHA384, crypto.SHA384},
		{"PKCS1v15/SHA-512", crypto.SHA512, crypto.SHA512},
		{"PSS/SHA-256/salt=32", crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32}},
		{"PSS/SHA-256/salt=EqualsHash", crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"PSS/SHA-512/salt=Auto", crypto.SHA512, &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthAuto}},
		{"hsm.PSS/SHA-256/salt=222", crypto.SHA256, &hsm.PSSOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256, SaltLength: 222}},
		{"hsm.PSS/SHA-256/salt=32 by value", crypto.SHA256, hsm.PSSOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256, SaltLength: 32}},
		{"hsm.PSS/SHA-384/salt=48", crypto.SHA384, &hsm.PSSOptions{Hash: crypto.SHA384, MGFHash: crypto.SHA384, SaltLength: 48}},
		{"hsm.PSS/SHA-512/salt=Auto", crypto.SHA512, &hsm.PSSOptions{Hash: crypto.SHA512, MGFHash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthAuto}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := digestOf(tc.hash, tc.name)
			sig, err := s.Sign(nil, d, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 256 {
				t.Fatalf("signature length %d", len(sig))
			}
			vo := tc.opts
			if o, ok := vo.(*hsm.PSSOptions); ok && o.SaltLength == 222 {
				// crypto/rsa can check this one too.
				if err := rsa.VerifyPSS(k.Public.(*rsa.PublicKey), crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: 222}); err != nil {
					t.Fatalf("rsa.VerifyPSS: %v", err)
				}
			}
			if err := verify(k.Public, d, sig, vo); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignECDSA(t *testing.T) {
	h := hsmtest.HSM(t)
	for _, tc := range []struct {
		alg  hsm.KeyAlgorithm
		hash crypto.Hash
	}{
		{hsm.ECP256, crypto.SHA256},
		{hsm.ECP256, crypto.SHA384},
		{hsm.ECP384, crypto.SHA384},
		{hsm.ECP521, crypto.SHA512},
		{hsm.ECP521, crypto.SHA256},
	} {
		t.Run(string(tc.alg)+"/"+tc.hash.String(), func(t *testing.T) {
			k := fixture(t, tc.alg)
			s := h.Signer(k)
			for i := range 20 { // enough to hit r or s with a high bit / leading zero
				d := digestOf(tc.hash, string(rune('a'+i)))
				sig, err := s.Sign(nil, d, tc.hash)
				if err != nil {
					t.Fatal(err)
				}
				if err := verify(k.Public, d, sig, tc.hash); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	h := hsmtest.HSM(t)
	rsaKey := fixture(t, hsm.RSA2048)
	ecKey := fixture(t, hsm.ECP256)
	ec384 := fixture(t, hsm.ECP384)
	d256 := digestOf(crypto.SHA256, "x")
	for _, tc := range []struct {
		name   string
		key    hsm.Key
		digest []byte
		opts   crypto.SignerOpts
		want   error
	}{
		{"RSA/short digest", rsaKey, d256[:31], crypto.SHA256, hsm.ErrBadDigest},
		{"RSA/SHA-384 opts, SHA-256 digest", rsaKey, d256, crypto.SHA384, hsm.ErrBadDigest},
		{"RSA/PSS long digest", rsaKey, append(d256, 0), &rsa.PSSOptions{Hash: crypto.SHA256}, hsm.ErrBadDigest},
		{"EC/short digest", ecKey, d256[:20], crypto.SHA256, hsm.ErrBadDigest},
		{"EC/empty digest", ecKey, nil, crypto.SHA256, hsm.ErrBadDigest},
		{"RSA/SHA-1 refused", rsaKey, d256[:20], crypto.SHA1, hsm.ErrUnsupported},
		{"RSA/raw (hash 0) refused", rsaKey, d256, crypto.Hash(0), hsm.ErrUnsupported},
		{"RSA/MD5 refused", rsaKey, d256[:16], crypto.MD5, hsm.ErrUnsupported},
		{"RSA/PSS salt 223 too long", rsaKey, d256, &hsm.PSSOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256, SaltLength: 223}, hsm.ErrUnsupported},
		{"RSA/PSS MGF1 SHA-1", rsaKey, d256, &hsm.PSSOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1, SaltLength: 32}, hsm.ErrUnsupported},
		// SoftHSM2 requires the MGF1 hash to equal the message hash.
		{"RSA/PSS MGF1 hash differs (token refuses)", rsaKey, digestOf(crypto.SHA384, "x"), &hsm.PSSOptions{Hash: crypto.SHA384, MGFHash: crypto.SHA256, SaltLength: 48}, hsm.ErrUnsupported},
		{"RSA/PSS negative salt", rsaKey, d256, &hsm.PSSOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256, SaltLength: -7}, hsm.ErrUnsupported},
		{"EC/PSS options", ecKey, d256, &rsa.PSSOptions{Hash: crypto.SHA256}, hsm.ErrUnsupported},
		{"nil opts", ecKey, d256, nil, hsm.ErrUnsupported},
		{"unknown algorithm", hsm.Key{ID: "x", Blob: ecKey.Blob, Algorithm: "EC-P999", Public: ecKey.Public}, d256, crypto.SHA256, hsm.ErrUnsupported},
		{"public key of other curve", hsm.Key{ID: "x", Blob: ecKey.Blob, Algorithm: hsm.ECP256, Public: ec384.Public}, d256, crypto.SHA256, hsm.ErrKeyMismatch},
		{"RSA public for EC key", hsm.Key{ID: "x", Blob: ecKey.Blob, Algorithm: hsm.ECP256, Public: rsaKey.Public}, d256, crypto.SHA256, hsm.ErrKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Signer(tc.key).Sign(nil, tc.digest, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A blob that does not unwrap, or that unwraps to a key other than the
// presented public key, must fail cleanly.
func TestBadBlobs(t *testing.T) {
	h := hsmtest.HSM(t)
	rsaA := fixture(t, hsm.RSA2048)
	ecA := fixture(t, hsm.ECP256)
	ecB := newKey(t, h, hsm.ECP256, "other")
	rsaB := newKey(t, h, hsm.RSA2048, "other-rsa")
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i%len(c)] ^= 0x01
		return c
	}
	for _, tc := range []struct {
		name string
		key  hsm.Key
		hash crypto.Hash
		want error // nil: any error
	}{
		{"RSA flipped first byte", hsm.Key{ID: "t1", Blob: flip(rsaA.Blob, 0), Algorithm: hsm.RSA2048, Public: rsaA.Public}, crypto.SHA256, nil},
		{"RSA flipped middle byte", hsm.Key{ID: "t2", Blob: flip(rsaA.Blob, len(rsaA.Blob)/2), Algorithm: hsm.RSA2048, Public: rsaA.Public}, crypto.SHA256, nil},
		{"EC flipped last byte", hsm.Key{ID: "t3", Blob: flip(ecA.Blob, len(ecA.Blob)-1), Algorithm: hsm.ECP256, Public: ecA.Public}, crypto.SHA256, nil},
		{"EC truncated", hsm.Key{ID: "t4", Blob: ecA.Blob[:len(ecA.Blob)-8], Algorithm: hsm.ECP256, Public: ecA.Public}, crypto.SHA256, nil},
		{"empty blob", hsm.Key{ID: "t5", Blob: nil, Algorithm: hsm.ECP256, Public: ecA.Public}, crypto.SHA256, nil},
		{"EC blob of B with public key of A", hsm.Key{ID: "t6", Blob: ecB.Blob, Algorithm: hsm.ECP256, Public: ecA.Public}, crypto.SHA256, hsm.ErrKeyMismatch},
		{"RSA blob of B with public key of A", hsm.Key{ID: "t7", Blob: rsaB.Blob, Algorithm: hsm.RSA2048, Public: rsaA.Public}, crypto.SHA256, hsm.ErrKeyMismatch},
		{"EC blob declared as RSA", hsm.Key{ID: "t8", Blob: ecA.Blob, Algorithm: hsm.RSA2048, Public: rsaA.Public}, crypto.SHA256, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the failure is not cached
				sig, err := h.Signer(tc.key).Sign(nil, digestOf(tc.hash, "m"), tc.hash)
				if err == nil {
					t.Fatalf("signed with a bad blob (%d bytes)", len(sig))
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			}
		})
	}
	// The good keys still work.
	d := digestOf(crypto.SHA256, "after")
	sig, err := h.Signer(ecA).Sign(nil, d, crypto.SHA256)
	if err != nil || verify(ecA.Public, d, sig, crypto.SHA256) != nil {
		t.Fatalf("good key after bad blobs: %v", err)
	}
}

func TestCacheDisabled(t *testing.T) {
	h := openExtra(t, func(c *hsm.Config) { c.KeyCacheSize = -1; c.PoolSize = 1 })
	ctx := context.Background()
	hsmtest.HSM(t).FlushKeyCache()
	_, base, err := h.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP384} {
		k := fixture(t, alg)
		hash := crypto.SHA384
		d := digestOf(hash, "uncached")
		for range 3 {
			sig, err := h.Signer(k).Sign(nil, d, hash)
			if err != nil {
				t.Fatal(err)
			}
			if err := verify(k.Public, d, sig, hash); err != nil {
				t.Fatal(err)
			}
		}
	}
	if h.Unwraps() != 6 {
		t.Fatalf("unwraps = %d, want one per signature (6)", h.Unwraps())
	}
	if _, n, _ := h.ObjectCounts(ctx); n != base {
		t.Fatalf("session objects %d, want %d: uncached signing must destroy its objects", n, base)
	}
}
