package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
)

// TestDeployDocker runs the command against sshd on loopback and the
// local Docker engine: a deploy that succeeds, then one that fails its
// health check and rolls back.
func TestDeployDocker(t *testing.T) {
	testenv.WebappImage(t)
	testenv.Compose(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	name := fmt.Sprintf("deploytest%d", port)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+name).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	dir := t.TempDir()
	write := func(extra string) string {
		p := filepath.Join(dir, "app.yaml")
		spec := fmt.Sprintf("name: %s\nimage: ferry-webapp:v1\nports:\n  - container: 8080\n    host: %d\n%s", name, port, extra)
		if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, sshPort, _ := net.SplitHostPort(s.Addr)
	args := func(app string) []string {
		return []string{"-to", "docker", "-i", s.KeyFile, "-known-hosts", s.KnownHosts, "-p", sshPort,
			"-dir", filepath.Join(dir, "apps"), "-timeout", "40s", s.User + "@" + s.Host, app}
	}
	var out, errOut bytes.Buffer
	if code := run(args(write("")), &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	t.Logf("output:\n%s", out.String())
	for _, want := range []string{"==> apply: compose up", "==> verify: wait until healthy", "release 1 is live"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}

	out.Reset()
	errOut.Reset()
	code := run(args(write("env:\n  FAIL_HEALTH: \"1\"\nhealth:\n  command: [/webapp, -healthcheck, /healthz]\n  interval: 1s\n  retries: 2\n")), &out, &errOut)
	t.Logf("failing deploy, exit %d:\n%s", code, errOut.String())
	if code != 1 || !strings.Contains(errOut.String(), "rolled back") {
		t.Errorf("exit %d, stderr %q: want 1 and a rollback", code, errOut.String())
	}

	if code := run([]string{"-to", "nowhere", "x@y", "app.yaml"}, &out, &errOut); code != 2 {
		t.Errorf("bad usage: exit %d, want 2", code)
	}
	if code := run([]string{"-to", "docker", "-i", s.KeyFile, "-known-hosts", s.KnownHosts, "-p", strconv.Itoa(port), s.User + "@127.0.0.1", write("")}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "cannot reach") {
		t.Errorf("unreachable host: exit %d, stderr %q", code, errOut.String())
	}
}
