package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

// throttleCount reads the stored counter of key.
func throttleCount(t *testing.T, s *store.Store, key string) store.Throttle {
	t.Helper()
	var th store.Throttle
	if err := s.DB().Where("name = ?", key).Take(&th).Error; err != nil {
		t.Fatalf("throttle %q: %v", key, err)
	}
	return th
}

// TestThrottle: a limit of N allows N events per window and refuses the
// rest without counting them; the window restarts at the first event after
// it ended; keys are independent; the limit holds under concurrency.
func TestThrottle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const (
			limit  = 3
			window = int64(1000)
			start  = int64(10_000)
		)
		try := func(key string, now int64) bool {
			t.Helper()
			ok, err := s.Throttle(ctx, key, limit, window, now)
			if err != nil {
				t.Fatalf("Throttle(%s, %d): %v", key, now, err)
			}
			return ok
		}

		for i := 1; i <= limit; i++ {
			if !try("k", start+int64(i)) {
				t.Fatalf("event %d of %d refused", i, limit)
			}
		}
		for i := 0; i < 3; i++ {
			if try("k", start+10) {
				t.Fatalf("event over the limit allowed (extra %d)", i)
			}
		}
		if th := throttleCount(t, s, "k"); th.Count != limit || th.WindowStart != start+1 {
			t.Fatalf("after refusals: count %d, window start %d; want %d, %d (refused events are not counted)",
				th.Count, th.WindowStart, limit, start+1)
		}
		if !try("other", start+10) {
			t.Fatal("an exhausted key refused another key")
		}
		if try("k", start+window) {
			t.Fatal("allowed 1 ms before the window ended")
		}
		// The window ends windowMs after its first event: a new one starts.
		restart := start + 1 + window
		if !try("k", restart) {
			t.Fatal("refused after the window ended")
		}
		if th := throttleCount(t, s, "k"); th.Count != 1 || th.WindowStart != restart {
			t.Fatalf("new window: count %d, start %d; want 1, %d", th.Count, th.WindowStart, restart)
		}
		for i := 2; i <= limit; i++ {
			if !try("k", restart+int64(i)) {
				t.Fatalf("event %d of the new window refused", i)
			}
		}
		if try("k", restart+window-1) {
			t.Fatal("new window allowed more than the limit")
		}
		if !try("k", restart+window) {
			t.Fatal("the second window did not end windowMs after its first event")
		}

		if ok, err := s.Throttle(ctx, "zero", 0, window, start); ok || err != nil {
			t.Fatalf("limit 0: %v, %v; want refused", ok, err)
		}

		// Many nodes counting one key at once: exactly the limit gets through.
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Throttle(ctx, "race", 5, 60_000, start)
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if allowed.Load() != 5 {
			t.Fatalf("%d of 20 concurrent events allowed with limit 5", allowed.Load())
		}
		if th := throttleCount(t, s, "race"); th.Count != 5 {
			t.Fatalf("concurrent counter %d, want 5", th.Count)
		}
	})
}

