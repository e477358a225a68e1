package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// TestFactorUnlock locks a signer's password with failed logins and a
// credential's PIN with failed authorizations, then unlocks each with
// cscctl; misuse gives exit status 2.
func TestFactorUnlock(t *testing.T) {
	e := newTestEnv(t)
	e.must("", "init")
	const password, pin = "unlock-password-1234", "unlock-pin-5678"
	e.must("", "user", "add", "-username", "carol", "-name", "Carol", "-password-file", e.writeSecret("pw", password))
	credID := strings.TrimSpace(e.must("", "credential", "create", "-username", "carol", "-alg", "EC-P256", "-scal", "1",
		"-pin-file", e.writeSecret("pin", pin)).stdout)

	s, st, closeAll := e.open()
	for range 5 {
		_, _ = s.CheckPassword(ctx, st, "carol", "wrong password!")
		_, _ = s.Authorize(ctx, sam.AuthorizeRequest{CredentialID: credID, SignerID: mustSigner(t, st, "carol"), ClientID: "c", NumSignatures: 1, PIN: "wrong-pin"})
	}
	if _, err := s.CheckPassword(ctx, st, "carol", password); !errors.Is(err, sam.ErrLoginFailed) {
		t.Fatalf("password not locked: %v", err)
	}
	if _, err := s.Authorize(ctx, sam.AuthorizeRequest{CredentialID: credID, SignerID: mustSigner(t, st, "carol"), ClientID: "c", NumSignatures: 1, PIN: pin}); !errors.Is(err, sam.ErrPINLocked) {
		t.Fatalf("PIN not locked: %v", err)
	}
	closeAll()

	e.must("", "factor", "unlock", "-username", "carol", "-kind", "password")
	e.must("", "factor", "unlock", "-username", "carol", "-kind", "pin", "-credential", credID)

	s, st, closeAll = e.open()
	defer closeAll()
	if _, err := s.CheckPassword(ctx, st, "carol", password); err != nil {
		t.Fatalf("password after unlock: %v", err)
	}
	if _, err := s.Authorize(ctx, sam.AuthorizeRequest{CredentialID: credID, SignerID: mustSigner(t, st, "carol"), ClientID: "c", NumSignatures: 1, PIN: pin}); err != nil {
		t.Fatalf("PIN after unlock: %v", err)
	}

	for _, args := range [][]string{
		{"factor", "unlock", "-username", "carol"},
		{"factor", "unlock", "-username", "carol", "-kind", "pin"},
		{"factor", "unlock", "-username", "carol", "-kind", "retina"},
		{"factor", "unlock", "-username", "carol", "-kind", "totp", "-credential", credID},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := e.run("", "factor", "unlock", "-username", "carol", "-kind", "totp"); r.code != 1 || !strings.Contains(r.stderr, "has no totp factor") {
		t.Errorf("unlocking a factor that does not exist: %+v", r)
	}
}

func mustSigner(t *testing.T, st interface {
	SignerByUsername(ctx context.Context, username string) (*store.Signer, error)
}, username string) string {
	t.Helper()
	sg, err := st.SignerByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	return sg.ID
}
