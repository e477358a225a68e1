package sam

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/digitorus/timestamp"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam/pades"
	"github.com/openrssp/rssp/store"
)

// SignatureFormat is the kind of signature signDoc produces (CSC
// signature_format).
type SignatureFormat string

// Signature formats offered by SignDoc.
const (
	// FormatCAdES is a detached CAdES signature (CSC "C"), returned as a
	// DER CMS ContentInfo.
	FormatCAdES SignatureFormat = "C"
	// FormatPAdES is a PDF signed in an incremental update (CSC "P").
	FormatPAdES SignatureFormat = "P"
)

// Level is an AdES baseline level (ETSI EN 319 142-1 / 319 122-1).
type Level string

// Levels, from the least to the most that a signature carries.
const (
	LevelB   Level = "B-B"   // the signature and the signer's certificate
	LevelT   Level = "B-T"   // plus a signature timestamp
	LevelLT  Level = "B-LT"  // plus the validation data (PAdES: the DSS)
	LevelLTA Level = "B-LTA" // plus a document timestamp over all of it (PAdES)
)

// ErrDocumentNotAuthorized is a document, or a digest, the SAD does not
// cover (CSC signatures/signDoc, 403).
var ErrDocumentNotAuthorized = &Error{Code: "invalid_hash", Description: "Document or documentDigest does not match authorized hash"}

// ErrMalformedDocument is a document that cannot be signed in the format
// asked for: for PAdES, not a well-formed, unencrypted PDF with a page.
var ErrMalformedDocument = &Error{Code: "invalid_request", Description: "Invalid parameter documents: not a well-formed, unencrypted PDF"}

// MaxDocuments bounds the documents and digests of one SignDoc request.
const MaxDocuments = 64

// DocumentToSign is one entry of a signDoc request: a whole document, or
// (format C only) a digest computed by the client.
type DocumentToSign struct {
	// Content is the document: a PDF for FormatPAdES, any content for a
	// detached FormatCAdES signature.
	Content []byte
	// Digest, instead of Content, is the client's digest of the content
	// (CSC documentDigests), with DigestAlgorithm its dotted OID.
	Digest          []byte
	DigestAlgorithm string

	Format         SignatureFormat
	Level          Level
	SignAlgorithm  string // dotted OID, one of the credential's algorithms
	SignAlgoParams []byte // DER RSASSA-PSS-params for RSASSA-PSS
	// Info fills the PDF signature dictionary (CSC signed_props).
	Info pades.SignatureInfo
	// Envelope is the CSC signed_envelope_property: for PAdES
	// EnvelopeCertification (a certification signature, DocMDP) or
	// EnvelopeRevision (an approval signature), for CAdES only
	// EnvelopeDetached. Empty takes the default: Detached for CAdES; for
	// PAdES Certification, the specification's default, unless the
	// document is already signed, where only Revision is possible.
	Envelope string
}

// Envelope properties (CSC signed_envelope_property).
const (
	EnvelopeCertification = "Certification"
	EnvelopeRevision      = "Revision"
	EnvelopeDetached      = "Detached"
)

// SignDocRequest asks for signatures over whole documents or digests (CSC
// signatures/signDoc). SignerID and ClientID come from the authenticated
// token.
type SignDocRequest struct {
	CredentialID string
	SignerID     string
	ClientID     string
	SAD          string
	Documents    []DocumentToSign
}

// SignedDocument is the result for one DocumentToSign, in request order: a
// signed PDF (FormatPAdES) or a detached CMS (FormatCAdES).
type SignedDocument struct {
	Format SignatureFormat
	Data   []byte
}

// Timestamper issues RFC 3161 TimeStampTokens (DER ContentInfo) over a
// digest, for signature timestamps (B-T) and document timestamps (B-LTA).
// The default is the built-in timestamp authority; WithTimestamper sets
// another, such as an external TSA.
type Timestamper interface {
	Stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error)
	// MaxTokenSize bounds the size of the tokens Stamp returns, so the
	// space reserved for them can be computed.
	MaxTokenSize() int
}

