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
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// FileError reports a file transfer that failed. Nothing was changed on
// the destination: uploads write a temporary file next to the target and
// rename it into place only when it is complete. Err may wrap
// [fs.ErrNotExist] or [fs.ErrPermission], a [*sftp.StatusError] (a full
// disk, say), a [*TransportError] or, for uploads through sudo, the
// pipeline's error.
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

// sftpHolder is a client's SFTP session, opened on first use.
type sftpHolder struct {
	mu      sync.Mutex
	cl      *sftp.Client
	conn    *ssh.Client
	release func()
}

// drop closes cl if it is still the holder's session, and reports
// whether it was.
func (h *sftpHolder) drop(cl *sftp.Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cl == nil || h.cl != cl {
		return false
	}
	h.cl.Close()
	h.release()
	h.cl, h.conn, h.release = nil, nil, nil
	return true
}

// sftpClient returns the client's SFTP session, opening it when needed.
func (c *Client) sftpClient(ctx context.Context) (*sftp.Client, error) {
	h := &c.sftp
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cl != nil {
		return h.cl, nil
	}
	release, err := c.acquire(ctx, false)
	if err != nil {
		return nil, &TransportError{Host: c.addr, Op: "session", Err: err}
	}
	conn, err := c.SSH(ctx)
	if err != nil {
		release()
		return nil, err
	}
	type res struct {
		cl  *sftp.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		cl, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
		ch <- res{cl, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.cl != nil {
				r.cl.Close()
			}
		}()
		release()
		return nil, &TransportError{Host: c.addr, Op: "session", Err: ctx.Err()}
	}
	if r.err != nil {
		release()
		return nil, &TransportError{Host: c.addr, Op: "session", Err: fmt.Errorf("sftp: %w", r.err)}
	}
	h.cl, h.conn, h.release = r.cl, conn, release
	cl := r.cl
	c.onReset(func() { h.drop(cl) })
	return cl, nil
}

// withSFTP runs f with the SFTP session, once more with a fresh session
// if the first one turns out to be dead (the connection broke).
func (c *Client) withSFTP(ctx context.Context, f func(*sftp.Client) error) error {
	for attempt := 0; ; attempt++ {
		cl, err := c.sftpClient(ctx)
		if err != nil {
			return err
		}
		err = f(cl)
		if err == nil || attempt > 0 || !sftpLost(err) || ctx.Err() != nil {
			return err
		}
		c.sftp.drop(cl)
	}
}

func sftpLost(err error) bool {
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
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
// in flight. perm is the file's mode; zero means opts.Mode or 0644.
// Errors are [*FileError]; on error the target is left as it was.
func (c *Client) UploadReader(ctx context.Context, r io.Reader, remotePath string, perm fs.FileMode, opts *FileOptions) error {
	o := opts.orZero()
	if perm == 0 {
		perm = o.Mode
	}
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
	return c.upload(ctx, "upload", r, size, remotePath, perm, o)
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

func (c *Client) uploadDir(ctx context.Context, localDir, remoteDir string, o *FileOptions) error {
	type job struct {
		local, remote string
		fi            fs.FileInfo
	}
	var jobs []job
	var dirs []job
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
		j := job{p, path.Join(remoteDir, filepath.ToSlash(rel)), fi}
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
	err = c.withSFTP(ctx, func(cl *sftp.Client) error {
		for _, d := range dirs {
			if err := cl.Mkdir(d.remote); err != nil {
				if fi, serr := cl.Stat(d.remote); serr != nil || !fi.IsDir() {
					return err
				}
				continue
			}
			cl.Chmod(d.remote, d.fi.Mode().Perm())
		}
		return nil
	})
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

func modeString(m fs.FileMode) string { return "0" + strconv.FormatUint(uint64(m.Perm()), 8) }

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
	dir, base := path.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp := path.Join(dir, "."+base+".ferry-"+randomSuffix())
	retried := false
	err := c.withSFTP(ctx, func(cl *sftp.Client) error {
		if retried {
			// A new session after a lost connection: start over, if the
			// reader allows it.
			s, ok := r.(io.Seeker)
			if !ok {
				return fmt.Errorf("connection lost during upload of a stream: %w", sftp.ErrSSHFxConnectionLost)
			}
			if _, err := s.Seek(0, io.SeekStart); err != nil {
				return err
			}
			pr.n = 0
			// What the lost session wrote could not be removed then.
			cl.Remove(tmp)
		}
		retried = true
		return putAtomic(cl, pr, tmp, target, perm)
	})
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

// putAtomic writes r to tmp, sets its mode and renames it to target;
// it removes tmp on failure.
func putAtomic(cl *sftp.Client, r *progressReader, tmp, target string, perm fs.FileMode) (err error) {
	f, err := cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cl.Remove(tmp)
		}
	}()
	if _, err = f.ReadFrom(r); err != nil {
		f.Close()
		return explainWriteError(cl, path.Dir(tmp), err)
	}
	if err = f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if _, ok := cl.HasExtension("posix-rename@openssh.com"); ok {
		return cl.PosixRename(tmp, target)
	}
	// Plain SFTP rename fails when target exists.
	if err = cl.Rename(tmp, target); err != nil {
		if _, serr := cl.Stat(target); serr == nil {
			return fmt.Errorf("server lacks posix-rename and %s exists: %w", target, err)
		}
	}
	return err
}

// sudoUpload uploads r to a private file in the login user's home, then
// installs it as root next to target and renames it into place.
func (c *Client) sudoUpload(ctx context.Context, op string, r *progressReader, target string, perm fs.FileMode, o *FileOptions) error {
	fail := func(err error) error { return &FileError{Host: c.addr, Op: op, Path: target, Err: err} }
	var staged string
	err := c.withSFTP(ctx, func(cl *sftp.Client) error {
		home, err := cl.Getwd()
		if err != nil {
			return err
		}
		staged = path.Join(home, ".ferry-upload-"+randomSuffix())
		return putAtomic(cl, r, staged+".tmp", staged, 0o600)
	})
	if err != nil {
		return fail(fmt.Errorf("staging for sudo: %w", err))
	}
	owner := o.Owner
	p, tmp := sudoInstall(op, staged, target, perm, owner)
	_, err = c.Run(ctx, p)
	cleanup := []Step{{Name: "remove staged", Args: []string{"rm", "-f", "--", staged}, IgnoreErrors: true}}
	if err != nil {
		cleanup = append(cleanup, Step{Name: "remove temp", Args: []string{"rm", "-f", "--", tmp}, User: "root", IgnoreErrors: true})
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	c.Run(cctx, &Pipeline{Name: "cleanup " + target, Steps: cleanup})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("permission denied for the login user, and through sudo: %w", err))
	}
	r.report(true)
	return nil
}

