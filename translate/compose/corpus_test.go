package compose_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
	"github.com/ferryhq/ferry/translate/compose"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus/*/golden")

// corpusCase is one project of testdata/corpus: its files (listed in
// "files", else compose.yaml) and the process environment it is loaded
// with ("process.env", else none).
type corpusCase struct {
	name  string
	dir   string
	files []string
	env   []string
}

func corpusCases(tb testing.TB) []corpusCase {
	tb.Helper()
	dirs, err := filepath.Glob("testdata/corpus/*")
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	var cases []corpusCase
	for _, dir := range dirs {
		c := corpusCase{name: filepath.Base(dir), dir: dir, env: []string{}}
		c.files = []string{filepath.Join(dir, "compose.yaml")}
		if list, err := os.ReadFile(filepath.Join(dir, "files")); err == nil {
			c.files = nil
			for _, f := range strings.Fields(string(list)) {
				c.files = append(c.files, filepath.Join(dir, f))
			}
		}
		if env, err := os.ReadFile(filepath.Join(dir, "process.env")); err == nil {
			c.env = strings.Fields(strings.ReplaceAll(string(env), " ", "\x00"))
			for i := range c.env {
				c.env[i] = strings.ReplaceAll(c.env[i], "\x00", " ")
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func (c corpusCase) load(strict bool) (*translate.Stack, error) {
	return compose.Load(context.Background(), c.files, compose.Options{Env: c.env, Strict: strict})
}

// render writes what a case gives, with the corpus's absolute path
// written "<corpus>" so that the golden file does not depend on where
// the checkout is.
func render(tb testing.TB, s *translate.Stack, err error) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err != nil {
		fmt.Fprintf(&b, "error:\n%v\n", err)
	} else {
		b.WriteString("warnings:\n")
		for _, w := range s.Warnings {
			fmt.Fprintf(&b, "  %s\n", w)
		}
		b.WriteString("--- compose\n")
		b.Write(s.Compose)
		objs, kerr := translate.StackObjects(s, translate.WithNamespace("corpus"))
		b.WriteString("--- kubernetes\n")
		if kerr != nil {
			fmt.Fprintf(&b, "error:\n%v\n", kerr)
		}
		b.Write(translate.Manifest(objs))
	}
	abs, _ := filepath.Abs("testdata/corpus")
	return bytes.ReplaceAll(b.Bytes(), []byte(abs), []byte("<corpus>"))
}

func TestCorpusGolden(t *testing.T) {
	for _, c := range corpusCases(t) {
		t.Run(c.name, func(t *testing.T) {
			s, err := c.load(false)
			got := render(t, s, err)
			path := filepath.Join(c.dir, "golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatalf("%v (run go test -update)", rerr)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
			s2, err2 := c.load(false)
			if !bytes.Equal(render(t, s2, err2), got) {
				t.Error("loading and translating twice gives different bytes")
			}
		})
	}
}

// TestCorpusSummary counts the projects that translate to Kubernetes
// with no warning, with warnings, or not at all.
func TestCorpusSummary(t *testing.T) {
	var clean, warned, failed []string
	for _, c := range corpusCases(t) {
		s, err := c.load(false)
		if err == nil {
			_, err = translate.StackObjects(s, translate.WithNamespace("corpus"))
		}
		switch {
		case err != nil:
			failed = append(failed, c.name)
		case len(s.Warnings) > 0:
			warned = append(warned, fmt.Sprintf("%s (%d)", c.name, len(s.Warnings)))
		default:
			clean = append(clean, c.name)
		}
	}
	t.Logf("corpus: %d translate to Kubernetes with no warning %v, %d with warnings %v, %d not at all %v",
		len(clean), clean, len(warned), warned, len(failed), failed)
	if len(clean)+len(warned) == 0 {
		t.Error("nothing in the corpus translates")
	}
}

// TestCorpusStrict: strict mode refuses exactly the projects that have
// warnings, listing them.
func TestCorpusStrict(t *testing.T) {
	for _, c := range corpusCases(t) {
		s, err := c.load(false)
		if err != nil {
			continue
		}
		_, serr := c.load(true)
		var se *compose.StrictError
		switch {
		case len(s.Warnings) == 0 && serr != nil:
			t.Errorf("%s: strict mode fails without warnings: %v", c.name, serr)
		case len(s.Warnings) > 0 && !errorsAs(serr, &se):
			t.Errorf("%s: strict mode gives %v, want a *StrictError", c.name, serr)
		case se != nil && len(se.Warnings) != len(s.Warnings):
			t.Errorf("%s: strict error lists %d warnings, want %d", c.name, len(se.Warnings), len(s.Warnings))
		}
	}
}

// TestCorpusComposeConfig hands every normalized project to `docker
// compose config`, which must accept it as it is.
func TestCorpusComposeConfig(t *testing.T) {
	tool := strings.Fields(testenv.Compose(t))
	if len(tool) != 2 {
		testenv.Require(t, "FERRY_REQUIRE_COMPOSE", "needs Compose v2 (docker compose)", "run .ci/tools")
	}
	for _, c := range corpusCases(t) {
		s, err := c.load(false)
		if err != nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, s.Compose, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tool[0], append(tool[1:], "-f", file, "config", "-q")...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "COMPOSE_PROFILES=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("docker compose config: %v\n%s\n--- compose.yaml:\n%s", err, out, s.Compose)
			}
		})
	}
}

// TestCorpusDryRun hands every project's Kubernetes objects to the test
// cluster's kube-apiserver in a server-side dry run.
func TestCorpusDryRun(t *testing.T) {
	kubeconfig := testenv.Kubeconfig(t)
	ns := testenv.Namespace(t, kubeconfig)
	for _, c := range corpusCases(t) {
		s, err := c.load(false)
		if err != nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			objs, err := translate.StackObjects(s, translate.WithNamespace(ns))
			if err != nil {
				t.Fatal(err)
			}
			m := translate.Manifest(objs)
			cmd := exec.Command("kubectl", "apply", "--server-side", "--dry-run=server", "--validate=strict",
				"--field-manager=ferry-test", "-f", "-")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			cmd.Stdin = bytes.NewReader(m)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s\n--- manifests:\n%s", err, out, m)
			}
		})
	}
}

func errorsAs(err error, target any) bool { return err != nil && errorsAsImpl(err, target) }