// WithTimestamper sets the timestamp source of signDoc.
func WithTimestamper(t Timestamper) Option { return func(s *SAM) { s.stamper = t } }

// ownTSA is the built-in timestamp authority as a Timestamper.
type ownTSA struct{ s *SAM }

func (o ownTSA) Stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	token, _, err := o.s.Timestamp(ctx, TimestampRequest{Hash: h, Digest: digest, Requester: actorSignDoc})
	return token, err
}

// MaxTokenSize: a token of the built-in TSA holds one certificate of the
// development CA and one signature; 8 KiB leaves room for RSA-4096 keys
// with long names.
func (ownTSA) MaxTokenSize() int { return 8 << 10 }

// actorSignDoc requests timestamps for signDoc in the audit log.
const actorSignDoc = "signDoc"

func (s *SAM) timestamper() Timestamper {
	if s.stamper != nil {
		return s.stamper
	}
	return ownTSA{s}
}

// docPlan is a DocumentToSign checked and resolved before the SAD is
// touched.
type docPlan struct {
	doc     DocumentToSign
	scheme  signScheme
	pscheme pades.Scheme
	digest  []byte // FormatCAdES: the content digest the CMS signs
	certify bool   // FormatPAdES: a certification signature
}

// SignDoc verifies the SAD and consumes it, in one atomic statement, for
// the digest of every document (computed here, with the SAD's hash
// algorithm) or every client digest, then builds each signature itself:
// the key signs only signed attributes that the SAM derived from the
// approved documents, once per document, and every signature is verified
// before it is used. All checks that can fail on the request (formats,
// algorithms, malformed PDFs, a missing timestamp authority) run before
// the SAD is consumed. Results are in request order.
//
// A document whose digest the SAD does not cover gives
// ErrDocumentNotAuthorized and consumes nothing.
func (s *SAM) SignDoc(ctx context.Context, req SignDocRequest) ([]SignedDocument, error) {
	if len(req.Documents) == 0 {
		return nil, &Error{Code: "invalid_request", Description: "Empty documentDigests and documents objects"}
	}
	if len(req.Documents) > MaxDocuments {
		return nil, ErrTooManySignatures
	}
	prefetch := make(chan fetchedSAD, 1)
	go func() { prefetch <- s.fetchSAD(ctx, req.SAD) }()
	cred, pub, err := s.activeCredential(ctx, req.CredentialID, req.SignerID)
	first := <-prefetch
	if err != nil {
		return nil, err
	}
	chain, err := Certificates(cred)
	if err != nil || len(chain) == 0 || !samePublicKey(chain[0].PublicKey, pub) {
		// Without a certificate carrying the key there is no AdES signature.
		return nil, internal(fmt.Errorf("credential %s has no certificate for its key", cred.ID))
	}
	plans := make([]docPlan, len(req.Documents))
	needStamp, needLT := false, false
	for i, d := range req.Documents {
		if plans[i], err = planDocument(pub, cred.SignAlgorithms, d); err != nil {
			return nil, err
		}
		needStamp = needStamp || d.Level != LevelB
		needLT = needLT || (d.Level == LevelLT || d.Level == LevelLTA) && d.Format == FormatPAdES
	}
	if needLT {
		ca, err := s.devCA(ctx)
		if err != nil && !errors.Is(err, ErrNoDevCA) {
			return nil, internal(err)
		}
		if err != nil || !issuedByDevCA(chain[0], ca) {
			// The revocation data of another CA's certificate is not ours
			// to produce, and a B-LT signature without it is none.
			return nil, &Error{Code: "invalid_request", Description: "Invalid parameter conformance_level: no validation data for this credential's certificate"}
		}
	}
	if needStamp {
		if _, ok := s.timestamper().(ownTSA); ok {
			if _, err := s.loadTSA(ctx); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil, &Error{Code: "invalid_request", Description: "Invalid parameter conformance_level: this service has no timestamp authority"}
				}
				return nil, internal(err)
			}
		}
	}

	// The digests the SAD must cover: the client's, or the documents'
	// under the algorithm the signer approved (SHA-256 when the SAD binds
	// no hashes).
	bindOID, bound := OIDSHA256, first.err == nil && first.sad != nil && first.sad.HashAlgorithm != ""
	if bound {
		bindOID = first.sad.HashAlgorithm
	}
	bindHash, ok := hashByOID[bindOID]
	if !ok {
		return nil, ErrDocumentNotAuthorized.with(fmt.Errorf("SAD hash algorithm %s", bindOID))
	}
	binding := make([][]byte, len(plans))
	for i, p := range plans {
		if p.doc.Content == nil {
			if bound && p.doc.DigestAlgorithm != bindOID {
				return nil, ErrDocumentNotAuthorized.with(errors.New("digest algorithm differs from the approved one"))
			}
			binding[i] = p.doc.Digest
			continue
		}
		h := bindHash.New()
		h.Write(p.doc.Content)
		binding[i] = h.Sum(nil)
	}

	signer, err := s.keySigner(ctx, cred, pub)
	if err != nil {
		return nil, internal(err)
	}
	g, err := s.redeem(ctx, SignRequest{CredentialID: req.CredentialID, SignerID: req.SignerID, ClientID: req.ClientID, SAD: req.SAD,
		SignAlgorithm: plans[0].doc.SignAlgorithm, Hashes: binding}, cred, pub, plans[0].scheme, bindOID, first)
	if errors.Is(err, ErrHashNotAuthorized) {
		return nil, ErrDocumentNotAuthorized
	}
	if err != nil {
		return nil, err
	}
	return s.signDocuments(ctx, g, signer, chain, plans)
}

