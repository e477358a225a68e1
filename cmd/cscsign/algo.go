package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/openrssp/rssp/sam/pades"
)

// hashByName is the digest algorithm of -hash and its OID.
func hashByName(name string) (crypto.Hash, string, error) {
	switch strings.ToUpper(strings.ReplaceAll(name, "_", "-")) {
	case "SHA-256", "SHA256":
		return crypto.SHA256, "2.16.840.1.101.3.4.2.1", nil
	case "SHA-384", "SHA384":
		return crypto.SHA384, "2.16.840.1.101.3.4.2.2", nil
	case "SHA-512", "SHA512":
		return crypto.SHA512, "2.16.840.1.101.3.4.2.3", nil
	}
	return 0, "", fmt.Errorf("-hash must be SHA-256, SHA-384 or SHA-512, not %q", name)
}

// signAlgorithm is how the server is asked to sign with the certificate's
// key: the CMS scheme, the CSC signAlgo OID and its signAlgoParams (DER,
// only for RSASSA-PSS).
func signAlgorithm(pub crypto.PublicKey, h crypto.Hash, pss bool) (pades.Scheme, string, []byte, error) {
	switch pub.(type) {
	case *rsa.PublicKey:
		if pss {
			params, err := pades.PSSParams(h)
			return pades.PSS, "1.2.840.113549.1.1.10", params, err
		}
		oid := map[crypto.Hash]string{crypto.SHA256: "1.2.840.113549.1.1.11", crypto.SHA384: "1.2.840.113549.1.1.12", crypto.SHA512: "1.2.840.113549.1.1.13"}[h]
		return pades.PKCS1v15, oid, nil, nil
	case *ecdsa.PublicKey:
		if pss {
			return 0, "", nil, fmt.Errorf("-pss is for RSA keys; this credential's key is EC")
		}
		oid := map[crypto.Hash]string{crypto.SHA256: "1.2.840.10045.4.3.2", crypto.SHA384: "1.2.840.10045.4.3.3", crypto.SHA512: "1.2.840.10045.4.3.4"}[h]
		return pades.ECDSA, oid, nil, nil
	}
	return 0, "", nil, fmt.Errorf("the certificate's key (%T) is neither RSA nor EC", pub)
}
