package conformance

// A minimal in-memory CSC server written from the contract, with an
// injected clock. It exists only to run the suite end to end in this
// package's own tests; it is not a reference implementation.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeUser struct {
	name, password, pin string
	seed                []byte
	usedSteps           map[int64]bool
	pinFail, otpFail    int
}

type fakeCred struct {
	id, owner, alg string
	spec           keySpec
	key            crypto.Signer
	chain          []*x509.Certificate
	multisign      int
}

type fakeLogin struct{ revoked bool }

type fakeAccess struct {
	user    string
	login   *fakeLogin
	expires time.Time
	revoked bool
}

type fakeRefresh struct {
	user  string
	login *fakeLogin
	spent bool
}

type fakeSAD struct {
	cred, user string
	hashAlg    crypto.Hash
	hashes     [][]byte
	used       []bool
	remaining  int
	expires    time.Time
	dead       bool
}

type fakeCSC struct {
	mu          sync.Mutex
	now         time.Time
	users       map[string]*fakeUser
	creds       map[string]*fakeCred
	access      map[string]*fakeAccess
	refresh     map[string]*fakeRefresh
	sads        map[string]*fakeSAD
	maxFailSeen int
	requests    int
	mutant      string // a deliberate bug, to show that the suite catches it
}

const (
	fakeSADLifetime   = 5 * time.Minute
	fakeTokenLifetime = time.Hour
)

func newFakeCSC(t *testing.T) *fakeCSC {
	f := &fakeCSC{
		now:   time.Unix(stepStart+7, 0).UTC(),
		users: map[string]*fakeUser{}, creds: map[string]*fakeCred{}, access: map[string]*fakeAccess{},
		refresh: map[string]*fakeRefresh{}, sads: map[string]*fakeSAD{},
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: f.now.Add(-time.Hour), NotAfter: f.now.Add(10 * 24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	serial := int64(0x1f00)
	addCred := func(owner, id, alg string) {
		spec := keyAlgorithms[alg]
		var key crypto.Signer
		if spec.rsa {
			key, err = rsa.GenerateKey(rand.Reader, spec.bits)
		} else {
			key, err = ecdsa.GenerateKey(spec.curve, rand.Reader)
		}
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: owner + " " + id},
			NotBefore: f.now.Add(-time.Hour).Truncate(time.Second), NotAfter: f.now.Add(5 * 24 * time.Hour).Truncate(time.Second),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		f.creds[id] = &fakeCred{id: id, owner: owner, alg: alg, spec: spec, key: key, chain: []*x509.Certificate{leaf, ca}, multisign: 10}
	}
	f.users["alice"] = &fakeUser{name: "alice", password: "alice-pw", pin: "123456", seed: []byte("alice-seed-0123456789"), usedSteps: map[int64]bool{}}
	f.users["bob"] = &fakeUser{name: "bob", password: "bob-pw", pin: "654321", seed: []byte("bob-seed-0123456789ab"), usedSteps: map[int64]bool{}}
	addCred("alice", "alice-rsa", "RSA-2048")
	addCred("alice", "alice-ec", "EC-P256")
	addCred("bob", "bob-ec", "EC-P384")
	return f
}

func (f *fakeCSC) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeCSC) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeCSC) account(base, user string) Account {
	u := f.users[user]
	a := Account{BaseURL: base, Username: u.name, Password: u.password, PIN: u.pin,
		TOTPSecret: strings.TrimRight(base32NoPad(u.seed), "=")}
	var ids []string
	for id, c := range f.creds {
		if c.owner == user {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		a.Credentials = append(a.Credentials, Credential{ID: id, KeyAlgorithm: f.creds[id].alg})
	}
	return a
}

// ---- HTTP plumbing ----

type fakeErr struct {
	status     int
	code, desc string
}

func bad(desc string) *fakeErr { return &fakeErr{400, "invalid_request", desc} }

type fakeReq struct {
	v    string // v1 or v2
	r    *http.Request
	body map[string]any
	user string // from the Bearer token
}

func (q *fakeReq) v1() bool { return q.v == "v1" }
func (q *fakeReq) hashes() string {
	if q.v1() {
		return "hash"
	}
	return "hashes"
}
func (q *fakeReq) hashAlgo() string {
	if q.v1() {
		return "hashAlgo"
	}
	return "hashAlgorithmOID"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeCSC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	res, err := f.serve(r)
	if err != nil {
		writeJSON(w, err.status, map[string]string{"error": err.code, "error_description": err.desc})
		return
	}
	if res == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (f *fakeCSC) serve(r *http.Request) (any, *fakeErr) {
	v, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/csc/"), "/")
	handlers := map[string]func(*fakeReq) (any, *fakeErr){
		"info": f.info, "auth/login": f.login, "auth/revoke": f.revoke, "credentials/list": f.list,
		"credentials/info": f.credInfo, "credentials/authorize": f.authorize,
		"credentials/extendTransaction": f.extend, "signatures/signHash": f.signHash,
	}
	h := handlers[method]
	if !ok || (v != "v1" && v != "v2") || !strings.HasPrefix(r.URL.Path, "/csc/") || h == nil {
		return nil, &fakeErr{404, "invalid_request", "Unknown method"}
	}
	if r.Method != http.MethodPost && !(method == "info" && r.Method == http.MethodGet) {
		return nil, &fakeErr{405, "invalid_request", "Method not allowed"}
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if len(raw) > 1<<20 {
		return nil, &fakeErr{413, "invalid_request", "Request body too large"}
	}
	q := &fakeReq{v: v, r: r, body: map[string]any{}}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&q.body); err != nil {
			return nil, bad("Invalid JSON body")
		}
	}
	for k, v := range q.body { // JSON null = absent
		if v == nil && f.mutant != "null_is_not_absent" {
			delete(q.body, k)
		}
	}
	if method != "info" && method != "auth/login" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a := f.access[tok]
		switch {
		case !ok || a == nil || a.revoked || a.login.revoked:
			return nil, &fakeErr{401, "invalid_token", descInvalidToken}
		case !f.now.Before(a.expires):
			return nil, &fakeErr{401, "expired_token", descExpiredToken}
		}
		q.user = a.user
	}
	return h(q)
}

