package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Sudo says what sudo rights a test user gets.
type Sudo int

const (
	// NoSudo: the user is not in sudoers; sudo refuses it.
	NoSudo Sudo = iota
	// SudoNoPassword: the user may run anything as anyone without a
	// password.
	SudoNoPassword
	// SudoPassword: the user may run anything as anyone after giving its
	// own password.
	SudoPassword
)

// UserOptions configures a test user made by [AddUser].
type UserOptions struct {
	// Password sets the user's password (chpasswd). Empty leaves the
	// account without a usable password.
	Password string
	// Sudo sets the user's sudo rights.
	Sudo Sudo
}

// User is a local Unix account made for tests.
type User struct {
	Name string
	Home string
	UID  int
	GID  int
}

// AddUser creates the local user name (with a home directory and
// /bin/sh as shell) if it does not exist, authorizes the generated client
// key (the [Server.Signer] of every server of this process) in its
// ~/.ssh/authorized_keys, and sets its password and sudo rights in
// /etc/sudoers.d/ferrytest-<name>. It needs root: the test is skipped
// otherwise, unless [Required]. The account is left in place for later
// runs; the sudoers entry is rewritten each time.
func AddUser(tb testing.TB, name string, opts UserOptions) *User {
	tb.Helper()
	if os.Geteuid() != 0 {
		if Required() {
			tb.Fatalf("sshdtest: AddUser needs root and FERRY_REQUIRE_SSHD=1")
		}
		tb.Skip("sshdtest: AddUser needs root; run .ci/run")
	}
	u, err := EnsureUser(name, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// EnsureUser is [AddUser] for programs (benchmarks): it returns an error
// instead of failing a test. It needs root.
func EnsureUser(name string, opts UserOptions) (*User, error) {
	genKeys()
	if keysErr != nil {
		return nil, keysErr
	}
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sshdtest: useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	pwLine := name + ":*\n" // no password, but not locked: sshd refuses locked accounts
	if opts.Password != "" {
		pwLine = name + ":" + opts.Password + "\n"
	}
	{
		cmd := exec.Command("chpasswd", "-e")
		if opts.Password != "" {
			cmd = exec.Command("chpasswd")
		}
		cmd.Stdin = strings.NewReader(pwLine)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sshdtest: chpasswd %s: %v\n%s", name, err, out)
		}
	}
	sshDir := filepath.Join(u.HomeDir, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(clientKey)
	if err != nil {
		return nil, err
	}
	ak := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(ak, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		return nil, err
	}
	for _, p := range []string{sshDir, ak} {
		if err := os.Chown(p, uid, gid); err != nil {
			return nil, err
		}
	}
	sudoers := "/etc/sudoers.d/ferrytest-" + name
	switch opts.Sudo {
	case NoSudo:
		os.Remove(sudoers)
	case SudoNoPassword, SudoPassword:
		tag := "NOPASSWD: "
		if opts.Sudo == SudoPassword {
			tag = ""
		}
		line := fmt.Sprintf("%s ALL=(ALL:ALL) %sALL\n", name, tag)
		if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(sudoers, []byte(line), 0o440); err != nil {
			return nil, err
		}
	}
	return &User{Name: name, Home: u.HomeDir, UID: uid, GID: gid}, nil
}

// AuthorizeKey appends key to the authorized_keys of the server's own
// login user.
func (s *Server) AuthorizeKey(key ssh.PublicKey) error {
	f, err := os.OpenFile(s.AuthorizedKeys, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(ssh.MarshalAuthorizedKey(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
