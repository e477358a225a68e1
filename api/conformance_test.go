package api_test

import (
	"testing"

	"github.com/openrssp/rssp/conformance"
)

// TestConformance runs the black-box CSC conformance suite, v1 and v2, over
// real HTTPS against an in-process server on SQLite and PostgreSQL. The
// server's clock is moved forward instead of sleeping (fresh TOTP steps,
// expired SADs), and every answer is checked against the OpenAPI document.
func TestConformance(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver)
		acct := func(a account) conformance.Account {
			c := conformance.Account{BaseURL: a.BaseURL, Username: a.Username, Password: a.Password, PIN: a.PIN, TOTPSecret: a.TOTPSecret}
			for _, cr := range a.Credentials {
				c.Credentials = append(c.Credentials, conformance.Credential{ID: cr.ID, KeyAlgorithm: cr.KeyAlgorithm})
			}
			return c
		}
		other := acct(e.bob)
		conformance.Run(t, conformance.Target{
			Account:     acct(e.alice),
			Client:      e.client,
			Advance:     e.clock.Advance,
			Now:         e.clock.Now,
			SADLifetime: e.cfg.SADLifetime,
			OtherUser:   &other,
		})
	})
}
