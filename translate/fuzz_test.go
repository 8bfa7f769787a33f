package translate_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// FuzzTranslate puts arbitrary strings into the fields whose values end
// up in the output. A valid app must translate both ways, and what a YAML
// reader gets back from the output must be the value itself (after
// Compose's "$$" unescaping for compose.yaml).
func FuzzTranslate(f *testing.F) {
	f.Add("web", "value", "$(HOME) $$ ${X}", "512m", "0.5", "/api", "echo hi")
	f.Add("a", "yes", "line\nnext", "1Gi", "250m", "/", "exit 0")
	f.Add("x1", "80:8080", "'\"\\", "100", "2", "/a/b", "$X")
	f.Fuzz(func(t *testing.T, name, envValue, arg, memory, cpu, path, shell string) {
		app := &translate.App{
			Name:      name,
			Image:     "example/app:1",
			Args:      []string{arg},
			Ports:     []translate.Port{{Container: 8080}},
			Domains:   []translate.Domain{{Host: "app.example.com", Path: path}},
			Env:       map[string]string{"V": envValue},
			Secrets:   []translate.Secret{{Name: "s", Value: envValue, Env: "S"}},
			Health:    &translate.Health{Shell: shell},
			Resources: translate.Resources{Limits: translate.Quantity{CPU: cpu, Memory: memory}},
		}
		if app.Validate() != nil {
			return
		}
		files, err := translate.ToCompose(app)
		if err != nil {
			t.Fatalf("ToCompose: %v", err)
		}
		var c struct {
			Services map[string]struct {
				Environment map[string]string `yaml:"environment"`
				Command     []string          `yaml:"command"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(files[0].Data, &c); err != nil {
			t.Fatalf("compose.yaml: %v\n%s", err, files[0].Data)
		}
		unescape := func(s string) string { return strings.ReplaceAll(s, "$$", "$") }
		svc := c.Services[name]
		if got := unescape(svc.Environment["V"]); got != envValue {
			t.Errorf("compose env: got %q, want %q", got, envValue)
		}
		if len(svc.Command) != 1 || unescape(svc.Command[0]) != arg {
			t.Errorf("compose command: got %q, want %q", svc.Command, arg)
		}
		k8s, err := translate.ToKubernetes(app)
		if err != nil {
			t.Fatalf("ToKubernetes: %v", err)
		}
		var cm struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(k8s))
		if err := dec.Decode(&cm); err != nil || cm.Kind != "ConfigMap" || cm.Data["V"] != envValue {
			t.Errorf("ConfigMap: %v, %q, want %q", err, cm.Data["V"], envValue)
		}
	})
}
