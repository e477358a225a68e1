package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/sam/pades"
)

// signDocResponse carries the enveloped results (signed PDFs) and the
// detached ones (CMS), each in request order; the capitalised names are
// the specification's.
type signDocResponse struct {
	DocumentWithSignature []string `json:"DocumentWithSignature,omitempty"`
	SignatureObject       []string `json:"SignatureObject,omitempty"`
}

// signDocEntry is one element of documents or documentDigests.
type signDocEntry struct {
	Document               *string           `json:"document"`
	Hashes                 []string          `json:"hashes"`
	HashAlgorithmOID       string            `json:"hashAlgorithmOID"`
	SignatureFormat        string            `json:"signature_format"`
	ConformanceLevel       string            `json:"conformance_level"`
	SignAlgo               string            `json:"signAlgo"`
	SignAlgoParams         string            `json:"signAlgoParams"`
	SignedProps            []signedAttribute `json:"signed_props"`
	SignedEnvelopeProperty string            `json:"signed_envelope_property"`
}

type signedAttribute struct {
	Name  string `json:"attribute_name"`
	Value string `json:"attribute_value"`
}

// signDoc signs whole documents (PAdES) or documents and digests (detached
// CAdES) under a SAD (CSC API v2 §11.11). The SAM binds each document to
// the SAD by its digest; this handler only decodes.
func (s *Server) signDoc(c echo.Context, _ version) error {
	select {
	case s.docSlots <- struct{}{}:
		defer func() { <-s.docSlots }()
	default:
		return errOverloaded
	}
	b, err := s.readBodyLimit(c, s.cfg.MaxDocumentBytes)
	if err != nil {
		return err
	}
	id, sad, err := credentialAndSAD(c, b)
	if err != nil {
		return err
	}
	docs, err := decodeSignDocEntries(b)
	if err != nil {
		return err
	}
	mode, err := b.optionalString("operationMode")
	if err != nil || (mode != "" && mode != "S") {
		return invalidParam("operationMode")
	}
	if v, err := b.optionalBool("returnValidationInfo"); err != nil || v {
		// info says validationInfo false: B-LT and B-LTA put it in the PDF.
		return invalidParam("returnValidationInfo")
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	p := principal(c)
	signerID, err := s.actingSigner(c.Request().Context(), p, id)
	if err != nil {
		return err
	}
	out, err := s.sam.SignDoc(c.Request().Context(), sam.SignDocRequest{CredentialID: id, SignerID: signerID, ClientID: p.ClientID, SAD: sad, Documents: docs})
	if err != nil {
		return err
	}
	var resp signDocResponse
	for i, d := range out {
		enc := base64.StdEncoding.EncodeToString(d.Data)
		if d.Format == sam.FormatPAdES {
			resp.DocumentWithSignature = append(resp.DocumentWithSignature, enc)
		} else {
			resp.SignatureObject = append(resp.SignatureObject, enc)
		}
		s.metrics.signatures.WithLabelValues(docs[i].SignAlgorithm).Inc()
	}
	return c.JSON(http.StatusOK, resp)
}

// decodeSignDocEntries reads exactly one of documents and documentDigests;
// every digest of a documentDigests entry is one signature.
func decodeSignDocEntries(b body) ([]sam.DocumentToSign, error) {
	hasDocs, hasDigests := b.present("documents"), b.present("documentDigests")
	switch {
	case hasDocs && hasDigests:
		return nil, invalid("Both documentDigests and documents parameters passed")
	case !hasDocs && !hasDigests:
		return nil, invalid("Empty documentDigests and documents objects")
	}
	name := "documents"
	if hasDigests {
		name = "documentDigests"
	}
	bad := invalid("Invalid array parameter documents")
	if hasDigests {
		bad = invalid("Invalid object parameter documentDigests")
	}
	var entries []signDocEntry
	if err := json.Unmarshal(b[name], &entries); err != nil {
		return nil, bad
	}
	if len(entries) == 0 {
		return nil, invalid("Empty documentDigests and documents objects")
	}
	var out []sam.DocumentToSign
	for _, e := range entries {
		d, err := e.common()
		if err != nil {
			return nil, err
		}
		if !hasDigests {
			if e.Document == nil || e.Hashes != nil {
				return nil, bad
			}
			content, err := sam.DecodeBase64(*e.Document)
			if err != nil || len(content) == 0 {
				return nil, bad
			}
			d.Content = content
			out = append(out, d)
			continue
		}
		if e.Document != nil || len(e.Hashes) == 0 || e.HashAlgorithmOID == "" {
			return nil, bad
		}
		for _, h := range e.Hashes {
			digest, err := sam.DecodeBase64(h)
			if err != nil || len(digest) == 0 {
				return nil, invalid("Invalid Base64 hash string parameter")
			}
			d.Digest, d.DigestAlgorithm = digest, e.HashAlgorithmOID
			out = append(out, d)
		}
	}
	if len(out) > sam.MaxDocuments {
		return nil, invalid("Too many documents")
	}
	return out, nil
}

// common decodes what documents and documentDigests entries share.
func (e signDocEntry) common() (sam.DocumentToSign, error) {
	d := sam.DocumentToSign{SignAlgorithm: e.SignAlgo}
	switch e.SignatureFormat {
	case "P":
		d.Format = sam.FormatPAdES
	case "C":
		d.Format = sam.FormatCAdES
	default:
		return d, invalidParam("signature_format")
	}
	level, ok := parseLevel(e.ConformanceLevel)
	if !ok {
		return d, invalidParam("conformance_level")
	}
	d.Level = level
	if d.SignAlgorithm == "" {
		return d, missingString("signAlgo")
	}
	if e.SignAlgoParams != "" {
		p, err := sam.DecodeBase64(e.SignAlgoParams)
		if err != nil {
			return d, invalidParam("signAlgoParams")
		}
		d.SignAlgoParams = p
	}
	d.Envelope = e.SignedEnvelopeProperty
	for _, a := range e.SignedProps {
		if d.Format != sam.FormatPAdES || len(a.Value) > 255 {
			return d, invalidParam("signed_props")
		}
		if !setSignedProp(&d.Info, a) {
			return d, invalidParam("signed_props")
		}
	}
	return d, nil
}

// setSignedProp sets one PAdES signature dictionary entry.
func setSignedProp(info *pades.SignatureInfo, a signedAttribute) bool {
	switch a.Name {
	case "Name":
		info.Name = a.Value
	case "Location":
		info.Location = a.Value
	case "Reason":
		info.Reason = a.Value
	case "ContactInfo":
		info.ContactInfo = a.Value
	default:
		return false
	}
	return true
}

// parseLevel reads a CSC conformance_level, whatever its case (clients send
// "Ades-B-B", "AdES-B-B" and "ADES-B-B"); absent means B-B. The
// non-baseline names (Ades-B, Ades-T, …) are read as their baseline level.
func parseLevel(s string) (sam.Level, bool) {
	switch strings.ToUpper(s) {
	case "", "ADES-B-B", "ADES-B":
		return sam.LevelB, true
	case "ADES-B-T", "ADES-T":
		return sam.LevelT, true
	case "ADES-B-LT", "ADES-LT":
		return sam.LevelLT, true
	case "ADES-B-LTA", "ADES-LTA":
		return sam.LevelLTA, true
	}
	return "", false
}
