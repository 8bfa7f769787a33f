package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// clientAs dials s as user (logging in with the generated key).
func clientAs(t *testing.T, s *sshdtest.Server, user string, mod func(*Config)) *Client {
	t.Helper()
	cfg := &Config{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: knownHostsT(t, s.KnownHosts)}
	if mod != nil {
		mod(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	c, err := Dial(ctx, s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// leftovers lists ferry temporary files in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	return m
}

func TestSSHDFiles(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := clientAs(t, s, s.User, nil)
	ctx := ctxT(t)
	dir := t.TempDir()

	t.Run("write-read-replace", func(t *testing.T) {
		p := filepath.Join(dir, "app.env")
		if err := c.WriteFile(ctx, p, []byte("A=1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(ctx, p, []byte("A=2\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := c.ReadFile(ctx, p)
		if err != nil || string(got) != "A=2\n" {
			t.Fatalf("ReadFile = %q, %v", got, err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v", fi.Mode())
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("temporary files left: %v", l)
		}
		_, err = c.ReadFile(ctx, filepath.Join(dir, "absent"))
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(absent) = %v", err)
		}
	})

	t.Run("directory", func(t *testing.T) {
		local := t.TempDir()
		want := map[string]string{}
		for i := 0; i < 30; i++ {
			rel := filepath.Join("sub"+string(rune('a'+i%3)), "deeper", "f"+string(rune('0'+i%10))+string(rune('a'+i/10))+".yaml")
			os.MkdirAll(filepath.Join(local, filepath.Dir(rel)), 0o750)
			content := strings.Repeat(rel+"\n", i+1)
			os.WriteFile(filepath.Join(local, rel), []byte(content), 0o640)
			want[rel] = content
		}
		os.WriteFile(filepath.Join(local, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
		want["run.sh"] = "#!/bin/sh\n"
		remote := filepath.Join(dir, "manifests")
		if err := c.Upload(ctx, local, remote, nil); err != nil {
			t.Fatal(err)
		}
		for rel, content := range want {
			b, err := os.ReadFile(filepath.Join(remote, rel))
			if err != nil || string(b) != content {
				t.Errorf("%s: %q, %v", rel, b, err)
			}
		}
		if fi, _ := os.Stat(filepath.Join(remote, "run.sh")); fi == nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("run.sh mode %v", fi)
		}
		if fi, _ := os.Stat(filepath.Join(remote, "suba")); fi == nil || fi.Mode().Perm() != 0o750 {
			t.Errorf("dir mode %v", fi)
		}
		// Again, onto the existing tree.
		if err := c.Upload(ctx, local, remote, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("large-stream-progress", func(t *testing.T) {
		const size = 48 << 20
		src := filepath.Join(t.TempDir(), "big")
		f, _ := os.Create(src)
		io.CopyN(f, rand.Reader, size)
		f.Close()
		var mu sync.Mutex
		var events []Event
		obs := ObserverFunc(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
		dst := filepath.Join(dir, "big")
		if err := c.Upload(ctx, src, dst, &FileOptions{Observer: obs}); err != nil {
			t.Fatal(err)
		}
		if !sameFile(t, src, dst) {
			t.Fatal("content differs")
		}
		mu.Lock()
		last := events[len(events)-1]
		mu.Unlock()
		if last.Kind != Progress || last.Bytes != size || last.Total != size || last.Step != dst {
			t.Errorf("last progress event %+v", last)
		}
		// Through a reader of unknown size.
		pr, pw := io.Pipe()
		go func() {
			f, _ := os.Open(src)
			io.Copy(pw, f)
			f.Close()
			pw.Close()
		}()
		if err := c.UploadReader(ctx, pr, dst+"2", &FileOptions{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		if !sameFile(t, src, dst+"2") {
			t.Fatal("content differs (stream)")
		}
		back := filepath.Join(t.TempDir(), "back")
		if err := c.Download(ctx, dst, back, nil); err != nil {
			t.Fatal(err)
		}
		if !sameFile(t, src, back) {
			t.Fatal("download differs")
		}
	})

	t.Run("missing-local-file", func(t *testing.T) {
		err := c.Upload(ctx, filepath.Join(dir, "no-such-file"), filepath.Join(dir, "x"), nil)
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no-such-file") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("missing-remote-dir", func(t *testing.T) {
		err := c.WriteFile(ctx, filepath.Join(dir, "nodir", "x"), []byte("x"), 0o644)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("full-disk", func(t *testing.T) {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		target := filepath.Join(mnt, "compose.yaml")
		os.WriteFile(target, []byte("old content\n"), 0o644)
		big := make([]byte, 3<<20)
		err := c.WriteFile(ctx, target, big, 0o644)
		if err == nil {
			t.Fatal("no error writing 3 MiB into a 1 MiB tmpfs")
		}
		t.Logf("%v", err)
		if b, _ := os.ReadFile(target); string(b) != "old content\n" {
			t.Errorf("old file damaged: %q", b[:min(len(b), 40)])
		}
		if l := leftovers(t, mnt); len(l) > 0 {
			t.Errorf("temporary files left: %v", l)
		}
	})

	t.Run("cut-connection-keeps-old-file", func(t *testing.T) {
		target := filepath.Join(dir, "release.tar")
		os.WriteFile(target, []byte("old release"), 0o644)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(make([]byte, 1<<20))
			conn, _ := c.SSH(ctx)
			conn.Close() // the connection dies mid-transfer
			pw.Write(make([]byte, 1<<20))
			pw.Close()
		}()
		err := c.UploadReader(ctx, pr, target, &FileOptions{Mode: 0o644})
		if err == nil {
			t.Fatal("no error")
		}
		t.Logf("%v", err)
		if b, _ := os.ReadFile(target); string(b) != "old release" {
			t.Errorf("old file damaged: %d bytes", len(b))
		}
		// The client recovers: the next transfer works on a new connection.
		if err := c.WriteFile(ctx, target, []byte("new release"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(target); string(b) != "new release" {
			t.Errorf("got %q", b)
		}
	})

	t.Run("cut-connection-seekable-retried", func(t *testing.T) {
		// A reader that can start over: the upload is retried on a new
		// connection, and the lost session's temp file is cleaned up.
		target := filepath.Join(dir, "retried.bin")
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
		r := &cutReader{Reader: bytes.NewReader(data), after: 1 << 20, cut: func() {
			conn, _ := c.SSH(ctx)
			conn.Close()
		}}
		if err := c.UploadReader(ctx, r, target, &FileOptions{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if !r.didCut {
			t.Fatal("the connection was not cut")
		}
		if b, _ := os.ReadFile(target); !bytes.Equal(b, data) {
			t.Fatalf("target has %d bytes, want %d", len(b), len(data))
		}
		left, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
		if len(left) > 0 {
			t.Fatalf("temp files left: %v", left)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(make([]byte, 1<<20))
			cancel()
			pw.Write(make([]byte, 1<<20))
			pw.Close()
		}()
		err := c.UploadReader(cctx, pr, filepath.Join(dir, "cancelled"), &FileOptions{Mode: 0o644})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cancelled")); err == nil {
			t.Error("a cancelled upload created its target")
		}
	})
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// TestSSHDSudo runs steps and uploads as root from non-root login users:
// one with passwordless sudo, one whose sudo asks for its password, one
// without sudo rights.
func TestSSHDSudo(t *testing.T) {
	if _, err := exec.LookPath("sudo"); err != nil {
		if sshdtest.Required() {
			t.Fatal("sudo not installed")
		}
		t.Skip("sudo not installed; run .ci/run")
	}
	const pw = "sudo-Pa55 'word\"$x"
	nopw := sshdtest.AddUser(t, "ferrysudo", sshdtest.UserOptions{Sudo: sshdtest.SudoNoPassword})
	withpw := sshdtest.AddUser(t, "ferrysudopw", sshdtest.UserOptions{Password: pw, Sudo: sshdtest.SudoPassword})
	none := sshdtest.AddUser(t, "ferrynosudo", sshdtest.UserOptions{})
	s := sshdtest.Start(t, sshdtest.Options{})
	ctx := ctxT(t)

	// A root-owned directory no login user may write.
	rootDir := filepath.Join(t.TempDir(), "etc-app")
	os.MkdirAll(rootDir, 0o755)
	for d := filepath.Dir(rootDir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // traversable, like /etc
	}

	whoami := func(c *Client) (string, *Result, error) {
		res, err := c.Run(ctx, &Pipeline{Steps: []Step{
			{Name: "whoami", Args: []string{"id", "-un"}, User: "root", Save: "who"},
			// While sudo runs, no process's argv holds the password.
			{Name: "argv", Script: `ps -eo args= | awk 'index($0, ENVIRON["P"]) { n++ } END { print n+0 }'`, Env: []string{"P=" + pw}, User: "root", Save: "argv", Hidden: true},
		}})
		if res == nil {
			return "", nil, err
		}
		return res.Saved["who"], res, err
	}

	t.Run("nopasswd", func(t *testing.T) {
		c := clientAs(t, s, nopw.Name, nil)
		who, _, err := whoami(c)
		if err != nil || who != "root" {
			t.Fatalf("who = %q, %v", who, err)
		}
		out, err := c.Command("id", "-un").Output(ctx)
		if err != nil || string(out) != nopw.Name+"\n" {
			t.Errorf("login user: %q %v", out, err)
		}
		cmd := c.Command("id", "-un")
		cmd.User = none.Name
		out, err = cmd.Output(ctx)
		if err != nil || string(out) != none.Name+"\n" {
			t.Errorf("as another user: %q %v", out, err)
		}
		// Upload into a root-owned directory: through sudo.
		target := filepath.Join(rootDir, "app.conf")
		if err := c.WriteFile(ctx, target, []byte("k=v\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(target)
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("stat: %v %v", fi, err)
		}
		// With an owner.
		if err := c.UploadReader(ctx, strings.NewReader("owned\n"), target, &FileOptions{Mode: 0o600, Owner: nopw.Name}); err != nil {
			t.Fatal(err)
		}
		if uid := ownerUID(t, target); uid != nopw.UID {
			t.Errorf("owner uid %d, want %d", uid, nopw.UID)
		}
		if b, _ := os.ReadFile(target); string(b) != "owned\n" {
			t.Errorf("content %q", b)
		}
		// Replacing through sudo keeps the owner of the replaced file.
		if err := c.WriteFile(ctx, target, []byte("again\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if uid := ownerUID(t, target); uid != nopw.UID {
			t.Errorf("owner uid %d after replace, want %d", uid, nopw.UID)
		}
		if l := leftovers(t, rootDir); len(l) > 0 {
			t.Errorf("temporary files left: %v", l)
		}
		if m, _ := filepath.Glob(filepath.Join(nopw.Home, tempPrefix+"*")); len(m) > 0 {
			t.Errorf("staged files left: %v", m)
		}
		// SudoNever: a plain permission error.
		err = c.WriteFile(ctx, filepath.Join(rootDir, "never"), nil, 0o644)
		_ = err
		err = c.UploadReader(ctx, strings.NewReader("x"), filepath.Join(rootDir, "never"), &FileOptions{Mode: 0o644, Sudo: SudoNever})
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("SudoNever: %v", err)
		}
	})

	t.Run("password", func(t *testing.T) {
		c := clientAs(t, s, withpw.Name, func(cfg *Config) { cfg.SudoPassword = pw })
		who, res, err := whoami(c)
		if err != nil || who != "root" {
			t.Fatalf("who = %q, %v", who, err)
		}
		if n := res.Saved["argv"]; n != "0" {
			t.Errorf("the sudo password was in %s process argv", n)
		}
		for _, st := range res.Steps {
			if bytes.Contains(st.Stdout, []byte(pw)) || bytes.Contains(st.Stderr, []byte(pw)) {
				t.Error("password in captured output")
			}
		}
		target := filepath.Join(rootDir, "pw.conf")
		if err := c.WriteFile(ctx, target, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Without the password: a clear error, not a hang.
		c2 := clientAs(t, s, withpw.Name, nil)
		start := time.Now()
		_, _, err = whoami(c2)
		if err == nil || time.Since(start) > 30*time.Second {
			t.Fatalf("no password: %v after %v", err, time.Since(start))
		}
		t.Logf("without SudoPassword: %v", err)
		if !strings.Contains(err.Error(), "password") {
			t.Errorf("error does not mention the password: %v", err)
		}
		// A wrong password is tried once, not three times.
		c3 := clientAs(t, s, withpw.Name, func(cfg *Config) { cfg.SudoPassword = "wrong-" + pw })
		start = time.Now()
		_, res, err = whoami(c3)
		t.Logf("wrong SudoPassword after %v: %v", time.Since(start), err)
		if err == nil {
			t.Fatal("wrong sudo password accepted")
		}
		for _, st := range res.Steps {
			if bytes.Contains(st.Stderr, []byte("3 incorrect password attempts")) {
				t.Errorf("sudo asked three times: %s", st.Stderr)
			}
			if bytes.Contains(st.Stderr, []byte(pw)) {
				t.Error("password in stderr")
			}
		}
	})

	t.Run("no-sudo-rights", func(t *testing.T) {
		c := clientAs(t, s, none.Name, nil)
		_, _, err := whoami(c)
		var ee *ExitError
		if err == nil || !errors.As(err, &ee) {
			t.Fatalf("got %v", err)
		}
		t.Logf("%v", err)
		err = c.WriteFile(ctx, filepath.Join(rootDir, "denied"), []byte("x"), 0o644)
		if err == nil || !strings.Contains(err.Error(), "sudo") {
			t.Fatalf("upload without sudo rights: %v", err)
		}
		t.Logf("%v", err)
		if _, err := os.Stat(filepath.Join(rootDir, "denied")); err == nil {
			t.Error("file written without rights")
		}
		if m, _ := filepath.Glob(filepath.Join(none.Home, tempPrefix+"*")); len(m) > 0 {
			t.Errorf("staged files left: %v", m)
		}
	})
}

// cutReader calls cut once, when more than after bytes were read.
type cutReader struct {
	*bytes.Reader
	after  int64
	read   int64
	cut    func()
	didCut bool
}

func (r *cutReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	r.read += int64(n)
	if r.read > r.after && !r.didCut {
		r.didCut = true
		r.cut()
	}
	return n, err
}
