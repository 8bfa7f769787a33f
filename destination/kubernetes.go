package destination

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Kubernetes deploys a stack to a Kubernetes cluster through a host
// that has kubectl. The zero value uses kubectl's defaults (its kubeconfig,
// current context, the "default" namespace).
//
// Its plan checks kubectl, the kubeconfig and the access to the
// namespace, then applies the manifests server-side with ferry's field
// manager, prunes the app's objects that the manifests no longer hold,
// and waits for `kubectl rollout status` of every workload at once: a
// deploy of one app that prunes nothing runs three kubectl processes
// (get, apply, rollout status), and a fourth (delete) when there is
// something to prune. A stack applies its services' manifests in
// dependency order, one kubectl for the files up to each service that
// another waits for to be healthy, then waits for that service's
// rollout; a stack whose services wait for none runs three kubectl
// processes too.
//
// Pruning is label-scoped and explicit: the check lists the app's
// objects of the allowlist's kinds, those labelled with the app's
// app.kubernetes.io/instance and managed-by=ferry, with one `kubectl
// get`, which is also its check of access to the namespace; after the
// apply, one `kubectl delete` removes those whose names are not in the
// manifests. (kubectl's own --prune does not work with server-side
// apply, and its applysets are still alpha.) Listing needs only the
// right to read: a user who may read the namespace but not write to it
// passes the check and fails at the apply, refused by the API server
// for every object, so nothing changes. Rollback runs
// `kubectl rollout undo` (for a single service), then applies the
// previous release's manifests again; the first release of a stack is
// deleted instead.
//
// Applies use --force-conflicts: ferry owns the objects it creates, and
// takes back fields that `kubectl rollout undo` or hand edits changed.
type Kubernetes struct {
	// Dir is the directory on the kubectl host holding the stacks'
	// manifests; each stack gets Dir/<name>. Empty means [DefaultDir].
	Dir string
	// Kubeconfig is the kubeconfig's path on the kubectl host. Empty
	// means kubectl's default ($KUBECONFIG or ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context. Empty means its current one.
	Context string
	// Namespace is the namespace of the app's objects. Empty means
	// "default".
	Namespace string
	// CreateNamespace adds the Namespace object to the manifests.
	CreateNamespace bool
	// IngressClass sets the Ingress's class. Empty means the cluster's
	// default class.
	IngressClass string
	// FieldManager is the server-side apply field manager. Empty means
	// "ferry".
	FieldManager string
	// Kubectl is the kubectl program on the host. Empty means "kubectl".
	Kubectl string
	// PruneAllowlist lists the kinds that may be pruned, as
	// group/version/Kind ("core/v1/Service", "apps/v1/Deployment"). Nil means the kinds the
	// translator creates except PersistentVolumeClaim, so that removing a
	// volume from an app never deletes its data.
	PruneAllowlist []string
	// Timeout bounds `kubectl rollout status`. Zero means 5 minutes.
	Timeout time.Duration
}

const defaultKubernetesTimeout = 5 * time.Minute

// DefaultPruneAllowlist returns the prune allowlist used when
// [Kubernetes.PruneAllowlist] is nil, a new slice on every call.
func DefaultPruneAllowlist() []string { return slices.Clone(defaultPruneAllowlist) }

var defaultPruneAllowlist = []string{
	"core/v1/ConfigMap",
	"core/v1/Secret",
	"core/v1/Service",
	"apps/v1/Deployment",
	"apps/v1/StatefulSet",
	"networking.k8s.io/v1/Ingress",
}

// ManifestFile is the name of the manifests file in the directory of a
// stack of one service (a single app); see [ManifestDir] for stacks of
// several.
const ManifestFile = "manifest.yaml"

// Plan implements [Target]: it plans app as a stack of one.
func (k Kubernetes) Plan(app *translate.App) (*Plan, error) { return planApp(app, k.plan) }

// PlanStack implements [Target]. It deploys the translation of the
// stack's services (never [translate.Stack.Compose]) in dependency
// order: each service is applied on its own, and a service that another
// waits for with condition service_healthy must finish its rollout (its
// pods Ready) before the next service is applied.
func (k Kubernetes) PlanStack(stack *translate.Stack) (*Plan, error) {
	return planStack(stack, k.plan)
}

