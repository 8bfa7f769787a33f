package executor_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/executor/executortest"
	"golang.org/x/crypto/ssh"
)

// A Fleet runs one pipeline on many hosts, a few at a time, and reports
// each host's result. Here the hosts are two executortest servers on
// loopback that run commands on this machine.
func ExampleFleet() {
	a := executortest.NewUnstartedServer(nil)
	a.Start()
	defer a.Close()
	b := executortest.NewUnstartedServer(nil)
	b.ClientSigner = a.ClientSigner // one key logs in everywhere
	b.Start()
	defer b.Close()

	// One known_hosts file for the fleet.
	dir, err := os.MkdirTemp("", "fleet")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(a.KnownHostsLine()+"\n"+b.KnownHostsLine()+"\n"), 0o600)
	hostKeys, err := executor.KnownHosts(kh)
	if err != nil {
		log.Fatal(err)
	}

	f := &executor.Fleet{
		Config: &executor.Config{User: a.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(a.ClientSigner)}, HostKeys: hostKeys},
		Limit:  20, // hosts at once
		// Rolling: one host per batch, a pause between batches, and no
		// further batch once a host has failed.
		BatchSize: 1, BatchWait: 10 * time.Millisecond,
		MaxFailures: 1,
	}
	results, err := f.Run(context.Background(), []string{a.Addr, b.Addr}, &executor.Pipeline{Steps: []executor.Step{
		{Name: "greet", Args: []string{"echo", "ready"}, Save: "greeting"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range results {
		fmt.Printf("host %d: %s\n", i+1, r.Result.Saved["greeting"])
	}
	// Output:
	// host 1: ready
	// host 2: ready
}

// Start runs a command in the background; Wait collects its status.
func ExampleCmd_Start() {
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	c, err := executor.Dial(ctx, srv.Addr, srv.Config())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	cmd := c.Command("sh", "-c", "read name; echo hello $name; exit 3")
	cmd.Stdin = strings.NewReader("ferry\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// ... other work while the command runs ...
	err = cmd.Wait()
	var ee *executor.ExitError
	if errors.As(err, &ee) {
		fmt.Printf("%sexit status %d\n", out.String(), ee.ExitCode())
	}
	// Output:
	// hello ferry
	// exit status 3
}

// A host whose key is not the one expected is refused with a
// *HostKeyError, which tells an unknown host from a changed key (a
// possible man in the middle) and carries the fingerprints.
func ExampleHostKeyError() {
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()

	// The key we expect is not the server's.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	expected, err := ssh.NewPublicKey(pub)
	if err != nil {
		log.Fatal(err)
	}
	cfg := srv.Config()
	cfg.HostKeys = executor.FixedHostKey(expected)

	_, err = executor.Dial(context.Background(), srv.Addr, cfg)
	var hke *executor.HostKeyError
	if errors.As(err, &hke) {
		fmt.Println("unknown host:", hke.Unknown())
		fmt.Println("offered:", hke.KeyType, hke.Fingerprint == ssh.FingerprintSHA256(srv.HostKey))
		fmt.Println("expected:", hke.Want[0] == "ssh-ed25519 "+ssh.FingerprintSHA256(expected))
	}
	// Output:
	// unknown host: false
	// offered: ssh-ed25519 true
	// expected: true
}
