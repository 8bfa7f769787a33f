package destination

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// benchHost is a real sshd on loopback, dialed by ferry, and reachable
// by the docker CLI as DOCKER_HOST=ssh://... through an ssh config of
// its own.
type benchHost struct {
	ex     executor.Executor
	s      *sshdtest.Server
	sshEnv []string // environment for `docker` over ssh://
}

func newBenchHost(b *testing.B) *benchHost {
	b.Helper()
	testenv.WebappImage(b)
	s := sshdtest.Start(b, sshdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := executor.Dial(ctx, s.Addr, &executor.Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0])})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	home := b.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	cfg := fmt.Sprintf("Host %s\n  Port %d\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n", s.Host, s.Port, s.User, s.KeyFile, s.KnownHosts)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	// The docker CLI runs "ssh" from PATH; ssh reads the passwd home's
	// config, not $HOME's, so a wrapper names the test's config.
	bin := filepath.Join(home, "bin")
	os.MkdirAll(bin, 0o755)
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F " + filepath.Join(home, ".ssh", "config") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_CONFIG="+filepath.Join(home, ".docker"), "DOCKER_HOST=ssh://"+s.Host)
	return &benchHost{ex: c, s: s, sshEnv: env}
}

// benchContext writes a context of size bytes of random data in 8 MiB
// files, plus a Dockerfile that copies one small file (so the build
// itself is trivial and the upload dominates).
func benchContext(b *testing.B, size int64) string {
	b.Helper()
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testenv.WebappV1+"\nCOPY salt /salt\n"), 0o644)
	buf := make([]byte, 8<<20)
	for i := 0; int64(i)*int64(len(buf)) < size; i++ {
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("data%03d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func salt(b *testing.B, dir string) {
	if err := os.WriteFile(filepath.Join(dir, "salt"), []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644); err != nil {
		b.Fatal(err)
	}
}

// ferryBuild runs the build phase of a Docker deploy of an app built
// from dir: hash, upload as a tar stream over the SSH connection, docker
// build on the host.
func ferryBuild(b *testing.B, h *benchHost, dir, name string) {
	b.Helper()
	app := &translate.App{Name: name, Build: &translate.Build{Context: dir}}
	plan, err := Docker{Dir: b.TempDir()}.Plan(app)
	if err != nil {
		b.Fatal(err)
	}
	d := newDeployment(h.ex, plan, nil, "deploy")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := h.ex.Command("mkdir", "-p", plan.Dir).CombinedOutput(ctx); err != nil {
		b.Fatalf("mkdir: %v: %s", err, out)
	}
	if step, err := d.build(ctx); err != nil {
		b.Fatalf("%s: %v", step, err)
	}
	exec.Command("docker", "image", "rm", "-f", strings.TrimSpace(d.plan.Image)).Run()
}

// BenchmarkBuildContextUpload compares ferry's build (context streamed
// over its SSH connection) with `docker build` over DOCKER_HOST=ssh:// of
// the same 256 MiB context against the same sshd, in the same run. Each
// iteration changes one small file so that both really build.
//
//	go test ./destination -run '^$' -bench BuildContextUpload -benchtime 3x
func BenchmarkBuildContextUpload(b *testing.B) {
	h := newBenchHost(b)
	const size = 256 << 20
	dir := benchContext(b, size)
	name := fmt.Sprintf("ferrybench%d", time.Now().UnixNano()%1e6)
	b.Run("ferry", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			salt(b, dir)
			ferryBuild(b, h, dir, name)
		}
	})
	b.Run("docker-ssh", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			salt(b, dir)
			cmd := exec.Command("docker", "build", "-q", "-t", name+":dockerssh", dir)
			cmd.Env = h.sshEnv
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("docker build over ssh: %v\n%s", err, out)
			}
		}
		exec.Command("docker", "image", "rm", "-f", name+":dockerssh").Run()
	})
}

// BenchmarkBuildContext1GiB uploads a 1 GiB context with ferry and
// reports the peak of the process's Go heap while it does (heap-peak-MiB),
// sampled every 10 ms, against the context's size.
//
//	go test ./destination -run '^$' -bench BuildContext1GiB -benchtime 1x
func BenchmarkBuildContext1GiB(b *testing.B) {
	h := newBenchHost(b)
	const size = 1 << 30
	dir := benchContext(b, size)
	name := fmt.Sprintf("ferrybench%d", time.Now().UnixNano()%1e6)
	b.SetBytes(size)
	var peak atomic.Uint64
	for i := 0; i < b.N; i++ {
		salt(b, dir)
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		ferryBuild(b, h, dir, name)
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(base.HeapInuse)/(1<<20), "heap-before-MiB")
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "heap-peak-MiB")
}
