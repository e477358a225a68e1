package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/sms"
	"github.com/openrssp/rssp/store"
)

// errNoSMS is a command that must send an SMS on an installation without an
// SMS sender.
var errNoSMS = errors.New("no SMS sender is configured (sms.sender in the configuration): nothing was sent or changed")

// openSMS opens like open, with the SAM sending SMS through the configured
// sender. With required, an installation without a sender is refused before
// anything happens; otherwise it just sends no SMS (a notice to an old
// number is then skipped).
func (c *cli) openSMS(ctx context.Context, required bool) (*env, error) {
	e, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	// The log sender (development only) prints codes to cscctl's stderr.
	sender, err := e.cfg.NewSMSSender(slog.New(slog.NewTextHandler(c.stderr, nil)))
	if err != nil {
		e.close()
		return nil, err
	}
	if sender == nil {
		if required {
			e.close()
			return nil, errNoSMS
		}
		return e, nil
	}
	if e.sam, err = sam.New(e.cfg.SAM, e.hsm, e.st, sam.WithPublicURL(e.cfg.Server.PKIBaseURL()), sam.WithCodeSender(sms.CodeSender{Sender: sender})); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// deliveryFlag declares -activation.
func deliveryFlag(fs *flag.FlagSet) *string {
	return fs.String("activation", "", "how the activation code reaches the signer: sms (to -phone; needs an SMS sender) or print (shown here, for a letter or a desk) (required)")
}

func checkDelivery(d string) error {
	switch d {
	case sam.DeliverySMS, sam.DeliveryPrint:
		return nil
	case "":
		return usagef("-activation is required (sms or print)")
	}
	return usagef("unknown -activation %q (want sms or print)", d)
}

// printActivation says where the code went, or shows it (print).
func (c *cli) printActivation(a sam.Activation) {
	exp := a.ExpiresAt.UTC().Format(time.RFC3339)
	if a.Code != "" {
		fmt.Fprintf(c.stdout, "activation code: %s (expires %s)\n", a.Code, exp)
		fmt.Fprintln(c.stderr, "Give the code to the signer only, on paper or in person; it works once, on the enrolment page.")
		return
	}
	fmt.Fprintf(c.stdout, "activation code sent to %s (expires %s)\n", a.SentTo, exp)
}

// userRegister registers a signer who enrols themselves with an activation
// code.
func userRegister() *command {
	return &command{
		name:     "register",
		summary:  "register a signer who enrols on the enrolment page with an activation code (sms or print)",
		synopsis: "-username U -name \"Full Name\" -phone +44... -activation sms|print [-given G -surname S -email E]",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			name := fs.String("name", "", "full name, the certificate common name (required)")
			given := fs.String("given", "", "given name (certificate givenName)")
			surname := fs.String("surname", "", "surname (certificate surname)")
			email := fs.String("email", "", "email address")
			phone := fs.String("phone", "", "the signer's phone number in international form, e.g. +447700900123; verified by a code at enrolment (required)")
			delivery := deliveryFlag(fs)
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *name == "" || *phone == "" {
					return usagef("-username, -name and -phone are required")
				}
				if err := checkDelivery(*delivery); err != nil {
					return err
				}
				return c.register(ctx, sam.Registration{NewSigner: sam.NewSigner{Username: *username, Name: *name, GivenName: *given, Surname: *surname,
					Email: *email, Actor: actor()}, Phone: *phone, Delivery: *delivery})
			}
		},
	}
}

// register registers a pending signer and issues its activation code.
func (c *cli) register(ctx context.Context, r sam.Registration) error {
	if err := sam.CheckRegistration(r); err != nil {
		return usagef("%s", describe(err))
	}
	e, err := c.openSMS(ctx, r.Delivery == sam.DeliverySMS)
	if err != nil {
		return err
	}
	defer e.close()
	sg, act, err := e.sam.RegisterSigner(ctx, r)
	if err != nil {
		if sg != nil {
			return fmt.Errorf("user %s registered (id %s) but no activation code was issued: %s; try 'cscctl user activation -username %s'",
				sg.Username, sg.ID, describe(err), sg.Username)
		}
		return err
	}
	fmt.Fprintf(c.stdout, "registered user %s (id %s), pending enrolment\n", sg.Username, sg.ID)
	c.printActivation(act)
	return nil
}

