package destination_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// proxyEnv is a ferry proxy deployed over real sshd to the Docker
// engine, with one app routed by it.
type proxyEnv struct {
	t                   *testing.T
	ex                  executor.Executor
	dir, network        string
	proxy               destination.Proxy
	httpPort, httpsPort int
	target              destination.Docker
	host                string // the app's domain
}

func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	image := testenv.ProxyImage(t)
	testenv.WebappImage(t)
	testenv.Compose(t)
	e := &proxyEnv{t: t, ex: dialSSHD(t), dir: t.TempDir(), network: randomName("ferrytest-net-"),
		httpPort: freePort(t), httpsPort: freePort(t)}
	name := randomName("ferrytest-proxy-")
	e.proxy = destination.Proxy{Dir: e.dir, Name: name, Image: image, HTTPPort: e.httpPort, HTTPSPort: e.httpsPort,
		ACMEEmail: "ops@example.com", Networks: []string{e.network}, Timeout: time.Minute}
	project := randomName("ferrytest-")
	e.target = destination.Docker{Dir: e.dir, Network: e.network, Project: project, ProxyName: name,
		Timeout: time.Minute, Drain: time.Second}
	e.host = project + ".test"
	// Cleanups run last in, first out: the proxy goes first, since it is
	// attached to the app's network.
	testenv.RemoveCompose(t, project, false, e.network)
	testenv.RemoveCompose(t, name, true)
	return e
}

func (e *proxyEnv) deployProxy() {
	e.t.Helper()
	plan, err := e.proxy.Plan()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := destination.Deploy(ctx, e.ex, plan, nil)
	if err != nil {
		e.t.Fatalf("deploy proxy: %v\n%s", err, rep)
	}
}

func (e *proxyEnv) app(image string, env map[string]string) *translate.App {
	return &translate.App{
		Name:    "web",
		Image:   image,
		Ports:   []translate.Port{{Container: 8080}},
		Domains: []translate.Domain{{Host: e.host}},
		Env:     env,
		Health:  &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}, Interval: time.Second, Timeout: 5 * time.Second, Retries: 5},
	}
}

func (e *proxyEnv) deploy(target destination.Docker, app *translate.App, obs executor.Observer) (*destination.Report, error) {
	e.t.Helper()
	plan, err := target.Plan(app)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return destination.Deploy(ctx, e.ex, plan, &destination.Options{Observer: obs})
}

func (e *proxyEnv) mustDeploy(app *translate.App) *destination.Report {
	e.t.Helper()
	rec := &recorder{}
	rep, err := e.deploy(e.target, app, rec)
	if err != nil {
		e.t.Fatalf("deploy %s: %v\n%s\n%s", app.Image, err, rep, rec.output())
	}
	return rep
}

// otherTarget is the Docker target of a second app, routed by the same
// proxy, removed when the test ends.
func (e *proxyEnv) otherTarget() destination.Docker {
	e.t.Helper()
	other := e.target
	other.Project = randomName("ferrytest-")
	testenv.RemoveCompose(e.t, other.Project, false)
	return other
}

// url is the proxy's HTTP address.
func (e *proxyEnv) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", e.httpPort) }

// get fetches "/" through the proxy with host as the Host header.
func get(c *http.Client, url, host string) (string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// loop sends a request every 10 ms from two clients, one keeping its
// connection alive and one opening a new connection each time, and
// counts what fails.
type loop struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	errs          []string
	last          map[string]string // client -> last body
	stop          chan struct{}
	wg            sync.WaitGroup
}

func startLoop(url, host string) *loop {
	l := &loop{stop: make(chan struct{}), last: map[string]string{}}
	clients := map[string]*http.Client{
		"keep-alive":     {Timeout: 10 * time.Second},
		"new-connection": {Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	for name, c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					c.CloseIdleConnections()
					return
				case <-tick.C:
				}
				body, err := get(c, url, host)
				l.total.Add(1)
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					if len(l.errs) < 20 {
						l.errs = append(l.errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), name, err))
					}
				} else {
					l.last[name] = body
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *loop) close() {
	close(l.stop)
	l.wg.Wait()
}

func (l *loop) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

