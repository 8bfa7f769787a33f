package compose_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate/compose"
)

// TestLoadCarriesFiles: secrets and configs given as local files travel
// with the normalized project, which refers to them inside its own
// directory; a missing one is an *Error at the line that names it.
func TestLoadCarriesFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", `services:
  web:
    image: nginx:1.27
    secrets: [db_password]
    configs: [site]
secrets:
  db_password:
    file: ./db.txt
configs:
  site:
    file: ./site.conf
`)
	write("db.txt", "hunter2")
	write("site.conf", "listen 80;")
	s, err := compose.Load(context.Background(), []string{filepath.Join(dir, "compose.yaml")}, compose.Options{Env: []string{}, Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.Compose), dir) {
		t.Errorf("the normalized project names this machine's directory %s:\n%s", dir, s.Compose)
	}
	for _, want := range []string{"file: ./secrets/db_password", "file: ./configs/site"} {
		if !strings.Contains(string(s.Compose), want) {
			t.Errorf("normalized project lacks %q:\n%s", want, s.Compose)
		}
	}
	got := map[string]string{}
	for _, f := range s.Files {
		got[f.Path] = string(f.Data)
		if secret := strings.HasPrefix(f.Path, "secrets/"); f.Secret != secret || (secret && f.Mode != 0o600) {
			t.Errorf("%s: Secret %v mode %v", f.Path, f.Secret, f.Mode)
		}
	}
	if got["secrets/db_password"] != "hunter2" || got["configs/site"] != "listen 80;" || len(got) != 2 {
		t.Errorf("Files = %v", got)
	}

	os.Remove(filepath.Join(dir, "db.txt"))
	_, err = compose.Load(context.Background(), []string{filepath.Join(dir, "compose.yaml")}, compose.Options{Env: []string{}, Name: "shop"})
	var ce *compose.Error
	if !errors.As(err, &ce) || ce.Line != 8 || !strings.Contains(err.Error(), `secret "db_password"`) {
		t.Fatalf("missing secret file: %v (want an *Error at line 8 naming the secret)", err)
	}
}
