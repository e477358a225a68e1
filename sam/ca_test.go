package sam_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/openrssp/rssp/hsm"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

var (
	oidGivenName   = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname     = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidQCStatement = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	oidKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// newSigner registers a signer with a full natural-person subject.
func (f *fixture) newSigner(username string) *store.Signer {
	f.t.Helper()
	sg, err := f.sam.CreateSigner(ctx, sam.NewSigner{Username: username, Name: "Erika Mustermann", GivenName: "Erika",
		Surname: "Mustermann", Email: username + "@example.org", Password: "correct horse battery", Actor: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return sg
}

func (f *fixture) devCA() *x509.Certificate {
	f.t.Helper()
	ca, _, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{CommonName: "Test Dev CA", Organization: "RSSP Test", Country: "BE"})
	if err != nil {
		f.t.Fatal(err)
	}
	return ca
}

func nameValue(n pkix.Name, oid asn1.ObjectIdentifier) string {
	for _, a := range n.Names {
		if a.Type.Equal(oid) {
			s, _ := a.Value.(string)
			return s
		}
	}
	return ""
}

func TestDevCACertificateProfile(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		tokenBefore, _, err := f.keys.ObjectCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ca, created, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{CommonName: "Test Dev CA", Organization: "RSSP Test", Country: "BE"})
		if err != nil || !created {
			t.Fatalf("first InitDevCA: created %v, %v", created, err)
		}
		again, created, err := f.sam.InitDevCA(ctx, sam.DevCAConfig{CommonName: "Other name"})
		if err != nil || created || !bytes.Equal(again.Raw, ca.Raw) {
			t.Fatalf("second InitDevCA: created %v, same %v, %v", created, bytes.Equal(again.Raw, ca.Raw), err)
		}
		tokenAfter, _, err := f.keys.ObjectCounts(ctx)
		if err != nil || tokenAfter != tokenBefore {
			t.Fatalf("token objects %d -> %d (%v): the CA key must live only wrapped", tokenBefore, tokenAfter, err)
		}

		// The CA profile.
		if !ca.BasicConstraintsValid || !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
			t.Errorf("basic constraints: valid %v CA %v pathlen %d zero %v", ca.BasicConstraintsValid, ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
		}
		if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("CA key usage %b", ca.KeyUsage)
		}
		if len(ca.SubjectKeyId) == 0 {
			t.Error("CA has no subject key identifier")
		}
		if ca.Subject.CommonName != "Test Dev CA" || ca.Subject.Organization[0] != "RSSP Test" || ca.Subject.Country[0] != "BE" {
			t.Errorf("CA subject %s", ca.Subject)
		}
		if years := ca.NotAfter.Sub(ca.NotBefore).Hours() / 24 / 365; years < 9.99 || years > 10.01 {
			t.Errorf("CA validity %.2f years", years)
		}
		if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P384() {
			t.Errorf("CA key %T, want P-384 (the default)", ca.PublicKey)
		}
		if err := ca.CheckSignatureFrom(ca); err != nil {
			t.Errorf("CA self-signature: %v", err)
		}
		if ca.SerialNumber.Sign() <= 0 {
			t.Error("CA serial is not positive")
		}

		sg := f.newSigner("erika")
		for _, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256} {
			t.Run(string(alg), func(t *testing.T) {
				c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: alg, AuthMode: sam.AuthModeExplicit, Disabled: true})
				if err != nil {
					t.Fatal(err)
				}
				if c.Status != store.StatusDisabled {
					t.Fatalf("credential created %s, want disabled until it has a certificate", c.Status)
				}
				chain, err := f.sam.IssueDevCertificate(ctx, c.ID, sam.Subject{}, 365*24*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if len(chain) != 2 || !bytes.Equal(chain[1].Raw, ca.Raw) {
					t.Fatalf("chain of %d, CA last %v", len(chain), len(chain) == 2 && bytes.Equal(chain[1].Raw, ca.Raw))
				}
				leaf := chain[0]
				checkSignerProfile(t, leaf, ca)
				if leaf.Subject.CommonName != "Erika Mustermann" || nameValue(leaf.Subject, oidGivenName) != "Erika" ||
					nameValue(leaf.Subject, oidSurname) != "Mustermann" {
					t.Errorf("leaf subject %s", leaf.Subject)
				}
				if len(leaf.EmailAddresses) != 1 || leaf.EmailAddresses[0] != "erika@example.org" {
					t.Errorf("leaf email SAN %v", leaf.EmailAddresses)
				}
				if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 365*24*time.Hour || d > 365*24*time.Hour+2*time.Minute {
					t.Errorf("leaf validity %v", d)
				}
				if !samePub(leaf.PublicKey, mustPub(t, c)) {
					t.Error("leaf public key is not the credential key")
				}
				roots := x509.NewCertPool()
				roots.AddCert(ca)
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: f.clock.Now(),
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					t.Fatalf("chain does not verify: %v", err)
				}
				stored, err := f.st.Credential(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Status != store.StatusActive || !bytes.Equal(stored.Certificates, append(bytes.Clone(leaf.Raw), ca.Raw...)) {
					t.Fatalf("stored: status %s, chain stored %v", stored.Status, bytes.Equal(stored.Certificates, append(bytes.Clone(leaf.Raw), ca.Raw...)))
				}
				// The certified credential signs, and the certificate's key verifies it.
				if err := f.sam.SetPIN(ctx, c.ID, testPIN); err != nil {
					t.Fatal(err)
				}
				if err := f.sam.EnrolTOTP(ctx, sg.ID, totpSeed); err != nil {
					t.Fatal(err)
				}
				h := digest("certified " + string(alg))
				sad := f.authorize(stored, 1, h)
				sigs, err := f.sam.SignHash(ctx, f.signReq(stored, sad.Token, h))
				if err != nil {
					t.Fatal(err)
				}
				if err := verifyDigest(leaf, h, sigs[0]); err != nil {
					t.Fatalf("signature does not verify with the certificate: %v", err)
				}
			})
		}

		n, err := f.sam.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events := auditEvents(t, f)
		for _, want := range []string{sam.EventCAKeyGenerated, sam.EventCertIssueBegin, sam.EventCertIssued, sam.EventCertificateSet, sam.EventSignerCreated} {
			if !strings.Contains(events, want) {
				t.Errorf("no %s among %d audit entries: %s", want, n, events)
			}
		}
		if c := strings.Count(events, sam.EventCertIssueBegin); c != 3 { // the CA itself and two signer certificates
			t.Errorf("%d %s entries, want 3", c, sam.EventCertIssueBegin)
		}
	})
}

