package executor_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
)

func TestDefaultAuth(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := executor.DefaultAuth(""); !errors.Is(err, executor.ErrNoAuth) {
		t.Fatalf("no keys: %v", err)
	}
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ecdsa"), key, 0o600)
	if m, err := executor.DefaultAuth(""); err != nil || len(m) != 1 {
		t.Fatalf("~/.ssh/id_ecdsa: %d methods, %v", len(m), err)
	}
	if _, err := executor.DefaultAuth(filepath.Join(home, "missing")); err == nil {
		t.Fatal("a missing key file given explicitly was not an error")
	}
}
