package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// infoOpts are the credentials/info (or credentials/list) options a
// response was produced with.
type infoOpts struct {
	certificates string // "" (the default, single), "none", "single" or "chain"
	certInfo     bool
	authInfo     bool
}

// credInfo is what the suite needs from credentials/info.
type credInfo struct {
	multisign int
	algos     []string
	chain     []*x509.Certificate
	pub       crypto.PublicKey // the leaf certificate's key
}

// requiredAlgos are the signAlgo OIDs a credential must advertise: the ones
// the suite signs with (combined OIDs, which some clients require, and the
// bare key algorithm).
func requiredAlgos(spec keySpec) []string {
	if spec.rsa {
		return []string{oidSHA256WithRSA, oidRSAPSS, oidRSAEncryption}
	}
	return []string{oidECDSAWithSHA256, oidECPublicKey}
}

var generalizedTime = regexp.MustCompile(`^[0-9]{14}Z$`)

// fullInfo asks for everything about cred and checks it.
func (vs *vsuite) fullInfo(t testing.TB, tok string, cred Credential) *credInfo {
	t.Helper()
	o := infoOpts{certificates: "chain", certInfo: true, authInfo: true}
	r := vs.post(t, "credentials/info", bearer(tok), map[string]any{
		"credentialID": cred.ID, "certificates": o.certificates, "certInfo": true, "authInfo": true,
	})
	ci := vs.checkCredInfo(t, cred, expectOK(t, r), o)
	if ci.pub == nil {
		t.Fatalf("credentials/info gave no usable certificate for %s", cred.ID)
	}
	return ci
}

// checkCredInfo checks a credentials/info object (or a credentialInfos
// entry) of cred against the contract and returns what it found. Problems
// are reported with t.Errorf.
func (vs *vsuite) checkCredInfo(t testing.TB, cred Credential, m map[string]any, o infoOpts) *credInfo {
	t.Helper()
	spec := keyAlgorithms[cred.KeyAlgorithm]
	ci := &credInfo{}

	// key
	key, ok := getObject(m, "key")
	if !ok {
		t.Errorf("%s: no key object", cred.ID)
		key = map[string]any{}
	}
	if st, _ := getString(key, "status"); st != "enabled" {
		t.Errorf("%s: key.status %q, want \"enabled\"", cred.ID, st)
	}
	algos, ok := getStrings(key, "algo")
	if !ok || len(algos) == 0 {
		t.Errorf("%s: key.algo must be a non-empty array of OID strings, got %v", cred.ID, key["algo"])
	}
	ci.algos = algos
	for _, want := range requiredAlgos(spec) {
		if !slices.Contains(algos, want) {
			t.Errorf("%s: key.algo %v lacks %s", cred.ID, algos, want)
		}
	}
	if n, ok := getInt(key, "len"); !ok || int(n) != spec.bits {
		t.Errorf("%s: key.len %v, want %d", cred.ID, key["len"], spec.bits)
	}
	if spec.rsa {
		if _, present := key["curve"]; present {
			t.Errorf("%s: key.curve present on an RSA key", cred.ID)
		}
	} else if c, _ := getString(key, "curve"); c != spec.curveOID {
		t.Errorf("%s: key.curve %q, want %s", cred.ID, c, spec.curveOID)
	}

	// cert
	cert, ok := getObject(m, "cert")
	if !ok {
		t.Errorf("%s: no cert object", cred.ID)
		cert = map[string]any{}
	}
	if st, present := cert["status"]; present && st != "valid" {
		t.Errorf("%s: cert.status %v, want \"valid\"", cred.ID, st)
	}
	_, hasCerts := cert["certificates"]
	switch {
	case o.certificates == "none":
		if hasCerts {
			t.Errorf("%s: cert.certificates present with certificates=none", cred.ID)
		}
	case !hasCerts:
		t.Errorf("%s: no cert.certificates (certificates=%q)", cred.ID, o.certificates)
	default:
		ci.chain = vs.parseChain(t, cred, cert, o.certificates)
	}
	if len(ci.chain) > 0 {
		ci.pub = ci.chain[0].PublicKey
		checkKeyMatches(t, cred, spec, ci.chain[0].PublicKey)
	}
	certInfoMembers := []string{"issuerDN", "subjectDN", "serialNumber", "validFrom", "validTo"}
	if o.certInfo {
		for _, k := range certInfoMembers {
			if s, _ := getString(cert, k); s == "" {
				t.Errorf("%s: cert.%s missing with certInfo=true", cred.ID, k)
			}
		}
		for _, k := range []string{"validFrom", "validTo"} {
			if s, ok := getString(cert, k); ok && !generalizedTime.MatchString(s) {
				t.Errorf("%s: cert.%s %q is not GeneralizedTime YYYYMMDDHHMMSSZ", cred.ID, k, s)
			}
		}
		if len(ci.chain) > 0 {
			leaf := ci.chain[0]
			if s, _ := getString(cert, "validFrom"); s != "" && s != genTime(leaf.NotBefore) {
				t.Errorf("%s: cert.validFrom %q, certificate says %s", cred.ID, s, genTime(leaf.NotBefore))
			}
			if s, _ := getString(cert, "validTo"); s != "" && s != genTime(leaf.NotAfter) {
				t.Errorf("%s: cert.validTo %q, certificate says %s", cred.ID, s, genTime(leaf.NotAfter))
			}
			if s, _ := getString(cert, "serialNumber"); s != "" {
				n, ok := new(big.Int).SetString(s, 16)
				if !ok || n.Cmp(leaf.SerialNumber) != 0 {
					t.Errorf("%s: cert.serialNumber %q is not the certificate's serial in hex (%x)", cred.ID, s, leaf.SerialNumber)
				}
			}
			if cn := leaf.Subject.CommonName; cn != "" {
				if s, _ := getString(cert, "subjectDN"); s != "" && !strings.Contains(s, cn) {
					t.Errorf("%s: cert.subjectDN %q does not name the certificate's CN %q", cred.ID, s, cn)
				}
			}
		}
	} else {
		for _, k := range certInfoMembers {
			if _, present := cert[k]; present {
				t.Errorf("%s: cert.%s present without certInfo=true", cred.ID, k)
			}
		}
	}

	// SCAL, multisign
	switch v := m["SCAL"].(type) {
	case string:
		if v != "2" {
			t.Errorf("%s: SCAL %q, want \"2\"", cred.ID, v)
		}
	default:
		t.Errorf("%s: SCAL %v, want the string \"2\"", cred.ID, m["SCAL"])
	}
	if n, ok := getInt(m, "multisign"); !ok || n < 1 {
		t.Errorf("%s: multisign %v, want an integer ≥ 1", cred.ID, m["multisign"])
	} else {
		ci.multisign = int(n)
	}
	if d, present := m["description"]; present {
		if _, ok := d.(string); !ok {
			t.Errorf("%s: description is not a string", cred.ID)
		}
	}

	// authorization
	if vs.v.v1() {
		vs.checkAuthV1(t, cred, m, o)
	} else {
		vs.checkAuthV2(t, cred, m, o)
	}
	return ci
}

