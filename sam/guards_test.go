package sam_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// TestOAuth2CodeCredentialRefusesExplicitAuthorization: credentials/authorize
// and an SMS code for it are refused for an oauth2code credential (CSC API
// §11.6); the approval page may still send its code.
func TestOAuth2CodeCredentialRefusesExplicitAuthorization(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg, Algorithm: hsm.ECP256, AuthMode: sam.AuthModeOAuth2Code})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.sam.SetPIN(ctx, c.ID, testPIN); err != nil {
			t.Fatal(err)
		}
		h := digest("doc")
		if _, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
			HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: testPIN, OTP: f.totp()}); !errors.Is(err, sam.ErrOAuth2CodeOnly) {
			t.Fatalf("authorize an oauth2code credential: %v, want ErrOAuth2CodeOnly", err)
		}
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		f.clock.Advance(time.Second)
		if _, err := f.sam.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, Binding: b, Explicit: true}); !errors.Is(err, sam.ErrOAuth2CodeOnly) {
			t.Fatalf("sendOTP for an oauth2code credential: %v, want ErrOAuth2CodeOnly", err)
		}
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatalf("the approval page's code: %v", err)
		}
	})
}

// TestLockedOTPLeavesPINUncounted: with the second factor locked, an
// authorization stops before the PIN is checked, so the PIN's counter does
// not climb towards its own lockout with every refused attempt.
func TestLockedOTPLeavesPINUncounted(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		if err := f.sam.ResetFactor(ctx, sg, store.FactorTOTP, "operator"); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if err := f.tryAuthorize(c, testPIN, "123456", h); !errors.Is(err, sam.ErrOTPLocked) {
				t.Fatalf("attempt %d with the TOTP app revoked: %v, want ErrOTPLocked", i, err)
			}
		}
		pin, err := f.st.Factor(ctx, sg, c.ID, store.FactorPIN)
		if err != nil {
			t.Fatal(err)
		}
		if pin.Failures != 0 {
			t.Fatalf("PIN counted %d failures although it was never checked", pin.Failures)
		}
	})
}

// TestCompleteEnrolmentWithoutCA: completion fails before anything changes
// when no CA can issue the certificate: the signer stays pending (so the
// operator can fix it and reissue an activation code) and no credential
// is left behind.
func TestCompleteEnrolmentWithoutCA(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		phone := "+491510000201"
		sg := f.startEnrolment("nocauser", phone)
		if err := f.sam.SetEnrolmentPassword(ctx, sg.ID, enrolPassword); err != nil {
			t.Fatal(err)
		}
		f.bindPhone(sg.ID, phone)
		f.bindTOTP(sg.ID)
		credID, _ := f.sam.NewCredentialID()
		pinHash, err := f.sam.HashPIN(ctx, credID, "740215")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.CompleteEnrolment(ctx, sam.Completion{SignerID: sg.ID, CredentialID: credID, PINHash: pinHash}); err == nil {
			t.Fatal("enrolment completed without a CA")
		}
		after, err := f.st.Signer(ctx, sg.ID)
		if err != nil || after.Status != store.StatusPending {
			t.Fatalf("signer after the failed completion: %+v %v", after, err)
		}
		if creds, err := f.st.CredentialsOf(ctx, sg.ID); err != nil || len(creds) != 0 {
			t.Fatalf("credentials left behind: %v %v", creds, err)
		}
		if _, err := f.sam.IssueActivation(ctx, sg.ID, sam.DeliveryPrint, "operator"); err != nil {
			t.Fatalf("a new activation code after the failure: %v", err)
		}
	})
}

// TestTOTPBindingAttemptsBounded: the first TOTP code at enrolment can be
// tried a bounded number of times.
func TestTOTPBindingAttemptsBounded(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.startEnrolment("guesser", "+491510000202")
		sec, seed, err := f.sam.NewTOTPSecret(ctx, sg.ID)
		if err != nil {
			t.Fatal(err)
		}
		right := rfc6238(seed, f.clock.Now())
		for i := range 10 {
			if err := f.sam.ConfirmTOTP(ctx, sg.ID, sec.Blob, otherCode(right)); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("wrong code %d: %v", i, err)
			}
		}
		if err := f.sam.ConfirmTOTP(ctx, sg.ID, sec.Blob, right); !errors.Is(err, sam.ErrTooManyAttempts) {
			t.Fatalf("right code after ten wrong ones: %v, want ErrTooManyAttempts", err)
		}
		f.clock.Advance(10 * time.Minute)
		if err := f.sam.ConfirmTOTP(ctx, sg.ID, sec.Blob, rfc6238(seed, f.clock.Now())); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}

// TestActivationSMSDoesNotDelayPhoneCode: the cooldown is per purpose, so
// the phone's binding code can follow the activation text at once.
func TestActivationSMSDoesNotDelayPhoneCode(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		phone := "+491510000203"
		sg, a, err := f.sam.RegisterSigner(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: "quick", Name: "Quick Signer", Actor: "op"},
			Phone: phone, Delivery: sam.DeliverySMS})
		if err != nil || a.Code != "" {
			t.Fatalf("register: %+v %v", a, err)
		}
		code := f.sender.last(phone)
		if _, err := f.sam.Activate(ctx, code); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.sam.SendPhoneBinding(ctx, sg.ID); err != nil {
			t.Fatalf("phone code right after the activation text: %v", err)
		}
		if _, _, err := f.sam.SendPhoneBinding(ctx, sg.ID); !errors.Is(err, sam.ErrResendTooSoon) {
			t.Fatalf("second phone code inside the cooldown: %v", err)
		}
	})
}
