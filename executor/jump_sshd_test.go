package executor

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// netnsChain builds root ⇄ A ⇄ B: two network namespaces joined by veth
// pairs, with no forwarding and no routes across, so that from the test
// process (in the root namespace) B's address is unreachable, from A both
// neighbours are. It returns A's address seen from root, and B's address
// seen from A.
func netnsChain(t *testing.T) (nsA, nsB, addrA, addrB string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if sshdtest.Required() {
			t.Fatal("network namespaces need root")
		}
		t.Skip("network namespaces need root; run .ci/run")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB = "ferryA"+id, "ferryB"+id
	// 10.213.X.0/30 subnets; X from the pid keeps parallel runs apart.
	x := os.Getpid() % 120
	addrA = fmt.Sprintf("10.213.%d.2", 2*x)
	addrB = fmt.Sprintf("10.213.%d.2", 2*x+1)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", nsA).Run()
	exec.Command("ip", "netns", "del", nsB).Run()
	exec.Command("ip", "link", "del", "fr"+id+"r").Run()
	run("netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run("netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	// root ⇄ A
	run("link", "add", "fr"+id+"r", "type", "veth", "peer", "name", "fr"+id+"a")
	run("link", "set", "fr"+id+"a", "netns", nsA)
	run("addr", "add", fmt.Sprintf("10.213.%d.1/30", 2*x), "dev", "fr"+id+"r")
	run("link", "set", "fr"+id+"r", "up")
	run("-n", nsA, "addr", "add", addrA+"/30", "dev", "fr"+id+"a")
	run("-n", nsA, "link", "set", "fr"+id+"a", "up")
	run("-n", nsA, "link", "set", "lo", "up")
	// A ⇄ B
	run("-n", nsA, "link", "add", "fr"+id+"b", "type", "veth", "peer", "name", "fr"+id+"c")
	run("-n", nsA, "link", "set", "fr"+id+"c", "netns", nsB)
	run("-n", nsA, "addr", "add", fmt.Sprintf("10.213.%d.1/30", 2*x+1), "dev", "fr"+id+"b")
	run("-n", nsA, "link", "set", "fr"+id+"b", "up")
	run("-n", nsB, "addr", "add", addrB+"/30", "dev", "fr"+id+"c")
	run("-n", nsB, "link", "set", "fr"+id+"c", "up")
	run("-n", nsB, "link", "set", "lo", "up")
	// Whatever the machine's default route leads to (a proxy may accept
	// any TCP connection), B's subnet is unreachable from root.
	bNet := fmt.Sprintf("10.213.%d.0/30", 2*x+1)
	exec.Command("ip", "route", "del", "unreachable", bNet).Run()
	run("route", "add", "unreachable", bNet)
	t.Cleanup(func() { exec.Command("ip", "route", "del", "unreachable", bNet).Run() })
	return nsA, nsB, addrA, addrB
}

// TestSSHDJumpChain dials a target that only the second jump host can
// reach: jump1 (127.0.0.1, root namespace) → jump2 (namespace A) →
// target (namespace B).
func TestSSHDJumpChain(t *testing.T) {
	nsA, nsB, addrA, addrB := netnsChain(t)
	jump1 := sshdtest.Start(t, sshdtest.Options{})
	jump2 := sshdtest.Start(t, sshdtest.Options{Host: addrA, Port: 2222, Netns: nsA})
	target := sshdtest.Start(t, sshdtest.Options{Host: addrB, Port: 2222, Netns: nsB})
	auth := []ssh.AuthMethod{ssh.PublicKeys(jump1.Signer)}

	// The target really is unreachable directly.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := dialSSH(ctx, target.Addr, &Config{User: target.User, Auth: auth, HostKeys: knownHostsT(t, target.KnownHosts)})
	cancel()
	var te *TransportError
	if err == nil || !errors.As(err, &te) || te.Op != "dial" {
		t.Fatalf("target reachable directly (%v): the test proves nothing", err)
	}
	t.Logf("direct dial fails as intended: %v", err)

	cfg := &Config{
		User:     target.User,
		Auth:     auth,
		HostKeys: knownHostsT(t, target.KnownHosts),
		Jump: []Hop{
			{Addr: jump1.Addr, HostKeys: knownHostsT(t, jump1.KnownHosts)},
			{Addr: jump2.Addr, HostKeys: knownHostsT(t, jump2.KnownHosts)},
		},
	}
	c, err := dialT(t, target.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The command runs in B: its only address is addrB.
	s, _ := c.NewSession()
	out, err := s.Output("ip -o -4 addr show")
	s.Close()
	if err != nil || !strings.Contains(string(out), addrB) || strings.Contains(string(out), addrA) {
		t.Errorf("not in namespace B: %q %v", out, err)
	}
	mustRun(t, c)
	c.Close()
	// Closing the target closed the hops: jump1 sees the connection end.
	time.Sleep(200 * time.Millisecond)

	t.Run("hop host key unknown", func(t *testing.T) {
		bad := *cfg
		bad.Jump = []Hop{cfg.Jump[0], {Addr: jump2.Addr, HostKeys: knownHostsT(t, jump1.KnownHosts)}}
		_, err := dialT(t, target.Addr, &bad)
		var he *HostKeyError
		if !errors.As(err, &he) || !he.Unknown() || he.Host != jump2.Addr || !strings.Contains(err.Error(), "jump host "+jump2.Addr) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("hop refuses auth", func(t *testing.T) {
		_, stranger, _ := ed25519GenerateKey()
		bad := *cfg
		bad.Jump = []Hop{{Addr: jump1.Addr, HostKeys: cfg.Jump[0].HostKeys, Auth: []ssh.AuthMethod{ssh.PublicKeys(stranger)}}, cfg.Jump[1]}
		_, err := dialT(t, target.Addr, &bad)
		if err == nil || !strings.Contains(err.Error(), "jump host "+jump1.Addr) || !strings.Contains(err.Error(), "authentication refused") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("hop cannot reach next", func(t *testing.T) {
		bad := *cfg
		bad.Jump = cfg.Jump[:1] // jump1 cannot reach B
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := dialSSH(ctx, target.Addr, &bad)
		if err == nil || !strings.Contains(err.Error(), "through jump host") {
			t.Fatalf("got %v", err)
		}
		t.Logf("%v (%v)", err, time.Since(start).Round(time.Millisecond))
	})
	t.Run("deadline through hops", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if _, err := dialSSH(ctx, target.Addr, cfg); err == nil {
			t.Fatal("no error")
		}
	})
}

func ed25519GenerateKey() (ssh.PublicKey, ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return s.PublicKey(), s, nil
}
