package testenv

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = format }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func TestRequire(t *testing.T) {
	t.Setenv("FERRY_REQUIRE_TESTENV", "")
	r := &recorder{TB: t}
	Require(r, "FERRY_REQUIRE_TESTENV", "thing missing", "install it")
	if r.skipped == "" || r.failed != "" {
		t.Errorf("without the require variable: skipped=%q failed=%q, want a skip", r.skipped, r.failed)
	}

	t.Setenv("FERRY_REQUIRE_TESTENV", "1")
	r = &recorder{TB: t}
	Require(r, "FERRY_REQUIRE_TESTENV", "thing missing", "install it")
	if r.failed == "" || r.skipped != "" {
		t.Errorf("with FERRY_REQUIRE_TESTENV=1: skipped=%q failed=%q, want a failure", r.skipped, r.failed)
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".ci", "webapp-image")); err != nil {
		t.Fatalf("moduleRoot() = %q: %v", root, err)
	}
}

// echoServer accepts connections on 127.0.0.1 and echoes each line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through conn and returns how long the echo took.
func roundTrip(t *testing.T, conn net.Conn, r *bufio.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	return time.Since(start)
}

func TestToxiproxyLatency(t *testing.T) {
	api := Toxiproxy(t)
	listen, name := NewProxy(t, api, echoServer(t))
	AddLatency(t, api, name, 25)

	conn, err := net.DialTimeout("tcp", listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	roundTrip(t, conn, r) // the first one also pays for the dial to upstream
	if rtt := roundTrip(t, conn, r); rtt < 50*time.Millisecond || rtt > 2*time.Second {
		t.Errorf("round trip through proxy with 25 ms each way took %v, want about 50 ms", rtt)
	}

	RemoveToxic(t, api, name, "latency_upstream")
	RemoveToxic(t, api, name, "latency_downstream")
	if rtt := roundTrip(t, conn, r); rtt > 40*time.Millisecond {
		t.Logf("round trip without toxics took %v (slow machine?)", rtt)
	}

	SetProxyEnabled(t, api, name, false)
	if c, err := net.DialTimeout("tcp", listen, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("dial of disabled proxy succeeded")
	}
	SetProxyEnabled(t, api, name, true)
}

func TestCompose(t *testing.T) {
	cmd := Compose(t)
	out, err := exec.Command(strings.Fields(cmd)[0], append(strings.Fields(cmd)[1:], "version")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v: %s", cmd, err, out)
	}
	t.Logf("%s: %s", cmd, strings.TrimSpace(string(out)))
}

func TestKubeconfig(t *testing.T) {
	kubeconfig := Kubeconfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "get", "nodes", "-o", "name").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "node/") {
		t.Fatalf("kubectl get nodes: %v: %s", err, out)
	}
}

// TestWebappImage runs the v2 image and checks its answers and its
// Docker health check.
func TestWebappImage(t *testing.T) {
	WebappImage(t)
	out, err := exec.Command("docker", "run", "-d", "--rm", "-p", "127.0.0.1::8080", WebappV2).Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	out, err = exec.Command("docker", "port", id, "8080/tcp").Output()
	if err != nil {
		t.Fatalf("docker port: %v", err)
	}
	addr := strings.TrimSpace(strings.Split(string(out), "\n")[0])

	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp never answered: %v", err)
		}
	}
	if body != "hello v2\n" {
		t.Errorf("GET / = %q, want %q", body, "hello v2\n")
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", id).Output()
		if strings.TrimSpace(string(out)) == "healthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container health = %q, want healthy", out)
		}
	}
}

func TestNamespace(t *testing.T) {
	kubeconfig := Kubeconfig(t)
	ns := Namespace(t, kubeconfig)
	if len(ns) > 63 || !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(ns) {
		t.Errorf("Namespace() = %q, not a DNS-1123 label", ns)
	}
}
