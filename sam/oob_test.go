package sam_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// phone1 is the number f.signer("signer-1") gets.
const phone1 = "+49151000001"

// factorOf loads a signer-wide factor.
func (f *fixture) factorOf(signerID, kind string) *store.Factor {
	f.t.Helper()
	fa, err := f.st.Factor(ctx, signerID, "", kind)
	if err != nil {
		f.t.Fatalf("factor %s of %s: %v", kind, signerID, err)
	}
	return fa
}

// sent is how many messages the sender accepted.
func (f *fixture) sent() int {
	f.sender.mu.Lock()
	defer f.sender.mu.Unlock()
	return len(f.sender.messages)
}

// lastMessage is the last message the sender accepted.
func (f *fixture) lastMessage() sam.CodeMessage {
	f.t.Helper()
	f.sender.mu.Lock()
	defer f.sender.mu.Unlock()
	if len(f.sender.messages) == 0 {
		f.t.Fatal("no message sent")
	}
	return f.sender.messages[len(f.sender.messages)-1]
}

// authzOTP asks for a SAD for hashes (SCAL2) or one signature (SCAL1, no
// hashes) with the test PIN and otp, naming no challenge unless chID is set.
func (f *fixture) authzOTP(c *store.Credential, otp, chID, channel string, hashes ...[]byte) (sam.IssuedSAD, error) {
	num := len(hashes)
	if num == 0 {
		num = 1
	}
	req := sam.AuthorizeRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, NumSignatures: num,
		PIN: testPIN, OTP: otp, ChallengeID: chID, OTPChannel: channel}
	if len(hashes) > 0 {
		req.HashAlgorithm, req.Hashes = sam.OIDSHA256, hashes
	}
	return f.sam.Authorize(ctx, req)
}

// challengesOf lists the signer's challenges, oldest first.
func (f *fixture) challengesOf(signerID string) []store.Challenge {
	f.t.Helper()
	var out []store.Challenge
	if err := f.st.DB().Where("signer_id = ?", signerID).Order("created_at, expires_at").Find(&out).Error; err != nil {
		f.t.Fatal(err)
	}
	return out
}

// auditRecord is an audit entry with its details decoded.
type auditRecord struct {
	store.AuditEntry
	details map[string]any
}