// planDocument checks one entry against the credential: format, level,
// algorithms, digest and, for a PDF, that it can be signed.
func planDocument(pub crypto.PublicKey, allowed []string, d DocumentToSign) (docPlan, error) {
	switch d.Level {
	case LevelB, LevelT, LevelLT, LevelLTA:
	default:
		return docPlan{}, invalidParameter("conformance_level")
	}
	hashOID := d.DigestAlgorithm
	switch d.Format {
	case FormatPAdES:
		if d.Content == nil {
			// A PDF signature needs the PDF, not its digest.
			return docPlan{}, invalidParameter("signature_format")
		}
	case FormatCAdES:
		if d.Level == LevelLT || d.Level == LevelLTA {
			return docPlan{}, invalidParameter("conformance_level")
		}
	default:
		return docPlan{}, invalidParameter("signature_format")
	}
	if d.Content != nil {
		hashOID = ""
	}
	scheme, err := resolveScheme(pub, allowed, d.SignAlgorithm, hashOID, d.SignAlgoParams)
	if err != nil && d.Content != nil && errors.Is(err, ErrHashOIDMissing) {
		// A bare rsaEncryption or ecPublicKey with a whole document: the
		// digest is ours to choose.
		scheme, err = resolveScheme(pub, allowed, d.SignAlgorithm, OIDSHA256, d.SignAlgoParams)
	}
	if err != nil {
		return docPlan{}, err
	}
	if p, ok := scheme.opts.(*hsm.PSSOptions); ok && p.SaltLength != p.Hash.Size() {
		// The CMS names RSASSA-PSS with the salt as long as the hash.
		return docPlan{}, ErrSignAlgoParams.with(errors.New("AdES signatures use a salt as long as the digest"))
	}
	ps, err := pades.SchemeFor(pub, isPSS(scheme))
	if err != nil {
		return docPlan{}, ErrSignAlgorithm.with(err)
	}
	p := docPlan{doc: d, scheme: scheme, pscheme: ps}
	switch {
	case d.Format == FormatCAdES && (d.Envelope == "" || d.Envelope == EnvelopeDetached):
	case d.Format == FormatPAdES && d.Envelope == EnvelopeCertification:
		p.certify = true
	case d.Format == FormatPAdES && d.Envelope == "":
		p.certify = true // unless the document is already signed: see below
	case d.Format == FormatPAdES && d.Envelope == EnvelopeRevision:
	default:
		return docPlan{}, invalidParameter("signed_envelope_property")
	}
	switch {
	case d.Content == nil:
		if len(d.Digest) != scheme.hash.Size() {
			return docPlan{}, ErrDigestLength
		}
		p.digest = d.Digest
	case d.Format == FormatCAdES:
		h := scheme.hash.New()
		h.Write(d.Content)
		p.digest = h.Sum(nil)
	default:
		if err := pades.Check(d.Content); err != nil {
			return docPlan{}, ErrMalformedDocument.with(err)
		}
		sigs, err := pades.Signatures(d.Content)
		if err != nil {
			return docPlan{}, ErrMalformedDocument.with(err)
		}
		if len(sigs) > 0 && p.certify {
			if d.Envelope == EnvelopeCertification {
				// A certification signature must be the document's first.
				return docPlan{}, invalidParameter("signed_envelope_property").with(errors.New("the document is already signed"))
			}
			p.certify = false
		}
	}
	return p, nil
}

