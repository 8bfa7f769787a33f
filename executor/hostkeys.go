package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

type callbackPolicy struct {
	cb    ssh.HostKeyCallback
	algos []string
}

func (p callbackPolicy) HostKeyCallback() ssh.HostKeyCallback { return p.cb }
func (p callbackPolicy) HostKeyAlgorithms(string) []string    { return p.algos }

// FixedHostKey accepts only key, and asks the server for key's algorithm.
func FixedHostKey(key ssh.PublicKey) HostKeyPolicy {
	algos := []string{key.Type()}
	if key.Type() == ssh.KeyAlgoRSA {
		algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	fixed := ssh.FixedHostKey(key)
	cb := func(host string, remote net.Addr, k ssh.PublicKey) error {
		if err := fixed(host, remote, k); err != nil {
			return &HostKeyError{Host: host, KeyType: k.Type(), Fingerprint: ssh.FingerprintSHA256(k),
				Want: []string{key.Type() + " " + ssh.FingerprintSHA256(key)}, Err: err}
		}
		return nil
	}
	return callbackPolicy{cb: cb, algos: algos}
}

// InsecureIgnoreHostKey accepts any host key. It makes the connection
// open to a man in the middle; use it only where that cannot matter.
func InsecureIgnoreHostKey() HostKeyPolicy {
	return callbackPolicy{cb: ssh.InsecureIgnoreHostKey()}
}

// HostKeyError reports a host key that was refused: either the host is
// not in the known_hosts files (Want is empty: see [HostKeyError.Unknown])
// or it is known with other keys (a changed key, which may mean a man in
// the middle), or the key was marked @revoked. Use [errors.As] to get it
// from an error returned by [Dial]. It wraps the error of the underlying
// check, typically a [*knownhosts.KeyError] or [*knownhosts.RevokedError]
// from golang.org/x/crypto/ssh/knownhosts.
type HostKeyError struct {
	// Host is the "host:port" that was verified.
	Host string
	// KeyType and Fingerprint ("SHA256:...", as OpenSSH prints it) describe
	// the key the server presented.
	KeyType     string
	Fingerprint string
	// Want lists the fingerprints known for Host, each followed by where
	// it was found ("SHA256:... (file:line)"). Empty means the host is
	// unknown.
	Want []string
	// Revoked says the presented key is marked @revoked.
	Revoked bool
	Err     error
}

// Unknown reports whether the host was not known at all (as opposed to
// known with a different key).
func (e *HostKeyError) Unknown() bool { return len(e.Want) == 0 && !e.Revoked }

// Error describes the failure; see [HostKeyError] for its fields.
func (e *HostKeyError) Error() string {
	// No "executor: host:" prefix: Dial's [*TransportError] around it
	// says that.
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key %s %s is revoked", e.KeyType, e.Fingerprint)
	case e.Unknown():
		return fmt.Sprintf("unknown host: host key %s %s is not in known_hosts", e.KeyType, e.Fingerprint)
	}
	return fmt.Sprintf("HOST KEY CHANGED (possible man in the middle): server offered %s %s, known_hosts has %s",
		e.KeyType, e.Fingerprint, strings.Join(e.Want, ", "))
}

// Unwrap returns the underlying error.
func (e *HostKeyError) Unwrap() error { return e.Err }

// knownHostsPolicy verifies keys against known_hosts files and, with
// acceptNew set, records unknown hosts into acceptNew.
type knownHostsPolicy struct {
	files     []string
	acceptNew string // file to record new hosts in; "" refuses them

	mu sync.Mutex
	db *knownhosts.HostKeyDB
}

// KnownHosts returns a policy that verifies host keys against OpenSSH
// known_hosts files: plain and hashed host names, "[host]:port" entries,
// wildcards, @cert-authority lines (host certificates signed by a listed
// CA are accepted) and @revoked lines. No files means ~/.ssh/known_hosts
// and /etc/ssh/ssh_known_hosts, those of them that exist; files given
// explicitly must exist.
//
// The policy asks each server only for the host key algorithms that the
// files hold for it, so that a host recorded with its ECDSA key is not
// reported as changed because the server prefers ed25519
// (golang/go#36126). Hosts not in the files are dialled with the default
// algorithms and refused.
//
// A refused key makes [Dial] fail with a [*HostKeyError] that says
// whether the host was unknown or its key changed, with fingerprints.
// The files are read once, now.
func KnownHosts(files ...string) (HostKeyPolicy, error) {
	if len(files) == 0 {
		files = defaultKnownHosts()
	} else {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("executor: known_hosts: %w", err)
			}
		}
	}
	p := &knownHostsPolicy{files: files}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