// auditRecords returns the audit entries of event ("" for all), oldest first.
func (f *fixture) auditRecords(event string) []auditRecord {
	f.t.Helper()
	es, err := f.st.AuditEntries(ctx, 0, 1_000_000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []auditRecord
	for _, e := range es {
		if event != "" && e.Event != event {
			continue
		}
		r := auditRecord{AuditEntry: e}
		if e.Details != "" {
			if err := json.Unmarshal([]byte(e.Details), &r.details); err != nil {
				f.t.Fatalf("audit %d details: %v", e.Seq, err)
			}
		}
		out = append(out, r)
	}
	return out
}

// hasAudit reports an entry of event with outcome whose details hold every
// key/value of want (compared as printed).
func (f *fixture) hasAudit(event, outcome, actor string, want map[string]any) bool {
	f.t.Helper()
	for _, r := range f.auditRecords(event) {
		if r.Outcome != outcome || (actor != "" && r.Actor != actor) {
			continue
		}
		match := true
		for k, v := range want {
			if fmt.Sprint(r.details[k]) != fmt.Sprint(v) {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// otherCode is a code of the same length that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// rfc6238 computes a TOTP code (SHA-1, 6 digits, 30 s) for seed at t.
func rfc6238(seed []byte, t time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}

var digitsOnly = regexp.MustCompile(`^[0-9]+$`)

// TestSMSCodeAnswersOutstandingChallenge: a CSC client sends the SMS code as
// the OTP without naming a challenge; it answers the newest code sent for
// the credential, only for the hashes it was sent for, once, before it
// expires.
func TestSMSCodeAnswersOutstandingChallenge(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h1, h2 := digest("doc-1"), digest("doc-2")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1}, NumSignatures: 1}

		{ // found, bound to the hashes, used once
			ch, err := f.sendOTP(sg, b)
			if err != nil {
				t.Fatal(err)
			}
			code := f.sender.last(phone1)
			if len(code) != 6 || !digitsOnly.MatchString(code) {
				t.Fatalf("code %q, want 6 digits", code)
			}
			if _, err := f.authzOTP(c, code, "", sam.ChannelAuto, h2); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("code for other hashes: %v, want ErrAuthentication", err)
			}
			if n := f.factorOf(sg, store.FactorSMS).Failures; n != 1 {
				t.Fatalf("phone failures after a code for other hashes: %d, want 1", n)
			}
			if got, _ := f.st.Challenge(ctx, ch); got.Attempts != 1 || got.UsedAt != 0 {
				t.Fatalf("challenge after a wrong use: attempts %d, used %d", got.Attempts, got.UsedAt)
			}
			sad, err := f.authzOTP(c, code, "", sam.ChannelAuto, h1)
			if err != nil {
				t.Fatalf("SMS code without challenge ID: %v", err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatalf("sign with the SAD: %v", err)
			}
			if n := f.factorOf(sg, store.FactorSMS).Failures; n != 0 {
				t.Fatalf("phone failures after success: %d, want 0", n)
			}
			if _, err := f.authzOTP(c, code, "", sam.ChannelAuto, h1); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("code reused: %v, want ErrAuthentication", err)
			}
			if _, err := f.authzOTP(c, code, ch, sam.ChannelAuto, h1); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("code reused with its challenge ID: %v, want ErrAuthentication", err)
			}
		}

		{ // a newer code voids the older one
			old, err := f.sendOTP(sg, b)
			if err != nil {
				t.Fatal(err)
			}
			oldCode := f.sender.last(phone1)
			if _, err := f.sendOTP(sg, b); err != nil {
				t.Fatal(err)
			}
			newCode := f.sender.last(phone1)
			if got, _ := f.st.Challenge(ctx, old); got.UsedAt == 0 {
				t.Fatal("older challenge not voided")
			}
			if _, err := f.authzOTP(c, oldCode, old, sam.ChannelAuto, h1); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("older code after a newer one: %v", err)
			}
			if _, err := f.authzOTP(c, newCode, "", sam.ChannelAuto, h1); err != nil {
				t.Fatalf("newer code: %v", err)
			}
		}

		{ // expires after ChallengeTTL
			if _, err := f.sendOTP(sg, b); err != nil {
				t.Fatal(err)
			}
			code := f.sender.last(phone1)
			f.clock.Advance(2*time.Minute - time.Second)
			if _, err := f.authzOTP(c, code, "", sam.ChannelAuto, h1); err != nil {
				t.Fatalf("code just before expiry: %v", err)
			}
			ch, err := f.sendOTP(sg, b)
			if err != nil {
				t.Fatal(err)
			}
			code = f.sender.last(phone1)
			f.clock.Advance(2 * time.Minute)
			if _, err := f.authzOTP(c, code, "", sam.ChannelAuto, h1); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("expired code: %v, want ErrAuthentication", err)
			}
			if _, err := f.authzOTP(c, code, ch, sam.ChannelAuto, h1); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("expired code with its challenge ID: %v, want ErrAuthentication", err)
			}
		}
	})
}

