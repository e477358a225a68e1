package sam_test

import (
	"crypto/x509"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

const enrolPassword = "correct horse battery staple"

var activationFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// register registers a pending signer whose activation code is printed.
func (f *fixture) register(username, phone string) (*store.Signer, sam.Activation) {
	f.t.Helper()
	sg, a, err := f.sam.RegisterSigner(ctx, sam.Registration{
		NewSigner: sam.NewSigner{Username: username, Name: "Erika Mustermann", GivenName: "Erika", Surname: "Mustermann",
			Email: username + "@example.org", Actor: "op-alice"},
		Phone: phone, Delivery: sam.DeliveryPrint})
	if err != nil {
		f.t.Fatalf("register %s: %v", username, err)
	}
	return sg, a
}

// startEnrolment registers a signer and spends its activation code.
func (f *fixture) startEnrolment(username, phone string) *store.Signer {
	f.t.Helper()
	sg, a := f.register(username, phone)
	if _, err := f.sam.Activate(ctx, a.Code); err != nil {
		f.t.Fatalf("activate %s: %v", username, err)
	}
	return sg
}

// bindPhone sends and confirms the phone code of a pending signer.
func (f *fixture) bindPhone(signerID, phone string) {
	f.t.Helper()
	f.clock.Advance(time.Second)
	ch, _, err := f.sam.SendPhoneBinding(ctx, signerID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.sam.ConfirmPhone(ctx, signerID, ch, f.sender.last(phone)); err != nil {
		f.t.Fatalf("confirm phone: %v", err)
	}
}

// bindTOTP makes and confirms a TOTP seed and returns the code it used.
func (f *fixture) bindTOTP(signerID string) (seed []byte, used string) {
	f.t.Helper()
	sec, seed, err := f.sam.NewTOTPSecret(ctx, signerID)
	if err != nil {
		f.t.Fatal(err)
	}
	used = rfc6238(seed, f.clock.Now())
	if err := f.sam.ConfirmTOTP(ctx, signerID, sec.Blob, used); err != nil {
		f.t.Fatalf("confirm TOTP: %v", err)
	}
	return seed, used
}

// typed is an activation code as a person might type it: lower case, no
// dashes, a space, O for 0 and I or l for 1.
func typed(code string) string {
	var b strings.Builder
	for i, r := range strings.ToLower(strings.ReplaceAll(code, "-", "")) {
		switch {
		case r == '0':
			r = 'o'
		case r == '1' && i%2 == 0:
			r = 'i'
		case r == '1':
			r = 'l'
		}
		if i == 6 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestNormalizeActivationCode(t *testing.T) {
	for in, want := range map[string]string{
		"ABCD-EFGH-JKMN":     "ABCDEFGHJKMN",
		"abcd efgh jkmn":     "ABCDEFGHJKMN",
		"o0Oi-I1lL-zz\tzz":   "00011111ZZZZ",
		"  ab-cd  ":          "ABCD",
		"ABCD-EFGH-JKMN-XYZ": "ABCDEFGHJKMNXYZ",
	} {
		if got := sam.NormalizeActivationCode(in); got != want {
			t.Errorf("NormalizeActivationCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRegisterSigner: a registered signer is pending with a pending phone;
// the activation code is printed or sent, never both.
func TestRegisterSigner(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg, a := f.register("erika", "+49 (151) 2345-6789")
		if sg.Status != store.StatusPending {
			t.Fatalf("status %q, want pending", sg.Status)
		}
		if !activationFormat.MatchString(a.Code) || a.SentTo != "" || !a.ExpiresAt.Equal(f.clock.Now().Add(72*time.Hour)) {
			t.Fatalf("printed activation %+v", a)
		}
		if f.sent() != 0 {
			t.Fatal("a printed activation code was also sent")
		}
		if ph := f.factorOf(sg.ID, store.FactorSMS); ph.Target != "+4915123456789" || ph.Status != store.StatusPending {
			t.Fatalf("claimed phone %+v, want pending +4915123456789", ph)
		}
		if !f.hasAudit(sam.EventSignerCreated, sam.OutcomeOK, "op-alice", map[string]any{"signer": sg.ID, "status": store.StatusPending}) ||
			!f.hasAudit(sam.EventActivationIssued, sam.OutcomeOK, "op-alice", map[string]any{"signer": sg.ID, "delivery": sam.DeliveryPrint}) {
			t.Fatal("registration not audited")
		}

		smsSigner, a2, err := f.sam.RegisterSigner(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: "max", Name: "Max Mustermann", Actor: "op-alice"},
			Phone: "+4915100000008", Delivery: sam.DeliverySMS})
		if err != nil {
			t.Fatal(err)
		}
		m := f.lastMessage()
		if a2.Code != "" || a2.SentTo != sam.MaskPhone("+4915100000008") || m.Purpose != sam.PurposeActivation ||
			!activationFormat.MatchString(m.Code) || f.sender.last("+4915100000008") != m.Code || !m.ExpiresAt.Equal(a2.ExpiresAt) {
			t.Fatalf("SMS activation %+v, message %+v", a2, m)
		}
		if got, err := f.sam.Activate(ctx, m.Code); err != nil || got.ID != smsSigner.ID {
			t.Fatalf("activate the SMS code: %v, %v", got, err)
		}
		for _, e := range f.auditRecords("") {
			if strings.Contains(e.Details, m.Code) || strings.Contains(e.Details, a.Code) {
				t.Fatalf("activation code in audit entry %d: %s", e.Seq, e.Details)
			}
		}

		n := f.sent()
		tests := []struct {
			name string
			reg  sam.Registration
			want error
		}{
			{"bad phone", sam.Registration{NewSigner: sam.NewSigner{Username: "bad", Name: "Bad Phone"}, Phone: "0151 2345 6789", Delivery: sam.DeliveryPrint}, sam.ErrInvalidPhone},
			{"duplicate username", sam.Registration{NewSigner: sam.NewSigner{Username: "erika", Name: "Another Erika"}, Phone: "+4915100000009", Delivery: sam.DeliveryPrint}, sam.ErrUsernameTaken},
			{"password given", sam.Registration{NewSigner: sam.NewSigner{Username: "pw", Name: "P W", Password: "long enough password"}, Phone: "+4915100000009", Delivery: sam.DeliveryPrint}, nil},
			{"unknown delivery", sam.Registration{NewSigner: sam.NewSigner{Username: "mail", Name: "M"}, Phone: "+4915100000009", Delivery: "mail"}, nil},
		}
		for _, tc := range tests {
			_, _, err := f.sam.RegisterSigner(ctx, tc.reg)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
			if tc.reg.NewSigner.Username != "erika" {
				if _, err := f.st.SignerByUsername(ctx, tc.reg.NewSigner.Username); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: signer stored anyway (%v)", tc.name, err)
				}
			}
		}
		if f.sent() != n {
			t.Fatal("a refused registration sent a message")
		}
	})
}

// TestActivate: a code works once, typed loosely, before ActivationTTL;
// a new code voids the old one.
func TestActivate(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg, a := f.register("erika", "+4915100000007")
		// Reissue until the code holds a 0 or a 1, so that typing O, I or l
		// for them is exercised; each new code voids the one before.
		prev := ""
		for i := 0; !strings.ContainsAny(a.Code, "01"); i++ {
			if i == 60 {
				t.Fatal("no activation code with 0 or 1 in 60 tries")
			}
			prev = a.Code
			var err error
			if a, err = f.sam.IssueActivation(ctx, sg.ID, sam.DeliveryPrint, "op-alice"); err != nil {
				t.Fatal(err)
			}
		}
		if prev != "" {
			if _, err := f.sam.Activate(ctx, prev); !errors.Is(err, sam.ErrActivationInvalid) {
				t.Fatalf("code replaced by a new one: %v, want ErrActivationInvalid", err)
			}
		}
		for _, bad := range []string{"", "ABCD", "UUUU-UUUU-UUUU", a.Code + "X", "!" + a.Code[1:]} {
			if _, err := f.sam.Activate(ctx, bad); !errors.Is(err, sam.ErrActivationInvalid) {
				t.Fatalf("Activate(%q): %v, want ErrActivationInvalid", bad, err)
			}
		}
		got, err := f.sam.Activate(ctx, typed(a.Code))
		if err != nil || got.ID != sg.ID || got.Status != store.StatusPending {
			t.Fatalf("Activate(%q) for %q: %+v, %v", typed(a.Code), a.Code, got, err)
		}
		if _, err := f.sam.Activate(ctx, a.Code); !errors.Is(err, sam.ErrActivationInvalid) {
			t.Fatalf("code used twice: %v, want ErrActivationInvalid", err)
		}
		if !f.hasAudit(sam.EventActivationUsed, sam.OutcomeOK, sg.ID, nil) || !f.hasAudit(sam.EventActivationUsed, sam.OutcomeFail, "anonymous", nil) {
			t.Fatal("activation attempts not audited")
		}

		// Expiry.
		a, err = f.sam.IssueActivation(ctx, sg.ID, sam.DeliveryPrint, "op-alice")
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(72*time.Hour - time.Second)
		if _, err := f.sam.Activate(ctx, a.Code); err != nil {
			t.Fatalf("code one second before expiry: %v", err)
		}
		a, err = f.sam.IssueActivation(ctx, sg.ID, sam.DeliveryPrint, "op-alice")
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(72 * time.Hour)
		if _, err := f.sam.Activate(ctx, a.Code); !errors.Is(err, sam.ErrActivationInvalid) {
			t.Fatalf("expired code: %v, want ErrActivationInvalid", err)
		}
	})
}

// TestActivationResendTooSoon: a resend refused by the SMS cooldown leaves
// the code already on the phone working.
func TestActivationResendTooSoon(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		const phone = "+4915100000008"
		sg, _, err := f.sam.RegisterSigner(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: "max", Name: "Max Mustermann", Actor: "op"},
			Phone: phone, Delivery: sam.DeliverySMS})
		if err != nil {
			t.Fatal(err)
		}
		code := f.sender.last(phone)
		n := f.sent()
		if _, err := f.sam.IssueActivation(ctx, sg.ID, sam.DeliverySMS, "op"); !errors.Is(err, sam.ErrResendTooSoon) {
			t.Fatalf("resend at once: %v, want ErrResendTooSoon", err)
		}
		if f.sent() != n {
			t.Fatal("a refused resend sent a message")
		}
		if _, err := f.sam.Activate(ctx, code); err != nil {
			t.Fatalf("the code on the phone after a refused resend: %v", err)
		}
	})
}

