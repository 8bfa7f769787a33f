package translate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/yamlenc"
)

// Labels and annotations set by the translators. Every Kubernetes object
// and the compose service carry [LabelManagedBy] = "ferry" and
// [LabelInstance] = the app's name, so a deploy can select (and prune)
// exactly one app's objects.
const (
	// LabelManagedBy is "ferry" on everything the translators write.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelName is the app's name; pods are selected by it and
	// LabelInstance, never by labels that change (version, image).
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is the app's name, the label to select one app by.
	LabelInstance = "app.kubernetes.io/instance"
	// ConfigHashAnnotation is set on the pod template to [ConfigHash], so
	// that changing an environment variable or a secret rolls the pods.
	ConfigHashAnnotation = "ferry.dev/config-hash"
)

const (
	labelManagedBy = LabelManagedBy
	labelName      = LabelName
	labelInstance  = LabelInstance
	managedBy      = "ferry"
	// secretVolume is the pod volume that holds the secrets mounted as
	// files; no named volume may use it.
	secretVolume = "secret-files"
	// filesVolume is the pod volume that holds the app's Files.
	filesVolume = "config-files"
)

// ConfigHash returns a hex SHA-256 digest of the app's configuration that
// lives outside the pod template: its env and secrets. It is stable across
// runs and reveals nothing about the secret values.
func ConfigHash(app *App) string {
	h := sha256.New()
	if app == nil {
		return hex.EncodeToString(h.Sum(nil))
	}
	write := func(ss ...string) {
		for _, s := range ss {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(s)))
			h.Write(n[:])
			h.Write([]byte(s))
		}
	}
	for _, k := range sortedKeys(app.Env) {
		write("env", k, app.Env[k])
	}
	for _, s := range app.Secrets {
		write("secret", s.Name, s.Value, s.Env, s.File)
	}
	for _, f := range app.Files {
		write("file", f.Name, f.Content, f.Target, fmt.Sprint(f.Mode))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ToKubernetes translates app into Kubernetes manifests: the objects of
// [KubernetesObjects] as one YAML stream (see [Manifest]).
//
// An invalid app gives a [*ValidationError]; an invalid option value a
// plain error.
func ToKubernetes(app *App, opts ...KubernetesOption) ([]byte, error) {
	objs, err := KubernetesObjects(app, opts...)
	if err != nil {
		return nil, err
	}
	return Manifest(objs), nil
}

// KubernetesObjects translates app into Kubernetes objects, in this
// order: Namespace (only with [WithCreateNamespace]), ConfigMap
// "<app>-env" (the env), Secret "<app>-secrets" (base64 data),
// PersistentVolumeClaims "<app>-<volume>", the Deployment or StatefulSet
// "<app>", the Service "<app>", for a StatefulSet its headless governing
// Service "<app>-headless", one Service per alias, the NodePort Service
// "<app>-published" of the published ports (Port.Host; a host port in
// the NodePort range 30000-32767 is kept as the node port, others get one
// the cluster assigns), and the Ingress "<app>". Objects that would be
// empty are left out.
//
// Pods select on the app.kubernetes.io/name and instance labels only,
// disable service links, and carry a [ConfigHashAnnotation]. A Deployment
// that mounts a ReadWriteOnce volume uses the Recreate strategy. "$" in
// command and args is written "$$" so that Kubernetes does not expand
// "$(VAR)". Volume.SELinux and Restart are Compose matters: Restart
// must be empty, "always" or "unless-stopped".
//
// An invalid app gives a [*ValidationError]; an invalid option value a
// plain error.
func KubernetesObjects(app *App, opts ...KubernetesOption) ([]Object, error) {
	if err := app.Validate(); err != nil {
		return nil, err
	}
	var ps problems
	kubeRules(app, "", &ps)
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	o, err := checkKubeOptions(opts)
	if err != nil {
		return nil, err
	}
	return stackObjects(StackOf(app), o)
}

// kubeRules adds the problems that only Kubernetes has with an app that
// is otherwise valid; prefix starts every path.
func kubeRules(app *App, prefix string, ps *problems) {
	if app.Restart == "no" || app.Restart == "on-failure" {
		ps.add(prefix+"restart", "%q is not possible on Kubernetes, where Deployments and StatefulSets always restart pods", app.Restart)
	}
}

func checkKubeOptions(opts []KubernetesOption) (*kubeOptions, error) {
	o := applyOptions(&kubeOptions{}, opts)
	if o.namespace != "" && !isDNS1123Label(o.namespace) {
		return nil, fmt.Errorf("translate: namespace %q is not a DNS-1123 label", o.namespace)
	}
	if o.createNamespace && o.namespace == "" {
		return nil, fmt.Errorf("translate: WithCreateNamespace needs WithNamespace")
	}
	if o.ingressClass != "" && !isDNS1123Subdomain(o.ingressClass) {
		return nil, fmt.Errorf("translate: ingress class %q is not a DNS-1123 subdomain", o.ingressClass)
	}
	return o, nil
}

// stackObjects translates a valid stack: the Namespace first, then each
// service's objects, services in dependency order.
func stackObjects(s *Stack, o *kubeOptions) ([]Object, error) {
	order, err := s.Order()
	if err != nil {
		return nil, err
	}
	var objs []Object
	if o.createNamespace {
		k := &kube{app: order[0], instance: s.Name, o: o}
		if len(order) > 1 {
			k = &kube{app: &App{Name: s.Name}, instance: s.Name, o: o}
		}
		ns := k.doc(k.object("v1", "Namespace", o.namespace, false).node(), false)
		ns.Service = ""
		objs = append(objs, ns)
	}
	for _, app := range order {
		k := &kube{app: app, instance: s.Name, o: o}
		objs = append(objs, k.objects()...)
		if k.err != nil {
			return nil, fmt.Errorf("translate: %w", k.err)
		}
	}
	seen := map[string]string{}
	var ps problems
	for _, obj := range objs {
		key := obj.Kind + " " + obj.Name
		if other, ok := seen[key]; ok && other != obj.Service {
			ps.add("services["+obj.Service+"]", "its %s %q has the name of one of service %s's objects", obj.Kind, obj.Name, quoteVal(other))
		}
		seen[key] = obj.Service
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return objs, nil
}

// objects returns one app's objects, Namespace aside.
func (k *kube) objects() []Object {
	app := k.app
	var objs []Object
	if len(app.Env) > 0 {
		objs = append(objs, k.doc(k.object("v1", "ConfigMap", k.configMapName(), true).
			set("data", strMap(app.Env)).node(), false))
	}
	if len(app.Files) > 0 {
		data := map[string]string{}
		for _, f := range app.Files {
			data[f.Name] = f.Content
		}
		objs = append(objs, k.doc(k.object("v1", "ConfigMap", k.filesName(), true).
			set("data", strMap(data)).node(), false))
	}
	if len(app.Secrets) > 0 {
		data := map[string]string{}
		for _, s := range app.Secrets {
			data[s.Name] = base64.StdEncoding.EncodeToString([]byte(s.Value))
		}
		objs = append(objs, k.doc(k.object("v1", "Secret", k.secretName(), true).
			str("type", "Opaque").
			set("data", strMap(data)).node(), true))
	}
	if !k.statefulSet() {
		for _, v := range k.namedVolumes() {
			objs = append(objs, k.doc(k.object("v1", "PersistentVolumeClaim", app.Name+"-"+v.Name, true).
				set("spec", pvcSpec(v)).node(), false))
		}
	}
	objs = append(objs, k.doc(k.workload(), false))
	if len(app.Ports) > 0 {
		objs = append(objs, k.doc(k.service(app.Name, false), false))
	}
	if k.statefulSet() {
		objs = append(objs, k.doc(k.service(k.headlessName(), true), false))
	}
	if len(app.Ports) > 0 {
		aliases := append([]string(nil), app.Aliases...)
		sort.Strings(aliases)
		for _, a := range aliases {
			objs = append(objs, k.doc(k.service(a, false), false))
		}
	}
	if pub := k.published(); pub != nil {
		objs = append(objs, k.doc(pub, false))
	}
	if len(app.Domains) > 0 {
		objs = append(objs, k.doc(k.ingress(), false))
	}
	return objs
}

type kube struct {
	app      *App
	instance string // the stack's name, the value of LabelInstance
	o        *kubeOptions
	err      error // the first encoding error of doc
}

// doc encodes one object of the app.
func (k *kube) doc(n *yaml.Node, secret bool) Object {
	data, err := yamlenc.Encode(n)
	if err != nil && k.err == nil {
		k.err = err
	}
	obj := Object{Service: k.app.Name, Secret: secret, YAML: data}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch v := n.Content[i+1]; n.Content[i].Value {
		case "apiVersion":
			obj.APIVersion = v.Value
		case "kind":
			obj.Kind = v.Value
		case "metadata":
			for j := 0; j+1 < len(v.Content); j += 2 {
				switch v.Content[j].Value {
				case "name":
					obj.Name = v.Content[j+1].Value
				case "namespace":
					obj.Namespace = v.Content[j+1].Value
				}
			}
		}
	}
	return obj
}

func (k *kube) statefulSet() bool     { return k.app.Workload == "statefulset" }
func (k *kube) configMapName() string { return k.app.Name + "-env" }
func (k *kube) secretName() string    { return k.app.Name + "-secrets" }
func (k *kube) filesName() string     { return k.app.Name + "-files" }

// namedVolumes returns the named volumes sorted by name.
func (k *kube) namedVolumes() []Volume {
	var vs []Volume
	for _, v := range k.app.Volumes {
		if v.Name != "" {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs
}

func (k *kube) labels() map[string]string {
	l := map[string]string{
		labelManagedBy: managedBy,
		labelName:      k.app.Name,
		labelInstance:  k.instance,
	}
	for key, v := range k.app.Labels {
		l[key] = v
	}
	return l
}

func (k *kube) selector() *yaml.Node {
	return strMap(map[string]string{labelName: k.app.Name, labelInstance: k.instance})
}

// object starts a top-level object with apiVersion, kind and metadata.
func (k *kube) object(apiVersion, kind, name string, namespaced bool) *mapNode {
	meta := newMap().str("name", name)
	if namespaced {
		meta.optStr("namespace", k.o.namespace)
	}
	meta.set("labels", strMap(k.labels()))
	return newMap().str("apiVersion", apiVersion).str("kind", kind).set("metadata", meta.node())
}

func pvcSpec(v Volume) *yaml.Node {
	access := v.Access
	if access == "" {
		access = "ReadWriteOnce"
	}
	size := v.Size
	if size == "" {
		size = defaultVolumeSize
	}
	n, _ := ParseBytes(size)
	spec := newMap().set("accessModes", strSeq([]string{access}))
	spec.optStr("storageClassName", v.StorageClass)
	spec.set("resources", newMap().set("requests", newMap().str("storage", formatBytes(n, false)).node()).node())
	return spec.node()
}

func escapeK8s(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ReplaceAll(s, "$", "$$")
	}
	return out
}

// sharesNoVolume reports whether the app's pods can run twice: no named
// volume is ReadWriteOnce.
func (k *kube) sharesNoVolume() bool {
	for _, v := range k.namedVolumes() {
		if v.Access == "" || v.Access == "ReadWriteOnce" || v.Access == "ReadWriteOncePod" {
			return false
		}
	}
	return true
}

func (k *kube) workload() *yaml.Node {
	app := k.app
	kind := "Deployment"
	if k.statefulSet() {
		kind = "StatefulSet"
	}
	spec := newMap()
	if k.statefulSet() {
		spec.str("serviceName", k.headlessName())
	}
	spec.int("replicas", app.replicas())
	spec.set("selector", newMap().set("matchLabels", k.selector()).node())
	if !k.statefulSet() {
		// New pods start, and pass their readiness probe, before old ones
		// stop; a ReadWriteOnce volume cannot be shared, so such a
		// Deployment is recreated instead.
		strategy := newMap().str("type", "RollingUpdate").set("rollingUpdate", newMap().int("maxUnavailable", 0).node())
		if k.sharesNoVolume() {
			spec.set("strategy", strategy.node())
		} else {
			spec.set("strategy", newMap().str("type", "Recreate").node())
		}
	}
	spec.set("template", k.podTemplate())
	if k.statefulSet() {
		vcts := seqNode()
		for _, v := range k.namedVolumes() {
			vcts.Content = append(vcts.Content, newMap().
				set("metadata", newMap().str("name", v.Name).set("labels", strMap(k.labels())).node()).
				set("spec", pvcSpec(v)).node())
		}
		if len(vcts.Content) > 0 {
			spec.set("volumeClaimTemplates", vcts)
		}
	}
	return k.object("apps/v1", kind, app.Name, true).set("spec", spec.node()).node()
}

func (k *kube) podTemplate() *yaml.Node {
	app := k.app
	meta := newMap().
		set("labels", strMap(k.labels())).
		set("annotations", strMap(map[string]string{ConfigHashAnnotation: ConfigHash(app)}))
	c := k.container()
	volumes := k.podVolumes(c)
	c.set("securityContext", containerSecurity(app))
	pod := newMap()
	pod.set("enableServiceLinks", boolNode(false))
	pod.optStr("hostname", app.Hostname)
	if app.StopGracePeriod > 0 {
		pod.int("terminationGracePeriodSeconds", seconds(app.StopGracePeriod))
	}
	if app.User != "" {
		uid, gid, hasGid := strings.Cut(app.User, ":")
		sc := newMap()
		u, _ := strconv.Atoi(uid)
		sc.int("runAsUser", u)
		if hasGid {
			g, _ := strconv.Atoi(gid)
			sc.int("runAsGroup", g)
		}
		pod.set("securityContext", sc.node())
	}
	pod.set("containers", seqNode(c.node()))
	if len(volumes.Content) > 0 {
		pod.set("volumes", volumes)
	}
	return newMap().set("metadata", meta.node()).set("spec", pod.node()).node()
}

// container returns the app's container without its volume mounts.
func (k *kube) container() *mapNode {
	app := k.app
	c := newMap()
	c.str("name", app.Name)
	c.str("image", app.Image)
	c.optStr("imagePullPolicy", PullPolicy(app.Image)) // build.go
	c.set("command", strSeq(escapeK8s(app.Command)))
	c.set("args", strSeq(escapeK8s(app.Args)))
	c.optStr("workingDir", app.WorkingDir)
	if len(app.Ports) > 0 {
		ports := seqNode()
		for _, p := range app.Ports {
			ports.Content = append(ports.Content, newMap().
				str("name", p.name()).
				int("containerPort", p.Container).
				str("protocol", strings.ToUpper(p.protocol())).node())
		}
		c.set("ports", ports)
	}
	if len(app.Env) > 0 {
		c.set("envFrom", seqNode(newMap().set("configMapRef", newMap().str("name", k.configMapName()).node()).node()))
	}
	secrets := append([]Secret(nil), app.Secrets...)
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Env < secrets[j].Env })
	env := seqNode()
	for _, s := range secrets {
		if s.Env == "" {
			continue
		}
		ref := newMap().str("name", k.secretName()).str("key", s.Name)
		env.Content = append(env.Content, newMap().
			str("name", s.Env).
			set("valueFrom", newMap().set("secretKeyRef", ref.node()).node()).node())
	}
	if len(env.Content) > 0 {
		c.set("env", env)
	}
	res := newMap()
	res.set("requests", quantityNode(app.Resources.Requests, false))
	res.set("limits", quantityNode(app.Resources.Limits, false))
	if len(res.n.Content) > 0 {
		c.set("resources", res.node())
	}
	if h := app.Health; h != nil {
		if h.StartPeriod > 0 {
			threshold := (seconds(h.StartPeriod)+seconds(h.interval())-1)/seconds(h.interval()) + h.retries()
			c.set("startupProbe", k.probe(h, threshold))
		}
		c.set("readinessProbe", k.probe(h, h.retries()))
		c.set("livenessProbe", k.probe(h, h.retries()))
	}
	return c
}

