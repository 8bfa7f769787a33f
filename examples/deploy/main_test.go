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
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
)

// cli runs the command against a real sshd on loopback and the local
// Docker engine, for one app of its own.
type cli struct {
	t       *testing.T
	s       *sshdtest.Server
	dir     string
	name    string
	port    int
	sshPort string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	testenv.WebappImage(t)
	testenv.Compose(t)
	c := &cli{t: t, s: sshdtest.Start(t, sshdtest.Options{}), dir: t.TempDir(), port: freePort(t)}
	c.name = fmt.Sprintf("deploytest%d", c.port)
	_, c.sshPort, _ = net.SplitHostPort(c.s.Addr)
	testenv.RemoveCompose(t, c.name, true)
	return c
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// spec writes the app's spec with extra YAML and returns its path.
func (c *cli) spec(image, extra string) string {
	p := filepath.Join(c.t.TempDir(), "app.yaml")
	s := fmt.Sprintf("name: %s\nimage: %s\nports:\n  - container: 8080\n    host: %d\nvolumes:\n  - name: data\n    target: /data\n%s", c.name, image, c.port, extra)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// run runs the command with flags, then user@host and the spec.
func (c *cli) run(spec string, flags ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	args := append([]string{"-to", "docker", "-i", c.s.KeyFile, "-known-hosts", c.s.KnownHosts, "-p", c.sshPort,
		"-dir", filepath.Join(c.dir, "apps"), "-timeout", "20s"}, flags...)
	args = append(args, c.s.User+"@"+c.s.Host, spec)
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	c.t.Logf("deploy %s: exit %d\n%s%s", strings.Join(flags, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

func (c *cli) get() string {
	c.t.Helper()
	return c.getPath("/")
}

// getPath GETs path (with its query) from the app's published port.
func (c *cli) getPath(path string) string {
	c.t.Helper()
	out, err := exec.Command("curl", "-fsS", "--retry", "10", "--retry-connrefused", "--retry-delay", "1", fmt.Sprintf("http://127.0.0.1:%d%s", c.port, path)).Output()
	if err != nil {
		c.t.Fatalf("GET: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func (c *cli) containers() []string {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.name).Output()
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.Fields(string(out))
}

const failing = "env:\n  FAIL_HEALTH: \"1\"\nhealth:\n  command: [/webapp, -healthcheck, /healthz]\n  interval: 1s\n  retries: 2\n"

// TestDeployLifecycle runs each subcommand in turn: deploy, a failing
// deploy rolled back (exit 1), history, rollback by number and to the
// previous release, a rollback to a release that does not exist (exit
// 3), removal keeping the volume, and removal with it.
func TestDeployLifecycle(t *testing.T) {
	c := newCLI(t)
	v1, v2 := c.spec(testenv.WebappV1, ""), c.spec(testenv.WebappV2, "")
	if code, out, _ := c.run(v1); code != 0 || !strings.Contains(out, "release 1 is live") || !strings.Contains(out, "==> apply: compose up") {
		t.Fatalf("deploy: exit %d", code)
	}
	if code, _, _ := c.run(v2); code != 0 || c.get() != "hello v2" {
		t.Fatalf("update: exit %d", code)
	}
	code, _, stderr := c.run(c.spec(testenv.WebappV1, failing))
	if code != 1 || !strings.Contains(stderr, "rolled back to the previous release") || !strings.Contains(stderr, "diagnostics:") {
		t.Errorf("failing update: exit %d, want 1, a rollback and diagnostics", code)
	}
	code, out, _ := c.run(v1, "-history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[2], "3\t") || !strings.Contains(lines[2], "\trolled-back\tferry-webapp:v1") {
		t.Errorf("history: exit %d, lines %q", code, lines)
	}
	if _, err := time.Parse(time.RFC3339, strings.Split(lines[0], "\t")[1]); err != nil {
		t.Errorf("history time: %v", err)
	}
	if code, _, _ := c.run(v1, "-rollback", "1"); code != 0 || c.get() != "hello" {
		t.Errorf("rollback 1: exit %d", code)
	}
	if code, _, _ := c.run(v1, "-rollback", "previous"); code != 0 || c.get() != "hello v2" {
		t.Errorf("rollback previous: exit %d", code)
	}
	if code, _, _ := c.run(v1, "-rollback", "7"); code != 3 {
		t.Errorf("rollback to a release that does not exist: exit %d, want 3", code)
	}
	volumes := func() int {
		out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+c.name).Output()
		return len(strings.Fields(string(out)))
	}
	if code, _, _ := c.run(v1, "-remove"); code != 0 || len(c.containers()) != 0 || volumes() != 1 {
		t.Errorf("remove: exit %d, containers %v, %d volumes (want the one kept)", code, c.containers(), volumes())
	}
	if code, _, _ := c.run(v1, "-remove-volumes"); code != 0 || volumes() != 0 {
		t.Errorf("remove-volumes: exit %d, %d volumes", code, volumes())
	}
}

// TestDeployExitCodes: a failed first release (2), a held lock (4), bad
// input (3), an unreachable host and an unknown host key (255), a dry run
// that changes nothing on the host (0).
func TestDeployExitCodes(t *testing.T) {
	c := newCLI(t)
	apps := filepath.Join(c.dir, "apps")
	code, out, _ := c.run(c.spec(testenv.WebappV1, ""), "-dry-run")
	if code != 0 || !strings.Contains(out, "plan: deploy "+c.name) || !strings.Contains(out, "compose up") {
		t.Errorf("dry run: exit %d", code)
	}
	if _, err := os.Stat(apps); !os.IsNotExist(err) {
		t.Errorf("the dry run changed the host: %s exists (%v)", apps, err)
	}
	if code, _, stderr := c.run(c.spec(testenv.WebappV1, failing)); code != 2 || !strings.Contains(stderr, "the new one was removed") || len(c.containers()) != 0 {
		t.Errorf("failed first release: exit %d, containers %v; want 2 and nothing left", code, c.containers())
	}

	lock := filepath.Join(apps, c.name, ".ferry", "lock")
	if err := os.MkdirAll(lock, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(lock, "owner"), []byte("id=1 host=ci-7 pid=1 user=x time=t\n"), 0o600)
	if code, _, stderr := c.run(c.spec(testenv.WebappV1, "")); code != 4 || !strings.Contains(stderr, "ci-7") {
		t.Errorf("held lock: exit %d, want 4", code)
	}
	os.RemoveAll(lock)

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: Bad_Name\nimage: x\n"), 0o644)
	for _, flags := range [][]string{{"-rollback", "x"}, {"-remove", "-history"}} {
		if code, _, _ := c.run(c.spec(testenv.WebappV1, ""), flags...); code != 3 {
			t.Errorf("%v: exit %d, want 3", flags, code)
		}
	}
	if code, _, _ := c.run(bad); code != 3 {
		t.Errorf("invalid spec: exit %d, want 3", code)
	}
	var o, e bytes.Buffer
	if code := run([]string{"-to", "nowhere", "x@y", bad}, &o, &e); code != 3 {
		t.Errorf("bad -to: exit %d, want 3", code)
	}
	if code := run([]string{"-to", "docker", "-i", c.s.KeyFile, "-known-hosts", c.s.KnownHosts, "-p", strconv.Itoa(freePort(t)), c.s.User + "@127.0.0.1", bad + ".none"}, &o, &e); code != 3 {
		t.Errorf("missing spec: exit %d, want 3", code)
	}
	spec := c.spec(testenv.WebappV1, "")
	if code := run([]string{"-to", "docker", "-i", c.s.KeyFile, "-known-hosts", c.s.KnownHosts, "-p", strconv.Itoa(freePort(t)), c.s.User + "@127.0.0.1", spec}, &o, &e); code != 255 || !strings.Contains(e.String(), "cannot reach") {
		t.Errorf("unreachable host: exit %d, want 255", code)
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	e.Reset()
	if code := run([]string{"-to", "docker", "-i", c.s.KeyFile, "-known-hosts", empty, "-p", c.sshPort, c.s.User + "@" + c.s.Host, spec}, &o, &e); code != 255 {
		t.Errorf("unknown host key: exit %d, want 255: %s", code, e.String())
	}
}

// TestDeployGitHubActions: with GITHUB_ACTIONS=true, phases are groups
// and a failure is an ::error:: annotation on one line.
func TestDeployGitHubActions(t *testing.T) {
	c := newCLI(t)
	t.Setenv("GITHUB_ACTIONS", "true")
	code, out, _ := c.run(c.spec(testenv.WebappV1, failing))
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{"::group::lock\n", "::group::apply\n", "::group::verify\n", "::endgroup::\n", "\n::error::deploy: FAILED (removed): "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Count(out, "::group::") != strings.Count(out, "::endgroup::") {
		t.Errorf("groups not balanced")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "::error::") && !strings.Contains(line, "%0Adiagnostics:") {
			t.Errorf("the annotation is not one escaped line with the diagnostics: %s", line)
		}
	}
	if strings.Contains(out, "[") && strings.Contains(out, "s] ==>") {
		t.Errorf("GitHub output carries the plain format's timing prefix")
	}
}

// TestDeploySwarm: -to swarm deploys a stack and -remove takes it down.
func TestDeploySwarm(t *testing.T) {
	c := newCLI(t)
	testenv.Swarm(t)
	t.Cleanup(func() {
		exec.Command("docker", "stack", "rm", c.name).Run()
		time.Sleep(2 * time.Second)
		exec.Command("docker", "network", "rm", c.name).Run()
	})
	spec := c.spec(testenv.WebappV1, "")
	tasks := func() int {
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.stack.namespace="+c.name).Output()
		return len(strings.Fields(string(out)))
	}
	if code, _, _ := c.run(spec, "-to", "swarm", "-network", c.name); code != 0 || tasks() != 1 {
		t.Fatalf("swarm deploy: exit %d, %d tasks", code, tasks())
	}
	if code, _, _ := c.run(spec, "-to", "swarm", "-network", c.name, "-remove-volumes"); code != 0 || tasks() != 0 {
		t.Errorf("swarm remove: exit %d, %d tasks", code, tasks())
	}
	if exec.Command("docker", "network", "inspect", c.name).Run() == nil {
		t.Errorf("network %s, created by the deploy, not removed", c.name)
	}
}

// TestDeployKubernetesCreateNamespace: -to kubernetes -create-namespace
// deploys into a namespace that did not exist, and -remove takes the
// app's objects down again.
func TestDeployKubernetesCreateNamespace(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	_, sshPort, _ := net.SplitHostPort(s.Addr)
	ns := fmt.Sprintf("ferry-cli-%d", freePort(t))
	kubectl := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kc}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	t.Cleanup(func() { kubectl("delete", "namespace", ns, "--wait=false") })
	if _, err := kubectl("get", "namespace", ns); err == nil {
		t.Fatalf("namespace %s exists before the test", ns)
	}
	spec := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(spec, []byte("name: web\nimage: ferry-webapp:v1\nports:\n  - container: 8080\n"), 0o644)
	args := func(flags ...string) []string {
		a := append([]string{"-to", "kubernetes", "-i", s.KeyFile, "-known-hosts", s.KnownHosts, "-p", sshPort,
			"-dir", t.TempDir(), "-kubeconfig", kc, "-namespace", ns, "-create-namespace", "-timeout", "90s"}, flags...)
		return append(a, s.User+"@"+s.Host, spec)
	}
	var out, errOut bytes.Buffer
	if code := run(args(), &out, &errOut); code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if got, err := kubectl("-n", ns, "get", "deployment", "web", "-o", "name"); err != nil || got != "deployment.apps/web" {
		t.Errorf("deployment in the new namespace: %q, %v", got, err)
	}
	if code := run(args("-remove"), &out, &errOut); code != 0 {
		t.Fatalf("remove: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if got, _ := kubectl("-n", ns, "get", "deployments,services", "-l", "app.kubernetes.io/instance=web", "-o", "name"); got != "" {
		t.Errorf("left after -remove: %s", got)
	}
}