// userActivation issues a new activation code.
func userActivation() *command {
	return &command{
		name:     "activation",
		summary:  "issue a new activation code to a signer who has not enrolled yet (earlier codes stop working)",
		synopsis: "-username U -activation sms|print",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			delivery := deliveryFlag(fs)
			return func(ctx context.Context, c *cli) error {
				if *username == "" {
					return usagef("-username is required")
				}
				if err := checkDelivery(*delivery); err != nil {
					return err
				}
				e, err := c.openSMS(ctx, *delivery == sam.DeliverySMS)
				if err != nil {
					return err
				}
				defer e.close()
				sg, err := e.signerByUsername(ctx, *username)
				if err != nil {
					return err
				}
				if sg.Status != store.StatusPending {
					return fmt.Errorf("user %s is %s: only a signer who has not enrolled yet gets an activation code", sg.Username, sg.Status)
				}
				act, err := e.sam.IssueActivation(ctx, sg.ID, *delivery, actor())
				if err != nil {
					return errors.New(describe(err))
				}
				c.printActivation(act)
				return nil
			}
		},
	}
}

// userPhone starts a phone number change: confirmed by a code sent to the
// old number (typed here), or, with -operator, as the first of two operator
// approvals.
func userPhone() *command {
	return &command{
		name:    "phone",
		summary: "move a signer's SMS codes to a new phone number (confirmed by the old number, or by two operators)",
		synopsis: "-username U -phone NEW [-operator NAME]\n\n" +
			"Without -operator a code goes to the signer's current number; type the code the\n" +
			"signer reads out and the change is applied. With -operator (a lost phone) the\n" +
			"request is that operator's approval, and the change waits for a second, different\n" +
			"operator: 'cscctl user phone-approve' or the admin API. cscctl works directly on\n" +
			"the database and the HSM, so operator names given here are declared, not\n" +
			"authenticated; they must name registered, active operators (cscctl operator list).",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			phone := fs.String("phone", "", "the new phone number in international form (required)")
			op := fs.String("operator", "", "request as this operator, to be approved by another (declared; see above)")
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *phone == "" {
					return usagef("-username and -phone are required")
				}
				if _, err := sam.NormalizePhone(*phone); err != nil {
					return usagef("-phone: %s", describe(err))
				}
				e, err := c.openSMS(ctx, *op == "")
				if err != nil {
					return err
				}
				defer e.close()
				if *op != "" {
					if err := e.activeOperator(ctx, *op); err != nil {
						return err
					}
				}
				sg, err := e.signerByUsername(ctx, *username)
				if err != nil {
					return err
				}
				if sg.Status != store.StatusActive {
					return fmt.Errorf("user %s is %s: only an active signer's phone number is changed this way", sg.Username, sg.Status)
				}
				requester := *op
				if requester == "" {
					requester = actor()
				}
				pc, err := e.sam.RequestPhoneChange(ctx, sam.PhoneChangeRequest{SignerID: sg.ID, NewPhone: *phone, Actor: requester, ByOperator: *op != ""})
				if err != nil {
					return errors.New(describe(err))
				}
				if *op != "" {
					fmt.Fprintf(c.stdout, "phone change %s requested by %s; it needs a second operator's approval before %s:\n",
						pc.ID, *op, pc.ExpiresAt.UTC().Format(time.RFC3339))
					fmt.Fprintf(c.stdout, "  cscctl user phone-approve -id %s -operator OTHER\n", pc.ID)
					return nil
				}
				return c.confirmPhoneChange(ctx, e, pc, sg.Username)
			}
		},
	}
}

// phoneCodeAttempts is how many times cscctl asks for the code (the SAM
// allows as many per code by default).
const phoneCodeAttempts = 3