// TestActivations: a code works once, before it expires, by its MAC only;
// voiding ends a signer's unused codes and no one else's.
func TestActivations(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const now = int64(1_000_000)
		create := func(id, signer string, expires int64) {
			t.Helper()
			if err := s.CreateActivation(ctx, &store.Activation{ID: id, SignerID: signer, CodeMAC: []byte("mac-" + id),
				Delivery: "print", Actor: "op", ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		use := func(id string, at int64) (string, error) {
			return s.UseActivation(ctx, []byte("mac-"+id), at)
		}
		create("a1", "s1", now+1000)
		create("a2", "s1", now+1000)
		create("a3", "s2", now+1000)
		create("a4", "s3", now+1000)
		create("a5", "s3", now+1000)

		if got, err := use("a1", now); err != nil || got != "s1" {
			t.Fatalf("first use: %q, %v", got, err)
		}
		if _, err := use("a1", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second use: %v, want ErrNotFound", err)
		}
		if _, err := use("a2", now+1000); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("use at expiry: %v, want ErrNotFound", err)
		}
		if got, err := use("a2", now+999); err != nil || got != "s1" {
			t.Fatalf("use 1 ms before expiry: %q, %v", got, err)
		}
		if _, err := s.UseActivation(ctx, []byte("unknown"), now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown MAC: %v, want ErrNotFound", err)
		}
		if err := s.CreateActivation(ctx, &store.Activation{ID: "dup", SignerID: "s9", CodeMAC: []byte("mac-a3"), Delivery: "print",
			Actor: "op", ExpiresAt: now + 1000}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second activation with the same MAC: %v, want ErrConflict", err)
		}

		if err := s.VoidActivations(ctx, "s3", "", now); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a4", "a5"} {
			if _, err := use(id, now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("voided %s: %v, want ErrNotFound", id, err)
			}
		}
		if got, err := use("a3", now); err != nil || got != "s2" {
			t.Fatalf("another signer's code after voiding: %q, %v", got, err)
		}

		// Racing redemptions of one code: exactly one wins.
		create("a6", "s4", now+1000)
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := use("a6", now)
				switch {
				case err == nil && got == "s4":
					won.Add(1)
				case err != nil && !errors.Is(err, store.ErrNotFound):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("activation code used %d times, want 1", won.Load())
		}
	})
}

