package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// composeSecret is the content of the compose files' secret file.
const composeSecret = "s3cret-from-a-compose-file"

// composeFiles writes a base compose file (web depending on a healthy db,
// web published on port) and an override that changes web's message, and
// returns their paths in merge order.
func composeFiles(t *testing.T, name string, port int) []string {
	t.Helper()
	dir := t.TempDir()
	base := fmt.Sprintf(`name: %s
services:
  db:
    image: %s
    environment:
      MESSAGE: db
    stop_signal: SIGINT
    healthcheck:
      test: ["CMD", "/webapp", "-healthcheck", "/healthz"]
      interval: 1s
  web:
    image: %s
    environment:
      MESSAGE: from base
    ports:
      - "127.0.0.1:%d:8080"
    depends_on:
      db:
        condition: service_healthy
    secrets:
      - api_key
secrets:
  api_key:
    file: ./api_key.txt
`, name, testenv.WebappV1, testenv.WebappV1, port)
	if err := os.WriteFile(filepath.Join(dir, "api_key.txt"), []byte(composeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	override := "services:\n  web:\n    environment:\n      MESSAGE: from override\n"
	paths := []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "compose.prod.yaml")}
	for i, data := range []string{base, override} {
		if err := os.WriteFile(paths[i], []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// TestDeployComposeFiles deploys two compose files, merged in order, to
// Docker over a real sshd: the override wins, db comes up before web,
// and Docker (which runs the compose project as it is) prints none of
// the loader's warnings;
// the Kubernetes dry run of the same files prints its warnings on stderr.
func TestDeployComposeFiles(t *testing.T) {
	c := newCLI(t)
	files := composeFiles(t, c.name, c.port)
	args := []string{"-to", "docker", "-i", c.s.KeyFile, "-known-hosts", c.s.KnownHosts, "-p", c.sshPort,
		"-dir", filepath.Join(c.dir, "apps"), "-timeout", "60s", c.s.User + "@" + c.s.Host}
	var out, errOut bytes.Buffer
	code := run(append(args, files...), &out, &errOut)
	t.Logf("deploy: exit %d\n%s%s", code, out.String(), errOut.String())
	if code != exitOK {
		t.Fatalf("deploy of compose files: exit %d", code)
	}
	if got := c.get(); got != "from override" {
		t.Errorf("web says %q, want the override's message", got)
	}
	// The secret file travelled with the project: the uploaded compose
	// file names it by a path inside the app's directory, not by this
	// machine's path, and web reads it at its target.
	uploaded, err := os.ReadFile(filepath.Join(c.dir, "apps", c.name, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(uploaded), filepath.Dir(files[0])) || !strings.Contains(string(uploaded), "./secrets/api_key") {
		t.Errorf("uploaded compose.yaml does not refer to the uploaded secret file:\n%s", uploaded)
	}
	if fi, err := os.Stat(filepath.Join(c.dir, "apps", c.name, "secrets", "api_key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("uploaded secret file: %v, %v; want mode 0600", fi, err)
	}
	if got := c.getPath("/file?path=/run/secrets/api_key"); got != composeSecret {
		t.Errorf("web reads %q from /run/secrets/api_key, want the secret file's content", got)
	}
	if strings.Contains(out.String()+errOut.String(), composeSecret) {
		t.Errorf("the secret's value is in the deploy's output")
	}
	// The loader's warnings (here, stop_signal not translated to
	// Kubernetes) do not concern Docker, which runs the project as it is.
	if strings.Contains(errOut.String(), "stop_signal") {
		t.Errorf("Docker deploying the compose project printed the loader's warnings:\n%s", errOut.String())
	}
	if n := len(c.containers()); n != 2 {
		t.Errorf("%d containers, want db and web", n)
	}

	out.Reset()
	errOut.Reset()
	dry := []string{"-to", "kubernetes", "-dry-run", "user@host"}
	if code := run(append(dry, files...), &out, &errOut); code != exitOK {
		t.Fatalf("kubernetes dry run: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "deploy: warning: ") || !strings.Contains(errOut.String(), "stop_signal") {
		t.Errorf("kubernetes dry run: no warning about stop_signal on stderr:\n%s", errOut.String())
	}
	if !strings.Contains(out.String(), "services: db, web (in this order)") {
		t.Errorf("kubernetes dry run:\n%s", out.String())
	}

	// A ferry spec cannot be merged with compose files.
	spec := c.spec(testenv.WebappV1, "")
	errOut.Reset()
	if code := run(append(dry, files[0], spec), &out, &errOut); code != exitBadInput || !strings.Contains(errOut.String(), "ferry's spec") {
		t.Errorf("compose file and ferry spec together: exit %d\n%s", code, errOut.String())
	}
}
