package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/hsm/hsmtest"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

// fixtures caches one generated key per algorithm for the whole run.
var fixtures struct {
	sync.Mutex
	m map[hsm.KeyAlgorithm]hsm.Key
}

func fixture(t testing.TB, alg hsm.KeyAlgorithm) hsm.Key {
	t.Helper()
	h := hsmtest.HSM(t)
	fixtures.Lock()
	defer fixtures.Unlock()
	if k, ok := fixtures.m[alg]; ok {
		return k
	}
	k := newKey(t, h, alg, "fixture-"+string(alg))
	if fixtures.m == nil {
		fixtures.m = map[hsm.KeyAlgorithm]hsm.Key{}
	}
	fixtures.m[alg] = k
	return k
}

func newKey(t testing.TB, h *hsm.HSM, alg hsm.KeyAlgorithm, id string) hsm.Key {
	t.Helper()
	blob, pub, err := h.GenerateWrappedKey(context.Background(), alg)
	if err != nil {
		t.Fatalf("GenerateWrappedKey(%s): %v", alg, err)
	}
	return hsm.Key{ID: id, Blob: blob, Algorithm: alg, Public: pub}
}

// openExtra opens a second HSM on the test token with a modified config
// and closes it when the test ends.
func openExtra(t testing.TB, mod func(*hsm.Config)) *hsm.HSM {
	t.Helper()
	hsmtest.HSM(t) // token and master keys exist
	cfg := hsmtest.Config(t)
	mod(&cfg)
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func digestOf(hash crypto.Hash, msg string) []byte {
	hh := hash.New()
	hh.Write([]byte(msg))
	return hh.Sum(nil)
}

// verify checks sig with the standard library for the options used.
func verify(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		switch o := opts.(type) {
		case *rsa.PSSOptions:
			return rsa.VerifyPSS(p, o.Hash, digest, sig, o)
		case *hsm.PSSOptions:
			return verifyPSS(p, o.Hash, o.MGFHash, digest, sig, pssSalt(p, o.Hash, o.SaltLength))
		case hsm.PSSOptions:
			return verifyPSS(p, o.Hash, o.MGFHash, digest, sig, pssSalt(p, o.Hash, o.SaltLength))
		}
		return rsa.VerifyPKCS1v15(p, opts.HashFunc(), digest, sig)
	case *ecdsa.PublicKey:
		var v struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(sig, &v)
		if err != nil || len(rest) != 0 || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
			return fmt.Errorf("not a DER SEQUENCE of two positive INTEGERs: %v", err)
		}
		if !ecdsa.VerifyASN1(p, digest, sig) {
			return errors.New("ecdsa.VerifyASN1 failed")
		}
		return nil
	}
	return fmt.Errorf("unexpected public key %T", pub)
}

func pssSalt(p *rsa.PublicKey, h crypto.Hash, salt int) int {
	switch salt {
	case rsa.PSSSaltLengthAuto:
		return (p.N.BitLen()-1+7)/8 - h.Size() - 2
	case rsa.PSSSaltLengthEqualsHash:
		return h.Size()
	}
	return salt
}

// verifyPSS is EMSA-PSS-VERIFY (RFC 8017 9.1.2) with an independent MGF1
// hash, which crypto/rsa does not offer. It uses only math/big and the
// standard hashes.
func verifyPSS(pub *rsa.PublicKey, hash, mgfHash crypto.Hash, digest, sig []byte, saltLen int) error {
	k := (pub.N.BitLen() + 7) / 8
	if len(sig) != k {
		return errors.New("bad signature length")
	}
	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(pub.E)), pub.N)
	emBits := pub.N.BitLen() - 1
	emLen := (emBits + 7) / 8
	if m.BitLen() > emBits {
		return errors.New("representative too large")
	}
	em := m.FillBytes(make([]byte, emLen))
	hLen := hash.Size()
	if emLen < hLen+saltLen+2 || em[emLen-1] != 0xbc {
		return errors.New("inconsistent")
	}
	db := append([]byte(nil), em[:emLen-hLen-1]...)
	hv := em[emLen-hLen-1 : emLen-1]
	// MGF1
	var mask []byte
	for c := uint32(0); len(mask) < len(db); c++ {
		hh := mgfHash.New()
		hh.Write(hv)
		hh.Write([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
		mask = hh.Sum(mask)
	}
	for i := range db {
		db[i] ^= mask[i]
	}
	db[0] &= 0xff >> (8*emLen - emBits)
	ps := emLen - hLen - saltLen - 2
	for _, b := range db[:ps] {
		if b != 0 {
			return errors.New("nonzero padding")
		}
	}
	if db[ps] != 1 {
		return errors.New("missing 0x01")
	}
	hh := hash.New()
	hh.Write(make([]byte, 8))
	hh.Write(digest)
	hh.Write(db[len(db)-saltLen:])
	if string(hh.Sum(nil)) != string(hv) {
		return errors.New("hash mismatch")
	}
	return nil
}
