package sam_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// pssParams builds DER RSASSA-PSS-params with SHA-256, MGF1-SHA-256 and salt.
func pssParams(t testing.TB, salt int) []byte {
	t.Helper()
	sha256ID := []byte{0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00}
	type algID struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue
	}
	mgf, err := asn1.Marshal(algID{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}, Parameters: asn1.RawValue{FullBytes: sha256ID}})
	if err != nil {
		t.Fatal(err)
	}
	saltDER, _ := asn1.Marshal(salt)
	explicit := func(tag int, inner []byte) []byte {
		b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner})
		return b
	}
	var body []byte
	body = append(body, explicit(0, sha256ID)...)
	body = append(body, explicit(1, mgf)...)
	body = append(body, explicit(2, saltDER)...)
	out, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	return out
}

// TestSignatureAlgorithms signs through the full SAM path and verifies each
// signature with the standard library only.
func TestSignatureAlgorithms(t *testing.T) {
	f := newFixture(t, store.DriverSQLite, testConfig())
	sg := f.signer("signer-1")
	rsaCred := f.credential(sg, hsm.RSA2048, 2, 10)
	rsaPub := mustPub(t, rsaCred).(*rsa.PublicKey)
	sha384 := func(s string) []byte { h := sha512.Sum384([]byte(s)); return h[:] }
	sha512d := func(s string) []byte { h := sha512.Sum512([]byte(s)); return h[:] }

	type tc struct {
		name     string
		cred     *store.Credential
		signAlgo string
		hashOID  string
		params   []byte
		digest   []byte
		check    func(t *testing.T, pub crypto.PublicKey, d, sig []byte)
	}
	pkcs1 := func(h crypto.Hash) func(*testing.T, crypto.PublicKey, []byte, []byte) {
		return func(t *testing.T, pub crypto.PublicKey, d, sig []byte) {
			if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, d, sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	pss := func(salt int) func(*testing.T, crypto.PublicKey, []byte, []byte) {
		return func(t *testing.T, pub crypto.PublicKey, d, sig []byte) {
			if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ecDER := func(t *testing.T, pub crypto.PublicKey, d, sig []byte) {
		var v struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 {
			t.Fatalf("ECDSA signature is not a DER Ecdsa-Sig-Value: %x", sig)
		}
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d, sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	}
	cases := []tc{
		{"RSA PKCS#1 v1.5 SHA-256", rsaCred, sam.OIDSHA256WithRSA, "", nil, digest("a"), pkcs1(crypto.SHA256)},
		{"RSA PKCS#1 v1.5 rsaEncryption + SHA-384", rsaCred, sam.OIDRSAEncryption, sam.OIDSHA384, nil, sha384("a"), pkcs1(crypto.SHA384)},
		{"RSA PKCS#1 v1.5 SHA-512", rsaCred, sam.OIDSHA512WithRSA, "", nil, sha512d("a"), pkcs1(crypto.SHA512)},
		{"RSA-PSS salt 32", rsaCred, sam.OIDRSAPSS, "", pssParams(t, 32), digest("b"), pss(32)},
		{"RSA-PSS salt 222 (RSA-2048 maximum)", rsaCred, sam.OIDRSAPSS, sam.OIDSHA256, pssParams(t, 222), digest("c"), pss(222)},
	}
	for _, curve := range []struct {
		alg  hsm.KeyAlgorithm
		algo string
		oid  string
		d    []byte
	}{
		{hsm.ECP256, sam.OIDECDSAWithSHA256, sam.OIDSHA256, digest("e")},
		{hsm.ECP384, sam.OIDECDSAWithSHA384, sam.OIDSHA384, sha384("e")},
		{hsm.ECP521, sam.OIDECPublicKey, sam.OIDSHA512, sha512d("e")},
	} {
		c := f.credential(sg, curve.alg, 2, 10)
		hashOID := ""
		if curve.algo == sam.OIDECPublicKey {
			hashOID = curve.oid
		}
		cases = append(cases, tc{"ECDSA " + string(curve.alg), c, curve.algo, hashOID, nil, curve.d, ecDER})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oid := c.hashOID
			if oid == "" {
				oid = map[int]string{32: sam.OIDSHA256, 48: sam.OIDSHA384, 64: sam.OIDSHA512}[len(c.digest)]
			}
			f.clock.Advance(30e9)
			sad, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.cred.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: oid, Hashes: [][]byte{c.digest}, PIN: testPIN, OTP: f.totp()})
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := f.sam.SignHash(ctx, sam.SignRequest{CredentialID: c.cred.ID, SignerID: sg, ClientID: testClient, SAD: sad.Token,
				HashAlgorithm: c.hashOID, SignAlgorithm: c.signAlgo, SignAlgoParams: c.params, Hashes: [][]byte{c.digest}})
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, mustPub(t, c.cred), c.digest, sigs[0])
		})
	}

	t.Run("PSS salt beyond the key size is refused", func(t *testing.T) {
		sad := f.authorize(rsaCred, 1, digest("x"))
		_, err := f.sam.SignHash(ctx, sam.SignRequest{CredentialID: rsaCred.ID, SignerID: sg, ClientID: testClient, SAD: sad.Token,
			SignAlgorithm: sam.OIDRSAPSS, SignAlgoParams: pssParams(t, rsaPub.Size()-32-1), Hashes: [][]byte{digest("x")}})
		if !errors.Is(err, sam.ErrSignAlgoParams) {
			t.Fatalf("got %v", err)
		}
	})
}

