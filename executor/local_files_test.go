package executor

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestLocalWriteFile(t *testing.T) {
	var ex Executor = &Local{}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.conf")
	ctx := context.Background()
	for _, content := range []string{"one\n", "two\n"} {
		if err := ex.WriteFile(ctx, p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Fatalf("got %q", b)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*ferry*")); len(m) > 0 {
		t.Errorf("left: %v", m)
	}
	err := ex.WriteFile(ctx, filepath.Join(dir, "no", "dir"), nil, 0o644)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

// TestLocalWriteFileFullDisk: a write that does not fit leaves the old
// file and no temporary file.
func TestLocalWriteFileFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	p := filepath.Join(mnt, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	if err := (&Local{}).WriteFile(context.Background(), p, make([]byte, 1<<20), 0o644); err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("old file damaged")
	}
	if m, _ := filepath.Glob(filepath.Join(mnt, ".*ferry*")); len(m) > 0 {
		t.Errorf("left: %v", m)
	}
}
