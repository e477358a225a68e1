package store

import (
	"context"
	"gorm.io/gorm"
)

// CreateSigner inserts a signer.
func (s *Store) CreateSigner(ctx context.Context, sg *Signer) error {
	return wrapErr("create signer", s.db.WithContext(ctx).Create(sg).Error)
}

// Signer loads a signer by ID.
func (s *Store) Signer(ctx context.Context, id string) (*Signer, error) {
	var sg Signer
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&sg).Error; err != nil {
		return nil, wrapErr("signer", err)
	}
	return &sg, nil
}

// CreateCredential inserts a credential.
func (s *Store) CreateCredential(ctx context.Context, c *Credential) error {
	return wrapErr("create credential", s.db.WithContext(ctx).Create(c).Error)
}

// Credential loads a credential by ID.
func (s *Store) Credential(ctx context.Context, id string) (*Credential, error) {
	var c Credential
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, wrapErr("credential", err)
	}
	return &c, nil
}

// CredentialsOf lists a signer's credentials, oldest first.
func (s *Store) CredentialsOf(ctx context.Context, signerID string) ([]Credential, error) {
	var cs []Credential
	err := s.db.WithContext(ctx).Where("signer_id = ?", signerID).Order("created_at, id").Find(&cs).Error
	return cs, wrapErr("credentials of signer", err)
}

// SetCredentialStatus changes a credential's status and, unless the new status
// is active, revokes every outstanding SAD of that credential in the same
// transaction. It returns ErrNotFound for an unknown credential.
func (s *Store) SetCredentialStatus(ctx context.Context, id, status string, nowMs int64) error {
	return wrapErr("set credential status", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Credential{}).Where("id = ?", id).Update("status", status)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if status == StatusActive {
			return nil
		}
		return revokeSADs(tx, id, nowMs)
	}))
}
