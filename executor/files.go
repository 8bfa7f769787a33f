package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
)

// FileError reports a file transfer that failed. Nothing was changed on
// the destination: uploads write a temporary file next to the target and
// rename it into place only when it is complete. Err may wrap
// [fs.ErrNotExist] or [fs.ErrPermission], a *sftp.StatusError of
// github.com/pkg/sftp (a full disk, said in the message), a
// [*TransportError] (Op "connection" when the connection was lost during
// the transfer) or, for uploads through sudo, the pipeline's error.
type FileError struct {
	Host string
	// Op is "upload", "download", "write" or "read".
	Op string
	// Path is the file concerned: remote for "write" and "read", the
	// remote target for "upload", the remote source for "download".
	Path string
	Err  error
}

// Error describes the failure; see [FileError] for its fields.
func (e *FileError) Error() string {
	return fmt.Sprintf("executor: %s: %s %s: %v", e.Host, e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// SudoMode says when an upload goes through sudo. See [FileOptions].
type SudoMode int

const (
	// SudoAuto uses sudo only when the login user may not write the
	// target directory or file.
	SudoAuto SudoMode = iota
	// SudoNever fails with a permission error instead.
	SudoNever
	// SudoAlways always moves the file into place as root.
	SudoAlways
)

// FileOptions tunes transfers. A nil *FileOptions means the zero value.
//
// Transfers go over SFTP. Each [Client] keeps one SFTP session, opened on
// first use and opened again after the connection is redialled; the
// transfers of a Client share it. That session takes one of the Client's
// [Config.MaxSessions] slots for as long as it is open (until the
// connection breaks or the Client closes): with the default of 8, seven
// remain for commands.
type FileOptions struct {
	// Mode is the permission of uploaded files. Zero means the local
	// file's mode for [Client.Upload] and 0644 for [Client.UploadReader].
	// Directories made by Upload get the local directory's mode.
	Mode fs.FileMode

	// Owner is "user" or "user:group" to own uploaded files; setting it
	// makes the upload go through sudo. Empty means the login user, or,
	// for a file put in place through sudo, the owner and group of the
	// file it replaces (root for a new file).
	Owner string

	// Sudo says when to go through sudo: when the login user cannot
	// write the target, the file is uploaded to a private temporary file
	// in the login user's home directory and then installed as root
	// (install -m, then mv in the target directory, so the replacement is
	// still atomic), with [Config.SudoPassword] if set. The content never
	// travels on a command line.
	Sudo SudoMode

	// Observer receives Progress events (Step is the remote path, Bytes
	// and Total the progress; Total is -1 when unknown). Nil means none.
	Observer Observer

	// Size is the number of bytes [Client.UploadReader] will read, for
	// progress. Zero means unknown, unless the reader has a Len or Size
	// method.
	Size int64

	// Parallel bounds the files transferred at once by a directory
	// upload. Zero means 8.
	Parallel int
}

func (o *FileOptions) orZero() *FileOptions {
	if o == nil {
		return &FileOptions{}
	}
	return o
}

// WriteFile writes data to path on the host, atomically: readers see the
// old content or the new, never a part. perm is the new file's mode. It
// is [Client.UploadReader] with default options, so it goes through sudo
// when the login user may not write path. Errors are [*FileError].
func (c *Client) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	return c.upload(ctx, "write", bytes.NewReader(data), int64(len(data)), path, perm, nil)
}

// UploadReader copies r to remotePath on the host, atomically (see
// [Client.WriteFile]), streaming in constant memory with several writes
// in flight. The file's mode is opts.Mode, 0644 when zero. Errors are
// [*FileError]; on error the target is left as it was, and the
// temporary file removed. When ctx ends while r is blocked in Read,
// UploadReader returns at once; that Read is left to finish on its own
// and what it returns is dropped.
func (c *Client) UploadReader(ctx context.Context, r io.Reader, remotePath string, opts *FileOptions) error {
	o := opts.orZero()
	size := o.Size
	if size == 0 {
		switch r := r.(type) {
		case interface{ Len() int }:
			size = int64(r.Len())
		case interface{ Size() int64 }:
			size = r.Size()
		default:
			size = -1
		}
	}
	return c.upload(ctx, "upload", r, size, remotePath, o.Mode, o)
}

// Upload copies the local file or directory localPath to remotePath on
// the host. A directory is copied recursively (regular files and
// directories; other kinds are refused) into remotePath, which is
// created if missing, several files at a time; each file is replaced
// atomically. Errors are [*FileError]; a missing local path wraps
// [fs.ErrNotExist].
func (c *Client) Upload(ctx context.Context, localPath, remotePath string, opts *FileOptions) error {
	o := opts.orZero()
	fi, err := os.Stat(localPath)
	if err != nil {
		return &FileError{Host: c.addr, Op: "upload", Path: remotePath, Err: err}
	}
	if !fi.IsDir() {
		return c.uploadFile(ctx, localPath, remotePath, fi, o)
	}
	return c.uploadDir(ctx, localPath, remotePath, o)
}

func (c *Client) uploadFile(ctx context.Context, localPath, remotePath string, fi fs.FileInfo, o *FileOptions) error {
	if !fi.Mode().IsRegular() {
		return &FileError{Host: c.addr, Op: "upload", Path: remotePath, Err: fmt.Errorf("%s is not a regular file", localPath)}
	}
	f, err := os.Open(localPath)
	if err != nil {
		return &FileError{Host: c.addr, Op: "upload", Path: remotePath, Err: err}
	}
	defer f.Close()
	perm := o.Mode
	if perm == 0 {
		perm = fi.Mode().Perm()
	}
	return c.upload(ctx, "upload", f, fi.Size(), remotePath, perm, o)
}

// transferJob is one file or directory of a directory upload.
type transferJob struct {
	local, remote string
	fi            fs.FileInfo
}

func (c *Client) uploadDir(ctx context.Context, localDir, remoteDir string, o *FileOptions) error {
	var jobs, dirs []transferJob
	err := filepath.WalkDir(localDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(localDir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		j := transferJob{p, path.Join(remoteDir, filepath.ToSlash(rel)), fi}
		switch {
		case d.IsDir():
			dirs = append(dirs, j)
		case fi.Mode().IsRegular():
			jobs = append(jobs, j)
		default:
			return fmt.Errorf("%s: not a regular file or directory", p)
		}
		return nil
	})
	if err != nil {
		return &FileError{Host: c.addr, Op: "upload", Path: remoteDir, Err: err}
	}
	// Directories first, parents before children (WalkDir's order).
	err = c.sftpMkdirs(ctx, dirs)
	if err != nil && !(errors.Is(err, fs.ErrPermission) && o.Sudo != SudoNever) {
		return &FileError{Host: c.addr, Op: "upload", Path: remoteDir, Err: err}
	}
	if err != nil {
		// The login user may not make the directories: make them as root.
		steps := []Step{}
		for _, d := range dirs {
			steps = append(steps, Step{Args: []string{"install", "-d", "-m", modeString(d.fi.Mode().Perm()), d.remote}, User: "root"})
		}
		if _, err := c.Run(ctx, &Pipeline{Name: "upload " + remoteDir, Steps: steps}); err != nil {
			return &FileError{Host: c.addr, Op: "upload", Path: remoteDir, Err: fmt.Errorf("permission denied, and through sudo: %w", err)}
		}
	}
	par := o.Parallel
	if par <= 0 {
		par = 8
	}
	sem := make(chan struct{}, par)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			errs = append(errs, &FileError{Host: c.addr, Op: "upload", Path: j.remote, Err: ctx.Err()})
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := c.uploadFile(ctx, j.local, j.remote, j.fi, o); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// upload writes r to target through a temporary file in target's
// directory renamed into place, or through sudo.
func (c *Client) upload(ctx context.Context, op string, r io.Reader, size int64, target string, perm fs.FileMode, o *FileOptions) error {
	o = o.orZero()
	if perm == 0 {
		perm = 0o644
	}
	fail := func(err error) error { return &FileError{Host: c.addr, Op: op, Path: target, Err: err} }
	if target == "" {
		return fail(errors.New("empty remote path"))
	}
	pr := &progressReader{r: r, ctx: ctx, size: size, obs: o.Observer, host: c.addr, path: target}
	if o.Sudo == SudoAlways || o.Owner != "" {
		return c.sudoUpload(ctx, op, pr, target, perm, o)
	}
	err := c.sftpPut(ctx, pr, r, tempName(path.Dir(target)), target, perm)
	if err == nil {
		pr.report(true)
		return nil
	}
	if errors.Is(err, fs.ErrPermission) && o.Sudo == SudoAuto && pr.n == 0 {
		return c.sudoUpload(ctx, op, pr, target, perm, o)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return fail(err)
}

// Download copies the remote file remotePath to localPath, atomically
// (through a temporary file in localPath's directory, then rename),
// streaming with several reads in flight. The local file gets the remote
// file's mode, or opts.Mode when set. Errors are [*FileError].
func (c *Client) Download(ctx context.Context, remotePath, localPath string, opts *FileOptions) error {
	o := opts.orZero()
	tmp := filepath.Join(filepath.Dir(localPath), tempBase())
	err := c.sftpOpen(ctx, remotePath, func(f remoteFile) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", remotePath)
		}
		mode := o.Mode
		if mode == 0 {
			mode = fi.Mode().Perm()
		}
		lf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		w := &progressWriter{w: lf, ctx: ctx, p: progressReader{ctx: ctx, size: fi.Size(), obs: o.Observer, host: c.addr, path: remotePath}}
		_, err = io.Copy(w, f) // f's WriteTo reads with several requests in flight
		if cerr := lf.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp, mode)
		}
		if err == nil {
			err = os.Rename(tmp, localPath)
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		w.p.report(true)
		return nil
	})
	if err != nil {
		return &FileError{Host: c.addr, Op: "download", Path: remotePath, Err: err}
	}
	return nil
}

// ReadFile returns the content of the remote file path. Errors are
// [*FileError]; a missing file wraps [fs.ErrNotExist].
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	var data []byte
	err := c.sftpOpen(ctx, path, func(f remoteFile) error {
		var buf bytes.Buffer
		_, err := io.Copy(&progressWriter{w: &buf, ctx: ctx}, f)
		data = buf.Bytes()
		return err
	})
	if err != nil {
		return nil, &FileError{Host: c.addr, Op: "read", Path: path, Err: err}
	}
	return data, nil
}

// tempPrefix starts the name of every temporary file ferry creates.
const tempPrefix = ".ferry-"

// tempBase returns a new temporary file name: tempPrefix and 12 random
// hex digits. At 19 bytes it is short enough to sit beside a file whose
// own name has the maximum length, and does not depend on it.
func tempBase() string {
	var b [6]byte
	rand.Read(b[:])
	return tempPrefix + hex.EncodeToString(b[:])
}

// tempName returns a new temporary file name in the remote directory dir.
func tempName(dir string) string { return path.Join(dir, tempBase()) }
