package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// WriteFile writes data to path on this machine, atomically: through a
// temporary file in path's directory, synced and renamed into place, so
// readers see the old content or the new, never a part. perm is the new
// file's mode. When the current user may not write there, the file is
// staged in a private temporary file and installed through sudo (as
// root, keeping the owner of the file it replaces), as [Client.WriteFile]
// does. Errors are [*FileError].
func (l *Local) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	fail := func(err error) error { return &FileError{Host: "localhost", Op: "write", Path: path, Err: err} }
	if path == "" {
		return fail(errors.New("empty path"))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if perm == 0 {
		perm = 0o644
	}
	err := writeAtomic(filepath.Dir(path), tempPrefix+"*", path, data, perm)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return fail(err)
	}
	// Through sudo.
	f, serr := os.CreateTemp("", tempPrefix+"*")
	if serr != nil {
		return fail(fmt.Errorf("%w; staging for sudo: %v", err, serr))
	}
	staged := f.Name()
	defer os.Remove(staged)
	_, serr = f.Write(data)
	if cerr := f.Close(); serr == nil {
		serr = cerr
	}
	if serr != nil {
		return fail(fmt.Errorf("%w; staging for sudo: %v", err, serr))
	}
	p, tmp := sudoInstall("write", staged, path, perm, "")
	if _, rerr := l.Run(ctx, p); rerr != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		l.Run(cctx, &Pipeline{Steps: []Step{{Args: []string{"rm", "-f", "--", tmp}, User: "root", IgnoreErrors: true}}})
		cancel()
		return fail(fmt.Errorf("permission denied, and through sudo: %w", rerr))
	}
	return nil
}

// writeAtomic writes data to a new temporary file in dir and renames it
// to target.
func writeAtomic(dir, pattern, target string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