func isPSS(sc signScheme) bool {
	_, ok := sc.opts.(*hsm.PSSOptions)
	return ok
}

// signDocuments spends the grant: one key use per document, each over
// signed attributes built here, then the audit record of the outcome.
func (s *SAM) signDocuments(ctx context.Context, g *grant, signer crypto.Signer, chain []*x509.Certificate, plans []docPlan) ([]SignedDocument, error) {
	ds, err := g.derived(signer)
	if err != nil {
		return nil, internal(err)
	}
	out := make([]SignedDocument, len(plans))
	results := make([]string, len(plans))
	var failure error
	for i, p := range plans {
		data, err := s.signDocument(ctx, ds, chain, p)
		if err != nil {
			results[i] = OutcomeFail
			if failure == nil {
				failure = fmt.Errorf("document %d: %w", i, err)
			}
			continue
		}
		out[i], results[i] = SignedDocument{Format: p.doc.Format, Data: data}, OutcomeOK
	}
	outcome := OutcomeOK
	if failure != nil {
		outcome = OutcomeFail
	}
	if err := s.audit(ctx, event{Event: EventSignEnd, Outcome: outcome, Actor: g.party.signerID, CredentialID: g.cred.ID, ClientID: g.party.clientID,
		Details: map[string]any{"sad": g.sadID, "hashAlgorithm": g.hashOID, "hashes": hexDigests(g.hashes),
			"signedAttributes": hexDigests(ds.signed()), "results": results}}); err != nil {
		return nil, internal(err)
	}
	if failure != nil {
		return nil, internal(failure)
	}
	return out, nil
}