func (l *loop) lastBodies() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]string{}
	for k, v := range l.last {
		m[k] = v
	}
	return m
}

// wantServes waits (briefly) until host answers want through the proxy.
func (e *proxyEnv) wantServes(want string) {
	e.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var got string
	var err error
	for range 40 {
		if got, err = get(c, e.url(), e.host); err == nil && got == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	e.t.Fatalf("GET %s Host %s: %q, %v; want %q", e.url(), e.host, got, err, want)
}

// TestProxyRoutes: the proxy deployed by ferry routes the app's domain
// (by the Host header) to the app, which publishes no port; another host
// name does not reach it. A second deploy of the proxy (a changed
// Caddyfile) keeps the app's routes; removing the app takes its routes
// out of the proxy.
func TestProxyRoutes(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")

	c := &http.Client{Timeout: 5 * time.Second}
	if body, err := get(c, e.url(), "other.test"); err == nil && body == "hello" {
		t.Errorf("Host other.test reached the app")
	}

	// The proxy redeployed with another e-mail: its configuration is
	// reloaded, the app's snippet kept.
	e.proxy.ACMEEmail = "admin@example.com"
	e.deployProxy()
	e.wantServes("hello")
	plan, err := e.proxy.Plan()
	if err != nil {
		t.Fatal(err)
	}
	h, err := destination.History(context.Background(), e.ex, plan.Dir)
	if err != nil || len(h) != 2 || h[1].Outcome != destination.OutcomeSucceeded || h[1].Target != "proxy" {
		t.Errorf("proxy history: %+v, %v", h, err)
	}

	// The app removed, its routes and upstream files leave the proxy.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	appPlan, err := e.target.Plan(e.app(testenv.WebappV1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := destination.Remove(ctx, e.ex, appPlan, nil); err != nil {
		t.Fatalf("remove app: %v\n%s", err, rep)
	}
	etc := filepath.Join(plan.Dir, "etc")
	for _, p := range []string{"sites/" + e.target.Project + ".web.caddy", "upstreams/" + e.target.Project + ".web"} {
		if _, err := os.Stat(filepath.Join(etc, p)); !os.IsNotExist(err) {
			t.Errorf("after the app's removal the proxy still has %s (%v)", p, err)
		}
	}
	if body, err := get(c, e.url(), e.host); err == nil && body == "hello" {
		t.Errorf("after the app's removal, its domain still reaches it")
	}

	// Removed, the proxy's container goes, and the network its first
	// deploy created, now unused.
	if rep, err := destination.Remove(ctx, e.ex, plan, nil); err != nil {
		t.Fatalf("remove proxy: %v\n%s", err, rep)
	}
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+e.proxy.Name).Output()
	if ids := strings.Fields(string(out)); len(ids) != 0 {
		t.Errorf("proxy containers left after its removal: %v", ids)
	}
	if err := exec.Command("docker", "network", "inspect", e.network).Run(); err == nil {
		t.Errorf("network %s, created by the proxy and now unused, was kept", e.network)
	}
}

// update is one measured update of the loop tests.
type update struct {
	image    string
	failed   int64
	requests int64
	took     time.Duration
}

// updates deploys images in turn while l runs, and measures each.
func updates(t *testing.T, deploy func(*translate.App) (*destination.Report, error), mk func(string) *translate.App, l *loop, images []string) []update {
	t.Helper()
	var out []update
	for _, img := range images {
		f0, n0 := l.failed.Load(), l.total.Load()
		start := time.Now()
		if rep, err := deploy(mk(img)); err != nil {
			t.Fatalf("update to %s: %v\n%s", img, err, rep)
		}
		out = append(out, update{image: img, took: time.Since(start), failed: l.failed.Load() - f0, requests: l.total.Load() - n0})
	}
	return out
}

func summary(us []update) (failed, requests int64, took time.Duration) {
	for _, u := range us {
		failed += u.failed
		requests += u.requests
		took += u.took
	}
	return failed, requests, took
}

