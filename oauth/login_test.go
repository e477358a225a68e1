package oauth_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm/hsmtest"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(hsmtest.Main(m)) }

var ctx = context.Background()

func TestLoginRefreshRevoke(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.Store) {
		s, err := sam.New(sam.Config{Argon2: sam.Argon2Config{MemoryKiB: 8192, Threads: 1}}, hsmtest.HSM(t), db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSigner(ctx, sam.NewSigner{Username: "ada", Name: "Ada", Password: "correct horse"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		clock := func() time.Time { return now }
		l := oauth.NewLogins(oauth.LoginConfig{AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour}, s, db, clock)

		for _, bad := range [][2]string{{"ada", "wrong horse"}, {"nobody", "correct horse"}} {
			if _, err := l.Login(ctx, bad[0], bad[1], false); !errors.Is(err, sam.ErrLoginFailed) {
				t.Fatalf("login %v: %v, want ErrLoginFailed", bad, err)
			}
		}
		plain, err := l.Login(ctx, "ada", "correct horse", false)
		if err != nil || plain.RefreshToken != "" || plain.ExpiresIn != 3600 {
			t.Fatalf("login without rememberMe: %+v %v", plain, err)
		}
		first, err := l.Login(ctx, "ada", "correct horse", true)
		if err != nil || first.RefreshToken == "" {
			t.Fatalf("login with rememberMe: %+v %v", first, err)
		}
		p, err := l.Authenticate(ctx, first.AccessToken)
		if err != nil || p.Scope != oauth.ScopeService {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
		if _, err := l.Authenticate(ctx, first.RefreshToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Fatalf("a refresh token was accepted as an access token: %v", err)
		}

		// Concurrent exchanges of one refresh token: exactly one succeeds,
		// and the losers' reuse revokes the whole login.
		var won atomic.Int32
		var wg sync.WaitGroup
		var second oauth.Issued
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, err := l.Refresh(ctx, first.RefreshToken); err == nil {
					won.Add(1)
					second = got
				} else if !errors.Is(err, oauth.ErrInvalidRefresh) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("refresh token exchanged %d times", won.Load())
		}
		if _, err := l.Refresh(ctx, second.RefreshToken); !errors.Is(err, oauth.ErrInvalidRefresh) {
			t.Fatalf("after reuse the rotated refresh token still works: %v", err)
		}
		if _, err := l.Authenticate(ctx, first.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Fatalf("after reuse the login's access token still works: %v", err)
		}

		// Revoking an access token leaves the refresh token alone.
		third, _ := l.Login(ctx, "ada", "correct horse", true)
		p3, _ := l.Authenticate(ctx, third.AccessToken)
		if err := l.Revoke(ctx, p3, third.AccessToken); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Authenticate(ctx, third.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Fatalf("revoked access token: %v", err)
		}
		if _, err := l.Refresh(ctx, third.RefreshToken); err != nil {
			t.Fatalf("refresh after access revoke: %v", err)
		}
		if err := l.Revoke(ctx, oauth.Principal{SignerID: "someone-else"}, plain.AccessToken); !errors.Is(err, oauth.ErrUnknownToken) {
			t.Fatalf("revoking another user's token: %v", err)
		}
		now = now.Add(2 * time.Hour)
		if _, err := l.Authenticate(ctx, plain.AccessToken); !errors.Is(err, oauth.ErrExpiredToken) {
			t.Fatalf("expired token: %v", err)
		}
	})
}
