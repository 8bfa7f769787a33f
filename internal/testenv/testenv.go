// Package testenv gives tests access to the real peers that .ci/run starts:
// a Kubernetes control plane, Toxiproxy, the Docker engine, Docker Compose,
// a container registry, git repositories and the ferry-webapp test images.
//
// Each helper either returns what the test needs or stops the test. A test
// that lacks its peer is skipped, so "go test ./..." works anywhere; when
// the matching FERRY_REQUIRE_* variable is "1" (as .ci/run sets them), it
// fails instead, so CI can never pass by skipping. See [Require].
//
// # Environment
//
//	FERRY_KUBECONFIG         kubeconfig of the test cluster (.ci/k8s-up)
//	FERRY_TOXIPROXY          host:port of Toxiproxy's HTTP API (.ci/toxiproxy-up)
//	FERRY_REQUIRE_K8S        "1": fail, not skip, without FERRY_KUBECONFIG
//	FERRY_REQUIRE_TOXIPROXY  "1": fail without a reachable Toxiproxy
//	FERRY_REQUIRE_DOCKER     "1": fail without a reachable Docker engine
//	FERRY_REQUIRE_COMPOSE    "1": fail without Docker Compose v2
//	FERRY_REQUIRE_SSHD       "1": fail without OpenSSH's sshd (internal/sshdtest)
//	FERRY_REGISTRY           host:port of the test registry (.ci/registry-up), with
//	FERRY_REGISTRY_TEST_USER      its one user (not FERRY_REGISTRY_USER, which
//	FERRY_REGISTRY_TEST_PASSWORD  examples/deploy reads) and that user's password
//	FERRY_REQUIRE_REGISTRY   "1": fail without a reachable registry
//	FERRY_REQUIRE_GIT        "1": fail without the git program
//
// The package uses only the standard library and the docker CLI, so
// importing it adds nothing to the module's requirements.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ferryhq/ferry/internal/lastline"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Require stops a test that cannot have what it needs. what describes
// the missing thing and why ("Kubernetes: FERRY_KUBECONFIG is not set"),
// how says how to provide it. If the environment variable requireVar is
// "1", the test fails (tb.Fatalf); otherwise it is skipped (tb.Skipf).
// Either way Require does not return; every helper of this package calls
// it, and so can other test helpers, e.g.
//
//	testenv.Require(tb, "FERRY_REQUIRE_SSHD", "sshd not found", "apt-get install openssh-server")
func Require(tb testing.TB, requireVar, what, how string) {
	tb.Helper()
	if os.Getenv(requireVar) == "1" {
		tb.Fatalf("%s (and %s=1); %s", what, requireVar, how)
		return // only reached with a fake testing.TB
	}
	tb.Skipf("%s; %s", what, how)
}

// Kubeconfig returns the path of the test cluster's kubeconfig, from
// FERRY_KUBECONFIG. Its context talks to a real kube-apiserver with
// controllers, a scheduler and one fake node (kwok), on which Deployments
// roll out though no container runs (kwok marks pods Ready; any image name
// will do). The cluster has one node, "ferry-node-0" (32 CPUs, 64Gi,
// 110 pods), an IngressClass "nginx" and a default StorageClass
// "kwok-volume" whose claims get bound. A pod whose nodeSelector matches no
// node never schedules, which makes a rollout fail for real. Use
// [Namespace] to keep tests apart. Without FERRY_KUBECONFIG the test is
// skipped, or fails under FERRY_REQUIRE_K8S=1.
func Kubeconfig(tb testing.TB) string {
	tb.Helper()
	return fromEnv(tb, "FERRY_KUBECONFIG", "FERRY_REQUIRE_K8S", "Kubernetes",
		"run .ci/run (or .ci/k8s-up and export what it prints)",
		func(path string) error {
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("FERRY_KUBECONFIG: %w", err)
			}
			return nil
		})
}

// fromEnv returns the value of the variable env that locates the peer.
// When it is empty, or check refuses it, the test is skipped, or fails
// under requireVar=1; how says how to provide the peer.
func fromEnv(tb testing.TB, env, requireVar, peer, how string, check func(string) error) string {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		Require(tb, requireVar, peer+": "+env+" is not set", how)
	}
	if err := check(v); err != nil {
		Require(tb, requireVar, peer+": "+err.Error(), how)
	}
	return v
}

