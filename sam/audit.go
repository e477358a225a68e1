package sam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/openrssp/rssp/store"
)

// Audit events.
const (
	EventKeyGenerated       = "key.generated"
	EventCredentialStatus   = "credential.status"
	EventFactorSet          = "factor.set"
	EventFactorSuccess      = "factor.success"
	EventFactorFailure      = "factor.failure"
	EventFactorLocked       = "factor.locked"
	EventChallengeSent      = "challenge.sent"
	EventSADIssued          = "sad.issued"
	EventSADApproved        = "sad.approved" // a signer approved on our pages; the SAD follows at the token endpoint
	EventSADRejected        = "sad.rejected"
	EventSADExtended        = "sad.extended"
	EventSADRevoked         = "sad.revoked"
	EventSignBegin          = "sign.begin" // SAD consumed; written before the key is used
	EventSignEnd            = "sign.end"   // one result per hash; written after the key was used
	EventCAKeyGenerated     = "ca.key.generated"
	EventCertIssueBegin     = "cert.issue.begin" // written before the CA key signs a certificate
	EventCertIssued         = "cert.issued"      // written after; outcome and certificate digest
	EventCSRBegin           = "csr.begin"        // written before a credential key signs a CSR
	EventCSRCreated         = "csr.created"      // written after
	EventCertificateSet     = "credential.certificate"
	EventCredentialDeleted  = "credential.deleted"
	EventSignerCreated      = "signer.created"
	EventSignerStatus       = "signer.status"
	EventActivationIssued   = "activation.issued"
	EventActivationUsed     = "activation.used"
	EventEnrolmentCompleted = "enrolment.completed"
	EventPhoneChange        = "phone.change" // requested, approved, applied
	EventFactorReset        = "factor.reset" // an operator revoked a lost factor
	EventOperator           = "operator"     // an operator was created, enabled or disabled
	OutcomeOK               = "ok"
	OutcomeFail             = "fail"
	auditVerifyPageEntries  = 500
)

// event is an audit record before it is chained. Details must never hold a
// secret: no PIN, OTP, SAD, seed or token, only identifiers, digests and
// outcomes.
type event struct {
	Event        string
	Outcome      string
	Actor        string
	CredentialID string
	ClientID     string
	Details      map[string]any
}

// chainFunc returns the store callback that turns ev into the next chained
// entry: Chain = HMAC_HSM(domain, seq, previous chain, fields). The HMAC key
// never leaves the HSM, so a database administrator can neither edit an entry
// nor recompute the chain after deleting one.
func (s *SAM) chainFunc(ctx context.Context, ev event) (store.AuditFunc, error) {
	details, err := json.Marshal(ev.Details) // map keys are sorted: canonical
	if err != nil {
		return nil, err
	}
	at := s.now().UnixMilli()
	return func(head store.AuditHead) (*store.AuditEntry, error) {
		e := &store.AuditEntry{
			Seq: head.Seq + 1, At: at, Event: ev.Event, Outcome: ev.Outcome, Actor: ev.Actor,
			CredentialID: ev.CredentialID, ClientID: ev.ClientID, Details: string(details),
		}
		mac, err := s.keys.MAC(ctx, auditMACInput(e, head.Chain))
		if err != nil {
			return nil, err
		}
		e.Chain = mac
		return e, nil
	}, nil
}

func auditMACInput(e *store.AuditEntry, prev []byte) []byte {
	fields := sha256.Sum256(macInput("fields", u64(e.At), []byte(e.Event), []byte(e.Outcome), []byte(e.Actor),
		[]byte(e.CredentialID), []byte(e.ClientID), []byte(e.Details)))
	return macInput(domainAudit, u64(e.Seq), prev, fields[:])
}

// audit appends ev as its own transaction.
func (s *SAM) audit(ctx context.Context, ev event) error {
	build, err := s.chainFunc(ctx, ev)
	if err != nil {
		return err
	}
	_, err = s.db.AppendAudit(ctx, build)
	return err
}

// AuditError names the first audit entry that does not verify.
type AuditError struct {
	Seq    int64  // the entry that was modified, reordered or deleted
	Reason string // what was found
}

func (e *AuditError) Error() string { return fmt.Sprintf("audit entry %d: %s", e.Seq, e.Reason) }

// VerifyAudit walks the whole chain and returns the number of entries that
// verified and, if the log was tampered with, an *AuditError naming the first
// entry that was modified, reordered or deleted. Other errors mean the check
// could not run.
func (s *SAM) VerifyAudit(ctx context.Context) (int64, error) {
	var prev []byte
	var seq int64
	for {
		page, err := s.db.AuditEntries(ctx, seq, auditVerifyPageEntries)
		if err != nil {
			return seq, err
		}
		for i := range page {
			e := &page[i]
			if e.Seq != seq+1 {
				return seq, &AuditError{Seq: seq + 1, Reason: "missing (deleted)"}
			}
			ok, err := s.keys.VerifyMAC(ctx, auditMACInput(e, prev), e.Chain)
			if err != nil {
				return seq, err
			}
			if !ok {
				return seq, &AuditError{Seq: e.Seq, Reason: "modified or out of order"}
			}
			prev, seq = e.Chain, e.Seq
		}
		if len(page) < auditVerifyPageEntries {
			break
		}
	}
	head, err := s.db.AuditHeadRow(ctx)
	if err != nil {
		return seq, err
	}
	if head.Seq != seq || !bytes.Equal(head.Chain, prev) {
		return seq, &AuditError{Seq: seq + 1, Reason: fmt.Sprintf("log ends at %d but the head names %d (entries deleted)", seq, head.Seq)}
	}
	return seq, nil
}
