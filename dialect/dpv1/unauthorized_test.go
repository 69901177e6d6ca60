package dpv1_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// TestRefusedTokenCarriesTheDetail: a token refused at the upgrade (dpsim's
// 401, a proxy's 403) ends the call with serverConnectionFailed, as
// docs/BEHAVIOUR.md section 2 says, and the detail unauthorized, so staff
// and support are not sent to the network cable. Any other failed upgrade
// (500) carries no detail.
func TestRefusedTokenCarriesTheDetail(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, http.StatusText(code), code)
		}))
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/session"
	}
	for _, c := range []struct {
		what, url, token string
		detail           contract.ErrorDetail
	}{
		{"dpsim, wrong token (401)", dp.URL, "a-wrong-token-0123456789", contract.DetailUnauthorized},
		{"dpsim, no token (401)", dp.URL, "", contract.DetailUnauthorized},
		{"a proxy's 403", status(http.StatusForbidden), dp.Token, contract.DetailUnauthorized},
		{"a 500", status(http.StatusInternalServerError), dp.Token, contract.NoDetail},
	} {
		c0, _ := start(t, ctx, newDialect(t, c.url, c.token))
		res := c0.Result()
		if res.Err == nil || res.Err.Name != contract.ServerConnectionFailed || res.Err.Detail != c.detail {
			t.Errorf("%s: result %+v, want serverConnectionFailed with detail %q", c.what, res.Err, c.detail)
			continue
		}
		if c.detail == contract.DetailUnauthorized && !errors.Is(res.Err, contract.ErrUnauthorized) {
			t.Errorf("%s: errors.Is(ErrUnauthorized) is false for %v", c.what, res.Err)
		}
		if c.token != "" && strings.Contains(res.Err.Error(), c.token) {
			t.Errorf("%s: the error names the token: %v", c.what, res.Err)
		}
	}
}
