package sam_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// approveReq is a valid approval of c for hashes at the current TOTP step.
func (f *fixture) approveReq(c *store.Credential, num int, hashes ...[]byte) sam.ApproveRequest {
	return sam.ApproveRequest{CredentialID: c.ID, SignerID: c.SignerID, ClientID: testClient, NumSignatures: num,
		HashAlgorithm: sam.OIDSHA256, Hashes: hashes, OTP: f.totp()}
}

// approve moves to a fresh TOTP step, approves and issues the SAD for code.
func (f *fixture) approve(c *store.Credential, code string, num int, hashes ...[]byte) sam.IssuedSAD {
	f.t.Helper()
	f.clock.Advance(30 * time.Second)
	a, err := f.sam.Approve(ctx, f.approveReq(c, num, hashes...))
	if err != nil {
		f.t.Fatalf("approve: %v", err)
	}
	sad, err := a.Issue(ctx, code)
	if err != nil {
		f.t.Fatalf("issue: %v", err)
	}
	return sad
}

// wrongTOTP is a six-digit code that is not the current one.
func (f *fixture) wrongTOTP() string {
	if c := f.totp(); c != "000000" {
		return "000000"
	}
	return "111111"
}

func (f *fixture) totpFailures(signerID string) int {
	f.t.Helper()
	fa, err := f.st.Factor(ctx, signerID, "", store.FactorTOTP)
	if err != nil {
		f.t.Fatal(err)
	}
	return fa.Failures
}

