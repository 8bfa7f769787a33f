package translate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

func TestBuildValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		want []string // problems, "" for none
	}{
		{"context only", "build: {context: .}", nil},
		{"git with subdir", "build: {git: 'https://example.com/r.git', ref: main, context: api}", nil},
		{"no source", "build: {dockerfile: Dockerfile}", []string{"build: needs a context"}},
		{"bad url", "build: {git: 'not a url'}", []string{"build.git: \"not a url\" is not a repository URL"}},
		{"option url", "build: {git: '-uhttps://x'}", []string{"build.git:"}},
		{"ref without git", "build: {context: ., ref: main}", []string{"build.ref: is only used with git"}},
		{"bad ref", "build: {git: 'https://e.com/r', ref: '--upload-pack=x'}", []string{"build.ref:"}},
		{"leaving subdir", "build: {git: 'https://e.com/r', context: ../x}", []string{"build.context:"}},
		{"dockerfile outside", "build: {context: ., dockerfile: /etc/passwd}", []string{"build.dockerfile:"}},
		{"bad arg", "build: {context: ., args: {'a-b': x}}", []string{"build.args.a-b:"}},
		{"secret both", "build: {context: ., secrets: [{id: a, env: A, file: f}]}", []string{"build.secrets[0]: needs exactly one"}},
		{"secret twice", "build: {context: ., secrets: [{id: a, env: A}, {id: a, env: B}]}", []string{"build.secrets[1].id: \"a\" is listed twice"}},
		{"registry inline password", "image: r.example.com/x\nregistry: {user: u}", []string{"registry: needs exactly one of password_env and password_file"}},
		{"registry of hub image", "image: nginx\nregistry: {user: u, password_env: P}", []string{"registry.registry: is required"}},
		{"registry ok", "image: r.example.com:5000/x\nregistry: {user: u, password_env: P}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := "name: app\n" + tc.spec + "\n"
			if !strings.Contains(tc.spec, "image:") && !strings.Contains(tc.spec, "build:") {
				spec += "image: x\n"
			}
			_, err := translate.Parse([]byte(spec))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var ve *translate.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %v, want a *ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadBuildContextRelativeToSpec(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(p, []byte("name: app\nbuild: {context: src}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	app, err := translate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "src"); app.Build.Context != want {
		t.Errorf("Context = %q, want %q", app.Build.Context, want)
	}
}

func TestImageRegistry(t *testing.T) {
	for in, want := range map[string][2]string{
		"nginx":                     {"", "nginx"},
		"team/web:1":                {"", "team/web"},
		"127.0.0.1:5000/team/web:1": {"127.0.0.1:5000", "127.0.0.1:5000/team/web"},
		"localhost/web@sha256:abc":  {"localhost", "localhost/web"},
		"ghcr.io/o/web":             {"ghcr.io", "ghcr.io/o/web"},
		"r.example.com:5000/x:main": {"r.example.com:5000", "r.example.com:5000/x"},
	} {
		if got := translate.ImageRegistry(in); got != want[0] {
			t.Errorf("ImageRegistry(%q) = %q, want %q", in, got, want[0])
		}
		if got := translate.ImageRepository(in); got != want[1] {
			t.Errorf("ImageRepository(%q) = %q, want %q", in, got, want[1])
		}
	}
}

func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"nginx": "Always", "nginx:latest": "Always", "r.example.com:5000/x:main": "Always", "x:master": "Always",
		"nginx:1.27": "", "r.example.com:5000/x": "Always", "r.example.com:5000/x@sha256:abc": "", "x:main-2": "",
	} {
		if got := translate.PullPolicy(image); got != want {
			t.Errorf("PullPolicy(%q) = %q, want %q", image, got, want)
		}
	}
}