// TestEnrolment: from the activation code to a signature, at SAM level.
func TestEnrolment(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		ca := f.devCA()
		const phone = "+4915123456789"
		sg, a := f.register("erika", "+49 151 2345 6789")
		got, err := f.sam.Activate(ctx, a.Code)
		if err != nil || got.ID != sg.ID {
			t.Fatalf("activate: %v, %v", got, err)
		}

		if err := f.sam.SetEnrolmentPassword(ctx, sg.ID, "short"); !errors.Is(err, sam.ErrInvalidPassword) {
			t.Fatalf("short password: %v", err)
		}
		if err := f.sam.SetEnrolmentPassword(ctx, sg.ID, enrolPassword); err != nil {
			t.Fatal(err)
		}

		credID, err := f.sam.NewCredentialID()
		if err != nil {
			t.Fatal(err)
		}
		for _, pin := range []string{"123456", "000000", "654321", "abcdef", "12345", ""} {
			var pe *sam.PINPolicyError
			if _, err := f.sam.HashPIN(ctx, credID, pin); !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("HashPIN(%q): %v, want *PINPolicyError", pin, err)
			}
		}
		const pin = "740215"
		pinHash, err := f.sam.HashPIN(ctx, credID, pin)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(pinHash), pin) {
			t.Fatal("PIN hash holds the PIN")
		}

		// Phone: three tries per code, then only a new code helps.
		f.clock.Advance(time.Second)
		ch1, sentTo, err := f.sam.SendPhoneBinding(ctx, sg.ID)
		if err != nil || sentTo != sam.MaskPhone(phone) {
			t.Fatalf("SendPhoneBinding: %q, %v", sentTo, err)
		}
		if m := f.lastMessage(); m.Purpose != store.PurposeBindPhone || m.Code == "" {
			t.Fatalf("bind message %+v", m)
		}
		code1 := f.sender.last(phone)
		for i := 0; i < 3; i++ {
			if err := f.sam.ConfirmPhone(ctx, sg.ID, ch1, otherCode(code1)); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("wrong phone code %d: %v", i+1, err)
			}
		}
		if err := f.sam.ConfirmPhone(ctx, sg.ID, ch1, code1); !errors.Is(err, sam.ErrOTPInvalid) {
			t.Fatalf("right code after three wrong ones: %v, want ErrOTPInvalid", err)
		}
		if ph := f.factorOf(sg.ID, store.FactorSMS); ph.Status != store.StatusPending {
			t.Fatalf("phone %s before confirmation", ph.Status)
		}
		f.clock.Advance(time.Second)
		ch2, _, err := f.sam.SendPhoneBinding(ctx, sg.ID)
		if err != nil {
			t.Fatal(err)
		}
		code2 := f.sender.last(phone)
		if err := f.sam.ConfirmPhone(ctx, sg.ID, ch2, otherCode(code2)); !errors.Is(err, sam.ErrOTPInvalid) {
			t.Fatalf("wrong phone code: %v", err)
		}
		if err := f.sam.ConfirmPhone(ctx, sg.ID, ch2, code2); err != nil {
			t.Fatalf("confirm phone: %v", err)
		}
		if ph := f.factorOf(sg.ID, store.FactorSMS); ph.Status != store.StatusActive || ph.Target != phone {
			t.Fatalf("phone after confirmation: %+v", ph)
		}

		// TOTP app.
		sec, seed, err := f.sam.NewTOTPSecret(ctx, "erika")
		if err != nil {
			t.Fatal(err)
		}
		if len(seed) != 20 || !strings.HasPrefix(sec.URI, "otpauth://totp/RSSP:erika?secret=") || strings.Contains(string(sec.Blob), string(seed)) {
			t.Fatalf("TOTP secret: URI %q, seed %d bytes", sec.URI, len(seed))
		}
		totpCode := rfc6238(seed, f.clock.Now())
		if err := f.sam.ConfirmTOTP(ctx, sg.ID, sec.Blob, otherCode(totpCode)); !errors.Is(err, sam.ErrOTPInvalid) {
			t.Fatalf("wrong TOTP code: %v", err)
		}
		if _, err := f.st.Factor(ctx, sg.ID, "", store.FactorTOTP); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TOTP bound by a wrong code: %v", err)
		}
		if err := f.sam.ConfirmTOTP(ctx, sg.ID, sec.Blob, totpCode); err != nil {
			t.Fatalf("confirm TOTP: %v", err)
		}

		cred, err := f.sam.CompleteEnrolment(ctx, sam.Completion{SignerID: sg.ID, CredentialID: credID, PINHash: pinHash,
			Credential: sam.NewCredential{Algorithm: hsm.ECP256, SCAL: 2, Multisign: 2, AuthMode: sam.AuthModeExplicit}})
		if err != nil {
			t.Fatalf("complete enrolment: %v", err)
		}
		if cred.ID != credID || cred.Status != store.StatusActive || cred.SignerID != sg.ID {
			t.Fatalf("credential %s %s of %s", cred.ID, cred.Status, cred.SignerID)
		}
		chain, err := x509.ParseCertificates(cred.Certificates)
		if err != nil || len(chain) == 0 {
			t.Fatalf("certificate chain: %d, %v", len(chain), err)
		}
		leaf := chain[0]
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			t.Fatalf("leaf not issued by the dev CA: %v", err)
		}
		if !samePub(leaf.PublicKey, mustPub(t, cred)) || leaf.Subject.CommonName != "Erika Mustermann" {
			t.Fatalf("leaf %q does not certify the credential key", leaf.Subject)
		}
		if got, err := f.st.Signer(ctx, sg.ID); err != nil || got.Status != store.StatusActive {
			t.Fatalf("signer after enrolment: %+v, %v", got, err)
		}
		if !f.hasAudit(sam.EventEnrolmentCompleted, sam.OutcomeOK, sg.ID, nil) {
			t.Fatal("enrolment not audited")
		}

		// Sign with the chosen PIN and an SMS code.
		h := digest("contract")
		if _, err := f.sendOTP(sg.ID, sam.Binding{CredentialID: cred.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: cred.ID, SignerID: sg.ID, ClientID: testClient, NumSignatures: 1,
			HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: "740216", OTP: f.sender.last(phone)}); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("wrong PIN: %v", err)
		}
		// Both factors were checked: the code is spent; a new one is needed.
		if _, err := f.sendOTP(sg.ID, sam.Binding{CredentialID: cred.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}); err != nil {
			t.Fatal(err)
		}
		sms := f.sender.last(phone)
		sad, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: cred.ID, SignerID: sg.ID, ClientID: testClient, NumSignatures: 1,
			HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: pin, OTP: sms})
		if err != nil {
			t.Fatalf("authorize after enrolment: %v", err)
		}
		sigs, err := f.sam.SignHash(ctx, sam.SignRequest{CredentialID: cred.ID, SignerID: sg.ID, ClientID: testClient, SAD: sad.Token,
			SignAlgorithm: sam.OIDECDSAWithSHA256, Hashes: [][]byte{h}})
		if err != nil || len(sigs) != 1 {
			t.Fatalf("sign: %d, %v", len(sigs), err)
		}
		if err := verifyDigest(leaf, h, sigs[0]); err != nil {
			t.Fatalf("signature does not verify with the certificate: %v", err)
		}

		// The TOTP code spent at confirmation is spent.
		totpAuthz := func(code string) error {
			_, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: cred.ID, SignerID: sg.ID, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: pin, OTP: code, OTPChannel: sam.ChannelTOTP})
			return err
		}
		if err := totpAuthz(totpCode); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("TOTP code from the confirmation: %v, want ErrAuthentication", err)
		}
		f.clock.Advance(30 * time.Second)
		if err := totpAuthz(rfc6238(seed, f.clock.Now())); err != nil {
			t.Fatalf("fresh TOTP code after enrolment: %v", err)
		}

		// Enrolment is over.
		if _, err := f.sam.CompleteEnrolment(ctx, sam.Completion{SignerID: sg.ID, CredentialID: credID, PINHash: pinHash}); err == nil {
			t.Fatal("enrolment completed twice")
		}
		if _, _, err := f.sam.SendPhoneBinding(ctx, sg.ID); !errors.Is(err, sam.ErrActivationInvalid) {
			t.Fatalf("phone binding after enrolment: %v", err)
		}
	})
}