// TestOutstandingAndVoidChallenges: the outstanding challenge is the newest
// usable one of the signer, credential and purpose; voiding matches
// credential and purpose exactly or by "*", and leaves used ones alone.
func TestOutstandingAndVoidChallenges(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const now = int64(5_000_000)
		create := func(id, signer, cred, purpose string, expires int64) {
			t.Helper()
			if err := s.CreateChallenge(ctx, &store.Challenge{ID: id, SignerID: signer, CredentialID: cred, Purpose: purpose,
				Binding: []byte("b"), CodeMAC: []byte("m-" + id), ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		outstanding := func(at int64) string {
			t.Helper()
			c, err := s.OutstandingChallenge(ctx, "s", "c", store.PurposeApprove, at)
			if errors.Is(err, store.ErrNotFound) {
				return ""
			}
			if err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		create("expired", "s", "c", store.PurposeApprove, now)
		if got := outstanding(now); got != "" {
			t.Fatalf("only an expired challenge: got %q", got)
		}
		create("old", "s", "c", store.PurposeApprove, now+1000)
		create("new", "s", "c", store.PurposeApprove, now+2000)
		create("used", "s", "c", store.PurposeApprove, now+3000)
		if ok, err := s.UseChallenge(ctx, "used", now); !ok || err != nil {
			t.Fatalf("use: %v %v", ok, err)
		}
		create("bind", "s", "c", store.PurposeBindPhone, now+4000)
		create("other-cred", "s", "c2", store.PurposeApprove, now+5000)
		create("other-signer", "s2", "c", store.PurposeApprove, now+6000)

		if got := outstanding(now); got != "new" {
			t.Fatalf("outstanding = %q, want the newest usable one", got)
		}
		if ok, _ := s.UseChallenge(ctx, "new", now); !ok {
			t.Fatal("could not use the outstanding challenge")
		}
		if got := outstanding(now); got != "old" {
			t.Fatalf("after using the newest: %q, want old", got)
		}
		if got := outstanding(now + 1000); got != "" {
			t.Fatalf("after every challenge expired: %q", got)
		}

		// Voiding.
		create("v-c1", "v", "c1", store.PurposeApprove, now+9000)
		create("v-c1b", "v", "c1", store.PurposeApprove, now+9000)
		create("v-c2", "v", "c2", store.PurposeApprove, now+9000)
		create("v-bind", "v", "", store.PurposeBindPhone, now+9000)
		create("v-change", "v", "change-1", store.PurposePhoneChange, now+9000)
		create("v-used", "v", "c2", store.PurposeApprove, now+9000)
		create("w-c1", "w", "c1", store.PurposeApprove, now+9000)
		if ok, _ := s.UseChallenge(ctx, "v-used", now+5); !ok {
			t.Fatal("could not use v-used")
		}
		usedAt := func(id string) int64 {
			t.Helper()
			c, err := s.Challenge(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return c.UsedAt
		}
		steps := []struct {
			name          string
			cred, purpose string
			at            int64
			voided        []string // newly voided at this step
		}{
			{"exact credential and purpose", "c1", store.PurposeApprove, now + 10, []string{"v-c1", "v-c1b"}},
			{"any credential, one purpose", "*", store.PurposeApprove, now + 20, []string{"v-c2"}},
			{"one credential, any purpose", "", "*", now + 30, []string{"v-bind"}},
			{"everything", "*", "*", now + 40, []string{"v-change"}},
		}
		voidedAt := map[string]int64{"v-used": now + 5}
		for _, st := range steps {
			if err := s.VoidChallenges(ctx, "v", st.cred, st.purpose, st.at); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			for _, id := range st.voided {
				voidedAt[id] = st.at
			}
			for _, id := range []string{"v-c1", "v-c1b", "v-c2", "v-bind", "v-change", "v-used", "w-c1"} {
				if got := usedAt(id); got != voidedAt[id] {
					t.Fatalf("%s: %s used_at %d, want %d", st.name, id, got, voidedAt[id])
				}
			}
		}
		if ok, _ := s.UseChallenge(ctx, "v-c2", now+50); ok {
			t.Fatal("a voided challenge was used")
		}
		if ok, _ := s.UseChallenge(ctx, "w-c1", now+50); !ok {
			t.Fatal("another signer's challenge was voided")
		}
	})
}

// TestAdvanceEnrolment: an enrolment moves only from the step it is at,
// only before it expires, exactly once under concurrency, and only the
// columns an enrolment step may set.
func TestAdvanceEnrolment(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const now = int64(7_000_000)
		create := func(id, step string) {
			t.Helper()
			if err := s.CreateEnrolment(ctx, &store.Enrolment{ID: id, SignerID: "s1", BrowserHash: []byte("bh"), CSRFHash: []byte("ch"),
				Step: step, CredentialID: "cred-" + id, ExpiresAt: now + 1000}); err != nil {
				t.Fatal(err)
			}
		}
		load := func(id string) *store.Enrolment {
			t.Helper()
			e, err := s.EnrolmentByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		create("e1", "password")

		tests := []struct {
			name     string
			from, to string
			set      map[string]any
			at       int64
			wantOK   bool
			wantErr  bool
			wantStep string
		}{
			{name: "wrong step", from: "phone", to: "totp", at: now, wantStep: "password"},
			{name: "unknown column", from: "password", to: "phone", set: map[string]any{"signer_id": "intruder"}, at: now, wantErr: true, wantStep: "password"},
			{name: "step column cannot be set", from: "password", to: "phone", set: map[string]any{"step": "done"}, at: now, wantErr: true, wantStep: "password"},
			{name: "advances with a PIN hash", from: "password", to: "pin", set: map[string]any{"pin_hash": []byte("pin-hash")}, at: now, wantOK: true, wantStep: "pin"},
			{name: "same move again", from: "password", to: "pin", at: now, wantStep: "pin"},
			{name: "expired", from: "pin", to: "phone", set: map[string]any{"challenge_id": "ch-1"}, at: now + 1000, wantStep: "pin"},
			{name: "last moment", from: "pin", to: "phone", set: map[string]any{"challenge_id": "ch-1"}, at: now + 999, wantOK: true, wantStep: "phone"},
		}
		for _, tc := range tests {
			ok, err := s.AdvanceEnrolment(ctx, "e1", tc.from, tc.to, tc.set, tc.at)
			if ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Fatalf("%s: ok %v, err %v; want ok %v, error %v", tc.name, ok, err, tc.wantOK, tc.wantErr)
			}
			if got := load("e1").Step; got != tc.wantStep {
				t.Fatalf("%s: step %q, want %q", tc.name, got, tc.wantStep)
			}
		}
		e := load("e1")
		if string(e.PINHash) != "pin-hash" || e.ChallengeID != "ch-1" || e.SignerID != "s1" {
			t.Fatalf("enrolment columns: %+v", e)
		}

		// Two tabs of one browser racing the same step: one wins, and the
		// stored challenge is the winner's.
		create("e2", "phone")
		var winners sync.Map
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ch := fmt.Sprintf("ch-%d", i)
				ok, err := s.AdvanceEnrolment(ctx, "e2", "phone", "totp", map[string]any{"challenge_id": ch}, now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
					winners.Store(ch, true)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("enrolment advanced %d times, want 1", won.Load())
		}
		e2 := load("e2")
		if _, ok := winners.Load(e2.ChallengeID); !ok || e2.Step != "totp" {
			t.Fatalf("enrolment after the race: step %q, challenge %q not the winner's", e2.Step, e2.ChallengeID)
		}

		if n, err := s.DeleteExpiredEnrolments(ctx, now+1001); err != nil || n != 2 {
			t.Fatalf("DeleteExpiredEnrolments = %d, %v; want 2", n, err)
		}
		if _, err := s.EnrolmentByID(ctx, "e1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired enrolment still there: %v", err)
		}
	})
}

