package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when an insert clashes with an existing key.
var ErrConflict = errors.New("store: already exists")

// ErrRevoked is returned when a revoked credential would change status:
// revocation is final.
var ErrRevoked = errors.New("store: credential is revoked")

// Config selects and tunes the database.
type Config struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a PostgreSQL URL or key/value string for postgres; for sqlite it
	// is the database file path (created with its directory if missing).
	DSN string `yaml:"dsn"`
	// MaxOpenConns bounds the connection pool; 0 picks a per-driver default.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	switch c.Driver {
	case "", DriverSQLite, DriverPostgres:
	default:
		return fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", c.Driver)
	}
	if c.DSN == "" {
		return errors.New("store: dsn is required")
	}
	if c.MaxOpenConns < 0 {
		return errors.New("store: max_open_conns must not be negative")
	}
	return nil
}

// Store is the gorm-backed repository. Its methods are safe for concurrent use.
type Store struct {
	db     *gorm.DB // transactions and writes
	rdb    *gorm.DB // single-statement reads, with cached prepared statements
	sqlDB  *sql.DB  // the pool under db, for the hot reads (see hotRow)
	hot    sync.Map // query -> *sql.Stmt prepared on sqlDB
	driver string
	wmu    sync.Mutex    // serialises writers on SQLite; see lockWrites
	writer *sqliteWriter // SQLite only; used under wmu

	stopCheckpoints chan struct{} // SQLite only: stops checkpointer
	checkpointsDone chan struct{}
}

// checkpointInterval is how often the background checkpointer copies the
// SQLite write-ahead log into the database file.
const checkpointInterval = 250 * time.Millisecond

// checkpointer runs passive WAL checkpoints off the request path: the signing
// path's writer connection has automatic checkpoints off, so no request
// waits for a checkpoint's fsync while holding the write lock. A passive
// checkpoint never blocks writers or readers.
func (s *Store) checkpointer(db *sql.DB) {
	defer close(s.checkpointsDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-t.C:
			_, _ = db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// lockWrites serialises this process's writers on SQLite, which admits one
// writer at a time anyway: queueing on a mutex costs microseconds, while
// contending inside SQLite sleeps in its busy handler for milliseconds.
// Other processes on the same file still wait in the busy handler. On
// PostgreSQL writers run concurrently and it does nothing.
func (s *Store) lockWrites() func() {
	if s.driver != DriverSQLite {
		return func() {}
	}
	s.wmu.Lock()
	return s.wmu.Unlock
}

// Open connects, applies pending migrations and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	driver := cfg.Driver
	if driver == "" {
		driver = DriverSQLite
	}
	var dial gorm.Dialector
	maxConns := cfg.MaxOpenConns
	switch driver {
	case DriverSQLite:
		dsn, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		dial = sqlite.Open(dsn)
		if maxConns == 0 {
			maxConns = 8
		}
	case DriverPostgres:
		dial = postgres.Open(cfg.DSN)
		if maxConns == 0 {
			maxConns = 16
		}
	}
	db, err := gorm.Open(dial, &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: connect %s: %w", driver, err)
	}
	// Prepared statements are cached only for single-statement reads: inside a
	// transaction database/sql would prepare a cached statement again on the
	// transaction's connection, costing more than it saves.
	s := &Store{db: db, rdb: db.Session(&gorm.Session{PrepareStmt: true}), sqlDB: sqlDB, driver: driver}
	if err := s.migrate(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if driver == DriverSQLite {
		s.writer = &sqliteWriter{db: sqlDB, stmts: make(map[string]*sql.Stmt)}
		s.stopCheckpoints = make(chan struct{})
		s.checkpointsDone = make(chan struct{})
		go s.checkpointer(sqlDB)
	}
	return s, nil
}

// sqliteDSN turns a file path into a mattn/go-sqlite3 DSN with the settings a
// concurrent server needs: WAL, a busy timeout, foreign keys, and BEGIN
// IMMEDIATE so write transactions never fail on a lock upgrade.
func sqliteDSN(path string) (string, error) {
	// A plain path (not a file: URI) so that characters such as '#' stay
	// part of the name; mattn/go-sqlite3 strips its own options after '?'.
	if strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return "", errors.New("store: sqlite dsn is a file path, without URI options")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("store: create data directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode(), nil
}

// Driver names the database in use.
func (s *Store) Driver() string { return s.driver }

// Close closes the connection pool.
func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		close(s.stopCheckpoints)
		<-s.checkpointsDone
		s.stopCheckpoints = nil
	}
	if s.writer != nil {
		s.wmu.Lock()
		s.writer.reset()
		s.wmu.Unlock()
	}
	s.hot.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		s.hot.Delete(k)
		return true
	})
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// DB exposes the gorm handle to tests of other packages that must play the
// part of a hostile database administrator. Production code does not call it.
func (s *Store) DB() *gorm.DB { return s.db }

