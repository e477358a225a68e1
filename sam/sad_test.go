package sam_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func verifyEC(t *testing.T, c *store.Credential, d, sig []byte) {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d, sig) {
		t.Fatal("signature does not verify")
	}
}

// TestSADRefusals covers SAD-01/03/04/05 and SADV-02: each case expects a
// distinct typed refusal, and no case may consume or sign anything that was
// not authorised.
func TestSADRefusals(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 5)
		other := f.credential(sg, hsm.ECP256, 2, 5)
		h1, h2, hx := digest("doc-1"), digest("doc-2"), digest("not approved")

		tests := []struct {
			name  string
			setup func() sam.SignRequest
			want  error
		}{
			{"hash not in SAD", func() sam.SignRequest {
				return f.signReq(c, f.authorize(c, 1, h1).Token, hx)
			}, sam.ErrHashNotAuthorized},
			{"one bad hash rejects the whole request", func() sam.SignRequest {
				return f.signReq(c, f.authorize(c, 2, h1, h2).Token, h1, hx)
			}, sam.ErrHashNotAuthorized},
			{"same digest under another hash algorithm", func() sam.SignRequest {
				r := f.signReq(c, f.authorize(c, 1, h1).Token, h1)
				r.SignAlgorithm = sam.OIDECPublicKey
				r.HashAlgorithm = sam.OIDSHA384
				r.Hashes = [][]byte{append(h1, h1[:16]...)}
				return r
			}, sam.ErrHashNotAuthorized},
			{"expired", func() sam.SignRequest {
				sad := f.authorize(c, 1, h1)
				f.clock.Advance(5*time.Minute + time.Second)
				return f.signReq(c, sad.Token, h1)
			}, sam.ErrSADExpired},
			{"other credential", func() sam.SignRequest {
				return f.signReq(other, f.authorize(c, 1, h1).Token, h1)
			}, sam.ErrSADInvalid},
			{"other client", func() sam.SignRequest {
				r := f.signReq(c, f.authorize(c, 1, h1).Token, h1)
				r.ClientID = "another-client"
				return r
			}, sam.ErrSADInvalid},
			{"unknown SAD", func() sam.SignRequest {
				return f.signReq(c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", h1)
			}, sam.ErrSADInvalid},
			{"malformed SAD", func() sam.SignRequest { return f.signReq(c, "not a sad!", h1) }, sam.ErrSADInvalid},
			{"more hashes than authorised", func() sam.SignRequest {
				return f.signReq(c, f.authorize(c, 1, h1).Token, h1, h1)
			}, sam.ErrSADCountExceeded},
			{"digest of the wrong length", func() sam.SignRequest {
				return f.signReq(c, f.authorize(c, 1, h1).Token, h1[:20])
			}, sam.ErrDigestLength},
			{"algorithm the credential lacks", func() sam.SignRequest {
				r := f.signReq(c, f.authorize(c, 1, h1).Token, h1)
				r.SignAlgorithm = sam.OIDSHA256WithRSA
				return r
			}, sam.ErrSignAlgorithm},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req := tc.setup()
				sigs, err := f.sam.SignHash(ctx, req)
				if !errors.Is(err, tc.want) || sigs != nil {
					t.Fatalf("got %v (%d signatures), want %v", err, len(sigs), tc.want)
				}
			})
		}

		t.Run("refused request consumed nothing", func(t *testing.T) {
			sad := f.authorize(c, 2, h1, h2)
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1, hx)); !errors.Is(err, sam.ErrHashNotAuthorized) {
				t.Fatal(err)
			}
			sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h2, h1))
			if err != nil || len(sigs) != 2 {
				t.Fatalf("both hashes should still be signable: %v", err)
			}
			verifyEC(t, c, h2, sigs[0])
			verifyEC(t, c, h1, sigs[1])
		})

		t.Run("used more than numSignatures times", func(t *testing.T) {
			sad := f.authorize(c, 2, h1, h2)
			for _, h := range [][]byte{h1, h2} {
				sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h))
				if err != nil {
					t.Fatal(err)
				}
				verifyEC(t, c, h, sigs[0])
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrSADExhausted) {
				t.Fatalf("third use: %v, want ErrSADExhausted", err)
			}
		})

		t.Run("each authorised hash once", func(t *testing.T) {
			sad := f.authorize(c, 2, h1, h2)
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrHashNotAuthorized) {
				t.Fatalf("second use of h1: %v", err)
			}
		})

		t.Run("duplicate hashes are a multiset", func(t *testing.T) {
			sad := f.authorize(c, 2, h1, h1)
			sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1, h1))
			if err != nil || len(sigs) != 2 {
				t.Fatalf("%v", err)
			}
		})

		t.Run("usable until one millisecond before expiry", func(t *testing.T) {
			sad := f.authorize(c, 1, h1)
			f.clock.Advance(5*time.Minute - time.Millisecond)
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("disabled credential kills outstanding SADs", func(t *testing.T) {
			c3 := f.credential(sg, hsm.ECP256, 2, 5)
			sad := f.authorize(c3, 1, h1)
			if err := f.sam.SetCredentialStatus(ctx, c3.ID, store.StatusDisabled, "operator"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c3, sad.Token, h1)); !errors.Is(err, sam.ErrCredentialDisabled) {
				t.Fatalf("got %v", err)
			}
			if err := f.sam.SetCredentialStatus(ctx, c3.ID, store.StatusActive, "operator"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c3, sad.Token, h1)); !errors.Is(err, sam.ErrSADRevoked) {
				t.Fatalf("SAD survived disabling its credential: %v", err)
			}
		})

		t.Run("revoked SAD", func(t *testing.T) {
			sad := f.authorize(c, 1, h1)
			if err := f.sam.RevokeSAD(ctx, sad.Token, c.ID, c.SignerID, testClient); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrSADRevoked) {
				t.Fatalf("got %v", err)
			}
		})

		t.Run("state edited beyond its binding is refused", func(t *testing.T) {
			sad := f.authorize(c, 1, h2)
			if err := f.st.DB().Model(&store.SAD{}).Where("revoked_at = 0 AND remaining = 1 AND num_signatures = 1").
				Update("remaining", 7).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h2)); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("count raised above numSignatures: %v", err)
			}
		})

		t.Run("edited SAD row is refused", func(t *testing.T) {
			sad := f.authorize(c, 1, h1)
			// A database administrator raises the count and adds a hash.
			err := f.st.DB().Model(&store.SAD{}).Where("revoked_at = 0 AND remaining = 1 AND num_signatures = 1").
				Updates(map[string]any{"remaining": 50, "num_signatures": 50}).Error
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("tampered SAD: %v", err)
			}
		})
	})
}