// TestProxySwitchZeroFailures: ten updates v1 → v2 → v1 … of an app
// routed by the proxy, under a request every 10 ms from a keep-alive
// client and from a new connection each time, fail no request, and the
// new version answers after each. The same loop against an app that
// publishes its port (updated in place, with the plan's warning) is
// measured in the same run for comparison: it is logged, not asserted.
func TestProxySwitchZeroFailures(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")

	n := 10
	if testing.Short() {
		n = 2
	}
	images := make([]string, n)
	want := map[string]string{testenv.WebappV1: "hello", testenv.WebappV2: "hello v2"}
	for i := range images {
		images[i] = testenv.WebappV2
		if i%2 == 1 {
			images[i] = testenv.WebappV1
		}
	}

	l := startLoop(e.url(), e.host)
	var us []update
	for _, img := range images {
		u := updates(t, func(a *translate.App) (*destination.Report, error) { return e.deploy(e.target, a, nil) },
			func(img string) *translate.App { return e.app(img, nil) }, l, []string{img})
		us = append(us, u...)
		// After the deploy, both clients get the new version (the
		// requests in flight when the old containers stopped are being
		// retried on the new ones: give them the proxy's retry time).
		var bodies map[string]string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if bodies = l.lastBodies(); bodies["keep-alive"] == want[img] && bodies["new-connection"] == want[img] {
				break
			}
		}
		for client, body := range bodies {
			if body != want[img] {
				t.Errorf("after the update to %s, %s client got %q", img, client, body)
			}
		}
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+e.target.Project).Output()
		if got := len(strings.Fields(string(out))); got != 1 {
			t.Errorf("after the update to %s: %d containers run, want 1", img, got)
		}
	}
	l.close()
	failed, requests, took := summary(us)
	for i, u := range us {
		t.Logf("switch update %d to %s: %d failed of %d requests, %s", i+1, u.image, u.failed, u.requests, u.took.Round(time.Millisecond))
	}
	// No request may fail: an update rewrites the proxy's upstream
	// files and reloads nothing.
	if all := l.failed.Load(); all != 0 || l.total.Load() == 0 {
		t.Errorf("switch: %d of %d requests failed during the updates (%d of %d in all): %v", failed, requests, all, l.total.Load(), l.errors())
	}

	// The baseline: the same loop against the same app publishing its
	// port, which an update replaces in place.
	port := freePort(t)
	inPlace := e.target
	inPlace.Project = e.target.Project + "-inplace"
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+inPlace.Project).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	mk := func(img string) *translate.App {
		a := e.app(img, nil)
		a.Domains = nil
		a.Ports[0].Host = port
		return a
	}
	plan, err := inPlace.Plan(mk(testenv.WebappV1))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0].Message, "replaces it in place") ||
		!strings.Contains(plan.String(), "  - service web: ports: publishes host port") {
		t.Errorf("in-place plan: warnings %v", plan.Warnings)
	}
	if rep, err := e.deploy(inPlace, mk(testenv.WebappV1), nil); err != nil {
		t.Fatalf("in-place deploy: %v\n%s", err, rep)
	}
	// Four in-place updates are enough to measure (and keep the test
	// short); the figures are per update.
	bimages := images[:min(4, len(images))]
	bl := startLoop(fmt.Sprintf("http://127.0.0.1:%d/", port), "localhost")
	baseline := updates(t, func(a *translate.App) (*destination.Report, error) { return e.deploy(inPlace, a, nil) }, mk, bl, bimages)
	time.Sleep(50 * time.Millisecond)
	bl.close()
	if got := bl.lastBodies()["new-connection"]; got != want[bimages[len(bimages)-1]] {
		t.Errorf("in place: after the updates the app answers %q, want %q", got, want[bimages[len(bimages)-1]])
	}
	bfailed, brequests, btook := summary(baseline)
	for i, u := range baseline {
		t.Logf("in-place update %d to %s: %d failed of %d requests, %s", i+1, u.image, u.failed, u.requests, u.took.Round(time.Millisecond))
	}
	t.Logf("FIGURES switch through the proxy: %d updates, %d failed of %d requests (%.2f per update), %.2fs per update; in place (published port): %d updates, %d failed of %d requests (%.2f per update), %.2fs per update",
		n, failed, requests, float64(failed)/float64(n), took.Seconds()/float64(n),
		len(bimages), bfailed, brequests, float64(bfailed)/float64(len(bimages)), btook.Seconds()/float64(len(bimages)))
}

