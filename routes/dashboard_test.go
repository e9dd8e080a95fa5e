package routes_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDashboardUnauthenticated: without credentials the dashboard page is
// a 401 with a Basic challenge (the browser's prompt) and the page itself
// as the body (shown when the prompt is cancelled; it asks for the
// token). Nothing else under /admin answers with the page.
func TestDashboardUnauthenticated(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		page         bool   // the body is the dashboard
		challenge    string // WWW-Authenticate prefix
	}{
		{"GET", "/admin/", true, "Basic"},
		{"GET", "/admin", true, "Basic"},
		{"HEAD", "/admin/", true, "Basic"},
		{"POST", "/admin/", false, "Basic"},
		{"GET", "/admin/other", false, "Basic"},
		{"GET", "/admin/api/status", false, "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, err := e.admin.Test(adminReq(tt.method, tt.path, ""), -1)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			if _, err := io.Copy(&body, resp.Body); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", got, tt.challenge)
			}
			isPage := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
			if isPage != tt.page {
				t.Errorf("Content-Type = %q, want the page: %v", resp.Header.Get("Content-Type"), tt.page)
			}
			if tt.page {
				if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("the page came without its CSP or X-Frame-Options")
				}
				if tt.method == "GET" && !strings.Contains(body.String(), "<title>hookgate</title>") {
					t.Errorf("body is not the dashboard: %.200s", body.String())
				}
			}
		})
	}
}
