package executor

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
)

// SSHConfig is a parsed OpenSSH client configuration file (ssh_config(5)),
// used to turn a host alias into an address and a [Config] the way the
// ssh command would. Parsing is done by github.com/kevinburke/ssh_config;
// Include directives are followed. The first value found for a keyword
// wins, as in OpenSSH.
//
// The keywords honoured are Host, HostName, Port, User, IdentityFile,
// IdentityAgent (only "none" and SSH_AUTH_SOCK), ProxyJump,
// UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking,
// ConnectTimeout, ServerAliveInterval and ServerAliveCountMax. Others are
// ignored. Match blocks are not supported by the parser.
type SSHConfig struct {
	// Passphrase, when not nil, is asked for the passphrase of an
	// encrypted IdentityFile. Nil means encrypted identity files are
	// skipped (the agent may hold them); when that leaves no way to
	// authenticate, [SSHConfig.Resolve] fails.
	Passphrase func(path string) ([]byte, error)

	// InsecureIgnoreHostKeys lets StrictHostKeyChecking no (or off) turn
	// host key verification off for the hosts where the file says so.
	// False, the default, makes [SSHConfig.Resolve] refuse such a host
	// with an error: accepting any host key is a choice the program must
	// name, not one a configuration file can make for it.
	InsecureIgnoreHostKeys bool

	path string
	cfg  *ssh_config.Config
}

// LoadSSHConfig reads the OpenSSH client configuration at path. An empty
// path means ~/.ssh/config, where a missing file counts as empty; a path
// given explicitly must exist.
func LoadSSHConfig(path string) (*SSHConfig, error) {
	explicit := path != ""
	if !explicit {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("executor: ssh config: %w", err)
		}
		path = filepath.Join(home, ".ssh", "config")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			data = nil
		} else {
			return nil, fmt.Errorf("executor: ssh config: %w", err)
		}
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("executor: ssh config %s: %w", path, err)
	}
	return &SSHConfig{path: path, cfg: cfg}, nil
}

// SSHHost is what an [SSHConfig] says about one host alias.
type SSHHost struct {
	// Alias is the name that was resolved.
	Alias string
	// Addr is "HostName:Port", ready for [Dial].
	Addr string
	// Config holds User, Auth, HostKeys, Jump, DialTimeout (from
	// ConnectTimeout; zero when unset), KeepAlive and KeepAliveMax as the
	// configuration gives them; other fields are zero, for the caller to
	// set before dialling.
	Config *Config
	// IdentityFiles lists the private key files loaded into Config.Auth.
	IdentityFiles []string
	// KnownHostsFiles lists the known_hosts files that verify host keys
	// (those that exist), empty when StrictHostKeyChecking is no.
	KnownHostsFiles []string
}

// Resolve returns what the configuration says about alias, which may be
// a name given in a Host line, or any host name (then only "Host *" style
// patterns apply).
//
// Auth holds the IdentityFile keys (by default ~/.ssh/id_ed25519,
// id_ecdsa and id_rsa, those that exist) followed by the ssh-agent at
// SSH_AUTH_SOCK when set. Host keys are verified against
// UserKnownHostsFile and GlobalKnownHostsFile (see [KnownHosts]);
// StrictHostKeyChecking accept-new records new hosts into the first
// UserKnownHostsFile (see [AcceptNewHostKeys]). StrictHostKeyChecking no
// (or off) makes Resolve fail, unless [SSHConfig.InsecureIgnoreHostKeys]
// is set: then verification is off ([InsecureIgnoreHostKey]).
// ProxyJump hosts ("a,b", each "[user@]host[:port]") are resolved
// through the same configuration, each with its own user, keys and
// host key files; a hop's own ProxyJump is not followed.
func (c *SSHConfig) Resolve(alias string) (*SSHHost, error) {
	return c.resolve(alias, true)
}

func (c *SSHConfig) get(alias, key string) string {
	v, err := c.cfg.Get(alias, key)
	if err != nil || v == "" {
		return ssh_config.Default(key)
	}
	return v
}

func (c *SSHConfig) getAll(alias, key string) []string {
	v, _ := c.cfg.GetAll(alias, key)
	return v
}

