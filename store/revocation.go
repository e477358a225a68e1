package store

import (
	"bytes"
	"context"
	"crypto/x509"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// migrateRevocation creates issued_certificates and revocation_lists and
// records the certificates the development CA issued before this version:
// each credential leaf and the TSA certificate whose signature the dev CA
// certificate verifies. Its structs are frozen here, apart from the live
// models.
func migrateRevocation(tx *gorm.DB) error {
	type IssuedCertificate struct {
		AuthorityID  string `gorm:"primaryKey;size:64"`
		Serial       string `gorm:"primaryKey;size:64"`
		CredentialID string `gorm:"size:64;not null;index"`
		Purpose      string `gorm:"size:16;not null"`
		NotAfter     int64  `gorm:"not null"`
		RevokedAt    int64  `gorm:"not null"`
		Reason       int    `gorm:"not null"`
		CreatedAt    time.Time
	}
	type RevocationList struct {
		AuthorityID string `gorm:"primaryKey;size:64"`
		Revision    int64  `gorm:"not null"`
		Number      int64  `gorm:"not null"`
		Covers      int64  `gorm:"not null"`
		DER         []byte `gorm:"column:der"`
		ThisUpdate  int64  `gorm:"not null"`
		NextUpdate  int64  `gorm:"not null"`
	}
	if err := tx.AutoMigrate(&IssuedCertificate{}, &RevocationList{}); err != nil {
		return err
	}
	// Backfill from what the dev CA certified so far.
	const devCA, devTSA = "dev-ca", "dev-tsa"
	var auths []struct {
		ID          string
		Certificate []byte
	}
	if err := tx.Table("authorities").Select("id, certificate").Find(&auths).Error; err != nil {
		return err
	}
	var ca *x509.Certificate
	var tsaDER []byte
	for _, a := range auths {
		switch a.ID {
		case devCA:
			ca, _ = x509.ParseCertificate(a.Certificate)
		case devTSA:
			tsaDER = a.Certificate
		}
	}
	if ca == nil {
		return nil
	}
	record := func(der []byte, credentialID, purpose string) error {
		certs, err := x509.ParseCertificates(der)
		if err != nil || len(certs) == 0 {
			return nil // not ours to judge here; the start-up key check reports it
		}
		leaf := certs[0]
		if !bytes.Equal(leaf.RawIssuer, ca.RawSubject) || leaf.CheckSignatureFrom(ca) != nil {
			return nil // an external CA's
		}
		row := IssuedCertificate{AuthorityID: devCA, Serial: leaf.SerialNumber.Text(16), CredentialID: credentialID,
			Purpose: purpose, NotAfter: leaf.NotAfter.UnixMilli()}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	}
	if tsaDER != nil {
		if err := record(tsaDER, "", "tsa"); err != nil {
			return err
		}
	}
	var creds []struct {
		ID           string
		Certificates []byte
	}
	if err := tx.Table("credentials").Select("id, certificates").Where("certificates IS NOT NULL").Find(&creds).Error; err != nil {
		return err
	}
	for _, c := range creds {
		if len(c.Certificates) == 0 {
			continue
		}
		if err := record(c.Certificates, c.ID, "signer"); err != nil {
			return err
		}
	}
	return nil
}

// RecordCertificate records a certificate an authority issued, not revoked.
// A second record of the same authority and serial is ErrConflict.
func (s *Store) RecordCertificate(ctx context.Context, c *IssuedCertificate) error {
	defer s.lockWrites()()
	c.RevokedAt, c.Reason = 0, 0
	return wrapErr("record certificate", s.db.WithContext(ctx).Create(c).Error)
}

// IssuedCertificate loads the record of an authority's certificate by
// serial (lowercase hex), or ErrNotFound.
func (s *Store) IssuedCertificate(ctx context.Context, authorityID, serial string) (*IssuedCertificate, error) {
	var c IssuedCertificate
	err := s.rdb.WithContext(ctx).Where("authority_id = ? AND serial = ?", authorityID, serial).Take(&c).Error
	if err != nil {
		return nil, wrapErr("issued certificate", err)
	}
	return &c, nil
}

// RevokeCertificate marks an authority's certificate revoked at atMs for
// reason and, in the same transaction, advances the authority's revocation
// revision, so that every node sees its CRL is out of date. It reports
// false, changing nothing, when the certificate was already revoked (the
// first revocation's time and reason stay), and ErrNotFound for a serial
// the authority never issued. The check and the update are one statement.
func (s *Store) RevokeCertificate(ctx context.Context, authorityID, serial string, reason int, atMs int64) (bool, error) {
	defer s.lockWrites()()
	revoked := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&IssuedCertificate{}).Where("authority_id = ? AND serial = ? AND revoked_at = 0", authorityID, serial).
			Updates(map[string]any{"revoked_at": atMs, "reason": reason})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&IssuedCertificate{}).Where("authority_id = ? AND serial = ?", authorityID, serial).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
			return nil
		}
		revoked = true
		return tx.Exec(rebind(tx, `INSERT INTO revocation_lists (authority_id, revision, number, covers, this_update, next_update)
			VALUES (?, 1, 0, 0, 0, 0)
			ON CONFLICT (authority_id) DO UPDATE SET revision = revocation_lists.revision + 1`), authorityID).Error
	})
	return revoked, wrapErr("revoke certificate", err)
}

// RevokedCertificates lists an authority's revoked certificates by serial.
func (s *Store) RevokedCertificates(ctx context.Context, authorityID string) ([]IssuedCertificate, error) {
	var cs []IssuedCertificate
	err := s.rdb.WithContext(ctx).Where("authority_id = ? AND revoked_at > 0", authorityID).Order("serial").Find(&cs).Error
	return cs, wrapErr("revoked certificates", err)
}

// RevocationList loads an authority's revocation state. An authority that
// has neither revoked a certificate nor signed a CRL yet has none:
// ErrNotFound.
func (s *Store) RevocationList(ctx context.Context, authorityID string) (*RevocationList, error) {
	var l RevocationList
	if err := s.rdb.WithContext(ctx).Where("authority_id = ?", authorityID).Take(&l).Error; err != nil {
		return nil, wrapErr("revocation list", err)
	}
	return &l, nil
}

// PutRevocationList stores a newly signed CRL (l.Number, l.Covers, l.DER
// and its times) if the stored CRL still has number prevNumber, in one
// statement, and reports whether it did. When two nodes sign a successor
// of the same CRL, exactly one is stored; the other reads the winner.
// l.Revision is not written: only RevokeCertificate advances it.
func (s *Store) PutRevocationList(ctx context.Context, l *RevocationList, prevNumber int64) (bool, error) {
	defer s.lockWrites()()
	db := s.db.WithContext(ctx)
	res := db.Model(&RevocationList{}).Where("authority_id = ? AND number = ?", l.AuthorityID, prevNumber).
		Updates(map[string]any{"number": l.Number, "covers": l.Covers, "der": l.DER, "this_update": l.ThisUpdate, "next_update": l.NextUpdate})
	if res.Error != nil {
		return false, wrapErr("put revocation list", res.Error)
	}
	if res.RowsAffected == 1 || prevNumber != 0 {
		return res.RowsAffected == 1, nil
	}
	row := RevocationList{AuthorityID: l.AuthorityID, Number: l.Number, Covers: l.Covers, DER: l.DER, ThisUpdate: l.ThisUpdate, NextUpdate: l.NextUpdate}
	res = db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, wrapErr("put revocation list", res.Error)
	}
	return res.RowsAffected == 1, nil
}
