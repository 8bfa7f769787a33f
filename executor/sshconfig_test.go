package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

func TestSSHDSSHConfig(t *testing.T) {
	bastion := sshdtest.Start(t, sshdtest.Options{})
	target := sshdtest.Start(t, sshdtest.Options{Host: "127.0.0.2"})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	both, _ := os.ReadFile(bastion.KnownHosts)
	tk, _ := os.ReadFile(target.KnownHosts)
	os.WriteFile(kh, append(both, tk...), 0o600)
	_, tport, _ := strings.Cut(target.Addr, ":")
	_, bport, _ := strings.Cut(bastion.Addr, ":")
	conf := filepath.Join(dir, "config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`
# A deploy target behind a bastion.
Host web
    HostName 127.0.0.2
    Port %s
    ProxyJump jump
    ConnectTimeout 7
    ServerAliveInterval 11
    ServerAliveCountMax 4

Host jump
    HostName 127.0.0.1
    Port %s

Host tofu
    HostName 127.0.0.2
    Port %s
    StrictHostKeyChecking accept-new
    UserKnownHostsFile %s/tofu_known_hosts

Host yolo
    HostName 127.0.0.2
    Port %s
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null

Host broken
    Port notaport

Host *
    User %s
    IdentityFile %s
    UserKnownHostsFile %s
    StrictHostKeyChecking yes
`, tport, bport, tport, dir, tport, target.User, target.KeyFile, kh)), 0o600)

	cfg, err := LoadSSHConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Resolve("web")
	if err != nil {
		t.Fatal(err)
	}
	if h.Addr != target.Addr || h.Config.User != target.User || h.Config.DialTimeout != 7*time.Second ||
		h.Config.KeepAlive != 11*time.Second || h.Config.KeepAliveMax != 4 ||
		len(h.Config.Jump) != 1 || h.Config.Jump[0].Addr != bastion.Addr ||
		len(h.IdentityFiles) != 1 || h.IdentityFiles[0] != target.KeyFile || len(h.KnownHostsFiles) != 1 {
		t.Fatalf("resolved %+v, config %+v", h, h.Config)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Config.DialTimeout)
	defer cancel()
	c, err := dialSSH(ctx, h.Addr, h.Config)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, c)
	c.Close()
	if !strings.Contains(bastion.Log(), "Accepted publickey") {
		t.Error("the bastion was not used")
	}

	// accept-new records the host into its UserKnownHostsFile.
	h, err = cfg.Resolve("tofu")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = dialT(t, h.Addr, h.Config); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "tofu_known_hosts")); !strings.Contains(string(b), "[127.0.0.2]:"+tport) {
		t.Errorf("not recorded: %q", b)
	}

	// StrictHostKeyChecking no: refused unless the program opts in.
	if _, err = cfg.Resolve("yolo"); err == nil || !strings.Contains(err.Error(), "InsecureIgnoreHostKeys") {
		t.Fatalf("StrictHostKeyChecking no without the opt-in: %v", err)
	}
	cfg.InsecureIgnoreHostKeys = true
	h, err = cfg.Resolve("yolo")
	cfg.InsecureIgnoreHostKeys = false
	if err != nil {
		t.Fatal(err)
	}
	if c, err = dialT(t, h.Addr, h.Config); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// A name with no Host block of its own: only "Host *" applies.
	h, err = cfg.Resolve("db.example")
	if err != nil || h.Addr != "db.example:22" {
		t.Errorf("db.example: %+v %v", h, err)
	}
	if _, err := cfg.Resolve("broken"); err == nil || !strings.Contains(err.Error(), "notaport") {
		t.Errorf("bad port: %v", err)
	}
	if _, err := LoadSSHConfig(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing explicit config file was accepted")
	}
	if _, err := cfg.Resolve(""); err == nil {
		t.Error("empty alias accepted")
	}
}