// explainWriteError adds the free space of dir to a generic SFTP
// failure, which is how OpenSSH reports a full disk.
func explainWriteError(cl *sftp.Client, dir string, err error) error {
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	if _, ok := cl.HasExtension("statvfs@openssh.com"); !ok {
		return err
	}
	st, serr := cl.StatVFS(dir)
	if serr != nil {
		return err
	}
	free := st.Bavail * st.Frsize
	if free < 1<<20 {
		return fmt.Errorf("disk full (%d bytes free in %s): %w", free, dir, err)
	}
	return err
}

// sudoInstall returns the pipeline that, as root, installs the staged
// file next to target with mode perm and owner ("user[:group]"; empty
// keeps the owner of the file replaced, or root), then renames it into
// place; and the name of the temporary file next to target.
func sudoInstall(op, staged, target string, perm fs.FileMode, owner string) (*Pipeline, string) {
	dir, base := path.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp := path.Join(dir, "."+base+".ferry-"+randomSuffix())
	install := []string{"install", "-m", modeString(perm)}
	if owner != "" {
		u, g, hasGroup := cutOwner(owner)
		install = append(install, "-o", u)
		if hasGroup {
			install = append(install, "-g", g)
		}
	}
	install = append(install, "-T", "--", staged, tmp)
	steps := []Step{{Name: "install", Args: install, User: "root"}}
	if owner == "" {
		// Keep the owner and group of the file being replaced, if any.
		steps = append(steps, Step{Name: "keep owner", Args: []string{"chown", "--reference=" + target, "--", tmp}, User: "root", IgnoreErrors: true, Hidden: true})
	}
	steps = append(steps, Step{Name: "rename", Args: []string{"mv", "-f", "-T", "--", tmp, target}, User: "root"})
	return &Pipeline{Name: op + " " + target, Steps: steps}, tmp
}

func cutOwner(s string) (user, group string, hasGroup bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Download copies the remote file remotePath to localPath, atomically
// (through a temporary file in localPath's directory, then rename),
// streaming with several reads in flight. The local file gets the remote
// file's mode, or opts.Mode when set. Errors are [*FileError].
func (c *Client) Download(ctx context.Context, remotePath, localPath string, opts *FileOptions) error {
	o := opts.orZero()
	fail := func(err error) error { return &FileError{Host: c.addr, Op: "download", Path: remotePath, Err: err} }
	tmp := filepath.Join(filepath.Dir(localPath), "."+filepath.Base(localPath)+".ferry-"+randomSuffix())
	err := c.withSFTP(ctx, func(cl *sftp.Client) error {
		f, err := cl.Open(remotePath)
		if err != nil {
			return err
		}
		defer f.Close()
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
		_, err = f.WriteTo(w)
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
		return fail(err)
	}
	return nil
}

// ReadFile returns the content of the remote file path. Errors are
// [*FileError]; a missing file wraps [fs.ErrNotExist].
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	var data []byte
	err := c.withSFTP(ctx, func(cl *sftp.Client) error {
		f, err := cl.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var buf bytes.Buffer
		_, err = f.WriteTo(&progressWriter{w: &buf, ctx: ctx})
		data = buf.Bytes()
		return err
	})
	if err != nil {
		return nil, &FileError{Host: c.addr, Op: "read", Path: path, Err: err}
	}
	return data, nil
}

// progressReader counts bytes, reports Progress events at most every
// 100ms, and stops the transfer when ctx is done.
type progressReader struct {
	r    io.Reader
	ctx  context.Context
	size int64
	obs  Observer
	host string
	path string

	mu   sync.Mutex
	n    int64
	last time.Time
}

// Size lets sftp's ReadFrom pick concurrent writes: -1 means unknown.
func (p *progressReader) Size() int64 {
	if p.size <= 0 {
		return -1
	}
	return p.size
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.add(n)
	return n, err
}

func (p *progressReader) add(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	p.n += int64(n)
	p.mu.Unlock()
	p.report(false)
}

func (p *progressReader) report(final bool) {
	if p.obs == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if !final && now.Sub(p.last) < 100*time.Millisecond {
		p.mu.Unlock()
		return
	}
	p.last = now
	n := p.n
	p.mu.Unlock()
	total := p.size
	if total <= 0 {
		total = -1
		if final {
			total = n
		}
	}
	p.obs.Event(Event{Kind: Progress, Time: now, Host: p.host, Step: p.path, Bytes: n, Total: total})
}

type progressWriter struct {
	w   io.Writer
	ctx context.Context
	p   progressReader
}

func (w *progressWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(b)
	w.p.add(n)
	return n, err
}