// AcceptNewHostKeys returns a policy like [KnownHosts](file), except that
// a host not yet in file is accepted and its key appended to file (created
// with mode 0600 if missing, with its directory), like OpenSSH's
// StrictHostKeyChecking=accept-new. A host whose key changed is still
// refused with a [*HostKeyError]. Trust on first use is open to a man in
// the middle on that first connection; choose it knowingly.
//
// Concurrent dials through one policy are safe; the file is appended to
// under a lock held by the policy (not across processes).
func AcceptNewHostKeys(file string) (HostKeyPolicy, error) {
	if file == "" {
		return nil, errors.New("executor: AcceptNewHostKeys: empty file name")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("executor: known_hosts: %w", err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("executor: known_hosts: %w", err)
	}
	f.Close()
	p := &knownHostsPolicy{files: []string{file}, acceptNew: file}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

func defaultKnownHosts() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	files = append(files, "/etc/ssh/ssh_known_hosts")
	return existing(files)
}

func existing(files []string) []string {
	var out []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func (p *knownHostsPolicy) load() error {
	db, err := knownhosts.NewDB(p.files...)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("executor: known_hosts: %w", err)
		}
		return fmt.Errorf("executor: known_hosts %s: %w", strings.Join(p.files, ", "), err)
	}
	p.mu.Lock()
	p.db = db
	p.mu.Unlock()
	return nil
}

func (p *knownHostsPolicy) current() *knownhosts.HostKeyDB {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.db
}

func (p *knownHostsPolicy) HostKeyAlgorithms(addr string) []string {
	algos := p.current().HostKeyAlgorithms(addr)
	if len(algos) == 0 {
		return nil
	}
	return algos
}

func (p *knownHostsPolicy) HostKeyCallback() ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := p.current().HostKeyCallback()(host, remote, key)
		if err == nil {
			return nil
		}
		if p.acceptNew != "" && knownhosts.IsHostUnknown(err) {
			return p.record(host, remote, key)
		}
		return hostKeyError(host, key, err)
	}
}

// record appends host's key to the accept-new file and reloads it.
func (p *knownHostsPolicy) record(host string, remote net.Addr, key ssh.PublicKey) error {
	p.mu.Lock()
	// Another dial may have recorded it meanwhile.
	err := p.db.HostKeyCallback()(host, remote, key)
	if err == nil {
		p.mu.Unlock()
		return nil
	}
	if !knownhosts.IsHostUnknown(err) {
		p.mu.Unlock()
		return hostKeyError(host, key, err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(host)}, key) + "\n"
	f, err := os.OpenFile(p.acceptNew, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("executor: record host key of %s: %w", host, err)
	}
	return p.load()
}

func hostKeyError(host string, key ssh.PublicKey, err error) error {
	e := &HostKeyError{Host: host, KeyType: key.Type(), Fingerprint: fingerprint(key), Err: err}
	var ke *xknownhosts.KeyError
	var re *xknownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		e.Revoked = true
	case errors.As(err, &ke):
		for _, w := range ke.Want {
			e.Want = append(e.Want, fmt.Sprintf("%s %s (%s:%d)", w.Key.Type(), fingerprint(w.Key), w.Filename, w.Line))
		}
	default:
		// A certificate that failed checks, for example: not a
		// known_hosts verdict, pass it through.
		return err
	}
	return e
}

// fingerprint is the SHA256 fingerprint of key; for a certificate, that
// of the certified key.
func fingerprint(key ssh.PublicKey) string {
	if c, ok := key.(*ssh.Certificate); ok {
		return ssh.FingerprintSHA256(c.Key) + " (certificate)"
	}
	return ssh.FingerprintSHA256(key)
}

// changedKeyType returns the *HostKeyError for a handshake that failed
// with err because the server offers none of the host key algorithms
// that hk asked for (known_hosts holds an ed25519 key and the server
// now has only RSA, say): the key changed type, which is a changed key
// like any other. It reads the key the server offers with a second
// handshake on a new connection from redial, accepting any algorithm
// but refusing every key, and checks that key with hk, whose refusal it
// returns. It returns nil when err is not such a failure, or when the
// key cannot be read or hk accepts it.
func changedKeyType(ctx context.Context, err error, redial func() (net.Conn, error), addr string, hk HostKeyPolicy) *HostKeyError {
	var ane *ssh.AlgorithmNegotiationError
	if !errors.As(err, &ane) || ane.What != "host key" || len(hk.HostKeyAlgorithms(addr)) == 0 {
		return nil
	}
	conn, derr := redial()
	if derr != nil {
		return nil
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var (
		key    ssh.PublicKey
		remote net.Addr
	)
	errRead := errors.New("host key read, connection refused")
	cc := &ssh.ClientConfig{HostKeyCallback: func(_ string, r net.Addr, k ssh.PublicKey) error {
		key, remote = k, r
		return errRead
	}}
	ssh.NewClientConn(conn, addr, cc)
	if key == nil {
		return nil
	}
	var he *HostKeyError
	if kerr := hk.HostKeyCallback()(addr, remote, key); !errors.As(kerr, &he) {
		return nil
	}
	he.Err = fmt.Errorf("%w (the server offers no key of the types known for it: %v)", he.Err, err)
	return he
}
