package sam_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func (f *fixture) tryAuthorize(c *store.Credential, pin, otp string, h []byte) error {
	_, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient,
		NumSignatures: 1, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: pin, OTP: otp})
	return err
}

// TestPINLockout: five wrong PINs lock the credential; the correct PIN is then
// refused too, outstanding SADs die, and an operator unlock restores access.
func TestPINLockout(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 1)
		h := digest("doc")
		outstanding := f.authorize(c, 1, h)
		for i := 1; i <= 5; i++ {
			f.clock.Advance(30 * time.Second)
			if err := f.tryAuthorize(c, "wrong-pin", f.totp(), h); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("wrong PIN %d: %v", i, err)
			}
		}
		f.clock.Advance(30 * time.Second)
		if err := f.tryAuthorize(c, testPIN, f.totp(), h); !errors.Is(err, sam.ErrCredentialLocked) {
			t.Fatalf("correct PIN after lockout: %v, want ErrCredentialLocked", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c, outstanding.Token, h)); !errors.Is(err, sam.ErrSADRevoked) {
			t.Fatalf("SAD outstanding at lockout: %v, want ErrSADRevoked", err)
		}
		if err := f.sam.UnlockFactor(ctx, c.SignerID, c.ID, store.FactorPIN, "operator"); err != nil {
			t.Fatal(err)
		}
		f.authorize(c, 1, h)
	})
}

// TestSuccessResetsFailures: failures must be consecutive to lock.
func TestSuccessResetsFailures(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 1)
		h := digest("doc")
		for round := 0; round < 3; round++ {
			for i := 0; i < 4; i++ {
				f.clock.Advance(30 * time.Second)
				if err := f.tryAuthorize(c, "wrong", f.totp(), h); !errors.Is(err, sam.ErrAuthentication) {
					t.Fatal(err)
				}
			}
			f.authorize(c, 1, h)
		}
	})
}

// TestTOTPOnce: a TOTP code is accepted once (RFC 6238 section 5.2), a code
// two steps old is refused, and a wrong OTP gives the same error as a wrong
// PIN (no factor oracle).
func TestTOTPOnce(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 1)
		h := digest("doc")
		f.clock.Advance(30 * time.Second)
		code := f.totp()
		if err := f.tryAuthorize(c, testPIN, code, h); err != nil {
			t.Fatal(err)
		}
		if err := f.tryAuthorize(c, testPIN, code, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("replayed TOTP: %v", err)
		}
		f.clock.Advance(30 * time.Second) // the code is now one step old: inside the window, but used
		if err := f.tryAuthorize(c, testPIN, code, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("replayed TOTP one step later: %v", err)
		}
		f.clock.Advance(30 * time.Second)
		previous := f.totp()
		f.clock.Advance(30 * time.Second) // previous is one step old and unused: accepted
		if err := f.tryAuthorize(c, testPIN, previous, h); err != nil {
			t.Fatalf("code from the previous step: %v", err)
		}
		f.clock.Advance(30 * time.Second)
		stale := f.totp()
		f.clock.Advance(60 * time.Second)
		if err := f.tryAuthorize(c, testPIN, stale, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("code two steps old: %v", err)
		}
		for _, otp := range []string{"", "12345", "1234567", "abcdef"} {
			if err := f.tryAuthorize(c, testPIN, otp, h); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("OTP %q: %v", otp, err)
			}
		}
	})
}

// TestOutOfBandChallenge: an SMS code is bound to the request it was sent
// for, expires, and works once.
func TestOutOfBandChallenge(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h1, h2 := digest("doc-1"), digest("doc-2")
		phone := "+49151000001"
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1}, NumSignatures: 1}
		authz := func(chID, code string, h []byte) error {
			_, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: testPIN, OTP: code, ChallengeID: chID})
			return err
		}

		ch, err := f.sendOTP(sg, b)
		if err != nil {
			t.Fatal(err)
		}
		code := f.sender.last(phone)
		if len(code) != 6 {
			t.Fatalf("code %q", code)
		}
		if err := authz(ch, code, h2); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("code used for another hash: %v", err)
		}
		if err := authz(ch, code, h1); err != nil {
			t.Fatal(err)
		}
		if err := authz(ch, code, h1); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("code used twice: %v", err)
		}

		ch, err = f.sendOTP(sg, b)
		if err != nil {
			t.Fatal(err)
		}
		code = f.sender.last(phone)
		f.clock.Advance(5*time.Minute + time.Second)
		if err := authz(ch, code, h1); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("expired code: %v", err)
		}

		if err := f.st.CreateSigner(ctx, &store.Signer{ID: "signer-9", Name: "No phone", Status: store.StatusActive}); err != nil {
			t.Fatal(err)
		}
		c9 := f.credential("signer-9", hsm.ECP256, 2, 1)
		b9 := sam.Binding{CredentialID: c9.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1}, NumSignatures: 1}
		if _, err := f.sendOTP("signer-9", b9); !errors.Is(err, sam.ErrOTPUnavailable) {
			t.Fatalf("code for a signer without a phone: %v", err)
		}
		if _, err := f.sendOTP("signer-9", b); !errors.Is(err, sam.ErrCredentialInvalid) {
			t.Fatalf("code for another signer's credential: %v", err)
		}
	})
}

// TestOutOfBandFailuresLock: wrong SMS codes count against the phone factor,
// so asking for fresh codes does not give unlimited guesses.
func TestOutOfBandFailuresLock(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, NumSignatures: 1}
		authz := func(chID, code string) error {
			_, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: testPIN, OTP: code, ChallengeID: chID})
			return err
		}
		for i := 0; i < 5; i++ {
			ch, err := f.sendOTP(sg, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := authz(ch, "000000x"); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("wrong code %d: %v", i, err)
			}
		}
		// Locked: no new code is even sent, and a code sent before the lock
		// does not work either.
		if _, err := f.sendOTP(sg, b); !errors.Is(err, sam.ErrOTPLocked) {
			t.Fatalf("code asked for a locked phone: %v, want ErrOTPLocked", err)
		}
		if err := authz("", f.sender.last("+49151000001")); !errors.Is(err, sam.ErrCredentialLocked) {
			t.Fatalf("right code after five wrong ones: %v, want ErrCredentialLocked", err)
		}
	})
}