// TestSMSCodeDigits: codes have CodeDigits digits, leading zeros included.
func TestSMSCodeDigits(t *testing.T) {
	cfg := testConfig()
	cfg.CodeDigits = 8
	forEachDB(t, cfg, func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, NumSignatures: 1}
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatal(err)
		}
		code := f.sender.last(phone1)
		if len(code) != 8 || !digitsOnly.MatchString(code) {
			t.Fatalf("code %q, want 8 digits", code)
		}
		if _, err := f.authzOTP(c, code[:6], "", sam.ChannelAuto, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("first six digits of an eight-digit code: %v", err)
		}
		if _, err := f.authzOTP(c, code, "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("eight-digit code: %v", err)
		}

		// A random source that yields zeros makes the code 0: it must still
		// be eight digits ("00000000"), not a shorter or space-padded string.
		zeros := &recordingSender{codes: map[string]string{}}
		s0, err := sam.New(cfg, f.keys, f.st, sam.WithClock(f.clock), sam.WithCodeSender(zeros), sam.WithRand(zeroReader{}))
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := s0.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, ClientName: "Test SCA", Binding: b}); err != nil {
			t.Fatal(err)
		}
		if got := zeros.last(phone1); got != "00000000" {
			t.Fatalf("code from a zero random source: %q, want 00000000", got)
		}
		if _, err := f.authzOTP(c, "00000000", "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("code with leading zeros: %v", err)
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestOTPChannel: "totp" checks the app even while an SMS code is
// outstanding; "sms" never falls back to TOTP.
func TestOTPChannel(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, NumSignatures: 1}

		ch, err := f.sendOTP(sg, b)
		if err != nil {
			t.Fatal(err)
		}
		sms := f.sender.last(phone1)
		f.clock.Advance(30 * time.Second)
		if _, err := f.authzOTP(c, f.totp(), "", sam.ChannelAuto, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("TOTP code on the automatic channel while an SMS code is outstanding: %v, want ErrAuthentication", err)
		}
		f.clock.Advance(30 * time.Second)
		if _, err := f.authzOTP(c, f.totp(), "", sam.ChannelTOTP, h); err != nil {
			t.Fatalf("TOTP channel with an SMS code outstanding: %v", err)
		}
		if got, _ := f.st.Challenge(ctx, ch); got.UsedAt != 0 {
			t.Fatal("a TOTP authorisation spent the SMS code")
		}
		if _, err := f.authzOTP(c, sms, "", sam.ChannelTOTP, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("SMS code on the TOTP channel: %v, want ErrAuthentication", err)
		}
		if _, err := f.authzOTP(c, sms, "", sam.ChannelSMS, h); err != nil {
			t.Fatalf("SMS code on the SMS channel: %v", err)
		}

		// No code outstanding: "sms" fails and counts against the phone.
		f.clock.Advance(30 * time.Second)
		phoneBefore, totpBefore := f.factorOf(sg, store.FactorSMS).Failures, f.totpFailures(sg)
		if _, err := f.authzOTP(c, f.totp(), "", sam.ChannelSMS, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("SMS channel with no code sent: %v, want ErrAuthentication", err)
		}
		if got := f.factorOf(sg, store.FactorSMS).Failures; got != phoneBefore+1 {
			t.Fatalf("phone failures %d, want %d", got, phoneBefore+1)
		}
		if got := f.totpFailures(sg); got != totpBefore {
			t.Fatalf("TOTP failures changed (%d -> %d) on the SMS channel", totpBefore, got)
		}
		// And the TOTP code it carried is still unused.
		if _, err := f.authzOTP(c, f.totp(), "", sam.ChannelTOTP, h); err != nil {
			t.Fatalf("TOTP code after a refused SMS attempt: %v", err)
		}
	})
}

// TestSMSMessageContent: the text names the client, the number of
// documents and the fingerprint of the first hash.
func TestSMSMessageContent(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 3)
		h1, h2, h3 := digest("doc-1"), digest("doc-2"), digest("doc-3")
		if _, err := f.sendOTP(sg, sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1, h2, h3}}); err != nil {
			t.Fatal(err)
		}
		m := f.lastMessage()
		want := sam.CodeMessage{Purpose: store.PurposeApprove, Code: f.sender.last(phone1), Client: "Test SCA", Documents: 3,
			Fingerprint: sam.DigestFingerprint(h1, 4), ExpiresAt: f.clock.Now().Add(2 * time.Minute)}
		if m.Purpose != want.Purpose || m.Code != want.Code || m.Client != want.Client || m.Documents != want.Documents ||
			m.Fingerprint != want.Fingerprint || !m.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("message %+v\nwant    %+v", m, want)
		}
		if len(m.Fingerprint) != 9 {
			t.Fatalf("fingerprint %q, want four bytes in two groups", m.Fingerprint)
		}
		// numSignatures defaulted to the number of hashes.
		if _, err := f.authzOTP(c, m.Code, "", sam.ChannelAuto, h1, h2, h3); err != nil {
			t.Fatalf("authorize with the code: %v", err)
		}
	})
}

