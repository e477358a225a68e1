// Package store keeps the server's state in a relational database through gorm:
// SQLite as the embedded default (one node) and PostgreSQL in production (any
// number of nodes).
//
// The database is not trusted for integrity. Rows that carry authority (wrapped
// signer keys, SAD records, audit entries) also carry MACs or chain values made
// by the HSM; this package stores them but never computes or checks them, which
// is the SAM's job. It imports nothing of ours.
//
// # Atomicity
//
// Every check-and-update of security state is a single SQL statement (a
// conditional UPDATE whose WHERE clause carries the whole check) so that
// several server nodes sharing one PostgreSQL database behave like one node:
//
//   - [Store.ConsumeSAD] is a compare-and-swap on the SAD's version that also
//     re-checks expiry, revocation and the credential's status;
//   - [Store.ReserveAttempt] counts a factor attempt before it is verified and
//     refuses once the failure limit is reached;
//   - [Store.AcceptTOTPStep] accepts each TOTP time step at most once;
//   - [Store.ReserveChallengeAttempt] and [Store.UseChallenge] do the same for
//     one-time codes.
//
// Audit appends lock the single chain-head row (SELECT … FOR UPDATE on
// PostgreSQL; SQLite transactions are opened with BEGIN IMMEDIATE and are
// therefore already exclusive), so the chain stays linear across nodes.
//
// # Migrations
//
// The schema is versioned with gormigrate. A migration, once released, is
// never edited: later changes add a new migration with its own frozen structs.
package store
