package executor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/executor/executortest"
	"golang.org/x/crypto/ssh"
)

func ExampleKnownHosts() {
	srv := executortest.NewUnstartedServer(nil) // a host on loopback
	srv.Start()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600)

	// Without arguments: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	// Hashed entries and @cert-authority lines are understood.
	hk, err := executor.KnownHosts(kh)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := srv.Config()
	cfg.HostKeys = hk
	c, err := executor.Dial(ctx, srv.Addr, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	out, err := c.Command("echo", "host key verified").Output(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))

	// A host the file does not know is refused with a *HostKeyError.
	other := executortest.NewUnstartedServer(nil)
	other.Start()
	defer other.Close()
	_, err = executor.Dial(ctx, other.Addr, cfg)
	var he *executor.HostKeyError
	if errors.As(err, &he) && he.Unknown() {
		fmt.Println("unknown host, fingerprint", he.Fingerprint == ssh.FingerprintSHA256(other.HostKey))
	}
	// Output:
	// host key verified
	// unknown host, fingerprint true
}

func ExampleAcceptNewHostKeys() {
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Trust on first use, recorded in a file of the caller's choosing;
	// a changed key is still refused.
	file := filepath.Join(dir, "known_hosts")
	hk, err := executor.AcceptNewHostKeys(file)
	if err != nil {
		log.Fatal(err)
	}
	cfg := srv.Config()
	cfg.HostKeys = hk
	c, err := executor.Dial(context.Background(), srv.Addr, cfg)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	b, _ := os.ReadFile(file)
	fmt.Println("recorded:", strings.Contains(string(b), srv.KnownHostsLine()))
	// Output: recorded: true
}

func ExampleConfig_jump() {
	bastion := executortest.NewUnstartedServer(nil)
	bastion.Start()
	defer bastion.Close()
	target := executortest.NewUnstartedServer(nil)
	target.ClientSigner = bastion.ClientSigner // one key for both
	target.Start()
	defer target.Close()

	cfg := target.Config()
	// Like ProxyJump: the target is reached through a channel of the
	// bastion's connection. Each hop's host key is verified; its User,
	// Auth and HostKeys default to the target's.
	cfg.Jump = []executor.Hop{{Addr: bastion.Addr, HostKeys: executor.FixedHostKey(bastion.HostKey)}}
	ctx := context.Background()
	c, err := executor.Dial(ctx, target.Addr, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	out, err := c.Command("echo", "through the bastion").Output(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	fmt.Println("connections to the bastion:", bastion.Conns())
	// Output:
	// through the bastion
	// connections to the bastion: 1
}

func ExampleSSHConfig_Resolve() {
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "id_ed25519"), srv.ClientKeyPEM(), 0o600)
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(srv.KnownHostsLine()+"\n"), 0o600)
	host, port, _ := net.SplitHostPort(srv.Addr)
	os.WriteFile(filepath.Join(dir, "config"), []byte(fmt.Sprintf(`Host web
    HostName %s
    Port %s
    User %s
    IdentityFile %s/id_ed25519
    IdentityAgent none
    UserKnownHostsFile %s/known_hosts
    ConnectTimeout 10
`, host, port, srv.User, dir, dir)), 0o600)

	// What "ssh web" would do: HostName, Port, User, IdentityFile,
	// ProxyJump, known hosts files, StrictHostKeyChecking and
	// ConnectTimeout (as Config.DialTimeout). "" means ~/.ssh/config.
	cfg, err := executor.LoadSSHConfig(filepath.Join(dir, "config"))
	if err != nil {
		log.Fatal(err)
	}
	h, err := cfg.Resolve("web")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := executor.Dial(ctx, h.Addr, h.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	out, err := c.Command("echo", "logged in as web's user").Output(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out), "dial timeout ", h.Config.DialTimeout, "\n")
	// Output:
	// logged in as web's user
	// dial timeout 10s
}

func ExampleClient_Upload() {
	srv := executortest.NewUnstartedServer(nil) // its SFTP serves this machine
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	c, err := executor.Dial(ctx, srv.Addr, srv.Config())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	local, err := os.MkdirTemp("", "manifests")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(local)
	os.WriteFile(filepath.Join(local, "app.yaml"), []byte("kind: Deployment\n"), 0o644)
	remote, err := os.MkdirTemp("", "srv")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(remote)

	var last executor.Event
	progress := executor.ObserverFunc(func(e executor.Event) { last = e })
	// A directory, recursively; each file replaced atomically. Where the
	// login user may not write, files go through sudo (FileOptions.Owner
	// and Sudo say how).
	err = c.Upload(ctx, local, filepath.Join(remote, "manifests"), &executor.FileOptions{Observer: progress})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d of %d bytes\n", filepath.Base(last.Step), last.Bytes, last.Total)
	// A secret: 0600 from its first byte, never on a command line.
	if err := c.WriteFile(ctx, filepath.Join(remote, ".env"), []byte("DB_PASSWORD=s3cret\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(remote, ".env"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(".env:", fi.Mode())
	// Output:
	// app.yaml: 17 of 17 bytes
	// .env: -rw-------
}
