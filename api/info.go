package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/sam"
)

// Specification versions reported by info.
const (
	specsV1 = "1.0.4.0"
	specsV2 = "2.0.0.2"
)

type infoV1 struct {
	Specs       string   `json:"specs"`
	Name        string   `json:"name"`
	Logo        string   `json:"logo"`
	Region      string   `json:"region"`
	Lang        string   `json:"lang"`
	Description string   `json:"description"`
	AuthType    []string `json:"authType"`
	OAuth2      string   `json:"oauth2,omitempty"`
	Methods     []string `json:"methods"`
}

type infoV2 struct {
	infoV1
	AsynchronousOperationMode bool             `json:"asynchronousOperationMode"`
	ValidationInfo            bool             `json:"validationInfo"`
	SignAlgorithms            signAlgorithms   `json:"signAlgorithms"`
	SignatureFormats          signatureFormats `json:"signature_formats"`
	ConformanceLevels         []string         `json:"conformance_levels"`
}

type signAlgorithms struct {
	Algos []string `json:"algos"`
}

type signatureFormats struct {
	Formats            []string   `json:"formats"`
	EnvelopeProperties [][]string `json:"envelope_properties"`
}

// allSignAlgorithms is every signature algorithm some credential may offer.
var allSignAlgorithms = []string{
	sam.OIDRSAEncryption, sam.OIDSHA256WithRSA, sam.OIDSHA384WithRSA, sam.OIDSHA512WithRSA, sam.OIDRSAPSS,
	sam.OIDECPublicKey, sam.OIDECDSAWithSHA256, sam.OIDECDSAWithSHA384, sam.OIDECDSAWithSHA512,
}

// info describes the service (CSC API §11.1). It answers GET too, as some
// deployed clients use it. The optional lang input is accepted; we answer in
// the one language we have.
func (s *Server) info(c echo.Context, v version) error {
	if c.Request().Method == http.MethodPost {
		b, err := s.readBody(c)
		if err != nil {
			return err
		}
		if _, err := b.optionalString("lang"); err != nil {
			return err
		}
	}
	base := infoV1{
		Specs: specsV1, Name: s.cfg.Service.Name, Logo: s.cfg.Service.Logo, Region: s.cfg.Service.Region,
		Lang: s.cfg.Service.Lang, Description: s.cfg.Service.Description,
		AuthType: []string{"basic"}, Methods: methodNames(v),
	}
	if s.oauth != nil {
		// Exactly one of oauth2 and oauth2Issuer: clients derive the
		// endpoints from oauth2 (<oauth2>/oauth2/token).
		base.AuthType = append(base.AuthType, "oauth2code", "oauth2client")
		base.OAuth2 = s.cfg.OAuth2URL
	}
	if v == v1 {
		return c.JSON(http.StatusOK, base)
	}
	base.Specs = specsV2
	return c.JSON(http.StatusOK, infoV2{
		infoV1:            base,
		SignAlgorithms:    signAlgorithms{Algos: allSignAlgorithms},
		SignatureFormats:  signDocFormats,
		ConformanceLevels: s.conformanceLevels(),
	})
}

// signDocFormats are what signatures/signDoc produces: detached CAdES, and
// PAdES as a certification or an approval signature.
var signDocFormats = signatureFormats{Formats: []string{"C", "P"},
	EnvelopeProperties: [][]string{{"Detached"}, {"Certification", "Revision"}}}

// conformanceLevels are the levels signDoc offers: a timestamp needs a
// timestamp authority, and the long-term levels the development CA's
// revocation data (signDoc refuses them for certificates of other CAs).
func (s *Server) conformanceLevels() []string {
	levels := []string{"Ades-B-B"}
	if s.tsa != nil {
		levels = append(levels, "Ades-B-T")
		if s.revo != nil {
			levels = append(levels, "Ades-B-LT", "Ades-B-LTA")
		}
	}
	return levels
}