// resolve is Resolve; jumps says whether to follow ProxyJump (not for
// a hop).
func (c *SSHConfig) resolve(alias string, jumps bool) (*SSHHost, error) {
	if alias == "" {
		return nil, errors.New("executor: ssh config: empty host alias")
	}
	r := &sshResolve{c: c, alias: alias}
	r.home, _ = os.UserHomeDir()
	if u, err := user.Current(); err == nil {
		r.localUser = u.Username
	}
	h, err := r.address()
	if err != nil {
		return nil, err
	}
	if err := r.identities(h); err != nil {
		return nil, err
	}
	if err := r.hostKeys(h); err != nil {
		return nil, err
	}
	if err := r.timeouts(h); err != nil {
		return nil, err
	}
	if pj := c.get(alias, "ProxyJump"); jumps && pj != "" && pj != "none" {
		if err := r.jumps(h, pj); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// sshResolve is one call of [SSHConfig.Resolve].
type sshResolve struct {
	c         *SSHConfig
	alias     string
	home      string
	localUser string
	tokens    map[byte]string // the % tokens of ssh_config(5)
}

// fail returns an error about the alias being resolved.
func (r *sshResolve) fail(format string, args ...any) error {
	return fmt.Errorf("executor: ssh config %s: host %s: %s", r.c.path, r.alias, fmt.Sprintf(format, args...))
}

// address returns the host with its Alias, Addr and Config.User, from
// HostName, Port and User.
func (r *sshResolve) address() (*SSHHost, error) {
	c, alias := r.c, r.alias
	hostName := c.get(alias, "HostName")
	if hostName == "" {
		hostName = alias
	}
	hostName = expandTokens(hostName, map[byte]string{'h': alias, 'd': r.home, 'u': r.localUser})
	port := c.get(alias, "Port")
	if port == "" {
		port = "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, r.fail("bad Port %q", port)
	}
	addr, err := normalizeAddr(net.JoinHostPort(hostName, port))
	if err != nil {
		return nil, r.fail("%v", err)
	}
	remoteUser := c.get(alias, "User")
	if remoteUser == "" {
		remoteUser = r.localUser
	}
	r.tokens = map[byte]string{'h': hostName, 'p': port, 'r': remoteUser, 'u': r.localUser, 'd': r.home, 'n': alias}
	return &SSHHost{Alias: alias, Addr: addr, Config: &Config{User: remoteUser}}, nil
}

// identities sets h's Auth and IdentityFiles from IdentityFile and
// IdentityAgent.
func (r *sshResolve) identities(h *SSHHost) error {
	c, alias := r.c, r.alias
	files := c.getAll(alias, "IdentityFile")
	explicitKeys := len(files) > 0
	if !explicitKeys {
		for _, f := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(r.home, ".ssh", f))
		}
	}
	var skipped []string
	for _, f := range files {
		f = expandPath(f, r.tokens, r.home)
		if _, err := os.Stat(f); err != nil {
			if explicitKeys && !errors.Is(err, os.ErrNotExist) {
				return r.fail("IdentityFile: %v", err)
			}
			continue // OpenSSH too ignores missing identity files
		}
		signer, err := privateKeyFileSigner(f, nil)
		if errors.Is(err, ErrPassphraseMissing) && c.Passphrase != nil {
			var pass []byte
			if pass, err = c.Passphrase(f); err == nil {
				signer, err = privateKeyFileSigner(f, pass)
			}
		}
		if errors.Is(err, ErrPassphraseMissing) {
			skipped = append(skipped, f)
			continue
		}
		if err != nil {
			return r.fail("IdentityFile: %v", err)
		}
		h.Config.Auth = append(h.Config.Auth, ssh.PublicKeys(signer))
		h.IdentityFiles = append(h.IdentityFiles, f)
	}
	if agentSock := c.get(alias, "IdentityAgent"); agentSock != "none" && os.Getenv("SSH_AUTH_SOCK") != "" {
		if m, err := Agent(); err == nil {
			h.Config.Auth = append(h.Config.Auth, m)
		}
	}
	if len(h.Config.Auth) == 0 && len(skipped) > 0 {
		return r.fail("identity files %s are encrypted and neither SSHConfig.Passphrase nor an ssh-agent is available", strings.Join(skipped, ", "))
	}
	return nil
}

