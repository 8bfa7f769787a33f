package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/translate"
)

// TestBuildMapping checks that Compose's build: becomes translate.Build:
// a local context (absolute, as Compose resolves it) with dockerfile,
// args and target, and a git context with its ref and subdirectory.
func TestBuildMapping(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, []byte(`services:
  api:
    build:
      context: ./api
      dockerfile: deploy/Dockerfile
      target: runtime
      args:
        GO_VERSION: "1.26"
  worker:
    image: registry.example.com/team/worker
    build: https://git.example.com/team/worker.git#main:cmd/worker
`), 0o644)
	s, err := Load(context.Background(), []string{file}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*translate.Build{}
	images := map[string]string{}
	for _, a := range s.Services {
		got[a.Name], images[a.Name] = a.Build, a.Image
	}
	want := map[string]*translate.Build{
		"api":    {Context: filepath.Join(dir, "api"), Dockerfile: "deploy/Dockerfile", Target: "runtime", Args: map[string]string{"GO_VERSION": "1.26"}},
		"worker": {Git: "https://git.example.com/team/worker.git", Ref: "main", Context: "cmd/worker", Dockerfile: "Dockerfile"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
	if images["api"] != s.Name+"-api" || images["worker"] != "registry.example.com/team/worker" {
		t.Errorf("images = %v", images)
	}
}
