// Package pades builds PAdES baseline signatures (ETSI EN 319 142-1): the
// CAdES detached CMS (this file) and, around it, the PDF incremental update
// that carries it. It is a library of its own, without the SAM or the
// server, so that signatures/signDoc and the cscsign client share it: the
// signature value comes from a callback, which is called exactly once per
// signature (a SAD may allow only one).
//
// The levels, in the order a caller builds them:
//   - B-B: Sign with a CMS from BuildCMS (Options.Appearance for a visible
//     signature);
//   - B-T: the same with CMSOptions.Timestamp (SignatureTimestamp);
//   - B-LT: AddDSS with the certificates, CRLs and OCSP responses that
//     validate the signatures and their timestamps;
//   - B-LTA: AddDocumentTimestamp after the DSS.
//
// Every step is an incremental update that leaves earlier bytes as they
// were. Signatures and DSS read a document back.
package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers used in the CMS.
var (
	oidData               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertV2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSignatureTimestamp = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidSHA256             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSAEncryption      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// digestOIDs are the digest algorithms a signature may use.
var digestOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512,
}

// Scheme is how the signer's key signs: RSA PKCS#1 v1.5, RSASSA-PSS (with
// the salt length as long as the digest, the usual profile), or ECDSA.
type Scheme int

// Signature schemes.
const (
	PKCS1v15 Scheme = iota
	PSS
	ECDSA
)

// SignFunc returns the signature over digest, the hash (with the options'
// Hash) of the DER signed attributes: PKCS#1 v1.5 or PSS for RSA, ASN.1 DER
// for ECDSA. A CMS is built with exactly one call.
type SignFunc func(digest []byte) ([]byte, error)

// CMSOptions describe a CAdES detached signature.
type CMSOptions struct {
	// Chain is the signer's certificate first, then the CA certificates to
	// embed.
	Chain []*x509.Certificate
	// Hash is the digest algorithm of the document and the signed
	// attributes (SHA-256, SHA-384 or SHA-512).
	Hash   crypto.Hash
	Scheme Scheme
	Sign   SignFunc
	// Timestamp, when set, returns the RFC 3161 TimeStampToken (a DER
	// ContentInfo) over the signature value, added as the unsigned
	// attribute signature-time-stamp (PAdES B-T).
	Timestamp func(signature []byte) ([]byte, error)
}

// SchemeFor is the scheme that fits a key: ECDSA for EC keys, PKCS#1 v1.5
// for RSA keys unless pss.
func SchemeFor(pub crypto.PublicKey, pss bool) (Scheme, error) {
	switch pub.(type) {
	case *rsa.PublicKey:
		if pss {
			return PSS, nil
		}
		return PKCS1v15, nil
	case *ecdsa.PublicKey:
		if pss {
			return 0, errors.New("pades: PSS needs an RSA key")
		}
		return ECDSA, nil
	}
	return 0, fmt.Errorf("pades: unsupported key type %T", pub)
}