// keyFile is one key of a Secret or ConfigMap mounted as a file at
// target; mode 0 leaves the item's mode out.
type keyFile struct {
	key, target string
	mode        int
}

// addKeyVolume adds to volumes the volume named volume that projects
// files, the keys of the Secret or ConfigMap that ref names (kind is
// "secret" or "configMap"), and to mounts a read-only mount of each at
// its target. It adds nothing when there are no files.
func addKeyVolume(volumes, mounts *yaml.Node, volume, kind string, ref *mapNode, files []keyFile) {
	if len(files) == 0 {
		return
	}
	items := seqNode()
	for _, f := range files {
		item := newMap().str("key", f.key).str("path", f.key)
		if f.mode != 0 {
			item.int("mode", f.mode)
		}
		items.Content = append(items.Content, item.node())
		mounts.Content = append(mounts.Content, newMap().
			str("name", volume).
			str("mountPath", f.target).
			str("subPath", f.key).
			set("readOnly", boolNode(true)).node())
	}
	volumes.Content = append(volumes.Content, newMap().str("name", volume).set(kind, ref.set("items", items).node()).node())
}

// podVolumes returns the pod's volumes and sets the container's mounts:
// bind mounts, tmpfs, claims, secret files and config files.
func (k *kube) podVolumes(c *mapNode) *yaml.Node {
	app := k.app
	mounts := seqNode()
	volumes := seqNode()
	for i, v := range app.Volumes {
		name := v.Name
		if v.Source != "" {
			name = "bind-" + strconv.Itoa(i)
			volumes.Content = append(volumes.Content, newMap().str("name", name).
				set("hostPath", newMap().str("path", v.Source).node()).node())
		} else if v.Tmpfs {
			name = "tmpfs-" + strconv.Itoa(i)
			dir := newMap().str("medium", "Memory")
			if v.Size != "" {
				n, _ := ParseBytes(v.Size)
				dir.str("sizeLimit", formatBytes(n, false))
			}
			volumes.Content = append(volumes.Content, newMap().str("name", name).set("emptyDir", dir.node()).node())
		} else if !k.statefulSet() {
			volumes.Content = append(volumes.Content, newMap().str("name", name).
				set("persistentVolumeClaim", newMap().str("claimName", app.Name+"-"+v.Name).node()).node())
		}
		m := newMap().str("name", name).str("mountPath", v.Target)
		if v.ReadOnly {
			m.set("readOnly", boolNode(true))
		}
		mounts.Content = append(mounts.Content, m.node())
	}
	var secrets []keyFile
	for _, s := range app.Secrets {
		if s.File != "" {
			secrets = append(secrets, keyFile{key: s.Name, target: s.File})
		}
	}
	addKeyVolume(volumes, mounts, secretVolume, "secret", newMap().str("secretName", k.secretName()), secrets)
	files := append([]ConfigFile(nil), app.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var configs []keyFile
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o444
		}
		configs = append(configs, keyFile{key: f.Name, target: f.Target, mode: int(mode)})
	}
	addKeyVolume(volumes, mounts, filesVolume, "configMap", newMap().str("name", k.filesName()), configs)
	if len(mounts.Content) > 0 {
		c.set("volumeMounts", mounts)
	}
	return volumes
}

