package sam_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// newPhone is the number signer-1 moves to.
const newPhone = "+4915122222222"

// sentTo reports whether any message went to phone.
func (f *fixture) sentTo(phone string) bool {
	f.sender.mu.Lock()
	defer f.sender.mu.Unlock()
	_, ok := f.sender.codes[phone]
	return ok
}

// TestPhoneChangeByCode: the signer confirms a new number with a code sent
// to the old one; only then do codes go to the new number, outstanding
// codes die and the old number is told.
func TestPhoneChangeByCode(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		approval, err := f.sendOTP(sg, b)
		if err != nil {
			t.Fatal(err)
		}

		if _, err := f.sam.RequestPhoneChange(ctx, sam.PhoneChangeRequest{SignerID: sg, NewPhone: "12345", Actor: sg}); !errors.Is(err, sam.ErrInvalidPhone) {
			t.Fatalf("invalid new number: %v", err)
		}
		f.clock.Advance(time.Second)
		pc, err := f.sam.RequestPhoneChange(ctx, sam.PhoneChangeRequest{SignerID: sg, NewPhone: "+49 151 2222 2222", Actor: sg})
		if err != nil {
			t.Fatal(err)
		}
		if pc.ID == "" || pc.SentTo != sam.MaskPhone(phone1) || !pc.ExpiresAt.Equal(f.clock.Now().Add(24*time.Hour)) {
			t.Fatalf("phone change %+v", pc)
		}
		m := f.lastMessage()
		code := f.sender.last(phone1)
		if m.Purpose != store.PurposePhoneChange || m.Code != code || code == "" || f.sentTo(newPhone) {
			t.Fatalf("confirmation message %+v (the code goes to the old number only)", m)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != phone1 {
			t.Fatalf("number changed before confirmation: %s", ph.Target)
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeOK, sg, map[string]any{"change": pc.ID, "action": "requested", "byOperator": false}) {
			t.Fatal("request not audited")
		}

		if err := f.sam.ConfirmPhoneChange(ctx, pc.ID, otherCode(code)); !errors.Is(err, sam.ErrOTPInvalid) {
			t.Fatalf("wrong code: %v, want ErrOTPInvalid", err)
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeFail, sg, map[string]any{"change": pc.ID, "action": "confirm"}) {
			t.Fatal("wrong confirmation not audited")
		}
		if err := f.sam.ConfirmPhoneChange(ctx, "no-such-change", code); !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("unknown change: %v, want ErrPhoneChange", err)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != phone1 {
			t.Fatalf("number changed by a wrong code: %s", ph.Target)
		}

		n := f.sent()
		if err := f.sam.ConfirmPhoneChange(ctx, pc.ID, code); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != newPhone || ph.Status != store.StatusActive {
			t.Fatalf("phone after the change: %+v", ph)
		}
		if f.sent() != n+1 || f.lastMessage().Purpose != sam.NoticePhoneChanged || f.lastMessage().Code != "" || f.sender.last(phone1) != "" {
			t.Fatalf("old number not told: %d new messages, last %+v", f.sent()-n, f.lastMessage())
		}
		if got, _ := f.st.Challenge(ctx, approval); got.UsedAt == 0 {
			t.Fatal("a code sent to the old number survived the change")
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeOK, sg, map[string]any{"change": pc.ID, "action": "applied",
			"phone": sam.MaskPhone(newPhone), "notice": "sent to " + sam.MaskPhone(phone1)}) {
			t.Fatal("change not audited as applied")
		}
		if err := f.sam.ConfirmPhoneChange(ctx, pc.ID, code); err == nil {
			t.Fatal("change confirmed twice")
		}
		if _, err := f.sam.ApprovePhoneChange(ctx, pc.ID, "op-alice"); !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("operator approval of an applied change: %v", err)
		}

		// Codes now go to the new number.
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatal(err)
		}
		if f.sender.last(newPhone) == "" || f.sender.last(phone1) != "" {
			t.Fatal("approval code not sent to the new number")
		}
		if _, err := f.authzOTP(c, f.sender.last(newPhone), "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("code from the new number: %v", err)
		}
	})
}