// TestApproveIssueSign: the OAuth authorization-code flow from the signer's
// approval to a signature with the credential token.
func TestApproveIssueSign(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 5)
		h1, h2, hx := digest("doc-1"), digest("doc-2"), digest("not approved")

		t.Run("approve, issue, sign", func(t *testing.T) {
			f.clock.Advance(30 * time.Second)
			a, err := f.sam.Approve(ctx, f.approveReq(c, 2, h1, h2))
			if err != nil {
				t.Fatal(err)
			}
			sad, err := a.Issue(ctx, "code-1")
			if err != nil {
				t.Fatal(err)
			}
			if sad.Remaining != 2 || !sad.ExpiresAt.Equal(f.clock.Now().Add(5*time.Minute)) {
				t.Fatalf("issued %+v", sad)
			}
			tok, err := f.sam.CredentialToken(ctx, "code-1")
			if err != nil || tok != sad.Token {
				t.Fatalf("CredentialToken = %q, %v; Issue gave %q", tok, err, sad.Token)
			}
			if other, _ := f.sam.CredentialToken(ctx, "code-2"); other == tok {
				t.Fatal("two codes give the same token")
			}
			if _, err := a.Issue(ctx, "code-1b"); err == nil {
				t.Fatal("second Issue on one approval succeeded")
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, tok, hx)); !errors.Is(err, sam.ErrHashNotAuthorized) {
				t.Fatalf("hash not approved: %v, want ErrHashNotAuthorized", err)
			}
			sigs, err := f.sam.SignHash(ctx, f.signReq(c, tok, h2, h1))
			if err != nil || len(sigs) != 2 {
				t.Fatalf("sign: %d signatures, %v", len(sigs), err)
			}
			verifyEC(t, c, h2, sigs[0])
			verifyEC(t, c, h1, sigs[1])
		})

		t.Run("oauth2code credential without PIN", func(t *testing.T) {
			oc, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg, Algorithm: hsm.ECP256, SCAL: 2, Multisign: 1, AuthMode: sam.AuthModeOAuth2Code})
			if err != nil {
				t.Fatal(err)
			}
			sad := f.approve(oc, "code-oauth2code", 1, h1)
			sigs, err := f.sam.SignHash(ctx, f.signReq(oc, sad.Token, h1))
			if err != nil {
				t.Fatal(err)
			}
			verifyEC(t, oc, h1, sigs[0])
		})

		t.Run("out-of-band challenge bound to the approval", func(t *testing.T) {
			b := sam.Binding{CredentialID: c.ID, HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1}, NumSignatures: 1}
			ask := func(hashes ...[]byte) (*sam.Approval, error) {
				id, err := f.sendOTP(sg, b)
				if err != nil {
					t.Fatal(err)
				}
				return f.sam.Approve(ctx, sam.ApproveRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
					HashAlgorithm: sam.OIDSHA256, Hashes: hashes, OTP: f.sender.last("+49151000001"), ChallengeID: id})
			}
			if _, err := ask(h2); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("code sent for another hash: %v, want ErrOTPInvalid", err)
			}
			a, err := ask(h1)
			if err != nil {
				t.Fatal(err)
			}
			sad, err := a.Issue(ctx, "code-sms")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("empty code refused without spending the approval", func(t *testing.T) {
			f.clock.Advance(30 * time.Second)
			a, err := f.sam.Approve(ctx, f.approveReq(c, 1, h1))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Issue(ctx, ""); err == nil {
				t.Fatal("empty code accepted")
			}
			if _, err := f.sam.CredentialToken(ctx, ""); err == nil {
				t.Fatal("token for an empty code")
			}
			if _, err := a.Issue(ctx, "code-after-empty"); err != nil {
				t.Fatal(err)
			}
			if _, err := (&sam.Approval{}).Issue(ctx, "code-forged"); err == nil {
				t.Fatal("zero Approval issued a SAD")
			}
		})

		t.Run("approval older than the SAD lifetime", func(t *testing.T) {
			f.clock.Advance(30 * time.Second)
			late, err := f.sam.Approve(ctx, f.approveReq(c, 1, h1))
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(30 * time.Second)
			inTime, err := f.sam.Approve(ctx, f.approveReq(c, 1, h1))
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(5*time.Minute - 30*time.Second)
			if _, err := late.Issue(ctx, "code-late"); !errors.Is(err, sam.ErrSADExpired) {
				t.Fatalf("got %v, want ErrSADExpired", err)
			}
			if _, err := inTime.Issue(ctx, "code-in-time"); err != nil {
				t.Fatalf("approval 30s short of the lifetime: %v", err)
			}
		})

		t.Run("credential disabled after approval", func(t *testing.T) {
			c2 := f.credential(sg, hsm.ECP256, 2, 1)
			f.clock.Advance(30 * time.Second)
			a, err := f.sam.Approve(ctx, f.approveReq(c2, 1, h1))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.sam.SetCredentialStatus(ctx, c2.ID, store.StatusDisabled, "operator"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Issue(ctx, "code-disabled"); !errors.Is(err, sam.ErrCredentialDisabled) {
				t.Fatalf("got %v, want ErrCredentialDisabled", err)
			}
		})

		t.Run("secrets stay out of the audit log", func(t *testing.T) {
			if _, err := f.sam.VerifyAudit(ctx); err != nil {
				t.Fatal(err)
			}
			tok, _ := f.sam.CredentialToken(ctx, "code-1")
			entries, err := f.st.AuditEntries(ctx, 0, 10000)
			if err != nil {
				t.Fatal(err)
			}
			approvals := 0
			for _, e := range entries {
				if e.Event == sam.EventSADApproved {
					approvals++
				}
				for _, secret := range []string{tok, "code-1", "code-sms"} {
					if strings.Contains(e.Details, secret) {
						t.Fatalf("audit entry %d (%s) holds a secret", e.Seq, e.Event)
					}
				}
			}
			if approvals < 5 {
				t.Fatalf("%d approvals audited", approvals)
			}
		})
	})
}