// signDocument builds one signature with the derived signer and, for a
// PDF at B-LT or B-LTA, adds the validation data and the document
// timestamp in further incremental updates.
func (s *SAM) signDocument(ctx context.Context, ds *derivedSigner, chain []*x509.Certificate, p docPlan) ([]byte, error) {
	co := pades.CMSOptions{Chain: chain, Hash: p.scheme.hash, Scheme: p.pscheme,
		Sign: func(digest []byte) ([]byte, error) { return ds.sign(ctx, p.scheme, digest) }}
	tsa := s.timestamper()
	var tokens [][]byte // the timestamps, for the validation data of their TSA
	stamp := func(h crypto.Hash, digest []byte) ([]byte, error) {
		token, err := tsa.Stamp(ctx, h, digest)
		tokens = append(tokens, token)
		return token, err
	}
	bound := 0
	if p.doc.Level != LevelB {
		co.Timestamp = pades.SignatureTimestamp(p.scheme.hash, stamp)
		bound = tsa.MaxTokenSize()
	}
	if p.doc.Format == FormatCAdES {
		return pades.BuildCMS(p.digest, co)
	}
	reserve, err := pades.MaxCMSSize(co, bound)
	if err != nil {
		return nil, err
	}
	out, err := pades.Sign(p.doc.Content, pades.Options{Time: s.now(), Info: p.doc.Info, Certification: p.certify,
		Hash: p.scheme.hash, Reserve: reserve, CMS: func(digest []byte) ([]byte, error) { return pades.BuildCMS(digest, co) }})
	if err != nil || (p.doc.Level != LevelLT && p.doc.Level != LevelLTA) {
		return out, err
	}
	vd, err := s.longTermData(ctx, chain, tokens)
	if err != nil {
		return nil, err
	}
	if out, err = pades.AddDSS(out, vd); err != nil || p.doc.Level != LevelLTA {
		return out, err
	}
	return pades.AddDocumentTimestamp(out, pades.DocTimestampOptions{Hash: p.scheme.hash, Reserve: tsa.MaxTokenSize(), Stamp: stamp})
}

// longTermData is what a B-LT signature embeds: the signer's chain, the
// certificates of the timestamp tokens, and the development CA's CRL and
// OCSP responses for those of them it issued (for the signer, always:
// planDocument refuses B-LT for other issuers).
func (s *SAM) longTermData(ctx context.Context, chain []*x509.Certificate, tokens [][]byte) (pades.ValidationData, error) {
	certs := slices.Clone(chain)
	for _, t := range tokens {
		ts, err := timestamp.Parse(t)
		if err != nil {
			return pades.ValidationData{}, fmt.Errorf("signature timestamp: %w", err)
		}
		certs = append(certs, ts.Certificates...)
	}
	var vd pades.ValidationData
	seen := map[string]bool{}
	var unique []*x509.Certificate
	for _, c := range certs {
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			unique = append(unique, c)
			vd.Certs = append(vd.Certs, c.Raw)
		}
	}
	crls, ocsps, err := s.ValidationData(ctx, unique)
	if err != nil {
		return pades.ValidationData{}, err
	}
	vd.CRLs, vd.OCSPs = crls, ocsps
	return vd, nil
}

// derivedSigner signs digests the SAM derived from the content a grant
// authorised (the signed attributes of an AdES signature): at most one
// signature per authorised hash, each verified before it is returned.
type derivedSigner struct {
	g      *grant
	signer crypto.Signer
	used   atomic.Int64
	done   [][]byte // signed so far; documents are signed one after another
}

// derived turns the grant into a derivedSigner; like signGrant it can
// happen once per grant.
func (g *grant) derived(signer crypto.Signer) (*derivedSigner, error) {
	if !g.spent.CompareAndSwap(false, true) {
		return nil, errors.New("grant already spent")
	}
	return &derivedSigner{g: g, signer: signer}, nil
}

func (d *derivedSigner) sign(ctx context.Context, scheme signScheme, digest []byte) ([]byte, error) {
	if d.used.Add(1) > int64(len(d.g.hashes)) {
		return nil, errors.New("more signatures than the SAD authorised")
	}
	if len(digest) != scheme.hash.Size() {
		return nil, errors.New("digest length does not fit the scheme")
	}
	var sig []byte
	var err error
	if cs, ok := d.signer.(hsm.ContextSigner); ok {
		sig, err = cs.SignContext(ctx, digest, scheme.opts)
	} else {
		sig, err = d.signer.Sign(nil, digest, scheme.opts)
	}
	if err == nil {
		err = verify(d.g.pub, scheme, digest, sig)
	}
	if err != nil {
		return nil, err
	}
	d.done = append(d.done, digest)
	return sig, nil
}

// signed lists the digests signed so far.
func (d *derivedSigner) signed() [][]byte { return d.done }