// containerSecurity returns the container's securityContext, or nil.
func containerSecurity(app *App) *yaml.Node {
	sc := newMap()
	if app.Privileged {
		sc.set("privileged", boolNode(true))
	}
	if app.ReadOnly {
		sc.set("readOnlyRootFilesystem", boolNode(true))
	}
	caps := newMap()
	caps.set("add", strSeq(app.CapAdd))
	caps.set("drop", strSeq(app.CapDrop))
	if len(caps.n.Content) > 0 {
		sc.set("capabilities", caps.node())
	}
	if len(sc.n.Content) == 0 {
		return nil
	}
	return sc.node()
}

func (k *kube) probe(h *Health, failureThreshold int) *yaml.Node {
	p := newMap()
	switch {
	case h.HTTP != nil:
		p.set("httpGet", newMap().str("path", h.HTTP.Path).int("port", k.app.healthPort()).node())
	case h.Command != nil:
		p.set("exec", newMap().set("command", strSeq(h.Command)).node())
	default:
		p.set("exec", newMap().set("command", strSeq([]string{"/bin/sh", "-c", h.Shell})).node())
	}
	p.int("periodSeconds", seconds(h.interval()))
	p.int("timeoutSeconds", seconds(h.timeout()))
	p.int("failureThreshold", failureThreshold)
	return p.node()
}