// TestApproveRefusals: every refusal names its reason and counts second
// factor failures towards the lockout.
func TestApproveRefusals(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 5)
		c1 := f.credential(sg, hsm.ECP256, 1, 5)
		theirs := f.credential(f.signer("signer-2"), hsm.ECP256, 2, 5)
		h1 := digest("doc-1")

		tests := []struct {
			name string
			req  func() sam.ApproveRequest
			want error
		}{
			{"another signer's credential", func() sam.ApproveRequest {
				r := f.approveReq(theirs, 1, h1)
				r.SignerID = sg
				return r
			}, sam.ErrCredentialInvalid},
			{"unknown credential", func() sam.ApproveRequest {
				r := f.approveReq(c, 1, h1)
				r.CredentialID = "nope"
				return r
			}, sam.ErrCredentialInvalid},
			{"SCAL2 without hashes", func() sam.ApproveRequest { return f.approveReq(c, 1) }, sam.ErrHashesMissing},
			{"more hashes than signatures", func() sam.ApproveRequest { return f.approveReq(c, 1, h1, h1) }, sam.ErrHashesMissing},
			{"numSignatures above multisign", func() sam.ApproveRequest { return f.approveReq(c, 6, h1) }, sam.ErrTooManySignatures},
			{"numSignatures zero", func() sam.ApproveRequest { return f.approveReq(c1, 0) }, sam.ErrNumSignatures},
			{"unknown hash algorithm", func() sam.ApproveRequest {
				r := f.approveReq(c, 1, h1)
				r.HashAlgorithm = "1.2.3"
				return r
			}, sam.ErrHashAlgorithm},
			{"digest of the wrong length", func() sam.ApproveRequest { return f.approveReq(c, 1, h1[:20]) }, sam.ErrDigestLength},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f.clock.Advance(30 * time.Second)
				if a, err := f.sam.Approve(ctx, tc.req()); !errors.Is(err, tc.want) || a != nil {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
		if n := f.totpFailures(sg); n != 0 {
			t.Fatalf("refused requests counted %d OTP failures", n)
		}

		t.Run("SCAL1 needs the second factor too", func(t *testing.T) {
			f.clock.Advance(30 * time.Second)
			r := f.approveReq(c1, 2)
			r.OTP = ""
			if _, err := f.sam.Approve(ctx, r); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("got %v, want ErrOTPInvalid", err)
			}
			r.OTP = f.totp()
			a, err := f.sam.Approve(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			sad, err := a.Issue(ctx, "code-scal1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c1, sad.Token, randomDigest(), randomDigest())); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("TOTP step used once", func(t *testing.T) {
			f.clock.Advance(30 * time.Second)
			req := f.approveReq(c, 1, h1)
			if _, err := f.sam.Approve(ctx, req); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.Approve(ctx, req); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("replayed TOTP code: %v, want ErrOTPInvalid", err)
			}
			if _, err := f.sam.Authorize(ctx, sam.AuthorizeRequest{CredentialID: c.ID, SignerID: sg, ClientID: testClient, NumSignatures: 1,
				HashAlgorithm: sam.OIDSHA256, Hashes: [][]byte{h1}, PIN: testPIN, OTP: req.OTP}); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("TOTP code of an approval reused at credentials/authorize: %v", err)
			}
		})
	})
}

