package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/crypto/bcrypt"

	"github.com/openrssp/rssp/store"
)

// OAuth client registration values.
var (
	clientScopes = []string{"service", "credential"}
	clientGrants = []string{"authorization_code", "client_credentials", "refresh_token"}
)

// clientSecretCost is the bcrypt cost of client secrets: the authorization
// server compares with bcrypt at whatever cost the hash names, and cost 10
// takes about 60 ms per token request on a small machine.
const clientSecretCost = 10

func clientCommand() *command {
	return &command{
		name:    "client",
		summary: "register, list and delete OAuth 2.0 clients (signature creation applications)",
		subs:    []*command{clientAdd(), clientList(), clientDelete()},
	}
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func clientAdd() *command {
	return &command{
		name:     "add",
		summary:  "register a client; a confidential client's secret is printed once",
		synopsis: "-id ID -name NAME -redirect-uri URI [-redirect-uri URI ...] [-public] [-scopes service,credential] [-grants authorization_code,client_credentials,refresh_token]",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "client_id (required)")
			name := fs.String("name", "", "display name (required)")
			var redirects repeated
			fs.Var(&redirects, "redirect-uri", "redirect URI: absolute https, or http on 127.0.0.1, [::1] or localhost; repeatable; required for authorization_code")
			public := fs.Bool("public", false, "public client: no secret (PKCE only); may not use client_credentials")
			scopes := fs.String("scopes", strings.Join(clientScopes, ","), "allowed scopes, comma separated: "+strings.Join(clientScopes, ", "))
			grants := fs.String("grants", "", "allowed grant types, comma separated: "+strings.Join(clientGrants, ", ")+
				" (default: all three; for a public client authorization_code,refresh_token)")
			return func(ctx context.Context, c *cli) error {
				cl, err := newOAuthClient(*id, *name, redirects, *public, *scopes, *grants)
				if err != nil {
					return err
				}
				var secret string
				if !cl.Public {
					if secret, err = newClientSecret(); err != nil {
						return err
					}
					if cl.SecretHash, err = bcrypt.GenerateFromPassword([]byte(secret), clientSecretCost); err != nil {
						return fmt.Errorf("hash client secret: %w", err)
					}
				}
				e, err := c.openStore(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				if err := e.st.CreateOAuthClient(ctx, cl); err != nil {
					if errors.Is(err, store.ErrConflict) {
						return fmt.Errorf("client %q already exists", cl.ID)
					}
					return err
				}
				if cl.Public {
					fmt.Fprintf(c.stdout, "created public client %s\n", cl.ID)
					return nil
				}
				fmt.Fprintf(c.stdout, "created confidential client %s\n", cl.ID)
				fmt.Fprintf(c.stdout, "client_secret: %s\n", secret)
				fmt.Fprintln(c.stdout, "Store the secret now: it is shown only this once and cannot be recovered.")
				return nil
			}
		},
	}
}

// newOAuthClient validates the flags of client add.
func newOAuthClient(id, name string, redirects []string, public bool, scopes, grants string) (*store.OAuthClient, error) {
	if id == "" || name == "" {
		return nil, usagef("-id and -name are required")
	}
	if len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) {
		return nil, usagef("-id must be at most 128 printable ASCII characters without spaces or ':'")
	}
	cl := &store.OAuthClient{ID: id, Name: name, Public: public, RedirectURIs: []string{}, ResponseTypes: []string{}}
	if grants == "" {
		grants = strings.Join(clientGrants, ",")
		if public {
			grants = "authorization_code,refresh_token"
		}
	}
	var err error
	if cl.Scopes, err = splitAllowed("-scopes", scopes, clientScopes); err != nil {
		return nil, err
	}
	if cl.GrantTypes, err = splitAllowed("-grants", grants, clientGrants); err != nil {
		return nil, err
	}
	if public && slices.Contains(cl.GrantTypes, "client_credentials") {
		return nil, usagef("a public client cannot use client_credentials: it has no secret")
	}
	for _, u := range redirects {
		if err := validRedirectURI(u); err != nil {
			return nil, usagef("-redirect-uri %q: %v", u, err)
		}
		if !slices.Contains(cl.RedirectURIs, u) {
			cl.RedirectURIs = append(cl.RedirectURIs, u)
		}
	}
	if slices.Contains(cl.GrantTypes, "authorization_code") {
		if len(cl.RedirectURIs) == 0 {
			return nil, usagef("-redirect-uri is required for the authorization_code grant")
		}
		cl.ResponseTypes = []string{"code"}
	}
	return cl, nil
}

// splitAllowed splits a comma-separated flag and checks every value is allowed.
func splitAllowed(flagName, v string, allowed []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allowed, s) {
			return nil, usagef("%s: unknown value %q (allowed: %s)", flagName, s, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, usagef("%s must name at least one of %s", flagName, strings.Join(allowed, ", "))
	}
	return out, nil
}

// validRedirectURI accepts absolute https URIs, and http ones only on a
// loopback host (RFC 8252 native apps); never a fragment or user info.
func validRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URI")
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errors.New("not an absolute URI with a host")
	case strings.Contains(raw, "#"):
		return errors.New("must not contain a fragment")
	case u.User != nil:
		return errors.New("must not contain user information")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
			return nil
		}
		return errors.New("http is allowed only on a loopback host: 127.0.0.1, [::1] or localhost")
	}
	return errors.New("scheme must be https (or http on a loopback host)")
}

// newClientSecret returns 256 random bits, base64url without padding.
func newClientSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random source: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func clientList() *command {
	return &command{
		name:    "list",
		summary: "list clients (never their secrets)",
		setup: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, c *cli) error {
				e, err := c.openStore(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				cls, err := e.st.OAuthClients(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tTYPE\tSCOPES\tGRANTS\tREDIRECT URIS\tNAME")
				for _, cl := range cls {
					kind := "confidential"
					if cl.Public {
						kind = "public"
					}
					redirects := strings.Join(cl.RedirectURIs, " ")
					if redirects == "" {
						redirects = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, kind, strings.Join(cl.Scopes, ","),
						strings.Join(cl.GrantTypes, ","), redirects, cl.Name)
				}
				return w.Flush()
			}
		},
	}
}

func clientDelete() *command {
	return &command{
		name:     "delete",
		summary:  "delete a client: its codes and tokens stop working (asks for confirmation)",
		synopsis: "-id ID [-yes]",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "client_id (required)")
			yes := fs.Bool("yes", false, "do not ask for confirmation")
			return func(ctx context.Context, c *cli) error {
				if *id == "" {
					return usagef("-id is required")
				}
				e, err := c.openStore(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				cl, err := e.st.OAuthClient(ctx, *id)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("unknown client %q", *id)
				}
				if err != nil {
					return err
				}
				if !*yes {
					ok, err := c.confirm(fmt.Sprintf("Delete client %s (%s)? Its outstanding codes and tokens stop working.", cl.ID, cl.Name))
					if err != nil {
						return err
					}
					if !ok {
						return errors.New("not confirmed; nothing deleted")
					}
				}
				if err := e.st.DeleteOAuthClient(ctx, cl.ID); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("unknown client %q", cl.ID)
					}
					return err
				}
				fmt.Fprintf(c.stdout, "client %s deleted\n", cl.ID)
				return nil
			}
		},
	}
}
