// Package storetest opens throw-away stores for tests: a fresh SQLite file
// always, and a fresh PostgreSQL schema when CSC_TEST_POSTGRES_DSN is set, so
// that repository and SAM tests are written once and run on both databases.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/openrssp/rssp/store"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// PostgresDSNEnv names the environment variable holding the PostgreSQL DSN.
const PostgresDSNEnv = "CSC_TEST_POSTGRES_DSN"

// Drivers lists the databases to test: sqlite, plus postgres when configured.
func Drivers() []string {
	if os.Getenv(PostgresDSNEnv) != "" {
		return []string{store.DriverSQLite, store.DriverPostgres}
	}
	return []string{store.DriverSQLite}
}

// ForEach runs fn as a subtest per driver with a fresh store.
func ForEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Drivers() {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a freshly migrated store on driver, removed at test cleanup.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	cfg := Config(t, driver)
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Config returns a store configuration for a fresh database: a new SQLite
// file, or a new PostgreSQL schema dropped at cleanup.
func Config(t testing.TB, driver string) store.Config {
	t.Helper()
	switch driver {
	case store.DriverSQLite:
		return store.Config{Driver: driver, DSN: filepath.Join(t.TempDir(), "test.db")}
	case store.DriverPostgres:
		base := os.Getenv(PostgresDSNEnv)
		if base == "" {
			t.Skipf("%s not set", PostgresDSNEnv)
		}
		schema := "t_" + randHex(8)
		admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatalf("connect to postgres: %v", err)
		}
		if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			if db, err := admin.DB(); err == nil {
				_ = db.Close()
			}
		})
		u, err := url.Parse(base)
		if err != nil || u.Scheme == "" {
			t.Fatalf("%s must be a postgres:// URL", PostgresDSNEnv)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return store.Config{Driver: driver, DSN: u.String()}
	default:
		t.Fatalf("unknown driver %q", driver)
		return store.Config{}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