func mustPub(t testing.TB, c *store.Credential) crypto.PublicKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestSwappedKeyBlobs: a database administrator who swaps the wrapped keys of
// two credentials gets no signature, and the SADs are not consumed.
func TestSwappedKeyBlobs(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		a := f.credential(f.signer("signer-a"), hsm.ECP256, 2, 2)
		b := f.credential(f.signer("signer-b"), hsm.ECP256, 2, 2)
		h := digest("doc")
		sadA := f.authorize(a, 2, h, h)
		if _, err := f.sam.SignHash(ctx, f.signReq(a, sadA.Token, h)); err != nil {
			t.Fatal(err) // also warms the HSM key cache for a
		}
		swap := func(x, y *store.Credential, withMAC bool) {
			cols := map[string]any{"key_blob": y.KeyBlob}
			if withMAC {
				cols["key_mac"] = y.KeyMAC
			}
			if err := f.st.DB().Model(&store.Credential{}).Where("id = ?", x.ID).Updates(cols).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, withMAC := range []bool{true, false} {
			swap(a, b, withMAC)
			swap(b, a, withMAC)
			for _, c := range []*store.Credential{a, b} {
				sad := sadA
				if c == b {
					sad = f.authorize(b, 1, h)
				}
				sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h))
				if !errors.Is(err, sam.ErrInternal) || sigs != nil {
					t.Fatalf("signing with a swapped blob (MAC swapped too: %v): %v", withMAC, err)
				}
			}
			swap(a, a, true) // restore a
			swap(b, b, true)
			if _, err := f.sam.SignHash(ctx, f.signReq(a, sadA.Token, h)); err != nil {
				t.Fatalf("after restoring the blobs the unconsumed SAD should work: %v", err)
			}
			sadA = f.authorize(a, 2, h, h)
		}
	})
}

// TestTokenObjectsDoNotGrow: 1000 signatures through the SAM leave the token
// with the same number of objects, and session objects stay within the cache.
func TestTokenObjectsDoNotGrow(t *testing.T) {
	f := newFixture(t, store.DriverSQLite, testConfig())
	sg := f.signer("signer-1")
	const creds = 20 // more keys than the test HSM's cache of 16, to force evictions
	var cs []*store.Credential
	for i := 0; i < creds; i++ {
		cs = append(cs, f.credential(sg, hsm.ECP256, 2, 50))
	}
	f.keys.FlushKeyCache()
	tokenBefore, sessionBefore, err := f.keys.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for round := 0; signed < 1000; round++ {
		c := cs[round%creds]
		hashes := make([][]byte, 50)
		for i := range hashes {
			hashes[i] = randomDigest()
		}
		sad := f.authorize(c, 50, hashes...)
		sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, hashes...))
		if err != nil {
			t.Fatal(err)
		}
		for i, sig := range sigs {
			verifyEC(t, c, hashes[i], sig)
		}
		signed += len(sigs)
	}
	tokenAfter, sessionAfter, err := f.keys.ObjectCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tokenAfter != tokenBefore {
		t.Fatalf("token objects %d -> %d after %d signatures", tokenBefore, tokenAfter, signed)
	}
	if sessionAfter-sessionBefore > 16 {
		t.Fatalf("session objects grew by %d, more than the key cache size 16", sessionAfter-sessionBefore)
	}
	f.keys.FlushKeyCache()
	if _, s, _ := f.keys.ObjectCounts(ctx); s != sessionBefore {
		t.Fatalf("session objects %d after flush, want %d", s, sessionBefore)
	}
	t.Logf("%d signatures: token objects %d -> %d, session objects %d -> %d (cache 16)", signed, tokenBefore, tokenAfter, sessionBefore, sessionAfter)
}