// TestCompleteEnrolmentNeedsEveryFactor: a missing password, phone, TOTP
// app or PIN stops the enrolment with nothing created; adding it lets the
// enrolment complete.
func TestCompleteEnrolmentNeedsEveryFactor(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		f.devCA()
		tests := []struct {
			name    string
			skip    string // the step left out
			noPIN   bool
			wantErr string
		}{
			{name: "no password", skip: "password", wantErr: "password"},
			{name: "phone not confirmed", skip: "phone", wantErr: "sms"},
			{name: "no TOTP app", skip: "totp", wantErr: "totp"},
			{name: "no PIN", noPIN: true, wantErr: "PIN"},
		}
		for i, tc := range tests {
			{
				phone := "+491510000010" + string(rune('0'+i))
				sg := f.startEnrolment("user"+string(rune('a'+i)), phone)
				steps := map[string]func(){
					"password": func() {
						if err := f.sam.SetEnrolmentPassword(ctx, sg.ID, enrolPassword); err != nil {
							t.Fatal(err)
						}
					},
					"phone": func() { f.bindPhone(sg.ID, phone) },
					"totp":  func() { f.bindTOTP(sg.ID) },
				}
				for _, s := range []string{"password", "phone", "totp"} {
					if s != tc.skip {
						steps[s]()
					}
				}
				if tc.skip == "phone" { // a code was sent but never came back
					f.clock.Advance(time.Second)
					if _, _, err := f.sam.SendPhoneBinding(ctx, sg.ID); err != nil {
						t.Fatal(err)
					}
				}
				credID, _ := f.sam.NewCredentialID()
				pinHash, err := f.sam.HashPIN(ctx, credID, "740215")
				if err != nil {
					t.Fatal(err)
				}
				c := sam.Completion{SignerID: sg.ID, CredentialID: credID, PINHash: pinHash,
					Credential: sam.NewCredential{Algorithm: hsm.ECP256, AuthMode: sam.AuthModeExplicit}}
				if tc.noPIN {
					c.PINHash = nil
				}
				_, err = f.sam.CompleteEnrolment(ctx, c)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%s: CompleteEnrolment: %v, want a refusal naming %q", tc.name, err, tc.wantErr)
				}
				if got, _ := f.st.Signer(ctx, sg.ID); got.Status != store.StatusPending {
					t.Fatalf("%s: signer %s after a refused completion", tc.name, got.Status)
				}
				if _, err := f.st.Credential(ctx, credID); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: credential created by a refused completion: %v", tc.name, err)
				}

				// The missing step is all it took.
				if tc.skip != "" {
					steps[tc.skip]()
				}
				c.PINHash = pinHash
				cred, err := f.sam.CompleteEnrolment(ctx, c)
				if err != nil || cred.Status != store.StatusActive {
					t.Fatalf("%s: completion after the missing step: %v", tc.name, err)
				}
			}
		}
	})
}
