package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func operatorCommand() *command {
	return &command{
		name:    "operator",
		summary: "manage the operators of the admin API (/admin/v1) and their keys",
		subs: []*command{operatorAdd(), operatorList(),
			operatorStatus("disable", store.StatusDisabled, "disable an operator: its key stops working at once"),
			operatorStatus("enable", store.StatusActive, "enable a disabled operator (the same key works again)")},
	}
}

func operatorAdd() *command {
	return &command{
		name:     "add",
		summary:  "register an operator and print its admin API key ONCE",
		synopsis: "-name NAME",
		setup: func(fs *flag.FlagSet) action {
			name := fs.String("name", "", "the operator's name, 1 to 128 printable characters without spaces (required); the audit log records it as the actor")
			return func(ctx context.Context, c *cli) error {
				if *name == "" {
					return usagef("-name is required")
				}
				if !sam.ValidOperatorName(*name) {
					return usagef("-name: %s", sam.ErrOperatorName.Description)
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				key, err := e.sam.CreateOperator(ctx, *name, actor())
				if errors.Is(err, sam.ErrOperatorExists) {
					return fmt.Errorf("an operator named %q already exists", *name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "Operator %s created. Its key is shown ONCE: give it to %s now; only its SHA-256 is kept.\n"+
					"Use it as 'Authorization: Bearer KEY' on the admin API; a lost key cannot be shown again (disable the operator and add another).\n",
					*name, *name)
				fmt.Fprintln(c.stdout, key)
				return nil
			}
		},
	}
}

func operatorList() *command {
	return &command{
		name:    "list",
		summary: "list operators with their status",
		setup: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, c *cli) error {
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				ops, err := e.sam.Operators(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tSTATUS\tCREATED")
				for _, o := range ops {
					fmt.Fprintf(w, "%s\t%s\t%s\n", o.Name, o.Status, o.CreatedAt.UTC().Format(time.RFC3339))
				}
				return w.Flush()
			}
		},
	}
}

func operatorStatus(verb, status, summary string) *command {
	return &command{
		name:     verb,
		summary:  summary + " (audited)",
		synopsis: "-name NAME",
		setup: func(fs *flag.FlagSet) action {
			name := fs.String("name", "", "the operator's name (required)")
			return func(ctx context.Context, c *cli) error {
				if *name == "" {
					return usagef("-name is required")
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				err = e.sam.SetOperatorStatus(ctx, *name, status, actor())
				if errors.Is(err, sam.ErrUnknownOperator) {
					return fmt.Errorf("unknown operator %q", *name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "operator %s is %s\n", *name, status)
				return nil
			}
		},
	}
}

// activeOperator checks that name is a registered, active operator. cscctl
// runs with direct access to the database and the HSM, so the name its
// user gives is declared, not authenticated; this only catches typos and
// disabled operators.
func (e *env) activeOperator(ctx context.Context, name string) error {
	ops, err := e.sam.Operators(ctx)
	if err != nil {
		return err
	}
	for _, o := range ops {
		if o.Name == name {
			if o.Status != store.StatusActive {
				return fmt.Errorf("operator %q is %s", name, o.Status)
			}
			return nil
		}
	}
	return fmt.Errorf("unknown operator %q (see cscctl operator list)", name)
}
