package conformance

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// mutantEnv names a deliberate bug for the fake server (see
// TestSuiteCatchesBugs).
const mutantEnv = "CONFORMANCE_FAKE_MUTANT"

// TestRunAgainstFake runs the whole suite against the fake server, with an
// injected clock, a second user and a Check hook, and then checks that the
// suite never let failed factor attempts pile up.
func TestRunAgainstFake(t *testing.T) {
	if testing.Short() {
		t.Skip("generates keys and runs the whole suite")
	}
	f := newFakeCSC(t)
	f.mutant = os.Getenv(mutantEnv)
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	other := f.account(srv.URL, "bob")
	checked := 0
	Run(t, Target{
		Account:   f.account(srv.URL, "alice"),
		Client:    srv.Client(),
		Advance:   f.Advance,
		Now:       f.Now,
		OtherUser: &other,
		Check: func(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
			checked++
			if req.GetBody == nil && req.ContentLength > 0 {
				t.Errorf("Check: request body cannot be re-read")
			}
			if status != http.StatusNoContent && !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
				t.Errorf("Check: %s %s answered %q", req.Method, req.URL.Path, header.Get("Content-Type"))
			}
		},
	})
	if checked != f.requests {
		t.Errorf("Check saw %d requests, the server %d", checked, f.requests)
	}
	if f.maxFailSeen >= 5 {
		t.Errorf("LOCKOUT REACHED: %d consecutive failed factor attempts", f.maxFailSeen)
	}
	if f.mutant != "" {
		return
	}
	if f.maxFailSeen > 2 {
		t.Errorf("up to %d consecutive failed factor attempts; the suite must keep them at 2 or less", f.maxFailSeen)
	}
	for _, u := range f.users {
		if u.pinFail != 0 || u.otpFail != 0 {
			t.Errorf("%s ends with %d PIN and %d OTP failures outstanding", u.name, u.pinFail, u.otpFail)
		}
	}
}

// TestRunWithoutClockControl runs the suite as against a remote server that
// it may not wait for: no Advance, never sleep, and a server clock that
// stands still. Only the TOTP steps usable at once (three) are available, so
// most authorizations must be skipped with a reason, deliberate failures must
// not be made, and nothing may fail.
func TestRunWithoutClockControl(t *testing.T) {
	if testing.Short() {
		t.Skip("generates keys and runs the whole suite")
	}
	t.Setenv("TMPDIR", t.TempDir()) // the TOTP state file
	f := newFakeCSC(t)
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	Run(t, Target{Account: f.account(srv.URL, "alice"), Client: srv.Client(), Now: f.Now, MaxWait: -1})
	used := 0
	for _, u := range f.users {
		used += len(u.usedSteps)
		if u.pinFail != 0 || u.otpFail != 0 {
			t.Errorf("%s: %d PIN and %d OTP failures without a guaranteed reset", u.name, u.pinFail, u.otpFail)
		}
	}
	if used > 3 {
		t.Errorf("%d TOTP steps used, but only 3 are usable without waiting", used)
	}
}

// TestSuiteCatchesBugs runs the suite against fake servers with one
// deliberate bug each and checks that it fails, in the expected subtest.
func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole suite once per mutant")
	}
	if os.Getenv(mutantEnv) != "" {
		t.Skip("inside a mutant run")
	}
	mutants := []struct{ name, failing string }{
		{"pss_salt_ignored", "--- FAIL: TestRunAgainstFake/v2/sign_RSA-2048/signHash_RSASSA-PSS_SHA-256_salt_222"},
		{"ecdsa_raw", "--- FAIL: TestRunAgainstFake/v2/sign_EC-P256/signHash_ecdsa-with-SHA256"},
		{"signatures_reversed", "not in the order of the hashes"},
		{"replay_allowed", "--- FAIL: TestRunAgainstFake/v2/scal2/replay_of_a_signed_hash"},
		{"extend_keeps_old_sad", "--- FAIL: TestRunAgainstFake/v2/scal2/no_signature_beyond_numSignatures"},
		{"sad_not_bound_to_credential", "--- FAIL: TestRunAgainstFake/v2/scal2/SAD_presented_with_another_credential"},
		{"sad_never_expires", "--- FAIL: TestRunAgainstFake/v2/sad_expiry/signHash_after_expiry"},
		{"list_leaks", "--- FAIL: TestRunAgainstFake/v2/other_user/our_list_hides_their_credentials"},
		{"refresh_reuse_allowed", "--- FAIL: TestRunAgainstFake/v2/login/refresh_token/spent_refresh_token_is_refused"},
		{"null_is_not_absent", "--- FAIL: TestRunAgainstFake/v2/login/null_members_are_absent"},
		{"v1_generic_factor_error", "--- FAIL: TestRunAgainstFake/v1/authorize_errors/wrong_PIN"},
		{"chain_root_first", "the end-entity certificate must come first"},
		// Every authorization fails: the suite must stop before the lockout.
		{"otp_always_wrong", "--- FAIL: TestRunAgainstFake/v2/sign_"},
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunAgainstFake$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m.name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against a server with bug %s", m.name)
			}
			if strings.Contains(string(out), "LOCKOUT REACHED") {
				t.Errorf("the suite drove the account into lockout:\n%s", failures(string(out)))
			}
			if !strings.Contains(string(out), m.failing) {
				t.Errorf("the suite failed, but not with %q:\n%s", m.failing, failures(string(out)))
			}
		})
	}
}

// failures keeps the FAIL lines and error messages of go test -v output.
func failures(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "FAIL") || strings.Contains(l, ".go:") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 40 {
		keep = keep[:40]
	}
	return strings.Join(keep, "\n")
}
