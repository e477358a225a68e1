package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

func userCommand() *command {
	return &command{
		name:    "user",
		summary: "register, list, disable and enable signers",
		subs: []*command{userAdd(), userList(), userStatus("disable", store.StatusDisabled, "disable a signer: revokes its service tokens and outstanding SADs"),
			userStatus("enable", store.StatusActive, "enable a disabled signer"),
			userRegister(), userActivation(), userPhone(), userPhoneApprove()}, // register.go
	}
}

func userAdd() *command {
	return &command{
		name:     "add",
		summary:  "register a signer: with a login password, or with -phone and -activation for enrolment (as 'user register')",
		synopsis: "-username U -name \"Full Name\" [-given G -surname S -email E] ([-password-file F] | -phone +44... -activation sms|print)",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			name := fs.String("name", "", "full name, the certificate common name (required)")
			given := fs.String("given", "", "given name (certificate givenName)")
			surname := fs.String("surname", "", "surname (certificate surname)")
			email := fs.String("email", "", "email address (certificate subjectAltName)")
			pwFile := fs.String("password-file", "", "file whose first line is the password; without it the password is asked twice on a terminal, or read as one line from stdin")
			phone := fs.String("phone", "", "with -activation: the signer's phone number, verified by a code at enrolment")
			delivery := deliveryFlag(fs)
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *name == "" {
					return usagef("-username and -name are required")
				}
				if *phone != "" || *delivery != "" {
					// The signer enrols: the phone is bound only once its code comes back.
					if *pwFile != "" {
						return usagef("-password-file cannot go with -phone/-activation: the signer chooses the password at enrolment")
					}
					if *phone == "" {
						return usagef("-activation needs -phone")
					}
					if err := checkDelivery(*delivery); err != nil {
						return err
					}
					return c.register(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: *username, Name: *name, GivenName: *given,
						Surname: *surname, Email: *email, Actor: actor()}, Phone: *phone, Delivery: *delivery})
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				if _, err := e.st.SignerByUsername(ctx, *username); err == nil {
					return fmt.Errorf("%w: %q", sam.ErrUsernameTaken, *username)
				}
				password, err := c.secret(*pwFile, "password")
				if err != nil {
					return err
				}
				sg, err := e.sam.CreateSigner(ctx, sam.NewSigner{Username: *username, Name: *name, GivenName: *given, Surname: *surname,
					Email: *email, Password: password, Actor: actor()})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "created user %s (id %s)\n", sg.Username, sg.ID)
				return nil
			}
		},
	}
}

func userList() *command {
	return &command{
		name:    "list",
		summary: "list signers with their status and number of credentials",
		setup: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, c *cli) error {
				e, err := c.openStore(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				sgs, err := e.st.Signers(ctx)
				if err != nil {
					return err
				}
				counts, err := e.st.CredentialCounts(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "USERNAME\tID\tSTATUS\tCREDENTIALS\tNAME")
				for _, sg := range sgs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", sg.Username, sg.ID, sg.Status, counts[sg.ID], sg.Name)
				}
				return w.Flush()
			}
		},
	}
}

func userStatus(verb, status, summary string) *command {
	return &command{
		name:     verb,
		summary:  summary,
		synopsis: "-username U",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			return func(ctx context.Context, c *cli) error {
				if *username == "" {
					return usagef("-username is required")
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
				if err := e.sam.SetSignerStatus(ctx, sg.ID, status, actor()); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "user %s is %s\n", sg.Username, status)
				return nil
			}
		},
	}
}
