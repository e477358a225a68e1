package sms_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/store"
)

// gsmSafe reports a text of printable ASCII that GSM-7 encodes in one
// character each.
func gsmSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || strings.ContainsRune("`[]{}\\~^|", r) {
			return false
		}
	}
	return true
}

// TestText: every SAM message becomes one GSM-7-safe SMS that carries its
// code; an approval names client, document count and fingerprint.
func TestText(t *testing.T) {
	expires := time.Date(2030, 1, 2, 15, 4, 0, 0, time.FixedZone("CET", 3600))
	longClient := strings.Repeat("Very Long Client Name ", 12)
	tests := []struct {
		name     string
		msg      sam.CodeMessage
		contains []string
		absent   []string
	}{
		{
			name:     "approval",
			msg:      sam.CodeMessage{Purpose: store.PurposeApprove, Code: "428713", Client: "Example SCA", Documents: 3, Fingerprint: "1F41 251B"},
			contains: []string{"428713", "Example SCA", "3 documents", "1F41 251B"},
		},
		{
			name: "approval with an 8-digit code, a long client name and many documents",
			msg: sam.CodeMessage{Purpose: store.PurposeApprove, Code: "42871399", Client: longClient, Documents: 1000,
				Fingerprint: sam.DigestFingerprint([]byte{0xde, 0xad, 0xbe, 0xef, 0x01}, 4)},
			contains: []string{"42871399", "Very Long Client", "1000 documents", "DEAD BEEF"},
		},
		{
			name:     "phone binding",
			msg:      sam.CodeMessage{Purpose: store.PurposeBindPhone, Code: "42871399"},
			contains: []string{"42871399", "confirm this phone number"},
		},
		{
			name:     "phone change",
			msg:      sam.CodeMessage{Purpose: store.PurposePhoneChange, Code: "42871399"},
			contains: []string{"42871399", "new phone number"},
		},
		{
			name:     "activation",
			msg:      sam.CodeMessage{Purpose: sam.PurposeActivation, Code: "ABCD-EFGH-JKMN", ExpiresAt: expires},
			contains: []string{"ABCD-EFGH-JKMN", "2 Jan 2030 14:04 UTC"},
		},
		{
			name:     "notice of a changed number",
			msg:      sam.CodeMessage{Purpose: sam.NoticePhoneChanged},
			contains: []string{"new phone number"},
			absent:   []string{"code is", "RSSP code"},
		},
	}
	purposes := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sms.Text(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			purposes[tc.msg.Purpose] = true
			if len(got) > sms.MaxSMSLength {
				t.Errorf("%d characters > %d: %q", len(got), sms.MaxSMSLength, got)
			}
			if !gsmSafe(got) {
				t.Errorf("not GSM-7 safe: %q", got)
			}
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Errorf("%q does not contain %q", got, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(got, s) {
					t.Errorf("%q contains %q", got, s)
				}
			}
		})
	}
	for _, p := range []string{store.PurposeApprove, store.PurposeBindPhone, store.PurposePhoneChange, sam.PurposeActivation, sam.NoticePhoneChanged} {
		if !purposes[p] {
			t.Errorf("purpose %q not covered", p)
		}
	}
}

// TestTextUnknownPurpose: a message the sender cannot phrase is an error
// that does not repeat the code, and nothing is sent.
func TestTextUnknownPurpose(t *testing.T) {
	m := sam.CodeMessage{Purpose: "login", Code: "428713"}
	if got, err := sms.Text(m); err == nil || got != "" || strings.Contains(err.Error(), m.Code) {
		t.Fatalf("Text(unknown purpose) = %q, %v", got, err)
	}
	rec := &recorder{}
	if err := (sms.CodeSender{Sender: rec}).SendCode(context.Background(), "+447700900123", m); err == nil {
		t.Fatal("SendCode sent a message of unknown purpose")
	}
	if len(rec.sent) != 0 {
		t.Fatalf("%d messages sent", len(rec.sent))
	}
}

// TestCodeSender: the SAM's message goes to the number as the text of Text.
func TestCodeSender(t *testing.T) {
	rec := &recorder{}
	m := sam.CodeMessage{Purpose: store.PurposeApprove, Code: "428713", Client: "Example SCA", Documents: 1, Fingerprint: "1F41 251B"}
	if err := (sms.CodeSender{Sender: rec}).SendCode(context.Background(), "+447700900123", m); err != nil {
		t.Fatal(err)
	}
	want, _ := sms.Text(m)
	if len(rec.sent) != 1 || rec.sent[0] != (sms.Message{To: "+447700900123", Body: want}) {
		t.Fatalf("sent %+v, want one message with %q", rec.sent, want)
	}
}

type recorder struct{ sent []sms.Message }

func (r *recorder) Send(_ context.Context, m sms.Message) error {
	r.sent = append(r.sent, m)
	return nil
}