// migrate applies pending migrations in one transaction. On PostgreSQL a
// transaction-scoped advisory lock makes nodes that start together migrate one
// after the other. Unknown migration IDs (a newer schema) stop an older binary.
func (s *Store) migrate(ctx context.Context) error {
	opts := *gormigrate.DefaultOptions
	opts.ValidateUnknownMigrations = true
	opts.UseTransaction = false // we are already inside one
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.driver == DriverPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
				return err
			}
		}
		return gormigrate.New(tx, &opts, migrations()).Migrate()
	})
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// migrationLockKey is an arbitrary constant naming our advisory lock.
const migrationLockKey = 0x72737370 // "rssp"

func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{
			// The first schema. Later migrations must declare their own frozen
			// structs rather than reuse the live models.
			ID: "2026112201_signing_core",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.AutoMigrate(&Signer{}, &Credential{}, &Factor{}, &SAD{}, &Challenge{}, &AuditEntry{}, &AuditHead{}); err != nil {
					return err
				}
				return tx.Create(&AuditHead{ID: 1, Seq: 0, Chain: []byte{}}).Error
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable(&AuditHead{}, &AuditEntry{}, &Challenge{}, &SAD{}, &Factor{}, &Credential{}, &Signer{})
			},
		},
		{
			// Login names, service tokens and the development CA.
			ID: "2026112202_api",
			Migrate: func(tx *gorm.DB) error {
				type Signer struct {
					ID       string `gorm:"primaryKey;size:64"`
					Username string `gorm:"size:128;uniqueIndex"`
				}
				type Token struct {
					ID        string `gorm:"primaryKey;size:64"`
					Hash      []byte `gorm:"not null;uniqueIndex"`
					Kind      string `gorm:"size:16;not null"`
					FamilyID  string `gorm:"size:64;not null;index"`
					SignerID  string `gorm:"size:64;not null;index"`
					ClientID  string `gorm:"size:128;not null"`
					Scope     string `gorm:"size:64;not null"`
					ExpiresAt int64  `gorm:"not null"`
					UsedAt    int64  `gorm:"not null"`
					RevokedAt int64  `gorm:"not null"`
					CreatedAt time.Time
				}
				type Authority struct {
					ID           string `gorm:"primaryKey;size:64"`
					KeyAlgorithm string `gorm:"size:16;not null"`
					KeyBlob      []byte `gorm:"not null"`
					KeyMAC       []byte `gorm:"not null"`
					PublicKey    []byte `gorm:"not null"`
					Certificate  []byte `gorm:"not null"`
					CreatedAt    time.Time
				}
				if err := tx.AutoMigrate(&Signer{}); err != nil {
					return err
				}
				if err := tx.Exec("UPDATE signers SET username = id WHERE username IS NULL").Error; err != nil {
					return err
				}
				return tx.AutoMigrate(&Token{}, &Authority{})
			},
			Rollback: func(tx *gorm.DB) error {
				if err := tx.Migrator().DropTable("tokens", "authorities"); err != nil {
					return err
				}
				return tx.Migrator().DropColumn(&Signer{}, "username")
			},
		},
		{
			// OAuth 2.0 authorization server: clients, the state behind codes,
			// tokens, PKCE challenges and pushed requests, and client-assertion
			// IDs.
			ID: "2026112301_oauth",
			Migrate: func(tx *gorm.DB) error {
				type OAuthClient struct {
					ID            string `gorm:"primaryKey;size:128"`
					Name          string `gorm:"size:256;not null"`
					SecretHash    []byte
					Public        bool `gorm:"not null"`
					RedirectURIs  string
					GrantTypes    string
					ResponseTypes string
					Scopes        string
					CreatedAt     time.Time
					UpdatedAt     time.Time
				}
				type OAuthRequest struct {
					Kind              string `gorm:"primaryKey;size:16"`
					Signature         string `gorm:"primaryKey;size:128"`
					RequestID         string `gorm:"size:64;not null;index:idx_oauth_requests_request"`
					ClientID          string `gorm:"size:128;not null"`
					Subject           string `gorm:"size:256;not null"`
					RequestedAt       int64  `gorm:"not null"`
					ExpiresAt         int64  `gorm:"not null;index:idx_oauth_requests_expires"`
					Active            bool   `gorm:"not null"`
					Form              string `gorm:"not null"`
					RequestedScopes   string
					GrantedScopes     string
					RequestedAudience string
					GrantedAudience   string
					Session           []byte `gorm:"not null"`
					AccessSignature   string `gorm:"size:128;not null"`
					CreatedAt         time.Time
				}
				type OAuthJTI struct {
					JTI       string `gorm:"primaryKey;size:128"`
					ExpiresAt int64  `gorm:"not null;index:idx_oauth_jtis_expires"`
				}
				if err := tx.Table("oauth_clients").AutoMigrate(&OAuthClient{}); err != nil {
					return err
				}
				if err := tx.Table("oauth_requests").AutoMigrate(&OAuthRequest{}); err != nil {
					return err
				}
				return tx.Table("oauth_jtis").AutoMigrate(&OAuthJTI{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("oauth_jtis", "oauth_requests", "oauth_clients")
			},
		},
		{
			// Authorizations in progress on the signer's pages.
			ID: "2026112302_oauth_flows",
			Migrate: func(tx *gorm.DB) error {
				type OAuthFlow struct {
					ID          string `gorm:"primaryKey;size:64"`
					BrowserHash []byte `gorm:"not null"`
					CSRFHash    []byte `gorm:"not null"`
					ClientID    string `gorm:"size:128;not null"`
					Form        string `gorm:"not null"`
					SignerID    string `gorm:"size:64;not null"`
					Step        string `gorm:"size:16;not null"`
					ExpiresAt   int64  `gorm:"not null;index"`
					CreatedAt   time.Time
				}
				return tx.AutoMigrate(&OAuthFlow{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("oauth_flows")
			},
		},
		{
			// Credentials may carry a CSC signature qualifier.
			ID: "2026112303_signature_qualifier",
			Migrate: func(tx *gorm.DB) error {
				type Credential struct {
					SignatureQualifier string `gorm:"size:64;not null;default:''"`
				}
				if tx.Migrator().HasColumn(&Credential{}, "signature_qualifier") {
					return nil // a fresh database got it from the first migration's live model
				}
				return tx.Migrator().AddColumn(&Credential{}, "SignatureQualifier")
			},
			Rollback: func(tx *gorm.DB) error {
				type Credential struct{ SignatureQualifier string }
				return tx.Migrator().DropColumn(&Credential{}, "signature_qualifier")
			},
		},
		{
			// Out-of-band factors: challenge purposes, throttles, activation
			// codes, enrolments, phone changes and operators.
			ID: "2026112401_out_of_band",
			Migrate: func(tx *gorm.DB) error {
				type Challenge struct {
					Purpose  string `gorm:"size:16;not null;default:'approve'"`
					ClientID string `gorm:"size:128;not null;default:''"`
					Target   string `gorm:"size:32;not null;default:''"`
				}
				type OAuthFlow struct {
					ChallengeID string `gorm:"size:64;not null;default:''"`
				}
				for _, c := range []struct {
					model       any
					field, name string
				}{
					{&Challenge{}, "Purpose", "purpose"}, {&Challenge{}, "ClientID", "client_id"}, {&Challenge{}, "Target", "target"},
					{&OAuthFlow{}, "ChallengeID", "challenge_id"},
				} {
					if tx.Migrator().HasColumn(c.model, c.name) {
						continue // a fresh database got it from the first migration's live model
					}
					if err := tx.Migrator().AddColumn(c.model, c.field); err != nil {
						return err
					}
				}
				type Throttle struct {
					Name        string `gorm:"primaryKey;size:128"`
					WindowStart int64  `gorm:"not null"`
					Count       int    `gorm:"not null"`
				}
				type Activation struct {
					ID        string `gorm:"primaryKey;size:64"`
					SignerID  string `gorm:"size:64;not null;index"`
					CodeMAC   []byte `gorm:"not null;uniqueIndex"`
					Delivery  string `gorm:"size:16;not null"`
					Actor     string `gorm:"size:128;not null"`
					ExpiresAt int64  `gorm:"not null"`
					UsedAt    int64  `gorm:"not null"`
					CreatedAt time.Time
				}
				type Enrolment struct {
					ID           string `gorm:"primaryKey;size:64"`
					SignerID     string `gorm:"size:64;not null;index"`
					BrowserHash  []byte `gorm:"not null"`
					CSRFHash     []byte `gorm:"not null"`
					Step         string `gorm:"size:16;not null"`
					CredentialID string `gorm:"size:64;not null"`
					PINHash      []byte
					TOTPBlob     []byte
					ChallengeID  string `gorm:"size:64;not null"`
					ExpiresAt    int64  `gorm:"not null;index"`
					CreatedAt    time.Time
				}
				type PhoneChange struct {
					ID          string `gorm:"primaryKey;size:64"`
					SignerID    string `gorm:"size:64;not null;index"`
					NewPhone    string `gorm:"size:32;not null"`
					RequestedBy string `gorm:"size:128;not null"`
					ApprovedBy  string `gorm:"size:128;not null"`
					ChallengeID string `gorm:"size:64;not null"`
					Status      string `gorm:"size:16;not null"`
					ExpiresAt   int64  `gorm:"not null"`
					AppliedAt   int64  `gorm:"not null"`
					CreatedAt   time.Time
				}
				type Operator struct {
					ID        string `gorm:"primaryKey;size:64"`
					Name      string `gorm:"size:128;not null;uniqueIndex"`
					KeyHash   []byte `gorm:"not null;uniqueIndex"`
					Status    string `gorm:"size:16;not null"`
					CreatedAt time.Time
				}
				return tx.AutoMigrate(&Throttle{}, &Activation{}, &Enrolment{}, &PhoneChange{}, &Operator{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("operators", "phone_changes", "enrolments", "activations", "throttles")
			},
		},
		{
			// Revocation: the certificates the development CA issues, with
			// their revocation state, and each authority's current CRL.
			ID:       "2026120601_revocation",
			Migrate:  migrateRevocation,
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("revocation_lists", "issued_certificates") },
		},
	}
}

func wrapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("store: %s: %w", op, ErrConflict)
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}

// rebind turns '?' placeholders into $1, $2, ... for PostgreSQL. Our queries
// contain no '?' other than placeholders.
func rebind(tx *gorm.DB, query string) string {
	if tx.Dialector.Name() != DriverPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// hotRow runs a single-row query of the per-request path (token, credential
// and SAD lookups) on a statement prepared once for the pool, past gorm's
// statement building, which cost more than these indexed lookups.
func (s *Store) hotRow(ctx context.Context, query string, args []any, dest ...any) error {
	var st *sql.Stmt
	if v, ok := s.hot.Load(query); ok {
		st = v.(*sql.Stmt)
	} else {
		prepared, err := s.sqlDB.PrepareContext(ctx, rebind(s.db, query))
		if err != nil {
			return err
		}
		if v, loaded := s.hot.LoadOrStore(query, prepared); loaded {
			_ = prepared.Close()
			st = v.(*sql.Stmt)
		} else {
			st = prepared
		}
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}
