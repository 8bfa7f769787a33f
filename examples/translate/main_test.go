package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildTranslate builds the command once for the test, so that the test
// checks the real exit status and streams.
func buildTranslate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "translate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestCommand(t *testing.T) {
	bin := buildTranslate(t)
	web := filepath.Join("..", "apps", "web.yaml")

	t.Run("compose", func(t *testing.T) {
		out, errOut, code := runBin(t, bin, "-to", "compose", web)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if !strings.HasPrefix(out, "name: web\nservices:\n  web:\n") {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("kubernetes", func(t *testing.T) {
		out, _, code := runBin(t, bin, "-to", "kubernetes", "-namespace", "prod", web)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{"kind: Deployment", "namespace: prod", "kind: Ingress"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("out dir", func(t *testing.T) {
		dir := t.TempDir()
		out, _, code := runBin(t, bin, "-to", "compose", "-out", dir, filepath.Join("..", "apps", "shop.yaml"))
		if code != 0 || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		for path, mode := range map[string]os.FileMode{"compose.yaml": 0o644, "secrets.env": 0o600, "secrets/tls-key": 0o600} {
			fi, err := os.Stat(filepath.Join(dir, path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		spec := "name: Bad_Name\nimage: nginx\nports:\n  - container: 80\n  - container: 70000\nreplicas: -1\n"
		if err := os.WriteFile(bad, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, to := range []string{"compose", "kubernetes"} {
			out, errOut, code := runBin(t, bin, "-to", to, bad)
			if code != 1 || out != "" {
				t.Errorf("-to %s: exit %d, stdout %q; want 1 and nothing", to, code, out)
			}
			want := `name: "Bad_Name" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)
ports[1].container: 70000 is not a port (1-65535)
replicas: -1 is negative
`
			if errOut != want {
				t.Errorf("-to %s: stderr\n%s\nwant\n%s", to, errOut, want)
			}
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("name: web\nimage: nginx\nreplica: 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runBin(t, bin, "-to", "compose", bad)
		if code != 1 || out != "" || !strings.HasSuffix(errOut, "bad.yaml:3: unknown key \"replica\" in app\n") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("usage", func(t *testing.T) {
		_, _, code := runBin(t, bin, "-to", "swarm", web)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

// TestComposeInput: compose files in, merged in order; warnings on
// stderr; -strict; Compose's own errors with the line; ferry's stacks.
func TestComposeInput(t *testing.T) {
	bin := buildTranslate(t)
	corpus := filepath.Join("..", "..", "translate", "compose", "testdata", "corpus")
	t.Run("merged files", func(t *testing.T) {
		out, errOut, code := runBin(t, bin, "-to", "kubernetes", "-namespace", "prod",
			filepath.Join(corpus, "multifile", "base.yaml"), filepath.Join(corpus, "multifile", "prod.yaml"))
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{"kind: Deployment\nmetadata:\n  name: web\n  namespace: prod", "replicas: 3", "MODE: production", "name: db-dbdata"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("normalized compose", func(t *testing.T) {
		out, _, code := runBin(t, bin, "-to", "compose", filepath.Join(corpus, "webapp", "compose.yaml"))
		if code != 0 || !strings.HasPrefix(out, "name: webapp\nservices:\n") || !strings.Contains(out, "condition: service_healthy") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
	})
	traefik := filepath.Join(corpus, "traefik", "compose.yaml")
	t.Run("warnings", func(t *testing.T) {
		out, errOut, code := runBin(t, bin, "-to", "kubernetes", traefik)
		want := "warning: " + traefik + ":24: service app: labels.traefik.http.middlewares.gzip.compress: Traefik setting not translated to the Ingress\n"
		if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(out, "kind: Ingress") {
			t.Errorf("exit %d, stderr:\n%s\nwant a line %q", code, errOut, want)
		}
	})
	t.Run("strict", func(t *testing.T) {
		out, errOut, code := runBin(t, bin, "-to", "kubernetes", "-strict", traefik)
		if code != 1 || out != "" || !strings.Contains(errOut, "strict mode: 6 warning(s)") {
			t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
		}
		_, _, code = runBin(t, bin, "-to", "kubernetes", "-strict", filepath.Join(corpus, "minimal", "compose.yaml"))
		if code != 0 {
			t.Errorf("-strict without warnings: exit %d", code)
		}
	})
	t.Run("invalid compose", func(t *testing.T) {
		bad := filepath.Join(corpus, "invalid", "compose.yaml")
		out, errOut, code := runBin(t, bin, "-to", "kubernetes", bad)
		if code != 1 || out != "" || !strings.Contains(errOut, bad+":5: ") || !strings.Contains(errOut, "'prots' not allowed") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("ferry stack", func(t *testing.T) {
		stack := filepath.Join("..", "..", "translate", "testdata", "blog.stack.yaml")
		out, errOut, code := runBin(t, bin, "-to", "kubernetes", stack)
		if code != 0 || errOut != "" || !strings.Contains(out, "kind: StatefulSet\nmetadata:\n  name: db") || !strings.Contains(out, "name: redis") {
			t.Errorf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
		}
		out, _, code = runBin(t, bin, "-to", "compose", stack)
		if code != 0 || !strings.Contains(out, "\n  cache:\n") || !strings.Contains(out, "\n  web:\n") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
	})
}
