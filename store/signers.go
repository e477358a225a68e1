package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"gorm.io/gorm"
)

// CreateSigner inserts a signer. A signer without a username gets its ID as
// username; usernames are unique.
func (s *Store) CreateSigner(ctx context.Context, sg *Signer) error {
	if sg.Username == "" {
		sg.Username = sg.ID
	}
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
	err := s.hotRow(ctx, `SELECT id, signer_id, status, description, signature_qualifier, key_algorithm, key_blob, key_mac, public_key,
		certificates, sign_algorithms, scal, multisign, auth_mode, created_at, updated_at FROM credentials WHERE id = ?`, []any{id},
		&c.ID, &c.SignerID, &c.Status, &c.Description, &c.SignatureQualifier, &c.KeyAlgorithm, &c.KeyBlob, &c.KeyMAC, &c.PublicKey,
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
// transaction. It returns ErrNotFound for an unknown credential and
// ErrRevoked for a revoked one, unless the new status is revoked too.
func (s *Store) SetCredentialStatus(ctx context.Context, id, status string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("set credential status", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A revoked credential stays revoked: its certificate is on a CRL.
		res := tx.Model(&Credential{}).Where("id = ? AND (status <> ? OR ? = ?)", id, StatusRevoked, status, StatusRevoked).Update("status", status)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&Credential{}).Where("id = ?", id).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrRevoked
			}
			return ErrNotFound
		}
		if status == StatusActive {
			return nil
		}
		return revokeSADs(tx, id, nowMs)
	}))
}

// SignerByUsername loads a signer by login name.
func (s *Store) SignerByUsername(ctx context.Context, username string) (*Signer, error) {
	var sg Signer
	if err := s.rdb.WithContext(ctx).Where("username = ?", username).Take(&sg).Error; err != nil {
		return nil, wrapErr("signer by username", err)
	}
	return &sg, nil
}

// Signers lists every signer, by username.
func (s *Store) Signers(ctx context.Context) ([]Signer, error) {
	var sgs []Signer
	err := s.rdb.WithContext(ctx).Order("username, id").Find(&sgs).Error
	return sgs, wrapErr("signers", err)
}

// SetSignerStatus changes a signer's status. Unless the new status is active
// it also revokes, in the same transaction, the signer's service tokens and
// the outstanding SADs of all its credentials.
func (s *Store) SetSignerStatus(ctx context.Context, id, status string, nowMs int64) error {
	defer s.lockWrites()()
	return wrapErr("set signer status", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Signer{}).Where("id = ?", id).Update("status", status)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if status == StatusActive {
			return nil
		}
		if err := tx.Model(&Token{}).Where("signer_id = ? AND revoked_at = 0", id).Update("revoked_at", nowMs).Error; err != nil {
			return err
		}
		return tx.Model(&SAD{}).Where("signer_id = ? AND revoked_at = 0", id).Update("revoked_at", nowMs).Error
	}))
}

// SetCredentialCertificates stores a credential's certificate chain (DER,
// leaf first, concatenated) and its status in one statement. A revoked
// credential keeps its chain and status: ErrRevoked.
func (s *Store) SetCredentialCertificates(ctx context.Context, id string, certs []byte, status string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Model(&Credential{}).Where("id = ? AND status <> ?", id, StatusRevoked).
		Updates(map[string]any{"certificates": certs, "status": status})
	if res.Error == nil && res.RowsAffected == 0 {
		if _, err := s.Credential(ctx, id); err == nil {
			return wrapErr("set credential certificates", ErrRevoked)
		}
		return wrapErr("set credential certificates", ErrNotFound)
	}
	return wrapErr("set credential certificates", res.Error)
}

// DeleteCredential removes a credential, its PIN and its SADs in one
// transaction. Audit entries that name it stay.
func (s *Store) DeleteCredential(ctx context.Context, id string) error {
	defer s.lockWrites()()
	return wrapErr("delete credential", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("credential_id = ?", id).Delete(&SAD{}).Error; err != nil {
			return err
		}
		if err := tx.Where("credential_id = ?", id).Delete(&Factor{}).Error; err != nil {
			return err
		}
		if err := tx.Where("credential_id = ?", id).Delete(&Challenge{}).Error; err != nil {
			return err
		}
		res := tx.Where("id = ?", id).Delete(&Credential{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	}))
}