func (vs *vsuite) checkAuthV2(t testing.TB, cred Credential, m map[string]any, o infoOpts) {
	t.Helper()
	if _, present := m["authMode"]; present {
		t.Errorf("%s: v2 credentials/info has the v1 member authMode", cred.ID)
	}
	auth, ok := getObject(m, "auth")
	if !ok {
		t.Errorf("%s: no auth object", cred.ID)
		return
	}
	if mode, _ := getString(auth, "mode"); mode != "explicit" {
		t.Errorf("%s: auth.mode %q, want \"explicit\"", cred.ID, mode)
	}
	wantExpr := "PIN AND OTP"
	if vs.me.Phone != "" {
		wantExpr = "PIN AND (OTP OR SMS)"
	}
	if e, present := auth["expression"]; present && e != wantExpr {
		t.Errorf("%s: auth.expression %v, want %q", cred.ID, e, wantExpr)
	}
	if !o.authInfo {
		return
	}
	objs, ok := getArray(auth, "objects")
	if !ok {
		t.Errorf("%s: no auth.objects with authInfo=true", cred.ID)
		return
	}
	found := map[string]map[string]any{}
	for _, x := range objs {
		if obj, ok := x.(map[string]any); ok {
			if id, _ := getString(obj, "id"); id != "" {
				found[id] = obj
			}
		}
	}
	wants := []struct{ id, typ, format, generator string }{{"PIN", "Password", "A", ""}, {"OTP", "Password", "N", "totp"}}
	if vs.me.Phone != "" {
		wants = append(wants, struct{ id, typ, format, generator string }{"SMS", "ChallengeResponse", "N", ""})
	}
	for _, want := range wants {
		obj, ok := found[want.id]
		if !ok {
			t.Errorf("%s: auth.objects has no %s object: %v", cred.ID, want.id, objs)
			continue
		}
		if typ, _ := getString(obj, "type"); typ != want.typ {
			t.Errorf("%s: auth object %s has type %q, want %s", cred.ID, want.id, typ, want.typ)
		}
		if f, _ := getString(obj, "format"); f != want.format {
			t.Errorf("%s: auth object %s has format %q, want %q", cred.ID, want.id, f, want.format)
		}
		if g, _ := getString(obj, "generator"); g != want.generator {
			t.Errorf("%s: auth object %s has generator %q, want %q", cred.ID, want.id, g, want.generator)
		}
	}
}

