// Command deploy deploys an app or a stack to a Docker host, a Swarm
// manager, or Kubernetes through a host with kubectl, over SSH,
// streaming every step; it also lists, rolls back and removes releases.
//
// Usage:
//
//	deploy -to docker|swarm|kubernetes [flags] user@host FILE...
//	deploy -to proxy [-image ref] [-acme-email addr] [-acme-ca URL] [-acme-ca-root FILE] [-http-port N] [-https-port N] [flags] user@host
//
// deploys the spec in FILE: ferry's spec (an app or a stack), or one or
// more compose files merged in order like `docker compose -f`, told apart
// by content. What the target cannot express is printed to stderr as a
// warning. Images the spec builds are built on the
// host. For a private registry, -registry-user NAME with
// -registry-password-stdin (the password on standard input, as `docker
// login --password-stdin` takes it), or FERRY_REGISTRY_USER and
// FERRY_REGISTRY_PASSWORD in the environment, log in to the registry
// named in the image references. -to proxy deploys ferry's reverse proxy
// (destination.Proxy, Caddy) instead, listening on the host's ports 80
// and 443 unless -http-port and -https-port say otherwise; -to docker
// apps with domains are then routed by it and updated without dropping
// requests. With one of these flags it does something
// else with the same app:
//
//	-dry-run          print the plan; connect to nothing, change nothing
//	-history          list the releases, one a line: number, time, outcome, image
//	-rollback N       deploy release N's kept files again ("previous": the one
//	                  before the live release)
//	-remove           take the app down, keeping its volumes
//	-remove-volumes   take the app down with its volumes
//
// Exit codes, kept stable for CI:
//
//	0    the app is live and verified (or the dry run, history, removal
//	     succeeded)
//	1    the deploy failed and the previous release is live again
//	2    the deploy failed and was not rolled back: there was nothing to
//	     roll back to (the new release was removed), or the rollback
//	     failed, or it failed before changing anything
//	3    bad input: flags, the spec file, a release that does not exist
//	4    another deploy holds the app's lock
//	255  the host could not be reached, or its host key is unknown or
//	     changed
//
// When GITHUB_ACTIONS=true, each phase is a collapsible group in the log
// and a failure is an ::error:: annotation; otherwise every line says
// when it happened, relative to the start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
	"github.com/ferryhq/ferry/translate/compose"
)

// The exit codes; see the package documentation.
const (
	exitOK          = 0
	exitRolledBack  = 1
	exitNotRolled   = 2
	exitBadInput    = 3
	exitLocked      = 4
	exitUnreachable = 255
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	to                  string
	key, knownHosts     string
	port                int
	kubeconfig, context string
	namespace           string
	createNamespace     bool
	timeout, lockWait   time.Duration
	dir, network        string
	keep                int
	dryRun, history     bool
	rollback            string
	remove, removeVols  bool
	user, host          string
	files               []string
	// registry credentials (registry.go)
	registryUser          string
	registryPasswordStdin bool
	stack                 *translate.Stack
	// the proxy (proxy.go)
	proxyImage, acmeEmail, proxyName string
	acmeCA, acmeCARoot               string
	httpPort, httpsPort              int
}

