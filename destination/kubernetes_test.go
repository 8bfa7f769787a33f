package destination_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

type kubeEnv struct {
	t          *testing.T
	ex         executor.Executor
	kubeconfig string
	ns         string
	target     destination.Kubernetes
}

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	kc := testenv.Kubeconfig(t)
	e := &kubeEnv{t: t, kubeconfig: kc, ns: testenv.Namespace(t, kc), ex: dialSSHD(t)}
	e.target = destination.Kubernetes{Dir: t.TempDir(), Kubeconfig: kc, Namespace: e.ns, Timeout: 60 * time.Second}
	return e
}

func (e *kubeEnv) kubectl(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", e.kubeconfig, "-n", e.ns}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (e *kubeEnv) deploy(app *translate.App) (*destination.Report, error) {
	e.t.Helper()
	plan, err := e.target.Plan(app)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := destination.Deploy(ctx, e.ex, plan, nil)
	e.t.Logf("deploy %s: %s in %s", app.Image, rep.Outcome, time.Since(start).Round(time.Millisecond))
	return rep, err
}

func (e *kubeEnv) mustDeploy(app *translate.App) {
	e.t.Helper()
	if rep, err := e.deploy(app); err != nil {
		e.t.Fatalf("deploy: %v\n%s", err, rep)
	}
}

// replicaSets lists the app's ReplicaSets as "name image replicas".
func (e *kubeEnv) replicaSets() []string {
	out := e.kubectl("get", "replicasets", "-l", "app.kubernetes.io/instance=web", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.template.spec.containers[0].image} {.status.readyReplicas}{"\n"}{end}`)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func kubeApp(image string) *translate.App {
	return &translate.App{
		Name:     "web",
		Image:    image,
		Replicas: 2,
		Ports:    []translate.Port{{Container: 8080}},
		Domains:  []translate.Domain{{Host: "web.example.com"}},
		Aliases:  []string{"www"},
		Secrets:  []translate.Secret{{Name: "token", Value: "first-secret", Env: "TOKEN"}},
	}
}

// TestKubernetes walks an app through its life on a real API server:
// first rollout, unchanged redeploy, image change, an unschedulable
// update rolled back, a changed Secret rolling the pods, and pruning.
func TestKubernetes(t *testing.T) {
	e := newKubeEnv(t)
	app := kubeApp(testenv.WebappV1)

	e.mustDeploy(app)
	if got := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"); got != "2" {
		t.Errorf("ready replicas %q, want 2", got)
	}
	managers := e.kubectl("get", "deployment", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if !strings.Contains(managers, "ferry") {
		t.Errorf("field managers %q lack ferry", managers)
	}
	e.kubectl("get", "service", "web")
	e.kubectl("get", "service", "www")
	e.kubectl("get", "ingress", "web")

	// Unchanged: no object changes.
	state := func() string {
		return e.kubectl("get", "deployment,service,secret,configmap,ingress", "-l", "app.kubernetes.io/instance=web",
			"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}:{.metadata.generation}:{.metadata.resourceVersion} {end}`)
	}
	before, rsBefore := state(), e.replicaSets()
	e.mustDeploy(app)
	if after := state(); after != before {
		t.Errorf("unchanged deploy changed objects:\n%s\n%s", before, after)
	}
	if rs := e.replicaSets(); strings.Join(rs, ",") != strings.Join(rsBefore, ",") {
		t.Errorf("unchanged deploy changed ReplicaSets: %v -> %v", rsBefore, rs)
	}

	// Image change: a new ReplicaSet.
	v2 := kubeApp(testenv.WebappV2)
	e.mustDeploy(v2)
	rs := e.replicaSets()
	if len(rs) != 2 || !strings.Contains(strings.Join(rs, ","), testenv.WebappV2+" 2") {
		t.Errorf("after the image change ReplicaSets = %v, want a new one with 2 ready", rs)
	}

	// Unschedulable update: rollout fails, undo, the v2 ReplicaSet still
	// serves.
	e.target.Timeout = 15 * time.Second
	bad := kubeApp(testenv.WebappV1)
	bad.Resources.Requests.CPU = "500"
	rep, err := e.deploy(bad)
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "verify" || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("unschedulable deploy: err %v outcome %s\n%s", err, rep.Outcome, rep)
	}
	t.Logf("unschedulable: %v\n%s", err, rep)
	e.target.Timeout = 60 * time.Second
	if img := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != testenv.WebappV2 {
		t.Errorf("after rollback the Deployment runs %s, want %s", img, testenv.WebappV2)
	}
	if got := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}"); got != "2/2" {
		t.Errorf("after rollback ready/updated = %s, want 2/2", got)
	}
	if req := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}"); req != "" {
		t.Errorf("after rollback the Deployment still requests cpu %s", req)
	}

	// A changed Secret rolls the pods.
	rsBefore = e.replicaSets()
	changed := kubeApp(testenv.WebappV2)
	changed.Secrets[0].Value = "second-secret"
	e.mustDeploy(changed)
	if rs := e.replicaSets(); len(rs) <= len(rsBefore) {
		t.Errorf("a changed Secret rolled no new ReplicaSet: %v -> %v", rsBefore, rs)
	}

	// Pruning: the Ingress and the alias Service are gone with them.
	pruned := kubeApp(testenv.WebappV2)
	pruned.Secrets[0].Value = "second-secret"
	pruned.Domains, pruned.Aliases = nil, nil
	e.mustDeploy(pruned)
	if out := e.kubectl("get", "ingress,service", "-l", "app.kubernetes.io/instance=web", "-o", "name"); strings.Contains(out, "ingress") || strings.Contains(out, "service/www") {
		t.Errorf("not pruned: %s", out)
	}
	e.kubectl("get", "service", "web")

	var hist []destination.Record
	plan, _ := e.target.Plan(app)
	hist, err = destination.History(context.Background(), e.ex, plan.Dir)
	if err != nil || len(hist) != 6 {
		t.Errorf("history: %d records, %v", len(hist), err)
	}
}