// TestSADRace: 50 goroutines race to consume one numSignatures=1 SAD.
// Exactly one signature may come out, on every database.
func TestSADRace(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 1)
		h := digest("contract")
		sad := f.authorize(c, 1, h)

		var ok, exhausted atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h))
				switch {
				case err == nil && len(sigs) == 1:
					verifyEC(t, c, h, sigs[0])
					ok.Add(1)
				case errors.Is(err, sam.ErrSADExhausted):
					exhausted.Add(1)
				default:
					t.Errorf("unexpected result: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || exhausted.Load() != 49 {
			t.Fatalf("%d signatures and %d exhausted, want 1 and 49", ok.Load(), exhausted.Load())
		}
	})
}

// TestExtendTransaction covers SADV-07.
func TestExtendTransaction(t *testing.T) {
	h1, h2, h3 := digest("1"), digest("2"), digest("3")
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 5)
		ext := func(sad string, hashes ...[]byte) (sam.IssuedSAD, error) {
			return f.sam.ExtendTransaction(ctx, sam.ExtendRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient,
				SAD: sad, HashAlgorithm: sam.OIDSHA256, Hashes: hashes})
		}
		t.Run("carries the unconsumed hashes and count", func(t *testing.T) {
			sad := f.authorize(c, 3, h1, h2, h3)
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(4 * time.Minute)
			next, err := ext(sad.Token)
			if err != nil || next.Remaining != 2 {
				t.Fatalf("extend: %+v %v", next, err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h2)); !errors.Is(err, sam.ErrSADExhausted) {
				t.Fatalf("superseded SAD still usable: %v", err)
			}
			if _, err := ext(sad.Token); err == nil {
				t.Fatal("superseded SAD extended again")
			}
			f.clock.Advance(4 * time.Minute) // past the first SAD's expiry, within the new one's
			if _, err := f.sam.SignHash(ctx, f.signReq(c, next.Token, h1)); !errors.Is(err, sam.ErrHashNotAuthorized) {
				t.Fatalf("consumed hash came back: %v", err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, next.Token, h3, h2)); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("expired SAD cannot be extended", func(t *testing.T) {
			sad := f.authorize(c, 1, h1)
			f.clock.Advance(6 * time.Minute)
			if _, err := ext(sad.Token); !errors.Is(err, sam.ErrSADExpired) {
				t.Fatalf("got %v", err)
			}
		})
		t.Run("new hashes need approval by default", func(t *testing.T) {
			sad := f.authorize(c, 2, h1)
			if _, err := ext(sad.Token, h2); !errors.Is(err, sam.ErrHashNotAuthorized) {
				t.Fatalf("got %v", err)
			}
		})
	})
	cfg := testConfig()
	cfg.ExtendNewHashes = true
	forEachDB(t, cfg, func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 5)
		// The CSC nested-PDF flow: approve 2 signatures over H1, then extend with H2.
		sad := f.authorize(c, 2, h1)
		if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
			t.Fatal(err)
		}
		next, err := f.sam.ExtendTransaction(ctx, sam.ExtendRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, SAD: sad.Token, Hashes: [][]byte{h2}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.ExtendTransaction(ctx, sam.ExtendRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, SAD: next.Token, Hashes: [][]byte{h2, h3}}); !errors.Is(err, sam.ErrSADCountExceeded) {
			t.Fatalf("extension widened the count: %v", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c, next.Token, h2)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.ExtendTransaction(ctx, sam.ExtendRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, SAD: next.Token, Hashes: [][]byte{h3}}); !errors.Is(err, sam.ErrSADExhausted) {
			t.Fatalf("extend after exhaustion: %v", err)
		}
	})
}

// TestSCAL1 credentials bind a count, not hashes.
func TestSCAL1(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 1, 3)
		sad, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, NumSignatures: 2, PIN: testPIN})
		if err != nil {
			t.Fatal(err)
		}
		h1, h2 := randomDigest(), randomDigest()
		sigs, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1, h2))
		if err != nil {
			t.Fatal(err)
		}
		verifyEC(t, c, h2, sigs[1])
		if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrSADExhausted) {
			t.Fatalf("got %v", err)
		}
		if _, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: c.SignerID, NumSignatures: 4, PIN: testPIN}); !errors.Is(err, sam.ErrTooManySignatures) {
			t.Fatalf("numSignatures above multisign: %v", err)
		}
	})
}
