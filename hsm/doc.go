// Package hsm is the server's only door to the PKCS#11 token (through
// github.com/miekg/pkcs11). It holds the master keys, generates signer keys
// and hands them out only as wrapped blobs, signs through crypto.Signer,
// computes record MACs and HMACs of wrapped secrets, and parses RFC 7512
// "pkcs11:" URIs.
//
// # Keys
//
// Two long-lived token keys, named by URI (Config.WrapKey, Config.MACKey):
//
//   - the wrap key, AES-256: PRIVATE, SENSITIVE, EXTRACTABLE=false, WRAP and
//     UNWRAP only (no ENCRYPT/DECRYPT, so it cannot be used to decrypt a blob
//     into the clear);
//   - the MAC key, a 32-byte generic secret: PRIVATE, SENSITIVE,
//     EXTRACTABLE=false, SIGN and VERIFY only, for HMAC-SHA256 over records.
//
// InitMasterKeys creates them; CheckMasterKeys must succeed before a server
// serves requests. Both refuse a key that is extractable or not sensitive.
//
// Signer keys never become token objects. GenerateWrappedKey makes the pair
// as session objects, wraps the private key with CKM_AES_KEY_WRAP_PAD
// (RFC 5649) and destroys both; the caller stores the blob. Signing unwraps
// the blob into a session object with SENSITIVE=true, EXTRACTABLE=false,
// SIGN=true and DECRYPT/UNWRAP/DERIVE=false.
//
// # Security properties
//
//   - Private keys and secrets exist in clear only inside the token. Nothing
//     in this package reads a sensitive attribute, and the only exported
//     forms of a key are the public key and the wrapped blob.
//   - The token does not grow per signature or per key: the only token
//     objects this package creates are the two master keys.
//   - Unwrapping checks that a blob belongs to the public key it is presented
//     with (RSA: modulus and exponent; EC: curve plus a test signature) and
//     fails with ErrKeyMismatch otherwise, so a swapped blob cannot sign for
//     another credential. Integrity of the blob record itself is the caller's
//     job (MAC it with MAC).
//   - A generated key is EXTRACTABLE for the few milliseconds before it is
//     wrapped and destroyed. Anyone holding the user PIN and access to the
//     token can unwrap a blob with a template of their choosing (including
//     EXTRACTABLE=true) and re-wrap it under a key they know: the PIN and the
//     wrap key's token are the boundary, not PKCS#11 attributes. An unwrapped
//     key reports ALWAYS_SENSITIVE=false, NEVER_EXTRACTABLE=false, LOCAL=false,
//     so key attestation cannot be based on those attributes.
//   - CKA_TRUSTED / CKA_WRAP_WITH_TRUSTED: InitMasterKeys asks for
//     CKA_TRUSTED=true on the wrap key and falls back if the token refuses.
//     SoftHSM2 refuses (CKR_ATTRIBUTE_READ_ONLY: only the SO may set it, and
//     the SO cannot create or see the user's private objects), so on SoftHSM2
//     WrapWithTrusted is false and signer keys are generated without
//     CKA_WRAP_WITH_TRUSTED. On a token whose wrap key is trusted, signer keys
//     get WRAP_WITH_TRUSTED, so they can be wrapped only under trusted keys.
//   - The PIN is kept in memory to log in again after a session loss. It is
//     never put in an error or log; URI parse errors name attributes but
//     never echo values. URI.String does include a pin-value attribute.
//   - WrapSecret zero-pads secrets shorter than 64 bytes (HMAC is unchanged
//     by this) and refuses longer secrets that are not a multiple of 8 bytes,
//     because SoftHSM2 2.6.1 does not strip RFC 5649 padding when unwrapping,
//     which would silently change the HMAC key. Wrapped private keys are not
//     affected (the token's DER parser ignores the trailing zeros).
//   - Open does not re-verify the PIN if the process is already logged in to
//     the token through another HSM value (PKCS#11 login is per process).
//
// # Concurrency
//
// An HSM is safe for concurrent use by any number of goroutines, and so are
// the crypto.Signer values it returns.
//
// The module is initialised once per process (C_Initialize), shared by every
// HSM opened on the same module path, and finalised by the last Close. The
// user logs in once; login state belongs to the process, not the session.
//
// Each HSM has PoolSize worker sessions in a channel. An operation checks
// one out (waiting, honouring its context; crypto.Signer.Sign has none, use
// ContextSigner.SignContext for a deadline), runs, and checks it back in.
// MAC has MACSessions sessions of its own (default 1): a record MAC takes
// tens of microseconds and its caller often holds a database lock, so it must
// not queue behind signatures that take milliseconds.
//
// A session inside a C call holds a Go P (and its OS thread) for the whole
// call: an RSA signature on SoftHSM2 takes about a millisecond. A process
// that signs should therefore run with GOMAXPROCS of at least the number of
// CPUs plus PoolSize plus MACSessions; with GOMAXPROCS equal to the number
// of CPUs, goroutines with other work wait for a P while cores are idle
// (measured: the SAM's signing path went from 0.55 to 0.61 of the raw rate
// with four requests in flight on two cores).
// No PKCS#11 session is ever used by two goroutines at once, and no lock is
// held during a signature. At most PoolSize operations run in the token at a
// time; more wait.
//
// Unwrapped signer keys are session objects created in a separate owner
// session, guarded by a mutex and never used for operations, so they
// outlive any worker session; session objects are usable from every session
// of the process. The owner session serialises unwraps (about 1 ms each for
// RSA on SoftHSM2), not signatures.
//
// The key cache is an LRU of at most KeyCacheSize entries keyed by
// (Key.ID, SHA-256(Key.Blob)). Concurrent first use of one key unwraps it
// once; the other callers wait for that result. Entries are reference
// counted: an entry evicted (by LRU, Forget or FlushKeyCache) while a
// signature is using it is destroyed when that signature finishes, so a
// Sign never sees its key vanish. The number of live session objects can
// therefore exceed KeyCacheSize by the number of signatures in flight. A
// failed unwrap is not cached. With KeyCacheSize < 0 each signature unwraps
// in its worker session and destroys the object before returning the
// session.
//
// Recovery: if an operation fails with a session-level error
// (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_ERROR,
// CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_GENERAL_ERROR,
// CKR_OPERATION_ACTIVE) the session is closed and replaced (logging in
// again if needed) and the operation retried, up to PoolSize+1 attempts. If
// the owner session breaks, every cached handle is forgotten (the objects
// died with it) and keys are unwrapped again on next use. A handle error
// (CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID, the wrapping-key
// variants, CKR_USER_NOT_LOGGED_IN) makes the HSM log in again if the process
// was logged out, forget master-key handles, and retry once; Sign then
// evicts the cached key and unwraps it again once. This relies on the token
// not reusing object handles within a process, which SoftHSM2 guarantees
// (its handles only increase).
//
// Close waits for operations in flight to return their sessions, destroys
// every cached object, closes all sessions, logs out if no other HSM shares
// the module, and finalises the module with the last user. Operations
// started after Close fail with ErrClosed.
package hsm
