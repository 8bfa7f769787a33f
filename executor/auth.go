package executor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrPassphraseMissing is wrapped by the error of [PrivateKey] and
// [PrivateKeyFile] when the key is encrypted and no passphrase was given.
var ErrPassphraseMissing = errors.New("executor: private key is encrypted and no passphrase was given")

// ErrWrongPassphrase is wrapped by the error of [PrivateKey] and
// [PrivateKeyFile] when the passphrase does not decrypt the key.
var ErrWrongPassphrase = errors.New("executor: wrong passphrase for private key")

// PrivateKeyFile reads a private key from path and returns public key
// authentication with it. See [PrivateKey] for the formats accepted and
// what passphrase means. Errors name path.
func PrivateKeyFile(path string, passphrase []byte) (ssh.AuthMethod, error) {
	signer, err := privateKeyFileSigner(path, passphrase)
	if err != nil {
		return nil, err
	}
	return ssh.PublicKeys(signer), nil
}

func privateKeyFileSigner(path string, passphrase []byte) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("executor: read private key: %w", err)
	}
	signer, err := parsePrivateKey(pem, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w (key file %s)", err, path)
	}
	return signer, nil
}

// PrivateKey returns public key authentication with the PEM-encoded
// private key pem: OpenSSH, PKCS#1, PKCS#8 or SEC 1 encoding of an
// ed25519, ECDSA or RSA key. passphrase decrypts an encrypted key; nil
// means the key is not encrypted. The error wraps [ErrPassphraseMissing]
// when the key is encrypted and passphrase is nil, and
// [ErrWrongPassphrase] when passphrase does not decrypt it. A passphrase
// given for an unencrypted key is ignored.
func PrivateKey(pem, passphrase []byte) (ssh.AuthMethod, error) {
	signer, err := parsePrivateKey(pem, passphrase)
	if err != nil {
		return nil, err
	}
	return ssh.PublicKeys(signer), nil
}

func parsePrivateKey(pem, passphrase []byte) (ssh.Signer, error) {
	if passphrase == nil {
		s, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, ErrPassphraseMissing
		}
		if err != nil {
			return nil, fmt.Errorf("executor: parse private key: %w", err)
		}
		return s, nil
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(pem, passphrase)
	if err == nil {
		return s, nil
	}
	// Not encrypted after all: the passphrase is not needed.
	if s2, err2 := ssh.ParsePrivateKey(pem); err2 == nil {
		return s2, nil
	}
	if isWrongPassphrase(err) {
		return nil, ErrWrongPassphrase
	}
	return nil, fmt.Errorf("executor: parse private key: %w", err)
}

func isWrongPassphrase(err error) bool {
	// x509.IncorrectPasswordError for both OpenSSH and legacy PEM keys;
	// older x/crypto versions reported a bcrypt/decryption failure
	// instead.
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"decryption password incorrect", "incorrect password", "bcrypt"} {
		if containsFold(msg, s) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		match := true
		for j := 0; j < n; j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if a != b {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// ErrNoAgent is returned by [Agent] when SSH_AUTH_SOCK is not set.
var ErrNoAgent = errors.New("executor: SSH_AUTH_SOCK is not set: no ssh-agent to use")

// Agent returns public key authentication with the keys held by the
// ssh-agent at SSH_AUTH_SOCK. It fails with [ErrNoAgent] when the
// variable is unset, and with an error naming the socket when the agent
// cannot be reached.
//
// The agent is connected to once, now; the connection is shared by every
// handshake that uses the method (the agent client is safe for
// concurrent use) and is re-established if it breaks.
func Agent() (ssh.AuthMethod, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, ErrNoAgent
	}
	a := &agentConn{sock: sock}
	if _, err := a.client(); err != nil {
		return nil, err
	}
	return ssh.PublicKeysCallback(a.signers), nil
}

type agentConn struct {
	sock string
	mu   sync.Mutex
	conn net.Conn
	ag   agent.ExtendedAgent
}

func (a *agentConn) client() (agent.ExtendedAgent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ag != nil {
		return a.ag, nil
	}
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		return nil, fmt.Errorf("executor: connect to ssh-agent at %s: %w", a.sock, err)
	}
	a.conn, a.ag = conn, agent.NewClient(conn)
	return a.ag, nil
}

func (a *agentConn) signers() ([]ssh.Signer, error) {
	ag, err := a.client()
	if err != nil {
		return nil, err
	}
	s, err := ag.Signers()
	if err != nil {
		// The connection may have broken: reconnect once.
		a.mu.Lock()
		if a.ag == ag {
			a.conn.Close()
			a.ag, a.conn = nil, nil
		}
		a.mu.Unlock()
		if ag, err = a.client(); err != nil {
			return nil, err
		}
		if s, err = ag.Signers(); err != nil {
			return nil, fmt.Errorf("executor: ssh-agent at %s: %w", a.sock, err)
		}
	}
	return s, nil
}

// Password returns password authentication with p. Servers that offer
// only keyboard-interactive authentication (OpenSSH with PAM, the Debian
// default) need [KeyboardInteractivePassword] as well; list both:
//
//	Auth: []ssh.AuthMethod{executor.Password(p), executor.KeyboardInteractivePassword(p)}
func Password(p string) ssh.AuthMethod { return ssh.Password(p) }

// KeyboardInteractivePassword returns keyboard-interactive
// authentication that answers p to every question the server asks with
// echo off (a password prompt), and an empty string to the others.
func KeyboardInteractivePassword(p string) ssh.AuthMethod {
	return ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range questions {
			if !echos[i] {
				answers[i] = p
			}
		}
		return answers, nil
	})
}

// ErrNoAuth is returned by [DefaultAuth] when it finds no key at all.
var ErrNoAuth = errors.New("executor: no SSH key: give a key file, start ssh-agent, or create ~/.ssh/id_ed25519")

// DefaultAuth returns the authentication methods an OpenSSH user would
// expect: only keyFile when it is not empty (an error if it cannot be
// used); otherwise ssh-agent when SSH_AUTH_SOCK is set, then those of
// ~/.ssh/id_ed25519, id_ecdsa and id_rsa that exist and need no
// passphrase. It returns [ErrNoAuth] when it finds none.
func DefaultAuth(keyFile string) ([]ssh.AuthMethod, error) {
	if keyFile != "" {
		m, err := PrivateKeyFile(keyFile, nil)
		if err != nil {
			return nil, err
		}
		return []ssh.AuthMethod{m}, nil
	}
	var auth []ssh.AuthMethod
	if m, err := Agent(); err == nil {
		auth = append(auth, m)
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if m, err := PrivateKeyFile(filepath.Join(home, ".ssh", name), nil); err == nil {
				auth = append(auth, m)
			}
		}
	}
	if len(auth) == 0 {
		return nil, ErrNoAuth
	}
	return auth, nil
}
