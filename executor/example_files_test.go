package executor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ferryhq/ferry/executor"
	"golang.org/x/crypto/ssh"
)

func ExampleKnownHosts() {
	// ~/.ssh/known_hosts, hashed entries and @cert-authority lines
	// included. An unknown or changed host key fails Dial with a
	// *HostKeyError carrying the fingerprint.
	hk, err := executor.KnownHosts()
	if err != nil {
		log.Fatal(err)
	}
	key, err := executor.PrivateKeyFile(os.ExpandEnv("$HOME/.ssh/id_ed25519"), nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := executor.Dial(ctx, "web1.example.com", &executor.Config{User: "deploy", Auth: []ssh.AuthMethod{key}, HostKeys: hk})
	if err != nil {
		var he *executor.HostKeyError
		if errors.As(err, &he) && he.Unknown() {
			log.Fatalf("first connection to %s: check fingerprint %s", he.Host, he.Fingerprint)
		}
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleAcceptNewHostKeys() {
	// Trust on first use, recorded in a file of the caller's choosing;
	// a changed key is still refused.
	hk, err := executor.AcceptNewHostKeys("/var/lib/deployer/known_hosts")
	if err != nil {
		log.Fatal(err)
	}
	agent, err := executor.Agent()
	if err != nil {
		log.Fatal(err)
	}
	c, err := executor.Dial(context.Background(), "10.0.0.5:2222", &executor.Config{User: "deploy", Auth: []ssh.AuthMethod{agent}, HostKeys: hk})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleConfig_jump() {
	hk, _ := executor.KnownHosts()
	agent, _ := executor.Agent()
	cfg := &executor.Config{
		User:     "deploy",
		Auth:     []ssh.AuthMethod{agent},
		HostKeys: hk,
		// Like ProxyJump bastion.example.com,10.1.0.1: each hop's host
		// key is verified; its User, Auth and HostKeys default to these.
		Jump: []executor.Hop{{Addr: "bastion.example.com", User: "jump"}, {Addr: "10.1.0.1"}},
	}
	c, err := executor.Dial(context.Background(), "10.2.0.7", cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleSSHConfig_Resolve() {
	// What "ssh web" would do: HostName, Port, User, IdentityFile,
	// ProxyJump, known hosts files, StrictHostKeyChecking and
	// ConnectTimeout (as Config.DialTimeout) from ~/.ssh/config.
	cfg, err := executor.LoadSSHConfig("")
	if err != nil {
		log.Fatal(err)
	}
	h, err := cfg.Resolve("web")
	if err != nil {
		log.Fatal(err)
	}
	c, err := executor.Dial(context.Background(), h.Addr, h.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleClient_Upload() {
	var c *executor.Client // from executor.Dial
	ctx := context.Background()
	progress := executor.ObserverFunc(func(e executor.Event) {
		fmt.Printf("\r%s: %d/%d bytes", e.Step, e.Bytes, e.Total)
	})
	// A directory, recursively; each file replaced atomically. /etc is
	// not writable by the login user: the files go through sudo and end
	// up owned by root.
	err := c.Upload(ctx, "deploy/manifests", "/etc/myapp/manifests", &executor.FileOptions{Owner: "root:root", Observer: progress})
	if err != nil {
		log.Fatal(err)
	}
	// A secret, 0600, never on a command line.
	if err := c.WriteFile(ctx, "/srv/myapp/.env", []byte("DB_PASSWORD=s3cret\n"), 0o600); err != nil {
		log.Fatal(err)
	}
}

func ExampleFleet_Run() {
	hk, _ := executor.KnownHosts()
	agent, _ := executor.Agent()
	f := &executor.Fleet{
		Config:    &executor.Config{User: "deploy", Auth: []ssh.AuthMethod{agent}, HostKeys: hk},
		Limit:     20,
		BatchSize: 5, BatchWait: 30 * time.Second, // rolling
		MaxFailures: 2,
	}
	hosts := []string{"web1", "web2", "root@web3:2222"}
	results, err := f.Run(context.Background(), hosts, &executor.Pipeline{Steps: []executor.Step{
		{Args: []string{"docker", "compose", "-f", "/srv/app/compose.yaml", "up", "-d"}},
	}})
	for _, r := range results {
		fmt.Println(r.Addr, r.Err)
	}
	if err != nil {
		os.Exit(1)
	}
}