func (vs *vsuite) checkAuthV1(t testing.TB, cred Credential, m map[string]any, o infoOpts) {
	t.Helper()
	if _, present := m["auth"]; present {
		t.Errorf("%s: v1 credentials/info has the v2 member auth", cred.ID)
	}
	if mode, _ := getString(m, "authMode"); mode != "explicit" {
		t.Errorf("%s: authMode %q, want \"explicit\"", cred.ID, mode)
	}
	if !o.authInfo {
		return
	}
	pin, ok := getObject(m, "PIN")
	if !ok {
		t.Errorf("%s: no PIN object for an explicit credential", cred.ID)
	} else {
		if p, _ := getString(pin, "presence"); p != "true" {
			t.Errorf("%s: PIN.presence %v, want the string \"true\"", cred.ID, pin["presence"])
		}
		if f, _ := getString(pin, "format"); f != "A" {
			t.Errorf("%s: PIN.format %q, want \"A\"", cred.ID, f)
		}
	}
	otp, ok := getObject(m, "OTP")
	if !ok {
		t.Errorf("%s: no OTP object for a SCAL 2 credential", cred.ID)
		return
	}
	for k, want := range map[string]string{"presence": "true", "type": "offline", "format": "N", "provider": "totp"} {
		if v, _ := getString(otp, k); v != want {
			t.Errorf("%s: OTP.%s %v, want %q", cred.ID, k, otp[k], want)
		}
	}
}

// parseChain decodes cert.certificates and checks it is leaf first, each
// certificate signed by the next.
func (vs *vsuite) parseChain(t testing.TB, cred Credential, cert map[string]any, mode string) []*x509.Certificate {
	t.Helper()
	ders, ok := getStrings(cert, "certificates")
	if !ok || len(ders) == 0 {
		t.Errorf("%s: cert.certificates must be a non-empty array of base64 strings, got %v", cred.ID, cert["certificates"])
		return nil
	}
	if (mode == "" || mode == "single") && len(ders) != 1 {
		t.Errorf("%s: %d certificates with certificates=%q, want 1 (the end-entity certificate)", cred.ID, len(ders), mode)
	}
	var chain []*x509.Certificate
	for i, s := range ders {
		der, err := decodeStdBase64(s)
		if err != nil {
			t.Errorf("%s: certificate %d is not standard padded base64: %v", cred.ID, i, err)
			return nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Errorf("%s: certificate %d does not parse: %v", cred.ID, i, err)
			return nil
		}
		chain = append(chain, c)
	}
	if len(chain) > 1 && chain[0].IsCA {
		t.Errorf("%s: the first certificate is a CA certificate; the end-entity certificate must come first", cred.ID)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			t.Errorf("%s: certificate %d is not signed by certificate %d (want leaf first, then its issuers): %v", cred.ID, i, i+1, err)
		}
	}
	return chain
}

// checkKeyMatches checks that the certificate's key is the promised kind.
func checkKeyMatches(t testing.TB, cred Credential, spec keySpec, pub crypto.PublicKey) {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if !spec.rsa || k.N.BitLen() != spec.bits {
			t.Errorf("%s: certificate has an RSA-%d key, want %s", cred.ID, k.N.BitLen(), cred.KeyAlgorithm)
		}
	case *ecdsa.PublicKey:
		if spec.rsa || k.Curve != spec.curve {
			t.Errorf("%s: certificate has an EC %s key, want %s", cred.ID, k.Curve.Params().Name, cred.KeyAlgorithm)
		}
	default:
		t.Errorf("%s: certificate has a %T key, want %s", cred.ID, pub, cred.KeyAlgorithm)
	}
}

func genTime(t time.Time) string { return t.UTC().Format("20060102150405") + "Z" }