// kubePlan is what the steps of a Kubernetes plan are made from.
type kubePlan struct {
	k         Kubernetes
	s         *stackPlan
	ns        string
	objects   []translate.Object
	workloads []translate.Object
	timeout   time.Duration
}

// kc returns kubectl's argv with the target's global flags, then args.
func (kp *kubePlan) kc(args ...string) []string {
	out := []string{kp.k.Kubectl}
	if out[0] == "" {
		out[0] = "kubectl"
	}
	if kp.k.Kubeconfig != "" {
		out = append(out, "--kubeconfig", kp.k.Kubeconfig)
	}
	if kp.k.Context != "" {
		out = append(out, "--context", kp.k.Context)
	}
	return append(out, args...)
}

func (k Kubernetes) plan(s *stackPlan) (*Plan, error) {
	kp := &kubePlan{k: k, s: s, ns: k.Namespace, timeout: k.Timeout}
	if kp.ns == "" {
		kp.ns = "default"
	}
	if kp.timeout <= 0 {
		kp.timeout = defaultKubernetesTimeout
	}
	files, err := kp.translate()
	if err != nil {
		return nil, err
	}
	// Kubernetes always deploys the translation: the stack's warnings
	// apply even when it has Stack.Compose.
	p, err := newPlan("kubernetes", s, appDir(k.Dir, DefaultDir, s.Name), files, kp.timeout, kp.warnings())
	if err != nil {
		return nil, err
	}
	prune, access, pruneScript, err := kp.prune()
	if err != nil {
		return nil, err
	}
	p.Check = kp.check(p.Dir, access)
	if mk, ok := mkdirStep(files); ok {
		p.Check.Steps = append(p.Check.Steps, mk)
	}
	p.Apply = &executor.Pipeline{Name: "apply", Dir: p.Dir, Steps: append(kp.applySteps(p.guard()), prune...)}
	p.Verify = &executor.Pipeline{Name: "verify", Dir: p.Dir}
	// One kubectl waits for every workload's rollout, one after the
	// other, each within the timeout.
	p.Verify.Steps = []executor.Step{{Name: "rollout status " + strings.Join(refs(kp.workloads), " "),
		Args: kp.status(kp.workloads...), Timeout: time.Duration(len(kp.workloads)) * p.guard()}}
	var undo strings.Builder
	for _, w := range kp.workloads {
		fmt.Fprintf(&undo, "%s || echo \"nothing to undo for %s\"\n", quoted(kp.kc("rollout", "undo", ref(w), "--namespace", kp.ns)...), ref(w))
	}
	del := kp.kc("delete", "--namespace", kp.ns, "-f", kp.manifest(), "--ignore-not-found", "--wait=false")
	restore := restoreScript
	if len(kp.s.order) > 1 {
		// The previous release's files, and no file of a service it did
		// not have: apply -f of the directory must not bring that back.
		restore = "if [ -d .ferry/current ]; then rm -rf " + ManifestDir + "; fi\n" + restore
	}
	p.Rollback = &executor.Pipeline{Name: "rollback", Dir: p.Dir, Steps: []executor.Step{
		{Name: "restore previous files", Script: restore},
		{Name: "rollout undo", Script: ifPrevious(undo.String(), "")},
		{Name: "apply previous release", Script: ifPrevious(pruneScript,
			quoted(del...)+"\necho \"no previous release: deleted the new objects\"\n")},
		{Name: "rollout status", Script: ifPrevious(kp.waitAll(), ""), Timeout: p.guard()},
	}}
	if len(kp.s.order) > 1 {
		// A service the failed release did not change would be undone to
		// an older revision until the previous manifests are applied:
		// applying them alone brings every service back.
		p.Rollback.Steps = slices.Delete(p.Rollback.Steps, 1, 2)
	}
	p.Diagnose = kubeDiagnosis(p.Dir, kp.kc, kp.ns, kp.selector(), kp.s.names())
	p.Remove = kubeRemove(p.Dir, kp.kc, kp.ns, kp.selector(), kp.removable())
	p.kube = &kubeAccess{kubectl: kp.kc(), namespace: kp.ns} // for the image pull Secret (registry.go)
	return p.withSecrets(s), nil
}

