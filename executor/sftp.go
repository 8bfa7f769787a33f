package executor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpHolder is a client's SFTP session, opened on first use.
type sftpHolder struct {
	mu      sync.Mutex
	cl      *sftp.Client
	conn    *ssh.Client
	release func()
	// orphans are temporary files left by uploads whose connection was
	// lost; the next session removes them.
	orphans []string
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
	var lost *ssh.Client // a dead connection, to forget once h.mu is free
	defer func() {
		if lost != nil {
			c.broken(lost, errors.New("sftp session failed to start"))
		}
	}()
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
		cl, err := newSFTPClient(conn)
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
		if sftpLost(r.err) {
			// The connection died before the client noticed: forget it,
			// so that the next try dials anew.
			lost = conn
		}
		return nil, &TransportError{Host: c.addr, Op: "session", Err: fmt.Errorf("sftp: %w", r.err)}
	}
	h.cl, h.conn, h.release = r.cl, conn, release
	cl := r.cl
	c.onReset(func() { h.drop(cl) })
	// Temporary files that a lost connection kept from removing.
	for _, o := range h.orphans {
		cl.Remove(o)
	}
	h.orphans = nil
	return cl, nil
}

// newSFTPClient starts the SFTP subsystem on a new session of conn. The
// session's input goes through a privateCreate, so that every file the
// client creates is private from its first byte.
func newSFTPClient(conn *ssh.Client) (*sftp.Client, error) {
	s, err := conn.NewSession()
	if err != nil {
		return nil, err
	}
	w, err := s.StdinPipe()
	if err == nil {
		var r io.Reader
		if r, err = s.StdoutPipe(); err == nil {
			if err = s.RequestSubsystem("sftp"); err == nil {
				pc := &privateCreate{w: w, closeAlso: s}
				return sftp.NewClientPipe(r, pc, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
			}
		}
	}
	s.Close()
	return nil, err
}

// privateCreate passes an SFTP client's packet stream through, adding
// the permissions 0600 to each SSH_FXP_OPEN request that may create a
// file and carries no attributes. pkg/sftp has no way to send the mode
// of a file it creates, and sftp-server then creates it 0666 less its
// umask: readable by all while the data is written, and chmod'ed only
// at the end, too late for whoever opened it meanwhile. sftp-server
// (OpenSSH's, and others following the draft) creates the file with the
// mode given in the request's attributes.
type privateCreate struct {
	w         io.WriteCloser
	closeAlso io.Closer
	hdr       []byte // the start of a packet, up to its type byte
	open      []byte // an SSH_FXP_OPEN packet being gathered
	pass      int    // bytes of the current packet still to pass through
}

const (
	sshFxpOpen          = 3
	sshFxfCreat         = 0x08
	sshFileXferAttrPerm = 0x04
)

func (p *privateCreate) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		switch {
		case p.pass > 0:
			k := min(p.pass, len(b))
			if _, err := p.w.Write(b[:k]); err != nil {
				return 0, err
			}
			p.pass -= k
			b = b[k:]
		case p.open != nil:
			k := min(cap(p.open)-len(p.open), len(b))
			p.open = append(p.open, b[:k]...)
			b = b[k:]
			if len(p.open) == cap(p.open) {
				_, err := p.w.Write(withPrivateMode(p.open))
				p.open = nil
				if err != nil {
					return 0, err
				}
			}
		default:
			k := min(5-len(p.hdr), len(b))
			p.hdr = append(p.hdr, b[:k]...)
			b = b[k:]
			if len(p.hdr) < 5 {
				continue
			}
			length := int(binary.BigEndian.Uint32(p.hdr))
			if p.hdr[4] == sshFxpOpen && length < 1<<16 {
				p.open = append(make([]byte, 0, 4+length), p.hdr...)
			} else {
				if _, err := p.w.Write(p.hdr); err != nil {
					return 0, err
				}
				p.pass = length - 1
			}
			p.hdr = p.hdr[:0]
		}
	}
	return n, nil
}

