package executor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// connectTimeout bounds every dial in these tests: errors must come
// well within it, never as a hang.
const connectTimeout = 10 * time.Second

func dialT(t *testing.T, addr string, cfg *Config) (*ssh.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return dialSSH(ctx, addr, cfg)
}

// mustRun runs "echo ok" over c and checks the output.
func mustRun(t *testing.T, c *ssh.Client) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Output("echo ok")
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("echo ok: %q, %v", out, err)
	}
}

func knownHostsT(t *testing.T, files ...string) HostKeyPolicy {
	t.Helper()
	p, err := KnownHosts(files...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if sshdtest.Required() {
			t.Fatalf("%s not found and FERRY_REQUIRE_SSHD=1", name)
		}
		t.Skipf("%s not found; install openssh-client or run .ci/run", name)
	}
	return p
}

// keygen makes a client key with ssh-keygen and returns its path.
func keygen(t *testing.T, dir, typ, pass string) string {
	t.Helper()
	needTool(t, "ssh-keygen")
	p := filepath.Join(dir, "id_"+typ+map[bool]string{true: "_enc"}[pass != ""])
	args := []string{"-q", "-t", typ, "-N", pass, "-f", p, "-C", "ferry-test"}
	if typ == "rsa" {
		args = append(args, "-b", "2048")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return p
}

func authorize(t *testing.T, s *sshdtest.Server, pubFile string) {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AuthorizeKey(k); err != nil {
		t.Fatal(err)
	}
}

func TestSSHDAuthKeys(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	for _, tc := range []struct{ typ, pass string }{
		{"ed25519", ""}, {"ecdsa", ""}, {"rsa", ""}, {"ed25519", "s3cret pass"}, {"rsa", "another"},
	} {
		t.Run(tc.typ+map[bool]string{true: "_encrypted"}[tc.pass != ""], func(t *testing.T) {
			key := keygen(t, dir, tc.typ, tc.pass)
			authorize(t, s, key+".pub")
			var pass []byte
			if tc.pass != "" {
				pass = []byte(tc.pass)
			}
			m, err := PrivateKeyFile(key, pass)
			if err != nil {
				t.Fatal(err)
			}
			c, err := dialT(t, s.Addr, &Config{User: s.User, Auth: []ssh.AuthMethod{m}, HostKeys: knownHostsT(t, s.KnownHosts)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mustRun(t, c)

			// The same key from bytes.
			pem, _ := os.ReadFile(key)
			if _, err := PrivateKey(pem, pass); err != nil {
				t.Fatal(err)
			}
			if tc.pass != "" {
				if _, err := PrivateKeyFile(key, nil); !errors.Is(err, ErrPassphraseMissing) || !strings.Contains(err.Error(), key) {
					t.Errorf("no passphrase: %v; want ErrPassphraseMissing naming %s", err, key)
				}
				if _, err := PrivateKeyFile(key, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), key) {
					t.Errorf("wrong passphrase: %v; want ErrWrongPassphrase naming %s", err, key)
				}
			}
		})
	}
}

func TestSSHDAuthAgent(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	agentBin := needTool(t, "ssh-agent")
	needTool(t, "ssh-add")
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ag := exec.Command(agentBin, "-D", "-a", sock)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Process.Kill(); ag.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("ssh-agent socket did not appear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	key := keygen(t, dir, "ecdsa", "")
	authorize(t, s, key+".pub")
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := Agent(); !errors.Is(err, ErrNoAgent) {
		t.Errorf("Agent() with SSH_AUTH_SOCK unset: %v, want ErrNoAgent", err)
	}
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(dir, "nothing-here"))
	if _, err := Agent(); err == nil || !strings.Contains(err.Error(), "nothing-here") {
		t.Errorf("Agent() with a dead socket: %v, want an error naming it", err)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	m, err := Agent()
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialT(t, s.Addr, &Config{User: s.User, Auth: []ssh.AuthMethod{m}, HostKeys: knownHostsT(t, s.KnownHosts)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustRun(t, c)
}

func TestSSHDAuthPassword(t *testing.T) {
	const pw = "p@ss word;$(nope)"
	u := sshdtest.AddUser(t, "ferrypw", sshdtest.UserOptions{Password: pw})
	t.Run("password", func(t *testing.T) {
		s := sshdtest.Start(t, sshdtest.Options{Config: []string{"PasswordAuthentication yes", "PubkeyAuthentication no"}})
		c, err := dialT(t, s.Addr, &Config{User: u.Name, Auth: []ssh.AuthMethod{Password(pw)}, HostKeys: knownHostsT(t, s.KnownHosts)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mustRun(t, c)
		_, err = dialT(t, s.Addr, &Config{User: u.Name, Auth: []ssh.AuthMethod{Password("wrong")}, HostKeys: knownHostsT(t, s.KnownHosts)})
		if err == nil || !strings.Contains(err.Error(), "authentication refused") {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("keyboard-interactive/PAM", func(t *testing.T) {
		if _, err := os.Stat("/etc/pam.d/sshd"); err != nil {
			t.Skip("no /etc/pam.d/sshd")
		}
		s := sshdtest.Start(t, sshdtest.Options{PAM: true, Config: []string{"PubkeyAuthentication no"}})
		c, err := dialT(t, s.Addr, &Config{User: u.Name, Auth: []ssh.AuthMethod{Password(pw), KeyboardInteractivePassword(pw)}, HostKeys: knownHostsT(t, s.KnownHosts)})
		if err != nil {
			t.Fatalf("%v\n%s", err, s.Log())
		}
		defer c.Close()
		mustRun(t, c)
	})
}

func TestSSHDKnownHosts(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	auth := []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}
	dial := func(p HostKeyPolicy) error {
		c, err := dialT(t, s.Addr, &Config{User: s.User, Auth: auth, HostKeys: p})
		if err == nil {
			mustRun(t, c)
			c.Close()
		}
		return err
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("plain", func(t *testing.T) {
		if err := dial(knownHostsT(t, s.KnownHosts)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("hashed", func(t *testing.T) {
		needTool(t, "ssh-keygen")
		p := write("hashed", sshdtest.KnownHostsLine(s.Addr, s.HostKeys[0]))
		if out, err := exec.Command("ssh-keygen", "-H", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		b, _ := os.ReadFile(p)
		if !bytes.HasPrefix(b, []byte("|1|")) {
			t.Fatalf("not hashed: %s", b)
		}
		if err := dial(knownHostsT(t, p)); err != nil {
			t.Fatal(err)
		}
	})
	// Only one key is known: the policy must ask for its algorithm, or
	// Go negotiates its own favourite (ECDSA) and reports a changed key
	// (golang/go#36126).
	for i, name := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run("only-"+name+"-known", func(t *testing.T) {
			p := write("only-"+name, sshdtest.KnownHostsLine(s.Addr, s.HostKeys[i]))
			pol := knownHostsT(t, p)
			if got := pol.HostKeyAlgorithms(s.Addr); len(got) == 0 || got[len(got)-1] != s.HostKeys[i].Type() {
				t.Errorf("HostKeyAlgorithms = %v, want ending in %s", got, s.HostKeys[i].Type())
			}
			if err := dial(pol); err != nil {
				t.Fatal(err)
			}
			if name != "ed25519" {
				return
			}
			// The control: the same file without algorithm selection
			// fails, with a false "changed key".
			err := dial(callbackPolicy{cb: pol.HostKeyCallback()})
			var he *HostKeyError
			if !errors.As(err, &he) || he.Unknown() {
				t.Errorf("without algorithm selection: %v; expected the false mismatch this policy avoids", err)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		p := write("other", "[127.0.0.1]:1 "+string(ssh.MarshalAuthorizedKey(s.HostKeys[0])))
		err := dial(knownHostsT(t, p))
		var he *HostKeyError
		if !errors.As(err, &he) || !he.Unknown() || he.Host != s.Addr {
			t.Fatalf("got %v, want unknown-host HostKeyError", err)
		}
		if !isOneOf(he.Fingerprint, s.HostKeys) || !strings.Contains(err.Error(), he.Fingerprint) || !strings.Contains(err.Error(), "unknown host") {
			t.Errorf("error %q: fingerprint %q not one of the server's", err, he.Fingerprint)
		}
		var ke *xknownhosts.KeyError
		if !errors.As(err, &ke) || len(ke.Want) != 0 {
			t.Errorf("knownhosts.KeyError not reachable: %v", err)
		}
		if !IsTransport(err) {
			t.Errorf("not a TransportError: %T", err)
		}
	})
	t.Run("changed", func(t *testing.T) {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		other, _ := ssh.NewPublicKey(pub)
		p := write("changed", sshdtest.KnownHostsLine(s.Addr, other))
		err := dial(knownHostsT(t, p))
		var he *HostKeyError
		if !errors.As(err, &he) || he.Unknown() {
			t.Fatalf("got %v, want changed-key HostKeyError", err)
		}
		if he.Fingerprint != ssh.FingerprintSHA256(s.HostKeys[0]) || !strings.Contains(he.Want[0], ssh.FingerprintSHA256(other)) {
			t.Errorf("fingerprints: got %s want %v", he.Fingerprint, he.Want)
		}
		if !strings.Contains(err.Error(), "CHANGED") {
			t.Errorf("message does not say changed: %v", err)
		}
		var ke *xknownhosts.KeyError
		if !errors.As(err, &ke) || len(ke.Want) != 1 {
			t.Errorf("knownhosts.KeyError not reachable: %v", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		p := write("revoked", sshdtest.KnownHostsLine(s.Addr, s.HostKeys[0])+"@revoked * "+string(ssh.MarshalAuthorizedKey(s.HostKeys[0])))
		err := dial(knownHostsT(t, p))
		var he *HostKeyError
		if !errors.As(err, &he) || !he.Revoked {
			t.Fatalf("got %v, want revoked HostKeyError", err)
		}
	})
	t.Run("missing-file", func(t *testing.T) {
		if _, err := KnownHosts(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		if err := dial(FixedHostKey(s.HostKeys[1])); err != nil {
			t.Fatal(err)
		}
	})
}

func isOneOf(fp string, keys []ssh.PublicKey) bool {
	for _, k := range keys {
		if ssh.FingerprintSHA256(k) == fp {
			return true
		}
	}
	return false
}

func TestSSHDCertAuthority(t *testing.T) {
	needTool(t, "ssh-keygen")
	probe := sshdtest.Start(t, sshdtest.Options{}) // to learn the (shared) host keys
	dir := t.TempDir()
	ca := keygen(t, dir, "ed25519", "")
	hostPub := filepath.Join(dir, "host_ed25519.pub")
	if err := os.WriteFile(hostPub, ssh.MarshalAuthorizedKey(probe.HostKeys[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", "ferry-test-host", "-h", "-n", "127.0.0.1", "-V", "-5m:+1h", hostPub).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -s: %v\n%s", err, out)
	}
	cert := filepath.Join(dir, "host_ed25519-cert.pub")
	s := sshdtest.Start(t, sshdtest.Options{Config: []string{"HostCertificate " + cert}})
	caPubB, _ := os.ReadFile(ca + ".pub")
	_, port, _ := net.SplitHostPort(s.Addr)

	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte("@cert-authority [127.0.0.1]:"+port+" "+string(caPubB)), 0o600)
	pol := knownHostsT(t, kh)
	if algos := pol.HostKeyAlgorithms(s.Addr); len(algos) == 0 || !strings.Contains(algos[0], "cert") {
		t.Errorf("algorithms for a CA-only host: %v, want certificate algorithms", algos)
	}
	c, err := dialT(t, s.Addr, &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: pol})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, c)
	c.Close()

	// A CA that did not sign the host's certificate.
	other := keygen(t, t.TempDir(), "ecdsa", "")
	otherPub, _ := os.ReadFile(other + ".pub")
	kh2 := filepath.Join(dir, "known_hosts2")
	os.WriteFile(kh2, []byte("@cert-authority [127.0.0.1]:"+port+" "+string(otherPub)), 0o600)
	if _, err := dialT(t, s.Addr, &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: knownHostsT(t, kh2)}); err == nil {
		t.Fatal("a certificate from an unlisted CA was accepted")
	} else {
		t.Logf("refused as expected: %v", err)
	}
}

func TestSSHDAcceptNew(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	file := filepath.Join(t.TempDir(), "sub", "known_hosts")
	pol, err := AcceptNewHostKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: pol}
	for i := 0; i < 2; i++ {
		c, err := dialT(t, s.Addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	b, _ := os.ReadFile(file)
	if n := bytes.Count(b, []byte("\n")); n != 1 || !strings.HasPrefix(string(b), "[127.0.0.1]:") {
		t.Fatalf("recorded:\n%s", b)
	}
	// A fresh strict policy on the recorded file accepts the host.
	c, err := dialT(t, s.Addr, &Config{User: s.User, Auth: cfg.Auth, HostKeys: knownHostsT(t, file)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A changed key is still refused.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	os.WriteFile(file, []byte(sshdtest.KnownHostsLine(s.Addr, other)), 0o600)
	pol2, _ := AcceptNewHostKeys(file)
	_, err = dialT(t, s.Addr, &Config{User: s.User, Auth: cfg.Auth, HostKeys: pol2})
	var he *HostKeyError
	if !errors.As(err, &he) || he.Unknown() {
		t.Fatalf("changed key with accept-new: %v", err)
	}
}

// TestSSHDBadInput: each case fails with a clear error well within the
// deadline; none hangs.
func TestSSHDBadInput(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	good := &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: knownHostsT(t, s.KnownHosts)}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	garbage, _ := net.Listen("tcp", "127.0.0.1:0")
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	strangerSigner, _ := ssh.NewSignerFromKey(stranger)
	_ = pub

	cases := []struct {
		name, addr string
		cfg        *Config
		want       string
		timeout    time.Duration
	}{
		{"empty address", "", good, "empty address", 0},
		{"missing port", "127.0.0.1:", good, "malformed", 0},
		{"missing host", ":22", good, "malformed", 0},
		{"bad port", "127.0.0.1:99999", good, "malformed", 0},
		{"spaces", "my host", good, "malformed", 0},
		{"user part", "root@127.0.0.1", good, "malformed", 0},
		{"no host key policy", s.Addr, &Config{User: s.User, Auth: good.Auth}, "HostKeys is required", 0},
		{"refused auth", s.Addr, &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(strangerSigner)}, HostKeys: good.HostKeys}, "authentication refused", 0},
		{"no auth methods", s.Addr, &Config{User: s.User, HostKeys: good.HostKeys}, "authentication refused", 0},
		{"closed port", closedAddr, good, "connection refused", 0},
		{"silent listener", silent.Addr().String(), good, "does the port speak SSH", 1500 * time.Millisecond},
		{"not ssh", garbage.Addr().String(), good, "handshake", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = connectTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			c, err := dialSSH(ctx, tc.addr, tc.cfg)
			took := time.Since(start)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "executor: ") {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v, deadline %v", took, timeout)
			}
			var te *TransportError
			if !errors.As(err, &te) {
				t.Errorf("%T is not a TransportError", err)
			}
			t.Logf("%v (%v)", err, took.Round(time.Millisecond))
		})
	}

	t.Run("unreadable key", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "no-such-key")
		if _, err := PrivateKeyFile(p, nil); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("got %v, want an error naming %s", err, p)
		}
		if _, err := PrivateKeyFile(t.TempDir(), nil); err == nil {
			t.Error("a directory was accepted as a key")
		}
		if _, err := PrivateKey([]byte("not a key"), nil); err == nil {
			t.Error("garbage accepted as a key")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := dialSSH(ctx, silent.Addr().String(), good)
		if err == nil || time.Since(start) > 2*time.Second || !errors.Is(err, context.Canceled) {
			t.Errorf("cancel: %v after %v", err, time.Since(start))
		}
	})
}
