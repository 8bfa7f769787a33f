// Command translate prints the Docker Compose file or the Kubernetes
// manifests for ferry's spec (an app or a stack) or for compose files.
//
//	translate -to compose|kubernetes [-namespace ns] [-out dir] [-strict] FILE...
//
// FILE is one spec of ferry's, or one or more compose files, merged in
// order as `docker compose -f a.yaml -f b.yaml` merges them; which one is
// told from the content. Compose files are loaded as Docker Compose loads
// them (.env, the environment, env_file, extends, include, profiles).
//
// The YAML goes to standard output. For Compose, standard output carries
// compose.yaml only: with ferry's spec, secrets live in side files
// (secrets.env, secrets/<name>) that are never printed, and compose files
// are printed normalized, as `docker compose config` prints them. With
// -out, every file is written into dir instead (secrets with mode 0600;
// for Kubernetes, manifest.yaml) and nothing is printed.
//
// What the translation cannot express is printed on standard error, one
// warning per line ("warning: file:line: service web: key: message").
// With -strict any warning is an error. Invalid input prints every
// problem on standard error, nothing on standard output, and exits with
// status 1. Bad usage exits with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/translate"
	"github.com/ferryhq/ferry/translate/compose"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type flags struct {
	to, namespace, ingressClass, network, project, proxy, out string
	createNS, strict                                          bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	fs.StringVar(&f.to, "to", "", "target: compose or kubernetes")
	fs.StringVar(&f.namespace, "namespace", "", "Kubernetes namespace for every object")
	fs.BoolVar(&f.createNS, "create-namespace", false, "also emit the Namespace object (needs -namespace)")
	fs.StringVar(&f.ingressClass, "ingress-class", "", "Kubernetes ingress class")
	fs.StringVar(&f.network, "network", "ferry", "Compose: the external Docker network")
	fs.StringVar(&f.project, "project", "", "Compose: project name (default: the app's or stack's name)")
	fs.StringVar(&f.proxy, "proxy", "traefik", "Compose: proxy labels for domains, traefik or caddy")
	fs.StringVar(&f.out, "out", "", "write the files into this directory instead of printing")
	fs.BoolVar(&f.strict, "strict", false, "fail on any warning")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: translate -to compose|kubernetes [flags] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || (f.to != "compose" && f.to != "kubernetes") {
		fs.Usage()
		return 2
	}
	stack, err := load(fs.Args(), f.strict)
	if err != nil {
		return fail(stderr, err)
	}
	for _, w := range stack.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	files, err := translateStack(stack, f)
	if err != nil {
		return fail(stderr, err)
	}
	if f.out == "" {
		stdout.Write(files[0].Data)
		if len(files) > 1 {
			fmt.Fprintf(stderr, "translate: %d side files not printed; use -out DIR to write them\n", len(files)-1)
		}
		return 0
	}
	if err := writeFiles(f.out, files); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// load reads ferry's spec or compose files, told apart by content.
func load(paths []string, strict bool) (*translate.Stack, error) {
	if len(paths) == 1 {
		data, err := os.ReadFile(paths[0])
		if err != nil {
			return nil, err
		}
		if !compose.IsComposeFile(data) {
			return translate.LoadStack(paths[0])
		}
	}
	return compose.Load(context.Background(), paths, compose.Options{Strict: strict})
}

// translateStack returns the files to print or write, the main one
// first.
func translateStack(s *translate.Stack, f flags) ([]translate.File, error) {
	if f.to == "kubernetes" {
		objs, err := translate.StackObjects(s,
			translate.WithNamespace(f.namespace),
			translate.WithCreateNamespace(f.createNS),
			translate.WithIngressClass(f.ingressClass))
		if err != nil {
			return nil, err
		}
		return []translate.File{{Path: "manifest.yaml", Data: translate.Manifest(objs), Mode: 0o600, Secret: translate.HasSecret(objs)}}, nil
	}
	if s.Compose != nil {
		return []translate.File{{Path: "compose.yaml", Data: s.Compose, Mode: 0o600}}, nil
	}
	return translate.StackToCompose(s,
		translate.WithNetwork(f.network),
		translate.WithProject(f.project),
		translate.WithProxy(f.proxy))
}

func writeFiles(dir string, files []translate.File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // WriteFile keeps an existing file's mode
			return err
		}
	}
	return nil
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
