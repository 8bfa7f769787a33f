package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// TestQuickstart runs the quickstart as `go run ./examples/quickstart`
// would: it must end well whatever this machine has, deploying for real
// where it can and saying why not where it cannot.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	code := run(nil, &out)
	t.Logf("output:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	s := out.String()
	for _, want := range []string{"ferry quickstart", "plan (version", "deploy\n", "upload"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(s, "result: succeeded") && !strings.Contains(s, "skipped: ") {
		t.Errorf("output neither deploys nor says why not")
	}
	if n := strings.Count(s, "\n"); n > 45 {
		t.Errorf("output is %d lines; keep it short", n)
	}
}

// TestQuickstartBuildsImage: on a machine with Docker but without the
// sample's image, the quickstart builds it (nothing is pulled), deploys,
// serves and removes the app.
func TestQuickstartBuildsImage(t *testing.T) {
	testenv.Docker(t)
	testenv.Compose(t)
	const image = "ferry-quickstart-demo:v1"
	exec.Command("docker", "rmi", "-f", image).Run()
	if exec.Command("docker", "image", "inspect", image).Run() == nil {
		t.Fatalf("could not remove %s before the test", image)
	}
	var out bytes.Buffer
	code := run([]string{"-to", "docker"}, &out)
	t.Logf("output:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"target  docker", "result: succeeded", `says "hello from ferry"`, "removed again"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		t.Errorf("image %s not built: %v", image, err)
	}
	if ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=ferry-quickstart").Output(); len(bytes.TrimSpace(ids)) > 0 {
		t.Errorf("containers left: %s", ids)
	}
}

// TestQuickstartNothingInstalled: with neither Docker nor kubectl on the
// host, the plan is shown, the files uploaded, and the other steps
// marked skipped with the reason.
func TestQuickstartNothingInstalled(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"cat", "chmod", "mv", "mkdir", "head"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	var out bytes.Buffer
	code := run(nil, &out)
	t.Logf("output:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"target  none (no Docker engine; no kubectl)", "✓ upload", "skipped: no Docker engine; no kubectl"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestQuickstartKubernetes takes the quickstart to the test cluster.
func TestQuickstartKubernetes(t *testing.T) {
	testenv.Kubeconfig(t) // the quickstart reads FERRY_KUBECONFIG itself
	var out bytes.Buffer
	code := run([]string{"-to", "kubernetes"}, &out)
	t.Logf("output:\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"target  kubernetes", "result: succeeded", "manifest.yaml"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
