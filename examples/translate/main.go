// Command translate prints the Docker Compose file or the Kubernetes
// manifests for an app spec.
//
//	translate -to compose|kubernetes [-namespace ns] [-out dir] app.yaml
//
// The YAML goes to standard output. For Compose, standard output carries
// compose.yaml only: secrets live in side files (secrets.env,
// secrets/<name>) that are never printed. With -out, every file is
// written into dir instead (secrets with mode 0600) and nothing is
// printed; `docker compose up` can then run in dir.
//
// If the spec is invalid, every problem is printed on standard error, one
// per line, nothing on standard output, and the exit status is 1. Bad
// usage exits with status 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/translate"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "target: compose or kubernetes")
	namespace := fs.String("namespace", "", "Kubernetes namespace for every object")
	createNS := fs.Bool("create-namespace", false, "also emit the Namespace object (needs -namespace)")
	ingressClass := fs.String("ingress-class", "", "Kubernetes ingress class")
	network := fs.String("network", "ferry", "Compose: the external Docker network")
	project := fs.String("project", "", "Compose: project name (default: the app's name)")
	proxy := fs.String("proxy", "traefik", "Compose: proxy labels for domains, traefik or caddy")
	out := fs.String("out", "", "Compose: write compose.yaml and its secret side files into this directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: translate -to compose|kubernetes [flags] app.yaml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (*to != "compose" && *to != "kubernetes") {
		fs.Usage()
		return 2
	}
	app, err := translate.Load(fs.Arg(0))
	if err != nil {
		return fail(stderr, err)
	}
	if *to == "kubernetes" {
		manifests, err := translate.ToKubernetes(app,
			translate.WithNamespace(*namespace),
			translate.WithCreateNamespace(*createNS),
			translate.WithIngressClass(*ingressClass))
		if err != nil {
			return fail(stderr, err)
		}
		stdout.Write(manifests)
		return 0
	}
	files, err := translate.ToCompose(app,
		translate.WithNetwork(*network),
		translate.WithProject(*project),
		translate.WithProxy(*proxy))
	if err != nil {
		return fail(stderr, err)
	}
	if *out == "" {
		stdout.Write(files[0].Data)
		if len(files) > 1 {
			fmt.Fprintf(stderr, "translate: %d secret side files not printed; use -out DIR to write them\n", len(files)-1)
		}
		return 0
	}
	for _, f := range files {
		p := filepath.Join(*out, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fail(stderr, err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return fail(stderr, err)
		}
		if err := os.Chmod(p, f.Mode); err != nil { // WriteFile keeps an existing file's mode
			return fail(stderr, err)
		}
	}
	return 0
}

func fail(stderr io.Writer, err error) int {
	var ve *translate.ValidationError
	var se *translate.SyntaxError
	if !errors.As(err, &se) && errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	fmt.Fprintln(stderr, err)
	return 1
}