// checkSignerProfile checks ETSI EN 319 412-2 natural-person essentials.
func checkSignerProfile(t *testing.T, leaf, ca *x509.Certificate) {
	t.Helper()
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("leaf key usage %b, want digitalSignature|contentCommitment", leaf.KeyUsage)
	}
	if leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Errorf("leaf basic constraints: valid %v CA %v", leaf.BasicConstraintsValid, leaf.IsCA)
	}
	if len(leaf.ExtKeyUsage) != 0 || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("leaf has extended key usages %v %v", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	if len(leaf.SubjectKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) {
		t.Errorf("leaf SKI %x AKI %x, CA SKI %x", leaf.SubjectKeyId, leaf.AuthorityKeyId, ca.SubjectKeyId)
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 || leaf.SerialNumber.BitLen() < 64 {
		t.Errorf("leaf serial %x", leaf.SerialNumber)
	}
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oidQCStatement) {
			t.Error("development certificate carries QC statements")
		}
		if e.Id.Equal(oidKeyUsage) && !e.Critical {
			t.Error("key usage is not critical")
		}
	}
	if leaf.Version != 3 {
		t.Errorf("version %d", leaf.Version)
	}
}

func verifyDigest(cert *x509.Certificate, digest, sig []byte) error {
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	}
	return errors.New("unexpected key type")
}

