// Package sshdtest starts OpenSSH's sshd on loopback for tests and
// benchmarks, with host and client keys generated for the run.
//
// Tests call [Start]; it skips the test when sshd is not installed, unless
// FERRY_REQUIRE_SSHD=1 is set (as .ci/run does), in which case it fails.
package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is where sshd is looked for.
var SSHDPath = "/usr/sbin/sshd"

// Options configures a server. The zero value is a server on 127.0.0.1
// on a free port, logging in the current user with a generated ed25519
// key.
type Options struct {
	// Host is the loopback address to listen on. Empty means 127.0.0.1.
	Host string
	// Port is the port to listen on. Zero picks a free one.
	Port int
	// Config lines are appended to the generated sshd_config, for
	// example "MaxSessions 2" or "PasswordAuthentication yes".
	Config []string
	// Netns runs sshd inside that network namespace (ip netns exec).
	Netns string
	// PAM turns on UsePAM and keyboard-interactive authentication, so
	// that passwords are checked through PAM as on a stock Debian host.
	// False means UsePAM no and only public key authentication (plus
	// what Config adds, e.g. "PasswordAuthentication yes").
	PAM bool
}

// Server is a running sshd.
type Server struct {
	// Addr is "host:port".
	Addr string
	Host string
	Port int
	// User is the login user: the current user.
	User string
	// Dir is the server's private directory (keys, config, logs).
	Dir string
	// KeyFile is an unencrypted ed25519 private key authorized for User;
	// Signer is the same key.
	KeyFile string
	Signer  ssh.Signer
	// AuthorizedKeys is the authorized_keys file; append to it to
	// authorize more keys.
	AuthorizedKeys string
	// KnownHosts is a known_hosts file holding all of the server's host
	// keys under Addr (as "[host]:port" when the port is not 22).
	KnownHosts string
	// HostKeys are the server's public host keys: ed25519, ecdsa, rsa.
	HostKeys []ssh.PublicKey

	opts         Options  // as started, for Restart
	hostKeyLines []string // as started, for Restart

	cmd     *exec.Cmd
	logBuf  *lockedBuffer
	done    chan struct{}
	waitErr error
}

var (
	keysOnce  sync.Once
	hostKeys  []any // private keys, shared by all servers of this process
	clientKey ed25519.PrivateKey
	keysErr   error
)

func genKeys() {
	keysOnce.Do(func() {
		_, edHost, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			keysErr = err
			return
		}
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			keysErr = err
			return
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			keysErr = err
			return
		}
		hostKeys = []any{edHost, ec, rk}
		_, clientKey, keysErr = ed25519.GenerateKey(rand.Reader)
	})
}

// Available reports whether sshd can be started here.
func Available() bool {
	_, err := os.Stat(SSHDPath)
	return err == nil
}

// Required reports whether FERRY_REQUIRE_SSHD=1 is set: a missing sshd is
// then a failure, not a skip.
func Required() bool { return os.Getenv("FERRY_REQUIRE_SSHD") == "1" }

// Start starts a server for the test and stops it at the test's end. It
// skips the test when sshd is missing (fails when [Required]).
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if !Available() {
		if Required() {
			tb.Fatalf("sshdtest: %s not found and FERRY_REQUIRE_SSHD=1", SSHDPath)
		}
		tb.Skipf("sshdtest: %s not found; install openssh-server or run .ci/run", SSHDPath)
	}
	dir := tb.TempDir()
	s, err := New(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Log(err)
		}
		if tb.Failed() {
			tb.Logf("sshd log (%s):\n%s", s.Addr, s.Log())
		}
	})
	return s
}