var namespaceSeq atomic.Int64

// Namespace creates a namespace of its own for the test in the cluster of
// kubeconfig (as returned by [Kubeconfig]), waits until its "default"
// service account exists (pods are refused before), and deletes it, without
// waiting, when the test ends. The name is derived from the test's name,
// with the process id and a counter ("t-4242-3-testdeploy-rollback"), and
// is a valid DNS-1123 label.
func Namespace(tb testing.TB, kubeconfig string) string {
	tb.Helper()
	base := strings.Trim(dnsUnsafe.ReplaceAllString(strings.ToLower(tb.Name()), "-"), "-")
	ns := fmt.Sprintf("t-%d-%d-%s", os.Getpid()%100000, namespaceSeq.Add(1), base)
	if len(ns) > 63 {
		ns = strings.TrimRight(ns[:63], "-")
	}
	kubectl := func(args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	}
	if out, err := kubectl("create", "namespace", ns); err != nil {
		tb.Fatalf("testenv: kubectl create namespace %s: %v: %s", ns, err, out)
	}
	tb.Cleanup(func() {
		if out, err := kubectl("delete", "namespace", ns, "--wait=false"); err != nil {
			tb.Errorf("testenv: kubectl delete namespace %s: %v: %s", ns, err, out)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := kubectl("get", "serviceaccount", "default", "-n", ns); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: namespace %s: no default service account after 30s", ns)
		}
	}
	return ns
}

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Toxiproxy returns the host:port of Toxiproxy's HTTP API, from
// FERRY_TOXIPROXY, after checking that it answers. Without it the test
// is skipped, or fails under FERRY_REQUIRE_TOXIPROXY=1.
func Toxiproxy(tb testing.TB) string {
	tb.Helper()
	return fromEnv(tb, "FERRY_TOXIPROXY", "FERRY_REQUIRE_TOXIPROXY", "Toxiproxy",
		"run .ci/run (or .ci/toxiproxy-up and export what it prints)",
		func(api string) error { return toxiproxyDo(api, http.MethodGet, "/version", nil, nil) })
}

var proxySeq atomic.Int64

// NewProxy creates a Toxiproxy proxy in front of upstream (host:port)
// through the API at api (as returned by [Toxiproxy]). It listens on a free
// port of 127.0.0.1 and returns that address and the proxy's name, which
// [AddLatency] and [AddToxic] take. The proxy is deleted when the test ends.
func NewProxy(tb testing.TB, api, upstream string) (listenAddr, name string) {
	tb.Helper()
	name = fmt.Sprintf("%s-%d", proxyName(tb.Name()), proxySeq.Add(1))
	req := map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}
	var resp struct {
		Listen string `json:"listen"`
	}
	if err := toxiproxyDo(api, http.MethodPost, "/proxies", req, &resp); err != nil {
		tb.Fatalf("testenv: creating proxy %s to %s: %v", name, upstream, err)
	}
	tb.Cleanup(func() {
		if err := toxiproxyDo(api, http.MethodDelete, "/proxies/"+name, nil, nil); err != nil {
			tb.Errorf("testenv: deleting proxy %s: %v", name, err)
		}
	})
	return resp.Listen, name
}

// AddLatency delays the traffic of proxy proxyName by ms milliseconds in
// each direction (a "latency" toxic upstream and one downstream), so the
// round trip grows by 2*ms: AddLatency(tb, api, name, 25) gives 50 ms RTT.
func AddLatency(tb testing.TB, api, proxyName string, ms int) {
	tb.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		AddToxic(tb, api, proxyName, "latency_"+stream, "latency", stream, map[string]any{"latency": ms})
	}
}

