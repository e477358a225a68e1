package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/openrssp/rssp/configs"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/sms/smstest"
	"github.com/openrssp/rssp/store"
)

var (
	printedCode   = regexp.MustCompile(`(?m)^activation code: ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}) \(expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$`)
	smsActivation = regexp.MustCompile(`activation code is ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\.`)
	smsPhoneCode  = regexp.MustCompile(`RSSP code ([0-9]{6,8}) to move`)
	changeID      = regexp.MustCompile(`(?m)^phone change ([0-9a-f]{32}) requested by ann`)
)

// withSMS makes the installation send SMS through a local fake Twilio.
func (e *testEnv) withSMS() *smstest.Fake {
	e.t.Helper()
	fake := smstest.NewFakeTwilio(e.t)
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "sms:\n  sender: twilio\n  twilio:\n    account_sid: %s\n    from: \"+15005550006\"\n    base_url: %s\n",
		fake.AccountSID, fake.URL)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Setenv(configs.EnvTwilioAuthToken, fake.AuthToken)
	return fake
}

// lazyInput is a stdin whose lines are made when cscctl reads them, so a
// test can answer with a code that was sent after the command started.
type lazyInput struct {
	mu    sync.Mutex
	lines []func() string
	buf   bytes.Buffer
}

func (l *lazyInput) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() == 0 {
		if len(l.lines) == 0 {
			return 0, io.EOF
		}
		l.buf.WriteString(l.lines[0]() + "\n")
		l.lines = l.lines[1:]
	}
	return l.buf.Read(p)
}

// runWith runs cscctl with a given stdin.
func (e *testEnv) runWith(stdin io.Reader, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: stdin, stdout: &out, stderr: &errb}
	code := c.run(append([]string{"-config", e.config}, args...))
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func lastSMS(t *testing.T, fake *smstest.Fake, phone string, pattern *regexp.Regexp) string {
	t.Helper()
	m, ok := fake.Last(phone)
	if !ok {
		t.Fatalf("no SMS to %s", phone)
	}
	got := pattern.FindStringSubmatch(m.Body)
	if got == nil {
		t.Fatalf("SMS to %s: %q", phone, m.Body)
	}
	return got[1]
}