func (q *fakeReq) str(k string) (string, *fakeErr) {
	s, ok := q.body[k].(string)
	if !ok {
		return "", bad("Missing (or invalid type) string parameter " + k)
	}
	return s, nil
}

func decodeLenient(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

// digests decodes the hash array member; required says what to do when
// it is missing or empty.
func (q *fakeReq) digests(emptyDesc string) ([][]byte, *fakeErr) {
	arr, ok := q.body[q.hashes()].([]any)
	if !ok {
		return nil, bad("Missing (or invalid type) array parameter " + q.hashes())
	}
	if len(arr) == 0 {
		return nil, bad(emptyDesc)
	}
	var out [][]byte
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, bad("Missing (or invalid type) array parameter " + q.hashes())
		}
		b, ok := decodeLenient(s)
		if !ok {
			return nil, bad("Invalid Base64 hash string parameter")
		}
		out = append(out, b)
	}
	return out, nil
}

var fakeHashes = map[string]crypto.Hash{oidSHA256: crypto.SHA256, oidSHA384: crypto.SHA384, "2.16.840.1.101.3.4.2.3": crypto.SHA512}

func (f *fakeCSC) newToken() string { return randomToken() }

// ---- info, login, revoke ----

func (f *fakeCSC) info(q *fakeReq) (any, *fakeErr) {
	m := map[string]any{"name": "Fake RSSP", "logo": "https://example.test/logo.png", "region": "EU", "lang": "en",
		"description": "A fake", "authType": []string{"basic"}, "methods": requiredMethods}
	if q.v1() {
		m["specs"] = "1.0.4.0"
		return m, nil
	}
	m["specs"] = "2.0.0.2"
	m["asynchronousOperationMode"] = false
	m["validationInfo"] = false
	m["signAlgorithms"] = map[string]any{"algos": []string{oidRSAEncryption, oidSHA256WithRSA, oidRSAPSS, oidECPublicKey, oidECDSAWithSHA256}}
	m["signature_formats"] = map[string]any{"formats": []string{}, "envelope_properties": []any{}}
	m["conformance_levels"] = []string{}
	return m, nil
}

func (f *fakeCSC) issue(user string, login *fakeLogin, withRefresh bool) map[string]any {
	a := f.newToken()
	f.access[a] = &fakeAccess{user: user, login: login, expires: f.now.Add(fakeTokenLifetime)}
	m := map[string]any{"access_token": a, "expires_in": int(fakeTokenLifetime / time.Second)}
	if withRefresh {
		r := f.newToken()
		f.refresh[r] = &fakeRefresh{user: user, login: login}
		m["refresh_token"] = r
	}
	return m
}

