// Command fanout runs one command on many hosts over SSH at once and
// reports each host's outcome.
//
// Usage:
//
//	fanout [-i key] [-known-hosts file] [-p port] [-limit n] [-timeout dur] -hosts file -- argv...
//
// The hosts file holds one "[user@]host[:port]" per line (blank lines and
// # comments are skipped). fanout prints one line per host, in the
// file's order:
//
//	web1:22	ok	0.21s	first line of output
//	web2:22	FAIL	0.30s	exit status 3: last line of stderr
//
// then a summary, and exits 0 only if every host succeeded (1 otherwise,
// 2 for bad usage).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("i", "", "private key file (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	knownHosts := fs.String("known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
	port := fs.Int("p", 22, "port of hosts given without one")
	limit := fs.Int("limit", 10, "hosts at once")
	timeout := fs.Duration("timeout", 0, "bound the whole run (0: none)")
	hostsFile := fs.String("hosts", "", "file listing the hosts, one [user@]host[:port] per line")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fanout [-i key] [-known-hosts file] [-p port] [-limit n] [-timeout dur] -hosts file -- argv...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if *hostsFile == "" || len(argv) == 0 {
		fs.Usage()
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "fanout: "+format+"\n", a...)
		return 2
	}
	f, err := os.Open(*hostsFile)
	if err != nil {
		return fail("%v", err)
	}
	hosts, err := executor.ReadHostList(f)
	f.Close()
	if err != nil {
		return fail("%v", err)
	}
	if len(hosts) == 0 {
		return fail("%s lists no hosts", *hostsFile)
	}
	auth, err := executor.DefaultAuth(*key)
	if err != nil {
		return fail("%v", err)
	}
	var khFiles []string // none: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
	if *knownHosts != "" {
		khFiles = append(khFiles, *knownHosts)
	}
	hk, err := executor.KnownHosts(khFiles...)
	if err != nil {
		return fail("%v", err)
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}

	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	fleet := &executor.Fleet{
		Config: &executor.Config{User: user, Auth: auth, HostKeys: hk},
		Port:   *port,
		Limit:  *limit,
	}
	start := time.Now()
	results, _ := fleet.Run(ctx, hosts, &executor.Pipeline{Name: "fanout", Steps: []executor.Step{{Args: argv}}})

	var ok, failed, skipped int
	for _, r := range results {
		name := r.Host
		if r.Addr != "" {
			name = r.Addr
			if r.User != user {
				name = r.User + "@" + r.Addr
			}
		}
		d := fmt.Sprintf("%.2fs", r.Duration.Seconds())
		switch {
		case r.Err == nil:
			ok++
			fmt.Fprintf(stdout, "%s\tok\t%s\t%s\n", name, d, firstLine(r.Result))
		case errors.Is(r.Err, executor.ErrSkipped):
			skipped++
			fmt.Fprintf(stdout, "%s\tSKIP\t-\t%v\n", name, r.Err)
		default:
			failed++
			fmt.Fprintf(stdout, "%s\tFAIL\t%s\t%s\n", name, d, oneLine(r.Err.Error()))
		}
	}
	fmt.Fprintf(stdout, "%d hosts: %d ok, %d failed, %d skipped in %.2fs\n", len(results), ok, failed, skipped, time.Since(start).Seconds())
	if ok != len(results) {
		return 1
	}
	return 0
}

func firstLine(res *executor.Result) string {
	if res == nil || len(res.Steps) == 0 {
		return ""
	}
	line, _, _ := bytes.Cut(res.Steps[0].Stdout, []byte("\n"))
	return oneLine(string(line))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
