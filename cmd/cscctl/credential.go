package main

import (
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

var keyAlgorithms = []hsm.KeyAlgorithm{hsm.RSA2048, hsm.RSA3072, hsm.RSA4096, hsm.ECP256, hsm.ECP384, hsm.ECP521}

func algorithmNames() string {
	names := make([]string, len(keyAlgorithms))
	for i, a := range keyAlgorithms {
		names[i] = string(a)
	}
	return strings.Join(names, "|")
}

func credentialCommand() *command {
	return &command{
		name:    "credential",
		summary: "create, list, certify, disable, enable, revoke and delete signing credentials",
		subs: []*command{credentialCreate(), credentialList(), credentialImport(),
			credentialStatus("disable", store.StatusDisabled, "disable a credential: revokes its outstanding SADs; its certificate stays valid"),
			credentialStatus("enable", store.StatusActive, "enable a disabled credential that has a certificate"),
			credentialRevoke(), credentialDelete()},
	}
}

// newCredential is what credential create and demo ask for.
type newCredential struct {
	username    string
	alg         hsm.KeyAlgorithm
	scal        int
	multisign   int
	auth        string
	description string
	qualifier   string // CSC signature qualifier, optional
	pin         string // empty: no PIN
	csrPath     string // empty: certificate from the development CA
}

// createCredential generates the key, sets the PIN and either issues a
// development certificate (the credential becomes active) or writes a CSR
// (it stays disabled until import-cert). A failure after the key was made
// deletes the credential again.
func (e *env) createCredential(ctx context.Context, sg *store.Signer, req newCredential) (cred *store.Credential, err error) {
	cred, err = e.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: req.alg, SCAL: req.scal,
		Multisign: req.multisign, AuthMode: req.auth, Description: req.description, SignatureQualifier: req.qualifier, Disabled: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if derr := e.sam.DeleteCredential(ctx, cred.ID, actor()); derr != nil {
				err = fmt.Errorf("%w (and removing the half-made credential %s failed: %v)", err, cred.ID, derr)
			}
		}
	}()
	if req.pin != "" {
		if err := e.sam.SetPIN(ctx, cred.ID, req.pin); err != nil {
			return nil, err
		}
	}
	if req.csrPath != "" {
		der, err := e.sam.CreateCSR(ctx, cred.ID)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(req.csrPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
			return nil, err
		}
		return cred, nil
	}
	if _, err := e.sam.IssueDevCertificate(ctx, cred.ID, sam.Subject{}, e.cfg.CA.CertValidity); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w (no development CA: run 'cscctl init', or use -csr for an external CA)", err)
		}
		return nil, err
	}
	return e.credential(ctx, cred.ID)
}

func validPIN(pin string) error {
	if n := utf8.RuneCountInString(pin); n < 4 || n > 64 || !utf8.ValidString(pin) {
		return errors.New("the PIN must be 4 to 64 characters")
	}
	return nil
}