// waitAll waits, with one kubectl, for the rollout of every workload in
// the manifests on the host: in a rollback, the previous release's,
// which may have other services than this plan.
func (kp *kubePlan) waitAll() string {
	get := kp.kc("get", "-f", kp.manifest(), "--namespace", kp.ns, "-o", "name")
	status := kp.kc("rollout", "status", "$ws", "--namespace", kp.ns, "--timeout="+seconds(kp.timeout)+"s")
	return strings.ReplaceAll(fmt.Sprintf("ws=$(%s | grep -E '^(deployment|statefulset)[.]apps/' || true)\n[ -z \"$ws\" ] || %s\n",
		quoted(get...), quoted(status...)), "'$ws'", `$ws`)
}

// ManifestDir is the directory, in a stack's directory, of the
// manifests of a stack of several services: one file per service,
// numbered in dependency order, after one file of the objects of the
// whole stack (the Namespace), if any.
const ManifestDir = "manifests"

// translate translates the stack into its objects and the files that
// hold them: [ManifestFile] for a single service; for several, one
// file per service under [ManifestDir], so that each can be applied in
// turn.
func (kp *kubePlan) translate() ([]translate.File, error) {
	opts := []translate.KubernetesOption{translate.WithNamespace(kp.ns), translate.WithCreateNamespace(kp.k.CreateNamespace)}
	if kp.k.IngressClass != "" {
		opts = append(opts, translate.WithIngressClass(kp.k.IngressClass))
	}
	var err error
	if kp.objects, err = stackObjects(kp.s, opts); err != nil {
		return nil, err
	}
	for _, o := range kp.objects {
		if o.Workload() {
			kp.workloads = append(kp.workloads, o)
		}
	}
	for _, a := range kp.s.order {
		if !slices.ContainsFunc(kp.workloads, func(o translate.Object) bool { return o.Service == a.Name }) {
			return nil, fmt.Errorf("destination: service %s has no Deployment or StatefulSet", a.Name)
		}
	}
	if len(kp.s.order) == 1 {
		return []translate.File{manifestFile(ManifestFile, kp.objects)}, nil
	}
	var files []translate.File
	if whole := kp.serviceObjects(""); len(whole) > 0 {
		files = append(files, manifestFile(path.Join(ManifestDir, "00-"+kp.s.Name+".yaml"), whole))
	}
	for i, a := range kp.s.order {
		files = append(files, manifestFile(kp.serviceFile(i, a.Name), kp.serviceObjects(a.Name)))
	}
	return files, nil
}

// serviceObjects returns the objects of one service ("": of the whole
// stack), in order.
func (kp *kubePlan) serviceObjects(service string) []translate.Object {
	var out []translate.Object
	for _, o := range kp.objects {
		if o.Service == service {
			out = append(out, o)
		}
	}
	return out
}

// serviceFile is the manifest file of the i-th service in dependency
// order.
func (kp *kubePlan) serviceFile(i int, service string) string {
	return path.Join(ManifestDir, fmt.Sprintf("%02d-%s.yaml", i+1, service))
}

// manifest is what kubectl -f takes to act on every object: the
// manifest file, or the directory of the files.
func (kp *kubePlan) manifest() string {
	if len(kp.s.order) == 1 {
		return ManifestFile
	}
	return ManifestDir
}

func manifestFile(name string, objs []translate.Object) translate.File {
	return translate.File{Path: name, Data: translate.Manifest(objs), Mode: 0o600, Secret: translate.HasSecret(objs)}
}

// warnings says what Kubernetes does differently from Compose with the
// stack's dependencies.
func (kp *kubePlan) warnings() []translate.Warning {
	var out []translate.Warning
	if kp.s.Compose != nil {
		out = slices.Clone(kp.s.Warnings)
	}
	for _, a := range kp.s.order {
		for i, d := range a.DependsOn {
			if d.Condition == translate.ConditionCompleted {
				out = append(out, translate.Warning{Service: a.Name, Key: fmt.Sprintf("depends_on[%d].condition", i),
					Message: fmt.Sprintf("%s: Kubernetes does not wait for %s to complete; %s is applied after it", d.Condition, d.Service, a.Name)})
			}
		}
	}
	return out
}