// headlessName is the StatefulSet's governing Service, which gives each
// pod a stable DNS name ("<app>-0.<app>-headless").
func (k *kube) headlessName() string { return k.app.Name + "-headless" }

func (k *kube) service(name string, headless bool) *yaml.Node {
	ports := seqNode()
	for _, p := range k.app.Ports {
		ports.Content = append(ports.Content, newMap().
			str("name", p.name()).
			int("port", p.Container).
			int("targetPort", p.Container).
			str("protocol", strings.ToUpper(p.protocol())).node())
	}
	spec := newMap().str("type", "ClusterIP")
	if headless {
		spec.str("clusterIP", "None")
		spec.set("publishNotReadyAddresses", boolNode(true))
	}
	spec.set("selector", k.selector())
	if len(ports.Content) > 0 {
		spec.set("ports", ports)
	}
	return k.object("v1", "Service", name, true).set("spec", spec.node()).node()
}

// publishedName is the NodePort Service of the app's published ports.
func (k *kube) publishedName() string { return k.app.Name + "-published" }

// published returns the NodePort Service that keeps the app's published
// ports (Port.Host) reachable from outside the cluster, or nil when none
// is published. A host port in the NodePort range (30000-32767) is the
// node port itself; others get a node port the cluster assigns.
func (k *kube) published() *yaml.Node {
	ports := seqNode()
	for _, p := range k.app.Ports {
		if p.Host == 0 {
			continue
		}
		m := newMap().
			str("name", p.name()).
			int("port", p.Container).
			int("targetPort", p.Container).
			str("protocol", strings.ToUpper(p.protocol()))
		if p.Host >= minNodePort && p.Host <= maxNodePort {
			m.int("nodePort", p.Host)
		}
		ports.Content = append(ports.Content, m.node())
	}
	if len(ports.Content) == 0 {
		return nil
	}
	spec := newMap().str("type", "NodePort").set("selector", k.selector()).set("ports", ports)
	return k.object("v1", "Service", k.publishedName(), true).set("spec", spec.node()).node()
}

