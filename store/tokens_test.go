package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		sg, _ := seed(t, s)
		if got, err := s.SignerByUsername(ctx, sg.ID); err != nil || got.ID != sg.ID {
			t.Fatalf("SignerByUsername(default username) = %v, %v", got, err)
		}
		if err := s.CreateSigner(ctx, &store.Signer{ID: "other", Username: sg.ID, Name: "x", Status: store.StatusActive}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate username: %v, want ErrConflict", err)
		}
		access := &store.Token{ID: "a1", Hash: []byte("ha1"), Kind: store.TokenAccess, FamilyID: "f1", SignerID: sg.ID, ClientID: "c", Scope: "service", ExpiresAt: 1000}
		refresh := &store.Token{ID: "r1", Hash: []byte("hr1"), Kind: store.TokenRefresh, FamilyID: "f1", SignerID: sg.ID, ClientID: "c", Scope: "service", ExpiresAt: 1000}
		if err := s.CreateTokens(ctx, access, refresh); err != nil {
			t.Fatal(err)
		}
		if got, err := s.TokenByHash(ctx, []byte("hr1")); err != nil || got.ID != "r1" {
			t.Fatalf("TokenByHash = %v, %v", got, err)
		}
		if _, err := s.TokenByHash(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		if ok, err := s.RotateRefreshToken(ctx, "a1", 10); err != nil || ok {
			t.Fatalf("an access token was exchanged as a refresh token: %v %v", ok, err)
		}
		if ok, err := s.RotateRefreshToken(ctx, "r1", 2000); err != nil || ok {
			t.Fatalf("an expired refresh token was exchanged: %v %v", ok, err)
		}
		// Many nodes racing to exchange one refresh token: exactly one wins.
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := &store.Token{ID: "n" + fmt.Sprint(i), Hash: []byte("hn" + fmt.Sprint(i)), Kind: store.TokenRefresh, FamilyID: "f1",
					SignerID: sg.ID, ClientID: "c", Scope: "service", ExpiresAt: 1000}
				ok, err := s.RotateRefreshToken(ctx, "r1", 10, next)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("refresh token exchanged %d times, want 1", won.Load())
		}
		stored := 0
		for i := 0; i < 20; i++ {
			if _, err := s.TokenByHash(ctx, []byte("hn"+fmt.Sprint(i))); err == nil {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("%d successors stored, want only the winner's", stored)
		}
		if err := s.RevokeTokenFamily(ctx, "f1", 20); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"ha1", "hr1"} {
			if got, _ := s.TokenByHash(ctx, []byte(h)); got.RevokedAt != 20 {
				t.Fatalf("token %s not revoked with its family: %+v", h, got)
			}
		}
		if err := s.SetSignerStatus(ctx, sg.ID, store.StatusDisabled, 30); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCredential(ctx, "cred-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCredential(ctx, "cred-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
