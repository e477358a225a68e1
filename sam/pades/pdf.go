package pades

import (
	"bytes"
	"cmp"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/digitorus/pdf"
)

// ErrMalformed is a document that is not a PDF we can sign: not a PDF,
// damaged, encrypted, or without a page.
var ErrMalformed = errors.New("pades: not a well-formed, unencrypted PDF")

// ErrTooLarge is a CMS larger than the space reserved for it. The document
// is not signed again: the signer may be usable only once.
var ErrTooLarge = errors.New("pades: the signature is larger than the space reserved for it")

// SignatureInfo is what the signature dictionary says about the signing
// (CSC signed_props Name, Location, Reason, ContactInfo). All optional.
type SignatureInfo struct {
	Name, Location, Reason, ContactInfo string
}

// Options describe one signature added to a PDF.
type Options struct {
	// Time is the claimed signing time, written as /M (PAdES keeps it out
	// of the CMS); zero means now.
	Time time.Time
	Info SignatureInfo
	// Certification makes it a certification signature (DocMDP, changes
	// limited to form filling and further signatures) instead of an
	// approval signature.
	Certification bool
	// Hash is the digest of the signed byte ranges.
	Hash crypto.Hash
	// Reserve is the number of CMS bytes to leave room for, from
	// MaxCMSSize.
	Reserve int
	// CMS builds the signature container over the digest of the byte
	// ranges (usually BuildCMS); it is called exactly once.
	CMS func(digest []byte) ([]byte, error)
	// FieldName names the signature field; empty gives "Signature<n>".
	FieldName string
	// Appearance, when set, makes the signature visible; nil gives an
	// invisible signature on page 1.
	Appearance *Appearance
}

