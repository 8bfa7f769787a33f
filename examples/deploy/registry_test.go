package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// TestDeployBuildWithRegistryLogin deploys a spec with a build section
// through the command, logging in to the private test registry its
// image names: a wrong password in FERRY_REGISTRY_PASSWORD is reported
// as such (exit 2, nothing changed); the right one on standard input
// with -registry-user and -registry-password-stdin deploys the built
// image, and the password is not in the output.
func TestDeployBuildWithRegistryLogin(t *testing.T) {
	reg := testenv.Registry(t)
	c := newCLI(t)
	ctx := filepath.Join(t.TempDir(), "site")
	for name, content := range map[string]string{
		"Dockerfile": "FROM " + testenv.WebappV1 + "\nENV MESSAGE=\"built by the cli\"\n",
		"README":     "context file",
	} {
		if err := os.MkdirAll(ctx, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := reg.Addr + "/" + c.name + "/site"
	t.Cleanup(func() { // before newCLI's cleanup: remove the app's containers first
		cs, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.name).Output()
		if ids := strings.Fields(string(cs)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		out, _ := exec.Command("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo).Output()
		for _, ref := range strings.Fields(string(out)) {
			if !strings.HasSuffix(ref, ":<none>") {
				exec.Command("docker", "image", "rm", ref).Run() // by reference, never by ID
			}
		}
	})
	spec := c.spec(repo, "build:\n  context: "+ctx+"\n")

	t.Setenv("FERRY_REGISTRY_USER", reg.User)
	t.Setenv("FERRY_REGISTRY_PASSWORD", "not-"+reg.Password)
	code, _, stderr := c.run(spec)
	if code != exitNotRolled || !strings.Contains(stderr, "refused the credentials") {
		t.Errorf("wrong password: exit %d, stderr lacks \"refused the credentials\":\n%s", code, stderr)
	}

	t.Setenv("FERRY_REGISTRY_USER", "")
	t.Setenv("FERRY_REGISTRY_PASSWORD", "")
	stdin = strings.NewReader(reg.Password + "\n")
	defer func() { stdin = os.Stdin }()
	code, stdout, stderr := c.run(spec, "-registry-user", reg.User, "-registry-password-stdin")
	if code != exitOK {
		t.Fatalf("deploy: exit %d", code)
	}
	if got := c.get(); got != "built by the cli" {
		t.Errorf("GET / = %q", got)
	}
	if strings.Contains(stdout+stderr, reg.Password) {
		t.Errorf("the output shows the password")
	}
	if !strings.Contains(stdout+stderr, "docker login "+reg.Addr) {
		t.Errorf("the output does not show the login step")
	}
}

// TestDeployComposeBuild deploys a compose file whose service has a
// build: section and no image, unchanged, to Docker over sshd: ferry
// builds the context on the host (Compose there has no copy of it), and
// a second deploy of the same file builds nothing.
func TestDeployComposeBuild(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	os.MkdirAll(site, 0o755)
	os.WriteFile(filepath.Join(site, "Dockerfile"), []byte("FROM "+testenv.WebappV1+"\nENV MESSAGE=\"built from compose\"\n"), 0o644)
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf("name: %s\nservices:\n  web:\n    build: ./site\n    ports: [\"%d:8080\"]\n", c.name, c.port)), 0o644)
	t.Cleanup(func() {
		cs, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.name).Output()
		if ids := strings.Fields(string(cs)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		out, _ := exec.Command("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", c.name+"-web").Output()
		for _, ref := range strings.Fields(string(out)) {
			exec.Command("docker", "image", "rm", ref).Run()
		}
	})
	code, stdout, _ := c.run(file)
	if code != exitOK || c.get() != "built from compose" {
		t.Fatalf("deploy: exit %d, GET / = %q", code, c.get())
	}
	if !strings.Contains(stdout, "build "+c.name+"-web:ctx-") {
		t.Errorf("the output shows no build of %s-web:ctx-...", c.name)
	}
	if _, stdout, _ = c.run(file); strings.Contains(stdout, "build "+c.name+"-web:ctx-") {
		t.Errorf("the second deploy of the same file built again")
	}
}
