package sam_test

import (
	"errors"
	"testing"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// TestPasswordLockout: wrong passwords count toward the same lockout as any
// factor; once locked even the right password fails, with the same error,
// until an operator unlocks it. Unknown users and disabled signers fail
// alike.
func TestPasswordLockout(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg, err := f.sam.CreateSigner(ctx, sam.NewSigner{Username: "grace", Name: "Grace Hopper", Password: "cobol-1959!"})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := f.sam.CheckPassword(ctx, f.st, "grace", "cobol-1959!"); err != nil || id != sg.ID {
			t.Fatalf("right password: %q %v", id, err)
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "nobody", "cobol-1959!"); !errors.Is(err, sam.ErrLoginFailed) {
			t.Fatalf("unknown user: %v", err)
		}
		for i := range 5 {
			if _, err := f.sam.CheckPassword(ctx, f.st, "grace", "fortran"); !errors.Is(err, sam.ErrLoginFailed) {
				t.Fatalf("wrong password %d: %v", i, err)
			}
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "grace", "cobol-1959!"); !errors.Is(err, sam.ErrLoginFailed) {
			t.Fatalf("right password after lockout: %v, want ErrLoginFailed", err)
		}
		if err := f.sam.UnlockFactor(ctx, sg.ID, "", store.FactorPassword, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "grace", "cobol-1959!"); err != nil {
			t.Fatalf("right password after unlock: %v", err)
		}
		if err := f.sam.SetSignerStatus(ctx, sg.ID, store.StatusDisabled, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "grace", "cobol-1959!"); !errors.Is(err, sam.ErrLoginFailed) {
			t.Fatalf("disabled signer: %v", err)
		}
		if err := f.sam.SetPassword(ctx, sg.ID, "short"); !errors.Is(err, sam.ErrInvalidPassword) {
			t.Fatalf("short password: %v", err)
		}
	})
}