// apply is the server-side apply of file (a file or directory).
func (kp *kubePlan) apply(files ...string) []string {
	manager := kp.k.FieldManager
	if manager == "" {
		manager = "ferry"
	}
	args := []string{"apply", "--server-side", "--field-manager=" + manager, "--force-conflicts", "--namespace", kp.ns}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return kp.kc(args...)
}

// status waits for the rollout of the workloads ws with one kubectl.
func (kp *kubePlan) status(ws ...translate.Object) []string {
	return kp.kc(append(append([]string{"rollout", "status"}, refs(ws)...), "--namespace", kp.ns, "--timeout="+seconds(kp.timeout)+"s")...)
}

// refs are the workloads' kubectl references (kind/name).
func refs(ws []translate.Object) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = ref(w)
	}
	return out
}

// applySteps applies a single app at once, and the files of a stack in
// dependency order: one kubectl applies the files up to and including
// a service that another one waits for to be healthy, then one waits
// for that service's rollout, and so on; a stack whose services wait
// for none is applied by one kubectl.
func (kp *kubePlan) applySteps(guard time.Duration) []executor.Step {
	if len(kp.s.order) == 1 {
		return []executor.Step{{Name: "apply", Args: kp.apply(ManifestFile)}}
	}
	var steps []executor.Step
	var names, files []string
	if len(kp.serviceObjects("")) > 0 {
		names, files = append(names, kp.s.Name), append(files, path.Join(ManifestDir, "00-"+kp.s.Name+".yaml"))
	}
	flush := func() {
		if len(files) > 0 {
			steps = append(steps, executor.Step{Name: "apply " + strings.Join(names, ", "), Args: kp.apply(files...)})
			names, files = nil, nil
		}
	}
	for i, a := range kp.s.order {
		names, files = append(names, a.Name), append(files, kp.serviceFile(i, a.Name))
		if !kp.s.waitedOn(a.Name) {
			continue
		}
		flush()
		var ws []translate.Object
		for _, w := range kp.workloads {
			if w.Service == a.Name {
				ws = append(ws, w)
			}
		}
		if len(ws) > 0 {
			steps = append(steps, executor.Step{Name: "rollout status " + strings.Join(refs(ws), " "), Args: kp.status(ws...), Timeout: time.Duration(len(ws)) * guard})
		}
	}
	flush()
	return steps
}

// selector selects the stack's objects.
func (kp *kubePlan) selector() string {
	return translate.LabelInstance + "=" + kp.s.Name + "," + translate.LabelManagedBy + "=ferry"
}

// prune returns the step that deletes the stack's objects of the
// allowlist's kinds that the manifest no longer holds, the step of the
// check that lists them (which is also the check of access to the
// namespace), and the same as a script for the rollback. The check
// lists the stack's objects of every allowed kind with one kubectl get,
// before the apply, into listedFile; the prune deletes what is left over
// with one kubectl delete, run only when something is: a deploy that
// prunes nothing runs no kubectl to prune. The apply only adds objects
// of the manifests, so the objects to prune are all listed before it.
func (kp *kubePlan) prune() (prune []executor.Step, list executor.Step, script string, err error) {
	allow := kp.k.PruneAllowlist
	if allow == nil {
		allow = defaultPruneAllowlist
	}
	kinds := map[string]bool{}
	for _, a := range allow {
		parts := strings.Split(a, "/")
		if len(parts) != 3 {
			return nil, list, "", fmt.Errorf("destination: prune allowlist entry %q is not group/version/Kind", a)
		}
		kinds[strings.TrimPrefix(parts[0], "core")+"/"+parts[2]] = true
	}
	if len(kinds) == 0 {
		return nil, kp.accessStep(allow), quoted(kp.apply(kp.manifest())...) + "\n", nil
	}
	// kubectl get -o name prints "configmap/web", "deployment.apps/web".
	var keep []string
	for _, o := range kp.objects {
		if kinds[o.Group()+"/"+o.Kind] {
			name := strings.ToLower(o.Kind)
			if o.Group() != "" {
				name += "." + o.Group()
			}
			keep = append(keep, name+"/"+o.Name)
		}
	}
	del := kp.kc("delete", "--namespace", kp.ns, "--ignore-not-found", "--wait=false")
	if len(keep) == 0 {
		keep = []string{"-"} // matches no kubectl name
	}
	script = fmt.Sprintf("keep=$(printf '%%s\\n' %s)\n", quoted(keep...)) + pruneTail("cat "+listedFile, del)
	return []executor.Step{{Name: "prune", Script: script}}, kp.accessStep(allow), kp.applyAndPrune(allow), nil
}