// TestSMSCooldown: one code per signer per cooldown; other signers are not
// held up; a refusal sends nothing and says "slow down".
func TestSMSCooldown(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg1, sg2 := f.signer("signer-1"), f.signer("signer-2")
		c1, c2 := f.credential(sg1, hsm.ECP256, 2, 1), f.credential(sg2, hsm.ECP256, 2, 1)
		h := digest("doc")
		b1 := sam.Binding{CredentialID: c1.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		b2 := sam.Binding{CredentialID: c2.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		send := func(sg string, b sam.Binding) error {
			_, err := f.sam.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, ClientName: "Test SCA", Binding: b})
			return err
		}
		if err := send(sg1, b1); err != nil {
			t.Fatal(err)
		}
		first := f.sender.last(phone1)
		n := f.sent()
		err := send(sg1, b1)
		if !errors.Is(err, sam.ErrResendTooSoon) || !sam.IsRateLimited(err) {
			t.Fatalf("second code at once: %v, want ErrResendTooSoon", err)
		}
		f.clock.Advance(999 * time.Millisecond)
		if err := send(sg1, b1); !errors.Is(err, sam.ErrResendTooSoon) {
			t.Fatalf("second code 999 ms later: %v, want ErrResendTooSoon", err)
		}
		if f.sent() != n || f.sender.last(phone1) != first {
			t.Fatal("a refused request sent a message")
		}
		if !f.hasAudit(sam.EventChallengeSent, sam.OutcomeFail, sg1, map[string]any{"reason": sam.ErrResendTooSoon.Description}) {
			t.Fatal("cooldown refusal not audited")
		}
		if err := send(sg2, b2); err != nil {
			t.Fatalf("another signer during the first one's cooldown: %v", err)
		}
		// The first code is still the outstanding one.
		if _, err := f.authzOTP(c1, first, "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("first code after refused resends: %v", err)
		}
		f.clock.Advance(time.Millisecond) // a full cooldown after the first code
		if err := send(sg1, b1); err != nil {
			t.Fatalf("code after the cooldown: %v", err)
		}
	})
}

// TestSMSLimits: per-signer and per-phone limits refuse further codes in
// their window, send nothing and are rate-limit errors.
func TestSMSLimits(t *testing.T) {
	t.Run("per signer", func(t *testing.T) {
		cfg := testConfig()
		cfg.SMS = sam.SMSLimits{Cooldown: time.Second, PerSigner: 3, PerPhone: 100, Window: time.Hour}
		forEachDB(t, cfg, func(t *testing.T, f *fixture) {
			sg := f.signer("signer-1")
			c := f.credential(sg, hsm.ECP256, 2, 1)
			b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{digest("doc")}}
			for i := 0; i < 3; i++ {
				if _, err := f.sendOTP(sg, b); err != nil {
					t.Fatalf("code %d: %v", i+1, err)
				}
			}
			n := f.sent()
			_, err := f.sendOTP(sg, b)
			if !errors.Is(err, sam.ErrSMSRateLimited) || !sam.IsRateLimited(err) {
				t.Fatalf("fourth code: %v, want ErrSMSRateLimited", err)
			}
			if f.sent() != n {
				t.Fatal("a refused request sent a message")
			}
			if !f.hasAudit(sam.EventChallengeSent, sam.OutcomeFail, sg, map[string]any{"reason": sam.ErrSMSRateLimited.Description}) {
				t.Fatal("rate-limit refusal not audited")
			}
			f.clock.Advance(time.Hour)
			if _, err := f.sendOTP(sg, b); err != nil {
				t.Fatalf("code in the next window: %v", err)
			}
		})
	})
	t.Run("per phone", func(t *testing.T) {
		cfg := testConfig()
		cfg.SMS = sam.SMSLimits{Cooldown: time.Second, PerSigner: 100, PerPhone: 2, Window: time.Hour}
		forEachDB(t, cfg, func(t *testing.T, f *fixture) {
			sg1, sg2, sg3 := f.signer("signer-1"), f.signer("signer-2"), f.signer("signer-3")
			if err := f.sam.SetPhone(ctx, sg2, phone1); err != nil { // two signers share one phone
				t.Fatal(err)
			}
			bind := func(sg string) sam.Binding {
				c := f.credential(sg, hsm.ECP256, 2, 1)
				return sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{digest("doc")}}
			}
			b1, b2, b3 := bind(sg1), bind(sg2), bind(sg3)
			if _, err := f.sendOTP(sg1, b1); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sendOTP(sg2, b2); err != nil {
				t.Fatal(err)
			}
			n := f.sent()
			for _, s := range []struct {
				sg string
				b  sam.Binding
			}{{sg1, b1}, {sg2, b2}} {
				_, err := f.sendOTP(s.sg, s.b)
				if !errors.Is(err, sam.ErrSMSRateLimited) || !sam.IsRateLimited(err) {
					t.Fatalf("third code to the shared phone (as %s): %v, want ErrSMSRateLimited", s.sg, err)
				}
			}
			if f.sent() != n {
				t.Fatal("a refused request sent a message")
			}
			if _, err := f.sendOTP(sg3, b3); err != nil {
				t.Fatalf("another phone: %v", err)
			}
		})
	})
}