// BuildCMS returns a DER CMS ContentInfo of SignedData, detached, over a
// document whose digest (with o.Hash) is contentDigest, as PAdES baseline
// wants it (ETSI EN 319 142-1 §6.3): signed attributes content-type,
// message-digest and ESS signing-certificate-v2, and no signing-time (the
// claimed time goes in the signature dictionary's /M). o.Sign is called
// once.
func BuildCMS(contentDigest []byte, o CMSOptions) ([]byte, error) {
	if len(o.Chain) == 0 {
		return nil, errors.New("pades: no signer certificate")
	}
	digestOID, ok := digestOIDs[o.Hash]
	if !ok {
		return nil, fmt.Errorf("pades: unsupported digest %v", o.Hash)
	}
	if len(contentDigest) != o.Hash.Size() {
		return nil, fmt.Errorf("pades: content digest of %d bytes for %v", len(contentDigest), o.Hash)
	}
	if o.Sign == nil {
		return nil, errors.New("pades: no signer")
	}
	leaf := o.Chain[0]
	scheme, err := SchemeFor(leaf.PublicKey, o.Scheme == PSS)
	if err != nil {
		return nil, err
	}
	if o.Scheme == ECDSA && scheme != ECDSA || o.Scheme != ECDSA && scheme == ECDSA {
		return nil, errors.New("pades: the scheme does not fit the certificate's key")
	}
	sigAlg, err := signatureAlgorithm(scheme, o.Hash)
	if err != nil {
		return nil, err
	}
	attrs, err := signedAttributes(contentDigest, leaf, o.Hash)
	if err != nil {
		return nil, err
	}
	h := o.Hash.New()
	h.Write(attrs) // the SET OF form (tag 0x31) is what is signed (RFC 5652 §5.4)
	signature, err := o.Sign(h.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	if err := checkSignature(leaf.PublicKey, scheme, o.Hash, h.Sum(nil), signature); err != nil {
		return nil, err
	}
	var tst []byte
	if o.Timestamp != nil {
		if tst, err = o.Timestamp(signature); err != nil {
			return nil, fmt.Errorf("pades: signature timestamp: %w", err)
		}
	}
	return assemble(o.Chain, digestOID, attrs, sigAlg, signature, tst)
}

// MaxCMSSize is the most bytes BuildCMS can return for o (o.Sign and
// o.Timestamp are not called) when the timestamp token, if o.Timestamp is
// set, is at most timestampBound bytes: the space a PDF must reserve for
// the signature, computed rather than guessed.
func MaxCMSSize(o CMSOptions, timestampBound int) (int, error) {
	if len(o.Chain) == 0 {
		return 0, errors.New("pades: no signer certificate")
	}
	digestOID, ok := digestOIDs[o.Hash]
	if !ok {
		return 0, fmt.Errorf("pades: unsupported digest %v", o.Hash)
	}
	leaf := o.Chain[0]
	scheme, err := SchemeFor(leaf.PublicKey, o.Scheme == PSS)
	if err != nil {
		return 0, err
	}
	sigAlg, err := signatureAlgorithm(scheme, o.Hash)
	if err != nil {
		return 0, err
	}
	attrs, err := signedAttributes(make([]byte, o.Hash.Size()), leaf, o.Hash)
	if err != nil {
		return 0, err
	}
	var sigLen int
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		sigLen = pub.Size()
	case *ecdsa.PublicKey:
		n := (pub.Curve.Params().BitSize + 7) / 8
		sigLen = 2 + 2*(3+n+1) // SEQUENCE of two INTEGERs, each with a possible leading zero and long-form room
	}
	var tst []byte
	if o.Timestamp != nil {
		if timestampBound < 8 {
			return 0, errors.New("pades: a timestamp needs a bound on its size")
		}
		tst = dummyElement(timestampBound)
	}
	der, err := assemble(o.Chain, digestOID, attrs, sigAlg, make([]byte, sigLen), tst)
	if err != nil {
		return 0, err
	}
	return len(der), nil
}

// dummyElement is a DER element of at least n bytes (n or a byte more, where
// the length field grows), standing in for a token of at most n bytes.
func dummyElement(n int) []byte {
	for body := max(n-6, 0); ; body++ {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, body)) })
		if der := b.BytesOrPanic(); len(der) >= n {
			return der
		}
	}
}

// assemble encodes the ContentInfo of SignedData; tst, when not nil, is
// the signature timestamp token.
func assemble(chain []*x509.Certificate, digestOID asn1.ObjectIdentifier, attrs, sigAlg, signature, tst []byte) ([]byte, error) {
	leaf := chain[0]
	var unsigned []byte
	if tst != nil {
		var err error
		if unsigned, err = attributeSet(attribute{oidSignatureTimestamp, tst}); err != nil {
			return nil, err
		}
	}

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { addAlgorithm(b, digestOID, nil) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range sortedDER(rawCerts(chain)) {
						b.AddBytes(c)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(leaf.RawIssuer)
							b.AddASN1BigInt(leaf.SerialNumber)
						})
						addAlgorithm(b, digestOID, nil)
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddBytes(setContents(attrs))
						})
						b.AddBytes(sigAlg)
						b.AddASN1OctetString(signature)
						if unsigned != nil {
							b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddBytes(setContents(unsigned))
							})
						}
					})
				})
			})
		})
	})
	return b.Bytes()
}

// attribute is one CMS Attribute with a single value (DER).
type attribute struct {
	oid   asn1.ObjectIdentifier
	value []byte
}

// signedAttributes is the DER SET OF the signed attributes.
func signedAttributes(contentDigest []byte, leaf *x509.Certificate, h crypto.Hash) ([]byte, error) {
	ct, err := asn1.Marshal(oidData)
	if err != nil {
		return nil, err
	}
	md, err := asn1.Marshal(contentDigest)
	if err != nil {
		return nil, err
	}
	scv2, err := signingCertificateV2(leaf)
	if err != nil {
		return nil, err
	}
	return attributeSet(attribute{oidContentType, ct}, attribute{oidMessageDigest, md}, attribute{oidSigningCertV2, scv2})
}

