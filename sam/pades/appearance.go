package pades

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/digitorus/pdf"
)

// ErrAppearance is a visible signature that cannot be placed: a page the
// document does not have, a rectangle without area or outside the page, or
// text that does not fit.
var ErrAppearance = errors.New("pades: the visible signature cannot be placed")

// Appearance places a visible signature. The rectangle is in the page's
// unrotated coordinates: on a page with /Rotate the box and its text turn
// with the page. The text is drawn in Helvetica with WinAnsiEncoding, at
// the largest size up to 12 points at which every line fits.
type Appearance struct {
	Page  int        // 1-based page number
	Rect  [4]float64 // llx, lly, urx, ury in the page's default user space (points)
	Lines []string   // text lines drawn in the box; empty means derived from Options.Info and Options.Time (e.g. "Digitally signed by <Name>", the date, Reason, Location)
}

// Limits on the text of a visible signature.
const (
	maxAppearanceLines = 16
	maxLineRunes       = 200
	maxFontSize        = 12.0
	minFontSize        = 2.0
	boxPadding         = 2.0 // points between the border and the text
)

// defaultLines is the text of a visible signature that names none.
func defaultLines(info SignatureInfo, t time.Time) []string {
	lines := []string{"Digitally signed"}
	if info.Name != "" {
		lines[0] = "Digitally signed by " + info.Name
	}
	lines = append(lines, "Date: "+t.UTC().Format("2006-01-02 15:04:05 UTC"))
	if info.Reason != "" {
		lines = append(lines, "Reason: "+info.Reason)
	}
	if info.Location != "" {
		lines = append(lines, "Location: "+info.Location)
	}
	return lines
}

// appearancePage finds the page of a visible signature and checks that the
// rectangle has an area and lies within the page's MediaBox (inherited from
// the page tree when the page has none). It returns the rectangle
// normalised.
func (d *document) appearancePage(a *Appearance) (pdf.Value, [4]float64, error) {
	var box [4]float64
	if a.Page < 1 {
		return pdf.Value{}, box, fmt.Errorf("%w: page %d (pages are numbered from 1)", ErrAppearance, a.Page)
	}
	page, err := d.page(a.Page)
	if err != nil {
		return pdf.Value{}, box, fmt.Errorf("%w: the document has no page %d", ErrAppearance, a.Page)
	}
	for _, v := range a.Rect {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
			return pdf.Value{}, box, fmt.Errorf("%w: rectangle %v is not a finite box", ErrAppearance, a.Rect)
		}
	}
	r := a.Rect
	if r[2] <= r[0] || r[3] <= r[1] {
		return pdf.Value{}, box, fmt.Errorf("%w: rectangle %v has no area (want llx < urx and lly < ury)", ErrAppearance, r)
	}
	mb, ok := rectangle(inherited(page, "MediaBox"))
	if !ok {
		return pdf.Value{}, box, fmt.Errorf("%w: page %d has no MediaBox", ErrMalformed, a.Page)
	}
	if r[0] < mb[0] || r[1] < mb[1] || r[2] > mb[2] || r[3] > mb[3] {
		return pdf.Value{}, box, fmt.Errorf("%w: rectangle %v is not within page %d's MediaBox %v", ErrAppearance, r, a.Page, mb)
	}
	if len(a.Lines) > maxAppearanceLines {
		return pdf.Value{}, box, fmt.Errorf("%w: %d lines of text, at most %d", ErrAppearance, len(a.Lines), maxAppearanceLines)
	}
	for _, l := range a.Lines {
		if utf8.RuneCountInString(l) > maxLineRunes {
			return pdf.Value{}, box, fmt.Errorf("%w: a line of more than %d characters", ErrAppearance, maxLineRunes)
		}
	}
	return page, r, nil
}

// inherited is the page attribute key, from the page or the nearest
// /Pages node above it (ISO 32000 §7.7.3.4).
func inherited(page pdf.Value, key string) pdf.Value {
	for v, depth := page, 0; !v.IsNull() && depth < 64; v, depth = v.Key("Parent"), depth+1 {
		if x := v.Key(key); !x.IsNull() {
			return x
		}
	}
	return pdf.Value{}
}

// rectangle reads a PDF rectangle, normalised to llx, lly, urx, ury.
func rectangle(v pdf.Value) ([4]float64, bool) {
	var r [4]float64
	if v.Kind() != pdf.Array || v.Len() != 4 {
		return r, false
	}
	for i := range r {
		x := v.Index(i)
		switch x.Kind() {
		case pdf.Integer:
			r[i] = float64(x.Int64())
		case pdf.Real:
			r[i] = x.Float64()
		default:
			return r, false
		}
	}
	return [4]float64{min(r[0], r[2]), min(r[1], r[3]), max(r[0], r[2]), max(r[1], r[3])}, true
}