// TestSendOTPBinding: a SCAL2 code needs the hashes it approves; a SCAL1
// code is bound to the credential alone.
func TestSendOTPBinding(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c2 := f.credential(sg, hsm.ECP256, 2, 2)
		for _, b := range []sam.Binding{
			{CredentialID: c2.ID},
			{CredentialID: c2.ID, HashAlgorithm: sam.OIDSHA256, NumSignatures: 1},
		} {
			if _, err := f.sendOTP(sg, b); !errors.Is(err, sam.ErrHashesMissing) {
				t.Fatalf("SCAL2 code without hashes (%+v): %v, want ErrHashesMissing", b, err)
			}
		}
		h := digest("doc")
		for name, b := range map[string]sam.Binding{
			"too many hashes":     {CredentialID: c2.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h, h, h}},
			"wrong digest length": {CredentialID: c2.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h[:20]}},
			"unknown algorithm":   {CredentialID: c2.ID, HashAlgorithm: "1.2.3", Hashes: [][]byte{h}},
		} {
			if _, err := f.sendOTP(sg, b); err == nil {
				t.Fatalf("%s: code sent", name)
			}
		}
		if f.sent() != 0 {
			t.Fatalf("%d messages sent for refused requests", f.sent())
		}

		c1 := f.credential(sg, hsm.ECP256, 1, 1)
		if _, err := f.sendOTP(sg, sam.Binding{CredentialID: c1.ID}); err != nil {
			t.Fatalf("SCAL1 code without hashes: %v", err)
		}
		m := f.lastMessage()
		if m.Documents != 0 || m.Fingerprint != "" || m.Code == "" {
			t.Fatalf("SCAL1 message %+v", m)
		}
		if _, err := f.authzOTP(c1, otherCode(m.Code), "", sam.ChannelAuto); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("SCAL1 with a wrong SMS code: %v", err)
		}
		sad, err := f.authzOTP(c1, m.Code, "", sam.ChannelAuto)
		if err != nil {
			t.Fatalf("SCAL1 with the SMS code: %v", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c1, sad.Token, digest("any document"))); err != nil {
			t.Fatalf("SCAL1 signature: %v", err)
		}
	})
}

// failingSender takes the message (so the test knows the code) and then
// reports that the provider refused it.
type failingSender struct {
	mu    sync.Mutex
	codes []string
}

func (s *failingSender) SendCode(_ context.Context, _ string, m sam.CodeMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(s.codes, m.Code)
	return errors.New("sms provider: 503")
}

// TestSMSDeliveryFailure: a code the provider did not take is voided, so it
// cannot be guessed or leaked later.
func TestSMSDeliveryFailure(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}

		f.sender.fail = errors.New("provider down")
		_, err := f.sendOTP(sg, b)
		if !errors.Is(err, sam.ErrSMSDelivery) || sam.IsRateLimited(err) {
			t.Fatalf("provider failure: %v, want ErrSMSDelivery", err)
		}
		f.sender.fail = nil
		for _, ch := range f.challengesOf(sg) {
			if ch.UsedAt == 0 {
				t.Fatalf("challenge %s still usable after the provider refused it", ch.ID)
			}
		}

		// The same through a sender that saw the code: it cannot be used.
		fs := &failingSender{}
		s2, err := sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithCodeSender(fs))
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := s2.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, ClientName: "Test SCA", Binding: b}); !errors.Is(err, sam.ErrSMSDelivery) {
			t.Fatalf("provider failure: %v, want ErrSMSDelivery", err)
		}
		chs := f.challengesOf(sg)
		last := chs[len(chs)-1]
		if len(fs.codes) != 1 || last.UsedAt == 0 {
			t.Fatalf("codes %d, last challenge used_at %d", len(fs.codes), last.UsedAt)
		}
		if _, err := f.authzOTP(c, fs.codes[0], last.ID, sam.ChannelAuto, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("code of an undelivered challenge: %v, want ErrAuthentication", err)
		}
		if _, err := f.authzOTP(c, fs.codes[0], "", sam.ChannelSMS, h); !errors.Is(err, sam.ErrAuthentication) {
			t.Fatalf("code of an undelivered challenge on the SMS channel: %v, want ErrAuthentication", err)
		}
		if !f.hasAudit(sam.EventChallengeSent, sam.OutcomeFail, sg, map[string]any{"challenge": last.ID, "error": "sms provider: 503"}) {
			t.Fatal("delivery failure not audited")
		}

		// The provider is back: codes work again.
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatal(err)
		}
		if _, err := f.authzOTP(c, f.sender.last(phone1), "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("code after recovery: %v", err)
		}
	})
}