// Sign appends an incremental update to doc that adds a PAdES signature
// (SubFilter ETSI.CAdES.detached) in a new signature field: invisible on
// the first page, or visible where o.Appearance says. Earlier revisions,
// and so earlier signatures, are left byte for byte as they were.
func Sign(doc []byte, o Options) ([]byte, error) {
	if o.CMS == nil || o.Reserve <= 0 {
		return nil, errors.New("pades: no CMS builder or no space reserved")
	}
	if _, ok := digestOIDs[o.Hash]; !ok {
		return nil, fmt.Errorf("pades: unsupported digest %v", o.Hash)
	}
	if o.Reserve > maxReserve {
		return nil, fmt.Errorf("pades: %d bytes reserved for the signature, at most %d", o.Reserve, maxReserve)
	}
	d, err := open(doc)
	if err != nil {
		return nil, err
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	var entries bytes.Buffer
	entries.WriteString(" /M ")
	entries.WriteString(pdfString(pdfDate(o.Time)))
	for _, kv := range [][2]string{{"Name", o.Info.Name}, {"Location", o.Info.Location}, {"Reason", o.Info.Reason}, {"ContactInfo", o.Info.ContactInfo}} {
		if kv[1] != "" {
			fmt.Fprintf(&entries, " /%s %s", kv[0], pdfString(kv[1]))
		}
	}
	if o.Certification {
		entries.WriteString(" /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /Type /TransformParams /P 2 /V /1.2 >> >>]")
	}
	f := field{typ: "Sig", subFilter: "ETSI.CAdES.detached", entries: entries.String(), reserve: o.Reserve,
		name: o.FieldName, certify: o.Certification}
	if o.Appearance != nil {
		a := *o.Appearance
		if len(a.Lines) == 0 {
			a.Lines = defaultLines(o.Info, o.Time)
		}
		f.appearance = &a
	}
	out, ph, err := d.addField(f)
	if err != nil {
		return nil, err
	}
	return fill(out, ph, o.Hash, o.Reserve, o.CMS)
}

// maxReserve bounds the space reserved for a signature or a timestamp
// token (hex-encoded in the file, so twice as many bytes there).
const maxReserve = 4 << 20

// document is a parsed PDF about to get an incremental update.
type document struct {
	data       []byte
	r          *pdf.Reader
	next       uint32 // first free object number (trailer /Size)
	root       pdf.Value
	rootRef    ref
	xrefStream bool
	startxref  int64
}

// ref is an indirect object reference.
type ref struct {
	id  uint32
	gen uint16
}

func (r ref) String() string { return fmt.Sprintf("%d %d R", r.id, r.gen) }

func refOf(v pdf.Value) ref {
	p := v.GetPtr()
	return ref{p.GetID(), p.GetGen()}
}

// open parses doc. The PDF library panics on some damaged files; that is
// a malformed document here, never a crash.
func open(doc []byte) (d *document, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	t := r.Trailer()
	if !t.Key("Encrypt").IsNull() {
		return nil, fmt.Errorf("%w: the document is encrypted", ErrMalformed)
	}
	root := t.Key("Root")
	size := t.Key("Size").Int64()
	if root.Kind() != pdf.Dict || size <= 0 || size > 1<<24 {
		return nil, fmt.Errorf("%w: no document catalog", ErrMalformed)
	}
	return &document{data: doc, r: r, next: uint32(size), root: root, rootRef: refOf(root),
		xrefStream: r.XrefInformation.Type == "stream", startxref: r.XrefInformation.StartPos}, nil
}

// object is an object of the update: a new one, or a new revision of an
// existing one.
type object struct {
	ref  ref
	body []byte
}

// placeholder says where the signature's /ByteRange and /Contents are in
// the updated file.
type placeholder struct {
	byteRange       int // offset of the ByteRange array's '['
	contentsStart   int // offset of '<'
	contentsEnd     int // offset after '>'
	byteRangeLength int
}

const byteRangeTemplate = "[0 0000000000 0000000000 0000000000]"

// field is a signature field to add: a signature or a document timestamp.
type field struct {
	typ        string // the signature dictionary's /Type: Sig or DocTimeStamp
	subFilter  string
	entries    string // further raw entries of the signature dictionary
	reserve    int    // bytes of /Contents
	name       string // field name; empty gives Signature<n>
	certify    bool   // name the signature in the catalog's /Perms (DocMDP)
	appearance *Appearance
}

// addField writes the incremental update that adds f with a zeroed
// /Contents of f.reserve bytes, and says where the placeholder is.
func (d *document) addField(f field) (out []byte, ph placeholder, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	page, err := d.page(1)
	if err != nil {
		return nil, ph, err
	}
	var box [4]float64
	if f.appearance != nil {
		if page, box, err = d.appearancePage(f.appearance); err != nil {
			return nil, ph, err
		}
	}
	sigRef, fieldRef := d.alloc(), d.alloc()
	var objs []object

	// The signature dictionary.
	var sig bytes.Buffer
	fmt.Fprintf(&sig, "<< /Type /%s /Filter /Adobe.PPKLite /SubFilter /%s /ByteRange ", f.typ, f.subFilter)
	sig.WriteString(byteRangeTemplate)
	sig.WriteString(" /Contents <")
	sig.WriteString(strings.Repeat("0", 2*f.reserve))
	sig.WriteString(">")
	sig.WriteString(f.entries)
	sig.WriteString(" >>")
	objs = append(objs, object{sigRef, sig.Bytes()})

	// The field, merged with its widget annotation, printed: invisible
	// (an empty rectangle, hidden) or with its appearance stream.
	name := f.name
	if name == "" {
		name = "Signature" + strconv.Itoa(int(sigRef.id))
	}
	if f.appearance == nil {
		objs = append(objs, object{fieldRef, fmt.Appendf(nil, "<< /Type /Annot /Subtype /Widget /FT /Sig /T %s /V %s /F 132 /Rect [0 0 0 0] /P %s >>",
			pdfString(name), sigRef, refOf(page))})
	} else {
		apRef := d.alloc()
		stream, err := appearanceStream(f.appearance.Lines, box[2]-box[0], box[3]-box[1])
		if err != nil {
			return nil, ph, err
		}
		objs = append(objs, object{fieldRef, fmt.Appendf(nil, "<< /Type /Annot /Subtype /Widget /FT /Sig /T %s /V %s /F 4 /Rect [%s %s %s %s] /P %s /AP << /N %s >> >>",
			pdfString(name), sigRef, num(box[0]), num(box[1]), num(box[2]), num(box[3]), refOf(page), apRef)})
		objs = append(objs, object{apRef, stream})
	}

	// The page lists the widget among its annotations.
	upd, err := d.appendToArray(page, "Annots", fieldRef)
	if err != nil {
		return nil, ph, err
	}
	objs = append(objs, upd...)

	// The catalog's form lists the field; SigFlags 3: signatures exist,
	// append only. A certification signature is named in /Perms.
	catalogExtra := map[string]string{}
	form := d.root.Key("AcroForm")
	switch {
	case form.IsNull():
		catalogExtra["AcroForm"] = fmt.Sprintf("<< /Fields [%s] /SigFlags 3 >>", fieldRef)
	case refOf(form) == d.rootRef:
		var b bytes.Buffer
		if err := d.writeDictWith(&b, form, d.rootRef.id, map[string]string{"SigFlags": "3"}, "Fields", fieldRef); err != nil {
			return nil, ph, err
		}
		catalogExtra["AcroForm"] = b.String()
	default:
		var b bytes.Buffer
		if err := d.writeDictWith(&b, form, refOf(form).id, map[string]string{"SigFlags": "3"}, "Fields", fieldRef); err != nil {
			return nil, ph, err
		}
		objs = append(objs, object{refOf(form), b.Bytes()})
		if fields := form.Key("Fields"); !fields.IsNull() && refOf(fields) != refOf(form) {
			upd, err := d.appendToArray(form, "Fields", fieldRef)
			if err != nil {
				return nil, ph, err
			}
			objs = append(objs, upd...)
		}
	}
	if f.certify {
		if !d.root.Key("Perms").IsNull() {
			return nil, ph, errors.New("pades: the document already has permissions (a certification signature): it cannot be certified again")
		}
		catalogExtra["Perms"] = fmt.Sprintf("<< /DocMDP %s >>", sigRef)
	}
	if len(catalogExtra) > 0 {
		var b bytes.Buffer
		if err := d.writeDictWith(&b, d.root, d.rootRef.id, catalogExtra, "", ref{}); err != nil {
			return nil, ph, err
		}
		objs = append(objs, object{d.rootRef, b.Bytes()})
	}
	out, offsets, err := d.write(objs)
	if err != nil {
		return nil, ph, err
	}
	at := offsets[sigRef] + len(fmt.Sprintf("%d %d obj\n", sigRef.id, sigRef.gen))
	ph.byteRange = at + bytes.Index(sig.Bytes(), []byte(byteRangeTemplate))
	ph.byteRangeLength = len(byteRangeTemplate)
	ph.contentsStart = at + bytes.Index(sig.Bytes(), []byte("/Contents <")) + len("/Contents ")
	ph.contentsEnd = ph.contentsStart + 2*f.reserve + 2
	return out, ph, nil
}

func (d *document) alloc() ref {
	r := ref{id: d.next}
	d.next++
	return r
}

// page returns page n (1-based) of the page tree.
func (d *document) page(n int) (pdf.Value, error) {
	count := 0
	var walk func(v pdf.Value, depth int) (pdf.Value, bool)
	walk = func(v pdf.Value, depth int) (pdf.Value, bool) {
		if depth > 64 {
			return pdf.Value{}, false
		}
		switch v.Key("Type").Name() {
		case "Page":
			count++
			return v, count == n
		case "Pages":
			kids := v.Key("Kids")
			for i := 0; i < kids.Len(); i++ {
				if p, ok := walk(kids.Index(i), depth+1); ok {
					return p, true
				}
			}
		}
		return pdf.Value{}, false
	}
	p, ok := walk(d.root.Key("Pages"), 0)
	if !ok {
		return pdf.Value{}, fmt.Errorf("%w: no page %d", ErrMalformed, n)
	}
	return p, nil
}

// appendToArray returns the objects that add item to the array under key
// of the dictionary object owner: a new revision of owner (the array is
// direct or missing) or of the array object (it is indirect).
func (d *document) appendToArray(owner pdf.Value, key string, item ref) ([]object, error) {
	arr := owner.Key(key)
	if !arr.IsNull() && refOf(arr) != refOf(owner) {
		if arr.Kind() != pdf.Array {
			return nil, fmt.Errorf("%w: /%s is not an array", ErrMalformed, key)
		}
		var b bytes.Buffer
		if err := d.writeArrayWith(&b, arr, refOf(arr).id, item); err != nil {
			return nil, err
		}
		return []object{{refOf(arr), b.Bytes()}}, nil
	}
	var b bytes.Buffer
	if err := d.writeDictWith(&b, owner, refOf(owner).id, nil, key, item); err != nil {
		return nil, err
	}
	return []object{{refOf(owner), b.Bytes()}}, nil
}

// writeDictWith writes dict v (an object, or a direct dict of object
// container) with the entries of set replacing or adding keys (raw PDF),
// and with item appended to the direct array under appendKey (created when
// missing; an indirect array is left as a reference).
func (d *document) writeDictWith(b *bytes.Buffer, v pdf.Value, container uint32, set map[string]string, appendKey string, item ref) error {
	if v.Kind() != pdf.Dict {
		return fmt.Errorf("%w: a dictionary was expected", ErrMalformed)
	}
	b.WriteString("<<")
	seen := map[string]bool{}
	for _, k := range v.Keys() {
		seen[k] = true
		b.WriteString(" /")
		b.WriteString(escapeName(k))
		b.WriteByte(' ')
		switch val := v.Key(k); {
		case set[k] != "":
			b.WriteString(set[k])
		case k == appendKey && !val.IsNull() && refOf(val).id == container:
			if val.Kind() != pdf.Array {
				return fmt.Errorf("%w: /%s is not an array", ErrMalformed, k)
			}
			if err := d.writeArrayWith(b, val, container, item); err != nil {
				return err
			}
		default:
			if err := d.writeValue(b, val, container); err != nil {
				return err
			}
		}
	}
	for _, k := range sortedKeys(set) {
		if !seen[k] {
			fmt.Fprintf(b, " /%s %s", k, set[k])
		}
	}
	if appendKey != "" && !seen[appendKey] {
		fmt.Fprintf(b, " /%s [%s]", appendKey, item)
	}
	b.WriteString(" >>")
	return nil
}

func (d *document) writeArrayWith(b *bytes.Buffer, arr pdf.Value, container uint32, item ref) error {
	b.WriteByte('[')
	for i := 0; i < arr.Len(); i++ {
		if err := d.writeValue(b, arr.Index(i), container); err != nil {
			return err
		}
		b.WriteByte(' ')
	}
	b.WriteString(item.String())
	b.WriteByte(']')
	return nil
}

// writeValue writes v as it appears inside object container: a reference
// when v is another object, else the value itself.
func (d *document) writeValue(b *bytes.Buffer, v pdf.Value, container uint32) error {
	r := refOf(v)
	if r.id != container {
		if v.IsNull() {
			b.WriteString("null") // a reference to nothing is null (ISO 32000 §7.3.10)
			return nil
		}
		b.WriteString(r.String())
		return nil
	}
	switch v.Kind() {
	case pdf.Null:
		b.WriteString("null")
	case pdf.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case pdf.Integer:
		b.WriteString(strconv.FormatInt(v.Int64(), 10))
	case pdf.Real:
		b.WriteString(strconv.FormatFloat(v.Float64(), 'f', -1, 64))
	case pdf.String:
		b.WriteByte('<')
		b.WriteString(hex.EncodeToString([]byte(v.RawString())))
		b.WriteByte('>')
	case pdf.Name:
		b.WriteByte('/')
		b.WriteString(escapeName(v.Name()))
	case pdf.Array:
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			if err := d.writeValue(b, v.Index(i), container); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case pdf.Dict:
		return d.writeDictWith(b, v, container, nil, "", ref{})
	default:
		return fmt.Errorf("%w: a stream inside another object", ErrMalformed)
	}
	return nil
}

// write appends objs, the cross-reference section (a table, or a stream
// when the document's last one is a stream) and the trailer to the
// document, and says where the signature placeholder is.
func (d *document) write(objs []object) ([]byte, map[ref]int, error) {
	var b bytes.Buffer
	b.Write(d.data)
	if n := len(d.data); n > 0 && d.data[n-1] != '\n' && d.data[n-1] != '\r' {
		b.WriteByte('\n')
	}
	offsets := map[ref]int{}
	for _, o := range objs {
		offsets[o.ref] = b.Len()
		fmt.Fprintf(&b, "%d %d obj\n", o.ref.id, o.ref.gen)
		b.Write(o.body)
		b.WriteString("\nendobj\n")
	}
	trailer := d.r.Trailer()
	container := refOf(trailer).id
	var extra bytes.Buffer
	for _, k := range []string{"Info", "ID"} {
		if v := trailer.Key(k); !v.IsNull() {
			fmt.Fprintf(&extra, " /%s ", k)
			if err := d.writeValue(&extra, v, container); err != nil {
				return nil, nil, err
			}
		}
	}
	refs := make([]ref, 0, len(objs))
	for _, o := range objs {
		refs = append(refs, o.ref)
	}
	sortRefs(refs)
	xrefAt := b.Len()
	if d.xrefStream {
		xr := d.alloc()
		refs = append(refs, xr)
		offsets[xr] = xrefAt
		var data bytes.Buffer
		var index strings.Builder
		for _, r := range refs {
			fmt.Fprintf(&index, "%d 1 ", r.id)
			off := offsets[r]
			data.Write([]byte{1, byte(off >> 24), byte(off >> 16), byte(off >> 8), byte(off), byte(r.gen >> 8), byte(r.gen)})
		}
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /Index [%s] /W [1 4 2] /Root %s /Prev %d%s /Length %d >>\nstream\n",
			xr.id, d.next, strings.TrimSpace(index.String()), d.rootRef, d.startxref, extra.String(), data.Len())
		b.Write(data.Bytes())
		b.WriteString("\nendstream\nendobj\n")
	} else {
		b.WriteString("xref\n")
		for _, r := range refs {
			fmt.Fprintf(&b, "%d 1\n%010d %05d n \n", r.id, offsets[r], r.gen)
		}
		fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %s /Prev %d%s >>\n", d.next, d.rootRef, d.startxref, extra.String())
	}
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", xrefAt)
	return b.Bytes(), offsets, nil
}

