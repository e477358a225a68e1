package pades

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ocsp"
)

// ErrValidationData is validation data that is not what it claims to be: a
// certificate, CRL or OCSP response that does not parse, or too much of it.
var ErrValidationData = errors.New("pades: invalid validation data")

// ValidationData is what a long-term signature embeds: DER certificates, CRLs and OCSP responses.
type ValidationData struct{ Certs, CRLs, OCSPs [][]byte }

// Limits on the validation data of one document.
const (
	maxDSSEntries = 1000
	maxDSSBytes   = 64 << 20
)

// AddDSS appends an incremental update that adds v to the document security store (/DSS in the catalog, ISO 32000-2 §12.8.4.3): /Certs, /CRLs, /OCSPs arrays of streams, merged with a DSS already there (existing entries kept, duplicates not added again). Earlier revisions stay byte for byte.
//
// Each certificate must parse as X.509, each CRL as an X.509 revocation
// list and each OCSP response as a successful OCSPResponse (RFC 6960, the
// whole response with its status, as the DSS holds it); otherwise the
// result is ErrValidationData and the document is not changed. When every
// entry is already in the DSS, doc is returned as it is, without an empty
// update.
//
// No VRI dictionary is written: PAdES baseline B-LT (ETSI EN 319 142-1)
// asks for the validation data in the DSS, and a VRI (keyed by the SHA-1
// of a signature's /Contents) is optional there; a VRI already in the DSS
// is kept as it is. No developer extension (/Extensions /ESIC) is added to
// the catalog either: EN 319 142-1 does not ask for one, and poppler
// ignores it; the extension level older PAdES-LTV texts named is not one
// we could check, so none is invented.
func AddDSS(doc []byte, v ValidationData) ([]byte, error) {
	if err := checkValidationData(v); err != nil {
		return nil, err
	}
	d, err := open(doc)
	if err != nil {
		return nil, err
	}
	ex, err := d.existingDSS()
	if err != nil {
		return nil, err
	}
	return d.addDSS(ex, v)
}

func (d *document) addDSS(ex existingDSS, v ValidationData) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	var objs []object
	set := map[string]string{}
	for _, k := range []struct {
		key        string
		have, want [][]byte
	}{{"Certs", ex.data.Certs, v.Certs}, {"CRLs", ex.data.CRLs, v.CRLs}, {"OCSPs", ex.data.OCSPs, v.OCSPs}} {
		known := map[string]bool{}
		for _, b := range k.have {
			known[string(b)] = true
		}
		var added []ref
		for _, b := range k.want {
			if known[string(b)] {
				continue
			}
			known[string(b)] = true
			r := d.alloc()
			var s bytes.Buffer
			fmt.Fprintf(&s, "<< /Length %d >>\nstream\n", len(b))
			s.Write(b)
			s.WriteString("\nendstream")
			objs = append(objs, object{r, s.Bytes()})
			added = append(added, r)
		}
		if len(added) == 0 {
			continue
		}
		// The array: the entries already there (as references), then the
		// new streams.
		var arr bytes.Buffer
		arr.WriteByte('[')
		if old := ex.dict.Key(k.key); !old.IsNull() {
			for i := 0; i < old.Len(); i++ {
				if err := d.writeValue(&arr, old.Index(i), refOf(old).id); err != nil {
					return nil, err
				}
				arr.WriteByte(' ')
			}
		}
		refs := make([]string, len(added))
		for i, r := range added {
			refs[i] = r.String()
		}
		arr.WriteString(strings.Join(refs, " "))
		arr.WriteByte(']')
		set[k.key] = arr.String()
	}
	if len(objs) == 0 {
		return d.data, nil
	}

	// The DSS dictionary: a new revision of the DSS object, or a new object
	// that the catalog names (the catalog's own DSS, if direct, moves
	// there with its other entries).
	var dss bytes.Buffer
	if ex.dict.IsNull() {
		dss.WriteString("<< /Type /DSS")
		for _, k := range []string{"Certs", "CRLs", "OCSPs"} {
			if set[k] != "" {
				fmt.Fprintf(&dss, " /%s %s", k, set[k])
			}
		}
		dss.WriteString(" >>")
	} else if err := d.writeDictWith(&dss, ex.dict, refOf(ex.dict).id, set, "", ref{}); err != nil {
		return nil, err
	}
	if !ex.dict.IsNull() && refOf(ex.dict) != d.rootRef {
		objs = append(objs, object{refOf(ex.dict), dss.Bytes()})
	} else {
		dssRef := d.alloc()
		objs = append(objs, object{dssRef, dss.Bytes()})
		var cat bytes.Buffer
		if err := d.writeDictWith(&cat, d.root, d.rootRef.id, map[string]string{"DSS": dssRef.String()}, "", ref{}); err != nil {
			return nil, err
		}
		objs = append(objs, object{d.rootRef, cat.Bytes()})
	}
	out, _, err = d.write(objs)
	return out, err
}

// checkValidationData parses every entry of v, and bounds its size.
func checkValidationData(v ValidationData) error {
	if n := len(v.Certs) + len(v.CRLs) + len(v.OCSPs); n > maxDSSEntries {
		return fmt.Errorf("%w: %d entries, at most %d", ErrValidationData, n, maxDSSEntries)
	}
	total := 0
	for _, group := range [][][]byte{v.Certs, v.CRLs, v.OCSPs} {
		for _, b := range group {
			total += len(b)
		}
	}
	if total > maxDSSBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrValidationData, total, maxDSSBytes)
	}
	for i, b := range v.Certs {
		if _, err := x509.ParseCertificate(b); err != nil {
			return fmt.Errorf("%w: certificate %d: %v", ErrValidationData, i, err)
		}
	}
	for i, b := range v.CRLs {
		if _, err := x509.ParseRevocationList(b); err != nil {
			return fmt.Errorf("%w: CRL %d: %v", ErrValidationData, i, err)
		}
	}
	for i, b := range v.OCSPs {
		if _, err := ocsp.ParseResponse(b, nil); err != nil {
			return fmt.Errorf("%w: OCSP response %d: %v", ErrValidationData, i, err)
		}
	}
	return nil
}
