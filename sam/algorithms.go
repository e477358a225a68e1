package sam

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/openrssp/rssp/hsm"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Algorithm OIDs (dotted) used by the CSC API.
const (
	OIDSHA256 = "2.16.840.1.101.3.4.2.1"
	OIDSHA384 = "2.16.840.1.101.3.4.2.2"
	OIDSHA512 = "2.16.840.1.101.3.4.2.3"

	OIDRSAEncryption = "1.2.840.113549.1.1.1"
	OIDRSAPSS        = "1.2.840.113549.1.1.10"
	OIDSHA256WithRSA = "1.2.840.113549.1.1.11"
	OIDSHA384WithRSA = "1.2.840.113549.1.1.12"
	OIDSHA512WithRSA = "1.2.840.113549.1.1.13"
	OIDMGF1          = "1.2.840.113549.1.1.8"

	OIDECPublicKey     = "1.2.840.10045.2.1"
	OIDECDSAWithSHA256 = "1.2.840.10045.4.3.2"
	OIDECDSAWithSHA384 = "1.2.840.10045.4.3.3"
	OIDECDSAWithSHA512 = "1.2.840.10045.4.3.4"
)

// hashByOID lists the digest algorithms we accept: SHA-256 or stronger.
var hashByOID = map[string]crypto.Hash{
	OIDSHA256: crypto.SHA256,
	OIDSHA384: crypto.SHA384,
	OIDSHA512: crypto.SHA512,
}

// HashForOID returns the digest algorithm for a dotted OID.
func HashForOID(oid string) (crypto.Hash, bool) {
	h, ok := hashByOID[oid]
	return h, ok
}

type keyFamily int

const (
	familyRSA keyFamily = iota + 1
	familyEC
)

// signAlgorithm describes a signAlgo OID: its key family and, when the OID
// implies one, its digest algorithm.
type signAlgorithm struct {
	family keyFamily
	hash   crypto.Hash // 0 when hashAlgorithmOID must say
	pss    bool
}

var signAlgorithms = map[string]signAlgorithm{
	OIDRSAEncryption:   {family: familyRSA},
	OIDSHA256WithRSA:   {family: familyRSA, hash: crypto.SHA256},
	OIDSHA384WithRSA:   {family: familyRSA, hash: crypto.SHA384},
	OIDSHA512WithRSA:   {family: familyRSA, hash: crypto.SHA512},
	OIDRSAPSS:          {family: familyRSA, pss: true},
	OIDECPublicKey:     {family: familyEC},
	OIDECDSAWithSHA256: {family: familyEC, hash: crypto.SHA256},
	OIDECDSAWithSHA384: {family: familyEC, hash: crypto.SHA384},
	OIDECDSAWithSHA512: {family: familyEC, hash: crypto.SHA512},
}

// DefaultSignAlgorithms lists the signAlgo OIDs a new credential advertises:
// the bare key algorithm and the combined OIDs, since some clients accept only
// the latter.
func DefaultSignAlgorithms(alg hsm.KeyAlgorithm) []string {
	switch alg {
	case hsm.RSA2048, hsm.RSA3072, hsm.RSA4096:
		return []string{OIDRSAEncryption, OIDSHA256WithRSA, OIDSHA384WithRSA, OIDSHA512WithRSA, OIDRSAPSS}
	default:
		return []string{OIDECPublicKey, OIDECDSAWithSHA256, OIDECDSAWithSHA384, OIDECDSAWithSHA512}
	}
}

// signScheme is a fully resolved way to sign one digest.
type signScheme struct {
	hash crypto.Hash
	opts crypto.SignerOpts
}

