package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

var ctx = context.Background()

func seed(t *testing.T, s *store.Store) (*store.Signer, *store.Credential) {
	t.Helper()
	sg := &store.Signer{ID: "signer-1", Name: "Ada Lovelace", Status: store.StatusActive}
	if err := s.CreateSigner(ctx, sg); err != nil {
		t.Fatal(err)
	}
	c := &store.Credential{
		ID: "cred-1", SignerID: sg.ID, Status: store.StatusActive, KeyAlgorithm: "EC-P256",
		KeyBlob: []byte{1, 2, 3}, KeyMAC: []byte{4}, PublicKey: []byte{5},
		SignAlgorithms: []string{"1.2.840.10045.4.3.2"}, SCAL: 2, Multisign: 10, AuthMode: "explicit",
	}
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return sg, c
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	for _, d := range storetest.Drivers() {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			for i := 0; i < 2; i++ {
				s, err := store.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("open #%d: %v", i+1, err)
				}
				h, err := s.AuditHeadRow(ctx)
				if err != nil || h.Seq != 0 {
					t.Fatalf("head after open #%d: %+v, %v", i+1, h, err)
				}
				s.Close()
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		ok   bool
	}{
		{"sqlite", store.Config{Driver: "sqlite", DSN: "/tmp/x.db"}, true},
		{"default driver", store.Config{DSN: "/tmp/x.db"}, true},
		{"postgres", store.Config{Driver: "postgres", DSN: "postgres://u@h/db"}, true},
		{"unknown driver", store.Config{Driver: "mysql", DSN: "x"}, false},
		{"no dsn", store.Config{Driver: "sqlite"}, false},
		{"negative pool", store.Config{DSN: "x", MaxOpenConns: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := store.Open(ctx, store.Config{DSN: "/tmp/x.db?mode=memory"}); err == nil {
		t.Fatal("sqlite DSN with URI options accepted")
	}
}

func TestSignersAndCredentials(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		sg, c := seed(t, s)
		if err := s.CreateSigner(ctx, &store.Signer{ID: sg.ID, Name: "dup", Status: "active"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate signer: %v, want ErrConflict", err)
		}
		got, err := s.Credential(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SignerID != sg.ID || len(got.SignAlgorithms) != 1 || got.SignAlgorithms[0] != "1.2.840.10045.4.3.2" {
			t.Fatalf("credential round trip: %+v", got)
		}
		if _, err := s.Credential(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown credential: %v", err)
		}
		list, err := s.CredentialsOf(ctx, sg.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("CredentialsOf = %d, %v", len(list), err)
		}
		if err := s.SetCredentialStatus(ctx, "nope", store.StatusDisabled, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of unknown credential: %v", err)
		}
	})
}

func TestFactorLockoutAndTOTPStep(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		sg, c := seed(t, s)
		f := &store.Factor{ID: "f1", SignerID: sg.ID, CredentialID: c.ID, Kind: store.FactorPIN, Secret: []byte("x"), Status: store.StatusActive}
		if err := s.PutFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			n, ok, err := s.ReserveAttempt(ctx, f.ID, 3)
			if err != nil || !ok || n != i {
				t.Fatalf("attempt %d: n=%d ok=%v err=%v", i, n, ok, err)
			}
		}
		if n, ok, err := s.ReserveAttempt(ctx, f.ID, 3); ok || err != nil {
			t.Fatalf("fourth attempt with limit 3: n=%d ok=%v err=%v", n, ok, err)
		}
		if err := s.UnlockFactor(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.ReserveAttempt(ctx, f.ID, 3); !ok {
			t.Fatal("attempt refused after unlock")
		}
		// Replacing the factor keeps its ID and resets counters.
		f2 := &store.Factor{ID: "other", SignerID: sg.ID, CredentialID: c.ID, Kind: store.FactorPIN, Secret: []byte("y"), Status: store.StatusActive}
		if err := s.PutFactor(ctx, f2); err != nil {
			t.Fatal(err)
		}
		got, err := s.Factor(ctx, sg.ID, c.ID, store.FactorPIN)
		if err != nil || got.ID != "f1" || string(got.Secret) != "y" || got.Failures != 0 {
			t.Fatalf("replaced factor: %+v, %v", got, err)
		}

		totp := &store.Factor{ID: "t1", SignerID: sg.ID, Kind: store.FactorTOTP, Status: store.StatusActive}
		if err := s.PutFactor(ctx, totp); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			step int64
			want bool
		}{{100, true}, {100, false}, {99, false}, {101, true}} {
			ok, err := s.AcceptTOTPStep(ctx, totp.ID, tc.step)
			if err != nil || ok != tc.want {
				t.Fatalf("AcceptTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
			}
		}
	})
}

func TestConcurrentAttemptsNeverExceedLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		sg, c := seed(t, s)
		f := &store.Factor{ID: "f1", SignerID: sg.ID, CredentialID: c.ID, Kind: store.FactorPIN, Status: store.StatusActive}
		if err := s.PutFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		var granted atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok, err := s.ReserveAttempt(ctx, f.ID, 5); err == nil && ok {
					granted.Add(1)
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if granted.Load() != 5 {
			t.Fatalf("%d attempts granted, want exactly 5", granted.Load())
		}
	})
}

