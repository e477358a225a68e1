package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"gorm.io/gorm"
)

// CreateSigner inserts a signer.
func (s *Store) CreateSigner(ctx context.Context, sg *Signer) error {
	defer s.lockWrites()()
	return wrapErr("create signer", s.db.WithContext(ctx).Create(sg).Error)
}

// Signer loads a signer by ID.
func (s *Store) Signer(ctx context.Context, id string) (*Signer, error) {
	var sg Signer
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Take(&sg).Error; err != nil {
		return nil, wrapErr("signer", err)
	}
	return &sg, nil
}

// CreateCredential inserts a credential.
func (s *Store) CreateCredential(ctx context.Context, c *Credential) error {
	defer s.lockWrites()()
	return wrapErr("create credential", s.db.WithContext(ctx).Create(c).Error)
}

// Credential loads a credential by ID.
func (s *Store) Credential(ctx context.Context, id string) (*Credential, error) {
	// Hand-written scan: read on every signature (see SADByTokenHash).
	var c Credential
	var algs string
	err := s.rdb.WithContext(ctx).Raw(`SELECT id, signer_id, status, description, key_algorithm, key_blob, key_mac, public_key,
		certificates, sign_algorithms, scal, multisign, auth_mode, created_at, updated_at FROM credentials WHERE id = ?`, id).
		Row().Scan(&c.ID, &c.SignerID, &c.Status, &c.Description, &c.KeyAlgorithm, &c.KeyBlob, &c.KeyMAC, &c.PublicKey,
		&c.Certificates, &algs, &c.SCAL, &c.Multisign, &c.AuthMode, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, wrapErr("credential", ErrNotFound)
	}
	if err != nil {
		return nil, wrapErr("credential", err)
	}
	if err := json.Unmarshal([]byte(algs), &c.SignAlgorithms); err != nil {
		return nil, wrapErr("credential", fmt.Errorf("sign_algorithms: %w", err))
	}
	return &c, nil
}

// CredentialsOf lists a signer's credentials, oldest first.
func (s *Store) CredentialsOf(ctx context.Context, signerID string) ([]Credential, error) {
	var cs []Credential
	err := s.rdb.WithContext(ctx).Where("signer_id = ?", signerID).Order("created_at, id").Find(&cs).Error
	return cs, wrapErr("credentials of signer", err)
}

// SetCredentialStatus changes a credential's status and, unless the new status
// is active, revokes every outstanding SAD of that credential in the same
// transaction. It returns ErrNotFound for an unknown credential.
func (s *Store) SetCredentialStatus(ctx context.Context, id, status string, nowMs int64) error {
	defer s.lockWrites()()
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
