package translate

// ComposeOption changes how [ToCompose] and [StackToCompose] translate.
// When the same option is given twice, the last one wins. A nil option is
// ignored.
type ComposeOption func(*composeOptions)

// KubernetesOption changes how [KubernetesObjects], [StackObjects] and
// [ToKubernetes] translate. When the same option is given twice, the last
// one wins. A nil option is ignored.
type KubernetesOption func(*kubeOptions)

type composeOptions struct {
	network     string
	project     string
	proxy       string
	entrypoints [2]string
}

type kubeOptions struct {
	namespace       string
	createNamespace bool
	ingressClass    string
}

// applyOptions calls each option that is not nil on o, in order, and
// returns o.
func applyOptions[T any, O ~func(*T)](o *T, opts []O) *T {
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// WithNetwork sets the external Docker network that services with
// domains join, which the proxy must also be on. The default is "ferry".
func WithNetwork(name string) ComposeOption {
	return func(o *composeOptions) { o.network = name }
}

// WithProject sets the compose project name (the top-level "name"). The
// default is the app's (or stack's) name.
func WithProject(name string) ComposeOption {
	return func(o *composeOptions) { o.project = name }
}

// WithProxy selects the reverse proxy whose labels route the app's domains:
// "traefik" (the default) or "caddy" (caddy-docker-proxy).
func WithProxy(name string) ComposeOption {
	return func(o *composeOptions) { o.proxy = name }
}

// WithEntrypoints sets the Traefik entrypoints of the app's routers:
// httpName for domains without TLS, httpsName for domains with TLS.
// The defaults are "http" and "https", as hosts set up by Coolify name
// them; Traefik's own examples name them "web" and "websecure". An empty
// name keeps its default.
func WithEntrypoints(httpName, httpsName string) ComposeOption {
	return func(o *composeOptions) {
		if httpName != "" {
			o.entrypoints[0] = httpName
		}
		if httpsName != "" {
			o.entrypoints[1] = httpsName
		}
	}
}

// WithNamespace sets metadata.namespace on every namespaced object. The
// default is to omit it, so that kubectl's current namespace applies.
func WithNamespace(ns string) KubernetesOption {
	return func(o *kubeOptions) { o.namespace = ns }
}

// WithCreateNamespace, when create is true, adds the Namespace object set
// by [WithNamespace] as the first object. The default is false: the
// namespace is expected to exist. The Namespace carries the app's labels
// like every other object, so a deploy that prunes by [LabelInstance]
// deletes it (and everything in it) once a later translation of the app
// leaves it out.
func WithCreateNamespace(create bool) KubernetesOption {
	return func(o *kubeOptions) { o.createNamespace = create }
}

// WithIngressClass sets spec.ingressClassName on the Ingress. The default
// is to omit it, so the cluster's default class applies.
func WithIngressClass(name string) KubernetesOption {
	return func(o *kubeOptions) { o.ingressClass = name }
}
