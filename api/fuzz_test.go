package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openrssp/rssp/api"
	"github.com/openrssp/rssp/oauth"
	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// fakeBackend stands in for the SAM, the token service and the store so the
// fuzzer can run the whole HTTP layer (decoding, validation, rendering) fast.
// It answers like the real ones: typed refusals for bad input, results
// otherwise.
type fakeBackend struct{}

func (fakeBackend) Authorize(_ context.Context, r sam.AuthorizeRequest) (sam.IssuedSAD, error) {
	if r.CredentialID != "c1" {
		return sam.IssuedSAD{}, sam.ErrCredentialInvalid
	}
	if r.NumSignatures < 1 {
		return sam.IssuedSAD{}, sam.ErrNumSignatures
	}
	return sam.IssuedSAD{Token: "sad", ExpiresAt: time.Now().Add(time.Minute), Remaining: r.NumSignatures}, nil
}

func (fakeBackend) ExtendTransaction(context.Context, sam.ExtendRequest) (sam.IssuedSAD, error) {
	return sam.IssuedSAD{}, sam.ErrSADInvalid
}

func (fakeBackend) SignHash(_ context.Context, r sam.SignRequest) ([][]byte, error) {
	if r.SAD != "sad" {
		return nil, sam.ErrSADInvalid
	}
	return r.Hashes, nil
}

func (fakeBackend) SignDoc(_ context.Context, r sam.SignDocRequest) ([]sam.SignedDocument, error) {
	if r.SAD != "sad" {
		return nil, sam.ErrSADInvalid
	}
	out := make([]sam.SignedDocument, len(r.Documents))
	for i, d := range r.Documents {
		out[i] = sam.SignedDocument{Format: d.Format, Data: append(d.Content, d.Digest...)}
	}
	return out, nil
}

func (fakeBackend) SendOTP(_ context.Context, r sam.OTPRequest) (string, error) {
	if r.Binding.CredentialID != "c1" {
		return "", sam.ErrCredentialInvalid
	}
	if len(r.Binding.Hashes) == 0 {
		return "", sam.ErrHashesMissing
	}
	return "ch", nil
}

func (fakeBackend) OAuthClient(context.Context, string) (*store.OAuthClient, error) {
	return nil, store.ErrNotFound
}

func (fakeBackend) Login(_ context.Context, u, p string, _ bool) (oauth.Issued, error) {
	if u != "u" || p != "p" {
		return oauth.Issued{}, sam.ErrLoginFailed
	}
	return oauth.Issued{AccessToken: "t", ExpiresIn: 60}, nil
}

func (fakeBackend) Refresh(context.Context, string) (oauth.Issued, error) {
	return oauth.Issued{}, oauth.ErrInvalidRefresh
}

func (fakeBackend) Authenticate(_ context.Context, bearer string) (oauth.Principal, error) {
	if bearer != "t" {
		return oauth.Principal{}, oauth.ErrInvalidToken
	}
	return oauth.Principal{SignerID: "s1", ClientID: "c"}, nil
}

func (fakeBackend) Revoke(context.Context, oauth.Principal, string) error {
	return oauth.ErrUnknownToken
}

func (fakeBackend) Credential(_ context.Context, id string) (*store.Credential, error) {
	if id != "c1" {
		return nil, store.ErrNotFound
	}
	// Not a parseable key: credentials/info must fail cleanly, as server_error.
	return &store.Credential{ID: "c1", SignerID: "s1", Status: store.StatusActive, PublicKey: []byte{1}, SCAL: 2, Multisign: 1}, nil
}

func (fakeBackend) SignerByUsername(_ context.Context, u string) (*store.Signer, error) {
	if u != "u" {
		return nil, store.ErrNotFound
	}
	return &store.Signer{ID: "s1", Username: "u", Status: store.StatusActive}, nil
}

func (fakeBackend) CredentialsOf(context.Context, string) ([]store.Credential, error) {
	return []store.Credential{{ID: "c1"}, {ID: "c2"}}, nil
}

func (fakeBackend) Factor(context.Context, string, string, string) (*store.Factor, error) {
	return nil, store.ErrNotFound
}

// FuzzRequestBodies sends arbitrary bodies to every CSC method in both
// versions and checks the answer is a success or a well-formed CSC error,
// never a panic; a 500 may only come from the fake's unparseable key.
func FuzzRequestBodies(f *testing.F) {
	b := fakeBackend{}
	srv := api.New(api.Config{MaxBodyBytes: 1 << 16}, api.Deps{SAM: b, Tokens: b, Store: b})
	h := srv.Handler()
	paths := []string{"info", "auth/login", "auth/revoke", "credentials/list", "credentials/info",
		"credentials/authorize", "credentials/extendTransaction", "credentials/sendOTP", "credentials/getChallenge", "signatures/signHash", "signatures/signDoc"}
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"credentialID":"c1","numSignatures":1,"hashes":["AAAA"],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1"}`,
		`{"credentialID":"c1","SAD":"sad","hash":["q83vEjRWeJA="],"signAlgo":"1.2.840.113549.1.1.11"}`,
		`{"credentialID":"c1","numSignatures":1.5}`, `{"authData":[{"id":"PIN","value":5}]}`, `{"maxResults":0,"pageToken":"-1"}`,
		`{"hashes":["_-_-"],"SAD":null,"signAlgoParams":"MAA="}`, `{"refresh_token":7}`, `{"rememberMe":"yes"}`,
		`{"credentialID":"c1","SAD":"sad","documents":[{"document":"JVBERi0=","signature_format":"P","conformance_level":"ades-b-t","signAlgo":"1.2.840.113549.1.1.11","signed_props":[{"attribute_name":"Reason","attribute_value":"ok"}]}]}`,
		`{"credentialID":"c1","SAD":"sad","documentDigests":[{"hashes":["q83vEjRWeJA="],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","signature_format":"C","signAlgo":"1.2.840.10045.4.3.2"}]}`,
	} {
		for i := range paths {
			f.Add(uint8(i), seed, true)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, payload string, v2 bool) {
		ver := "v1"
		if v2 {
			ver = "v2"
		}
		req := httptest.NewRequest(http.MethodPost, "/csc/"+ver+"/"+paths[int(which)%len(paths)], bytes.NewReader([]byte(payload)))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK || rec.Code == http.StatusNoContent {
			return
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %q: status %d with body %q", req.URL.Path, payload, rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusInternalServerError && (e.Error != "server_error" || e.Description != "Internal error") {
			t.Fatalf("a 500 leaks detail: %q", rec.Body.String())
		}
	})
}

// FuzzBase64Hashes checks the lenient base64 decoding of hashes never panics
// and that whatever it accepts round-trips through the standard encoding.
func FuzzBase64Hashes(f *testing.F) {
	for _, s := range []string{"AAAA", "AA==", "_-8", "+/8=", "a-b+", "====", ""} {
		f.Add(s)
	}
	b := fakeBackend{}
	h := api.New(api.Config{}, api.Deps{SAM: b, Tokens: b, Store: b}).Handler()
	f.Fuzz(func(t *testing.T, s string) {
		body, _ := json.Marshal(map[string]any{"credentialID": "c1", "SAD": "sad", "hashes": []string{s}, "signAlgo": "1.2.840.113549.1.1.11"})
		req := httptest.NewRequest(http.MethodPost, "/csc/v2/signatures/signHash", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var out struct{ Signatures []string }
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Signatures) != 1 {
				t.Fatalf("bad success body %q", rec.Body.String())
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("status %d for %q", rec.Code, s)
		}
	})
}