// withPrivateMode returns the SSH_FXP_OPEN packet pkt (length, type, id,
// path, pflags, attrs), with the permissions 0600 in its attributes if
// it may create a file and has no attributes.
func withPrivateMode(pkt []byte) []byte {
	if len(pkt) < 13 {
		return pkt
	}
	pathLen := int(binary.BigEndian.Uint32(pkt[9:]))
	rest := 13 + pathLen // past the path
	if pathLen < 0 || len(pkt) != rest+8 {
		return pkt // not flags and empty attributes
	}
	pflags := binary.BigEndian.Uint32(pkt[rest:])
	attrFlags := binary.BigEndian.Uint32(pkt[rest+4:])
	if pflags&sshFxfCreat == 0 || attrFlags != 0 {
		return pkt
	}
	out := binary.BigEndian.AppendUint32(pkt[:rest+4], sshFileXferAttrPerm)
	out = binary.BigEndian.AppendUint32(out, 0o600)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// Close ends the stream and the session.
func (p *privateCreate) Close() error {
	err := p.w.Close()
	p.closeAlso.Close()
	return err
}

// withSFTP runs f with the SFTP session, once more with a fresh session
// if the first one turns out to be dead (the connection broke). Opening
// a session that fails because the connection is gone, which sends
// nothing, is tried up to three times in all: the first new session
// after a cut may still be opened on the dead connection.
func (c *Client) withSFTP(ctx context.Context, f func(*sftp.Client) error) error {
	for attempt := 0; ; attempt++ {
		cl, err := c.sftpClient(ctx)
		if err != nil {
			if attempt < 2 && sftpLost(err) && ctx.Err() == nil {
				continue
			}
			return err
		}
		err = f(cl)
		if err == nil || !sftpLost(err) || ctx.Err() != nil {
			return err
		}
		c.sftp.drop(cl)
		if attempt > 0 {
			return &TransportError{Host: c.addr, Op: "connection", Started: true, Err: err}
		}
	}
}

// sftpLost reports whether err says the SFTP session or its connection
// is gone. An error of the reader being uploaded is not, whatever it
// wraps.
func sftpLost(err error) bool {
	var re *readError
	if errors.As(err, &re) {
		return false
	}
	for _, lost := range []error{sftp.ErrSSHFxConnectionLost, io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe,
		net.ErrClosed, syscall.EPIPE, syscall.ECONNRESET} {
		if errors.Is(err, lost) {
			return true
		}
	}
	return false
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

// sftpHome returns the login user's home directory (the SFTP session's
// working directory).
func (c *Client) sftpHome(ctx context.Context) (string, error) {
	var home string
	err := c.withSFTP(ctx, func(cl *sftp.Client) error {
		var err error
		home, err = cl.Getwd()
		return err
	})
	return home, err
}

// sftpPut writes pr to tmp and renames it to target (see putAtomic). If
// the connection is lost, it starts over on a new one when r (the reader
// under pr) can seek back to its start.
func (c *Client) sftpPut(ctx context.Context, pr *progressReader, r io.Reader, tmp, target string, perm fs.FileMode) error {
	retried := false
	return c.withSFTP(ctx, func(cl *sftp.Client) error {
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
			pr.mu.Lock()
			pr.n = 0
			pr.mu.Unlock()
			// What the lost session wrote could not be removed then.
			cl.Remove(tmp)
		}
		retried = true
		err := putAtomic(cl, pr, tmp, target, perm)
		if err != nil && sftpLost(err) {
			c.sftp.mu.Lock()
			c.sftp.orphans = append(c.sftp.orphans, tmp)
			c.sftp.mu.Unlock()
		}
		return err
	})
}

// sftpMkdirs makes the directories of dirs in order, each with the mode
// of its local directory; existing directories are left as they are.
func (c *Client) sftpMkdirs(ctx context.Context, dirs []transferJob) error {
	return c.withSFTP(ctx, func(cl *sftp.Client) error {
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
}

// remoteFile is a remote file open for reading. Its reads, through
// io.Copy (which uses its WriteTo), keep several requests in flight.
type remoteFile interface {
	io.Reader
	Stat() (fs.FileInfo, error)
}

// sftpOpen opens the remote file p and hands it to f.
func (c *Client) sftpOpen(ctx context.Context, p string, f func(remoteFile) error) error {
	return c.withSFTP(ctx, func(cl *sftp.Client) error {
		file, err := cl.Open(p)
		if err != nil {
			return err
		}
		defer file.Close()
		return f(file)
	})
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
