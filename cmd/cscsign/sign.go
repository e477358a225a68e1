package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openrssp/rssp/sam/pades"
)

const (
	// maxPDF bounds the document read into memory.
	maxPDF = 512 << 20
	// timestampBound is the room reserved for a signature timestamp token.
	timestampBound = 16 << 10
)

// httpClient trusts the CA certificates of cacert (PEM) for TLS, or the
// system's when cacert is empty.
func httpClient(cacert string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the signing service is addressed directly
	if cacert != "" {
		pemBytes, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("-cacert: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("-cacert %s: no PEM certificate in it", cacert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

func readPDF(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := io.ReadAll(io.LimitReader(f, maxPDF+1))
	if err != nil {
		return nil, err
	}
	if len(doc) > maxPDF {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxPDF>>20)
	}
	return doc, nil
}

// writeFile writes data to path through a temporary file in the same
// directory, so that path appears only complete.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cscsign-*.pdf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sign does the whole job: log in, choose the credential, build the PAdES
// signature around one server signature, write the file.
func (a *app) sign(ctx context.Context, o *options) error {
	h, hashOID, _ := hashByName(o.hash)
	doc, err := readPDF(o.in)
	if err != nil {
		return err
	}
	hc, err := httpClient(o.cacert, o.timeout)
	if err != nil {
		return err
	}
	c := &cscClient{base: o.server, api: o.api, http: hc}
	si, err := c.info(ctx)
	if err != nil {
		return err
	}

	a.step("logging in")
	var oc *oauthClient
	oauthClientFor := func() (*oauthClient, error) {
		if oc != nil {
			return oc, nil
		}
		ep, err := discoverOAuth(ctx, hc, si)
		if err != nil {
			return nil, err
		}
		oc = &oauthClient{http: hc, ep: ep, id: o.clientID, secret: o.clientSecret, redirect: o.redirectURI, port: o.redirectPort, timeout: o.authTimeout}
		return oc, nil
	}
	userID := ""
	if o.username != "" {
		password, err := a.secret("CSCSIGN_PASSWORD", "password for "+o.username)
		if err != nil {
			return err
		}
		if err := c.login(ctx, o.username, password); err != nil {
			return err
		}
	} else {
		oc, err := oauthClientFor()
		if err != nil {
			return err
		}
		if c.token, err = oc.clientCredentials(ctx); err != nil {
			return err
		}
		userID = o.userID
	}

	a.step("choosing credential")
	cr, err := a.chooseCredential(ctx, c, o.credential, userID)
	if err != nil {
		return err
	}
	flow := o.flow
	if flow == "" {
		flow = "explicit"
		if cr.AuthMode == "oauth2code" {
			flow = "oauth"
		}
	}
	if flow == "oauth" {
		if o.clientID == "" {
			return fmt.Errorf("credential %s is authorized in the browser (OAuth 2.0): give -client-id (and -client-secret)", cr.ID)
		}
		if c.v1() {
			return errors.New("-flow oauth needs -api v2 (CSC v1 has no credential scope)")
		}
		if _, err := oauthClientFor(); err != nil {
			return err
		}
	}
	leaf := cr.Chain[0]
	scheme, signAlgo, params, err := signAlgorithm(leaf.PublicKey, h, o.pss)
	if err != nil {
		return err
	}
	longTerm := o.level == "B-LT" || o.level == "B-LTA"
	var v *validator
	if longTerm {
		v = &validator{http: hc, now: time.Now, warn: func(f string, args ...any) { a.step("warning: "+f, args...) }}
	}
	co := pades.CMSOptions{Chain: cr.Chain, Hash: h, Scheme: scheme}
	// stepErr keeps the error of a callback, which pades wraps, so that
	// the user sees the server's words first.
	var stepErr error
	// co.Sign is called once pades.Sign has placed the signature field
	// (and checked a -visible box), and is the first irreversible step.
	co.Sign = func(digest []byte) (sig []byte, err error) {
		defer func() { stepErr = err }()
		if v != nil {
			// A revoked certificate, or one without revocation data,
			// is refused before the signer is asked to approve.
			a.step("checking the certificates' revocation status")
			if err := v.chain(ctx, cr.Chain); err != nil {
				return nil, err
			}
		}
		a.step("authorizing 1 signature")
		var sad, bearer string
		if flow == "oauth" {
			bearer, err = oc.credentialToken(ctx, codeRequest{credentialID: cr.ID, hashes: [][]byte{digest}, hashOID: hashOID,
				show: func(u string) {
					fmt.Fprintf(a.stderr, "approve the signature in your browser:\n  %s\n", u)
				},
				open: a.opener(o.noBrowser)})
		} else {
			sad, err = a.explicitSAD(ctx, c, cr, digest, hashOID, o.sms)
		}
		if err != nil {
			return nil, err
		}
		a.step("signing")
		sigs, err := c.signHash(ctx, cr.ID, sad, bearer, [][]byte{digest}, hashOID, signAlgo, params)
		if err != nil {
			return nil, err
		}
		return sigs[0], nil // BuildCMS verifies it with the certificate's key
	}
	var tsa *pades.TSAClient
	var sigToken []byte // the signature timestamp token
	if o.level != "B-B" {
		tsaURL := o.tsa
		if tsaURL == "" {
			tsaURL = o.server + "/tsa"
		}
		tsa = &pades.TSAClient{URL: tsaURL, HTTP: hc}
		co.Timestamp = pades.SignatureTimestamp(h, func(h crypto.Hash, d []byte) (token []byte, err error) {
			a.step("timestamping")
			token, err = tsa.Stamp(ctx, h, d)
			stepErr = err
			sigToken = token
			return token, err
		})
	}
	reserve, err := pades.MaxCMSSize(co, timestampBound)
	if err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = leaf.Subject.CommonName
	}
	// pades.Sign places the visible signature before it calls CMS, so a
	// box that does not fit fails here before anything is fetched or
	// authorized.
	signed, err := pades.Sign(doc, pades.Options{Hash: h, Reserve: reserve, Certification: o.certify,
		Info:       pades.SignatureInfo{Name: name, Location: o.location, Reason: o.reason, ContactInfo: o.contact},
		Appearance: o.appearance,
		CMS:        func(d []byte) ([]byte, error) { return pades.BuildCMS(d, co) }})
	if err != nil {
		if stepErr != nil {
			return stepErr
		}
		if errors.Is(err, pades.ErrAppearance) {
			return fmt.Errorf("-visible %s: %w", o.visible, err)
		}
		return err
	}
	if longTerm {
		a.step("adding validation data")
		if err := v.timestampToken(ctx, sigToken); err != nil {
			return err
		}
		if signed, err = pades.AddDSS(signed, v.data); err != nil {
			return err
		}
	}
	if o.level == "B-LTA" {
		a.step("timestamping the document")
		signed, err = pades.AddDocumentTimestamp(signed, pades.DocTimestampOptions{Hash: h, Reserve: docTimestampReserve(sigToken),
			Stamp: func(h crypto.Hash, d []byte) ([]byte, error) { return tsa.Stamp(ctx, h, d) }})
		if err != nil {
			return err
		}
	}
	a.step("writing %s", o.out)
	return writeFile(o.out, signed)
}

// docTimestampReserve is the room for a document timestamp token from the
// TSA that issued sigToken: that token's size with room to spare for a
// longer serial number or nonce, and never more than timestampBound (the
// bound the signature's own token had to fit in).
func docTimestampReserve(sigToken []byte) int {
	return min(len(sigToken)+2048, timestampBound)
}

// opener returns how the authorization URL is opened: not at all with
// -no-browser, else with the app's browser opener, whose failure is shown
// (the URL is printed anyway).
func (a *app) opener(noBrowser bool) func(string) {
	if noBrowser || a.openBrowser == nil {
		return nil
	}
	return func(u string) {
		if err := a.openBrowser(u); err != nil {
			fmt.Fprintf(a.stderr, "could not open a browser (%v): open the URL above yourself\n", err)
		}
	}
}

// chooseCredential is the credential of -credential, or the only one the
// user has, or the one chosen at a numbered prompt.
func (a *app) chooseCredential(ctx context.Context, c *cscClient, id, userID string) (*credential, error) {
	if id != "" {
		return c.credentialInfo(ctx, id)
	}
	ids, err := c.list(ctx, userID)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		return nil, errors.New("credentials/list: the user has no credential")
	case 1:
		return c.credentialInfo(ctx, ids[0])
	}
	creds := make([]*credential, len(ids))
	for i, id := range ids {
		if creds[i], err = c.credentialInfo(ctx, id); err != nil {
			return nil, err
		}
		leaf := creds[i].Chain[0]
		fmt.Fprintf(a.stderr, "  %d) %s  %s  %s, valid until %s\n", i+1, id, creds[i].Description, leaf.Subject.CommonName, leaf.NotAfter.Format(time.DateOnly))
	}
	i, err := a.choose(len(ids))
	if err != nil {
		return nil, err
	}
	return creds[i], nil
}