// hostKeys sets h's HostKeys and KnownHostsFiles from UserKnownHostsFile,
// GlobalKnownHostsFile and StrictHostKeyChecking.
func (r *sshResolve) hostKeys(h *SSHHost) error {
	c, alias := r.c, r.alias
	var khFiles []string
	userFiles := strings.Fields(c.get(alias, "UserKnownHostsFile"))
	if len(userFiles) == 0 {
		userFiles = []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}
	}
	globalFiles := strings.Fields(c.get(alias, "GlobalKnownHostsFile"))
	if len(globalFiles) == 0 {
		globalFiles = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}
	for _, f := range append(append([]string{}, userFiles...), globalFiles...) {
		if f != "none" {
			khFiles = append(khFiles, expandPath(f, r.tokens, r.home))
		}
	}
	p := &knownHostsPolicy{files: existing(khFiles)}
	switch strict := strings.ToLower(c.get(alias, "StrictHostKeyChecking")); strict {
	case "no", "off":
		if !c.InsecureIgnoreHostKeys {
			return r.fail("StrictHostKeyChecking %s would accept any host key; set SSHConfig.InsecureIgnoreHostKeys to allow that", strict)
		}
		h.Config.HostKeys = InsecureIgnoreHostKey()
		return nil
	case "accept-new":
		if userFiles[0] == "none" {
			return r.fail("StrictHostKeyChecking accept-new needs a UserKnownHostsFile")
		}
		rec := expandPath(userFiles[0], r.tokens, r.home)
		if _, err := AcceptNewHostKeys(rec); err != nil { // creates the file
			return r.fail("%v", err)
		}
		p = &knownHostsPolicy{files: existing(khFiles), acceptNew: rec}
	case "", "yes", "ask", "true":
	default:
		return r.fail("bad StrictHostKeyChecking %q", strict)
	}
	if err := p.load(); err != nil {
		return r.fail("%v", err)
	}
	h.Config.HostKeys = p
	h.KnownHostsFiles = p.files
	return nil
}

// timeouts sets h's DialTimeout, KeepAlive and KeepAliveMax from
// ConnectTimeout, ServerAliveInterval and ServerAliveCountMax.
func (r *sshResolve) timeouts(h *SSHHost) error {
	c, alias := r.c, r.alias
	if v := c.get(alias, "ConnectTimeout"); v != "" && v != "none" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r.fail("bad ConnectTimeout %q", v)
		}
		h.Config.DialTimeout = time.Duration(n) * time.Second
	}
	if v, _ := c.cfg.Get(alias, "ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r.fail("bad ServerAliveInterval %q", v)
		}
		h.Config.KeepAlive = time.Duration(n) * time.Second
		if n == 0 {
			h.Config.KeepAlive = -1
		}
	}
	if v, _ := c.cfg.Get(alias, "ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return r.fail("bad ServerAliveCountMax %q", v)
		}
		h.Config.KeepAliveMax = n
	}
	return nil
}

// jumps sets h's Jump from the ProxyJump value pj ("a,b", each
// "[user@]host[:port]"), each hop resolved through the same
// configuration (its own ProxyJump not followed).
func (r *sshResolve) jumps(h *SSHHost, pj string) error {
	for _, spec := range strings.Split(pj, ",") {
		spec = strings.TrimPrefix(strings.TrimSpace(spec), "ssh://")
		hopUser, hostPort := "", spec
		if i := strings.LastIndex(spec, "@"); i >= 0 {
			hopUser, hostPort = spec[:i], spec[i+1:]
		}
		hopAlias, hopPort := hostPort, ""
		if hh, pp, err := net.SplitHostPort(hostPort); err == nil {
			hopAlias, hopPort = hh, pp
		}
		hop, err := r.c.resolve(hopAlias, false)
		if err != nil {
			return r.fail("ProxyJump %q: %v", spec, err)
		}
		hopAddr := hop.Addr
		if hopPort != "" {
			hostOnly, _, _ := net.SplitHostPort(hop.Addr)
			hopAddr = net.JoinHostPort(hostOnly, hopPort)
		}
		if hopUser == "" {
			hopUser = hop.Config.User
		}
		h.Config.Jump = append(h.Config.Jump, Hop{Addr: hopAddr, User: hopUser, Auth: hop.Config.Auth, HostKeys: hop.Config.HostKeys})
	}
	return nil
}

// expandPath expands a leading ~ and the % tokens of ssh_config(5).
func expandPath(p string, tokens map[byte]string, home string) string {
	p = expandTokens(p, tokens)
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			if s[i+1] == '%' {
				b.WriteByte('%')
				i++
				continue
			}
			if v, ok := tokens[s[i+1]]; ok {
				b.WriteString(v)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
