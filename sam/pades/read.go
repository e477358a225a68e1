package pades

import (
	"bytes"
	"fmt"
	"io"

	"github.com/digitorus/pdf"
	"golang.org/x/crypto/cryptobyte"
)

// SignatureField is one signature (or document timestamp) found in a PDF.
type SignatureField struct {
	Name      string
	SubFilter string
	ByteRange [4]int64
	Contents  []byte // the CMS or timestamp token, trailing zero padding removed
}

// Limits on what the readers walk, so that a hostile file costs bounded
// work.
const (
	maxFieldDepth  = 32
	maxFields      = 10000
	maxStreamBytes = 16 << 20
)

// Signatures lists the signature fields of doc that hold a value (a
// signature or a document timestamp), in the order of the form's field
// tree, with fully qualified field names. It reports what the file says
// and verifies nothing. A damaged or encrypted file is ErrMalformed; it
// never panics.
func Signatures(doc []byte) ([]SignatureField, error) {
	d, err := open(doc)
	if err != nil {
		return nil, err
	}
	return d.signatures()
}

func (d *document) signatures() (sigs []SignatureField, err error) {
	defer func() {
		if p := recover(); p != nil {
			sigs, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	fields := d.root.Key("AcroForm").Key("Fields")
	seen := map[ref]bool{}
	count := 0
	var walk func(v pdf.Value, parentName, parentFT string, depth int) error
	walk = func(v pdf.Value, parentName, parentFT string, depth int) error {
		if depth > maxFieldDepth {
			return fmt.Errorf("%w: form fields nested too deep", ErrMalformed)
		}
		if count++; count > maxFields {
			return fmt.Errorf("%w: more than %d form fields", ErrMalformed, maxFields)
		}
		if v.Kind() != pdf.Dict {
			return nil
		}
		if r := refOf(v); r.id != 0 {
			if seen[r] {
				return fmt.Errorf("%w: the form field tree has a cycle", ErrMalformed)
			}
			seen[r] = true
		}
		name := parentName
		if t := v.Key("T"); t.Kind() == pdf.String {
			if name != "" {
				name += "."
			}
			name += t.Text()
		}
		ft := parentFT
		if x := v.Key("FT"); x.Kind() == pdf.Name {
			ft = x.Name()
		}
		if sig := v.Key("V"); ft == "Sig" && sig.Kind() == pdf.Dict {
			f, err := signatureField(name, sig)
			if err != nil {
				return err
			}
			sigs = append(sigs, f)
		}
		kids := v.Key("Kids")
		for i := 0; i < kids.Len(); i++ {
			if err := walk(kids.Index(i), name, ft, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < fields.Len(); i++ {
		if err := walk(fields.Index(i), "", "", 0); err != nil {
			return nil, err
		}
	}
	return sigs, nil
}

// signatureField reads a signature dictionary.
func signatureField(name string, sig pdf.Value) (SignatureField, error) {
	f := SignatureField{Name: name, SubFilter: sig.Key("SubFilter").Name()}
	br := sig.Key("ByteRange")
	if br.Kind() != pdf.Array || br.Len() != 4 {
		return f, fmt.Errorf("%w: signature %q has no byte range of four integers", ErrMalformed, name)
	}
	for i := range f.ByteRange {
		x := br.Index(i)
		if x.Kind() != pdf.Integer || x.Int64() < 0 {
			return f, fmt.Errorf("%w: signature %q has a byte range that is not four non-negative integers", ErrMalformed, name)
		}
		f.ByteRange[i] = x.Int64()
	}
	c := sig.Key("Contents")
	if c.Kind() != pdf.String {
		return f, fmt.Errorf("%w: signature %q has no /Contents string", ErrMalformed, name)
	}
	f.Contents = trimPadding([]byte(c.RawString()))
	return f, nil
}

// trimPadding removes the zeros after the DER element at the start of b
// (or, when b does not start with one, its trailing zero bytes).
func trimPadding(b []byte) []byte {
	s := cryptobyte.String(b)
	var el cryptobyte.String
	if s.ReadAnyASN1Element(&el, nil) && len(bytes.Trim(s, "\x00")) == 0 {
		return bytes.Clone(el)
	}
	return bytes.Clone(bytes.TrimRight(b, "\x00"))
}

// DSS returns the validation data in the document's DSS (empty when there is none).
// Entries come in the order of the DSS arrays. A DSS that is not a
// dictionary of arrays of streams, or a stream that cannot be decoded
// (only FlateDecode and unfiltered streams are read), is ErrMalformed.
func DSS(doc []byte) (ValidationData, error) {
	d, err := open(doc)
	if err != nil {
		return ValidationData{}, err
	}
	ex, err := d.existingDSS()
	if err != nil {
		return ValidationData{}, err
	}
	return ex.data, nil
}

// existingDSS is the document's DSS as found: its dictionary and the
// decoded contents of its arrays.
type existingDSS struct {
	dict pdf.Value // null when there is none
	data ValidationData
}

func (d *document) existingDSS() (ex existingDSS, err error) {
	defer func() {
		if p := recover(); p != nil {
			ex, err = existingDSS{}, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	v := d.root.Key("DSS")
	if v.IsNull() {
		return ex, nil
	}
	if v.Kind() != pdf.Dict {
		return ex, fmt.Errorf("%w: /DSS is not a dictionary", ErrMalformed)
	}
	ex.dict = v
	for _, k := range []struct {
		key string
		out *[][]byte
	}{{"Certs", &ex.data.Certs}, {"CRLs", &ex.data.CRLs}, {"OCSPs", &ex.data.OCSPs}} {
		arr := v.Key(k.key)
		if arr.IsNull() {
			continue
		}
		if arr.Kind() != pdf.Array {
			return ex, fmt.Errorf("%w: /DSS /%s is not an array", ErrMalformed, k.key)
		}
		if arr.Len() > maxDSSEntries {
			return ex, fmt.Errorf("%w: /DSS /%s has more than %d entries", ErrMalformed, k.key, maxDSSEntries)
		}
		for i := 0; i < arr.Len(); i++ {
			b, err := streamData(arr.Index(i))
			if err != nil {
				return ex, fmt.Errorf("/DSS /%s: %w", k.key, err)
			}
			*k.out = append(*k.out, b)
		}
	}
	return ex, nil
}

// streamData decodes a stream, at most maxStreamBytes of it.
func streamData(v pdf.Value) ([]byte, error) {
	if v.Kind() != pdf.Stream {
		return nil, fmt.Errorf("%w: a stream was expected", ErrMalformed)
	}
	if n := v.Key("Length").Int64(); n < 0 || n > maxStreamBytes {
		return nil, fmt.Errorf("%w: a stream of length %d", ErrMalformed, n)
	}
	b, err := io.ReadAll(io.LimitReader(v.Reader(), maxStreamBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) > maxStreamBytes {
		return nil, fmt.Errorf("%w: a stream decodes to more than %d bytes", ErrMalformed, maxStreamBytes)
	}
	return b, nil
}