func credentialCreate() *command {
	return &command{
		name:     "create",
		summary:  "generate a key in the HSM for a signer, set its PIN, and certify it (development CA) or write a CSR",
		synopsis: "-username U -alg " + algorithmNames() + " [-scal 2] [-multisign N] [-auth explicit|oauth2code] [-description D] [-qualifier Q] [-pin-file F | -no-pin] [-csr out.csr]",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "owner's login name (required)")
			alg := fs.String("alg", "", "key algorithm: "+algorithmNames()+" (required)")
			scal := fs.Int("scal", 2, "sole control assurance level, 1 or 2")
			multisign := fs.Int("multisign", 1, "most signatures one authorization allows (1 to 1000)")
			auth := fs.String("auth", sam.AuthModeExplicit, "authorization mode: explicit or oauth2code")
			description := fs.String("description", "", "description shown to signature applications")
			qualifier := fs.String("qualifier", "", "CSC signature qualifier OAuth requests may name instead of the credential (e.g. eu_eidas_qes)")
			pinFile := fs.String("pin-file", "", "file whose first line is the PIN; without it the PIN is asked twice on a terminal, or read as one line from stdin")
			noPIN := fs.Bool("no-pin", false, "set no PIN (the credential then cannot be authorized explicitly)")
			csr := fs.String("csr", "", "write a PEM CSR here for an external CA instead of issuing a development certificate; the credential stays disabled until import-cert")
			return func(ctx context.Context, c *cli) error {
				if *username == "" || *alg == "" {
					return usagef("-username and -alg are required")
				}
				a, err := hsm.ParseKeyAlgorithm(*alg)
				if err != nil {
					return usagef("unknown -alg %q (want %s)", *alg, algorithmNames())
				}
				switch {
				case *scal != 1 && *scal != 2:
					return usagef("-scal must be 1 or 2")
				case *multisign < 1 || *multisign > 1000:
					return usagef("-multisign must be between 1 and 1000")
				case *auth != sam.AuthModeExplicit && *auth != sam.AuthModeOAuth2Code:
					return usagef("-auth must be explicit or oauth2code")
				case *noPIN && *pinFile != "":
					return usagef("-no-pin and -pin-file exclude each other")
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
				req := newCredential{username: *username, alg: a, scal: *scal, multisign: *multisign, auth: *auth, description: *description, csrPath: *csr, qualifier: *qualifier}
				if !*noPIN {
					if req.pin, err = c.secret(*pinFile, "PIN"); err != nil {
						return err
					}
					if err := validPIN(req.pin); err != nil {
						return err
					}
				}
				cred, err := e.createCredential(ctx, sg, req)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, cred.ID)
				if *csr != "" {
					fmt.Fprintf(c.stderr, "CSR written to %s; the credential stays disabled until: cscctl credential import-cert -id %s -cert chain.pem\n", *csr, cred.ID)
				} else if leaf := leafOf(cred); leaf != nil {
					fmt.Fprintf(c.stderr, "certificate for %q issued by %q, valid until %s\n", leaf.Subject.CommonName, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
				}
				return nil
			}
		},
	}
}

func credentialList() *command {
	return &command{
		name:     "list",
		summary:  "list credentials, of every signer or of one",
		synopsis: "[-username U]",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "only this signer's credentials")
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
				names := make(map[string]string, len(sgs))
				for _, sg := range sgs {
					names[sg.ID] = sg.Username
				}
				var creds []store.Credential
				if *username != "" {
					sg, err := e.signerByUsername(ctx, *username)
					if err != nil {
						return err
					}
					if creds, err = e.st.CredentialsOf(ctx, sg.ID); err != nil {
						return err
					}
				} else {
					for after := ""; ; {
						page, err := e.st.Credentials(ctx, after, 500)
						if err != nil {
							return err
						}
						creds = append(creds, page...)
						if len(page) < 500 {
							break
						}
						after = page[len(page)-1].ID
					}
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tUSERNAME\tALGORITHM\tSTATUS\tSCAL\tMULTISIGN\tAUTH\tCERTIFICATE")
				for i := range creds {
					cr := &creds[i]
					cert := "none"
					if leaf := leafOf(cr); leaf != nil {
						cert = fmt.Sprintf("%s, until %s", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", cr.ID, names[cr.SignerID], cr.KeyAlgorithm, cr.Status, cr.SCAL, cr.Multisign, cr.AuthMode, cert)
				}
				return w.Flush()
			}
		},
	}
}

func credentialImport() *command {
	return &command{
		name:     "import-cert",
		summary:  "store a certificate chain from an external CA for a credential made with -csr, and enable it",
		synopsis: "-id ID -cert chain.pem",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "credential ID (required)")
			certFile := fs.String("cert", "", "PEM file with the chain, leaf first (a single DER certificate is accepted too) (required)")
			return func(ctx context.Context, c *cli) error {
				if *id == "" || *certFile == "" {
					return usagef("-id and -cert are required")
				}
				data, err := os.ReadFile(*certFile)
				if err != nil {
					return err
				}
				chain, err := parseChain(data)
				if err != nil {
					return fmt.Errorf("%s: %w", *certFile, err)
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				if _, err := e.credential(ctx, *id); err != nil {
					return err
				}
				if err := e.sam.ImportCertificate(ctx, *id, chain, actor()); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "credential %s: %d certificate(s) stored, credential enabled\n", *id, len(chain))
				return nil
			}
		},
	}
}

