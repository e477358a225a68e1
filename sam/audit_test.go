package sam_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// auditScenario produces a realistic log: enrolment, key generation, a
// failed and a successful authorization, signatures and a rejection.
func auditScenario(t *testing.T, f *fixture) *store.Credential {
	c := f.credential(f.signer("signer-1"), hsm.ECP256, 2, 2)
	h := digest("doc")
	f.clock.Advance(30 * time.Second)
	_ = f.tryAuthorize(c, "wrong", f.totp(), h)
	sad := f.authorize(c, 2, h, h)
	for i := 0; i < 2; i++ {
		if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h)); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = f.sam.SignHash(ctx, f.signReq(c, sad.Token, h))
	return c
}

// TestAuditTamperEvidence: editing, deleting or reordering an audit row makes
// VerifyAudit name that row.
func TestAuditTamperEvidence(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		auditScenario(t, f)
		n, err := f.sam.VerifyAudit(ctx)
		if err != nil {
			t.Fatalf("untouched log: %v", err)
		}
		if n < 12 {
			t.Fatalf("only %d audit entries for the scenario", n)
		}
		var events []string
		var es []store.AuditEntry
		f.st.DB().Order("seq").Find(&es)
		for _, e := range es {
			events = append(events, e.Event)
		}
		joined := strings.Join(events, " ")
		for _, want := range []string{sam.EventKeyGenerated, sam.EventFactorFailure, sam.EventFactorSuccess, sam.EventSADIssued,
			sam.EventSignBegin, sam.EventSignEnd, sam.EventSADRejected} {
			if !strings.Contains(joined, want) {
				t.Fatalf("no %s entry in %v", want, events)
			}
		}

		db := f.st.DB()
		tamper := []struct {
			name    string
			do      func() error
			undo    func() error
			wantSeq int64
		}{
			{"modify details of entry 5", func() error {
				return db.Model(&store.AuditEntry{}).Where("seq = 5").Update("details", `{"forged":true}`).Error
			}, func() error {
				return db.Model(&store.AuditEntry{}).Where("seq = 5").Update("details", es[4].Details).Error
			}, 5},
			{"modify outcome of entry 8", func() error {
				return db.Model(&store.AuditEntry{}).Where("seq = 8").Update("outcome", "ok-ish").Error
			}, func() error {
				return db.Model(&store.AuditEntry{}).Where("seq = 8").Update("outcome", es[7].Outcome).Error
			}, 8},
			{"delete entry 6", func() error {
				return db.Where("seq = 6").Delete(&store.AuditEntry{}).Error
			}, func() error { return db.Create(&es[5]).Error }, 6},
			{"swap entries 3 and 4", func() error {
				if err := db.Where("seq IN (3, 4)").Delete(&store.AuditEntry{}).Error; err != nil {
					return err
				}
				a, b := es[2], es[3]
				a.Seq, b.Seq = 4, 3
				return db.Create([]store.AuditEntry{a, b}).Error
			}, func() error {
				if err := db.Where("seq IN (3, 4)").Delete(&store.AuditEntry{}).Error; err != nil {
					return err
				}
				return db.Create([]store.AuditEntry{es[2], es[3]}).Error
			}, 3},
			{"delete the newest entry", func() error {
				return db.Where("seq = ?", len(es)).Delete(&store.AuditEntry{}).Error
			}, func() error { return db.Create(&es[len(es)-1]).Error }, int64(len(es))},
		}
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.do(); err != nil {
					t.Fatal(err)
				}
				_, err := f.sam.VerifyAudit(ctx)
				var ae *sam.AuditError
				if !errors.As(err, &ae) || ae.Seq != tc.wantSeq {
					t.Fatalf("VerifyAudit = %v, want an AuditError at %d", err, tc.wantSeq)
				}
				if err := tc.undo(); err != nil {
					t.Fatal(err)
				}
				if _, err := f.sam.VerifyAudit(ctx); err != nil {
					t.Fatalf("after undo: %v", err)
				}
			})
		}
	})
}

// TestNoSecretsStored: canary PIN, OTP codes, SAD tokens and the TOTP seed
// appear nowhere in the database, in any encoding.
func TestNoSecretsStored(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg, Algorithm: hsm.ECP256, Multisign: 2})
		if err != nil {
			t.Fatal(err)
		}
		const canaryPIN = "canary-PIN-73519"
		if err := f.sam.SetPIN(ctx, c.ID, canaryPIN); err != nil {
			t.Fatal(err)
		}
		h := digest("doc")
		var secrets []string
		for i := 0; i < 3; i++ {
			f.clock.Advance(30 * time.Second)
			otp := f.totp()
			pin := canaryPIN
			if i == 0 {
				pin = "canary-WRONG-PIN-2211"
			}
			sad, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, PIN: pin, OTP: otp})
			secrets = append(secrets, otp, pin)
			if err == nil {
				secrets = append(secrets, sad.Token)
				if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ch, err := f.sendOTP(sg, sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h}, NumSignatures: 1})
		if err != nil {
			t.Fatal(err)
		}
		_ = ch
		secrets = append(secrets, f.sender.last("+49151000001"), string(totpSeed), base64.StdEncoding.EncodeToString(totpSeed), fmt.Sprintf("%x", totpSeed))

		dump, raw := dumpDatabase(t, f.st)
		for _, s := range secrets {
			if isCode(s) {
				// A six-digit code could occur by chance inside a hex dump or
				// a timestamp; one stored as a value would stand on its own.
				if regexp.MustCompile(`\b` + s + `\b`).MatchString(raw) {
					t.Errorf("one-time code %q found in the database", s)
				}
				continue
			}
			if strings.Contains(dump, s) {
				t.Errorf("secret %q found in the database", s)
			}
		}
	})
}

func isCode(s string) bool {
	return regexp.MustCompile(`^[0-9]{6}$`).MatchString(s)
}

// dumpDatabase renders every row of every table as text: all returns byte
// columns as raw bytes, hex and base64, so a secret in any encoding is found;
// raw renders them as raw bytes only.
func dumpDatabase(t *testing.T, st *store.Store) (all, raw string) {
	t.Helper()
	var b, r strings.Builder
	for _, table := range []string{"signers", "credentials", "factors", "sads", "challenges", "audit_entries", "audit_heads"} {
		rows, err := st.DB().Table(table).Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					fmt.Fprintf(&b, "%s|%x|%s|", x, x, base64.StdEncoding.EncodeToString(x))
					fmt.Fprintf(&r, "%s|", x)
				default:
					fmt.Fprintf(&b, "%v|", x)
					fmt.Fprintf(&r, "%v|", x)
				}
			}
			b.WriteByte('\n')
			r.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String(), r.String()
}
