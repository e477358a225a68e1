package sam

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/store"
)

// SignRequest asks for signatures over digests (CSC signatures/signHash).
// SignerID and ClientID come from the authenticated service token.
type SignRequest struct {
	CredentialID   string
	SignerID       string
	ClientID       string
	SAD            string
	HashAlgorithm  string // dotted OID; may be empty when SignAlgorithm implies it
	SignAlgorithm  string // dotted OID, one of the credential's algorithms
	SignAlgoParams []byte // DER parameters (RSASSA-PSS-params for RSASSA-PSS)
	Hashes         [][]byte
}

// grant is the proof that a SAD was verified and consumed for exactly these
// hashes. It is unexported and produced only by redeem, and it signs at most
// once: there is no other way to get a signature from a signer key.
type grant struct {
	cred    *store.Credential
	pub     crypto.PublicKey
	scheme  signScheme
	hashes  [][]byte
	sadID   string
	party   sadParty
	spent   atomic.Bool
	hashOID string
}

// SignHash verifies the SAD, consumes it for these hashes in one atomic
// statement (audited in the same transaction, before the key is used), signs
// each digest in the HSM, verifies each signature with the credential's
// public key, audits the results and returns the signatures in request order.
// The request is all or nothing: if any hash is not authorised, nothing is
// consumed and nothing is signed.
func (s *SAM) SignHash(ctx context.Context, req SignRequest) ([][]byte, error) {
	if len(req.Hashes) == 0 {
		return nil, &Error{Code: "invalid_request", Description: "Empty hash array"}
	}
	// The SAD record is read while the credential is: two independent
	// reads, one round trip of latency.
	prefetch := make(chan fetchedSAD, 1)
	go func() { prefetch <- s.fetchSAD(ctx, req.SAD) }()
	cred, pub, err := s.activeCredential(ctx, req.CredentialID, req.SignerID)
	first := <-prefetch
	if err != nil {
		return nil, err
	}
	scheme, err := resolveScheme(pub, cred.SignAlgorithms, req.SignAlgorithm, req.HashAlgorithm, req.SignAlgoParams)
	if err != nil {
		return nil, err
	}
	hashOID := oidForHash(scheme.hash)
	if err := checkDigests(hashOID, req.Hashes); err != nil {
		return nil, err
	}
	// Check the key binding before consuming anything: a swapped blob must
	// not cost the signer their SAD.
	signer, err := s.keySigner(ctx, cred, pub)
	if err != nil {
		return nil, internal(err)
	}
	g, err := s.redeem(ctx, req, cred, pub, scheme, hashOID, first)
	if err != nil {
		return nil, err
	}
	return s.signGrant(ctx, g, signer)
}

// redeem consumes the SAD for req's hashes and returns the one-shot grant.
func (s *SAM) redeem(ctx context.Context, req SignRequest, cred *store.Credential, pub crypto.PublicKey, scheme signScheme, hashOID string, first fetchedSAD) (*grant, error) {
	p := sadParty{credentialID: req.CredentialID, signerID: req.SignerID, clientID: req.ClientID}
	for attempt := range maxCASRetries {
		f := first
		if attempt > 0 {
			f = s.fetchSAD(ctx, req.SAD)
		}
		sad, err := s.checkSAD(ctx, p, f)
		if err != nil {
			return nil, err
		}
		if len(req.Hashes) > sad.Remaining {
			return nil, s.reject(ctx, p, sad.ID, "count", ErrSADCountExceeded)
		}
		consumed := sad.Consumed
		if sad.SCAL >= 2 {
			if sad.HashAlgorithm != hashOID {
				return nil, s.reject(ctx, p, sad.ID, "hash algorithm", ErrHashNotAuthorized)
			}
			var ok bool
			if consumed, ok = claim(sad, req.Hashes); !ok {
				return nil, s.reject(ctx, p, sad.ID, "hash", ErrHashNotAuthorized)
			}
		}
		remaining := sad.Remaining - len(req.Hashes)
		build, err := s.chainFunc(ctx, event{Event: EventSignBegin, Outcome: OutcomeOK, Actor: req.SignerID, CredentialID: cred.ID, ClientID: req.ClientID,
			Details: map[string]any{"sad": sad.ID, "remaining": remaining, "signAlgorithm": req.SignAlgorithm, "hashAlgorithm": hashOID, "hashes": hexDigests(req.Hashes)}})
		if err != nil {
			return nil, internal(err)
		}
		applied, err := s.db.UpdateSAD(ctx, store.SADUpdate{ID: sad.ID, FromVersion: sad.Version, Remaining: remaining,
			Consumed: consumed, NowMs: s.now().UnixMilli()}, nil, build)
		if err != nil {
			return nil, internal(err)
		}
		if applied {
			return &grant{cred: cred, pub: pub, scheme: scheme, hashes: req.Hashes, sadID: sad.ID, party: p, hashOID: hashOID}, nil
		}
	}
	return nil, ErrSADExhausted.with(errors.New("SAD kept changing during consumption"))
}

// signGrant uses the key once per hash, verifies every signature and audits
// the outcome. A grant can be spent once.
func (s *SAM) signGrant(ctx context.Context, g *grant, signer crypto.Signer) ([][]byte, error) {
	if !g.spent.CompareAndSwap(false, true) {
		return nil, internal(errors.New("grant already spent"))
	}
	sigs := make([][]byte, len(g.hashes))
	results := make([]string, len(g.hashes))
	var failure error
	for i, digest := range g.hashes {
		var sig []byte
		var err error
		if cs, ok := signer.(hsm.ContextSigner); ok {
			sig, err = cs.SignContext(ctx, digest, g.scheme.opts) // the request's deadline bounds the wait for a session
		} else {
			sig, err = signer.Sign(nil, digest, g.scheme.opts)
		}
		if err == nil {
			err = verify(g.pub, g.scheme, digest, sig)
		}
		if err != nil {
			results[i] = "fail"
			if failure == nil {
				failure = fmt.Errorf("hash %d: %w", i, err)
			}
			continue
		}
		sigs[i], results[i] = sig, OutcomeOK
	}
	outcome := OutcomeOK
	if failure != nil {
		outcome = OutcomeFail
	}
	if err := s.audit(ctx, event{Event: EventSignEnd, Outcome: outcome, Actor: g.party.signerID, CredentialID: g.cred.ID, ClientID: g.party.clientID,
		Details: map[string]any{"sad": g.sadID, "hashAlgorithm": g.hashOID, "hashes": hexDigests(g.hashes), "results": results}}); err != nil {
		return nil, internal(err)
	}
	if failure != nil {
		return nil, internal(failure)
	}
	return sigs, nil
}

// verify checks a signature with the standard library before it leaves the SAM.
func verify(pub crypto.PublicKey, scheme signScheme, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if p, ok := scheme.opts.(*hsm.PSSOptions); ok {
			return rsa.VerifyPSS(k, p.Hash, digest, sig, &rsa.PSSOptions{SaltLength: p.SaltLength, Hash: p.Hash})
		}
		return rsa.VerifyPKCS1v15(k, scheme.hash, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unsupported public key")
}

func oidForHash(h crypto.Hash) string {
	for oid, v := range hashByOID {
		if v == h {
			return oid
		}
	}
	return ""
}