// The default NodePort range of kube-apiserver.
const (
	minNodePort = 30000
	maxNodePort = 32767
)

func (k *kube) ingress() *yaml.Node {
	app := k.app
	obj := k.object("networking.k8s.io/v1", "Ingress", app.Name, true)
	issuer := ""
	for _, d := range app.Domains {
		if d.Issuer != "" {
			issuer = d.Issuer
		}
	}
	if issuer != "" {
		obj.n.Content[5].Content = append(obj.n.Content[5].Content,
			strNode("annotations"), strMap(map[string]string{"cert-manager.io/cluster-issuer": issuer}))
	}
	spec := newMap()
	spec.optStr("ingressClassName", k.o.ingressClass)

	tlsHosts := map[string][]string{} // secret name → hosts
	for _, d := range app.Domains {
		if !d.TLS {
			continue
		}
		secret := d.CertSecret
		if secret == "" && d.Issuer != "" {
			secret = app.Name + "-tls"
		}
		if !containsStr(tlsHosts[secret], d.Host) {
			tlsHosts[secret] = append(tlsHosts[secret], d.Host)
		}
	}
	if len(tlsHosts) > 0 {
		tls := seqNode()
		for _, secret := range sortedKeys(tlsHosts) {
			hosts := tlsHosts[secret]
			sort.Strings(hosts)
			e := newMap().set("hosts", strSeq(hosts))
			e.optStr("secretName", secret)
			tls.Content = append(tls.Content, e.node())
		}
		spec.set("tls", tls)
	}

	byHost := map[string][]Domain{}
	for _, d := range app.Domains {
		byHost[d.Host] = append(byHost[d.Host], d)
	}
	rules := seqNode()
	for _, host := range sortedKeys(byHost) {
		ds := byHost[host]
		sort.Slice(ds, func(i, j int) bool { return ds[i].routePath() < ds[j].routePath() })
		paths := seqNode()
		for _, d := range ds {
			backend := newMap().set("service", newMap().
				str("name", app.Name).
				set("port", newMap().int("number", d.port(app)).node()).node())
			paths.Content = append(paths.Content, newMap().
				str("path", d.routePath()).
				str("pathType", "Prefix").
				set("backend", backend.node()).node())
		}
		rules.Content = append(rules.Content, newMap().str("host", host).
			set("http", newMap().set("paths", paths).node()).node())
	}
	spec.set("rules", rules)
	return obj.set("spec", spec.node()).node()
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// StackObjects translates every service of a stack into Kubernetes
// objects, as [KubernetesObjects] does for one app: the Namespace first
// (with [WithCreateNamespace]), then each service's objects, services in
// dependency order ([Stack.Order]), so applying the objects in order
// creates what a service needs before it. Every object carries
// [LabelInstance] = the stack's name and [LabelName] = its service's
// name, and pods select on both, so one stack's objects can be selected
// (and pruned) together and each service's pods apart. Each service's
// Service is named after it, so services reach each other by the names
// they use in Compose. A stack of one service whose name is the stack's
// gives exactly what [KubernetesObjects] gives for that app.
//
// An invalid stack, or one whose objects would share a name, gives a
// [*ValidationError]; an invalid option value a plain error.
// Stack.Compose and Stack.Warnings are not used.
func StackObjects(s *Stack, opts ...KubernetesOption) ([]Object, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return validStackObjects(s, opts)
}

// validStackObjects is [StackObjects] for a stack that passes
// [Stack.Validate]: it checks only what Kubernetes alone refuses.
func validStackObjects(s *Stack, opts []KubernetesOption) ([]Object, error) {
	var ps problems
	for _, app := range s.byName() {
		kubeRules(app, "services["+app.Name+"].", &ps)
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	o, err := checkKubeOptions(opts)
	if err != nil {
		return nil, err
	}
	return stackObjects(s, o)
}