// TestProxyFailedUpdate: an update whose health check fails removes the
// new containers, leaves the old ones serving and fails no request.
func TestProxyFailedUpdate(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")
	before, _ := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+e.target.Project).Output()

	l := startLoop(e.url(), e.host)
	rec := &recorder{}
	rep, err := e.deploy(e.target, e.app(testenv.WebappV2, map[string]string{"FAIL_HEALTH": "1"}), rec)
	time.Sleep(50 * time.Millisecond)
	l.close()
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "apply" || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failed update: %v, outcome %s\n%s", err, rep.Outcome, rep)
	}
	if out := rec.output(); !strings.Contains(out, "the old ones keep serving") {
		t.Errorf("deploy output does not say the new containers were removed:\n%s", out)
	}
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests failed during the failed update: %v", n, l.total.Load(), l.errors())
	}
	for client, body := range l.lastBodies() {
		if body != "hello" {
			t.Errorf("after the failed update, %s client got %q", client, body)
		}
	}
	after, _ := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+e.target.Project).Output()
	if strings.TrimSpace(string(before)) != strings.TrimSpace(string(after)) {
		t.Errorf("containers before the failed update:\n%s\nafter:\n%s", before, after)
	}
	e.wantServes("hello")
}

// TestProxyStackSwitch: a stack of two services, "api" (no domain,
// updated in place) and "web" (a domain, reached through the proxy,
// depending on api being healthy), is updated ten times v1 → v2 → v1,
// service by service in dependency order; requests through the proxy
// to web never fail.
func TestProxyStackSwitch(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	stack := func(img string) *translate.Stack {
		api := e.app(img, nil)
		api.Name, api.Domains = "api", nil
		web := e.app(img, nil)
		web.DependsOn = []translate.Dependency{{Service: "api", Condition: translate.ConditionHealthy}}
		return &translate.Stack{Name: "web", Services: []*translate.App{web, api}}
	}
	deploy := func(img string) *destination.Report {
		t.Helper()
		plan, err := e.target.PlanStack(stack(img))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		rep, err := destination.Deploy(ctx, e.ex, plan, nil)
		if err != nil {
			t.Fatalf("deploy %s: %v\n%s", img, err, rep)
		}
		return rep
	}
	deploy(testenv.WebappV1)
	e.wantServes("hello")

	l := startLoop(e.url(), e.host)
	images := make([]string, 10)
	if testing.Short() {
		images = images[:2]
	}
	for i := range images {
		images[i] = []string{testenv.WebappV2, testenv.WebappV1}[i%2]
	}
	for _, img := range images {
		start := time.Now()
		rep := deploy(img)
		t.Logf("stack update to %s: %s", img, time.Since(start).Round(time.Millisecond))
		var order []string
		for _, s := range rep.Steps {
			t.Logf("  %s %s-%s %s: %s", s.Phase, s.Start.Format("15:04:05.000"), s.Start.Add(s.Duration).Format("15:04:05.000"), s.Status, s.Name)
			if s.Phase == "apply" && strings.HasPrefix(s.Name, "service ") {
				order = append(order, s.Name)
			}
		}
		if len(order) != 2 || !strings.HasPrefix(order[0], "service api: compose up in place") || !strings.HasPrefix(order[1], "service web: start new containers") {
			t.Errorf("apply steps %q: want api in place, then web switched", order)
		}
	}
	time.Sleep(50 * time.Millisecond)
	l.close()
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests to web failed during the stack updates: %v", n, l.total.Load(), l.errors())
	}
	t.Logf("stack: %d updates, %d failed of %d requests through the proxy", len(images), l.failed.Load(), l.total.Load())
	for client, body := range l.lastBodies() {
		if body != "hello" {
			t.Errorf("after the updates, %s client got %q", client, body)
		}
	}
}