// appearanceStream is the normal appearance of a w×h signature box: a thin
// border and the lines in Helvetica (WinAnsiEncoding), the font size the
// largest up to 12 points at which every line fits. It is the body of a
// form XObject stream object.
func appearanceStream(lines []string, w, h float64) ([]byte, error) {
	enc := make([][]byte, len(lines))
	widest := 0
	for i, l := range lines {
		enc[i] = winAnsi(l)
		widest = max(widest, helveticaWidth(enc[i]))
	}
	size := maxFontSize
	if n := len(enc); n > 0 {
		size = min(size, (h-2*boxPadding)/(float64(n)*1.2))
		if widest > 0 {
			size = min(size, (w-2*boxPadding)*1000/float64(widest))
		}
		if size < minFontSize {
			return nil, fmt.Errorf("%w: a %s×%s point box is too small for %d lines of text", ErrAppearance, num(w), num(h), n)
		}
	}
	var c bytes.Buffer
	fmt.Fprintf(&c, "q 0.5 w 0 0 0 RG 0.25 0.25 %s %s re S Q\n", num(w-0.5), num(h-0.5))
	if len(enc) > 0 {
		lead := size * 1.2
		top := h - (h-lead*float64(len(enc)))/2 // the text block centred vertically
		fmt.Fprintf(&c, "BT 0 0 0 rg /Helv %s Tf %s TL %s %s Td\n", num(size), num(lead), num(boxPadding), num(top-size*0.9))
		for i, l := range enc {
			if i > 0 {
				c.WriteString("T* ")
			}
			c.WriteString(literal(l))
			c.WriteString(" Tj\n")
		}
		c.WriteString("ET\n")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<< /Type /XObject /Subtype /Form /BBox [0 0 %s %s] /Resources << /Font << /Helv << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> >> >> /Length %d >>\nstream\n",
		num(w), num(h), c.Len())
	b.Write(c.Bytes())
	b.WriteString("\nendstream")
	return b.Bytes(), nil
}

// num formats a coordinate with at most three decimals.
func num(f float64) string {
	s := strconv.FormatFloat(math.Round(f*1000)/1000, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// literal writes bytes as a PDF literal string, with octal escapes outside
// printable ASCII.
func literal(b []byte) string {
	var s strings.Builder
	s.WriteByte('(')
	for _, c := range b {
		switch {
		case c == '(' || c == ')' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&s, "\\%03o", c)
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte(')')
	return s.String()
}

// winAnsiHigh maps the characters of WinAnsiEncoding's 0x80–0x9F range.
var winAnsiHigh = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88, '‰': 0x89,
	'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95,
	'–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
}

// latinExtendedA is the base letter of each of U+0100–U+017F, for the
// characters WinAnsiEncoding lacks (ő is drawn as o, Ł as L).
const latinExtendedA = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs"

// winAnsi encodes s in WinAnsiEncoding. Characters it lacks become a
// similar one where there is an obvious choice (a letter without its
// accent, ASCII dashes, quotes and spaces), else '?'; control characters
// become spaces.
func winAnsi(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			out = append(out, ' ')
		case r < 0x7f || (r >= 0xa0 && r <= 0xff):
			out = append(out, byte(r))
		case winAnsiHigh[r] != 0:
			out = append(out, winAnsiHigh[r])
		case r >= 0x100 && r <= 0x17f:
			out = append(out, latinExtendedA[r-0x100])
		case r >= 0x2010 && r <= 0x2012 || r == 0x2212:
			out = append(out, '-')
		case r >= 0x2000 && r <= 0x200a || r == 0x202f || r == 0x205f || r == 0x3000:
			out = append(out, ' ')
		case r == 0x201b || r == 0x2032:
			out = append(out, '\'')
		case r == 0x201f || r == 0x2033:
			out = append(out, '"')
		default:
			out = append(out, '?')
		}
	}
	return out
}

// helveticaASCII are Helvetica's advance widths (thousandths of the font
// size, from its AFM) for 0x20–0x7E.
var helveticaASCII = [95]int{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space–/
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0–?
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @–O
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P–_
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `–o
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p–~
}

// helveticaWidth is the width of WinAnsi text in thousandths of the font
// size: exact for ASCII, an upper estimate for the rest.
func helveticaWidth(b []byte) int {
	w := 0
	for _, c := range b {
		switch {
		case c >= 0x20 && c <= 0x7e:
			w += helveticaASCII[c-0x20]
		case c == 0x85 || c == 0x89 || c == 0x8c || c == 0x97 || c == 0x99 || c == 0xc6:
			w += 1000 // … ‰ Œ — ™ Æ
		default:
			w += 944
		}
	}
	return w
}
