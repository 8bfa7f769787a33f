package destination

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildContextDockerignore checks that the context honours
// .dockerignore as the docker CLI does (exclusions with "!", the
// Dockerfile and .dockerignore always sent) and that the tar stream holds
// exactly the kept files, with their contents.
func TestBuildContextDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":          "FROM scratch\n",
		".dockerignore":       "node_modules\n*.log\nsecret/\ndocs/**\n!docs/keep.md\nDockerfile\n",
		"main.go":             "package main\n",
		"app.log":             "noise",
		"node_modules/x/a.js": "x",
		"secret/key":          "k",
		"docs/a.md":           "a",
		"docs/keep.md":        "keep",
		"sub/b.txt":           "b",
	})
	c, err := newBuildContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.files()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "docs/keep.md", "main.go", "sub/b.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.writeTar(pw)) }()
	tr := tar.NewReader(pr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
			b, _ := io.ReadAll(tr)
			if h.Name == "docs/keep.md" && string(b) != "keep" {
				t.Errorf("docs/keep.md = %q", b)
			}
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("tar holds %q, want %q", names, want)
	}

	// The hash follows content, not ignored files or times.
	h1, _ := c.hash("")
	writeTree(t, dir, map[string]string{"app.log": "more noise", "secret/key": "other"})
	os.Chtimes(filepath.Join(dir, "main.go"), time.Unix(1, 0), time.Unix(1, 0))
	if h2, _ := c.hash(""); h2 != h1 {
		t.Errorf("hash changed with ignored files or times only")
	}
	writeTree(t, dir, map[string]string{"main.go": "package main // changed\n"})
	if h3, _ := c.hash(""); h3 == h1 {
		t.Errorf("hash did not change with a kept file's content")
	}
	if h4, _ := c.hash("x"); h4 == h1 {
		t.Errorf("hash ignores the build options")
	}
}

func TestBuildContextErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := newBuildContext(filepath.Join(dir, "missing"), "Dockerfile"); err == nil || !strings.Contains(err.Error(), "build context") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := newBuildContext(dir, "Dockerfile"); err == nil || !strings.Contains(err.Error(), "no Dockerfile") {
		t.Errorf("no Dockerfile: %v", err)
	}
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": "[\n"})
	if _, err := newBuildContext(dir, "Dockerfile"); err == nil || !strings.Contains(err.Error(), ".dockerignore") {
		t.Errorf("bad pattern: %v", err)
	}
}