func auditEvents(t *testing.T, f *fixture) string {
	t.Helper()
	var es []store.AuditEntry
	if err := f.st.DB().Order("seq").Find(&es).Error; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Event + " ")
	}
	return b.String()
}

func samePub(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// externalCA is a CA outside the HSM, standing in for a production CA.
type externalCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
}

func newExternalCA(t *testing.T) *externalCA {
	t.Helper()
	e := &externalCA{}
	var err error
	if e.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if e.interKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_900_000_000, 0)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "External Root"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	e.root = mustCert(t, rootT, rootT, &e.rootKey.PublicKey, e.rootKey)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "External Issuing CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(5 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	e.inter = mustCert(t, interT, e.root, &e.interKey.PublicKey, e.rootKey)
	return e
}

// issue certifies pub with the issuing CA.
func (e *externalCA) issue(t *testing.T, pub crypto.PublicKey, ku x509.KeyUsage, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "Erika Mustermann"},
		NotBefore: time.Unix(1_800_000_000, 0), NotAfter: notAfter, KeyUsage: ku, BasicConstraintsValid: true}
	return mustCert(t, tmpl, e.inter, pub, e.interKey)
}

func mustCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCSRAndImport(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.newSigner("erika")
		c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: hsm.ECP384, Disabled: true})
		if err != nil {
			t.Fatal(err)
		}
		der, err := f.sam.CreateCSR(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("CSR signature: %v", err)
		}
		if !samePub(csr.PublicKey, mustPub(t, c)) {
			t.Fatal("CSR key is not the credential key")
		}
		if csr.Subject.CommonName != "Erika Mustermann" || nameValue(csr.Subject, oidSurname) != "Mustermann" ||
			len(csr.EmailAddresses) != 1 || csr.SignatureAlgorithm != x509.ECDSAWithSHA384 {
			t.Fatalf("CSR subject %s, emails %v, algorithm %v", csr.Subject, csr.EmailAddresses, csr.SignatureAlgorithm)
		}
		var ku bool
		for _, e := range csr.Extensions {
			ku = ku || (e.Id.Equal(oidKeyUsage) && e.Critical)
		}
		if !ku {
			t.Error("CSR does not request a critical key usage")
		}

		ext := newExternalCA(t)
		good := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		later := time.Unix(1_950_000_000, 0)
		leaf := ext.issue(t, csr.PublicKey, good, later)
		otherKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		wrongKey := ext.issue(t, &otherKey.PublicKey, good, later)
		noNR := ext.issue(t, csr.PublicKey, x509.KeyUsageDigitalSignature, later)
		noDS := ext.issue(t, csr.PublicKey, x509.KeyUsageContentCommitment, later)
		expired := ext.issue(t, csr.PublicKey, good, time.Unix(1_850_000_000, 0))
		other := newExternalCA(t)

		refusals := []struct {
			name  string
			chain [][]byte
			want  string
		}{
			{"empty", nil, "1 to"},
			{"garbage", [][]byte{[]byte("not a certificate")}, "certificate 1"},
			{"another key", [][]byte{wrongKey.Raw, ext.inter.Raw, ext.root.Raw}, "not the credential's key"},
			{"reversed", [][]byte{leaf.Raw, ext.root.Raw, ext.inter.Raw}, "not issued by"},
			{"foreign issuer, same name", [][]byte{leaf.Raw, other.inter.Raw, other.root.Raw}, "not signed by"},
			{"no contentCommitment", [][]byte{noNR.Raw, ext.inter.Raw}, "contentCommitment"},
			{"no digitalSignature", [][]byte{noDS.Raw, ext.inter.Raw}, "digitalSignature"},
			{"CA as leaf", [][]byte{ext.inter.Raw, ext.root.Raw}, "not the credential's key"},
			{"expired", [][]byte{expired.Raw, ext.inter.Raw}, "expired"},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				err := f.sam.ImportCertificate(ctx, c.ID, tc.chain, "operator")
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.want)
				}
				got, _ := f.st.Credential(ctx, c.ID)
				if got.Status != store.StatusDisabled || len(got.Certificates) != 0 {
					t.Fatalf("after a refused import: status %s, %d certificate bytes", got.Status, len(got.Certificates))
				}
			})
		}

		if err := f.sam.ImportCertificate(ctx, c.ID, [][]byte{leaf.Raw, ext.inter.Raw, ext.root.Raw}, "operator"); err != nil {
			t.Fatal(err)
		}
		got, err := f.st.Credential(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := sam.Certificates(got)
		if err != nil || got.Status != store.StatusActive || len(chain) != 3 || !bytes.Equal(chain[0].Raw, leaf.Raw) {
			t.Fatalf("after import: status %s, chain %d, %v", got.Status, len(chain), err)
		}
		if err := f.sam.CheckCredentialKeys(ctx); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(auditEvents(t, f), sam.EventCSRBegin+" "+sam.EventCSRCreated) {
			t.Error("CSR signature not audited before and after")
		}
		if _, err := f.sam.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckCredentialKeys: a database edit that swaps certificates or key
// blobs between credentials is caught, naming the credential.
func TestCheckCredentialKeys(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		if err := f.sam.CheckCredentialKeys(ctx); err != nil {
			t.Fatalf("empty database: %v", err)
		}
		f.devCA()
		sg := f.newSigner("erika")
		var creds []*store.Credential
		for _, alg := range []hsm.KeyAlgorithm{hsm.ECP256, hsm.ECP256, hsm.RSA2048} {
			c, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: alg, Disabled: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sam.IssueDevCertificate(ctx, c.ID, sam.Subject{}, 0); err != nil {
				t.Fatal(err)
			}
			creds = append(creds, c)
		}
		// One without a certificate yet (CSR path) is fine too.
		if _, err := f.sam.CreateCredential(ctx, sam.NewCredential{SignerID: sg.ID, Algorithm: hsm.ECP256, Disabled: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.sam.CheckCredentialKeys(ctx); err != nil {
			t.Fatalf("untouched database: %v", err)
		}
		a, _ := f.st.Credential(ctx, creds[0].ID)
		b, _ := f.st.Credential(ctx, creds[1].ID)
		db := f.st.DB()
		set := func(id, col string, v any) {
			t.Helper()
			if err := db.Model(&store.Credential{}).Where("id = ?", id).Update(col, v).Error; err != nil {
				t.Fatal(err)
			}
		}

		// Swap certificates: both keys are genuine, but a's certificate now names b's key.
		set(a.ID, "certificates", b.Certificates)
		err := f.sam.CheckCredentialKeys(ctx)
		var kerr *sam.KeyCheckError
		if !errors.As(err, &kerr) || kerr.CredentialID != a.ID || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("swapped certificate: %v", err)
		}
		set(a.ID, "certificates", a.Certificates)
		if err := f.sam.CheckCredentialKeys(ctx); err != nil {
			t.Fatalf("restored: %v", err)
		}

		// Swap key blob and public key (the certificate then matches no more,
		// and the MAC names the move).
		set(b.ID, "key_blob", a.KeyBlob)
		err = f.sam.CheckCredentialKeys(ctx)
		if !errors.As(err, &kerr) || kerr.CredentialID != b.ID || !strings.Contains(err.Error(), "MAC") {
			t.Fatalf("swapped blob: %v", err)
		}
		set(b.ID, "key_blob", b.KeyBlob)

		// A forged certificate for the right key but another public key row.
		set(a.ID, "public_key", b.PublicKey)
		set(a.ID, "certificates", b.Certificates)
		if err := f.sam.CheckCredentialKeys(ctx); !errors.As(err, &kerr) || kerr.CredentialID != a.ID {
			t.Fatalf("replaced public key: %v", err)
		}
		set(a.ID, "public_key", a.PublicKey)
		set(a.ID, "certificates", a.Certificates)

		// The CA row is checked too.
		if err := db.Model(&store.Authority{}).Where("id = ?", sam.DevCAID).Update("certificate", b.Certificates[:0]).Error; err != nil {
			t.Fatal(err)
		}
		if err := f.sam.CheckCredentialKeys(ctx); !errors.As(err, &kerr) || kerr.Authority != sam.DevCAID || kerr.CredentialID != "" {
			t.Fatalf("edited CA row: %v", err)
		}
		if _, err := f.sam.IssueDevCertificate(ctx, creds[2].ID, sam.Subject{}, 0); err == nil {
			t.Fatal("issued with an edited CA row")
		}
	})
}