// parseChain reads CERTIFICATE blocks in order, or one DER certificate.
func parseChain(data []byte) ([][]byte, error) {
	var chain [][]byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		if len(data) > 0 && data[0] == 0x30 {
			return [][]byte{data}, nil
		}
		return nil, errors.New("no CERTIFICATE found")
	}
	return chain, nil
}

func credentialStatus(verb, status, summary string) *command {
	return &command{
		name:     verb,
		summary:  summary,
		synopsis: "-id ID",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "credential ID (required)")
			return func(ctx context.Context, c *cli) error {
				if *id == "" {
					return usagef("-id is required")
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				cred, err := e.credential(ctx, *id)
				if err != nil {
					return err
				}
				if status == store.StatusActive && len(cred.Certificates) == 0 {
					return fmt.Errorf("credential %s has no certificate yet: import one with 'cscctl credential import-cert'", cred.ID)
				}
				if err := e.sam.SetCredentialStatus(ctx, cred.ID, status, actor()); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "credential %s is %s\n", cred.ID, status)
				return nil
			}
		},
	}
}

func credentialRevoke() *command {
	return &command{
		name: "revoke",
		summary: "revoke a credential for good: its development CA certificate goes on the CRL and OCSP says revoked " +
			"(asks for confirmation)",
		synopsis: "-id ID [-reason " + strings.Join(sam.RevocationReasonNames(), "|") + "] [-yes]",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "credential ID (required)")
			reasonName := fs.String("reason", "unspecified", "RFC 5280 revocation reason: "+strings.Join(sam.RevocationReasonNames(), ", "))
			yes := fs.Bool("yes", false, "do not ask for confirmation")
			return func(ctx context.Context, c *cli) error {
				if *id == "" {
					return usagef("-id is required")
				}
				reason, err := sam.ParseRevocationReason(*reasonName)
				if err != nil {
					return usagef("-reason: want one of %s", strings.Join(sam.RevocationReasonNames(), ", "))
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				cred, err := e.credential(ctx, *id)
				if err != nil {
					return err
				}
				if !*yes {
					ok, err := c.confirm(fmt.Sprintf("Revoke credential %s (%s) for good, reason %s? It can never sign again.", cred.ID, cred.KeyAlgorithm, reason))
					if err != nil {
						return err
					}
					if !ok {
						return errors.New("not confirmed; nothing revoked")
					}
				}
				listed, err := e.sam.RevokeCredential(ctx, cred.ID, reason, actor())
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "credential %s revoked (%s)\n", cred.ID, reason)
				if listed {
					fmt.Fprintf(c.stdout, "its certificate is on the development CA's CRL (%s%s) and OCSP answers revoked\n", e.cfg.Server.PKIBaseURL(), sam.CRLPath)
				} else if len(cred.Certificates) > 0 {
					fmt.Fprintln(c.stdout, "its certificate is not from the development CA: ask the issuing CA to revoke it")
				}
				return nil
			}
		},
	}
}

func credentialDelete() *command {
	return &command{
		name:     "delete",
		summary:  "delete a credential and its key for good (asks for confirmation)",
		synopsis: "-id ID [-yes]",
		setup: func(fs *flag.FlagSet) action {
			id := fs.String("id", "", "credential ID (required)")
			yes := fs.Bool("yes", false, "do not ask for confirmation")
			return func(ctx context.Context, c *cli) error {
				if *id == "" {
					return usagef("-id is required")
				}
				e, err := c.open(ctx)
				if err != nil {
					return err
				}
				defer e.close()
				cred, err := e.credential(ctx, *id)
				if err != nil {
					return err
				}
				if !*yes {
					owner := cred.SignerID
					if sg, err := e.st.Signer(ctx, cred.SignerID); err == nil {
						owner = sg.Username
					}
					ok, err := c.confirm(fmt.Sprintf("Delete credential %s (%s) of %s? Its key is destroyed, a development CA certificate is revoked, and signatures already made stay valid.", cred.ID, cred.KeyAlgorithm, owner))
					if err != nil {
						return err
					}
					if !ok {
						return errors.New("not confirmed; nothing deleted")
					}
				}
				if err := e.sam.DeleteCredential(ctx, cred.ID, actor()); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "credential %s deleted\n", cred.ID)
				return nil
			}
		},
	}
}
