// Command quickstart shows ferry's whole flow with no setup at all:
//
//	go run ./examples/quickstart
//
// It starts an SSH server inside this process as the "remote host" (it
// runs commands on this machine), translates a sample app, plans its
// deploy, uploads the files over SSH and runs the pipelines. Where this
// machine has Docker with Compose, or kubectl and a reachable cluster,
// the app is deployed for real, checked, and removed again (-keep leaves
// it running); the sample's image is built here when missing (a static
// Go binary in a FROM-scratch image: nothing is pulled). Otherwise the
// plan is shown and the steps that need those tools are marked skipped,
// saying why.
//
// Flags: -v prints the full dry run; -keep leaves the app running;
// -to docker|kubernetes picks the target instead of the first found.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/executor/executortest"
	"github.com/ferryhq/ferry/translate"
)

//go:embed app.yaml
var sampleApp []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(out)
	verbose := fs.Bool("v", false, "print the full dry run of the plan")
	keep := fs.Bool("keep", false, "leave the deployed app running")
	to := fs.String("to", "", "`docker` or `kubernetes`; empty picks what this machine has, Docker first")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to != "" && *to != "docker" && *to != "kubernetes" {
		fmt.Fprintf(out, "quickstart: -to %q: want docker or kubernetes\n", *to)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// 1. A remote host: an SSH server in this process.
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	client, err := executor.Dial(ctx, srv.Addr, srv.Config())
	if err != nil {
		fmt.Fprintf(out, "quickstart: %v\n", err)
		return 1
	}
	defer client.Close()
	var ex executor.Executor = client
	fmt.Fprintf(out, "ferry quickstart\n")
	fmt.Fprintf(out, "  host    %s@%s (an SSH server in this process, running commands on this machine)\n", srv.User, srv.Addr)

	// 2. The app, translated and planned.
	app, err := translate.Parse(sampleApp)
	if err != nil {
		fmt.Fprintf(out, "quickstart: %v\n", err)
		return 1
	}
	port := freePort()
	app.Ports[0].Host = port
	work, err := os.MkdirTemp("", "ferry-quickstart-")
	if err != nil {
		fmt.Fprintf(out, "quickstart: %v\n", err)
		return 1
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(out, "  app     %s (%s)\n", app.Name, app.Image)

	found, why := probe(ctx, ex, app.Image, *to)
	var target destination.Target
	switch found {
	case "docker":
		target = destination.Docker{Dir: work, Network: "ferry-quickstart", Project: "ferry-quickstart", Timeout: time.Minute}
	case "kubernetes":
		target = destination.Kubernetes{Dir: work, Kubeconfig: kubeconfig(), Namespace: "ferry-quickstart", CreateNamespace: true, Timeout: 2 * time.Minute}
	default:
		target = destination.Docker{Dir: work, Network: "ferry-quickstart", Project: "ferry-quickstart"}
		if *to == "kubernetes" {
			target = destination.Kubernetes{Dir: work, Kubeconfig: kubeconfig(), Namespace: "ferry-quickstart", CreateNamespace: true}
		}
	}
	plan, err := target.Plan(app)
	if err != nil {
		fmt.Fprintf(out, "quickstart: %v\n", err)
		return 1
	}
	if found != "" {
		fmt.Fprintf(out, "  target  %s\n", found)
	} else {
		shown := "docker"
		if *to != "" {
			shown = *to
		}
		fmt.Fprintf(out, "  target  none (%s): showing the plan for %s\n", why, shown)
	}
	fmt.Fprintf(out, "\nplan (version %s)\n", plan.Version)
	if *verbose {
		for _, line := range strings.Split(strings.TrimRight(plan.String(), "\n"), "\n") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	} else {
		for _, f := range plan.Files {
			fmt.Fprintf(out, "  %-9s %s\n", "upload", f.Path)
		}
		for _, p := range []*executor.Pipeline{plan.Check, plan.Apply, plan.Verify, plan.Rollback} {
			fmt.Fprintf(out, "  %-9s %s\n", p.Name, stepNames(p))
		}
		fmt.Fprintf(out, "  (-v prints every command)\n")
	}

	// 3. Deploy, or upload and show what would run.
	fmt.Fprintf(out, "\ndeploy\n")
	if found == "" {
		if _, err := ex.Run(ctx, &executor.Pipeline{Name: "prepare", Steps: []executor.Step{
			{Name: "create app directory", Args: []string{"mkdir", "-p", plan.Dir}},
		}}); err != nil {
			fmt.Fprintf(out, "  ✗ prepare  %v\n", err)
			return 1
		}
		for _, f := range plan.Files {
			start := time.Now()
			if err := ex.WriteFile(ctx, f.Path, f.Data, f.Mode); err != nil {
				fmt.Fprintf(out, "  ✗ upload   %s: %v\n", f.Path, err)
				return 1
			}
			fmt.Fprintf(out, "  ✓ upload   %-32s %s\n", filepath.Base(f.Path), time.Since(start).Round(time.Millisecond))
		}
		for _, p := range []*executor.Pipeline{plan.Check, plan.Apply, plan.Verify} {
			for _, s := range p.Steps {
				fmt.Fprintf(out, "  - %-8s %-32s skipped: %s\n", p.Name, s.Name, why)
			}
		}
		fmt.Fprintf(out, "\nThe files were uploaded over SSH; install Docker with Compose, or point\nKUBECONFIG at a cluster, to deploy for real.\n")
		return 0
	}
	rep, err := destination.Deploy(ctx, ex, plan, &destination.Options{Observer: &progress{out: out}})
	if err != nil {
		fmt.Fprintf(out, "\nresult: %s: %v\n", rep.Outcome, err)
		return 1
	}
	fmt.Fprintf(out, "\nresult: %s in %s (release %d)\n", rep.Outcome, rep.Duration.Round(time.Millisecond), rep.Release)
	if found == "docker" {
		if body, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
			fmt.Fprintf(out, "  http://127.0.0.1:%d/ says %q\n", port, body)
		}
	}
	if *keep {
		fmt.Fprintf(out, "  left running; its files are in %s\n", plan.Dir)
		return 0
	}
	if err := remove(ctx, ex, plan, found); err != nil {
		fmt.Fprintf(out, "  cleanup: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "  removed again (-keep leaves it running)\n")
	return 0
}

// probe finds what the host can deploy to, or says why nothing.
func probe(ctx context.Context, ex executor.Executor, image, only string) (string, string) {
	res, _ := ex.Run(ctx, &executor.Pipeline{Name: "probe", Steps: []executor.Step{
		{Name: "docker", Script: `docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || { echo "no Docker engine"; exit 0; }
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || { echo "no Docker Compose"; exit 0; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "no image"; exit 0; }
echo ok
`, Env: []string{"IMAGE=" + image}, Save: "docker", Hidden: true},
		{Name: "kubernetes", Script: `command -v kubectl >/dev/null 2>&1 || { echo "no kubectl"; exit 0; }
kubectl ${KC:+--kubeconfig "$KC"} --request-timeout=5s auth can-i create deployments.apps -n ferry-quickstart >/dev/null 2>&1 || { echo "no reachable Kubernetes cluster"; exit 0; }
echo ok
`, Env: []string{"KC=" + kubeconfig()}, Save: "kubernetes", Hidden: true},
	}})
	if res == nil {
		return "", "the probe failed"
	}

	d, k := res.Saved["docker"], res.Saved["kubernetes"]
	if d == "no image" && only != "kubernetes" {
		// The engine and Compose are there: build the demo image, as
		// nothing is pulled.
		if err := buildDemoImage(ctx, image); err != nil {
			d = fmt.Sprintf("no image %s, and building it failed: %v", image, err)
		} else {
			d = "ok"
		}
	}
	switch {
	case only == "docker":
		if d == "ok" {
			return "docker", ""
		}
		return "", d
	case only == "kubernetes":
		if k == "ok" {
			return "kubernetes", ""
		}
		return "", k
	case d == "ok":
		return "docker", ""
	case k == "ok":
		return "kubernetes", ""
	}
	return "", d + "; " + k
}

// kubeconfig is the cluster to use: $FERRY_KUBECONFIG, else kubectl's
// default.
func kubeconfig() string { return os.Getenv("FERRY_KUBECONFIG") }

// remove takes the quickstart app down: destination.Remove, and on
// Kubernetes the namespace the quickstart created.
func remove(ctx context.Context, ex executor.Executor, plan *destination.Plan, found string) error {
	if _, err := destination.Remove(ctx, ex, plan, &destination.Options{RemoveVolumes: true}); err != nil {
		return err
	}
	if found != "kubernetes" {
		return nil
	}
	_, err := ex.Run(ctx, &executor.Pipeline{Name: "cleanup", Steps: []executor.Step{
		{Name: "remove namespace", Script: `kubectl ${KC:+--kubeconfig "$KC"} delete namespace ferry-quickstart --wait --timeout=90s >/dev/null` + "\n",
			Env: []string{"KC=" + kubeconfig()}},
	}})
	return err
}

func stepNames(p *executor.Pipeline) string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name
	}
	return strings.Join(names, " · ")
}

// progress prints one line per finished step.
type progress struct{ out io.Writer }

func (p *progress) Event(e executor.Event) {
	if e.Kind != executor.StepEnd || e.Result == nil {
		return
	}
	r := e.Result
	mark := "✓"
	switch {
	case r.Skipped:
		mark = "-"
	case r.Err != nil:
		mark = "✗"
	}
	name := r.Name
	if e.Pipeline == "upload" {
		name = filepath.Base(name)
	}
	fmt.Fprintf(p.out, "  %s %-8s %-32s %s\n", mark, e.Pipeline, name, r.Duration.Round(time.Millisecond))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18080
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}
