package executortest_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor/executortest"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dial(t *testing.T, s *executortest.Server) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func session(t *testing.T, c *ssh.Client) *ssh.Session {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func TestExecOutput(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	sess := session(t, dial(t, s))
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run("echo hello; echo oops >&2"); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "hello\n" {
		t.Errorf("stdout = %q, want %q", got, "hello\n")
	}
	if got := stderr.String(); got != "oops\n" {
		t.Errorf("stderr = %q, want %q", got, "oops\n")
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	c := dial(t, s)
	for _, code := range []int{0, 1, 3, 255} {
		err := session(t, c).Run(fmt.Sprintf("exit %d", code))
		if code == 0 {
			if err != nil {
				t.Errorf("exit 0: %v", err)
			}
			continue
		}
		var ee *ssh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != code || ee.Signal() != "" {
			t.Errorf("exit %d: err = %v, want exit status %d", code, err, code)
		}
	}
}

func TestExitSignal(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	err := session(t, dial(t, s)).Run("kill -TERM $$")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "TERM" {
		t.Fatalf("err = %v, want exit signal TERM", err)
	}
}

func TestSignalRequestReachesProcessGroup(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	sess := session(t, dial(t, s))
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The inner shell only sees the signal if it goes to the whole
	// process group; the outer one, with no trap, dies of it.
	inner := `trap "echo inner got TERM; exit 0" TERM; echo ready; while :; do sleep 0.05; done`
	if err := sess.Start(`sh -c '` + inner + `'; echo outer survived`); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Fail rather than hang if the inner shell never stops.
	guard := time.AfterFunc(10*time.Second, s.CloseConnections)
	defer guard.Stop()
	rest, _ := io.ReadAll(r)
	err = sess.Wait()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "TERM" {
		t.Errorf("err = %v, want exit signal TERM", err)
	}
	if string(rest) != "inner got TERM\n" {
		t.Errorf("output after signal = %q", rest)
	}
}