// TestApprovePhoneChange: two approvals by different operators apply a
// change; the same operator twice, a third approval, an expired change and
// an unknown one are refused; a confirmed change applies once.
func TestApprovePhoneChange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const now = int64(9_000_000)
		create := func(id, approvedBy string) {
			t.Helper()
			if err := s.CreatePhoneChange(ctx, &store.PhoneChange{ID: id, SignerID: "s1", NewPhone: "+4915112345678", RequestedBy: "alice",
				ApprovedBy: approvedBy, Status: store.StatusPending, ExpiresAt: now + 1000}); err != nil {
				t.Fatal(err)
			}
		}
		approve := func(id, op string, at int64) int {
			t.Helper()
			n, err := s.ApprovePhoneChange(ctx, id, op, at)
			if err != nil {
				t.Fatalf("approve %s by %s: %v", id, op, err)
			}
			return n
		}
		load := func(id string) *store.PhoneChange {
			t.Helper()
			p, err := s.PhoneChangeByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}

		create("p1", "")
		if n := approve("p1", "alice", now); n != 1 {
			t.Fatalf("first approval: %d, want 1", n)
		}
		if n := approve("p1", "alice", now); n != 0 {
			t.Fatalf("same operator again: %d, want 0", n)
		}
		if p := load("p1"); p.Status != store.StatusPending || p.ApprovedBy != "alice" || p.AppliedAt != 0 {
			t.Fatalf("after one approval: %+v", p)
		}
		if n := approve("p1", "bob", now+1); n != 2 {
			t.Fatalf("second operator: %d, want 2", n)
		}
		if p := load("p1"); p.Status == store.StatusPending || p.AppliedAt != now+1 || p.ApprovedBy != "alice" {
			t.Fatalf("after two approvals: %+v", p)
		}
		if n := approve("p1", "carol", now+2); n != 0 {
			t.Fatalf("approval after applied: %d, want 0", n)
		}
		if ok, err := s.ApplyPhoneChange(ctx, "p1", now+2); ok || err != nil {
			t.Fatalf("apply after applied: %v, %v", ok, err)
		}

		// An operator's own request arrives approved once by them.
		create("p2", "alice")
		if n := approve("p2", "alice", now); n != 0 {
			t.Fatalf("requesting operator approving own change: %d, want 0", n)
		}
		if n := approve("p2", "bob", now); n != 2 {
			t.Fatalf("second operator on an operator's request: %d, want 2", n)
		}

		create("p3", "")
		if n := approve("p3", "alice", now+1000); n != 0 {
			t.Fatalf("first approval of an expired change: %d, want 0", n)
		}
		if n := approve("p3", "alice", now+999); n != 1 {
			t.Fatalf("first approval before expiry: %d, want 1", n)
		}
		if n := approve("p3", "bob", now+1000); n != 0 {
			t.Fatalf("second approval after expiry: %d, want 0", n)
		}
		if p := load("p3"); p.Status != store.StatusPending || p.AppliedAt != 0 {
			t.Fatalf("expired change was applied: %+v", p)
		}

		if n := approve("missing", "alice", now); n != 0 {
			t.Fatalf("unknown change: %d, want 0", n)
		}
		if _, err := s.PhoneChangeByID(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PhoneChangeByID(missing): %v", err)
		}

		// Concurrent second approvals: one applies the change.
		create("p4", "alice")
		var applied atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.ApprovePhoneChange(ctx, "p4", fmt.Sprintf("op-%d", i), now)
				if err != nil {
					t.Error(err)
				}
				if n == 2 {
					applied.Add(1)
				}
			}()
		}
		wg.Wait()
		if applied.Load() != 1 {
			t.Fatalf("change applied by %d concurrent approvals, want 1", applied.Load())
		}

		// Confirmation by code: once, and not after expiry.
		create("p5", "")
		if ok, err := s.ApplyPhoneChange(ctx, "p5", now); !ok || err != nil {
			t.Fatalf("apply: %v, %v", ok, err)
		}
		if ok, _ := s.ApplyPhoneChange(ctx, "p5", now); ok {
			t.Fatal("change applied twice")
		}
		if n := approve("p5", "alice", now); n != 0 {
			t.Fatalf("approval of an applied change: %d", n)
		}
		create("p6", "")
		if ok, _ := s.ApplyPhoneChange(ctx, "p6", now+1000); ok {
			t.Fatal("expired change applied")
		}
	})
}

