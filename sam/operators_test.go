package sam_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// auditOf returns the audit entries of one event, oldest first.
func (f *fixture) auditOf(event string) []store.AuditEntry {
	f.t.Helper()
	all, err := f.st.AuditEntries(ctx, 0, 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

func TestOperatorLifecycle(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		key, err := f.sam.CreateOperator(ctx, "ops.alice", "root")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, sam.OperatorKeyPrefix))
		if !strings.HasPrefix(key, "rsspop_") || err != nil || len(raw) != 32 {
			t.Fatalf("key %q: %d bytes, %v", key, len(raw), err)
		}

		// Only the SHA-256 of the key is stored.
		var rows []store.Operator
		if err := f.st.DB().Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(key))
		if len(rows) != 1 || !bytes.Equal(rows[0].KeyHash, sum[:]) || rows[0].Status != store.StatusActive {
			t.Fatalf("stored operator %+v", rows)
		}

		o, err := f.sam.OperatorByKey(ctx, key)
		if err != nil || o.Name != "ops.alice" {
			t.Fatalf("OperatorByKey: %+v %v", o, err)
		}
		for name, k := range map[string]string{
			"empty":       "",
			"no prefix":   strings.TrimPrefix(key, sam.OperatorKeyPrefix),
			"one changed": key[:len(key)-1] + string(rune(key[len(key)-1]^1)),
			"too long":    key + strings.Repeat("A", 200),
		} {
			if _, err := f.sam.OperatorByKey(ctx, k); !errors.Is(err, sam.ErrOperatorKey) {
				t.Errorf("%s key: %v, want ErrOperatorKey", name, err)
			}
		}

		// A second operator gets another key; names are unique.
		key2, err := f.sam.CreateOperator(ctx, "ops.bob", "root")
		if err != nil || key2 == key {
			t.Fatalf("second operator: %v", err)
		}
		if _, err := f.sam.CreateOperator(ctx, "ops.alice", "root"); !errors.Is(err, sam.ErrOperatorExists) {
			t.Fatalf("duplicate name: %v", err)
		}
		for _, bad := range []string{"", "has space", "tab\there", strings.Repeat("x", 129), "bell\a", "\xff"} {
			if _, err := f.sam.CreateOperator(ctx, bad, "root"); !errors.Is(err, sam.ErrOperatorName) {
				t.Errorf("name %q: %v, want ErrOperatorName", bad, err)
			}
		}

		// Disabling stops the key at once; enabling brings it back.
		if err := f.sam.SetOperatorStatus(ctx, "ops.alice", store.StatusDisabled, "root"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.OperatorByKey(ctx, key); !errors.Is(err, sam.ErrOperatorKey) {
			t.Fatalf("disabled operator's key: %v", err)
		}
		if err := f.sam.SetOperatorStatus(ctx, "ops.alice", store.StatusActive, "root"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.OperatorByKey(ctx, key); err != nil {
			t.Fatalf("re-enabled operator's key: %v", err)
		}
		if err := f.sam.SetOperatorStatus(ctx, "nobody", store.StatusDisabled, "root"); !errors.Is(err, sam.ErrUnknownOperator) {
			t.Fatalf("unknown operator: %v", err)
		}
		if err := f.sam.SetOperatorStatus(ctx, "ops.bob", store.StatusRevoked, "root"); err == nil {
			t.Fatal("status revoked accepted")
		}

		list, err := f.sam.Operators(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "ops.alice" || list[1].Name != "ops.bob" || list[0].KeyHash != nil {
			t.Fatalf("Operators: %+v %v", list, err)
		}

		// Audited: created twice, status twice; never the key.
		entries := f.auditOf(sam.EventOperator)
		if len(entries) != 4 {
			t.Fatalf("%d operator audit entries, want 4", len(entries))
		}
		for _, e := range entries {
			if e.Actor != "root" || strings.Contains(e.Details, key) || strings.Contains(e.Details, key2) ||
				strings.Contains(e.Details, strings.TrimPrefix(key, sam.OperatorKeyPrefix)) {
				t.Errorf("audit entry %+v", e)
			}
		}
		if _, err := f.sam.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOperatorKeysComeFromTheSAMRandomSource pins the key to the injected
// random source: a deterministic source gives the expected key.
func TestOperatorKeysComeFromTheSAMRandomSource(t *testing.T) {
	f := newFixture(t, "sqlite", testConfig())
	zero := bytes.NewReader(make([]byte, 4096))
	s, err := sam.New(testConfig(), f.keys, f.st, sam.WithClock(f.clock), sam.WithRand(zero))
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.CreateOperator(ctx, "det", "root")
	if err != nil {
		t.Fatal(err)
	}
	if want := "rsspop_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)); key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
}

func TestSignerSummariesMaskPhones(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		id := f.signer("signer-1")
		if err := f.st.CreateSigner(ctx, &store.Signer{ID: "signer-2", Username: "nophone", Name: "No Phone", Status: store.StatusActive}); err != nil {
			t.Fatal(err)
		}
		list, err := f.sam.SignerSummaries(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("%+v %v", list, err)
		}
		byID := map[string]sam.SignerSummary{}
		for _, s := range list {
			byID[s.ID] = s
		}
		if p := byID[id].Phone; p != "*********001" {
			t.Errorf("phone %q", p)
		}
		if p := byID["signer-2"].Phone; p != "" {
			t.Errorf("signer without phone shows %q", p)
		}
	})
}

func TestCheckRegistration(t *testing.T) {
	good := sam.Registration{NewSigner: sam.NewSigner{Username: "carol", Name: "Carol Example", Email: "carol@example.org"},
		Phone: "+44 7700 900123", Delivery: sam.DeliveryPrint}
	tests := []struct {
		name string
		edit func(r *sam.Registration)
		desc string // empty: accepted
	}{
		{"good", func(*sam.Registration) {}, ""},
		{"no username", func(r *sam.Registration) { r.Username = "" }, "Username must be 1 to 128 characters"},
		{"space in username", func(r *sam.Registration) { r.Username = "a b" }, "Username must not contain spaces, control characters or ':'"},
		{"no name", func(r *sam.Registration) { r.Name = " " }, "Name must be 1 to 256 characters"},
		{"bad email", func(r *sam.Registration) { r.Email = "Carol <c@example.org>" }, `"Carol <c@example.org>" is not a plain email address`},
		{"bad phone", func(r *sam.Registration) { r.Phone = "07700 900123" }, sam.ErrInvalidPhone.Description},
		{"bad delivery", func(r *sam.Registration) { r.Delivery = "email" }, "Activation delivery must be sms or print"},
		{"password", func(r *sam.Registration) { r.Password = "secret-secret" }, "A registered signer chooses the password at enrolment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			err := sam.CheckRegistration(r)
			if tc.desc == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *sam.Error
			if !errors.As(err, &e) || e.Code != "invalid_request" || e.Description != tc.desc {
				t.Fatalf("got %v, want invalid_request %q", err, tc.desc)
			}
		})
	}
}
