package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/openrssp/rssp/store"
	"github.com/openrssp/rssp/store/storetest"
)

func TestCredentialPagesAndCounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		sg, _ := seed(t, s)
		other := &store.Signer{ID: "signer-2", Name: "Grace Hopper", Status: store.StatusActive}
		if err := s.CreateSigner(ctx, other); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			c := &store.Credential{ID: fmt.Sprintf("cred-x%d", i), SignerID: other.ID, Status: store.StatusActive, KeyAlgorithm: "EC-P256",
				KeyBlob: []byte{1}, KeyMAC: []byte{2}, PublicKey: []byte{3}, SignAlgorithms: []string{}, SCAL: 2, Multisign: 1, AuthMode: "explicit"}
			if err := s.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		after := ""
		for {
			page, err := s.Credentials(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				ids = append(ids, c.ID)
			}
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		if fmt.Sprint(ids) != "[cred-1 cred-x0 cred-x1 cred-x2 cred-x3]" {
			t.Fatalf("pages: %v", ids)
		}
		counts, err := s.CredentialCounts(ctx)
		if err != nil || counts[sg.ID] != 1 || counts[other.ID] != 4 || len(counts) != 2 {
			t.Fatalf("counts %v, %v", counts, err)
		}
	})
}

func TestCreateAuthorityRefusesOverwrite(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		a := &store.Authority{ID: "dev-ca", KeyAlgorithm: "EC-P384", KeyBlob: []byte{1}, KeyMAC: []byte{2}, PublicKey: []byte{3}, Certificate: []byte{4}}
		if err := s.CreateAuthority(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := *a
		b.KeyBlob = []byte{9}
		if err := s.CreateAuthority(ctx, &b); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second create: %v", err)
		}
		got, err := s.Authority(ctx, "dev-ca")
		if err != nil || got.KeyBlob[0] != 1 {
			t.Fatalf("authority after refused overwrite: %+v %v", got, err)
		}
	})
}
