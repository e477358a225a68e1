package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/openrssp/rssp/sam"
)

func auditCommand() *command {
	return &command{
		name:    "audit",
		summary: "check the audit log",
		subs:    []*command{auditVerify()},
	}
}

func auditVerify() *command {
	return &command{
		name:    "verify",
		summary: "verify the HSM-keyed hash chain of the whole audit log; exit status 1 names the first bad entry",
		setup: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, c *cli) error {
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				n, err := e.sam.VerifyAudit(ctx)
				var aerr *sam.AuditError
				if errors.As(err, &aerr) {
					return fmt.Errorf("audit log TAMPERED: entry %d: %s (%d entries verified before it)", aerr.Seq, aerr.Reason, n)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "audit log intact: %d entries verified\n", n)
				return nil
			}
		},
	}
}