func (f *fakeCSC) login(q *fakeReq) (any, *fakeErr) {
	if rt, present := q.body["refresh_token"]; present {
		s, ok := rt.(string)
		if !ok {
			return nil, bad("Invalid string parameter: refresh_token")
		}
		r := f.refresh[s]
		switch {
		case r == nil || r.login.revoked:
			return nil, bad(descBadRefresh)
		case r.spent && f.mutant != "refresh_reuse_allowed":
			r.login.revoked = true
			return nil, bad(descBadRefresh)
		}
		r.spent = true
		return f.issue(r.user, r.login, true), nil
	}
	enc, ok := strings.CutPrefix(q.r.Header.Get("Authorization"), "Basic ")
	if !ok {
		return nil, &fakeErr{401, "invalid_request", descMalformedAuth}
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, bad(descMalformedUP)
	}
	name, pass, ok := strings.Cut(string(dec), ":")
	if !ok {
		return nil, bad(descMalformedUP)
	}
	u := f.users[name]
	if u == nil || subtle.ConstantTimeCompare([]byte(u.password), []byte(pass)) != 1 {
		return nil, &fakeErr{400, "authentication_error", descAuthError}
	}
	remember, _ := q.body["rememberMe"].(bool)
	return f.issue(u.name, &fakeLogin{}, remember), nil
}

func (f *fakeCSC) revoke(q *fakeReq) (any, *fakeErr) {
	tok, err := q.str("token")
	if err != nil {
		return nil, err
	}
	hint, present := q.body["token_type_hint"]
	if present && hint != "access_token" && hint != "refresh_token" {
		return nil, bad("Invalid string parameter token_type_hint")
	}
	if a := f.access[tok]; a != nil && a.user == q.user {
		a.revoked = true
		return nil, nil
	}
	if r := f.refresh[tok]; r != nil && r.user == q.user {
		r.login.revoked = true
		return nil, nil
	}
	return nil, bad("Invalid string parameter token")
}

// ---- credentials ----

func (f *fakeCSC) owned(q *fakeReq, id string) *fakeCred {
	c := f.creds[id]
	if c == nil || c.owner != q.user {
		return nil
	}
	return c
}

func (f *fakeCSC) credentialArg(q *fakeReq) (*fakeCred, *fakeErr) {
	id, err := q.str("credentialID")
	if err != nil {
		return nil, err
	}
	c := f.owned(q, id)
	if c == nil {
		return nil, bad(descInvalidCredentialID)
	}
	return c, nil
}

func (f *fakeCSC) describe(q *fakeReq, c *fakeCred) (map[string]any, *fakeErr) {
	certs := "single"
	if v, present := q.body["certificates"]; present {
		s, _ := v.(string)
		if s != "none" && s != "single" && s != "chain" {
			return nil, bad("Invalid parameter certificates")
		}
		certs = s
	}
	certInfo, _ := q.body["certInfo"].(bool)
	algos := []string{oidRSAEncryption, oidSHA256WithRSA, oidRSAPSS}
	key := map[string]any{"status": "enabled", "len": c.spec.bits}
	if !c.spec.rsa {
		algos = []string{oidECPublicKey, oidECDSAWithSHA256}
		key["curve"] = c.spec.curveOID
	}
	key["algo"] = algos
	cert := map[string]any{"status": "valid"}
	switch certs {
	case "single":
		cert["certificates"] = []string{b64(c.chain[0].Raw)}
	case "chain":
		cert["certificates"] = []string{b64(c.chain[0].Raw), b64(c.chain[1].Raw)}
		if f.mutant == "chain_root_first" {
			cert["certificates"] = []string{b64(c.chain[1].Raw), b64(c.chain[0].Raw)}
		}
	}
	if certInfo {
		leaf := c.chain[0]
		cert["issuerDN"], cert["subjectDN"] = leaf.Issuer.String(), leaf.Subject.String()
		cert["serialNumber"] = fmt.Sprintf("%X", leaf.SerialNumber)
		cert["validFrom"], cert["validTo"] = genTime(leaf.NotBefore), genTime(leaf.NotAfter)
	}
	m := map[string]any{"key": key, "cert": cert, "SCAL": "2", "multisign": c.multisign, "description": "fake " + c.alg}
	if q.v1() {
		m["authMode"] = "explicit"
		m["PIN"] = map[string]any{"presence": "true", "format": "A", "label": "PIN", "description": "PIN"}
		m["OTP"] = map[string]any{"presence": "true", "type": "offline", "format": "N", "label": "OTP", "description": "TOTP", "provider": "totp"}
	} else {
		m["auth"] = map[string]any{"mode": "explicit", "expression": "PIN AND OTP", "objects": []any{
			map[string]any{"type": "Password", "id": "PIN", "format": "A", "label": "PIN", "description": "PIN"},
			map[string]any{"type": "Password", "id": "OTP", "format": "N", "generator": "totp", "label": "OTP", "description": "TOTP"},
		}}
	}
	return m, nil
}