// TestSendOTPLockedPhone: a phone locked by wrong codes gets no more codes
// until an operator unlocks it.
func TestSendOTPLockedPhone(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		for i := 0; i < 5; i++ {
			if _, err := f.sendOTP(sg, b); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
			if _, err := f.authzOTP(c, otherCode(f.sender.last(phone1)), "", sam.ChannelAuto, h); !errors.Is(err, sam.ErrAuthentication) {
				t.Fatalf("wrong code %d: %v", i+1, err)
			}
		}
		n := f.sent()
		_, err := f.sendOTP(sg, b)
		if !errors.Is(err, sam.ErrOTPLocked) {
			t.Fatalf("code for a locked phone: %v, want ErrOTPLocked", err)
		}
		if f.sent() != n {
			t.Fatal("a code was sent to a locked phone")
		}
		if err := f.sam.UnlockFactor(ctx, sg, "", store.FactorSMS, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sendOTP(sg, b); err != nil {
			t.Fatalf("code after unlock: %v", err)
		}
		if _, err := f.authzOTP(c, f.sender.last(phone1), "", sam.ChannelAuto, h); err != nil {
			t.Fatalf("authorize after unlock: %v", err)
		}
	})
}

// TestSMSCodeNeverLogged: codes, right or wrong, delivered or not, appear
// in no audit entry and no error.
func TestSMSCodeNeverLogged(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("doc")
		b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}}
		var codes []string
		var errs []error
		collect := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}

		_, err := f.sendOTP(sg, b)
		collect(err)
		code := f.sender.last(phone1)
		codes = append(codes, code)
		_, err = f.sam.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, Binding: b}) // too soon
		collect(err)
		_, err = f.authzOTP(c, otherCode(code), "", sam.ChannelAuto, h)
		collect(err)
		_, err = f.authzOTP(c, code, "", sam.ChannelAuto, digest("other"))
		collect(err)
		_, err = f.authzOTP(c, code, "", sam.ChannelAuto, h)
		collect(err)
		_, err = f.authzOTP(c, code, "", sam.ChannelAuto, h) // reuse
		collect(err)

		fs := &failingSender{}
		s2, err := sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithCodeSender(fs))
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		_, err = s2.SendOTP(ctx, sam.OTPRequest{SignerID: sg, ClientID: testClient, Binding: b})
		collect(err)
		codes = append(codes, fs.codes...)

		if len(errs) != 5 {
			t.Fatalf("%d refusals, want 5: %v", len(errs), errs)
		}
		if len(codes) != 2 {
			t.Fatalf("codes %v", codes)
		}
		entries := f.auditRecords("")
		if !f.hasAudit(sam.EventChallengeSent, sam.OutcomeOK, sg, nil) {
			t.Fatal("no challenge.sent entry: the scenario did not run")
		}
		for _, code := range codes {
			re := regexp.MustCompile(`\b` + code + `\b`)
			for _, e := range entries {
				row := strings.Join([]string{e.Event, e.Outcome, e.Actor, e.CredentialID, e.ClientID, e.Details}, " ")
				if re.MatchString(row) {
					t.Errorf("code %s in audit entry %d: %s", code, e.Seq, row)
				}
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), code) {
					t.Errorf("code %s in error %q", code, err)
				}
			}
		}
	})
}
