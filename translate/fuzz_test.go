package translate_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/translate"
)

// FuzzParse feeds arbitrary bytes to Parse. Nothing may panic; a spec
// that Parse accepts must translate both ways into well-formed YAML, the
// same bytes every time.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.app.yaml")
	examples, _ := filepath.Glob("../examples/apps/*.yaml")
	for _, p := range append(seeds, examples...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: a\nimage: b\nresources: {limits: {memory: 99999999999999999999t, cpu: 1.0000}}\n"))
	f.Add([]byte("name: a\nimage: b\nhealth: {interval: 1.5s, shell: x}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := translate.Parse(data)
		if err != nil {
			var ve *translate.ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatal("ValidationError without problems")
			}
			if app != nil {
				t.Fatal("app returned with an error")
			}
			return
		}
		files, err := translate.ToCompose(app)
		if err != nil {
			t.Fatalf("valid app, ToCompose: %v", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(files[0].Data, &doc); err != nil {
			t.Fatalf("compose output is not YAML: %v\n%s", err, files[0].Data)
		}
		again, _ := translate.ToCompose(app)
		if !bytes.Equal(again[0].Data, files[0].Data) {
			t.Fatal("ToCompose is not deterministic")
		}
		k8s, err := translate.ToKubernetes(app)
		if err != nil {
			if app.Restart == "no" || app.Restart == "on-failure" {
				return
			}
			t.Fatalf("valid app, ToKubernetes: %v", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(k8s))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("Kubernetes output is not YAML: %v\n%s", err, k8s)
			}
		}
		k8s2, _ := translate.ToKubernetes(app)
		if !bytes.Equal(k8s, k8s2) {
			t.Fatal("ToKubernetes is not deterministic")
		}
	})
}
