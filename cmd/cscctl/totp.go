package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"rsc.io/qr"
)

// totpIssuer labels the account in authenticator apps.
const totpIssuer = "RSSP"

func totpCommand() *command {
	return &command{
		name:    "totp",
		summary: "enrol a signer's TOTP authenticator app",
		subs:    []*command{totpEnrol(), totpCode()},
	}
}

func totpEnrol() *command {
	return &command{
		name:     "enrol",
		summary:  "generate a TOTP seed for a signer and show it once as an otpauth URI and QR code (replaces any earlier app)",
		synopsis: "-username U [-no-qr]",
		setup: func(fs *flag.FlagSet) action {
			username := fs.String("username", "", "login name (required)")
			noQR := fs.Bool("no-qr", false, "print the otpauth URI only")
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
				seed, uri, err := newTOTP(sg.Username)
				if err != nil {
					return err
				}
				if err := e.sam.EnrolTOTP(ctx, sg.ID, seed); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, "TOTP enrolled. This is shown ONCE: scan it now; the seed is kept only wrapped in the HSM.")
				fmt.Fprintln(c.stdout, uri)
				if !*noQR {
					q, err := qrText(uri)
					if err != nil {
						return err
					}
					fmt.Fprint(c.stdout, q)
				}
				return nil
			}
		},
	}
}

// newTOTP makes a 20-byte seed and its otpauth URI (RFC 6238: SHA-1, 6
// digits, 30 s).
func newTOTP(username string) (seed []byte, uri string, err error) {
	seed = make([]byte, 20)
	if _, err := rand.Read(seed); err != nil {
		return nil, "", err
	}
	return seed, otpauthURI(username, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)), nil
}

// otpauthURI is the Key URI Format of Google Authenticator, understood by
// every common TOTP app.
func otpauthURI(username, secret string) string {
	return "otpauth://totp/" + url.PathEscape(totpIssuer+":"+username) + "?secret=" + secret +
		"&issuer=" + url.QueryEscape(totpIssuer) + "&algorithm=SHA1&digits=6&period=30"
}

// qrText renders a QR code with half-block characters, two modules per
// character cell vertically, light modules drawn as ink so that it scans on
// the usual dark terminal background, with a quiet zone of four modules.
func qrText(text string) (string, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	const quiet = 4 // modules of quiet zone, as ISO/IEC 18004 asks
	n := code.Size + 2*quiet
	light := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		if x < 0 || y < 0 || x >= code.Size || y >= code.Size {
			return true
		}
		return !code.Black(x, y)
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top, bottom := light(x, y), y+1 < n && light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// totpCode stands in for an authenticator app in scripts and the README
// walkthrough: it prints the current code for a secret. It touches neither
// the HSM nor the database.
func totpCode() *command {
	return &command{
		name:     "code",
		summary:  "print the current TOTP code for a base32 secret, as an authenticator app would (development helper)",
		synopsis: "(-secret BASE32 | -account var/demo.json)",
		setup: func(fs *flag.FlagSet) action {
			secret := fs.String("secret", "", "base32 TOTP secret")
			account := fs.String("account", "", "demo account file to take totp_secret from")
			return func(_ context.Context, c *cli) error {
				if (*secret == "") == (*account == "") {
					return usagef("give exactly one of -secret and -account")
				}
				if *account != "" {
					data, err := os.ReadFile(*account)
					if err != nil {
						return err
					}
					var a struct {
						TOTPSecret string `json:"totp_secret"`
					}
					if err := json.Unmarshal(data, &a); err != nil || a.TOTPSecret == "" {
						return fmt.Errorf("%s: no totp_secret", *account)
					}
					*secret = a.TOTPSecret
				}
				seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(*secret, "=")))
				if err != nil || len(seed) == 0 {
					return usagef("-secret is not base32")
				}
				fmt.Fprintln(c.stdout, hotpCode(seed, time.Now().Unix()/30))
				return nil
			}
		},
	}
}

// hotpCode is RFC 4226 with HMAC-SHA-1 and 6 digits.
func hotpCode(seed []byte, counter int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000)
}
