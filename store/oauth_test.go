package store_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestOAuthClients(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		conf := &store.OAuthClient{ID: "sca", Name: "Signing app", SecretHash: []byte("$2a$10$hash"),
			RedirectURIs: []string{"https://sca.test/cb", "http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, Scopes: []string{"service", "credential"}}
		pub := &store.OAuthClient{ID: "app", Name: "Public app", Public: true, RedirectURIs: []string{"https://app.test/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"credential"}}
		for _, c := range []*store.OAuthClient{conf, pub} {
			if err := s.CreateOAuthClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateOAuthClient(ctx, &store.OAuthClient{ID: "sca", Name: "again"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate client: %v, want ErrConflict", err)
		}
		got, err := s.OAuthClient(ctx, "sca")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != conf.Name || string(got.SecretHash) != string(conf.SecretHash) || got.Public ||
			!slices.Equal(got.RedirectURIs, conf.RedirectURIs) || !slices.Equal(got.GrantTypes, conf.GrantTypes) ||
			!slices.Equal(got.ResponseTypes, conf.ResponseTypes) || !slices.Equal(got.Scopes, conf.Scopes) || got.CreatedAt.IsZero() {
			t.Fatalf("client round trip: %+v", got)
		}
		if got, err := s.OAuthClient(ctx, "app"); err != nil || !got.Public || len(got.SecretHash) != 0 {
			t.Fatalf("public client: %+v %v", got, err)
		}
		if _, err := s.OAuthClient(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown client: %v", err)
		}
		list, err := s.OAuthClients(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "app" || list[1].ID != "sca" {
			t.Fatalf("OAuthClients = %+v, %v", list, err)
		}
		if err := s.DeleteOAuthClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOAuthClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s.OAuthClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted client still found: %v", err)
		}
	})
}

func oauthRow(kind, sig, requestID string, expires int64) *store.OAuthRequest {
	return &store.OAuthRequest{Kind: kind, Signature: sig, RequestID: requestID, ClientID: "sca", Subject: "ada",
		RequestedAt: 1000, ExpiresAt: expires, Active: true, Form: "scope=service",
		RequestedScopes: []string{"service"}, GrantedScopes: []string{"service"}, RequestedAudience: []string{}, GrantedAudience: nil,
		Session: []byte(`{"subject":"ada"}`)}
}

func TestOAuthRequests(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		code := oauthRow(store.OAuthCode, "sig-1", "req-1", 5000)
		// The same signature under another kind is another row.
		pkce := oauthRow(store.OAuthPKCE, "sig-1", "req-1", 5000)
		access := oauthRow(store.OAuthAccess, "at-1", "req-1", 5000)
		access2 := oauthRow(store.OAuthAccess, "at-2", "req-1", 0)
		refresh := oauthRow(store.OAuthRefresh, "rt-1", "req-1", 0)
		refresh.AccessSignature = "at-1"
		other := oauthRow(store.OAuthAccess, "at-3", "req-2", 9000)
		for _, r := range []*store.OAuthRequest{code, pkce, access, access2, refresh, other} {
			if err := s.CreateOAuthRequest(ctx, r); err != nil {
				t.Fatalf("create %s/%s: %v", r.Kind, r.Signature, err)
			}
		}
		if err := s.CreateOAuthRequest(ctx, oauthRow(store.OAuthCode, "sig-1", "req-9", 1)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate signature: %v, want ErrConflict", err)
		}

		got, err := s.OAuthRequest(ctx, store.OAuthRefresh, "rt-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestID != "req-1" || got.ClientID != "sca" || got.Subject != "ada" || got.RequestedAt != 1000 || got.ExpiresAt != 0 ||
			!got.Active || got.Form != "scope=service" || !slices.Equal(got.GrantedScopes, []string{"service"}) ||
			string(got.Session) != `{"subject":"ada"}` || got.AccessSignature != "at-1" {
			t.Fatalf("request round trip: %+v", got)
		}
		if _, err := s.OAuthRequest(ctx, store.OAuthAccess, "sig-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("kind is part of the key: %v", err)
		}

		// Deactivation happens once and is visible.
		if ok, err := s.DeactivateOAuthRequest(ctx, store.OAuthCode, "sig-1"); err != nil || !ok {
			t.Fatalf("first deactivate: %v %v", ok, err)
		}
		if ok, err := s.DeactivateOAuthRequest(ctx, store.OAuthCode, "sig-1"); err != nil || ok {
			t.Fatalf("second deactivate: %v %v", ok, err)
		}
		if ok, err := s.DeactivateOAuthRequest(ctx, store.OAuthCode, "nope"); err != nil || ok {
			t.Fatalf("deactivate unknown: %v %v", ok, err)
		}
		if got, _ := s.OAuthRequest(ctx, store.OAuthCode, "sig-1"); got.Active {
			t.Fatal("code still active")
		}
		if got, _ := s.OAuthRequest(ctx, store.OAuthPKCE, "sig-1"); !got.Active {
			t.Fatal("deactivating a code touched its PKCE row")
		}

		// Revoking a grant by request ID touches only that kind and grant.
		if n, err := s.DeactivateOAuthRequests(ctx, store.OAuthAccess, "req-1"); err != nil || n != 2 {
			t.Fatalf("DeactivateOAuthRequests = %d, %v", n, err)
		}
		if n, err := s.DeactivateOAuthRequests(ctx, store.OAuthAccess, "req-1"); err != nil || n != 0 {
			t.Fatalf("again = %d, %v", n, err)
		}
		if got, _ := s.OAuthRequest(ctx, store.OAuthRefresh, "rt-1"); !got.Active {
			t.Fatal("revoking access tokens touched the refresh token")
		}
		if got, _ := s.OAuthRequest(ctx, store.OAuthAccess, "at-3"); !got.Active {
			t.Fatal("revoking one grant touched another")
		}

		if err := s.DeleteOAuthRequest(ctx, store.OAuthPKCE, "sig-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOAuthRequest(ctx, store.OAuthPKCE, "sig-1"); err != nil {
			t.Fatalf("deleting a missing row: %v", err)
		}
		if _, err := s.OAuthRequest(ctx, store.OAuthPKCE, "sig-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted row: %v", err)
		}
		if _, err := s.OAuthRequest(ctx, store.OAuthCode, "sig-1"); err != nil {
			t.Fatalf("deleting the PKCE row took the code with it: %v", err)
		}

		// Purge: rows that expired before the cut-off go; rows without
		// expiry stay.
		if err := s.SetJTI(ctx, "old", 4000, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.SetJTI(ctx, "new", 9000, 0); err != nil {
			t.Fatal(err)
		}
		n, err := s.DeleteExpiredOAuth(ctx, 6000)
		if err != nil || n != 3 { // code sig-1, access at-1, jti old
			t.Fatalf("DeleteExpiredOAuth = %d, %v", n, err)
		}
		for _, k := range [][2]string{{store.OAuthAccess, "at-2"}, {store.OAuthRefresh, "rt-1"}, {store.OAuthAccess, "at-3"}} {
			if _, err := s.OAuthRequest(ctx, k[0], k[1]); err != nil {
				t.Fatalf("%v purged: %v", k, err)
			}
		}
		for _, k := range [][2]string{{store.OAuthCode, "sig-1"}, {store.OAuthAccess, "at-1"}} {
			if _, err := s.OAuthRequest(ctx, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%v not purged: %v", k, err)
			}
		}
		if ok, _ := s.JTIValid(ctx, "new", 6000); ok {
			t.Fatal("unexpired jti purged")
		}
	})
}

// Many nodes redeeming one authorization code at once: exactly one wins.
func TestOAuthDeactivateRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if err := s.CreateOAuthRequest(ctx, oauthRow(store.OAuthCode, "race", "req-r", 0)); err != nil {
			t.Fatal(err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.DeactivateOAuthRequest(ctx, store.OAuthCode, "race")
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
			t.Fatalf("code redeemed %d times, want 1", won.Load())
		}
	})
}

func TestJTI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if ok, err := s.JTIValid(ctx, "j1", 100); err != nil || !ok {
			t.Fatalf("unknown jti: %v %v", ok, err)
		}
		if err := s.SetJTI(ctx, "j1", 1000, 100); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.JTIValid(ctx, "j1", 999); err != nil || ok {
			t.Fatalf("recorded jti valid: %v %v", ok, err)
		}
		if err := s.SetJTI(ctx, "j1", 2000, 500); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("replayed jti: %v, want ErrConflict", err)
		}
		if ok, err := s.JTIValid(ctx, "j1", 1000); err != nil || !ok {
			t.Fatalf("expired jti: %v %v", ok, err)
		}
		// An expired record is replaced.
		if err := s.SetJTI(ctx, "j1", 3000, 1500); err != nil {
			t.Fatalf("reusing an expired jti: %v", err)
		}
		if ok, _ := s.JTIValid(ctx, "j1", 2500); ok {
			t.Fatal("renewed jti valid")
		}
		// Racing replays: exactly one records the ID.
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.SetJTI(ctx, "j2", 1000, 0)
				switch {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("jti recorded %d times", won.Load())
		}
	})
}

func TestOAuthFlowAdvancesOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := &store.OAuthFlow{ID: "flow-1", BrowserHash: []byte{1}, CSRFHash: []byte{2}, ClientID: "c", Form: "a=b",
			Step: store.FlowLogin, ExpiresAt: 1000}
		if err := s.CreateOAuthFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.AdvanceOAuthFlow(ctx, "flow-1", store.FlowConsent, store.FlowOTP, "", 10); err != nil || ok {
			t.Fatalf("advanced from the wrong step: %v %v", ok, err)
		}
		if ok, err := s.AdvanceOAuthFlow(ctx, "flow-1", store.FlowLogin, store.FlowConsent, "signer", 2000); err != nil || ok {
			t.Fatalf("advanced an expired flow: %v %v", ok, err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, err := s.AdvanceOAuthFlow(ctx, "flow-1", store.FlowLogin, store.FlowConsent, "signer", 10); err != nil {
					t.Error(err)
				} else if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d requests advanced the flow, want 1", won.Load())
		}
		got, err := s.OAuthFlowByID(ctx, "flow-1")
		if err != nil || got.Step != store.FlowConsent || got.SignerID != "signer" {
			t.Fatalf("flow after advance: %+v %v", got, err)
		}
		if n, err := s.DeleteExpiredOAuthFlows(ctx, 2000); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}