// TestProxyLateFailureRollback: an update of a stack whose web service
// switched but whose worker then fails verify is rolled back by
// switching web back too, so the proxy's routes follow the restored
// containers: no request through the proxy fails, and web answers the
// previous release afterwards from one container.
func TestProxyLateFailureRollback(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	stack := func(img string, workerEnv map[string]string) *translate.Stack {
		worker := e.app(img, workerEnv)
		worker.Name, worker.Domains = "worker", nil
		return &translate.Stack{Name: "web", Services: []*translate.App{e.app(img, nil), worker}}
	}
	deploy := func(s *translate.Stack) (*destination.Report, error) {
		t.Helper()
		plan, err := e.target.PlanStack(s)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		return destination.Deploy(ctx, e.ex, plan, nil)
	}
	if rep, err := deploy(stack(testenv.WebappV1, nil)); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, rep)
	}
	e.wantServes("hello")

	l := startLoop(e.url(), e.host)
	rep, err := deploy(stack(testenv.WebappV2, map[string]string{"FAIL_HEALTH": "1"}))
	time.Sleep(50 * time.Millisecond)
	l.close()
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "verify" || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("update with a failing worker: %v, outcome %s\n%s", err, rep.Outcome, rep)
	}
	switchedBack := false
	for _, s := range rep.Steps {
		if s.Phase == "rollback" && strings.HasPrefix(s.Name, "service web: start new containers") && s.Status == destination.StatusOK {
			switchedBack = true
		}
	}
	if !switchedBack {
		t.Errorf("the rollback did not switch web back:\n%s", rep)
	}
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests failed during the update and its rollback: %v", n, l.total.Load(), l.errors())
	}
	t.Logf("late failure and rollback: %d failed of %d requests through the proxy", l.failed.Load(), l.total.Load())
	e.wantServes("hello")
	out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+e.target.Project,
		"--filter", "label=com.docker.compose.service=web").Output()
	if n := len(strings.Fields(string(out))); n != 1 {
		t.Errorf("after the rollback %d web containers run, want 1", n)
	}
}

// TestProxyACME: the proxy gets a certificate for an app's TLS domain
// from an ACME server (Pebble, Let's Encrypt's test server, on the
// proxy's network, with the ACME CA and its root given to the Proxy),
// serves the app over HTTPS with it, and keeps it in its data volume.
func TestProxyACME(t *testing.T) {
	pebble := testenv.PebbleImage(t)
	e := newProxyEnv(t)
	if out, err := exec.Command("docker", "network", "create", e.network).CombinedOutput(); err != nil {
		t.Fatalf("create network: %v\n%s", err, out)
	}
	root := startPebble(t, pebble, e.network)
	e.proxy.ACMECA = "https://pebble:14000/dir"
	e.proxy.ACMECARoot = root
	e.deployProxy()
	app := e.app(testenv.WebappV1, nil)
	app.Domains = []translate.Domain{{Host: e.host, TLS: true}}
	e.mustDeploy(app)

	addr := fmt.Sprintf("127.0.0.1:%d", e.httpsPort)
	var leaf *x509.Certificate
	var last error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: e.host, InsecureSkipVerify: true})
		if err != nil {
			last = err
			continue
		}
		leaf = conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if strings.Contains(leaf.Issuer.CommonName, "Pebble") {
			break
		}
		last = fmt.Errorf("certificate issued by %q", leaf.Issuer.CommonName)
	}
	if leaf == nil || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		id, _ := exec.Command("docker", "ps", "-q", "--filter", "label="+destination.ProxyLabel+"="+e.proxy.Name).Output()
		out, _ := exec.Command("docker", "logs", "--tail", "30", strings.TrimSpace(string(id))).CombinedOutput()
		t.Fatalf("no certificate from the ACME server for %s: %v\nproxy log:\n%s", e.host, last, out)
	}
	if err := leaf.VerifyHostname(e.host); err != nil {
		t.Errorf("the certificate does not name %s: %v", e.host, err)
	}

	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: e.host, InsecureSkipVerify: true}}}
	if body, err := get(c, "https://"+addr+"/", e.host); err != nil || body != "hello" {
		t.Errorf("GET https://%s/ (Host %s) = %q, %v; want hello", addr, e.host, body, err)
	}

	// The certificate is in the proxy's data volume.
	out, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", e.proxy.Name+"_data").Output()
	if err != nil {
		t.Fatalf("data volume: %v", err)
	}
	found := false
	filepath.WalkDir(strings.TrimSpace(string(out)), func(p string, d os.DirEntry, err error) error {
		found = found || (err == nil && d.Name() == e.host+".crt")
		return nil
	})
	if !found {
		t.Errorf("no %s.crt in the proxy's data volume %s", e.host, strings.TrimSpace(string(out)))
	}
}