// confirmPhoneChange asks for the code sent to the old number and applies
// the change with it.
func (c *cli) confirmPhoneChange(ctx context.Context, e *env, pc sam.PhoneChange, username string) error {
	for attempt := 1; ; attempt++ {
		code, err := c.code(fmt.Sprintf("Code sent to %s (the signer's current number): ", pc.SentTo))
		if err != nil {
			return fmt.Errorf("phone change %s not confirmed: %w", pc.ID, err)
		}
		err = e.sam.ConfirmPhoneChange(ctx, pc.ID, code)
		if err == nil {
			fmt.Fprintf(c.stdout, "phone number of %s changed; the old number was told\n", username)
			return nil
		}
		if !errors.Is(err, sam.ErrOTPInvalid) || attempt == phoneCodeAttempts {
			return fmt.Errorf("phone change %s not confirmed: %s", pc.ID, describe(err))
		}
		fmt.Fprintln(c.stderr, "Wrong code, try again.")
	}
}

// code reads a one-time code: from the terminal without echo, else one line
// from stdin.
func (c *cli) code(prompt string) (string, error) {
	fmt.Fprint(c.stderr, prompt)
	if fd, ok := c.terminal(); ok {
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		return strings.TrimSpace(string(b)), err
	}
	v, err := c.line()
	fmt.Fprintln(c.stderr)
	return strings.TrimSpace(v), err
}

// userPhoneApprove is the second operator's approval of a phone change.
func userPhoneApprove() *command {
	return &command{
		name:    "phone-approve",
		summary: "approve a phone number change as an operator; the second approval, by another operator, applies it",
		synopsis: "-id CHANGE -operator NAME\n\n" +
			"cscctl works directly on the database and the HSM, so -operator is declared,\n" +
			"not authenticated; it must name a registered, active operator other than the\n" +
			"one who gave the first approval.",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "the phone change ID printed by 'cscctl user phone -operator' or the admin API (required)")
			op := fs.String("operator", "", "approve as this operator (required; declared, see above)")
			return func(ctx context.Context, c *cli) error {
				if *id == "" || *op == "" {
					return usagef("-id and -operator are required")
				}
				e, err := c.openSMS(ctx, false)
				if err != nil {
					return err
				}
				defer e.close()
				if err := e.activeOperator(ctx, *op); err != nil {
					return err
				}
				n, err := e.sam.ApprovePhoneChange(ctx, *id, *op)
				if err != nil {
					return errors.New(describe(err))
				}
				if n < 2 {
					fmt.Fprintf(c.stdout, "phone change %s approved by %s (1 of 2); it needs another operator\n", *id, *op)
					return nil
				}
				fmt.Fprintf(c.stdout, "phone change %s approved by %s (2 of 2) and applied\n", *id, *op)
				return nil
			}
		},
	}
}

// factorReset revokes a lost TOTP app or phone.
func factorReset() *command {
	return &command{
		name:     "reset",
		summary:  "revoke a signer's lost TOTP app or phone: its codes stop working at once, outstanding SADs are revoked (audited)",
		synopsis: "-username U -kind totp|sms",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "the signer's login name (required)")
			kind := fs.String("kind", "", "the lost factor: totp or sms (required)")
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *kind == "" {
					return usagef("-username and -kind are required")
				}
				if *kind != store.FactorTOTP && *kind != store.FactorSMS {
					return usagef("unknown -kind %q (want totp or sms)", *kind)
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
				err = e.sam.ResetFactor(ctx, sg.ID, *kind, actor())
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("%s has no %s factor", sg.Username, *kind)
				}
				if err != nil {
					return err
				}
				next := "bind a new app with 'cscctl totp enrol'"
				if *kind == store.FactorSMS {
					next = "bind a new number with 'cscctl user phone -operator'"
				}
				fmt.Fprintf(c.stdout, "%s of %s reset; %s\n", *kind, sg.Username, next)
				return nil
			}
		},
	}
}

// describe is what an operator is told of a SAM refusal: its safe
// description, or the error itself.
func describe(err error) string {
	var e *sam.Error
	if errors.As(err, &e) {
		return e.Description
	}
	return err.Error()
}