// fill writes the byte ranges, has the contents (a CMS or a timestamp
// token) built over their digest with h, and puts it in /Contents. The
// builder is called exactly once; contents larger than reserve are
// ErrTooLarge.
func fill(out []byte, ph placeholder, h crypto.Hash, reserve int, build func(digest []byte) ([]byte, error)) ([]byte, error) {
	br := fmt.Sprintf("[0 %d %d %d", ph.contentsStart, ph.contentsEnd, len(out)-ph.contentsEnd)
	if len(br)+1 > ph.byteRangeLength {
		return nil, errors.New("pades: the document is too large for the byte range")
	}
	br += strings.Repeat(" ", ph.byteRangeLength-len(br)-1) + "]"
	copy(out[ph.byteRange:], br)
	d := h.New()
	d.Write(out[:ph.contentsStart])
	d.Write(out[ph.contentsEnd:])
	contents, err := build(d.Sum(nil))
	if err != nil {
		return nil, err
	}
	if len(contents) > reserve {
		return nil, fmt.Errorf("%w (%d bytes, %d reserved)", ErrTooLarge, len(contents), reserve)
	}
	copy(out[ph.contentsStart+1:], strings.ToUpper(hex.EncodeToString(contents)))
	return out, nil
}

// pdfDate formats t as a PDF date (ISO 32000 §7.9.4), in UTC.
func pdfDate(t time.Time) string {
	return "D:" + t.UTC().Format("20060102150405") + "Z"
}

// pdfString encodes a text string: PDFDocEncoding-safe ASCII as a literal
// string, anything else as UTF-16BE with a byte order mark, in hex.
func pdfString(s string) string {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	u := utf16.Encode([]rune(s))
	b := []byte{0xfe, 0xff}
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return "<" + strings.ToUpper(hex.EncodeToString(b)) + ">"
}

// escapeName writes a name's characters outside the regular set as #xx.
func escapeName(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < '!' || c > '~' || strings.IndexByte("#()<>[]{}/%", c) >= 0 {
			fmt.Fprintf(&b, "#%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortRefs(rs []ref) {
	slices.SortFunc(rs, func(a, b ref) int { return cmp.Compare(a.id, b.id) })
}
