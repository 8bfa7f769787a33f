package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

//go:embed demo/main.go
var demoSource []byte

// demoDockerfile makes the demo image: the static binary alone, so that
// nothing is pulled.
const demoDockerfile = `FROM scratch
COPY demo /demo
EXPOSE 8080
ENTRYPOINT ["/demo"]
`

// buildDemoImage builds image from the demo's source: a static Go binary
// (CGO_ENABLED=0) in a FROM-scratch image, with this machine's Go
// toolchain and Docker engine, pulling nothing.
func buildDemoImage(ctx context.Context, image string) error {
	dir, err := os.MkdirTemp("", "ferry-quickstart-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	for name, data := range map[string]string{
		filepath.Join(src, "main.go"):    string(demoSource),
		filepath.Join(src, "go.mod"):     "module demo\n\ngo 1.21\n",
		filepath.Join(dir, "Dockerfile"): demoDockerfile,
	} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			return err
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "demo"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the demo: %v: %s", err, strings.TrimSpace(string(out)))
	}
	docker := exec.CommandContext(ctx, "docker", "build", "-q", "-t", image, dir)
	if out, err := docker.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
