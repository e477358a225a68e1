// Package sam is the Signature Activation Module: the only code that may
// activate a signer's key. It verifies signer factors, issues Signature
// Activation Data (SAD), consumes SAD exactly as far as it was authorised,
// drives the HSM to sign, verifies every signature and keeps the audit log.
//
// # Security properties
//
//   - A signature exists only after [SAM.SignHash] has verified and consumed a
//     SAD. Consumption yields an unexported one-shot grant; the grant is the
//     only path to a signer key in this package, and it signs once.
//   - A SAD is 256 random bits, returned once and stored only as its SHA-256.
//     Its record is bound by an HSM MAC to the credential, signer, client,
//     SCAL, hash algorithm, the exact multiset of authorised hashes (SCAL2) or
//     a count only (SCAL1), the number of signatures and its expiry; a record
//     whose binding was edited is refused, and so is one whose state
//     (remaining count, consumed hashes) lies outside its binding. Each
//     authorised hash occurrence can be consumed once.
//   - The state itself carries no MAC, on purpose: whoever can write the
//     database can always put back an earlier row with its genuine MAC, so a
//     MAC over the state would cost an HSM call per signature and stop
//     nothing. Such a rollback shows in the audit log, which records every
//     consumption in the HMAC chain.
//   - Consumption is one conditional UPDATE (compare-and-swap on the
//     record's version that also re-checks expiry, revocation and the
//     credential's status), so concurrent or replayed requests on any number of
//     nodes can never sign more than was authorised. It happens before the key
//     is used: a crash loses a signature, never duplicates one.
//   - Expired, exhausted, revoked, unknown, tampered and mismatched SADs are
//     refused with distinct errors ([ErrSADExpired], [ErrSADExhausted],
//     [ErrSADRevoked], [ErrSADInvalid], [ErrHashNotAuthorized]). An expired SAD
//     cannot be extended and extension never raises the count.
//   - Signer private keys are stored only wrapped by the HSM master key; a
//     blob is bound to its credential and signer by an HSM MAC that is checked
//     before the blob is unwrapped, so moving a blob to another credential
//     fails. Every signature is verified with the standard library before it
//     is returned.
//   - The development CA key is generated in the HSM and stored only wrapped,
//     like a signer key; an HSM MAC binds its blob, public key and
//     certificate to the CA row and is checked before every use. The CA
//     certifies, and a CSR is signed by, a credential key only after that
//     credential's blob MAC verifies; every such key use is audited before
//     and after. An imported certificate must carry the credential's key,
//     allow digitalSignature and contentCommitment, and chain leaf first.
//     [SAM.CheckCredentialKeys] finds a certificate or key blob moved by a
//     database edit, so the server can refuse to start.
//   - Revocation is final: [SAM.RevokeCredential] (and [SAM.DeleteCredential])
//     put a development CA certificate on the CRL and make OCSP answer
//     revoked, and a revoked credential can neither be enabled nor certified
//     again; disabling is a reversible suspension that revokes nothing. The
//     CA key signs CRLs ([SAM.CRL]) and OCSP responses ([SAM.OCSP]) with an
//     audit record before and after, and only when the revocation state
//     changed or half the previous one's validity passed, never per
//     request. A CRL read back from the database is verified against the CA
//     certificate and its number before it is served. The revocation rows
//     themselves carry no MAC: the chained audit log (cert.revoked) is the
//     tamper-evident record of every revocation.
//   - PINs and signers' login passwords are stored as argon2id over an HSM
//     HMAC of the secret, so a stolen database alone cannot be brute-forced.
//     A login for an unknown user costs the same argon2id work and fails
//     with the same error as a wrong password. TOTP seeds are stored wrapped and
//     the TOTP HMAC is computed inside the HSM; each time step is accepted
//     once. Out-of-band codes are stored as HSM MACs, bound to the request
//     they authorise, expire, and succeed once. Secrets are compared in
//     constant time.
//   - In the OAuth authorization-code flow the signer's login password is
//     the knowledge factor and [SAM.Approve] checks the second one (TOTP, or
//     an out-of-band code bound to the approved credential, hashes and
//     count) like [SAM.Authorize] does, counted and locked alike. An
//     [Approval] becomes a SAD at most once and only within the SAD lifetime;
//     that SAD's token, the OAuth credential token, is the HSM MAC of the
//     authorization code under its own domain, so it is never stored, only a
//     holder of the code can present it, and the token endpoint recomputes it
//     without reading the database. Only the client it was issued to can
//     revoke it; for any other client it is indistinguishable from unknown.
//   - Attempts are counted before a factor is checked and released only on
//     success; after Config.MaxFailures consecutive failures the factor is
//     locked until an operator unlocks it, and a locked credential PIN revokes
//     the credential's outstanding SADs. A failure names the wrong factor
//     ([ErrPINInvalid], [ErrOTPInvalid]; CSC v1 answers invalid_pin or
//     invalid_otp) only after every factor given was checked and counted;
//     both match [ErrAuthentication], which is what CSC v2 answers.
//   - The audit log is append-only and chained: each entry's chain value is
//     an HSM HMAC over the previous chain value and the entry, so a database
//     administrator can neither edit an entry nor recompute the chain after
//     removing one. [SAM.VerifyAudit] names the first entry that was modified,
//     reordered or deleted. A sign.begin entry is written in the same
//     transaction as the SAD consumption, before the key is used; a sign.end
//     entry with one result per hash follows. Entries never contain a PIN,
//     OTP, SAD, seed or token. Truncation of the newest entries together with
//     the head row is not detectable from the database alone; it needs the
//     head anchored outside it.
//
// # Concurrency
//
// A SAM is safe for concurrent use by any number of goroutines and any number
// of server nodes sharing one database: it keeps no security state in memory.
// The only in-process state is a bounded set of (MAC input, MAC) digests that
// this SAM computed or verified with the HSM (key-blob bindings, SAD
// bindings), so re-reading an unchanged record skips the HSM; any change to
// the record changes the digest and sends the check to the HSM.
// The development CA's revocation data is cached as described on
// [SAM.CRL] and [SAM.OCSP]: the current CRL in the database, shared by all
// nodes, and pre-produced OCSP responses per node, re-used only while the
// certificate's recorded status (read on every request) is unchanged.
// Check-and-update steps are single statements in package store; a request that loses a compare-and-swap to a concurrent
// request re-reads the SAD and re-checks everything.
package sam
