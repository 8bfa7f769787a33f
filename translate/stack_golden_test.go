package translate_test

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// stackCases returns the stacks of testdata/*.stack.yaml.
func stackCases(t *testing.T) map[string]*translate.Stack {
	t.Helper()
	ins, _ := filepath.Glob("testdata/*.stack.yaml")
	if len(ins) == 0 {
		t.Fatal("no stack cases")
	}
	out := map[string]*translate.Stack{}
	for _, in := range ins {
		s, err := translate.LoadStack(in)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(in, ".stack.yaml")] = s
	}
	return out
}

// TestStackGolden translates the stacks of testdata both ways.
func TestStackGolden(t *testing.T) {
	for base, s := range stackCases(t) {
		t.Run(filepath.Base(base), func(t *testing.T) {
			files, err := translate.StackToCompose(s)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".compose.golden", composeBundle(files))
			objs, err := translate.StackObjects(s, translate.WithNamespace("apps"), translate.WithCreateNamespace(true))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".k8s.golden", translate.Manifest(objs))
			again, _ := translate.StackObjects(s, translate.WithNamespace("apps"), translate.WithCreateNamespace(true))
			if !bytes.Equal(translate.Manifest(objs), translate.Manifest(again)) {
				t.Error("StackObjects is not deterministic")
			}
		})
	}
}

// TestStackOfOne: a stack of one translates as its app does.
func TestStackOfOne(t *testing.T) {
	app, err := translate.Load("testdata/shop.app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := translate.LoadStack("testdata/shop.app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := translate.ToCompose(app)
	b, err := translate.StackToCompose(s)
	if err != nil || !bytes.Equal(composeBundle(a), composeBundle(b)) {
		t.Errorf("StackToCompose of a stack of one differs from ToCompose: %v", err)
	}
	k1, _ := translate.ToKubernetes(app)
	objs, err := translate.StackObjects(s)
	if err != nil || !bytes.Equal(k1, translate.Manifest(objs)) {
		t.Errorf("StackObjects of a stack of one differs from ToKubernetes: %v", err)
	}
}

func TestParseStackErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"name: s\nservices:\n  web: {image: x, replica: 2}\n  db: {name: other, image: y, depends_on: [{service: web, condition: service_healthy}]}\n",
			"line 3: unknown key \"replica\" in app\nline 4: service \"db\" has name \"other\"; leave name out or make it the same\n" +
				"services[db].depends_on[0].condition: \"web\" has no health check, so it can never be healthy"},
		{"name: s\nservices: 3\n", "line 2: services must be a map of services by name or a list of services\nservices: at least one service is required"},
		{"name: s\nservices: []\nextra: 1\n", "line 3: unknown key \"extra\" in \nservices: at least one service is required"},
	}
	for _, tt := range tests {
		_, err := translate.ParseStack([]byte(tt.spec))
		var se *translate.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseStack(%q) = %v, want a *SyntaxError", tt.spec, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseStack(%q):\n got %s\nwant %s", tt.spec, err, tt.want)
		}
	}
	_, err := translate.ParseStack([]byte("name: s\nservices:\n  - {name: a, image: x, depends_on: [{service: b}]}\n  - {name: b, image: x, depends_on: [{service: a}]}\n"))
	var ve *translate.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Errorf("cycle: %v", err)
	}
}

// TestStackComposeConfig hands each stack's compose translation to
// `docker compose config`.
func TestStackComposeConfig(t *testing.T) {
	compose := strings.Fields(testenv.Compose(t))
	if len(compose) != 2 {
		t.Skip("needs Compose v2")
	}
	for base, s := range stackCases(t) {
		t.Run(filepath.Base(base), func(t *testing.T) {
			files, err := translate.StackToCompose(s)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFiles(t, dir, files)
			cmd := exec.Command(compose[0], append(compose[1:], "-f", filepath.Join(dir, "compose.yaml"), "config", "-q")...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("compose config: %v\n%s\n%s", err, out, files[0].Data)
			}
		})
	}
}

// TestStackDryRun hands each stack's objects to kube-apiserver.
func TestStackDryRun(t *testing.T) {
	kubeconfig := testenv.Kubeconfig(t)
	ns := testenv.Namespace(t, kubeconfig)
	for base, s := range stackCases(t) {
		t.Run(filepath.Base(base), func(t *testing.T) {
			objs, err := translate.StackObjects(s, translate.WithNamespace(ns))
			if err != nil {
				t.Fatal(err)
			}
			m := translate.Manifest(objs)
			out, err := kubectl(t, kubeconfig, m, "apply", "--server-side", "--dry-run=server",
				"--validate=strict", "--field-manager=ferry-test", "-f", "-")
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s\n--- manifests:\n%s", err, out, m)
			}
		})
	}
}