func newSAD(id string, expires int64) *store.SAD {
	return &store.SAD{ID: id, TokenHash: []byte("hash-" + id), CredentialID: "cred-1", SignerID: "signer-1", ClientID: "client",
		SCAL: 2, HashAlgorithm: "2.16.840.1.101.3.4.2.1", Hashes: "a,b", Consumed: "00", NumSignatures: 2, Remaining: 2,
		Version: 1, OriginAt: 1, ExpiresAt: expires, MAC: []byte("m")}
}

func TestSADCompareAndSwap(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		now := time.Now().UnixMilli()
		sad := newSAD("sad-1", now+60_000)
		if err := s.CreateSAD(ctx, sad, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.SADByTokenHash(ctx, sad.TokenHash)
		if err != nil || got.ID != sad.ID || got.Version != 1 {
			t.Fatalf("SADByTokenHash: %+v, %v", got, err)
		}

		// 50 racers from the same version: exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.UpdateSAD(ctx, store.SADUpdate{ID: sad.ID, FromVersion: 1, Remaining: 1, Consumed: "10", NowMs: now}, nil, nil)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d racers won, want 1", wins.Load())
		}

		tests := []struct {
			name string
			u    store.SADUpdate
		}{
			{"stale version", store.SADUpdate{ID: sad.ID, FromVersion: 1, NowMs: now}},
			{"expired", store.SADUpdate{ID: sad.ID, FromVersion: 2, NowMs: now + 60_000}},
			{"unknown", store.SADUpdate{ID: "nope", FromVersion: 2, NowMs: now}},
		}
		for _, tc := range tests {
			if ok, err := s.UpdateSAD(ctx, tc.u, nil, nil); ok || err != nil {
				t.Errorf("%s: applied=%v err=%v, want not applied", tc.name, ok, err)
			}
		}

		// Disabling the credential revokes the SAD and blocks the swap.
		if err := s.SetCredentialStatus(ctx, "cred-1", store.StatusDisabled, now); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.UpdateSAD(ctx, store.SADUpdate{ID: sad.ID, FromVersion: 2, NowMs: now}, nil, nil); ok {
			t.Fatal("update applied on a disabled credential")
		}
		got, _ = s.SADByTokenHash(ctx, sad.TokenHash)
		if got.RevokedAt == 0 {
			t.Fatal("SAD not revoked when its credential was disabled")
		}
	})
}

