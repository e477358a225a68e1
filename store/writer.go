package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// querier runs the statements of one write transaction. Queries use '?'
// placeholders.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// scan runs a query returning one row and scans it into dest.
	scan(ctx context.Context, query string, args []any, dest ...any) error
	// lockClause is what a SELECT appends to lock the rows it reads.
	lockClause() string
}

// writeTx runs fn in one write transaction. On SQLite it uses the dedicated
// writer connection (see sqliteWriter); on PostgreSQL a gorm transaction on
// the pool, with fn's statements sent straight to its connection.
func (s *Store) writeTx(ctx context.Context, fn func(q querier) error) error {
	defer s.lockWrites()()
	if s.writer != nil {
		return s.writer.run(ctx, fn)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(gormQuerier{tx})
	})
}

// gormQuerier sends statements straight to the connection of a gorm
// transaction, past gorm's statement processing (this is the signing path),
// with placeholders rewritten for PostgreSQL.
type gormQuerier struct{ tx *gorm.DB }

func (g gormQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := g.tx.Statement.ConnPool.ExecContext(ctx, rebind(g.tx, query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (g gormQuerier) scan(ctx context.Context, query string, args []any, dest ...any) error {
	return g.tx.Statement.ConnPool.QueryRowContext(ctx, rebind(g.tx, query), args...).Scan(dest...)
}

func (g gormQuerier) lockClause() string { return " FOR UPDATE" }

// sqliteWriter owns one connection used for the write transactions on the
// signing path. SQLite admits one writer at a time and the store already
// serialises this process's writers (lockWrites), so one connection costs no
// concurrency, and it lets each statement be prepared once: preparing them
// anew for every transaction cost more CPU than running them. The writer is
// used under the store's write lock only.
type sqliteWriter struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (w *sqliteWriter) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	if w.conn == nil {
		c, err := w.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		// Checkpoints (and their fsyncs) run in the background (see
		// checkpointer), not inside a commit on the signing path while the
		// write lock is held.
		if _, err := c.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
			_ = c.Close()
			return nil, err
		}
		w.conn = c
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *sqliteWriter) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := w.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (w *sqliteWriter) scan(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := w.stmt(ctx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

func (w *sqliteWriter) lockClause() string { return "" } // BEGIN IMMEDIATE: already exclusive

// run executes fn between BEGIN IMMEDIATE and COMMIT on the writer
// connection, rolling back on any error. If the connection is left in an
// unknown state it is dropped and a fresh one is used next time.
func (w *sqliteWriter) run(ctx context.Context, fn func(q querier) error) error {
	if _, err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		w.reset()
		return err
	}
	err := fn(w)
	if err == nil {
		if _, err = w.exec(ctx, "COMMIT"); err == nil {
			return nil
		}
	}
	// Roll back without the caller's context: a cancelled request must not
	// leave the transaction open.
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, rerr := w.exec(rctx, "ROLLBACK"); rerr != nil {
		w.reset()
	}
	return err
}

// reset drops the writer connection and its statements.
func (w *sqliteWriter) reset() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
	clear(w.stmts)
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// insertSAD inserts a SAD record within a write transaction.
func insertSAD(ctx context.Context, q querier, sad *SAD) error {
	if sad.CreatedAt.IsZero() {
		sad.CreatedAt = time.Now().UTC()
	}
	_, err := q.exec(ctx, `INSERT INTO sads (id, token_hash, credential_id, signer_id, client_id, scal, hash_algorithm, hashes,
		consumed, num_signatures, remaining, version, origin_at, expires_at, revoked_at, mac, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sad.ID, sad.TokenHash, sad.CredentialID, sad.SignerID, sad.ClientID, sad.SCAL, sad.HashAlgorithm, sad.Hashes,
		sad.Consumed, sad.NumSignatures, sad.Remaining, sad.Version, sad.OriginAt, sad.ExpiresAt, sad.RevokedAt, sad.MAC, sad.CreatedAt)
	return err
}

// appendAudit reads the chain head (locking it), lets build make the next
// entry, inserts it and moves the head, all inside the caller's transaction.
func appendAudit(ctx context.Context, q querier, build AuditFunc) (*AuditEntry, error) {
	var head AuditHead
	if err := q.scan(ctx, "SELECT id, seq, chain FROM audit_heads WHERE id = 1"+q.lockClause(), nil, &head.ID, &head.Seq, &head.Chain); err != nil {
		return nil, err
	}
	e, err := build(head)
	if err != nil {
		return nil, err
	}
	if e.Seq != head.Seq+1 {
		return nil, fmt.Errorf("audit entry seq %d does not follow head %d", e.Seq, head.Seq)
	}
	if _, err := q.exec(ctx, `INSERT INTO audit_entries (seq, at, event, outcome, actor, credential_id, client_id, details, chain)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At, e.Event, e.Outcome, e.Actor, e.CredentialID, e.ClientID, e.Details, e.Chain); err != nil {
		return nil, err
	}
	n, err := q.exec(ctx, "UPDATE audit_heads SET seq = ?, chain = ? WHERE id = 1 AND seq = ?", e.Seq, e.Chain, head.Seq)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, errors.New("audit head moved during append")
	}
	return e, nil
}