func (f *fakeCSC) list(q *fakeReq) (any, *fakeErr) {
	if _, present := q.body["userID"]; present {
		return nil, bad("userID parameter MUST be null")
	}
	var ids []string
	for id, c := range f.creds {
		if c.owner == q.user || f.mutant == "list_leaks" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if q.v1() {
		start, max := 0, len(ids)
		if v, present := q.body["maxResults"]; present {
			n, ok := v.(json.Number)
			i, err := n.Int64()
			if !ok || err != nil || i < 1 {
				return nil, bad("Invalid parameter maxResults")
			}
			max = int(i)
		}
		if v, present := q.body["pageToken"]; present {
			s, _ := v.(string)
			n, err := strconv.Atoi(strings.TrimPrefix(s, "p"))
			if !strings.HasPrefix(s, "p") || err != nil || n < 0 || n > len(ids) {
				return nil, bad("Invalid parameter pageToken")
			}
			start = n
		}
		end := min(start+max, len(ids))
		m := map[string]any{"credentialIDs": ids[start:end]}
		if end < len(ids) {
			m["nextPageToken"] = "p" + strconv.Itoa(end)
		}
		return m, nil
	}
	m := map[string]any{"credentialIDs": ids}
	if b, _ := q.body["credentialInfo"].(bool); b {
		var infos []any
		for _, id := range ids {
			info, err := f.describe(q, f.creds[id])
			if err != nil {
				return nil, err
			}
			info["credentialID"] = id
			infos = append(infos, info)
		}
		m["credentialInfos"] = infos
	}
	if b, _ := q.body["onlyValid"].(bool); b {
		m["onlyValid"] = true
	}
	return m, nil
}

func (f *fakeCSC) credInfo(q *fakeReq) (any, *fakeErr) {
	c, err := f.credentialArg(q)
	if err != nil {
		return nil, err
	}
	return f.describe(q, c)
}

// ---- authorize, extend, sign ----

func (f *fakeCSC) factors(q *fakeReq) (pin, otp string, err *fakeErr) {
	get := func(id string, v any, present bool) (string, *fakeErr) {
		if !present {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", bad("Invalid parameter " + id)
		}
		return s, nil
	}
	if q.v1() {
		p, pok := q.body["PIN"]
		o, ook := q.body["OTP"]
		if pin, err = get("PIN", p, pok); err != nil {
			return
		}
		otp, err = get("OTP", o, ook)
		return
	}
	ad, _ := q.body["authData"].([]any)
	for _, x := range ad {
		obj, _ := x.(map[string]any)
		id, _ := obj["id"].(string)
		v, present := obj["value"]
		s, e := get(id, v, present)
		if e != nil {
			return "", "", e
		}
		switch id {
		case "PIN":
			pin = s
		case "OTP":
			otp = s
		}
	}
	return
}

func (f *fakeCSC) authorize(q *fakeReq) (any, *fakeErr) {
	c, err := f.credentialArg(q)
	if err != nil {
		return nil, err
	}
	n, ok := q.body["numSignatures"].(json.Number)
	num, e := n.Int64()
	if !ok || e != nil {
		return nil, bad("Missing (or invalid type) integer parameter numSignatures")
	}
	switch {
	case num < 1:
		return nil, bad("Invalid value for parameter numSignatures")
	case int(num) > c.multisign:
		return nil, bad("Numbers of signatures is too high")
	}
	hashes, err := q.digests("Missing (or invalid type) array parameter " + q.hashes())
	if err != nil {
		return nil, err
	}
	if len(hashes) > int(num) {
		return nil, bad("Missing (or invalid type) array parameter " + q.hashes())
	}
	h := crypto.SHA256
	if !q.v1() {
		if v, present := q.body["hashAlgorithmOID"]; present {
			s, _ := v.(string)
			if h, ok = fakeHashes[s]; !ok {
				return nil, bad("Invalid parameter hashAlgorithmOID")
			}
		}
	}
	for _, d := range hashes {
		if len(d) != h.Size() {
			return nil, bad("Invalid digest value length")
		}
	}
	pin, otp, err := f.factors(q)
	if err != nil {
		return nil, err
	}
	u := f.users[q.user]
	if u.pinFail >= 5 || u.otpFail >= 5 {
		if q.v1() && u.pinFail >= 5 {
			return nil, bad("PIN locked")
		} else if q.v1() {
			return nil, bad("OTP locked")
		}
		return nil, bad("Credential locked")
	}
	pinOK := subtle.ConstantTimeCompare([]byte(pin), []byte(u.pin)) == 1
	otpOK := false
	now := totpStep(f.now)
	for s := now - 1; s <= now+1; s++ {
		if hotp(u.seed, s, totpDigits) == otp && !u.usedSteps[s] {
			u.usedSteps[s], otpOK = true, true
		}
	}
	if pinOK {
		u.pinFail = 0
	} else {
		u.pinFail++
	}
	if f.mutant == "otp_always_wrong" {
		otpOK = false
	}
	if otpOK {
		u.otpFail = 0
	} else {
		u.otpFail++
	}
	f.maxFailSeen = max(f.maxFailSeen, u.pinFail, u.otpFail)
	switch {
	case !pinOK && q.v1() && f.mutant != "v1_generic_factor_error":
		return nil, &fakeErr{400, "invalid_pin", "The PIN is invalid"}
	case (!otpOK || !pinOK) && q.v1():
		return nil, &fakeErr{400, "invalid_otp", "The OTP is invalid"}
	case !pinOK || !otpOK:
		return nil, &fakeErr{400, "invalid_authentication_data", "The authentication data is invalid"}
	}
	return f.newSAD(c.id, q.user, h, hashes, int(num)), nil
}

func (f *fakeCSC) newSAD(cred, user string, h crypto.Hash, hashes [][]byte, num int) map[string]any {
	tok := f.newToken()
	f.sads[tok] = &fakeSAD{cred: cred, user: user, hashAlg: h, hashes: hashes, used: make([]bool, len(hashes)), remaining: num,
		expires: f.now.Add(fakeSADLifetime)}
	return map[string]any{"SAD": tok, "expiresIn": int(fakeSADLifetime / time.Second)}
}

func (f *fakeCSC) sadArg(q *fakeReq, c *fakeCred) (*fakeSAD, *fakeErr) {
	tok, err := q.str("SAD")
	if err != nil {
		return nil, err
	}
	s := f.sads[tok]
	switch {
	case s == nil || (s.cred != c.id && f.mutant != "sad_not_bound_to_credential") || s.user != q.user:
		return nil, bad(descInvalidSAD)
	case !f.now.Before(s.expires) && f.mutant != "sad_never_expires":
		return nil, bad(descSADExpired)
	case s.dead || s.remaining == 0:
		return nil, bad("SAD has no signatures left")
	}
	return s, nil
}

func (f *fakeCSC) extend(q *fakeReq) (any, *fakeErr) {
	c, err := f.credentialArg(q)
	if err != nil {
		return nil, err
	}
	s, err := f.sadArg(q, c)
	if err != nil {
		return nil, err
	}
	var open [][]byte
	for i, h := range s.hashes {
		if !s.used[i] {
			open = append(open, h)
		}
	}
	if _, present := q.body[q.hashes()]; present {
		req, err := q.digests("Empty hash array")
		if err != nil {
			return nil, err
		}
		for _, h := range req {
			if !slices.ContainsFunc(open, func(o []byte) bool { return bytes.Equal(o, h) }) {
				return nil, bad(descHashNotAuthorized)
			}
		}
	}
	s.dead = f.mutant != "extend_keeps_old_sad"
	return f.newSAD(c.id, q.user, s.hashAlg, open, s.remaining), nil
}

var fakeSignAlgos = map[string]struct {
	rsa  bool
	hash crypto.Hash
	pss  bool
}{
	oidRSAEncryption: {rsa: true}, oidSHA256WithRSA: {rsa: true, hash: crypto.SHA256}, oidRSAPSS: {rsa: true, pss: true},
	oidECPublicKey: {}, oidECDSAWithSHA256: {hash: crypto.SHA256},
}

func (f *fakeCSC) signHash(q *fakeReq) (any, *fakeErr) {
	c, err := f.credentialArg(q)
	if err != nil {
		return nil, err
	}
	if _, err := q.str("SAD"); err != nil {
		return nil, err
	}
	digests, err := q.digests("Empty hash array")
	if err != nil {
		return nil, err
	}
	algo, err := q.str("signAlgo")
	if err != nil {
		return nil, err
	}
	alg, ok := fakeSignAlgos[algo]
	if !ok || alg.rsa != c.spec.rsa {
		return nil, bad("Invalid parameter signAlgo")
	}
	if !q.v1() {
		if m, present := q.body["operationMode"]; present && m != "S" {
			return nil, bad("Invalid parameter operationMode")
		}
	}
	var explicit crypto.Hash
	if v, present := q.body[q.hashAlgo()]; present {
		s, _ := v.(string)
		if explicit, ok = fakeHashes[s]; !ok {
			return nil, bad("Invalid parameter " + q.hashAlgo())
		}
	}
	h := alg.hash
	var opts crypto.SignerOpts
	switch {
	case alg.pss:
		ps, present := q.body["signAlgoParams"].(string)
		if !present {
			return nil, bad("Missing (or invalid type) string parameter signAlgoParams")
		}
		der, _ := base64.StdEncoding.DecodeString(ps)
		var p pssParams
		if rest, e := asn1.Unmarshal(der, &p); e != nil || len(rest) != 0 {
			return nil, bad("Invalid parameter signAlgoParams")
		}
		var mgf pkix.AlgorithmIdentifier
		asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgf)
		ph, ok := fakeHashes[p.Hash.Algorithm.String()]
		if !ok || mgf.Algorithm.String() != p.Hash.Algorithm.String() || p.SaltLength > maxPSSSalt(c.key.Public().(*rsa.PublicKey), ph) {
			return nil, bad("Invalid parameter signAlgoParams")
		}
		if explicit != 0 && explicit != ph {
			return nil, bad("Invalid parameter " + q.hashAlgo())
		}
		h, opts = ph, &rsa.PSSOptions{SaltLength: p.SaltLength, Hash: ph}
		if f.mutant == "pss_salt_ignored" {
			opts = &rsa.PSSOptions{SaltLength: ph.Size(), Hash: ph}
		}
	case h == 0 && explicit == 0:
		return nil, bad("Missing (or invalid type) string parameter " + q.hashAlgo())
	case h == 0:
		h = explicit
	case explicit != 0 && explicit != h:
		return nil, bad("Invalid parameter " + q.hashAlgo())
	}
	if opts == nil {
		opts = h
	}
	for _, d := range digests {
		if len(d) != h.Size() {
			return nil, bad("Invalid digest value length")
		}
	}
	s, err := f.sadArg(q, c)
	if err != nil {
		return nil, err
	}
	if len(digests) > s.remaining {
		return nil, bad("More hashes than the SAD still authorizes")
	}
	used := slices.Clone(s.used)
	for _, d := range digests {
		found := false
		for i, a := range s.hashes {
			if !used[i] && bytes.Equal(a, d) {
				used[i], found = true, true
				break
			}
		}
		if !found || s.hashAlg != h {
			return nil, bad(descHashNotAuthorized)
		}
	}
	if f.mutant != "replay_allowed" {
		s.used, s.remaining = used, s.remaining-len(digests)
	}
	var sigs []string
	for _, d := range digests {
		var sig []byte
		var e error
		if k, ok := c.key.(*ecdsa.PrivateKey); ok && f.mutant == "ecdsa_raw" {
			r, s, _ := ecdsa.Sign(rand.Reader, k, d)
			size := (k.Curve.Params().BitSize + 7) / 8
			sig = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
		} else if ok {
			sig, e = ecdsa.SignASN1(rand.Reader, k, d)
		} else {
			sig, e = c.key.Sign(rand.Reader, d, opts)
		}
		if e != nil {
			return nil, &fakeErr{500, "server_error", "Internal error"}
		}
		sigs = append(sigs, b64(sig))
	}
	if f.mutant == "signatures_reversed" {
		slices.Reverse(sigs)
	}
	return map[string]any{"signatures": sigs}, nil
}

func base32NoPad(b []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var out strings.Builder
	var buf, bits uint
	for _, c := range b {
		buf = buf<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			out.WriteByte(alphabet[(buf>>(bits-5))&31])
			bits -= 5
		}
	}
	if bits > 0 {
		out.WriteByte(alphabet[(buf<<(5-bits))&31])
	}
	return out.String()
}