// startPebble runs Pebble on network under the name "pebble", accepting
// every challenge, and returns the PEM root of its HTTPS certificate.
func startPebble(t *testing.T, image, network string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble"},
		DNSNames: []string{"pebble"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	dir := t.TempDir()
	files := map[string][]byte{
		"cert.pem": certPEM,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"config.json": []byte(`{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
 "certificate": "/pebble/cert.pem", "privateKey": "/pebble/key.pem", "httpPort": 80, "tlsPort": 443,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}`),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := randomName("ferrytest-pebble-")
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", network, "--network-alias", "pebble",
		"-e", "PEBBLE_VA_ALWAYS_VALID=1", "-e", "PEBBLE_VA_NOSLEEP=1", "-e", "PEBBLE_WFE_NONCEREJECT=0",
		"-v", dir+":/pebble:ro", image).CombinedOutput()
	if err != nil {
		t.Fatalf("start pebble: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	return certPEM
}

// TestProxyReloadOtherApp measures what a reload of the proxy costs
// another app: while a loop requests app A through the proxy, app B is
// deployed for the first time and removed, three times; each deploy and
// each removal changes the proxy's routes and so reloads Caddy, which
// opens a new listening socket and closes the old one. The README says
// this may reset the odd connection being accepted; more than one
// failure in a thousand requests fails the test.
func TestProxyReloadOtherApp(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")
	other := e.otherTarget()
	b := e.app(testenv.WebappV2, nil)
	b.Domains = []translate.Domain{{Host: other.Project + ".test"}}

	l := startLoop(e.url(), e.host)
	reloads := 0
	for range 3 {
		plan, err := other.Plan(b)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if rep, err := destination.Deploy(ctx, e.ex, plan, nil); err != nil {
			cancel()
			t.Fatalf("deploy app B: %v\n%s", err, rep)
		}
		if rep, err := destination.Remove(ctx, e.ex, plan, nil); err != nil {
			cancel()
			t.Fatalf("remove app B: %v\n%s", err, rep)
		}
		cancel()
		reloads += 2
	}
	time.Sleep(50 * time.Millisecond)
	l.close()
	n, total := l.failed.Load(), l.total.Load()
	t.Logf("FIGURES %d reloads for another app: %d failed of %d requests to app A: %v", reloads, n, total, l.errors())
	if total == 0 || n*1000 > total {
		t.Errorf("%d of %d requests to app A failed across %d reloads for another app: %v", n, total, reloads, l.errors())
	}
}

// TestProxyRefusedRoutes: app B claims the domain app A already has;
// Caddy refuses the routes, so B's deploy fails with Caddy's reason, B's
// containers are removed, its routes are not left in the proxy, and A
// keeps serving without a failed request.
func TestProxyRefusedRoutes(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")
	other := e.otherTarget()

	l := startLoop(e.url(), e.host)
	rec := &recorder{}
	rep, err := e.deploy(other, e.app(testenv.WebappV2, nil), rec)
	time.Sleep(50 * time.Millisecond)
	l.close()
	if err == nil {
		t.Fatalf("app B with app A's domain deployed\n%s", rep)
	}
	if out := rec.output(); !strings.Contains(out, "ambiguous site definition") || !strings.Contains(out, "the proxy refused the new routes") {
		t.Errorf("the deploy does not say why the proxy refused the routes:\n%s", out)
	}
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests to app A failed: %v", n, l.total.Load(), l.errors())
	}
	e.wantServes("hello")
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+other.Project).Output()
	if ids := strings.Fields(string(out)); len(ids) != 0 {
		t.Errorf("app B's containers are left: %v", ids)
	}
	plan, err := e.proxy.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plan.Dir, "etc", "sites", other.Project+".web.caddy")); !os.IsNotExist(err) {
		t.Errorf("app B's refused routes are left in the proxy (%v)", err)
	}
}

