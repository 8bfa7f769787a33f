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
func caseOptions(t *testing.T, path string) []translate.Option {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	spec, ok := strings.CutPrefix(first, "# options:")
	if !ok {
		return []translate.Option{translate.WithNamespace("apps")}
	}
	opts := []translate.Option{translate.WithNamespace("apps")}
	for _, f := range strings.Fields(spec) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "project":
			opts = append(opts, translate.WithProject(v))
		case "network":
			opts = append(opts, translate.WithNetwork(v))
		case "proxy":
			opts = append(opts, translate.WithProxy(v))
		case "namespace":
			opts = append(opts, translate.WithNamespace(v))
		case "ingress-class":
			opts = append(opts, translate.WithIngressClass(v))
		case "create-namespace":
			opts = append(opts, translate.WithCreateNamespace(true))
		default:
			t.Fatalf("%s: unknown option %q", path, k)
		}
	}
	return opts
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
			opts := caseOptions(t, in)
			files, err := translate.ToCompose(app, opts...)
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
			files2, _ := translate.ToCompose(app, opts...)
			if !bytes.Equal(composeBundle(files), composeBundle(files2)) {
				t.Error("ToCompose is not deterministic")
			}
		})
	}
}
