package pades

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/digitorus/timestamp"
)

// ErrTimestamp is a timestamp token that is not over the document: it does
// not parse, or its message imprint is not the digest that was asked for.
var ErrTimestamp = errors.New("pades: the timestamp token does not match the document")

// DocTimestampOptions describe a document timestamp (PAdES B-LTA): a signature dictionary of /Type /DocTimeStamp with /SubFilter /ETSI.RFC3161 whose /Contents is an RFC 3161 TimeStampToken over the digest of the byte ranges.
type DocTimestampOptions struct {
	Hash    crypto.Hash                                        // digest of the byte ranges sent to the TSA
	Reserve int                                                // bytes reserved for the token (an overflow is ErrTooLarge, never a second call)
	Stamp   func(h crypto.Hash, digest []byte) ([]byte, error) // returns the TimeStampToken (DER ContentInfo); called exactly once
}

// AddDocumentTimestamp appends an incremental update with a document
// timestamp in a new, invisible signature field on page 1, through the same
// placeholder and byte-range path as Sign. Before the token is embedded it
// is parsed (its CMS signature is checked against the certificate it
// carries, when it carries one) and its message imprint must use o.Hash
// and equal the digest of the byte ranges: otherwise ErrTimestamp, and
// nothing is returned. Trust in the TSA is the validator's business.
func AddDocumentTimestamp(doc []byte, o DocTimestampOptions) ([]byte, error) {
	if o.Stamp == nil || o.Reserve <= 0 {
		return nil, errors.New("pades: no timestamp source or no space reserved")
	}
	if o.Reserve > maxReserve {
		return nil, fmt.Errorf("pades: %d bytes reserved for the timestamp token, at most %d", o.Reserve, maxReserve)
	}
	if _, ok := digestOIDs[o.Hash]; !ok {
		return nil, fmt.Errorf("pades: unsupported digest %v", o.Hash)
	}
	d, err := open(doc)
	if err != nil {
		return nil, err
	}
	out, ph, err := d.addField(field{typ: "DocTimeStamp", subFilter: "ETSI.RFC3161", reserve: o.Reserve})
	if err != nil {
		return nil, err
	}
	return fill(out, ph, o.Hash, o.Reserve, func(digest []byte) ([]byte, error) {
		token, err := o.Stamp(o.Hash, digest)
		if err != nil {
			return nil, fmt.Errorf("pades: document timestamp: %w", err)
		}
		if err := checkImprint(token, o.Hash, digest); err != nil {
			return nil, err
		}
		return token, nil
	})
}

// checkImprint parses a TimeStampToken and checks its message imprint.
func checkImprint(token []byte, h crypto.Hash, digest []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrTimestamp, p)
		}
	}()
	ts, err := timestamp.Parse(token)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	if ts.HashAlgorithm != h || !bytes.Equal(ts.HashedMessage, digest) {
		return fmt.Errorf("%w: its message imprint is not the %v digest of the byte ranges", ErrTimestamp, h)
	}
	return nil
}