func TestChallenges(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UnixMilli()
		c := &store.Challenge{ID: "ch1", SignerID: "s", CredentialID: "c", Binding: []byte("b"), CodeMAC: []byte("m"), ExpiresAt: now + 1000}
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if ok, err := s.ReserveChallengeAttempt(ctx, c.ID, 2, now); !ok || err != nil {
				t.Fatalf("attempt %d: %v %v", i, ok, err)
			}
		}
		if ok, _ := s.ReserveChallengeAttempt(ctx, c.ID, 2, now); ok {
			t.Fatal("third attempt allowed with limit 2")
		}
		if ok, _ := s.UseChallenge(ctx, c.ID, now+1000); ok {
			t.Fatal("expired challenge used")
		}
		if ok, _ := s.UseChallenge(ctx, c.ID, now); !ok {
			t.Fatal("challenge not usable")
		}
		if ok, _ := s.UseChallenge(ctx, c.ID, now); ok {
			t.Fatal("challenge used twice")
		}
	})
}

func TestAuditAppendIsLinearUnderConcurrency(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const n = 40
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := s.AppendAudit(ctx, func(h store.AuditHead) (*store.AuditEntry, error) {
					return &store.AuditEntry{Seq: h.Seq + 1, At: 1, Event: "test", Outcome: "ok", Details: fmt.Sprint(i),
						Chain: append(append([]byte{}, h.Chain...), byte(h.Seq+1))}, nil
				})
				if err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		es, err := s.AuditEntries(ctx, 0, 1000)
		if err != nil || len(es) != n {
			t.Fatalf("%d entries, %v", len(es), err)
		}
		for i, e := range es {
			// Each chain value extends its predecessor's, so the log is linear.
			if e.Seq != int64(i+1) || len(e.Chain) != i+1 || (i > 0 && string(e.Chain[:i]) != string(es[i-1].Chain)) {
				t.Fatalf("entry %d not chained to its predecessor", e.Seq)
			}
		}
		h, _ := s.AuditHeadRow(ctx)
		if h.Seq != n {
			t.Fatalf("head at %d, want %d", h.Seq, n)
		}
		// A builder that breaks the sequence is refused and nothing is written.
		if _, err := s.AppendAudit(ctx, func(h store.AuditHead) (*store.AuditEntry, error) {
			return &store.AuditEntry{Seq: h.Seq + 2, Chain: []byte{1}}, nil
		}); err == nil {
			t.Fatal("out-of-sequence entry accepted")
		}
		// A failure after the first statement rolls the whole transaction
		// back: the SAD swap below applies, the audit entry fails, and the
		// SAD keeps its old version.
		seed(t, s)
		sad := newSAD("sad-rb", time.Now().UnixMilli()+60_000)
		if err := s.CreateSAD(ctx, sad, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSAD(ctx, store.SADUpdate{ID: sad.ID, FromVersion: 1, Remaining: 1, Consumed: "10", NowMs: time.Now().UnixMilli()}, nil,
			func(store.AuditHead) (*store.AuditEntry, error) { return nil, errors.New("builder failed") }); err == nil {
			t.Fatal("failing audit builder did not fail the update")
		}
		got, err := s.SADByTokenHash(ctx, sad.TokenHash)
		if err != nil || got.Version != 1 || got.Remaining != 2 {
			t.Fatalf("SAD after rolled-back update: %+v, %v", got, err)
		}
		if es, _ := s.AuditEntries(ctx, 0, 1000); len(es) != n {
			t.Fatalf("%d entries after failed appends, want %d", len(es), n)
		}
		if _, err := s.AppendAudit(ctx, func(h store.AuditHead) (*store.AuditEntry, error) {
			return &store.AuditEntry{Seq: h.Seq + 1, At: 1, Event: "after", Outcome: "ok", Details: "{}", Chain: []byte{9}}, nil
		}); err != nil {
			t.Fatalf("append after a rolled-back transaction: %v", err)
		}
	})
}