// AddToxic adds a toxic named toxicName of the given type ("latency",
// "bandwidth", "timeout", "reset_peer", "slicer", "limit_data", ...) to
// proxy proxyName, on stream "upstream" (client to server) or
// "downstream", with the type's attributes (see Toxiproxy's README; nil
// means the defaults). It applies to new and open connections alike.
func AddToxic(tb testing.TB, api, proxyName, toxicName, toxicType, stream string, attributes map[string]any) {
	tb.Helper()
	if attributes == nil {
		attributes = map[string]any{}
	}
	req := map[string]any{"name": toxicName, "type": toxicType, "stream": stream, "toxicity": 1.0, "attributes": attributes}
	if err := toxiproxyDo(api, http.MethodPost, "/proxies/"+proxyName+"/toxics", req, nil); err != nil {
		tb.Fatalf("testenv: adding %s toxic %s to proxy %s: %v", toxicType, toxicName, proxyName, err)
	}
}

// RemoveToxic removes the toxic named toxicName from proxy proxyName.
func RemoveToxic(tb testing.TB, api, proxyName, toxicName string) {
	tb.Helper()
	if err := toxiproxyDo(api, http.MethodDelete, "/proxies/"+proxyName+"/toxics/"+toxicName, nil, nil); err != nil {
		tb.Fatalf("testenv: removing toxic %s from proxy %s: %v", toxicName, proxyName, err)
	}
}

// SetProxyEnabled enables or disables proxy proxyName. Disabling it closes
// its open connections and refuses new ones, like a cut link; enabling it
// listens again on the same address.
func SetProxyEnabled(tb testing.TB, api, proxyName string, enabled bool) {
	tb.Helper()
	if err := toxiproxyDo(api, http.MethodPost, "/proxies/"+proxyName, map[string]any{"enabled": enabled}, nil); err != nil {
		tb.Fatalf("testenv: setting proxy %s enabled=%v: %v", proxyName, enabled, err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// proxyName makes a proxy name from a test name: readable in Toxiproxy's
// listing and safe in a URL path.
func proxyName(testName string) string {
	s := unsafeName.ReplaceAllString(testName, "_")
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

var toxiproxyClient = &http.Client{Timeout: 10 * time.Second}

// toxiproxyDo sends a JSON request to Toxiproxy's API and decodes a JSON
// answer into out (if not nil).
func toxiproxyDo(api, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := toxiproxyClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// probe runs a command once per process and remembers its error.
type probe struct {
	once sync.Once
	err  error
}

func (p *probe) run(name string, args ...string) error {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			p.err = fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, lastline.Of(out, 0))
		}
	})
	return p.err
}

var dockerProbe, composeV2Probe, composeV1Probe probe

// Docker checks that the docker CLI reaches a Docker engine ("docker
// info"). Without one the test is skipped, or fails under
// FERRY_REQUIRE_DOCKER=1. No registry is reachable in CI: use images built
// locally, such as [WebappV1].
func Docker(tb testing.TB) {
	tb.Helper()
	if err := dockerProbe.run("docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		Require(tb, "FERRY_REQUIRE_DOCKER", "Docker engine unreachable: "+err.Error(),
			"start dockerd, or run .ci/run")
	}
}

// Compose returns the Docker Compose command to run, as words to put
// before the subcommand: "docker compose" (v2, preferred) or, failing
// that, "docker-compose" (the Python v1). It does not need an engine:
// "config" validates files without one. Without Compose the test is
// skipped; under FERRY_REQUIRE_COMPOSE=1 it fails unless v2 is present.
func Compose(tb testing.TB) string {
	tb.Helper()
	const how = "run .ci/tools (builds the Compose v2 plugin) or .ci/run"
	errV2 := composeV2Probe.run("docker", "compose", "version")
	if errV2 == nil {
		return "docker compose"
	}
	if os.Getenv("FERRY_REQUIRE_COMPOSE") == "1" {
		Require(tb, "FERRY_REQUIRE_COMPOSE", "Docker Compose v2 unavailable: "+errV2.Error(), how)
	}
	if err := composeV1Probe.run("docker-compose", "version"); err == nil {
		return "docker-compose"
	}
	Require(tb, "FERRY_REQUIRE_COMPOSE", "Docker Compose unavailable: "+errV2.Error(), how)
	return ""
}