// listedFile holds, in the stack's directory, the names of the stack's
// objects of the prune allowlist's kinds, as the check listed them.
const listedFile = stateDir + "/listed"

// accessStep checks kubectl's access to the namespace by listing the
// stack's objects of the allowlist's kinds (of the workloads' kinds,
// when it is empty) into listedFile, for the prune.
func (kp *kubePlan) accessStep(allow []string) executor.Step {
	resources := pruneResources(allow)
	if len(resources) == 0 {
		resources = []string{resource(kp.workloads[0])}
	}
	get := kp.kc("get", strings.Join(resources, ","), "--namespace", kp.ns, "-l", kp.selector(), "-o", "name")
	return executor.Step{
		Name: "access to namespace " + kp.ns,
		Script: fmt.Sprintf("if ! out=$(%s 2>&1 >%s); then\n  echo \"cannot list the app's objects in namespace %s:\" >&2\n  printf '%%s\\n' \"${out:-kubectl get failed}\" >&2\n  exit 1\nfi\necho \"found $(wc -l <%s | tr -d ' ') of the app's objects in namespace %s\"\n",
			quoted(get...), listedFile, kp.ns, listedFile, kp.ns),
	}
}

// applyAndPrune applies the manifests on the host (in a rollback, the
// previous release's, not this plan's) and deletes the stack's objects
// of the allowlist's kinds that they do not hold, so that what the
// failed release added goes too.
func (kp *kubePlan) applyAndPrune(allow []string) string {
	apply := append(kp.apply(kp.manifest()), "-o", "name")
	get := kp.kc("get", strings.Join(pruneResources(allow), ","), "--namespace", kp.ns, "-l", kp.selector(), "-o", "name")
	del := kp.kc("delete", "--namespace", kp.ns, "--ignore-not-found", "--wait=false")
	return fmt.Sprintf("keep=$(%s) || exit\nprintf '%%s\\n' \"$keep\"\n", quoted(apply...)) + pruneTail(quoted(get...), del)
}

// pruneTail deletes, with del, what the shell command list prints and
// $keep does not hold.
func pruneTail(list string, del []string) string {
	return fmt.Sprintf(`all=$(%s)
old=$(printf '%%s\n' "$all" | grep -vxF "$keep" || true)
if [ -z "$old" ]; then
  echo "nothing to prune"
else
  %s $old
fi
`, list, quoted(del...))
}

// removable lists the resources Remove deletes: those of the prune
// allowlist.
func (kp *kubePlan) removable() []string {
	allow := kp.k.PruneAllowlist
	if allow == nil {
		allow = defaultPruneAllowlist
	}
	return pruneResources(allow)
}

// check verifies kubectl and the kubeconfig, then runs access, the
// check of access to the namespace.
func (kp *kubePlan) check(dir string, access executor.Step) *executor.Pipeline {
	check := &executor.Pipeline{Name: "check", Dir: dir, Steps: []executor.Step{
		{Name: "kubectl", Script: fmt.Sprintf("command -v %[1]s >/dev/null || { echo \"%[1]s: not found on the PATH\" >&2; exit 127; }\necho \"kubectl: $(command -v %[1]s)\"\n", quoted(kp.kc()[0]))},
	}}
	if kc := kp.k.Kubeconfig; kc != "" {
		check.Steps = append(check.Steps, executor.Step{Name: "kubeconfig", Script: fmt.Sprintf(
			"if [ ! -r %[1]s ]; then\n  echo \"kubeconfig %[1]s: no such file, or not readable\" >&2\n  exit 1\nfi\necho \"kubeconfig %[1]s\"\n",
			quoted(kc))})
	}
	check.Steps = append(check.Steps, access)
	return check
}

// ref is how kubectl names the object: "deployment/web".
func ref(o translate.Object) string { return strings.ToLower(o.Kind) + "/" + o.Name }

// resource is the object's resource, as kubectl get takes it:
// "deployments.apps".
func resource(o translate.Object) string { return strings.ToLower(o.Kind) + "s." + o.Group() }