// TestPhoneChangeByOperators: a lost phone is replaced by two different
// operators; one operator alone cannot do it.
func TestPhoneChangeByOperators(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}

		if err := f.sam.ResetFactor(ctx, sg, store.FactorSMS, "op-alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sendOTP(sg, b); !errors.Is(err, sam.ErrOTPUnavailable) {
			t.Fatalf("code to a revoked phone: %v, want ErrOTPUnavailable", err)
		}
		if !f.hasAudit(sam.EventFactorReset, sam.OutcomeOK, "op-alice", map[string]any{"signer": sg, "factor": store.FactorSMS}) {
			t.Fatal("reset not audited")
		}

		pc, err := f.sam.RequestPhoneChange(ctx, sam.PhoneChangeRequest{SignerID: sg, NewPhone: newPhone, Actor: "op-alice", ByOperator: true})
		if err != nil {
			t.Fatal(err)
		}
		if pc.SentTo != "" || f.sent() != 0 {
			t.Fatalf("operator request sent a code: %+v, %d messages", pc, f.sent())
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeOK, "op-alice", map[string]any{"change": pc.ID, "action": "requested", "byOperator": true}) {
			t.Fatal("request not audited")
		}
		if err := f.sam.ConfirmPhoneChange(ctx, pc.ID, "123456"); !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("code for an operator change: %v, want ErrPhoneChange", err)
		}
		if n, err := f.sam.ApprovePhoneChange(ctx, pc.ID, "op-alice"); n != 0 || !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("requesting operator approving: %d, %v; want ErrPhoneChange", n, err)
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeFail, "op-alice", map[string]any{"change": pc.ID, "action": "approve"}) {
			t.Fatal("refused approval not audited")
		}
		if _, err := f.sam.ApprovePhoneChange(ctx, pc.ID, ""); err == nil {
			t.Fatal("approval without an operator name")
		}
		if _, err := f.sam.ApprovePhoneChange(ctx, "no-such-change", "op-bob"); !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("unknown change: %v", err)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != phone1 || ph.Status != store.StatusRevoked {
			t.Fatalf("phone changed by one operator: %+v", ph)
		}

		if n, err := f.sam.ApprovePhoneChange(ctx, pc.ID, "op-bob"); n != 2 || err != nil {
			t.Fatalf("second operator: %d, %v; want 2", n, err)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != newPhone || ph.Status != store.StatusActive || ph.Failures != 0 {
			t.Fatalf("phone after two approvals: %+v", ph)
		}
		if !f.sentTo(phone1) || f.lastMessage().Purpose != sam.NoticePhoneChanged {
			t.Fatal("old number not told of the change")
		}
		if !f.hasAudit(sam.EventPhoneChange, sam.OutcomeOK, "op-bob", map[string]any{"change": pc.ID, "action": "approved", "approvals": 2}) ||
			!f.hasAudit(sam.EventPhoneChange, sam.OutcomeOK, "op-bob", map[string]any{"change": pc.ID, "action": "applied"}) {
			t.Fatal("approval and change not audited")
		}
		if n, err := f.sam.ApprovePhoneChange(ctx, pc.ID, "op-carol"); n != 0 || !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("third approval: %d, %v", n, err)
		}

		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatalf("code after the change: %v", err)
		}
		if _, err := f.authzOTP(c, f.sender.last(newPhone), "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("code from the new number: %v", err)
		}

		// An approval a day later is too late.
		late, err := f.sam.RequestPhoneChange(ctx, sam.PhoneChangeRequest{SignerID: sg, NewPhone: "+4915133333333", Actor: "op-alice", ByOperator: true})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(24 * time.Hour)
		if _, err := f.sam.ApprovePhoneChange(ctx, late.ID, "op-bob"); !errors.Is(err, sam.ErrPhoneChange) {
			t.Fatalf("approval of an expired change: %v", err)
		}
		if ph := f.factorOf(sg, store.FactorSMS); ph.Target != newPhone {
			t.Fatalf("expired change applied: %s", ph.Target)
		}
	})
}

// TestResetFactor: a revoked TOTP app stops working at once, with the
// signer's outstanding SADs and codes; the phone keeps working; a new app
// can be bound.
func TestResetFactor(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		sad := f.authorize(c, 1, h)
		ch, err := f.sendOTP(sg, b)
		if err != nil {
			t.Fatal(err)
		}

		if err := f.sam.ResetFactor(ctx, sg, store.FactorPIN, "op-alice"); err == nil {
			t.Fatal("a PIN was reset as a lost factor")
		}
		if err := f.sam.ResetFactor(ctx, "nobody", store.FactorTOTP, "op-alice"); err == nil {
			t.Fatal("reset of an unknown signer's factor")
		}
		if err := f.sam.ResetFactor(ctx, sg, store.FactorTOTP, "op-alice"); err != nil {
			t.Fatal(err)
		}
		if st := f.factorOf(sg, store.FactorTOTP).Status; st != store.StatusRevoked {
			t.Fatalf("TOTP factor %s after reset", st)
		}
		if !f.hasAudit(sam.EventFactorReset, sam.OutcomeOK, "op-alice", map[string]any{"signer": sg, "factor": store.FactorTOTP}) {
			t.Fatal("reset not audited")
		}

		f.clock.Advance(30 * time.Second)
		if _, err := f.authzOTP(c, f.totp(), "", sam.ChannelTOTP, h); !errors.Is(err, sam.ErrOTPLocked) {
			t.Fatalf("TOTP after reset: %v, want ErrOTPLocked", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h)); !errors.Is(err, sam.ErrSADRevoked) {
			t.Fatalf("SAD issued before the reset: %v, want ErrSADRevoked", err)
		}
		if got, _ := f.st.Challenge(ctx, ch); got.UsedAt == 0 {
			t.Fatal("SMS code outstanding at the reset still usable")
		}

		// The phone still works; a new app can be bound.
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatal(err)
		}
		if _, err := f.authzOTP(c, f.sender.last(phone1), "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("SMS code after a TOTP reset: %v", err)
		}
		if err := f.sam.EnrolTOTP(ctx, sg, totpSeed); err != nil {
			t.Fatal(err)
		}
		f.authorize(c, 1, h)
	})
}
