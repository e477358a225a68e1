package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/store"
)

var secretLine = regexp.MustCompile(`(?m)^client_secret: ([A-Za-z0-9_-]+)$`)

func TestClientLifecycle(t *testing.T) {
	e := newTestEnv(t)
	r := e.must("", "client", "add", "-id", "sca", "-name", "Signing App",
		"-redirect-uri", "https://sca.test/cb", "-redirect-uri", "http://127.0.0.1:8080/cb")
	m := secretLine.FindStringSubmatch(r.stdout)
	if m == nil || len(m[1]) != 43 || !strings.Contains(r.stdout, "confidential client sca") {
		t.Fatalf("client add output:\n%s", r.stdout)
	}
	secret := m[1]
	e.must("", "client", "add", "-id", "app", "-name", "Phone App", "-public", "-scopes", "credential",
		"-redirect-uri", "http://[::1]/cb")

	cfg, err := configs.Load(e.config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	sca, err := st.OAuthClient(ctx, "sca")
	if err != nil {
		t.Fatal(err)
	}
	if sca.Public || strings.Contains(string(sca.SecretHash), secret) || !strings.HasPrefix(string(sca.SecretHash), "$2a$10$") ||
		!slices.Equal(sca.RedirectURIs, []string{"https://sca.test/cb", "http://127.0.0.1:8080/cb"}) ||
		!slices.Equal(sca.Scopes, []string{"service", "credential"}) ||
		!slices.Equal(sca.GrantTypes, []string{"authorization_code", "client_credentials", "refresh_token"}) ||
		!slices.Equal(sca.ResponseTypes, []string{"code"}) {
		t.Fatalf("stored client: %+v", sca)
	}
	// The printed secret authenticates the way the authorization server
	// checks it: fosite's bcrypt hasher against the client of oauth.Storage.
	fc, err := oauth.NewStorage(st, nil).GetClient(ctx, "sca")
	if err != nil {
		t.Fatal(err)
	}
	hasher := &fosite.BCrypt{Config: &fosite.Config{}}
	if err := hasher.Compare(ctx, fc.GetHashedSecret(), []byte(secret)); err != nil {
		t.Fatalf("printed secret does not match the stored hash: %v", err)
	}
	if err := hasher.Compare(ctx, fc.GetHashedSecret(), []byte(secret+"x")); err == nil {
		t.Fatal("a wrong secret matched")
	}
	app, err := st.OAuthClient(ctx, "app")
	if err != nil || !app.Public || len(app.SecretHash) != 0 || !slices.Equal(app.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
		!slices.Equal(app.Scopes, []string{"credential"}) {
		t.Fatalf("public client: %+v %v", app, err)
	}
	st.Close()

	r = e.must("", "client", "list")
	if !regexp.MustCompile(`(?m)^app\s+public\s+credential\s+authorization_code,refresh_token\s+http://\[::1\]/cb\s+Phone App$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^sca\s+confidential\s+service,credential\s+authorization_code,client_credentials,refresh_token\s+`).MatchString(r.stdout) {
		t.Fatalf("client list:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout, "$2a$") {
		t.Fatal("client list shows a secret or its hash")
	}

	if r := e.run("", "client", "add", "-id", "sca", "-name", "again", "-redirect-uri", "https://x.test/cb"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate add: %+v", r)
	}
	if r := e.run("no\n", "client", "delete", "-id", "sca"); r.code != 1 || !strings.Contains(r.stderr, "nothing deleted") {
		t.Fatalf("unconfirmed delete: %+v", r)
	}
	e.must("yes\n", "client", "delete", "-id", "sca")
	if r := e.run("", "client", "delete", "-id", "sca", "-yes"); r.code != 1 || !strings.Contains(r.stderr, `unknown client "sca"`) {
		t.Fatalf("second delete: %+v", r)
	}
	if r := e.must("", "client", "list"); strings.Contains(r.stdout, "sca") || !strings.Contains(r.stdout, "app") {
		t.Fatalf("list after delete:\n%s", r.stdout)
	}
}

func TestClientAddRefuses(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no id", []string{"-name", "n", "-redirect-uri", "https://a.test/cb"}, "-id and -name are required"},
		{"no redirect", []string{"-id", "c", "-name", "n"}, "-redirect-uri is required"},
		{"http on a public host", []string{"-id", "c", "-name", "n", "-redirect-uri", "http://sca.test/cb"}, "loopback"},
		{"http on a lookalike host", []string{"-id", "c", "-name", "n", "-redirect-uri", "http://localhost.evil.test/cb"}, "loopback"},
		{"relative", []string{"-id", "c", "-name", "n", "-redirect-uri", "/cb"}, "absolute"},
		{"fragment", []string{"-id", "c", "-name", "n", "-redirect-uri", "https://a.test/cb#x"}, "fragment"},
		{"empty fragment", []string{"-id", "c", "-name", "n", "-redirect-uri", "https://a.test/cb#"}, "fragment"},
		{"user info", []string{"-id", "c", "-name", "n", "-redirect-uri", "https://u:p@a.test/cb"}, "user information"},
		{"custom scheme", []string{"-id", "c", "-name", "n", "-redirect-uri", "myapp://cb"}, "scheme"},
		{"unknown scope", []string{"-id", "c", "-name", "n", "-redirect-uri", "https://a.test/cb", "-scopes", "service,admin"}, `unknown value "admin"`},
		{"implicit grant", []string{"-id", "c", "-name", "n", "-redirect-uri", "https://a.test/cb", "-grants", "implicit"}, `unknown value "implicit"`},
		{"public client_credentials", []string{"-id", "c", "-name", "n", "-public", "-redirect-uri", "https://a.test/cb", "-grants", "client_credentials"}, "public client cannot"},
		{"id with a colon", []string{"-id", "a:b", "-name", "n", "-redirect-uri", "https://a.test/cb"}, "-id must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run("", append([]string{"client", "add"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout, "client_secret") {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 with %q", r.code, r.stderr, r.stdout, tc.want)
			}
		})
	}
	// A service-only client needs no redirect URI.
	r := e.must("", "client", "add", "-id", "svc", "-name", "Service", "-grants", "client_credentials", "-scopes", "service")
	if secretLine.FindStringSubmatch(r.stdout) == nil {
		t.Fatalf("service client:\n%s", r.stdout)
	}
}
