package translate

// Option changes how [ToCompose] or [ToKubernetes] translate an app.
// Options that concern only one target are ignored by the other. When the
// same option is given twice, the last one wins.
type Option func(*options)

type options struct {
	network         string
	project         string
	proxy           string
	namespace       string
	createNamespace bool
	ingressClass    string
}

func newOptions(opts []Option) *options {
	o := &options{network: "ferry", proxy: "traefik"}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// WithNetwork sets the external Docker network the service joins, which
// the proxy must also be on. Compose only. The default is "ferry".
func WithNetwork(name string) Option { return func(o *options) { o.network = name } }

// WithProject sets the compose project name (the top-level "name"). Compose
// only. The default is the app's name.
func WithProject(name string) Option { return func(o *options) { o.project = name } }

// WithProxy selects the reverse proxy whose labels route the app's domains:
// "traefik" (the default) or "caddy" (caddy-docker-proxy). Compose only.
func WithProxy(name string) Option { return func(o *options) { o.proxy = name } }

// WithNamespace sets metadata.namespace on every object. Kubernetes only.
// The default is to omit it, so that kubectl's current namespace applies.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithCreateNamespace, when create is true, adds the Namespace object set
// by [WithNamespace] as the first document. Kubernetes only. The default
// is false: the namespace is expected to exist. The Namespace carries the
// app's labels like every other object, so a deploy that prunes by
// [LabelInstance] deletes it (and everything in it) once a later
// translation of the app leaves it out.
func WithCreateNamespace(create bool) Option {
	return func(o *options) { o.createNamespace = create }
}

// WithIngressClass sets spec.ingressClassName on the Ingress. Kubernetes
// only. The default is to omit it, so the cluster's default class applies.
func WithIngressClass(name string) Option { return func(o *options) { o.ingressClass = name } }
