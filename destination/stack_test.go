package destination_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// Start delays of the test stack's services: each one's /healthz answers
// 503 for that long, so a dependant started too early is visible.
const (
	dbHealthyAfter  = 3 * time.Second
	apiHealthyAfter = 2 * time.Second
)

// testStack is web -> api -> db, each waiting for the next to be
// healthy: db has a named volume, api a secret file, web a domain (with
// Traefik labels on Docker). Each answers "/" with its name and the
// given suffix. port publishes web's 8080 on the host (0: not at all).
func testStack(name string, port int, suffix string) *translate.Stack {
	health := func(after time.Duration) *translate.Health {
		return &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"},
			Interval: time.Second, Timeout: 2 * time.Second, Retries: 2, StartPeriod: after + 2*time.Second}
	}
	web := &translate.App{
		Name: "web", Image: testenv.WebappV1,
		Ports:     []translate.Port{{Container: 8080, Host: port}},
		Domains:   []translate.Domain{{Host: name + ".example.test"}},
		Env:       map[string]string{"MESSAGE": "web" + suffix},
		Health:    health(0),
		DependsOn: []translate.Dependency{{Service: "api", Condition: translate.ConditionHealthy}},
	}
	api := &translate.App{
		Name: "api", Image: testenv.WebappV1,
		Ports:     []translate.Port{{Container: 8080}},
		Env:       map[string]string{"MESSAGE": "api" + suffix, "HEALTHY_AFTER": apiHealthyAfter.String()},
		Secrets:   []translate.Secret{{Name: "token", Value: "api-secret-" + name, File: "/run/secrets/token"}},
		Health:    health(apiHealthyAfter),
		DependsOn: []translate.Dependency{{Service: "db", Condition: translate.ConditionHealthy}},
	}
	db := &translate.App{
		Name: "db", Image: testenv.WebappV1,
		Ports:   []translate.Port{{Container: 8080}},
		Env:     map[string]string{"MESSAGE": "db" + suffix, "HEALTHY_AFTER": dbHealthyAfter.String()},
		Volumes: []translate.Volume{{Name: "data", Target: "/data"}},
		Health:  health(dbHealthyAfter),
	}
	return &translate.Stack{Name: name, Services: []*translate.App{web, api, db}}
}

