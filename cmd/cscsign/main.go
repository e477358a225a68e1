// Command cscsign signs a local PDF (PAdES baseline B-B, B-T, B-LT or B-LTA,
// invisible or visible) with a key held by a remote signing service that
// speaks the Cloud Signature Consortium API, v2 or v1.
//
//	cscsign -server https://host:port -in doc.pdf -out signed.pdf [flags]
//
// The document never leaves the machine: cscsign computes the digest of the
// signed attributes locally (sam/pades), has the signer authorize exactly
// that one hash (PIN and one-time code through credentials/authorize, or
// the signer's browser through the OAuth 2.0 authorization code flow), and
// sends it to signatures/signHash. For B-LT it fetches the OCSP responses
// and CRLs that the certificates point to, checks them against the issuers
// and refuses a revoked certificate before the signer is asked anything.
// `cscsign -help` lists the flags.
//
// Passwords, PINs, one-time codes, client secrets, tokens and SADs are never
// printed: they come from the environment (CSCSIGN_PASSWORD, CSCSIGN_PIN,
// CSCSIGN_OTP, CSCSIGN_CLIENT_SECRET) or from a prompt that does not echo.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr).run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