// TestKubernetesBadInput: a missing kubeconfig and a forbidden namespace
// fail at their check step, naming the host, and change nothing.
func TestKubernetesBadInput(t *testing.T) {
	e := newKubeEnv(t)
	app := kubeApp(testenv.WebappV1)

	missing := e.target
	missing.Kubeconfig = filepath.Join(t.TempDir(), "nope")
	plan, err := missing.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	_, err = destination.Deploy(context.Background(), e.ex, plan, nil)
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "check" || de.Step != "kubeconfig" || !strings.Contains(err.Error(), e.ex.Host()) || de.Outcome != destination.OutcomeFailed {
		t.Errorf("missing kubeconfig: %v", err)
	}
	t.Logf("missing kubeconfig: %v", err)

	// A service account with no role: forbidden everywhere.
	e.kubectl("create", "serviceaccount", "nobody")
	token := e.kubectl("create", "token", "nobody")
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	raw := e.kubectl("config", "view", "--raw", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil || len(cfg.Clusters) == 0 {
		t.Fatalf("kubeconfig: %v", err)
	}
	restricted := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(restricted, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+cfg.Clusters[0].Cluster.Server+`", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: "`+token+`"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	forbidden := e.target
	forbidden.Kubeconfig = restricted
	plan, err = forbidden.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	_, err = destination.Deploy(context.Background(), e.ex, plan, nil)
	if !errors.As(err, &de) || de.Phase != "check" || !strings.HasPrefix(de.Step, "access to namespace") || !strings.Contains(err.Error(), e.ns) {
		t.Errorf("forbidden namespace: %v", err)
	}
	t.Logf("forbidden namespace: %v", err)
	if out := e.kubectl("get", "deployments", "-o", "name"); out != "" {
		t.Errorf("objects created: %s", out)
	}
}
