package destination

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Kubernetes deploys an app to a Kubernetes cluster through a host that
// has kubectl. The zero value uses kubectl's defaults (its kubeconfig,
// current context, the "default" namespace).
//
// Its plan checks kubectl, the kubeconfig and the right to update the
// workload in the namespace, then applies the manifests server-side with
// ferry's field manager, prunes the app's objects that the manifests no
// longer hold, and waits for `kubectl rollout status`.
//
// Pruning is label-scoped and explicit: for each kind of the allowlist,
// `kubectl delete` of the objects labelled with the app's
// app.kubernetes.io/instance and managed-by=ferry whose names are not in
// the manifests. (kubectl's own --prune does not work with server-side
// apply, and its applysets are still alpha.) Rollback runs
// `kubectl rollout undo`, then applies the previous release's manifests
// again; the first release of an app is deleted instead.
//
// Applies use --force-conflicts: ferry owns the objects it creates, and
// takes back fields that `kubectl rollout undo` or hand edits changed.
type Kubernetes struct {
	// Dir is the directory on the kubectl host holding the apps'
	// manifests; each app gets Dir/<name>. Empty means [DefaultDir].
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

// DefaultPruneAllowlist is the prune allowlist used when
// [Kubernetes.PruneAllowlist] is nil.
var DefaultPruneAllowlist = []string{
	"core/v1/ConfigMap",
	"core/v1/Secret",
	"core/v1/Service",
	"apps/v1/Deployment",
	"apps/v1/StatefulSet",
	"networking.k8s.io/v1/Ingress",
}

// ManifestFile is the name of the manifests file in the app's directory.
const ManifestFile = "manifest.yaml"

// Plan implements [Target].
func (k Kubernetes) Plan(app *translate.App) (*Plan, error) {
	if err := validate(app); err != nil {
		return nil, err
	}
	ns := k.Namespace
	if ns == "" {
		ns = "default"
	}
	opts := []translate.Option{translate.WithNamespace(ns)}
	if k.CreateNamespace {
		opts = append(opts, translate.WithCreateNamespace(true))
	}
	if k.IngressClass != "" {
		opts = append(opts, translate.WithIngressClass(k.IngressClass))
	}
	manifest, err := translate.ToKubernetes(app, opts...)
	if err != nil {
		return nil, err
	}
	objects, err := objectsOf(manifest)
	if err != nil {
		return nil, err
	}
	var workloads []object
	for _, o := range objects {
		if o.group() == "apps" && (o.Kind == "Deployment" || o.Kind == "StatefulSet") {
			workloads = append(workloads, o)
		}
	}
	if len(workloads) == 0 {
		return nil, errors.New("destination: the manifests hold no Deployment or StatefulSet")
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = defaultKubernetesTimeout
	}
	manager := k.FieldManager
	if manager == "" {
		manager = "ferry"
	}
	allow := k.PruneAllowlist
	if allow == nil {
		allow = DefaultPruneAllowlist
	}
	dir := appDir(k.Dir, DefaultDir, app.Name)
	files := []translate.File{{Path: ManifestFile, Data: manifest, Mode: 0o600, Secret: bytes.Contains(manifest, []byte("\nkind: Secret\n"))}}
	placed, err := placeFiles(dir, files)
	if err != nil {
		return nil, err
	}

	kubectl := []string{k.Kubectl}
	if kubectl[0] == "" {
		kubectl[0] = "kubectl"
	}
	if k.Kubeconfig != "" {
		kubectl = append(kubectl, "--kubeconfig", k.Kubeconfig)
	}
	if k.Context != "" {
		kubectl = append(kubectl, "--context", k.Context)
	}
	kc := func(args ...string) []string { return append(append([]string(nil), kubectl...), args...) }
	selector := "app.kubernetes.io/instance=" + app.Name + ",app.kubernetes.io/managed-by=ferry"
	apply := kc("apply", "--server-side", "--field-manager="+manager, "--force-conflicts",
		"--namespace", ns, "-f", ManifestFile)
	var prune []executor.Step
	var pruneScript strings.Builder
	for _, a := range allow {
		parts := strings.Split(a, "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("destination: prune allowlist entry %q is not group/version/Kind", a)
		}
		resource := strings.ToLower(parts[2])
		if parts[0] != "core" && parts[0] != "" {
			resource += "." + parts[0]
		}
		var keep []string
		for _, o := range objects {
			if o.Kind == parts[2] && o.group() == strings.TrimPrefix(parts[0], "core") {
				keep = append(keep, "metadata.name!="+o.Metadata.Name)
			}
		}
		args := kc("delete", resource, "--namespace", ns, "-l", selector, "--ignore-not-found", "--wait=false")
		if len(keep) > 0 {
			args = append(args, "--field-selector", strings.Join(keep, ","))
		}
		prune = append(prune, executor.Step{Name: "prune " + parts[2], Args: args})
		pruneScript.WriteString(quoted(args...) + "\n")
	}
	del := kc("delete", "--namespace", ns, "-f", ManifestFile, "--ignore-not-found", "--wait=false")

	check := &executor.Pipeline{Name: "check", Dir: dir, Steps: []executor.Step{
		{Name: "kubectl", Args: kc("version", "--client")},
	}}
	if k.Kubeconfig != "" {
		check.Steps = append(check.Steps, executor.Step{Name: "kubeconfig", Script: fmt.Sprintf(
			"if [ ! -r %[1]s ]; then\n  echo \"kubeconfig %[1]s: no such file, or not readable\" >&2\n  exit 1\nfi\necho \"kubeconfig %[1]s\"\n",
			quoted(k.Kubeconfig))})
	}
	w := workloads[0]
	check.Steps = append(check.Steps, executor.Step{
		Name: "access to namespace " + ns,
		Script: fmt.Sprintf("if ! out=$(%s 2>&1); then\n  echo \"cannot update %s in namespace %s: ${out:-no}\" >&2\n  exit 1\nfi\necho \"may update %s in namespace %s\"\n",
			quoted(kc("auth", "can-i", "patch", w.resource(), "--namespace", ns)...), w.resource(), ns, w.resource(), ns),
	})

	guard := timeout + 30*time.Second
	verify := &executor.Pipeline{Name: "verify", Dir: dir}
	var undo, wait strings.Builder
	for _, w := range workloads {
		status := kc("rollout", "status", w.ref(), "--namespace", ns, "--timeout="+seconds(timeout)+"s")
		verify.Steps = append(verify.Steps, executor.Step{Name: "rollout status " + w.ref(), Args: status, Timeout: guard})
		fmt.Fprintf(&undo, "%s || echo \"nothing to undo for %s\"\n", quoted(kc("rollout", "undo", w.ref(), "--namespace", ns)...), w.ref())
		wait.WriteString(quoted(status...) + "\n")
	}
	return withSecrets(&Plan{
		Target:  "kubernetes",
		App:     app.Name,
		Image:   app.Image,
		Dir:     dir,
		Version: version(files),
		Files:   placed,
		Timeout: timeout,
		Check:   check,
		Apply: &executor.Pipeline{Name: "apply", Dir: dir, Steps: append([]executor.Step{
			{Name: "apply", Args: apply},
		}, prune...)},
		Verify: verify,
		Rollback: &executor.Pipeline{Name: "rollback", Dir: dir, Steps: []executor.Step{
			{Name: "restore previous files", Script: restoreScript},
			{Name: "rollout undo", Script: ifPrevious(undo.String(), "")},
			{Name: "apply previous release", Script: ifPrevious(quoted(apply...)+"\n"+pruneScript.String(),
				quoted(del...)+"\necho \"no previous release: deleted the new objects\"\n")},
			{Name: "rollout status", Script: ifPrevious(wait.String(), ""), Timeout: guard},
		}},
	}, app), nil
}

// object is an object found in the manifests.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// group is the object's API group, "" for the core group.
func (o object) group() string {
	if g, _, ok := strings.Cut(o.APIVersion, "/"); ok {
		return g
	}
	return ""
}

func (o object) ref() string { return strings.ToLower(o.Kind) + "/" + o.Metadata.Name }

func (o object) resource() string { return strings.ToLower(o.Kind) + "s." + o.group() }

// objectsOf lists the objects in a YAML stream.
func objectsOf(manifest []byte) ([]object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("destination: reading the manifests: %v", err)
		}
		if o.Kind != "" {
			out = append(out, o)
		}
	}
}