func deployStack(t *testing.T, ex executor.Executor, target destination.Target, s *translate.Stack) (*destination.Report, error) {
	t.Helper()
	plan, err := target.PlanStack(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := destination.Deploy(ctx, ex, plan, nil)
	t.Logf("deploy of stack %s to %s: %s in %s", s.Name, plan.Target, rep.Outcome, time.Since(start).Round(time.Millisecond))
	return rep, err
}

// httpGet fetches url until it answers 200 or tries run out, and returns
// the last body or error.
func httpGet(url string, tries int) (string, bool) {
	c := &http.Client{Timeout: 5 * time.Second}
	var last string
	for i := 0; i < tries; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = strings.TrimSpace(string(b))
			if resp.StatusCode == http.StatusOK {
				return last, true
			}
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return last, false
}

// call makes web (at base) fetch url by name.
func call(base, target string) string {
	body, _ := httpGet(base+"/call?url="+url.QueryEscape(target), 20)
	return body
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// composeContainers returns, per service of the project, the container's
// "id started-at health".
func composeContainers(t *testing.T, project string) map[string]string {
	t.Helper()
	ids := strings.Fields(docker(t, "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+project))
	out := map[string]string{}
	for _, id := range ids {
		line := docker(t, "inspect", "-f", `{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}} {{if .State.Health}}{{.State.Health.Status}}{{end}}`, id)
		svc, rest, _ := strings.Cut(line, " ")
		out[svc] = rest
	}
	return out
}

func startedAt(t *testing.T, state string) time.Time {
	t.Helper()
	f := strings.Fields(state)
	ts, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestDockerStack deploys a three-service stack to the Docker engine
// over real SSH: start order, names, secret file, volume, proxy labels,
// a no-op redeploy and a failed update of one service rolling back the
// whole stack.
func TestDockerStack(t *testing.T) {
	testenv.WebappImage(t)
	testenv.Compose(t)
	ex := dialSSHD(t)
	port := freePort(t)
	name := randomName("ferrystack-")
	network := name + "-net"
	target := destination.Docker{Dir: t.TempDir(), Network: network, Timeout: 90 * time.Second}
	t.Cleanup(func() {
		if ids := strings.Fields(dockerOut("ps", "-aq", "--filter", "label=com.docker.compose.project="+name)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "volume", "rm", name+"_db-data").Run()
		exec.Command("docker", "network", "rm", network, name+"_default").Run()
	})

	rep, err := deployStack(t, ex, target, testStack(name, port, ""))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	first := composeContainers(t, name)
	for _, svc := range []string{"db", "api", "web"} {
		if f := strings.Fields(first[svc]); len(f) != 3 || f[2] != "healthy" {
			t.Errorf("service %s: %q, want a healthy container", svc, first[svc])
		}
	}
	// Each service started once its dependency was healthy, which takes
	// the dependency's HEALTHY_AFTER.
	db, api, web := startedAt(t, first["db"]), startedAt(t, first["api"]), startedAt(t, first["web"])
	if api.Sub(db) < dbHealthyAfter || web.Sub(api) < apiHealthyAfter {
		t.Errorf("start order: db %s, api %s, web %s: api must start %s after db, web %s after api",
			db.Format(time.StampMilli), api.Format(time.StampMilli), web.Format(time.StampMilli), dbHealthyAfter, apiHealthyAfter)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if got, _ := httpGet(base+"/", 20); got != "web" {
		t.Errorf("web: %q", got)
	}
	for svc, want := range map[string]string{
		"http://api:8080/": "api", "http://db:8080/": "db",
		"http://api:8080/file?path=/run/secrets/token": "api-secret-" + name,
	} {
		if got := call(base, svc); got != want {
			t.Errorf("web -> %s: %q, want %q", svc, got, want)
		}
	}
	if got := docker(t, "volume", "inspect", "-f", "{{.Name}}", name+"_db-data"); got != name+"_db-data" {
		t.Errorf("volume: %q", got)
	}
	webID := strings.Fields(first["web"])[0]
	if rule := docker(t, "inspect", "-f", `{{index .Config.Labels "traefik.http.routers.`+name+`-web-0.rule"}}`, webID); rule != "Host(`"+name+".example.test`)" {
		t.Errorf("traefik rule label: %q", rule)
	}

	// A no-op redeploy changes nothing: same containers, not restarted.
	if rep, err := deployStack(t, ex, target, testStack(name, port, "")); err != nil || rep.Release != 2 {
		t.Fatalf("redeploy: %v\n%s", err, rep)
	}
	if again := composeContainers(t, name); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("a no-op redeploy changed the containers:\n%v\n%v", first, again)
	}

	// An update whose api never gets healthy rolls back the whole stack.
	bad := testStack(name, port, " v2")
	bad.Service("api").Env["FAIL_HEALTH"] = "1"
	rep, err = deployStack(t, ex, target, bad)
	var de *destination.Error
	if !errors.As(err, &de) || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failing update: outcome %s, err %v\n%s", rep.Outcome, err, rep)
	}
	t.Logf("failing update: %v", err)
	after := composeContainers(t, name)
	for _, svc := range []string{"db", "api", "web"} {
		if f := strings.Fields(after[svc]); len(f) != 3 || f[2] != "healthy" {
			t.Errorf("after the rollback, service %s: %q", svc, after[svc])
		}
	}
	if got, _ := httpGet(base+"/", 20); got != "web" {
		t.Errorf("after the rollback web says %q, want the previous release's \"web\"", got)
	}
	if got := call(base, "http://api:8080/"); got != "api" {
		t.Errorf("after the rollback api says %q, want \"api\"", got)
		t.Logf("containers: %s", dockerOut("ps", "-a", "--filter", "label=com.docker.compose.project="+name, "--format", "{{.Names}} {{.Status}} {{.Networks}}"))
	}
	plan, err := target.PlanStack(testStack(name, port, ""))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := destination.History(context.Background(), ex, plan.Dir)
	if err != nil || len(recs) != 3 || recs[2].Outcome != destination.OutcomeRolledBack || recs[2].Release != 3 {
		t.Errorf("history: %+v", recs)
	}
}

func dockerOut(args ...string) string {
	out, _ := exec.Command("docker", args...).Output()
	return string(out)
}

// TestSwarmStack deploys the three-service stack to a single-node Swarm
// over real SSH: every service runs, web reaches the others by name,
// the plan warns that Swarm ignores depends_on, a no-op redeploy
// updates no service, and a failed update of api rolls back the stack.
func TestSwarmStack(t *testing.T) {
	swarmManager(t)
	testenv.WebappImage(t)
	ex := dialSSHD(t)
	name := randomName("ferryswarmstack")
	network := name + "-net"
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: name, Timeout: 90 * time.Second}
	t.Cleanup(func() {
		exec.Command("docker", "stack", "rm", name).Run()
		for i := 0; i < 20 && strings.TrimSpace(dockerOut("ps", "-aq", "--filter", "label=com.docker.stack.namespace="+name)) != ""; i++ {
			time.Sleep(500 * time.Millisecond)
		}
		exec.Command("docker", "network", "rm", network).Run()
		exec.Command("docker", "volume", "rm", name+"_db-data").Run()
	})
	plan, err := target.PlanStack(testStack(name, 0, ""))
	if err != nil {
		t.Fatal(err)
	}
	if w := fmt.Sprint(plan.Warnings); !strings.Contains(w, "service api: depends_on: left out") || !strings.Contains(w, "service web: depends_on: left out") {
		t.Errorf("plan warnings: %s", w)
	}
	if rep, err := deployStack(t, ex, target, testStack(name, 0, "")); err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	services := func() string {
		return docker(t, "service", "ls", "--filter", "label=com.docker.stack.namespace="+name, "--format", "{{.Name}} {{.Replicas}}")
	}
	// The running containers: a no-op redeploy must not replace any.
	versions := func() string {
		ids := strings.Fields(docker(t, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+name))
		slices.Sort(ids)
		return strings.Join(ids, " ")
	}
	for _, svc := range []string{"db", "api", "web"} {
		if !strings.Contains(services(), name+"_"+svc+" 1/1") {
			t.Errorf("service %s does not run: %s", svc, services())
		}
	}
	// Names resolve through Swarm's DNS; tasks.<service> gives the tasks'
	// own addresses (the service's virtual IP needs IPVS, which the test
	// machines' kernels may lack).
	base := "http://" + swarmTaskAddr(t, name, "web") + ":8080"
	for svc, want := range map[string]string{
		"http://tasks.api:8080/": "api", "http://tasks.db:8080/": "db",
		"http://tasks.api:8080/file?path=/run/secrets/token": "api-secret-" + name,
	} {
		if got := call(base, svc); got != want {
			t.Errorf("web -> %s: %q, want %q", svc, got, want)
		}
	}

	before := versions()
	if rep, err := deployStack(t, ex, target, testStack(name, 0, "")); err != nil {
		t.Fatalf("redeploy: %v\n%s", err, rep)
	}
	if after := versions(); after != before {
		t.Errorf("a no-op redeploy updated services: %s -> %s", before, after)
	}

	// api fails its health check within Swarm's update monitor window
	// (5s), so the update itself fails. (Later failures are seen only
	// while verify still polls: see the Swarm target's doc.)
	bad := testStack(name, 0, " v2")
	bad.Service("api").Env["FAIL_HEALTH"] = "1"
	bad.Service("api").Health.StartPeriod = 0
	target.Timeout = 20 * time.Second
	rep, err := deployStack(t, ex, target, bad)
	if rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failing update: outcome %s, err %v\n%s", rep.Outcome, err, rep)
	}
	for _, svc := range []string{"api", "web"} {
		env := docker(t, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Env}}", name+"_"+svc)
		if strings.Contains(env, "v2") || strings.Contains(env, "FAIL_HEALTH") {
			t.Errorf("after the rollback %s has env %s", svc, env)
		}
	}
}

// swarmTaskAddr returns the address of the running task of a stack's
// service on docker_gwbridge, which the host reaches (the routing mesh
// may not route loopback here).
func swarmTaskAddr(t *testing.T, stack, service string) string {
	t.Helper()
	for range 40 {
		ids := strings.Fields(dockerOut("ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+stack+"_"+service))
		if len(ids) > 0 {
			out := dockerOut("network", "inspect", "--format",
				`{{range $id, $c := .Containers}}{{if eq $id "`+ids[0]+`"}}{{$c.IPv4Address}}{{end}}{{end}}`, "docker_gwbridge")
			if ip, _, _ := strings.Cut(strings.TrimSpace(out), "/"); ip != "" {
				return ip
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no running task of %s_%s", stack, service)
	return ""
}

// TestDockerStackCompose deploys a stack loaded from compose files: the
// Docker target runs Stack.Compose as it is, so what the translation
// cannot express (here stop_signal and a healthcheck with start_interval)
// reaches the containers.
func TestDockerStackCompose(t *testing.T) {
	testenv.WebappImage(t)
	testenv.Compose(t)
	ex := dialSSHD(t)
	name := randomName("ferrycompose-")
	t.Cleanup(func() {
		if ids := strings.Fields(dockerOut("ps", "-aq", "--filter", "label=com.docker.compose.project="+name)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "network", "rm", name+"_default", name+"-net").Run()
	})
	s := &translate.Stack{
		Name: name,
		Services: []*translate.App{
			{Name: "a", Image: testenv.WebappV1, Health: &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}}},
			{Name: "b", Image: testenv.WebappV1, DependsOn: []translate.Dependency{{Service: "a", Condition: translate.ConditionHealthy}}},
		},
		Compose: []byte(`name: ` + name + `
services:
  a:
    image: ` + testenv.WebappV1 + `
    environment:
      HEALTHY_AFTER: 2s
    healthcheck:
      test: ["CMD", "/webapp", "-healthcheck", "/healthz"]
      interval: 1s
      start_period: 5s
  b:
    image: ` + testenv.WebappV1 + `
    stop_signal: SIGINT
    depends_on:
      a:
        condition: service_healthy
`),
	}
	target := destination.Docker{Dir: t.TempDir(), Network: name + "-net", Timeout: 60 * time.Second}
	if rep, err := deployStack(t, ex, target, s); err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	got := composeContainers(t, name)
	if a, b := startedAt(t, got["a"]), startedAt(t, got["b"]); b.Sub(a) < 2*time.Second {
		t.Errorf("b started %s after a, want a's 2s to healthy", b.Sub(a))
	}
	if sig := docker(t, "inspect", "-f", "{{.Config.StopSignal}}", strings.Fields(got["b"])[0]); sig != "SIGINT" {
		t.Errorf("b's stop signal %q, want SIGINT from the compose file", sig)
	}
}

// TestKubernetesStack deploys the three-service stack to the test
// cluster over real SSH: services applied and rolled out in dependency
// order, reachable by their names as Services, a no-op redeploy that
// changes no object, and a failed update of api rolling back the stack.
func TestKubernetesStack(t *testing.T) {
	e := newKubeEnv(t)
	const name = "shop"
	rep, err := deployStack(t, e.ex, e.target, testStack(name, 0, ""))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	// The report shows each service applied after its dependency rolled
	// out; the cluster shows each Deployment created no earlier than its
	// dependency became available.
	var applied []string
	for _, s := range rep.Steps {
		if s.Phase == "apply" && !strings.HasPrefix(s.Name, "prune") {
			applied = append(applied, s.Name)
		}
	}
	want := "apply db, rollout status deployment/db, apply api, rollout status deployment/api, apply web"
	if got := strings.Join(applied, ", "); got != want {
		t.Errorf("apply steps: %s\nwant %s", got, want)
	}
	stamp := func(jsonpath, deployment string) time.Time {
		ts, err := time.Parse(time.RFC3339, e.kubectl("get", "deployment", deployment, "-o", "jsonpath="+jsonpath))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	const available = `{.status.conditions[?(@.type=="Available")].lastTransitionTime}`
	for _, pair := range [][2]string{{"db", "api"}, {"api", "web"}} {
		if ready, created := stamp(available, pair[0]), stamp("{.metadata.creationTimestamp}", pair[1]); created.Before(ready) {
			t.Errorf("%s created at %s, before %s became available at %s", pair[1], created, pair[0], ready)
		}
	}
	for _, svc := range []string{"db", "api", "web"} {
		if got := e.kubectl("get", "deployment", svc, "-o", "jsonpath={.status.readyReplicas}"); got != "1" {
			t.Errorf("deployment %s: ready replicas %q", svc, got)
		}
		sel := e.kubectl("get", "service", svc, "-o", `jsonpath={.spec.selector.app\.kubernetes\.io/name}/{.spec.selector.app\.kubernetes\.io/instance}`)
		if sel != svc+"/"+name {
			t.Errorf("service %s selects %s", svc, sel)
		}
	}
	e.kubectl("get", "ingress", "web")
	e.kubectl("get", "persistentvolumeclaim", "db-data")
	e.kubectl("get", "secret", "api-secrets")

	state := func() string {
		return e.kubectl("get", "deployment,service,secret,configmap,ingress", "-l", translate.LabelInstance+"="+name,
			"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}:{.metadata.resourceVersion} {end}`)
	}
	before := state()
	if rep, err := deployStack(t, e.ex, e.target, testStack(name, 0, "")); err != nil {
		t.Fatalf("redeploy: %v\n%s", err, rep)
	}
	if after := state(); after != before {
		t.Errorf("a no-op redeploy changed objects:\n%s\n%s", before, after)
	}

	// api cannot be scheduled: its rollout fails before web is applied,
	// and the rollback restores the whole stack, without the service the
	// update added (applied first: "admin" sorts before "api").
	e.target.Timeout = 15 * time.Second
	bad := testStack(name, 0, " v2")
	bad.Service("api").Resources.Requests.CPU = "500"
	bad.Services = append(bad.Services, &translate.App{Name: "admin", Image: testenv.WebappV1, Ports: []translate.Port{{Container: 8080}}})
	rep, err = deployStack(t, e.ex, e.target, bad)
	var de *destination.Error
	if !errors.As(err, &de) || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failing update: outcome %s, err %v\n%s", rep.Outcome, err, rep)
	}
	t.Logf("failing update: %v", err)
	e.target.Timeout = 60 * time.Second
	for _, svc := range []string{"db", "api", "web"} {
		env := e.kubectl("get", "configmap", svc+"-env", "-o", "jsonpath={.data.MESSAGE}")
		ready := e.kubectl("get", "deployment", svc, "-o", "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}")
		if env != svc || ready != "1/1" {
			t.Errorf("after the rollback %s: MESSAGE %q, ready/updated %s", svc, env, ready)
		}
	}
	if cpu := e.kubectl("get", "deployment", "api", "-o", "jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}"); cpu != "" {
		t.Errorf("after the rollback api still requests cpu %s", cpu)
	}
	if out := e.kubectl("get", "deployment,service", "-l", translate.LabelName+"=admin", "-o", "name"); out != "" {
		t.Errorf("after the rollback the added service is still there: %s", out)
	}
	for _, s := range rep.Steps {
		if s.Phase == "apply" && s.Name == "apply web" && s.Status != destination.StatusSkipped {
			t.Errorf("web was applied although api, which it waits for, failed")
		}
	}
}