func TestUserRegisterAndActivation(t *testing.T) {
	e := newTestEnv(t)
	e.must("", "init")
	var printed []string

	// Without an SMS sender, SMS activation fails before anything is written.
	r := e.run("", "user", "register", "-username", "dave", "-name", "Dave Example", "-phone", "+447700900124", "-activation", "sms")
	if r.code != 1 || !strings.Contains(r.stderr, "no SMS sender is configured") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("sms without a sender: %+v", r)
	}
	if r := e.must("", "user", "list"); strings.Contains(r.stdout, "dave") {
		t.Fatalf("a signer was created:\n%s", r.stdout)
	}

	// Printed.
	r = e.must("", "user", "register", "-username", "carol", "-name", "Carol Example", "-email", "carol@example.org",
		"-phone", "+44 7700 900123", "-activation", "print")
	m := printedCode.FindStringSubmatch(r.stdout)
	if m == nil || !regexp.MustCompile(`registered user carol \(id [0-9a-f]{32}\), pending enrolment`).MatchString(r.stdout) {
		t.Fatalf("register print:\n%s", r.stdout)
	}
	printed = append(printed, m[1])
	if r := e.must("", "user", "list"); !regexp.MustCompile(`carol\s+[0-9a-f]{32}\s+pending\s+0\s+Carol Example`).MatchString(r.stdout) {
		t.Fatalf("user list:\n%s", r.stdout)
	}
	r = e.must("", "user", "activation", "-username", "carol", "-activation", "print")
	m = printedCode.FindStringSubmatch(r.stdout)
	if m == nil || m[1] == printed[0] {
		t.Fatalf("new activation:\n%s", r.stdout)
	}
	printed = append(printed, m[1])
	s, st, closeAll := e.open()
	if _, err := s.Activate(ctx, printed[0]); !errors.Is(err, sam.ErrActivationInvalid) {
		t.Fatalf("the replaced code: %v", err)
	}
	if sg, err := s.Activate(ctx, printed[1]); err != nil || sg.Username != "carol" {
		t.Fatalf("the new code: %+v %v", sg, err)
	}
	f, err := st.Factor(ctx, mustSigner(t, st, "carol"), "", store.FactorSMS)
	if err != nil || f.Target != "+447700900123" || f.Status != store.StatusPending {
		t.Fatalf("claimed phone: %+v %v", f, err)
	}
	closeAll()

	// user add with -phone and -activation registers the same way.
	r = e.must("", "user", "add", "-username", "frank", "-name", "Frank Example", "-email", "frank@example.org",
		"-phone", "+447700900127", "-activation", "print")
	if !printedCode.MatchString(r.stdout) || !strings.Contains(r.stdout, "registered user frank") {
		t.Fatalf("user add with -activation:\n%s", r.stdout)
	}
	if r := e.must("", "user", "list"); !regexp.MustCompile(`frank\s+[0-9a-f]{32}\s+pending`).MatchString(r.stdout) {
		t.Fatalf("user list after user add -activation:\n%s", r.stdout)
	}

	// Misuse: exit status 2, nothing written.
	for _, args := range [][]string{
		{"user", "add", "-username", "erin", "-name", "Erin", "-activation", "print"},
		{"user", "add", "-username", "erin", "-name", "Erin", "-phone", "+447700900126"},
		{"user", "add", "-username", "erin", "-name", "Erin", "-phone", "+447700900126", "-activation", "print", "-password-file", "/dev/null"},
		{"user", "register", "-username", "erin", "-name", "Erin", "-activation", "print"},
		{"user", "register", "-username", "erin", "-name", "Erin", "-phone", "+447700900126"},
		{"user", "register", "-username", "erin", "-name", "Erin", "-phone", "+447700900126", "-activation", "email"},
		{"user", "register", "-username", "erin", "-name", "Erin", "-phone", "07700 900126", "-activation", "print"},
		{"user", "register", "-username", "e rin", "-name", "Erin", "-phone", "+447700900126", "-activation", "print"},
		{"user", "activation", "-username", "carol"},
		{"user", "activation", "-activation", "sms"},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := e.run("", "user", "register", "-username", "carol", "-name", "Carol", "-phone", "+447700900123", "-activation", "print"); r.code != 1 ||
		!strings.Contains(r.stderr, "username already exists") {
		t.Fatalf("duplicate: %+v", r)
	}

	// By SMS, through the configured sender: the code is not printed.
	fake := e.withSMS()
	r = e.must("", "user", "register", "-username", "dave", "-name", "Dave Example", "-phone", "+447700900124", "-activation", "sms")
	if !strings.Contains(r.stdout, "activation code sent to **********124 (expires ") || printedCode.MatchString(r.stdout) {
		t.Fatalf("register sms:\n%s", r.stdout)
	}
	code := lastSMS(t, fake, "+447700900124", smsActivation)
	if strings.Contains(r.stdout+r.stderr, code) {
		t.Fatal("the SMS activation code was printed")
	}
	s, _, closeAll = e.open()
	if sg, err := s.Activate(ctx, code); err != nil || sg.Username != "dave" {
		t.Fatalf("the SMS code: %+v %v", sg, err)
	}
	closeAll()

	// Only a pending signer gets a code.
	e.must("", "user", "add", "-username", "alice", "-name", "Alice", "-password-file", e.writeSecret("pw", "alice-password-1234"))
	if r := e.run("", "user", "activation", "-username", "alice", "-activation", "print"); r.code != 1 || !strings.Contains(r.stderr, "is active") {
		t.Fatalf("activation for an active user: %+v", r)
	}
	if r := e.run("", "user", "activation", "-username", "nobody", "-activation", "print"); r.code != 1 || !strings.Contains(r.stderr, "unknown user") {
		t.Fatalf("activation for an unknown user: %+v", r)
	}
	if r := e.must("", "audit", "verify"); !strings.Contains(r.stdout, "audit log intact") {
		t.Fatalf("audit verify: %s", r.stdout)
	}
}

