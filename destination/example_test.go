package destination_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// A plan is data: print it before anything runs.
func ExampleDocker_Plan() {
	app := &translate.App{Name: "web", Image: "nginx:1.27", Ports: []translate.Port{{Container: 80, Host: 8080}}}
	plan, err := destination.Docker{Dir: "/srv/apps", Network: "edge"}.Plan(app)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range plan.Files {
		fmt.Println("upload", f.Path, f.Mode)
	}
	for _, p := range []*executor.Pipeline{plan.Check, plan.Apply, plan.Verify, plan.Rollback} {
		var names []string
		for _, s := range p.Steps {
			names = append(names, s.Name)
		}
		fmt.Printf("%s: %s\n", p.Name, strings.Join(names, ", "))
	}
	// Output:
	// upload /srv/apps/web/compose.yaml -rw-r--r--
	// check: docker engine, compose, network edge
	// apply: compose up
	// verify: wait until healthy
	// rollback: restore previous files, compose up previous release, wait until healthy
}

func ExampleKubernetes_Plan() {
	app := &translate.App{Name: "web", Image: "nginx:1.27", Replicas: 2, Ports: []translate.Port{{Container: 80}}}
	plan, err := destination.Kubernetes{Namespace: "shop", Timeout: 2 * time.Minute}.Plan(app)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range plan.Verify.Steps {
		fmt.Println(strings.Join(s.Args, " "))
	}
	// Output:
	// kubectl rollout status deployment/web --namespace shop --timeout=120s
}

// Deploy an app to a Docker host over SSH, following its steps as they
// run.
func ExampleDeploy() {
	ctx := context.Background()
	app, err := translate.Load("app.yaml")
	if err != nil {
		log.Fatal(err)
	}
	plan, err := destination.Docker{}.Plan(app)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := executor.PrivateKeyFile(os.ExpandEnv("$HOME/.ssh/id_ed25519"), nil)
	if err != nil {
		log.Fatal(err)
	}
	hosts, err := executor.KnownHosts()
	if err != nil {
		log.Fatal(err)
	}
	client, err := executor.Dial(ctx, "app1.example.com:22", &executor.Config{User: "deploy", Auth: []ssh.AuthMethod{auth}, HostKeys: hosts})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	var ex executor.Executor = client
	report, err := destination.Deploy(ctx, ex, plan, &destination.Options{
		Observer: executor.ObserverFunc(func(e executor.Event) {
			if e.Kind == executor.Output {
				fmt.Print(e.Line)
			}
		}),
		LockWait: time.Minute,
	})
	fmt.Print(report)
	if err != nil {
		log.Fatal(err) // says where it failed, and whether it rolled back
	}
}

// Go back to the release before the live one.
func ExampleRollback() {
	ctx := context.Background()
	var ex executor.Executor // from executor.Dial
	app, err := translate.Load("app.yaml")
	if err != nil {
		log.Fatal(err)
	}
	plan, err := destination.Kubernetes{Namespace: "shop"}.Plan(app)
	if err != nil {
		log.Fatal(err)
	}
	report, err := destination.Rollback(ctx, ex, plan, 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("release %d is live, with the files of an earlier one\n", report.Release)
}
