package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// TestDeployProxy: -to proxy deploys ferry's proxy on the ports given;
// a -to docker app with a domain is then routed by it (Host header) and
// updated through it.
func TestDeployProxy(t *testing.T) {
	image := testenv.ProxyImage(t)
	c := newCLI(t)
	network := c.name + "-net"
	proxyName := c.name + "-proxy"
	httpPort, httpsPort := freePort(t), freePort(t)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+proxyName).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "network", "rm", network).Run()
		exec.Command("docker", "volume", "rm", proxyName+"_data", proxyName+"_config").Run()
	})
	deploy := func(args ...string) (int, string, string) {
		t.Helper()
		args = append([]string{"-i", c.s.KeyFile, "-known-hosts", c.s.KnownHosts, "-p", c.sshPort,
			"-dir", filepath.Join(c.dir, "apps"), "-timeout", "60s", "-network", network, "-proxy-name", proxyName}, args...)
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		t.Logf("deploy %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	host := c.s.User + "@" + c.s.Host

	if code, _, stderr := deploy("-to", "proxy", "-http-port", "70000", "-dry-run", host); code != exitBadInput || !strings.Contains(stderr, "http port 70000") {
		t.Errorf("-http-port 70000: exit %d, want %d and the port named", code, exitBadInput)
	}
	if code, _, stderr := deploy("-to", "proxy", "-acme-ca", "http://ca.example/dir", "-dry-run", host); code != exitBadInput || !strings.Contains(stderr, "acme ca") {
		t.Errorf("-acme-ca http://...: exit %d, want %d and the flag named", code, exitBadInput)
	}
	if code, _, stderr := deploy("-to", "proxy", "-acme-ca-root", filepath.Join(c.dir, "missing.pem"), "-dry-run", host); code != exitBadInput || !strings.Contains(stderr, "-acme-ca-root") {
		t.Errorf("-acme-ca-root of a missing file: exit %d, want %d and the flag named", code, exitBadInput)
	}
	if code, out, _ := deploy("-to", "proxy", "-image", image, "-acme-email", "ops@example.com",
		"-http-port", fmt.Sprint(httpPort), "-https-port", fmt.Sprint(httpsPort), host); code != 0 || !strings.Contains(out, "release 1 is live") {
		t.Fatalf("deploy proxy: exit %d", code)
	}

	spec := func(img string) string {
		p := filepath.Join(t.TempDir(), "app.yaml")
		s := fmt.Sprintf("name: %s\nimage: %s\nports:\n  - container: 8080\ndomains:\n  - host: %s.test\nhealth:\n  command: [/webapp, -healthcheck, /healthz]\n  interval: 1s\n  timeout: 5s\n  retries: 5\n", c.name, img, c.name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	get := func() string {
		t.Helper()
		out, err := exec.Command("curl", "-fsS", "--retry", "10", "--retry-all-errors", "--retry-delay", "1",
			"-H", "Host: "+c.name+".test", fmt.Sprintf("http://127.0.0.1:%d/", httpPort)).Output()
		if err != nil {
			t.Fatalf("GET through the proxy: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	if code, _, stderr := deploy("-to", "docker", host, spec(testenv.WebappV1)); code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("deploy app: exit %d", code)
	}
	if got := get(); got != "hello" {
		t.Errorf("through the proxy: %q, want hello", got)
	}
	code, out, _ := deploy("-to", "docker", host, spec(testenv.WebappV2))
	if code != 0 || !strings.Contains(out, "switch the proxy") {
		t.Fatalf("update app: exit %d", code)
	}
	if got := get(); got != "hello v2" {
		t.Errorf("through the proxy after the update: %q, want hello v2", got)
	}
}