func TestOperatorsPhoneChangeAndFactorReset(t *testing.T) {
	e := newTestEnv(t)
	e.must("", "init")
	fake := e.withSMS()

	// Operators: the key is printed once, on stdout, with a warning.
	keyLine := regexp.MustCompile(`^rsspop_[A-Za-z0-9_-]{43}\n$`)
	r := e.must("", "operator", "add", "-name", "ann")
	if !keyLine.MatchString(r.stdout) || !strings.Contains(r.stderr, "ONCE") {
		t.Fatalf("operator add: %+v", r)
	}
	annKey := strings.TrimSpace(r.stdout)
	e.must("", "operator", "add", "-name", "ben")
	if r := e.run("", "operator", "add", "-name", "ann"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate operator: %+v", r)
	}
	for _, args := range [][]string{{"operator", "add"}, {"operator", "add", "-name", "has space"}, {"operator", "disable"}, {"operator"}} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := e.run("", "operator", "disable", "-name", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "unknown operator") {
		t.Fatalf("disable unknown: %+v", r)
	}
	r = e.must("", "operator", "list")
	if !regexp.MustCompile(`ann\s+active\s+\d{4}-`).MatchString(r.stdout) || !regexp.MustCompile(`ben\s+active`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, annKey) {
		t.Fatalf("operator list:\n%s", r.stdout)
	}
	s, st, closeAll := e.open()
	if o, err := s.OperatorByKey(ctx, annKey); err != nil || o.Name != "ann" {
		t.Fatalf("the printed key: %+v %v", o, err)
	}
	closeAll()
	e.must("", "operator", "disable", "-name", "ann")
	s, _, closeAll = e.open()
	if _, err := s.OperatorByKey(ctx, annKey); !errors.Is(err, sam.ErrOperatorKey) {
		t.Fatalf("a disabled operator's key: %v", err)
	}
	closeAll()
	e.must("", "operator", "enable", "-name", "ann")

	// An active signer with a phone and a TOTP app.
	const oldPhone, midPhone, newPhone = "+447700900001", "+447700900002", "+447700900003"
	e.must("", "user", "add", "-username", "alice", "-name", "Alice", "-password-file", e.writeSecret("pw", "alice-password-1234"))
	e.must("", "totp", "enrol", "-username", "alice", "-no-qr")
	s, st, closeAll = e.open()
	alice := mustSigner(t, st, "alice")
	if err := s.SetPhone(ctx, alice, oldPhone); err != nil {
		t.Fatal(err)
	}
	closeAll()
	phoneOf := func() *store.Factor {
		t.Helper()
		_, st, closeAll := e.open()
		defer closeAll()
		f, err := st.Factor(ctx, alice, "", store.FactorSMS)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	// Confirmed by the old number: a wrong code, then the right one.
	in := &lazyInput{lines: []func() string{
		func() string { return "00000000" },
		func() string { return lastSMS(t, fake, oldPhone, smsPhoneCode) },
	}}
	r = e.runWith(in, "user", "phone", "-username", "alice", "-phone", midPhone)
	if r.code != 0 || !strings.Contains(r.stderr, "Code sent to **********001") || !strings.Contains(r.stderr, "Wrong code") ||
		!strings.Contains(r.stdout, "phone number of alice changed") {
		t.Fatalf("phone change by the old number: %+v", r)
	}
	if f := phoneOf(); f.Target != midPhone || f.Status != store.StatusActive {
		t.Fatalf("phone after the change: %+v", f)
	}
	if m, _ := fake.Last(oldPhone); !strings.Contains(m.Body, "new phone number") {
		t.Fatalf("the old number was not told: %q", m.Body)
	}
	// No code typed: nothing changes.
	e.must("", "user", "add", "-username", "bob", "-name", "Bob", "-password-file", e.writeSecret("pw2", "bob-password-12345"))
	s, st, closeAll = e.open()
	bob := mustSigner(t, st, "bob")
	if err := s.SetPhone(ctx, bob, "+447700900009"); err != nil {
		t.Fatal(err)
	}
	closeAll()
	r = e.runWith(strings.NewReader(""), "user", "phone", "-username", "bob", "-phone", newPhone)
	if r.code != 1 || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("phone change without a code: %+v", r)
	}
	_, st, closeAll = e.open()
	if f, err := st.Factor(ctx, bob, "", store.FactorSMS); err != nil || f.Target != "+447700900009" {
		t.Fatalf("bob's phone after an unconfirmed change: %+v %v", f, err)
	}
	closeAll()

	// By two operators.
	r = e.must("", "user", "phone", "-username", "alice", "-phone", newPhone, "-operator", "ann")
	m := changeID.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "phone-approve -id "+m[1]) {
		t.Fatalf("operator request:\n%s", r.stdout)
	}
	id := m[1]
	if r := e.run("", "user", "phone-approve", "-id", id, "-operator", "ann"); r.code != 1 || !strings.Contains(r.stderr, "needs another operator") {
		t.Fatalf("second approval by the same operator: %+v", r)
	}
	if r := e.run("", "user", "phone-approve", "-id", id, "-operator", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "unknown operator") {
		t.Fatalf("approval by an unknown operator: %+v", r)
	}
	e.must("", "operator", "disable", "-name", "ben")
	if r := e.run("", "user", "phone-approve", "-id", id, "-operator", "ben"); r.code != 1 || !strings.Contains(r.stderr, "disabled") {
		t.Fatalf("approval by a disabled operator: %+v", r)
	}
	e.must("", "operator", "enable", "-name", "ben")
	if phoneOf().Target != midPhone {
		t.Fatal("changed before the second approval")
	}
	if r := e.must("", "user", "phone-approve", "-id", id, "-operator", "ben"); !strings.Contains(r.stdout, "(2 of 2) and applied") {
		t.Fatalf("second approval:\n%s", r.stdout)
	}
	if f := phoneOf(); f.Target != newPhone {
		t.Fatalf("phone after approval: %+v", f)
	}
	if m, _ := fake.Last(midPhone); !strings.Contains(m.Body, "new phone number") {
		t.Fatalf("the replaced number was not told: %q", m.Body)
	}
	for _, args := range [][]string{
		{"user", "phone", "-username", "alice"},
		{"user", "phone", "-username", "alice", "-phone", "12"},
		{"user", "phone-approve", "-id", id},
		{"user", "phone-approve", "-operator", "ben"},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}

	// Factor reset.
	for _, args := range [][]string{
		{"factor", "reset", "-username", "alice"},
		{"factor", "reset", "-username", "alice", "-kind", "pin"},
		{"factor", "reset", "-kind", "totp"},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := e.run("", "factor", "reset", "-username", "bob", "-kind", "totp"); r.code != 1 || !strings.Contains(r.stderr, "bob has no totp factor") {
		t.Fatalf("reset of a missing factor: %+v", r)
	}
	if r := e.must("", "factor", "reset", "-username", "alice", "-kind", "totp"); !strings.Contains(r.stdout, "totp of alice reset") {
		t.Fatalf("reset:\n%s", r.stdout)
	}
	_, st, closeAll = e.open()
	if f, err := st.Factor(ctx, alice, "", store.FactorTOTP); err != nil || f.Status != store.StatusRevoked {
		t.Fatalf("TOTP after reset: %+v %v", f, err)
	}
	entries, err := st.AuditEntries(ctx, 0, 100000)
	closeAll()
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, a := range entries {
		switch a.Event {
		case sam.EventFactorReset, sam.EventOperator, sam.EventPhoneChange:
			events = append(events, a.Event+"/"+strings.SplitN(a.Actor, ":", 2)[0])
		}
		if strings.Contains(a.Details, annKey) || strings.Contains(a.Details, "+4477009") {
			t.Errorf("audit entry %d holds a key or a phone number in clear: %s", a.Seq, a.Details)
		}
	}
	joined := strings.Join(events, " ")
	for _, want := range []string{"factor.reset/cscctl", "operator/cscctl", "phone.change/ann", "phone.change/ben"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %s in the audit: %s", want, joined)
		}
	}
	if r := e.must("", "audit", "verify"); !strings.Contains(r.stdout, "audit log intact") {
		t.Fatalf("audit verify: %s", r.stdout)
	}
}
