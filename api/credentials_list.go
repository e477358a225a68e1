package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/store"
)

type listV1Response struct {
	CredentialIDs []string `json:"credentialIDs"`
	NextPageToken string   `json:"nextPageToken,omitempty"`
}

type listV2Response struct {
	CredentialIDs   []string           `json:"credentialIDs"`
	CredentialInfos []credentialInfoV2 `json:"credentialInfos,omitempty"`
	OnlyValid       bool               `json:"onlyValid,omitempty"`
}

// credentialsList lists the caller's own credentials (CSC API §11.4). Service
// tokens here are always user-specific, so userID must be absent.
func (s *Server) credentialsList(c echo.Context, v version) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	signerID := principal(c).SignerID
	switch {
	case signerID != "" && b.present("userID"):
		return invalid("userID parameter MUST be null")
	case signerID == "":
		// A client token names no user: the user is named here.
		userID, err := b.requiredString("userID")
		if err != nil {
			return err
		}
		sg, err := s.db.SignerByUsername(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return invalidParam("userID")
		}
		if err != nil {
			return err
		}
		signerID = sg.ID
	}
	if _, err := b.optionalString("clientData"); err != nil {
		return err
	}
	creds, err := s.db.CredentialsOf(ctx, signerID)
	if err != nil {
		return err
	}
	if v == v1 {
		return s.listV1(c, b, creds)
	}
	withInfo, err := b.optionalBool("credentialInfo")
	if err != nil {
		return err
	}
	opts, err := readInfoOptions(b)
	if err != nil {
		return err
	}
	onlyValid, err := b.optionalBool("onlyValid")
	if err != nil {
		return err
	}
	lang, err := b.optionalString("lang")
	if err != nil {
		return err
	}
	out := listV2Response{CredentialIDs: []string{}, OnlyValid: onlyValid}
	for i := range creds {
		cred := &creds[i]
		vw, err := s.credentialView(ctx, cred, opts)
		if err != nil {
			return err
		}
		if onlyValid && (cred.Status != store.StatusActive || vw.cert.Status != "valid") {
			continue
		}
		out.CredentialIDs = append(out.CredentialIDs, cred.ID)
		if withInfo {
			info := vw.v2(lang)
			info.CredentialID = cred.ID
			out.CredentialInfos = append(out.CredentialInfos, info)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// listV1 pages through the credentials: pageToken is the offset of the next
// page, as a decimal string.
func (s *Server) listV1(c echo.Context, b body, creds []store.Credential) error {
	maxResults := len(creds)
	if n, ok, err := b.integer("maxResults"); err != nil || (ok && n < 1) {
		return invalidParam("maxResults")
	} else if ok && n < maxResults {
		maxResults = n
	}
	start := 0
	pt, err := b.optionalString("pageToken")
	if err != nil {
		return invalidParam("pageToken")
	}
	if pt != "" {
		start, err = strconv.Atoi(pt)
		if err != nil || start < 0 || start > len(creds) || strconv.Itoa(start) != pt {
			return invalidParam("pageToken")
		}
	}
	out := listV1Response{CredentialIDs: []string{}}
	end := min(start+maxResults, len(creds))
	for _, cred := range creds[start:end] {
		out.CredentialIDs = append(out.CredentialIDs, cred.ID)
	}
	if end < len(creds) {
		out.NextPageToken = strconv.Itoa(end)
	}
	return c.JSON(http.StatusOK, out)
}
