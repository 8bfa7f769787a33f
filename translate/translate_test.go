package translate_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/translate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// composeBundle renders every file ToCompose returns as one text, each
// file after a "# path (mode)" header; secret files are included so the
// golden files pin their exact format.
func composeBundle(files []translate.File) []byte {
	var b bytes.Buffer
	for i, f := range files {
		if i > 0 {
			b.WriteString("\n")
		}
		secret := ""
		if f.Secret {
			secret = ", secret"
		}
		b.WriteString("# " + f.Path + " (" + f.Mode.String() + secret + ")\n")
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteString("\n# (no newline at end of file)\n")
		}
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// caseOptions reads the options of a test case from its first line,
// "# options: project=x network=y proxy=caddy namespace=ns
// ingress-class=c create-namespace". Without the line a case runs with
// namespace "apps".
func caseOptions(t *testing.T, path string) ([]translate.ComposeOption, []translate.KubernetesOption) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	copts := []translate.ComposeOption{}
	kopts := []translate.KubernetesOption{translate.WithNamespace("apps")}
	spec, ok := strings.CutPrefix(first, "# options:")
	if !ok {
		return copts, kopts
	}
	for _, f := range strings.Fields(spec) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "project":
			copts = append(copts, translate.WithProject(v))
		case "network":
			copts = append(copts, translate.WithNetwork(v))
		case "proxy":
			copts = append(copts, translate.WithProxy(v))
		case "namespace":
			kopts = append(kopts, translate.WithNamespace(v))
		case "ingress-class":
			kopts = append(kopts, translate.WithIngressClass(v))
		case "create-namespace":
			kopts = append(kopts, translate.WithCreateNamespace(true))
		default:
			t.Fatalf("%s: unknown option %q", path, k)
		}
	}
	return copts, kopts
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.app.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, in := range cases {
		base := strings.TrimSuffix(in, ".app.yaml")
		t.Run(filepath.Base(base), func(t *testing.T) {
			app, err := translate.Load(in)
			if err != nil {
				t.Fatal(err)
			}
			copts, opts := caseOptions(t, in)
			files, err := translate.ToCompose(app, copts...)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".compose.golden", composeBundle(files))
			k8s, err := translate.ToKubernetes(app, opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".k8s.golden", k8s)

			// Deterministic: a second run gives the same bytes.
			again, _ := translate.ToKubernetes(app, opts...)
			if !bytes.Equal(k8s, again) {
				t.Error("ToKubernetes is not deterministic")
			}
			files2, _ := translate.ToCompose(app, copts...)
			if !bytes.Equal(composeBundle(files), composeBundle(files2)) {
				t.Error("ToCompose is not deterministic")
			}
		})
	}
}
