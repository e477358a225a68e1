package conformance

import (
	"net/http"
	"slices"
	"testing"
)

// bodyCase is a request body that must be refused with 400 invalid_request
// and the given error_description.
type bodyCase struct {
	name string
	body map[string]any
	desc string
}

const (
	descMissingCredentialID = "Missing (or invalid type) string parameter credentialID"
	descInvalidCredentialID = "Invalid parameter credentialID"
)

// expectListed checks a credentials/list response: every credential of the
// account is listed once. It returns the listed IDs.
func (vs *vsuite) expectListed(t testing.TB, m map[string]any) []string {
	t.Helper()
	ids, ok := getStrings(m, "credentialIDs")
	if !ok {
		t.Fatalf("credentialIDs must be an array of strings, got %v", m["credentialIDs"])
	}
	for _, c := range vs.target.Credentials {
		if !slices.Contains(ids, c.ID) {
			t.Errorf("credential %s is not listed in %v", c.ID, ids)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("credential %s listed twice", id)
		}
		seen[id] = true
	}
	return ids
}

func (vs *vsuite) testList(t *testing.T) {
	tok := vs.login(t)
	list := func(t *testing.T, body map[string]any) map[string]any {
		t.Helper()
		return expectOK(t, vs.post(t, "credentials/list", bearer(tok), body))
	}
	t.Run("lists_every_credential", func(t *testing.T) {
		m := list(t, map[string]any{})
		vs.expectListed(t, m)
		if vs.v.v1() {
			if _, present := m["credentialInfos"]; present {
				t.Errorf("v1 credentials/list has the v2 member credentialInfos")
			}
		}
	})
	t.Run("null_members_are_absent", func(t *testing.T) {
		body := map[string]any{"userID": nil, "clientData": nil}
		if vs.v.v1() {
			body["maxResults"], body["pageToken"] = nil, nil
		} else {
			for _, k := range []string{"credentialInfo", "certificates", "certInfo", "authInfo", "onlyValid", "lang"} {
				body[k] = nil
			}
		}
		vs.expectListed(t, list(t, body))
	})
	var errs []bodyCase
	if vs.v.v1() {
		t.Run("maxResults_pages", func(t *testing.T) {
			var all []string
			body := map[string]any{"maxResults": 1}
			for page := 0; ; page++ {
				if page > len(vs.target.Credentials)+20 {
					t.Fatalf("more than %d pages of one credential", page)
				}
				m := list(t, body)
				ids, ok := getStrings(m, "credentialIDs")
				if !ok || len(ids) > 1 {
					t.Fatalf("maxResults 1 returned %v", m["credentialIDs"])
				}
				all = append(all, ids...)
				next, _ := getString(m, "nextPageToken")
				if next == "" {
					break
				}
				body = map[string]any{"maxResults": 1, "pageToken": next}
			}
			vs.expectListed(t, map[string]any{"credentialIDs": toAny(all)})
		})
		errs = append(errs, []bodyCase{
			{"maxResults_zero", map[string]any{"maxResults": 0}, "Invalid parameter maxResults"},
			{"maxResults_negative", map[string]any{"maxResults": -3}, "Invalid parameter maxResults"},
			{"maxResults_not_an_integer", map[string]any{"maxResults": "1"}, "Invalid parameter maxResults"},
			{"pageToken_unknown", map[string]any{"pageToken": "not-a-page-token"}, "Invalid parameter pageToken"},
		}...)
	} else {
		full := infoOpts{certificates: "chain", certInfo: true, authInfo: true}
		t.Run("credentialInfo_with_everything", func(t *testing.T) {
			m := list(t, map[string]any{"credentialInfo": true, "certificates": "chain", "certInfo": true, "authInfo": true})
			vs.checkInfos(t, m, full)
		})
		t.Run("credentialInfo_with_defaults", func(t *testing.T) {
			vs.checkInfos(t, list(t, map[string]any{"credentialInfo": true}), infoOpts{})
		})
		t.Run("onlyValid_is_echoed", func(t *testing.T) {
			m := list(t, map[string]any{"onlyValid": true})
			vs.expectListed(t, m)
			if b, _ := getBool(m, "onlyValid"); !b {
				t.Errorf("onlyValid %v, want true when the filter was applied", m["onlyValid"])
			}
		})
		errs = append(errs, bodyCase{"certificates_unknown_value", map[string]any{"credentialInfo": true, "certificates": "all"}, "Invalid parameter certificates"})
	}
	errs = append(errs, bodyCase{"userID_present", map[string]any{"userID": vs.me.Username}, "userID parameter MUST be null"})
	t.Run("errors", func(t *testing.T) {
		for _, c := range errs {
			t.Run(c.name, func(t *testing.T) {
				expectError(t, vs.post(t, "credentials/list", bearer(tok), c.body), http.StatusBadRequest, "invalid_request", c.desc)
			})
		}
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// checkInfos checks the credentialInfos of a v2 list response.
func (vs *vsuite) checkInfos(t *testing.T, m map[string]any, o infoOpts) {
	t.Helper()
	ids := vs.expectListed(t, m)
	infos, ok := getArray(m, "credentialInfos")
	if !ok {
		t.Fatalf("no credentialInfos array with credentialInfo=true: %v", m)
	}
	if len(infos) != len(ids) {
		t.Errorf("%d credentialInfos for %d credentialIDs", len(infos), len(ids))
	}
	byID := map[string]map[string]any{}
	for i, x := range infos {
		info, ok := x.(map[string]any)
		if !ok {
			t.Errorf("credentialInfos[%d] is not an object", i)
			continue
		}
		id, _ := getString(info, "credentialID")
		if !slices.Contains(ids, id) {
			t.Errorf("credentialInfos[%d] has credentialID %q, not one of credentialIDs", i, id)
		}
		byID[id] = info
	}
	for _, c := range vs.target.Credentials {
		if info, ok := byID[c.ID]; ok {
			vs.checkCredInfo(t, c, info, o)
		} else {
			t.Errorf("no credentialInfos entry for %s", c.ID)
		}
	}
}

func (vs *vsuite) testCredentialInfo(t *testing.T) {
	tok := vs.login(t)
	info := func(t *testing.T, body map[string]any) map[string]any {
		t.Helper()
		return expectOK(t, vs.post(t, "credentials/info", bearer(tok), body))
	}
	for _, c := range vs.target.Credentials {
		t.Run(c.KeyAlgorithm, func(t *testing.T) {
			t.Run("everything", func(t *testing.T) { vs.fullInfo(t, tok, c) })
			t.Run("defaults", func(t *testing.T) {
				vs.checkCredInfo(t, c, info(t, map[string]any{"credentialID": c.ID}), infoOpts{})
			})
			t.Run("certificates_single", func(t *testing.T) {
				vs.checkCredInfo(t, c, info(t, map[string]any{"credentialID": c.ID, "certificates": "single", "authInfo": true}),
					infoOpts{certificates: "single", authInfo: true})
			})
			t.Run("certificates_none", func(t *testing.T) {
				vs.checkCredInfo(t, c, info(t, map[string]any{"credentialID": c.ID, "certificates": "none", "certInfo": true}),
					infoOpts{certificates: "none", certInfo: true})
			})
			t.Run("null_members_are_absent", func(t *testing.T) {
				vs.checkCredInfo(t, c, info(t, map[string]any{"credentialID": c.ID, "certificates": nil, "certInfo": nil,
					"authInfo": nil, "lang": nil, "clientData": nil}), infoOpts{})
			})
		})
	}
	t.Run("errors", func(t *testing.T) {
		cases := []bodyCase{
			{"credentialID_missing", map[string]any{}, descMissingCredentialID},
			{"credentialID_null", map[string]any{"credentialID": nil}, descMissingCredentialID},
			{"credentialID_not_a_string", map[string]any{"credentialID": 7}, descMissingCredentialID},
			{"credentialID_unknown", map[string]any{"credentialID": "no-such-credential-" + randomToken()[:8]}, descInvalidCredentialID},
			{"certificates_unknown_value", map[string]any{"credentialID": vs.primary.ID, "certificates": "all"}, "Invalid parameter certificates"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectError(t, vs.post(t, "credentials/info", bearer(tok), c.body), http.StatusBadRequest, "invalid_request", c.desc)
			})
		}
	})
}