// resolveScheme checks signAlgo, hashAlgorithmOID and signAlgoParams against
// each other and the credential's key, and returns how to sign.
func resolveScheme(pub crypto.PublicKey, allowed []string, signAlgo, hashOID string, params []byte) (signScheme, error) {
	alg, ok := signAlgorithms[signAlgo]
	if !ok || !contains(allowed, signAlgo) {
		return signScheme{}, ErrSignAlgorithm
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		if alg.family != familyRSA {
			return signScheme{}, ErrSignAlgorithm
		}
	case *ecdsa.PublicKey:
		if alg.family != familyEC {
			return signScheme{}, ErrSignAlgorithm
		}
	default:
		return signScheme{}, ErrSignAlgorithm
	}
	var explicit crypto.Hash
	if hashOID != "" {
		h, ok := hashByOID[hashOID]
		if !ok {
			return signScheme{}, ErrHashAlgorithm
		}
		explicit = h
	}
	if alg.pss {
		if len(params) == 0 {
			return signScheme{}, &Error{Code: "invalid_request", Description: "Missing (or invalid type) string parameter signAlgoParams"}
		}
		p, err := ParsePSSParams(params)
		if err != nil {
			return signScheme{}, ErrSignAlgoParams.with(err)
		}
		if explicit != 0 && explicit != p.Hash {
			return signScheme{}, ErrHashAlgorithm
		}
		if p.MGFHash != p.Hash {
			// Every signature is verified with crypto/rsa before it is
			// returned, and crypto/rsa ties MGF1 to the message hash.
			return signScheme{}, ErrSignAlgoParams.with(errors.New("MGF1 hash must equal the message hash"))
		}
		rsaPub := pub.(*rsa.PublicKey)
		if p.SaltLength > rsaPub.Size()-p.Hash.Size()-2 {
			return signScheme{}, ErrSignAlgoParams
		}
		return signScheme{hash: p.Hash, opts: &p}, nil
	}
	if len(params) != 0 && !isASN1Null(params) {
		return signScheme{}, ErrSignAlgoParams
	}
	h := alg.hash
	switch {
	case h == 0 && explicit == 0:
		return signScheme{}, ErrHashOIDMissing
	case h == 0:
		h = explicit
	case explicit != 0 && explicit != h:
		return signScheme{}, ErrHashAlgorithm
	}
	return signScheme{hash: h, opts: h}, nil
}

func isASN1Null(b []byte) bool { return len(b) == 2 && b[0] == 0x05 && b[1] == 0x00 }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var asn1OIDMGF1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}

// ParsePSSParams decodes a DER RSASSA-PSS-params structure (RFC 4055). The
// defaults of that structure name SHA-1, which we refuse, so in practice the
// hash and mask generation function must be explicit. Only MGF1 and the
// trailer field 1 exist.
func ParsePSSParams(der []byte) (hsm.PSSOptions, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return hsm.PSSOptions{}, errors.New("RSASSA-PSS-params is not a DER SEQUENCE")
	}
	p := hsm.PSSOptions{SaltLength: 20}
	var hashSeen, mgfSeen bool

	var field cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return p, errors.New("bad hashAlgorithm")
	}
	if present {
		h, err := readHashAlgorithm(&field)
		if err != nil || !field.Empty() {
			return p, fmt.Errorf("hashAlgorithm: %v", err)
		}
		p.Hash, hashSeen = h, true
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return p, errors.New("bad maskGenAlgorithm")
	}
	if present {
		var algID cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !field.ReadASN1(&algID, cbasn1.SEQUENCE) || !field.Empty() || !algID.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(asn1OIDMGF1) {
			return p, errors.New("maskGenAlgorithm is not MGF1")
		}
		h, err := readHashAlgorithm(&algID)
		if err != nil || !algID.Empty() {
			return p, fmt.Errorf("MGF1 hash: %v", err)
		}
		p.MGFHash, mgfSeen = h, true
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(2).ContextSpecific().Constructed()) {
		return p, errors.New("bad saltLength")
	}
	if present {
		var salt int64
		if !field.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !field.Empty() || salt < 0 || salt > 1<<16 {
			return p, errors.New("bad saltLength")
		}
		p.SaltLength = int(salt)
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(3).ContextSpecific().Constructed()) {
		return p, errors.New("bad trailerField")
	}
	if present {
		var trailer int64
		if !field.ReadASN1Int64WithTag(&trailer, cbasn1.INTEGER) || !field.Empty() || trailer != 1 {
			return p, errors.New("trailerField must be 1")
		}
	}
	if !seq.Empty() {
		return p, errors.New("trailing data in RSASSA-PSS-params")
	}
	if !hashSeen || !mgfSeen {
		return p, errors.New("SHA-1 defaults are not accepted; hashAlgorithm and maskGenAlgorithm must be given")
	}
	return p, nil
}

// readHashAlgorithm reads an AlgorithmIdentifier naming an accepted digest,
// with absent or NULL parameters.
func readHashAlgorithm(s *cryptobyte.String) (crypto.Hash, error) {
	var algID cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&algID, cbasn1.SEQUENCE) || !algID.ReadASN1ObjectIdentifier(&oid) {
		return 0, errors.New("bad AlgorithmIdentifier")
	}
	if !algID.Empty() {
		var null cryptobyte.String
		if !algID.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !algID.Empty() {
			return 0, errors.New("unexpected hash parameters")
		}
	}
	h, ok := hashByOID[oid.String()]
	if !ok {
		return 0, fmt.Errorf("hash %s not accepted", oid)
	}
	return h, nil
}
