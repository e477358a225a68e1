package store

import (
	"context"
)

// Credentials lists credentials of every signer in ID order, at most limit
// (1 to 1000) after afterID; pass the last ID of a page to get the next one.
// Used by operators and by the start-up key check, never on a request path.
func (s *Store) Credentials(ctx context.Context, afterID string, limit int) ([]Credential, error) {
	limit = min(max(limit, 1), 1000)
	var cs []Credential
	err := s.rdb.WithContext(ctx).Where("id > ?", afterID).Order("id").Limit(limit).Find(&cs).Error
	return cs, wrapErr("credentials", err)
}

// CredentialCounts returns the number of credentials of each signer that has
// at least one.
func (s *Store) CredentialCounts(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		SignerID string
		N        int
	}
	err := s.rdb.WithContext(ctx).Model(&Credential{}).Select("signer_id, count(*) AS n").Group("signer_id").Scan(&rows).Error
	if err != nil {
		return nil, wrapErr("credential counts", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.SignerID] = r.N
	}
	return out, nil
}

// CreateAuthority inserts a certificate authority; it returns ErrConflict if
// one with the same ID exists, so that two processes creating the same CA at
// once cannot overwrite each other (PutAuthority would).
func (s *Store) CreateAuthority(ctx context.Context, a *Authority) error {
	defer s.lockWrites()()
	return wrapErr("create authority", s.db.WithContext(ctx).Create(a).Error)
}