func TestStdinStreams(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	sess := session(t, dial(t, s))
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.Start("cat"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	// Each line comes back before the next is sent: nothing is buffered
	// until EOF.
	for i := range 3 {
		want := fmt.Sprintf("line %d\n", i)
		io.WriteString(in, want)
		got, err := r.ReadString('\n')
		if got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	in.Close()
	if err := sess.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	sess := session(t, dial(t, s))
	if err := sess.Setenv("FERRY_TEST", "a b'c"); err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output(`printf %s "$FERRY_TEST"`)
	if err != nil || string(out) != "a b'c" {
		t.Fatalf("out = %q, %v", out, err)
	}
}

func TestPtyRefused(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	sess := session(t, dial(t, s))
	if err := sess.RequestPty("xterm", 24, 80, nil); err == nil {
		t.Fatal("pty-req accepted")
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	s := executortest.NewUnstartedServer(nil)
	s.Dir = t.TempDir()
	s.Start()
	t.Cleanup(s.Close)
	out, err := session(t, dial(t, s)).Output("pwd -P")
	want, _ := filepath.EvalSymlinks(s.Dir)
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("pwd = %q, %v; want %q", out, err, want)
	}
}

func TestSFTP(t *testing.T) {
	t.Parallel()
	s := executortest.NewUnstartedServer(nil)
	s.Dir = t.TempDir()
	s.Start()
	t.Cleanup(s.Close)
	c, err := sftp.NewClient(dial(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A relative path lands in Dir.
	f, err := c.Create("app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("name: web\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(s.Dir, "app.yaml")
	if b, err := os.ReadFile(local); err != nil || string(b) != "name: web\n" {
		t.Fatalf("on disk: %q, %v", b, err)
	}
	// An absolute path is the real filesystem.
	f, err = c.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "name: web\n" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if err := c.Rename(local, local+".2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local + ".2"); err != nil {
		t.Fatal(err)
	}
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	s := executortest.NewUnstartedServer(nil)
	s.MaxSessions = 2
	s.Start()
	t.Cleanup(s.Close)
	c := dial(t, s)
	s1 := session(t, c)
	session(t, c)

	_, err := c.NewSession()
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != ssh.ConnectionFailed || oe.Message != "open failed" {
		t.Fatalf("third session: err = %v, want sshd's open failure", err)
	}
	// Another connection has its own limit.
	session(t, dial(t, s))

	// A closed session frees its slot once the server has seen the close.
	s1.Close()
	waitFor(t, func() bool {
		sess, err := c.NewSession()
		if err == nil {
			sess.Close()
		}
		return err == nil
	})
	if got := s.MaxConcurrent(); got != 3 {
		t.Errorf("MaxConcurrent = %d, want 3", got)
	}
	if got := s.Sessions(); got != 4 {
		t.Errorf("Sessions = %d, want 4", got)
	}
	if got := s.Conns(); got != 2 {
		t.Errorf("Conns = %d, want 2", got)
	}
}

func TestSlotHeldUntilCommandExits(t *testing.T) {
	t.Parallel()
	s := executortest.NewUnstartedServer(nil)
	s.MaxSessions = 1
	s.Start()
	t.Cleanup(s.Close)
	c := dial(t, s)
	dir := t.TempDir()
	sess := session(t, c)
	if err := sess.Start("cd " + dir + " && touch started && until [ -e release ]; do sleep 0.02; done"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(dir + "/started"); return err == nil })
	sess.Close() // the command goes on, as under sshd
	if sess2, err := c.NewSession(); err == nil {
		sess2.Close()
		t.Fatal("session opened while the first command still runs")
	}
	if err := os.WriteFile(dir+"/release", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		sess2, err := c.NewSession()
		if err == nil {
			sess2.Close()
		}
		return err == nil
	})
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseConnections(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	c := dial(t, s)
	if err := session(t, c).Run("true"); err != nil {
		t.Fatal(err)
	}
	s.CloseConnections()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("client connection still open")
	}
	if err := session(t, dial(t, s)).Run("true"); err != nil {
		t.Fatalf("after redial: %v", err)
	}
	if got := s.Conns(); got != 2 {
		t.Errorf("Conns = %d, want 2", got)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	type call struct {
		cmd, stdin string
		env        []string
	}
	calls := make(chan call, 1)
	s := executortest.NewServer(t, func(s *executortest.Session) int {
		in, _ := io.ReadAll(s.Stdin)
		calls <- call{s.Command, string(in), s.Env}
		fmt.Fprintf(s.Stdout, "out:%s", in)
		fmt.Fprint(s.Stderr, "err")
		return 4
	})
	sess := session(t, dial(t, s))
	sess.Setenv("A", "1")
	sess.Stdin = strings.NewReader("input")
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err := sess.Run("docker compose up -d")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 4 {
		t.Fatalf("err = %v, want exit status 4", err)
	}
	got := <-calls
	if got.cmd != "docker compose up -d" || got.stdin != "input" || len(got.env) != 1 || got.env[0] != "A=1" {
		t.Errorf("handler saw %+v", got)
	}
	if stdout.String() != "out:input" || stderr.String() != "err" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestHandlerSignalsAndExitSignal(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, func(s *executortest.Session) int {
		fmt.Fprintln(s.Stdout, "ready")
		select {
		case sig := <-s.Signals:
			s.SetExitSignal(sig)
		case <-s.Context().Done():
		}
		return 0
	})
	sess := session(t, dial(t, s))
	out, _ := sess.StdoutPipe()
	if err := sess.Start("wait"); err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(out).ReadString('\n')
	sess.Signal(ssh.SIGINT)
	var ee *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &ee) || ee.Signal() != "INT" {
		t.Fatalf("err = %v, want exit signal INT", err)
	}
}

func TestHandlerNoExitStatus(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, func(*executortest.Session) int { return -1 })
	err := session(t, dial(t, s)).Run("x")
	var em *ssh.ExitMissingError
	if !errors.As(err, &em) {
		t.Fatalf("err = %v, want *ssh.ExitMissingError", err)
	}
}

func TestHandlerCanExec(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	s := executortest.NewServer(t, func(s *executortest.Session) int {
		seen <- s.Command
		return executortest.Exec(s)
	})
	out, err := session(t, dial(t, s)).Output("echo real")
	if cmd := <-seen; err != nil || string(out) != "real\n" || cmd != "echo real" {
		t.Fatalf("out %q, err %v, command %q", out, err, cmd)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := executortest.NewUnstartedServer(nil)
	s.Password = "hunter2"
	s.Start()
	t.Cleanup(s.Close)

	cfg := s.ClientConfig()
	cfg.Auth = []ssh.AuthMethod{ssh.Password("hunter2")}
	if c, err := ssh.Dial("tcp", s.Addr, cfg); err != nil {
		t.Errorf("password: %v", err)
	} else {
		c.Close()
	}
	cfg.Auth = []ssh.AuthMethod{ssh.Password("wrong")}
	if _, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		t.Error("wrong password accepted")
	}
	other := executortest.NewUnstartedServer(nil) // unstarted: only its keys are used
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(other.ClientSigner)}
	if _, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		t.Error("unknown key accepted")
	}
	cfg = s.ClientConfig()
	cfg.User = s.User + "x"
	if _, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		t.Error("wrong user accepted")
	}
	cfg = s.ClientConfig()
	cfg.HostKeyCallback = ssh.FixedHostKey(other.HostKey)
	if _, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		t.Error("wrong host key accepted")
	}
	// The PEM form of the client key is the same key.
	signer, err := ssh.ParsePrivateKey(s.ClientKeyPEM())
	if err != nil || !bytes.Equal(signer.PublicKey().Marshal(), s.ClientSigner.PublicKey().Marshal()) {
		t.Errorf("ClientKeyPEM: %v", err)
	}
}