// New starts a server whose files live in dir (which must exist and
// should be private). The caller must call Close.
func New(dir string, opts Options) (*Server, error) {
	genKeys()
	if keysErr != nil {
		return nil, keysErr
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: opts.Host, User: u.Username, Dir: dir}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		return nil, err
	}
	var hostKeyLines []string
	for i, k := range hostKeys {
		p := filepath.Join(dir, fmt.Sprintf("host_key_%d", i))
		if err := writePrivateKey(p, k); err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(k)
		if err != nil {
			return nil, err
		}
		s.HostKeys = append(s.HostKeys, signer.PublicKey())
		hostKeyLines = append(hostKeyLines, "HostKey "+p)
	}
	s.KeyFile = filepath.Join(dir, "id_ed25519")
	if err := writePrivateKey(s.KeyFile, clientKey); err != nil {
		return nil, err
	}
	s.Signer, err = ssh.NewSignerFromKey(clientKey)
	if err != nil {
		return nil, err
	}
	s.AuthorizedKeys = filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(s.AuthorizedKeys, ssh.MarshalAuthorizedKey(s.Signer.PublicKey()), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := opts.Port
		if port == 0 {
			port, err = freePort(opts.Host)
			if err != nil {
				return nil, err
			}
		}
		s.Port = port
		s.Addr = net.JoinHostPort(opts.Host, strconv.Itoa(port))
		s.opts, s.hostKeyLines = opts, hostKeyLines
		lastErr = s.start(opts, hostKeyLines)
		if lastErr == nil {
			break
		}
		if opts.Port != 0 {
			return nil, lastErr
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	var kh bytes.Buffer
	for _, k := range s.HostKeys {
		kh.WriteString(KnownHostsLine(s.Addr, k))
	}
	if err := os.WriteFile(s.KnownHosts, kh.Bytes(), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// KnownHostsLine formats one known_hosts line for addr and key, the way
// OpenSSH writes it ("[host]:port" unless the port is 22).
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	name := host
	if port != "" && port != "22" {
		name = "[" + host + "]:" + port
	}
	return name + " " + string(ssh.MarshalAuthorizedKey(key))
}

func (s *Server) start(opts Options, hostKeyLines []string) error {
	cfg := []string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress " + s.Host,
		"AuthorizedKeysFile " + s.AuthorizedKeys + " .ssh/authorized_keys",
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"StrictModes no",
		"PermitRootLogin yes",
		"LogLevel VERBOSE",
		"Subsystem sftp internal-sftp",
	}
	cfg = append(cfg, hostKeyLines...)
	// sshd keeps the first value of a keyword: Config lines go before the
	// defaults below so that they can override them.
	cfg = append(cfg, opts.Config...)
	if opts.PAM {
		cfg = append(cfg, "UsePAM yes", "KbdInteractiveAuthentication yes")
	} else {
		cfg = append(cfg, "UsePAM no", "KbdInteractiveAuthentication no")
	}
	cfg = append(cfg, "PasswordAuthentication no")
	cfgFile := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cfgFile, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	args := []string{SSHDPath, "-D", "-e", "-f", cfgFile}
	if opts.Netns != "" {
		args = append([]string{"ip", "netns", "exec", opts.Netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	// Its own process group, so that Close stops the per-connection
	// children too; and Wait does not wait for pipes they may still hold.
	// Pdeathsig: a test binary killed before its cleanups run (a fuzz
	// worker, a timeout) takes its sshd along instead of leaving it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	s.logBuf = &lockedBuffer{}
	cmd.Stdout = s.logBuf
	cmd.Stderr = s.logBuf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sshdtest: start sshd: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("sshdtest: sshd exited: %v\n%s", s.waitErr, s.logBuf.String())
		default:
		}
		if opts.Netns != "" {
			if strings.Contains(s.logBuf.String(), "Server listening") {
				return nil
			}
		} else if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Close()
	return fmt.Errorf("sshdtest: sshd on %s did not come up:\n%s", s.Addr, s.logBuf.String())
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.logBuf.String() }

// Close stops the server.
func (s *Server) Close() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Process.Kill()
	<-s.done
	return nil
}

// ClientConfig returns an x/crypto client configuration that logs in as
// User with the generated key and pins the ed25519 host key.
func (s *Server) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeyCallback:   ssh.FixedHostKey(s.HostKeys[0]),
		HostKeyAlgorithms: []string{s.HostKeys[0].Type()},
		Timeout:           10 * time.Second,
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writePrivateKey(path string, key any) error {
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pemEncode(&buf, block); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
