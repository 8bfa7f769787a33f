package executor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"golang.org/x/crypto/ssh"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, err := executor.PrivateKeyFile(os.ExpandEnv("$HOME/.ssh/id_ed25519"), nil)
	if err != nil {
		log.Fatal(err)
	}
	hosts, err := executor.KnownHosts() // ~/.ssh/known_hosts
	if err != nil {
		log.Fatal(err)
	}
	c, err := executor.Dial(ctx, "deploy.example.com:22", &executor.Config{
		User:     "deploy",
		Auth:     []ssh.AuthMethod{key},
		HostKeys: hosts,
	})
	if err != nil {
		log.Fatal(err) // a *executor.TransportError
	}
	defer c.Close()
	out, err := c.Command("uname", "-a").Output(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
}

func ExampleCmd_Output() {
	var c *executor.Client // from executor.Dial
	out, err := c.Command("docker", "ps", "--format", "{{.Names}}").Output(context.Background())
	var ee *executor.ExitError
	if errors.As(err, &ee) {
		log.Fatalf("docker ps failed with status %d: %s", ee.Code, ee.Stderr)
	}
	fmt.Print(string(out))
}

func ExampleClient_Run() {
	var c *executor.Client // from executor.Dial
	res, err := c.Run(context.Background(), &executor.Pipeline{
		Name:    "deploy",
		Dir:     "/srv/app",
		Secrets: []string{os.Getenv("REGISTRY_TOKEN")},
		Observer: executor.ObserverFunc(func(e executor.Event) {
			if e.Kind == executor.Output {
				fmt.Printf("[%s] %s", e.Step, e.Line)
			}
		}),
		Steps: []executor.Step{
			{Name: "login", Script: `printf '%s' "$TOKEN" | docker login -u ci --password-stdin registry.example.com`,
				Env: []string{"TOKEN=" + os.Getenv("REGISTRY_TOKEN")}, Hidden: true},
			{Name: "pull", Args: []string{"docker", "compose", "pull"}, Timeout: 5 * time.Minute},
			{Name: "up", Args: []string{"docker", "compose", "up", "-d", "--wait"}},
			{Name: "prune", Args: []string{"docker", "image", "prune", "-f"}, IgnoreErrors: true},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range res.Steps {
		fmt.Println(st.Name, st.ExitCode, st.Duration)
	}
}

// A Local executor runs the same pipelines on this machine.
func ExampleLocal_Run() {
	var l executor.Local
	res, err := l.Run(context.Background(), &executor.Pipeline{
		Secrets: []string{"hunter2"},
		Steps: []executor.Step{
			{Name: "version", Args: []string{"echo", "v1.4.2"}, Save: "version"},
			{Name: "optional", Script: "exit 3", IgnoreErrors: true},
			{Name: "login", Args: []string{"echo", "password=hunter2"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range res.Steps {
		fmt.Printf("%s: exit %d %q\n", st.Name, st.ExitCode, strings.TrimSpace(string(st.Stdout)))
	}
	fmt.Println("saved:", res.Saved["version"])
	// Output:
	// version: exit 0 "v1.4.2"
	// optional: exit 3 ""
	// login: exit 0 "password=***"
	// saved: v1.4.2
}
