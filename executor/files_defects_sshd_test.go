package executor

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

// newDotFile waits until dir holds a file whose name starts with "." and
// is not in before, with at least one byte in it, and returns its path.
// It fails the test after 30s or when done is closed first.
func newDotFile(t *testing.T, dir string, before map[string]bool, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") || before[e.Name()] {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
				return filepath.Join(dir, e.Name())
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the upload ended (%v) before its temporary file was seen", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no temporary file with data appeared in %s", dir)
	return ""
}

func dirNames(dir string) map[string]bool {
	m := map[string]bool{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m
}

// TestSSHDUploadTempFilePrivate: while an upload is blocked mid-stream,
// its temporary file (beside the target, or staged in the login user's
// home for sudo) holds data and must not be readable by group or others.
func TestSSHDUploadTempFilePrivate(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	ctx := ctxT(t)

	check := func(t *testing.T, c *Client, watch, target string, opts *FileOptions) {
		before := dirNames(watch)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		o := FileOptions{}
		if opts != nil {
			o = *opts
		}
		o.Mode = 0o600
		go func() { done <- c.UploadReader(ctx, pr, target, &o) }()
		wrote := make(chan struct{})
		go func() {
			pw.Write(make([]byte, 256<<10)) // then the stream blocks
			close(wrote)
		}()
		tmp := newDotFile(t, watch, before, done)
		fi, err := os.Stat(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("temporary file %s holds data with mode %v while the upload runs", tmp, fi.Mode().Perm())
		}
		<-wrote
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 256<<10 {
			t.Fatalf("target: %v %v", fi, err)
		}
	}

	t.Run("sftp", func(t *testing.T) {
		c := clientAs(t, s, s.User, nil)
		dir := t.TempDir()
		check(t, c, dir, filepath.Join(dir, "secret.env"), nil)
	})

	t.Run("sudo-staging", func(t *testing.T) {
		if _, err := exec.LookPath("sudo"); err != nil {
			if sshdtest.Required() {
				t.Fatal("sudo not installed")
			}
			t.Skip("sudo not installed; run .ci/run")
		}
		u := sshdtest.AddUser(t, "ferrysudo", sshdtest.UserOptions{Sudo: sshdtest.SudoNoPassword})
		c := clientAs(t, s, u.Name, nil)
		rootDir := t.TempDir()
		for d := rootDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755) // traversable, like /etc; /tmp is left alone
		}
		os.Chmod(u.Home, 0o755) // so that the mode, not the directory, decides
		check(t, c, u.Home, filepath.Join(rootDir, "secret.env"), &FileOptions{Sudo: SudoAlways})
	})
}

// TestSSHDUploadLongName: a file name of the maximum length (255 bytes)
// can be uploaded, directly and through sudo, and written locally.
func TestSSHDUploadLongName(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := clientAs(t, s, s.User, nil)
	ctx := ctxT(t)
	dir := t.TempDir()
	for _, n := range []int{240, 255} {
		target := filepath.Join(dir, strings.Repeat("n", n))
		if err := c.WriteFile(ctx, target, []byte("one"), 0o644); err != nil {
			t.Fatalf("%d-byte name: %v", n, err)
		}
		if err := c.UploadReader(ctx, strings.NewReader("two"), target, &FileOptions{Mode: 0o644, Sudo: SudoAlways}); err != nil {
			t.Fatalf("%d-byte name through sudo: %v", n, err)
		}
		if b, _ := os.ReadFile(target); string(b) != "two" {
			t.Fatalf("%d-byte name: content %q", n, b)
		}
		var l Local
		if err := l.WriteFile(ctx, target, []byte("three"), 0o644); err != nil {
			t.Fatalf("%d-byte name, locally: %v", n, err)
		}
		back := target + ""
		if err := c.Download(ctx, target, filepath.Join(t.TempDir(), filepath.Base(back)), nil); err != nil {
			t.Fatalf("%d-byte name, download: %v", n, err)
		}
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestSSHDUploadReaderBlockedCancel: UploadReader returns when its
// context is cancelled though the reader is blocked, and removes its
// temporary file.
func TestSSHDUploadReaderBlockedCancel(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := clientAs(t, s, s.User, nil)
	dir := t.TempDir()
	target := filepath.Join(dir, "blocked.bin")
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 64<<10)) // then nothing, forever
	done := make(chan error, 1)
	go func() { done <- c.UploadReader(cctx, pr, target, &FileOptions{Mode: 0o644}) }()
	newDotFile(t, dir, nil, done)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("UploadReader did not return after its context was cancelled")
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("left in the target directory: %v", ents)
	}
}
