package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/openrssp/rssp/store"
)

func factorCommand() *command {
	return &command{
		name:    "factor",
		summary: "operator actions on a signer's authentication factors",
		subs:    []*command{factorUnlock(), factorReset()}, // factorReset: register.go
	}
}

// factorUnlock clears a factor's failure count after a lockout. The SAM
// audits it under the operator's name.
func factorUnlock() *command {
	return &command{
		name:     "unlock",
		summary:  "unlock a factor locked after too many failures (audited)",
		synopsis: "-username U -kind password|pin|totp|sms [-credential ID]",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "the signer's login name (required)")
			kind := fs.String("kind", "", "the factor: password, pin (needs -credential), totp or sms (required)")
			credentialID := fs.String("credential", "", "the credential whose PIN to unlock (only with -kind pin)")
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *kind == "" {
					return usagef("-username and -kind are required")
				}
				switch *kind {
				case store.FactorPIN:
					if *credentialID == "" {
						return usagef("-kind pin needs -credential")
					}
				case store.FactorPassword, store.FactorTOTP, store.FactorSMS:
					if *credentialID != "" {
						return usagef("-credential goes only with -kind pin")
					}
				default:
					return usagef("unknown -kind %q (want password, pin, totp or sms)", *kind)
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				sg, err := e.signerByUsername(ctx, *username)
				if err != nil {
					return err
				}
				if *credentialID != "" {
					cred, err := e.credential(ctx, *credentialID)
					if err != nil {
						return err
					}
					if cred.SignerID != sg.ID {
						return fmt.Errorf("credential %s does not belong to %s", cred.ID, sg.Username)
					}
				}
				err = e.sam.UnlockFactor(ctx, sg.ID, *credentialID, *kind, actor())
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("%s has no %s factor", sg.Username, *kind)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s of %s unlocked\n", *kind, sg.Username)
				return nil
			}
		},
	}
}