func TestKnownHostsFile(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	cb, err := knownhosts.New(s.KnownHostsFile(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.ClientConfig()
	cfg.HostKeyCallback = cb
	c, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestConfig(t *testing.T) {
	t.Parallel()
	s := executortest.NewServer(t, nil)
	cfg := s.Config()
	if cfg.User != s.User || len(cfg.Auth) != 1 || cfg.HostKeys == nil {
		t.Fatalf("Config = %+v", cfg)
	}
	cb := cfg.HostKeys.HostKeyCallback()
	if err := cb(s.Addr, nil, s.HostKey); err != nil {
		t.Errorf("host key rejected: %v", err)
	}
	other := executortest.NewUnstartedServer(nil)
	if err := cb(s.Addr, nil, other.HostKey); err == nil {
		t.Error("other host key accepted")
	}
}

// TestCloseKillsAndCleansUp is not parallel: it counts goroutines.
func TestCloseKillsAndCleansUp(t *testing.T) {
	before := runtime.NumGoroutine()
	s := executortest.NewUnstartedServer(nil)
	s.Start()
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	// A command in the background of a command, and an idle session.
	sess, _ := c.NewSession()
	out, _ := sess.StdoutPipe()
	if err := sess.Start("sleep 60 & echo $!; wait"); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid %q: %v", line, err)
	}
	if _, err := c.NewSession(); err != nil {
		t.Fatal(err)
	}
	sftpc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}

	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	c.Close()
	sftpc.Close()
	sess.Wait()

	// The background sleep was in the command's process group. It is not
	// our child, so it may linger as a zombie of init for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running after Close", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	deadline = time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// TestForward: the server forwards direct-tcpip channels, as a jump host
// does, and refuses one whose address cannot be dialled.
func TestForward(t *testing.T) {
	srv := executortest.NewServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "echo: "+line)
	}()
	client, err := ssh.Dial("tcp", srv.Addr, srv.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := client.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hello\n")
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "echo: hello\n" {
		t.Errorf("through the server: %q", got)
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	if _, err := client.Dial("tcp", addr); err == nil {
		t.Error("a direct-tcpip channel to a closed port was accepted")
	}
}