// usageError is bad input: exit code 3.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.to, "to", "", "where to deploy: `docker`, swarm or kubernetes")
	fs.StringVar(&c.key, "i", "", "private key `file` (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	fs.StringVar(&c.knownHosts, "known-hosts", "", "known_hosts `file` (default: ~/.ssh/known_hosts)")
	fs.IntVar(&c.port, "p", 22, "SSH `port`")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig `path` on the kubectl host")
	fs.StringVar(&c.context, "context", "", "kubeconfig context `name`")
	fs.StringVar(&c.namespace, "namespace", "", "Kubernetes namespace `ns` (default \"default\")")
	fs.BoolVar(&c.createNamespace, "create-namespace", false, "create the Kubernetes namespace with the app")
	fs.DurationVar(&c.timeout, "timeout", 0, "deadline for the rollout or health check (default 5m for kubernetes, 2m otherwise)")
	fs.DurationVar(&c.lockWait, "lock-wait", 0, "how long to wait for another deploy of the app to finish (default: fail at once)")
	fs.StringVar(&c.dir, "dir", "", "directory of the apps on the host (default ~/"+destination.DefaultDir+")")
	fs.StringVar(&c.network, "network", "", "Docker or Swarm `network` the app joins, created when missing (default \"ferry\")")
	fs.IntVar(&c.keep, "keep", 0, "how many releases to keep on the host for rollbacks (default 10)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&c.history, "history", false, "list the app's releases")
	fs.StringVar(&c.rollback, "rollback", "", "roll back to release `N`, or \"previous\"")
	fs.BoolVar(&c.remove, "remove", false, "take the app down, keeping its volumes")
	fs.BoolVar(&c.removeVols, "remove-volumes", false, "take the app down with its volumes")
	registryFlags(fs, c)
	proxyFlags(fs, c)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: deploy -to docker|swarm|kubernetes [flags] user@host FILE...\n       deploy -to proxy [flags] user@host\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() < 2 && (c.to != "proxy" || fs.NArg() != 1) {
		fs.Usage()
		return nil, &usageError{"want user@host and a spec file"}
	}
	modes := 0
	for _, on := range []bool{c.dryRun, c.history, c.rollback != "", c.remove || c.removeVols} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return nil, &usageError{"-dry-run, -history, -rollback and -remove exclude each other"}
	}
	var ok bool
	c.user, c.host, ok = strings.Cut(fs.Arg(0), "@")
	if !ok || c.user == "" || c.host == "" {
		return nil, &usageError{fmt.Sprintf("%q: want user@host", fs.Arg(0))}
	}
	c.files = fs.Args()[1:]
	return c, nil
}

// target returns the destination the flags name.
func (c *config) target() (destination.Target, error) {
	switch c.to {
	case "docker":
		return destination.Docker{Dir: c.dir, Network: c.network, Timeout: c.timeout, ProxyName: c.proxyName}, nil
	case "swarm":
		return destination.Swarm{Dir: c.dir, Network: c.network, Timeout: c.timeout}, nil
	case "kubernetes":
		return destination.Kubernetes{Dir: c.dir, Kubeconfig: c.kubeconfig, Context: c.context, Namespace: c.namespace,
			CreateNamespace: c.createNamespace, Timeout: c.timeout}, nil
	}
	return nil, &usageError{fmt.Sprintf("-to %q: want docker, swarm or kubernetes", c.to)}
}

// load reads the files into one stack: ferry's spec (one file), or
// compose files merged in order as `docker compose -f` merges them,
// told apart by content.
func (c *config) load() (*translate.Stack, error) {
	for i, f := range c.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !compose.IsComposeFile(data) {
			if len(c.files) > 1 {
				return nil, &usageError{fmt.Sprintf("%s is ferry's spec: several files must all be compose files (ferry's spec is one file)", c.files[i])}
			}
			s, err := translate.LoadStack(f)
			c.stack = s
			return s, err
		}
	}
	s, err := compose.Load(context.Background(), c.files, compose.Options{})
	c.stack = s
	return s, err
}

