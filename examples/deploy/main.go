// Command deploy deploys an app spec to a Docker host, or to Kubernetes
// through a host with kubectl, over SSH, streaming every step.
//
// Usage:
//
//	deploy -to docker|kubernetes [-i key] [-known-hosts file] [-p port]
//	       [-kubeconfig path] [-context name] [-namespace ns] [-timeout dur]
//	       user@host app.yaml
//
// It exits 0 when the app is live and verified, 1 when the deploy failed
// (saying whether it rolled back), and 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "where to deploy: `docker` or kubernetes")
	key := fs.String("i", "", "private key `file` (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	knownHosts := fs.String("known-hosts", "", "known_hosts `file` (default: ~/.ssh/known_hosts)")
	port := fs.Int("p", 22, "SSH `port`")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `path` on the kubectl host")
	kubeContext := fs.String("context", "", "kubeconfig context `name`")
	namespace := fs.String("namespace", "", "Kubernetes namespace `ns` (default \"default\")")
	timeout := fs.Duration("timeout", 0, "deadline for the rollout or health check (default 5m for kubernetes, 2m for docker)")
	dir := fs.String("dir", "", "directory of the apps on the host (default ~/"+destination.DefaultDir+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: deploy -to docker|kubernetes [flags] user@host app.yaml\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 || (*to != "docker" && *to != "kubernetes") {
		fs.Usage()
		return 2
	}
	user, host, ok := strings.Cut(fs.Arg(0), "@")
	if !ok || user == "" || host == "" {
		fmt.Fprintf(stderr, "deploy: %q: want user@host\n", fs.Arg(0))
		return 2
	}

	app, err := translate.Load(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return 2
	}
	var target destination.Target
	switch *to {
	case "docker":
		target = destination.Docker{Dir: *dir, Timeout: *timeout}
	case "kubernetes":
		target = destination.Kubernetes{Dir: *dir, Kubeconfig: *kubeconfig, Context: *kubeContext, Namespace: *namespace, Timeout: *timeout}
	}
	plan, err := target.Plan(app)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return 2
	}

	cfg, err := sshConfig(user, *key, *knownHosts)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := host + ":" + strconv.Itoa(*port)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := executor.Dial(dctx, addr, cfg)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "deploy: cannot reach %s: %v\n", addr, err)
		return 1
	}
	defer client.Close()
	var ex executor.Executor = client

	fmt.Fprintf(stdout, "deploying %s (%s, version %s) to %s on %s\n", app.Name, app.Image, plan.Version, *to, addr)
	rep, err := destination.Deploy(ctx, ex, plan, &destination.Options{Observer: &printer{w: stdout}})
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, rep)
	if err != nil {
		switch rep.Outcome {
		case destination.OutcomeRolledBack:
			fmt.Fprintf(stderr, "deploy: FAILED, rolled back to the previous release: %v\n", err)
		case destination.OutcomeRollbackFailed:
			fmt.Fprintf(stderr, "deploy: FAILED, and the rollback failed too: %v\n", err)
		default:
			fmt.Fprintf(stderr, "deploy: FAILED (%s): %v\n", rep.Outcome, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "deployed %s: release %d is live\n", app.Name, rep.Release)
	return 0
}

// sshConfig builds the client configuration from the flags.
func sshConfig(user, key, knownHosts string) (*executor.Config, error) {
	var files []string
	if knownHosts != "" {
		files = append(files, knownHosts)
	}
	hk, err := executor.KnownHosts(files...)
	if err != nil {
		return nil, err
	}
	auth, err := executor.DefaultAuth(key)
	if err != nil {
		return nil, err
	}
	return &executor.Config{User: user, Auth: auth, HostKeys: hk}, nil
}

// printer streams events as a CI log.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Event(e executor.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case executor.StepStart:
		fmt.Fprintf(p.w, "==> %s: %s\n", e.Pipeline, e.Step)
	case executor.Output:
		line := strings.TrimRight(e.Line, "\r\n")
		if line != "" {
			fmt.Fprintf(p.w, "    %s\n", line)
		}
	case executor.StepEnd:
		if r := e.Result; r != nil && r.Err != nil {
			fmt.Fprintf(p.w, "    failed after %s: %v\n", r.Duration.Round(time.Millisecond), r.Err)
		}
	}
}