// attributeSet encodes attributes as a DER SET OF Attribute, sorted as DER
// requires.
func attributeSet(attrs ...attribute) ([]byte, error) {
	var enc [][]byte
	for _, a := range attrs {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(a.oid)
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(a.value) })
		})
		der, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		enc = append(enc, der)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range sortedDER(enc) {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

// signingCertificateV2 is the ESS SigningCertificateV2 (RFC 5035) naming the
// signer's certificate by its SHA-256 hash (the default algorithm, so left
// out) and issuer and serial number.
func signingCertificateV2(leaf *x509.Certificate) ([]byte, error) {
	sum := sha256.Sum256(leaf.Raw)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
				b.AddASN1OctetString(sum[:])
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerSerial
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
						b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddBytes(leaf.RawIssuer) // directoryName
						})
					})
					b.AddASN1BigInt(leaf.SerialNumber)
				})
			})
		})
	})
	return b.Bytes()
}

// signatureAlgorithm is the DER AlgorithmIdentifier of the signature.
func signatureAlgorithm(s Scheme, h crypto.Hash) ([]byte, error) {
	var b cryptobyte.Builder
	switch s {
	case PKCS1v15:
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256WithRSA, crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}[h]
		addAlgorithm(&b, oid, []byte{0x05, 0x00})
	case ECDSA:
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[h]
		addAlgorithm(&b, oid, nil)
	case PSS:
		params, err := PSSParams(h)
		if err != nil {
			return nil, err
		}
		addAlgorithm(&b, oidRSAPSS, params)
	default:
		return nil, fmt.Errorf("pades: unknown scheme %d", s)
	}
	return b.Bytes()
}

// PSSParams is the DER RSASSA-PSS-params (RFC 4055) for hash h, MGF1 with h
// and a salt as long as the digest: what the signature carries, and what a
// CSC signHash request sends as signAlgoParams.
func PSSParams(h crypto.Hash) ([]byte, error) {
	oid, ok := digestOIDs[h]
	if !ok {
		return nil, fmt.Errorf("pades: unsupported digest %v", h)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { addAlgorithm(b, oid, nil) })
		b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidMGF1)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
			})
		})
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(h.Size())) })
	})
	return b.Bytes()
}

// addAlgorithm adds an AlgorithmIdentifier; params is DER, or nil for none.
func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, params []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddBytes(params)
		}
	})
}

// checkSignature verifies the signature just made, so that a wrong key or a
// broken signer never produces a signed document.
func checkSignature(pub crypto.PublicKey, s Scheme, h crypto.Hash, digest, sig []byte) error {
	var err error
	switch s {
	case PKCS1v15:
		err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig)
	case PSS:
		err = rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h})
	case ECDSA:
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig) {
			err = errors.New("ECDSA verification failed")
		}
	}
	if err != nil {
		return fmt.Errorf("pades: the signature does not verify with the certificate's key: %w", err)
	}
	return nil
}

// setContents strips the SET tag and length: [0] IMPLICIT keeps the content.
func setContents(der []byte) []byte {
	s := cryptobyte.String(der)
	var content cryptobyte.String
	if !s.ReadASN1(&content, cbasn1.SET) {
		panic("pades: not a DER SET")
	}
	return content
}

func rawCerts(chain []*x509.Certificate) [][]byte {
	out := make([][]byte, 0, len(chain))
	for _, c := range chain {
		out = append(out, c.Raw)
	}
	return out
}

// sortedDER sorts DER encodings as a DER SET OF needs them (X.690 §11.6),
// dropping duplicates.
func sortedDER(enc [][]byte) [][]byte {
	out := slices.Clone(enc)
	slices.SortFunc(out, bytes.Compare)
	return slices.CompactFunc(out, bytes.Equal)
}

// SignatureTimestamp adapts a timestamp source to CMSOptions.Timestamp: the
// token is asked for over the hash (with h) of the signature value, as the
// signature-time-stamp attribute requires (PAdES B-T).
func SignatureTimestamp(h crypto.Hash, stamp func(h crypto.Hash, digest []byte) ([]byte, error)) func(signature []byte) ([]byte, error) {
	return func(signature []byte) ([]byte, error) {
		d := h.New()
		d.Write(signature)
		return stamp(h, d.Sum(nil))
	}
}