// TestDeleteExpiredOutOfBand: the janitor removes expired challenges,
// activation codes, unapplied phone changes and old throttle windows, and
// nothing still in use.
func TestDeleteExpiredOutOfBand(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const cutoff = int64(10_000_000)
		for _, c := range []struct {
			id      string
			expires int64
		}{{"old", cutoff - 1}, {"live", cutoff + 1}} {
			if err := s.CreateChallenge(ctx, &store.Challenge{ID: c.id, SignerID: "s", CredentialID: "c", Purpose: store.PurposeApprove,
				Binding: []byte("b"), CodeMAC: []byte("m-" + c.id), ExpiresAt: c.expires}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateActivation(ctx, &store.Activation{ID: c.id, SignerID: "s", CodeMAC: []byte("a-" + c.id), Delivery: "print",
				Actor: "op", ExpiresAt: c.expires}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreatePhoneChange(ctx, &store.PhoneChange{ID: c.id, SignerID: "s", NewPhone: "+447700900001", RequestedBy: "op",
				Status: store.StatusPending, ExpiresAt: c.expires}); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.Throttle(ctx, "old-window", 1, 1000, cutoff-5000); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if ok, err := s.Throttle(ctx, "live-window", 1, 1000, cutoff+5); err != nil || !ok {
			t.Fatal(ok, err)
		}
		n, err := s.DeleteExpiredOutOfBand(ctx, cutoff, cutoff)
		if err != nil || n != 4 {
			t.Fatalf("deleted %d rows, %v; want 4", n, err)
		}
		if _, err := s.Challenge(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired challenge kept: %v", err)
		}
		if _, err := s.Challenge(ctx, "live"); err != nil {
			t.Fatalf("live challenge deleted: %v", err)
		}
		if _, err := s.PhoneChangeByID(ctx, "live"); err != nil {
			t.Fatalf("live phone change deleted: %v", err)
		}
		if got, err := s.UseActivation(ctx, []byte("a-live"), cutoff); err != nil || got != "s" {
			t.Fatalf("live activation: %q %v", got, err)
		}
		// The live window still counts; the old one was forgotten.
		if ok, _ := s.Throttle(ctx, "live-window", 1, 1000, cutoff+6); ok {
			t.Fatal("the live throttle window was reset")
		}
		if ok, _ := s.Throttle(ctx, "old-window", 1, 1000, cutoff-4999); !ok {
			t.Fatal("the old throttle window was not removed")
		}
	})
}
