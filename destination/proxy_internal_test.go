package destination

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/translate"
)

func proxiedApp() *translate.App {
	return &translate.App{
		Name:    "web",
		Image:   "ferry-webapp:v1",
		Ports:   []translate.Port{{Container: 8080}, {Container: 9090}},
		Domains: []translate.Domain{{Host: "web.example.com", TLS: true}, {Host: "web.example.com", Path: "/api", Port: 9090, TLS: true}, {Host: "web.internal"}},
		Health:  &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}},
	}
}

// golden compares got with testdata/name.golden (rewritten by -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestProxyPlanGolden prints the proxy's plan with its compose file and
// Caddyfile.
func TestProxyPlanGolden(t *testing.T) {
	plan, err := Proxy{Dir: "/srv/ferry", HTTPPort: 8080, HTTPSPort: 8443, ACMEEmail: "ops@example.com",
		Networks: []string{"ferry", "edge"}, SELinux: "z"}.Plan()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(plan.String())
	for _, f := range plan.Files {
		b.WriteString("\n--- " + f.Path + "\n" + string(f.Data))
	}
	golden(t, "proxy", b.String())
	if plan.Target != "proxy" || plan.App != DefaultProxyName || plan.Dir != "/srv/ferry/ferry-proxy" {
		t.Errorf("plan: target %q app %q dir %q", plan.Target, plan.App, plan.Dir)
	}
}

func TestProxyDefaults(t *testing.T) {
	plan, err := Proxy{}.Plan()
	if err != nil {
		t.Fatal(err)
	}
	compose := string(plan.Files[0].Data)
	for _, want := range []string{`published: "80"`, `published: "443"`, "image: " + DefaultProxyImage, "./etc:/etc/caddy:ro\n", "external: true\n        name: ferry\n"} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose file lacks %q:\n%s", want, compose)
		}
	}
	if caddyfile := string(plan.Files[1].Data); strings.Contains(caddyfile, "email") {
		t.Errorf("Caddyfile has an e-mail though none was given:\n%s", caddyfile)
	}
}

func TestProxyInvalid(t *testing.T) {
	for _, tc := range []struct {
		p    Proxy
		want string
	}{
		{Proxy{Name: "Bad Name"}, `name "Bad Name"`},
		{Proxy{HTTPPort: 70000}, "http port 70000"},
		{Proxy{HTTPSPort: -1}, "https port -1"},
		{Proxy{HTTPPort: 8000, HTTPSPort: 8000}, "both 8000"},
		{Proxy{ACMEEmail: "not an address"}, `acme email "not an address"`},
		{Proxy{ACMEEmail: "a@b}\nadmin :2019"}, "acme email"},
		{Proxy{SELinux: "y"}, `selinux "y"`},
		{Proxy{Networks: []string{"ok", "-bad"}}, `network "-bad"`},
		{Proxy{Image: "caddy 2"}, `image "caddy 2"`},
		{Proxy{ACMECA: "http://ca.example/dir"}, `acme ca "http://ca.example/dir" is not an https URL`},
		{Proxy{ACMECA: "https://ca.example/dir\n}\nadmin :2019"}, "acme ca"},
		{Proxy{ACMECA: "https:///dir"}, "acme ca"},
		{Proxy{ACMECARoot: []byte("not pem")}, "acme ca root is not a PEM certificate"},
	} {
		_, err := tc.p.Plan()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.p, err, tc.want)
		}
	}
}

// TestDockerSwitchPlan: an app with domains and no host port is updated
// by the switch; an app with a host port in place, with a warning.
func TestDockerSwitchPlan(t *testing.T) {
	plan, err := Docker{Dir: "/srv/ferry", Network: "edge", ProxyName: "edge-proxy"}.Plan(proxiedApp())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %v", plan.Warnings)
	}
	golden(t, "docker-switch", plan.String())
	if !strings.Contains(string(plan.Files[0].Data), RoutedByLabel+": edge-proxy") {
		t.Errorf("compose file lacks the %s label:\n%s", RoutedByLabel, plan.Files[0].Data)
	}

	inPlace := proxiedApp()
	inPlace.Ports[0].Host = 18080
	plan, err = Docker{}.Plan(inPlace)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0].String(), "host port 18080") ||
		!strings.Contains(plan.String(), "  - service web: ports: publishes host port 18080") {
		t.Errorf("warnings: %v", plan.Warnings)
	}
	if s := plan.Apply.Steps[0]; s.Name != "compose up" {
		t.Errorf("apply step %q, want compose up", s.Name)
	}
}

// TestSiteFile: the routes name no address but the replicas' upstream
// files, so that an update changes no configuration; longer paths come
// first.
func TestSiteFile(t *testing.T) {
	app := proxiedApp()
	app.Replicas = 2
	got := string(siteFile("shop", app))
	want := `# Written by ferry: the routes of service web of shop. Each upstream is
# the address in a file of /etc/caddy/upstreams/shop.web, which an update rewrites.
http://web.internal {
	reverse_proxy {file./etc/caddy/upstreams/shop.web/1}:8080 {file./etc/caddy/upstreams/shop.web/2}:8080 {
		lb_try_duration 5s
	}
}
web.example.com {
	reverse_proxy /api* {file./etc/caddy/upstreams/shop.web/1}:9090 {file./etc/caddy/upstreams/shop.web/2}:9090 {
		lb_try_duration 5s
	}
	reverse_proxy {file./etc/caddy/upstreams/shop.web/1}:8080 {file./etc/caddy/upstreams/shop.web/2}:8080 {
		lb_try_duration 5s
	}
}
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("site file (-want +got):\n%s", diff)
	}
}