// The test images built by .ci/webapp-image from internal/testenv/webapp:
// FROM scratch, one static HTTP server listening on $PORT (8080), "/"
// answering $MESSAGE, "/healthz" answering 200 (500 when FAIL_HEALTH=1),
// with a Docker HEALTHCHECK on /healthz. They differ only in the default
// message, "hello" for v1 and "hello v2" for v2. "/call?url=URL" answers
// URL's body (a service reaching another by name), "/file?path=PATH" a
// file's content, and HEALTHY_AFTER=3s keeps /healthz at 503 for that
// long after the start (see internal/testenv/webapp).
const (
	WebappV1 = "ferry-webapp:v1"
	WebappV2 = "ferry-webapp:v2"
)

var webappOnce struct {
	sync.Once
	err error
}

// WebappImage makes sure the images [WebappV1] and [WebappV2] exist and
// are up to date in the Docker engine, building them with
// .ci/webapp-image (once per test process) when the module's source tree
// is at hand. It calls [Docker] first.
func WebappImage(tb testing.TB) {
	tb.Helper()
	Docker(tb)
	webappOnce.Do(func() {
		root, err := moduleRoot()
		if err == nil {
			script := filepath.Join(root, ".ci", "webapp-image")
			if _, err := os.Stat(script); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if out, err := exec.CommandContext(ctx, script).CombinedOutput(); err != nil {
					webappOnce.err = fmt.Errorf("%s: %v\n%s", script, err, out)
					return
				}
			}
		}
		if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", WebappV1, WebappV2).CombinedOutput(); err != nil {
			webappOnce.err = fmt.Errorf("images missing and .ci/webapp-image not found: %v: %s", err, lastline.Of(out, 0))
		}
	})
	if webappOnce.err != nil {
		tb.Fatalf("testenv: webapp images: %v", webappOnce.err)
	}
}

var modulePath = regexp.MustCompile(`(?m)^module\s+"?github\.com/ferryhq/ferry"?\s*$`)

// moduleRoot finds the ferry module's root directory above the working
// directory (a test's working directory is its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath.Match(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/ferryhq/ferry above the working directory")
		}
		dir = parent
	}
}

// imageScript is a .ci script that builds a local test image and
// prints its reference, run once per test binary.
type imageScript struct {
	sync.Once
	name string // the script, in .ci
	ref  string
	err  error
}

// build runs the script once and returns the reference it printed.
// Without a Docker engine or the tool the image is built around, the
// test is skipped (fails under FERRY_REQUIRE_DOCKER=1).
func (s *imageScript) build(tb testing.TB) string {
	tb.Helper()
	Docker(tb)
	s.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			s.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(root, ".ci", s.name))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			s.err = fmt.Errorf(".ci/%s: %v: %s", s.name, err, lastline.Of(stderr.Bytes(), 0))
			return
		}
		s.ref = strings.TrimSpace(string(out))
	})
	if s.err != nil {
		Require(tb, "FERRY_REQUIRE_DOCKER", s.name+": "+s.err.Error(), "run .ci/tools, then .ci/"+s.name)
	}
	return s.ref
}

var proxyImage, pebbleImage = &imageScript{name: "proxy-image"}, &imageScript{name: "pebble-image"}

// ProxyImage returns the reference of the local reverse proxy image,
// ferry-caddy:<version>, built FROM scratch by .ci/proxy-image around the
// caddy binary that .ci/tools builds (laid out like the official caddy
// image). It runs the script once per test binary. Without a Docker engine
// the test is skipped (fails under FERRY_REQUIRE_DOCKER=1); without the
// caddy binary it is skipped too, or fails under FERRY_REQUIRE_DOCKER=1.
func ProxyImage(tb testing.TB) string { return proxyImage.build(tb) }

// PebbleImage returns the reference of the local image of Pebble, Let's
// Encrypt's test ACME server, ferry-pebble:<version>, built FROM scratch
// by .ci/pebble-image around the pebble binary that .ci/tools builds. Its
// entrypoint is pebble; it reads its configuration from
// /pebble/config.json. Skips and fails as [ProxyImage] does.
func PebbleImage(tb testing.TB) string { return pebbleImage.build(tb) }