// TestProxyReplicas: an app of two replicas switches both at once with
// no failed request and no reload of the proxy, which has one upstream
// file per replica; scaled down to one (new routes: a reload), the
// proxy's routes and files follow.
func TestProxyReplicas(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	app := func(img string, n int) *translate.App {
		a := e.app(img, nil)
		a.Replicas = n
		return a
	}
	e.mustDeploy(app(testenv.WebappV1, 2))
	e.wantServes("hello")
	plan, err := e.proxy.Plan()
	if err != nil {
		t.Fatal(err)
	}
	ups := filepath.Join(plan.Dir, "etc", "upstreams", e.target.Project+".web")
	files := func() []string {
		t.Helper()
		entries, err := os.ReadDir(ups)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range entries {
			b, _ := os.ReadFile(filepath.Join(ups, d.Name()))
			names = append(names, d.Name()+"="+strings.TrimSpace(string(b)))
		}
		return names
	}
	running := func() int {
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+e.target.Project).Output()
		return len(strings.Fields(string(out)))
	}

	// deploy returns the deploy's output.
	deploy := func(a *translate.App) string {
		t.Helper()
		rec := &recorder{}
		if rep, err := e.deploy(e.target, a, rec); err != nil {
			t.Fatalf("deploy %s: %v\n%s\n%s", a.Image, err, rep, rec.output())
		}
		return rec.output()
	}
	const reloaded = "routes of web installed"

	l := startLoop(e.url(), e.host)
	out := deploy(app(testenv.WebappV2, 2))
	time.Sleep(50 * time.Millisecond)
	l.close()
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests failed during the update of two replicas: %v", n, l.total.Load(), l.errors())
	}
	if strings.Contains(out, reloaded) {
		t.Errorf("an update with the same routes reloaded the proxy:\n%s", out)
	}
	e.wantServes("hello v2")
	if got := files(); len(got) != 2 || !strings.HasPrefix(got[0], "1=") || !strings.HasPrefix(got[1], "2=") || got[0][2:] == got[1][2:] {
		t.Errorf("upstream files of two replicas: %q, want 1 and 2 with two addresses", got)
	}
	if n := running(); n != 2 {
		t.Errorf("%d containers run, want 2", n)
	}

	if out := deploy(app(testenv.WebappV1, 1)); !strings.Contains(out, reloaded) {
		t.Errorf("scaling to one replica (new routes) did not reload the proxy:\n%s", out)
	}
	e.wantServes("hello")
	if got := files(); len(got) != 1 || !strings.HasPrefix(got[0], "1=") {
		t.Errorf("upstream files after scaling to one: %q", got)
	}
	if n := running(); n != 1 {
		t.Errorf("%d containers run, want 1", n)
	}
}

// TestProxyCancelledSwitch: a deploy cancelled while the new containers
// start (the client gives up) leaves the old ones serving, with no
// failed request; the next deploy switches to the new release and
// leaves one container.
func TestProxyCancelledSwitch(t *testing.T) {
	e := newProxyEnv(t)
	e.deployProxy()
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.wantServes("hello")

	l := startLoop(e.url(), e.host)
	plan, err := e.target.Plan(e.app(testenv.WebappV2, map[string]string{"HEALTHY_AFTER": "30s"}))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the switch has started the new container.
		for range 600 {
			if strings.Contains(rec.output(), "started beside the old containers") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	rep, err := destination.Deploy(ctx, e.ex, plan, &destination.Options{Observer: rec})
	cancel()
	time.Sleep(2 * time.Second)
	l.close()
	if err == nil {
		t.Fatalf("the cancelled deploy succeeded\n%s", rep)
	}
	t.Logf("cancelled deploy: %v (outcome %s)", err, rep.Outcome)
	if n := l.failed.Load(); n != 0 || l.total.Load() == 0 {
		t.Errorf("%d of %d requests failed around the cancelled deploy: %v", n, l.total.Load(), l.errors())
	}
	e.wantServes("hello")

	e.mustDeploy(e.app(testenv.WebappV2, nil))
	e.wantServes("hello v2")
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+e.target.Project).Output()
	if n := len(strings.Fields(string(out))); n != 1 {
		t.Errorf("after the next deploy %d containers are left, want 1", n)
	}
}
