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
			files, err := translate.ToCompose(app)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".compose.golden", composeBundle(files))
			k8s, err := translate.ToKubernetes(app, translate.WithNamespace("apps"))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".k8s.golden", k8s)

			// Deterministic: a second run gives the same bytes.
			again, _ := translate.ToKubernetes(app, translate.WithNamespace("apps"))
			if !bytes.Equal(k8s, again) {
				t.Error("ToKubernetes is not deterministic")
			}
			files2, _ := translate.ToCompose(app)
			if !bytes.Equal(composeBundle(files), composeBundle(files2)) {
				t.Error("ToCompose is not deterministic")
			}
		})
	}
}