// TestApproveLockout: wrong and empty codes are counted before the check;
// MaxFailures of them lock the TOTP factor, even for the right code, and kill
// the credential's outstanding SADs.
func TestApproveLockout(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-3")
		c := f.credential(sg, hsm.ECP256, 2, 5)
		h1 := digest("doc-1")
		outstanding := f.approve(c, "code-outstanding", 1, h1)

		for i := 1; i <= 5; i++ {
			f.clock.Advance(30 * time.Second)
			req := f.approveReq(c, 1, h1)
			req.OTP = f.wrongTOTP()
			if i == 3 {
				req.OTP = ""
			}
			if _, err := f.sam.Approve(ctx, req); !errors.Is(err, sam.ErrOTPInvalid) {
				t.Fatalf("failure %d: %v, want ErrOTPInvalid", i, err)
			}
			if n := f.totpFailures(sg); n != i {
				t.Fatalf("after failure %d the factor counts %d", i, n)
			}
		}
		f.clock.Advance(30 * time.Second)
		if _, err := f.sam.Approve(ctx, f.approveReq(c, 1, h1)); !errors.Is(err, sam.ErrOTPLocked) {
			t.Fatalf("right code after lockout: %v, want ErrOTPLocked", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c, outstanding.Token, h1)); !errors.Is(err, sam.ErrSADRevoked) {
			t.Fatalf("SAD outstanding at lockout: %v, want ErrSADRevoked", err)
		}
		if err := f.sam.UnlockFactor(ctx, sg, "", store.FactorTOTP, "operator"); err != nil {
			t.Fatal(err)
		}
		f.approve(c, "code-unlocked", 1, h1)
	})
}

// TestBearerAndRevoke: a credential token resolves to its binding until it
// is used up, and only its own client can revoke it.
func TestBearerAndRevoke(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 5)
		h1, h2 := digest("doc-1"), digest("doc-2")

		t.Run("bearer until used up", func(t *testing.T) {
			sad := f.approve(c, "code-bearer", 2, h1, h2)
			b, err := f.sam.Bearer(ctx, sad.Token)
			if err != nil {
				t.Fatal(err)
			}
			want := sam.BearerSAD{CredentialID: c.ID, SignerID: sg, ClientID: testClient, ExpiresAt: sad.ExpiresAt, Remaining: 2}
			if b != want {
				t.Fatalf("Bearer = %+v, want %+v", b, want)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); err != nil {
				t.Fatal(err)
			}
			if b, err := f.sam.Bearer(ctx, sad.Token); err != nil || b.Remaining != 1 {
				t.Fatalf("after one signature: %+v, %v", b, err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h2)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.Bearer(ctx, sad.Token); !errors.Is(err, sam.ErrSADExhausted) {
				t.Fatalf("used up: %v, want ErrSADExhausted", err)
			}
		})

		t.Run("bearer refusals", func(t *testing.T) {
			if _, err := f.sam.Bearer(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("unknown: %v", err)
			}
			if _, err := f.sam.Bearer(ctx, "not a token"); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("malformed: %v", err)
			}
			sad := f.approve(c, "code-expires", 1, h1)
			f.clock.Advance(5 * time.Minute)
			if _, err := f.sam.Bearer(ctx, sad.Token); !errors.Is(err, sam.ErrSADExpired) {
				t.Fatalf("expired: %v", err)
			}
		})

		t.Run("revocation by its own client only", func(t *testing.T) {
			sad := f.approve(c, "code-revoke", 1, h1)
			if err := f.sam.RevokeSADOf(ctx, sad.Token, "another-client"); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("foreign client: %v, want ErrSADInvalid", err)
			}
			if err := f.sam.RevokeSADOf(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", testClient); !errors.Is(err, sam.ErrSADInvalid) {
				t.Fatalf("unknown token: %v, want ErrSADInvalid", err)
			}
			if b, err := f.sam.Bearer(ctx, sad.Token); err != nil || b.Remaining != 1 {
				t.Fatalf("a foreign revocation touched the SAD: %+v, %v", b, err)
			}
			if err := f.sam.RevokeSADOf(ctx, sad.Token, testClient); err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h1)); !errors.Is(err, sam.ErrSADRevoked) {
				t.Fatalf("revoked token signed: %v, want ErrSADRevoked", err)
			}
			if _, err := f.sam.Bearer(ctx, sad.Token); !errors.Is(err, sam.ErrSADRevoked) {
				t.Fatalf("Bearer on a revoked token: %v", err)
			}
			if err := f.sam.RevokeSADOf(ctx, sad.Token, testClient); err != nil {
				t.Fatalf("second revocation: %v", err)
			}
		})
	})
}