func TestDeleteCredential(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		sg := f.signer("signer-1")
		c := f.credential(sg, hsm.ECP256, 2, 1)
		h := digest("before delete")
		sad := f.authorize(c, 1, h)
		if err := f.sam.DeleteCredential(ctx, c.ID, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Credential(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("credential after delete: %v", err)
		}
		if _, err := f.sam.SignHash(ctx, f.signReq(c, sad.Token, h)); !errors.Is(err, sam.ErrCredentialInvalid) {
			t.Fatalf("signing with a deleted credential: %v", err)
		}
		if err := f.sam.DeleteCredential(ctx, c.ID, "operator"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if !strings.Contains(auditEvents(t, f), sam.EventCredentialDeleted) {
			t.Error("deletion not audited")
		}
	})
}

func TestSignerAdmin(t *testing.T) {
	forEachDB(t, testConfig(), func(t *testing.T, f *fixture) {
		const password = "canary-password-5531"
		sg, err := f.sam.CreateSigner(ctx, sam.NewSigner{Username: "max", Name: "Max Mustermann", Password: password, Actor: "operator"})
		if err != nil {
			t.Fatal(err)
		}
		if len(sg.ID) != 32 || sg.Status != store.StatusActive {
			t.Fatalf("signer %+v", sg)
		}
		if id, err := f.sam.CheckPassword(ctx, f.st, "max", password); err != nil || id != sg.ID {
			t.Fatalf("login: %q %v", id, err)
		}
		_, err = f.sam.CreateSigner(ctx, sam.NewSigner{Username: "max", Name: "Another Max", Password: password})
		if !errors.Is(err, sam.ErrUsernameTaken) || !strings.Contains(err.Error(), `"max"`) {
			t.Fatalf("duplicate username: %v", err)
		}
		bad := []struct {
			name string
			n    sam.NewSigner
		}{
			{"no username", sam.NewSigner{Name: "X"}},
			{"space in username", sam.NewSigner{Username: "a b", Name: "X"}},
			{"colon in username", sam.NewSigner{Username: "a:b", Name: "X"}},
			{"no name", sam.NewSigner{Username: "x"}},
			{"short password", sam.NewSigner{Username: "x", Name: "X", Password: "short"}},
			{"bad email", sam.NewSigner{Username: "x", Name: "X", Email: "not an address"}},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := f.sam.CreateSigner(ctx, tc.n); err == nil {
					t.Fatal("accepted")
				}
			})
		}
		if _, err := f.st.SignerByUsername(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused signer was stored: %v", err)
		}

		if err := f.sam.SetSignerStatus(ctx, sg.ID, store.StatusDisabled, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "max", password); !errors.Is(err, sam.ErrLoginFailed) {
			t.Fatalf("login of a disabled signer: %v", err)
		}
		if err := f.sam.SetSignerStatus(ctx, sg.ID, store.StatusActive, "operator"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sam.CheckPassword(ctx, f.st, "max", password); err != nil {
			t.Fatalf("login after enable: %v", err)
		}
		if err := f.sam.SetSignerStatus(ctx, sg.ID, "sleeping", "operator"); err == nil {
			t.Fatal("unknown status accepted")
		}
		if err := f.sam.SetSignerStatus(ctx, "nobody", store.StatusDisabled, "operator"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown signer: %v", err)
		}
		events := auditEvents(t, f)
		if !strings.Contains(events, sam.EventSignerCreated) || strings.Count(events, sam.EventSignerStatus) != 2 {
			t.Fatalf("audit: %s", events)
		}
		if dump, _ := dumpDatabase(t, f.st); strings.Contains(dump, password) {
			t.Fatal("password stored in the database")
		}
	})
}