func run(args []string, stdout, stderr io.Writer) int {
	out := newLog(stdout, stderr, os.Getenv("GITHUB_ACTIONS") == "true")
	c, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return exitBadInput
	}
	plan, err := c.plan()
	if err != nil {
		out.fail(fmt.Sprintf("deploy: %v", err))
		return exitBadInput
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(stderr, "deploy: warning: %s\n", w)
	}
	if c.dryRun {
		fmt.Fprint(stdout, plan)
		return exitOK
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, addr, err := c.dial(ctx)
	if err != nil {
		out.fail(fmt.Sprintf("deploy: cannot reach %s: %v", addr, err))
		return exitUnreachable
	}
	defer client.Close()
	var ex executor.Executor = client

	if c.history {
		return printHistory(ctx, ex, plan, stdout, out)
	}
	opts := &destination.Options{Observer: out, LockWait: c.lockWait, Keep: c.keep, RemoveVolumes: c.removeVols}
	if opts.Registries, err = c.registries(); err != nil {
		out.fail(fmt.Sprintf("deploy: %v", err))
		return exitBadInput
	}
	var rep *destination.Report
	switch {
	case c.remove || c.removeVols:
		out.line(fmt.Sprintf("removing %s from %s on %s", plan.App, c.to, addr))
		rep, err = destination.Remove(ctx, ex, plan, opts)
	case c.rollback != "":
		n := 0
		if c.rollback != "previous" {
			if n, err = strconv.Atoi(c.rollback); err != nil || n < 1 {
				out.fail(fmt.Sprintf("deploy: -rollback %q: want a release number or \"previous\"", c.rollback))
				return exitBadInput
			}
		}
		out.line(fmt.Sprintf("rolling %s on %s back to release %s", plan.App, addr, c.rollback))
		rep, err = destination.Rollback(ctx, ex, plan, n, opts)
	default:
		out.line(fmt.Sprintf("deploying %s (%s, version %s) to %s on %s", plan.App, plan.Image, plan.Version, c.to, addr))
		rep, err = destination.Deploy(ctx, ex, plan, opts)
	}
	out.end()
	fmt.Fprint(stdout, rep)
	code := exitCode(rep, err)
	if err != nil {
		out.fail(fmt.Sprintf("deploy: FAILED (%s): %v", rep.Outcome, err))
		return code
	}
	switch rep.Action {
	case "remove":
		out.line(fmt.Sprintf("removed %s (release %d)", plan.App, rep.Release))
	default:
		out.line(fmt.Sprintf("%s %s: release %d is live", rep.Action, plan.App, rep.Release))
	}
	return code
}

// plan loads the spec and plans it for the target.
func (c *config) plan() (*destination.Plan, error) {
	if c.to == "proxy" {
		return c.proxyPlan()
	}
	target, err := c.target()
	if err != nil {
		return nil, err
	}
	stack, err := c.load()
	if err != nil {
		return nil, err
	}
	return target.PlanStack(stack)
}

// dial connects to the host.
func (c *config) dial(ctx context.Context) (*executor.Client, string, error) {
	addr := c.host + ":" + strconv.Itoa(c.port)
	var files []string
	if c.knownHosts != "" {
		files = append(files, c.knownHosts)
	}
	hk, err := executor.KnownHosts(files...)
	if err != nil {
		return nil, addr, err
	}
	auth, err := executor.DefaultAuth(c.key)
	if err != nil {
		return nil, addr, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := executor.Dial(dctx, addr, &executor.Config{User: c.user, Auth: auth, HostKeys: hk})
	return client, addr, err
}

// exitCode maps a result to the documented exit codes.
func exitCode(rep *destination.Report, err error) int {
	var (
		le *destination.LockedError
		te *executor.TransportError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &le):
		return exitLocked
	case errors.Is(err, destination.ErrNoPrevious), errors.Is(err, destination.ErrNoRelease):
		return exitBadInput
	case errors.As(err, &te):
		return exitUnreachable
	case rep != nil && rep.Outcome == destination.OutcomeRolledBack:
		return exitRolledBack
	}
	return exitNotRolled
}

// printHistory lists the app's releases: number, time, outcome, image,
// and for rollbacks and removals what they did.
func printHistory(ctx context.Context, ex executor.Executor, plan *destination.Plan, stdout io.Writer, out *ciLog) int {
	hist, err := destination.History(ctx, ex, plan.Dir)
	if err != nil {
		out.fail(fmt.Sprintf("deploy: history: %v", err))
		return exitCode(nil, err)
	}
	for _, r := range hist {
		note := ""
		switch r.Action {
		case "rollback":
			note = fmt.Sprintf("\trollback to release %d", r.From)
		case "remove":
			note = "\tremove"
		}
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s%s\n", r.Release, r.Time.UTC().Format(time.RFC3339), r.Outcome, r.Image, note)
	}
	return exitOK
}
