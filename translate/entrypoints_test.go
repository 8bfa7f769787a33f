package translate_test

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

// TestEntrypoints: routers attach to Coolify's entrypoints "http" and
// "https" by default, and to others when asked.
func TestEntrypoints(t *testing.T) {
	app := &translate.App{Name: "web", Image: "nginx", Ports: []translate.Port{{Container: 80}},
		Domains: []translate.Domain{{Host: "a.example.com"}, {Host: "b.example.com", TLS: true}}}
	for _, tc := range []struct {
		opts          []translate.ComposeOption
		plain, secure string
	}{
		{nil, "http", "https"},
		{[]translate.ComposeOption{translate.WithEntrypoints("web", "websecure")}, "web", "websecure"},
		{[]translate.ComposeOption{translate.WithEntrypoints("", "tls")}, "http", "tls"},
	} {
		files, err := translate.ToCompose(app, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		out := string(files[0].Data)
		for _, want := range []string{"traefik.http.routers.web-0.entrypoints: " + tc.plain + "\n", "traefik.http.routers.web-1.entrypoints: " + tc.secure + "\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("compose file lacks %q:\n%s", want, out)
			}
		}
	}
}
