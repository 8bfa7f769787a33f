package translate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// App is an application as a user describes it: the same value becomes a
// compose file with [ToCompose] or Kubernetes manifests with
// [ToKubernetes]. The YAML keys are the field names in snake_case, as
// written in the yaml tags.
//
// An App is plain data: build one in Go or read one with [Load] or [Parse],
// then call [App.Validate]. The translators validate again and refuse an
// invalid App. Values are literal: "$" and "$(VAR)" are never expanded by
// Compose or Kubernetes, the translators escape them.
type App struct {
	// Name names the app: the compose service, and the Deployment,
	// Service and other objects on Kubernetes. It must be a DNS-1035
	// label (a lowercase letter first) of at most 52 characters, which
	// leaves room for generated names such as StatefulSet pods.
	Name string `yaml:"name"`
	// Image is the container image reference, for example "nginx:1.27".
	Image string `yaml:"image"`
	// Command replaces the image's entrypoint (compose "entrypoint",
	// Kubernetes "command"). Nil keeps the image's.
	Command []string `yaml:"command,omitempty"`
	// Args replaces the image's default arguments (compose "command",
	// Kubernetes "args"). Nil keeps the image's.
	Args []string `yaml:"args,omitempty"`
	// Ports lists the ports the container listens on.
	Ports []Port `yaml:"ports,omitempty"`
	// Domains routes public host names to a port through the proxy
	// (Traefik or Caddy labels) or an Ingress.
	Domains []Domain `yaml:"domains,omitempty"`
	// Env holds plain environment variables. Put passwords and tokens in
	// Secrets instead.
	Env map[string]string `yaml:"env,omitempty"`
	// Secrets holds values that must not appear in plain configuration.
	Secrets []Secret `yaml:"secrets,omitempty"`
	// Volumes lists named (persistent) volumes and bind mounts.
	Volumes []Volume `yaml:"volumes,omitempty"`
	// Health is the health check; nil means none.
	Health *Health `yaml:"health,omitempty"`
	// Replicas is the number of copies to run; 0 means 1.
	Replicas int `yaml:"replicas,omitempty"`
	// Resources holds CPU and memory requests and limits.
	Resources Resources `yaml:"resources,omitempty"`
	// Labels are added to the compose service and to every Kubernetes
	// object and pod. Keys under app.kubernetes.io/ are reserved.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Restart is the compose restart policy: "no", "always",
	// "on-failure" or "unless-stopped"; empty means "unless-stopped".
	// Kubernetes Deployments and StatefulSets always restart their pods,
	// so only "always" and "unless-stopped" (or empty) are accepted there.
	Restart string `yaml:"restart,omitempty"`
	// StopGracePeriod is how long the app may take to stop after SIGTERM,
	// in whole seconds ("30s"); 0 keeps the platform default (10s for
	// Compose, 30s for Kubernetes).
	StopGracePeriod time.Duration `yaml:"stop_grace_period,omitempty"`
	// User is the numeric user, optionally with a group, to run as:
	// "1000" or "1000:1000". Empty keeps the image's user.
	User string `yaml:"user,omitempty"`
	// Aliases are extra DNS names for the app on its network: compose
	// network aliases, or extra Services on Kubernetes (so each must be a
	// DNS-1035 label, and the app needs a port).
	Aliases []string `yaml:"aliases,omitempty"`
	// Workload is the Kubernetes workload kind: "deployment" (the default
	// when empty) or "statefulset", which gives each replica its own
	// copy of every named volume.
	Workload string `yaml:"workload,omitempty"`
	// DependsOn lists the services of the same [Stack] that must be
	// started (or healthy, or completed) before this one starts. An app
	// deployed alone has none.
	DependsOn []Dependency `yaml:"depends_on,omitempty"`
	// Build says how to build the image from source (see [Build]); nil
	// means Image already exists in a registry or on the host.
	Build *Build `yaml:"build,omitempty"`
	// Registry gives, by reference, the credentials of the private
	// registry Image (or the built image) lives in; nil means none.
	Registry *RegistryAuth `yaml:"registry,omitempty"`
	// WorkingDir is the absolute directory the command runs in; empty
	// keeps the image's.
	WorkingDir string `yaml:"working_dir,omitempty"`
	// Hostname is the container's host name, a DNS-1123 label; empty
	// keeps the platform's (the container or pod name).
	Hostname string `yaml:"hostname,omitempty"`
	// ReadOnly mounts the container's root filesystem read-only.
	ReadOnly bool `yaml:"read_only,omitempty"`
	// Privileged gives the container every capability and access to the
	// host's devices. Avoid it.
	Privileged bool `yaml:"privileged,omitempty"`
	// CapAdd and CapDrop add and drop Linux capabilities, written
	// without the "CAP_" prefix ("NET_ADMIN", or "ALL").
	CapAdd  []string `yaml:"cap_add,omitempty"`
	CapDrop []string `yaml:"cap_drop,omitempty"`
	// Files are plain configuration files placed in the container: compose
	// configs, a ConfigMap on Kubernetes. Put secret files in Secrets.
	Files []ConfigFile `yaml:"files,omitempty"`
}

// Port is a port the container listens on.
type Port struct {
	// Name is the port's name on Kubernetes, an IANA service name of at
	// most 15 characters. Empty means "<protocol>-<container>", as in
	// "tcp-8080".
	Name string `yaml:"name,omitempty"`
	// Container is the port inside the container (1-65535). The
	// Kubernetes Service exposes this same port number.
	Container int `yaml:"container"`
	// Host publishes the port on the Docker host; 0 means not published
	// (the proxy and other containers on the network still reach it).
	// On Kubernetes a published port is served by a NodePort Service,
	// "<app>-published", on Host when Host is in the NodePort range
	// (30000-32767), else on a node port the cluster assigns. It may not
	// be set with more than one replica.
	Host int `yaml:"host,omitempty"`
	// Protocol is "tcp" (the default when empty) or "udp".
	Protocol string `yaml:"protocol,omitempty"`
}

// Domain routes HTTP requests for a host name (and path prefix) to a port.
type Domain struct {
	// Host is the fully qualified host name, for example "app.example.com".
	Host string `yaml:"host"`
	// Path is a path prefix; empty means "/".
	Path string `yaml:"path,omitempty"`
	// Port is the container port to route to; 0 means the first TCP port.
	Port int `yaml:"port,omitempty"`
	// TLS serves the domain over HTTPS.
	TLS bool `yaml:"tls,omitempty"`
	// CertSecret names the Kubernetes TLS secret holding the certificate.
	// With an Issuer and no CertSecret the secret is "<app>-tls".
	CertSecret string `yaml:"cert_secret,omitempty"`
	// Issuer names a certificate issuer: a cert-manager ClusterIssuer on
	// Kubernetes, a Traefik certificate resolver on Compose. All domains
	// of an app use the same issuer.
	Issuer string `yaml:"issuer,omitempty"`
}

// Secret is a sensitive value given to the container as an environment
// variable, a file, or both. Secret values never appear in a compose file
// or in a Kubernetes env value: Compose reads them from 0600 side files,
// Kubernetes from a Secret object.
type Secret struct {
	// Name identifies the secret: a DNS-1123 label, used as the Kubernetes
	// Secret key and the compose secret's name.
	Name string `yaml:"name"`
	// Value is the secret itself.
	Value string `yaml:"value"`
	// Env is the environment variable that receives the value; empty
	// means none.
	Env string `yaml:"env,omitempty"`
	// File is the absolute path of a file in the container that holds the
	// value; empty means none. At least one of Env and File is required.
	File string `yaml:"file,omitempty"`
}

// Volume is a named volume (Name set), a bind mount of a host
// directory (Source set) or an in-memory filesystem (Tmpfs) at Target.
type Volume struct {
	// Name names a persistent volume: a DNS-1123 label. It becomes a
	// compose named volume and a PersistentVolumeClaim "<app>-<name>"
	// (or a volume claim template for a StatefulSet).
	Name string `yaml:"name,omitempty"`
	// Source is the absolute host path of a bind mount. On Kubernetes it
	// becomes a hostPath volume.
	Source string `yaml:"source,omitempty"`
	// Target is the absolute mount path in the container.
	Target string `yaml:"target"`
	// ReadOnly mounts the volume read-only.
	ReadOnly bool `yaml:"read_only,omitempty"`
	// Size is the requested size of a named volume, for example "1Gi" or
	// "512m" (see [ParseBytes]); empty means "1Gi". Only Kubernetes uses
	// it. For a tmpfs it is the size limit on both targets; empty means
	// none.
	Size string `yaml:"size,omitempty"`
	// Access is the Kubernetes access mode of a named volume:
	// "ReadWriteOnce" (the default when empty), "ReadWriteOncePod",
	// "ReadWriteMany" or "ReadOnlyMany".
	Access string `yaml:"access,omitempty"`
	// StorageClass is the Kubernetes storage class of a named volume;
	// empty means the cluster default.
	StorageClass string `yaml:"storage_class,omitempty"`
	// Tmpfs makes the volume a temporary in-memory filesystem (with
	// neither Name nor Source): compose tmpfs, a Memory emptyDir on
	// Kubernetes. Size, when set, bounds it.
	Tmpfs bool `yaml:"tmpfs,omitempty"`
	// SELinux relabels a bind mount for SELinux hosts (Fedora, RHEL):
	// "z" (shared between containers) or "Z" (private to this one).
	// Empty means no relabelling. Compose only.
	SELinux string `yaml:"selinux,omitempty"`
}

// ConfigFile is a file of plain configuration mounted in the container.
type ConfigFile struct {
	// Name identifies the file: a DNS-1123 label, the compose config's
	// name and the ConfigMap key.
	Name string `yaml:"name"`
	// Content is the file's content, UTF-8 text.
	Content string `yaml:"content"`
	// Target is the absolute path of the file in the container.
	Target string `yaml:"target"`
	// Mode is the file's permission bits; 0 means 0444.
	Mode uint32 `yaml:"mode,omitempty"`
}

// Health is a health check: exactly one of HTTP, Command and Shell.
type Health struct {
	// HTTP checks that a GET of a path answers 2xx or 3xx.
	HTTP *HTTPCheck `yaml:"http,omitempty"`
	// Command runs a program in the container (exec form, no shell).
	Command []string `yaml:"command,omitempty"`
	// Shell runs a command line with /bin/sh -c.
	Shell string `yaml:"shell,omitempty"`
	// Interval is the time between checks, in whole seconds; 0 means 10s.
	Interval time.Duration `yaml:"interval,omitempty"`
	// Timeout bounds one check, in whole seconds; 0 means 5s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Retries is the number of failures in a row that make the app
	// unhealthy; 0 means 3.
	Retries int `yaml:"retries,omitempty"`
	// StartPeriod gives a starting app time before failures count, in
	// whole seconds; 0 means none. On Kubernetes it becomes a
	// startupProbe.
	StartPeriod time.Duration `yaml:"start_period,omitempty"`
}

// HTTPCheck is an HTTP health check.
type HTTPCheck struct {
	// Path is the request path, starting with "/".
	Path string `yaml:"path"`
	// Port is the container port; 0 means the first TCP port.
	Port int `yaml:"port,omitempty"`
}

// Resources holds requests (what the app is guaranteed, compose
// "reservations") and limits (what it may not exceed).
type Resources struct {
	// Requests is what the scheduler reserves for the app (Compose:
	// deploy.resources.reservations).
	Requests Quantity `yaml:"requests,omitempty"`
	// Limits is what the app may not exceed (Compose:
	// deploy.resources.limits). A request may not exceed its limit.
	Limits Quantity `yaml:"limits,omitempty"`
}

// Quantity is an amount of CPU and memory. Empty strings mean unset.
type Quantity struct {
	// CPU is in cores: "0.5", "2", or millicores "500m" (see [ParseCPU]).
	CPU string `yaml:"cpu,omitempty"`
	// Memory is in bytes with a binary unit: "512m" or "512Mi" are both
	// 512 MiB (see [ParseBytes]).
	Memory string `yaml:"memory,omitempty"`
}

// Effective defaults, used by both translators.
const (
	defaultInterval   = 10 * time.Second
	defaultTimeout    = 5 * time.Second
	defaultRetries    = 3
	defaultVolumeSize = "1Gi"
)

// replicas returns the effective replica count.
func (a *App) replicas() int {
	if a.Replicas == 0 {
		return 1
	}
	return a.Replicas
}

// Load reads the app spec in the YAML file at path; see [Parse]. A
// [*SyntaxError] names the file.
func Load(path string) (*App, error) {
	app, err := loadSpec(path, Parse)
	if app != nil {
		resolveContexts(path, app)
	}
	return app, err
}

// loadSpec reads the file at path and parses it with parse; a
// [*SyntaxError] names the file.
func loadSpec[T any](path string, parse func([]byte) (T, error)) (T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("translate: %w", err)
	}
	v, err := parse(data)
	var se *SyntaxError
	if errors.As(err, &se) {
		se.File = path
	}
	return v, err
}

// resolveContexts resolves the apps' relative build contexts against the
// directory of the spec file at path.
func resolveContexts(path string, apps ...*App) {
	for _, a := range apps {
		if a.Build != nil {
			a.Build.resolveContext(filepath.Dir(path))
		}
	}
}

// Parse decodes one app spec from YAML and validates it, reporting every
// problem at once. Unknown keys, duplicate keys and values of the wrong
// type are problems with their line; when there are any, the error is a
// [*SyntaxError] that also carries the rule problems of what did decode
// (it unwraps to that [*ValidationError]) unless a duplicate key stopped
// the decoding. A spec that decodes but breaks
// rules gives a [*ValidationError]. On any error the returned App is nil.
func Parse(data []byte) (*App, error) {
	var app App
	msgs, complete, err := decodeSpec(data, &app, "app spec")
	if err != nil {
		return nil, err
	}
	if err := specError(msgs, complete, app.Validate); err != nil {
		return nil, err
	}
	return &app, nil
}

// specError returns the error of a decoded spec: a [*SyntaxError] when
// msgs holds decoding problems (with the rule problems that validate
// finds when the spec decoded completely), else validate's error.
func specError(msgs []string, complete bool, validate func() error) error {
	var verr error
	if complete {
		verr = validate()
	}
	if len(msgs) > 0 {
		se := &SyntaxError{Errors: msgs}
		se.Invalid, _ = verr.(*ValidationError)
		return se
	}
	return verr
}

// SyntaxError reports a spec that is not well-formed YAML or does not
// decode into an [App]: unknown or duplicate keys, values of the wrong
// type. It lists every error the decoder found, each with its line.
type SyntaxError struct {
	// File is the path given to [Load]; empty for [Parse].
	File string
	// Errors holds one message per problem, each starting with
	// "line N: " when the line is known.
	Errors []string
	// Invalid holds the rules that what did decode breaks, found by
	// validating it despite the errors above; nil when it breaks none or
	// was not validated. [SyntaxError.Unwrap] returns it.
	Invalid *ValidationError
}

// Unwrap returns Invalid, so that [errors.As] finds the rule problems
// too; nil when there are none.
func (e *SyntaxError) Unwrap() error {
	if e.Invalid == nil {
		return nil
	}
	return e.Invalid
}

// Error prints one problem per line, as "file:N: message" when the file
// is known and "line N: message" otherwise, then the problems of Invalid
// as "file: path: message".
func (e *SyntaxError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, m := range e.Errors {
		if e.File == "" {
			lines[i] = m
			continue
		}
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if n, msg, ok := strings.Cut(rest, ": "); ok {
				lines[i] = e.File + ":" + n + ": " + msg
				continue
			}
		}
		lines[i] = e.File + ": " + m
	}
	if e.Invalid != nil {
		for _, p := range e.Invalid.Problems {
			if e.File != "" {
				lines = append(lines, e.File+": "+p.String())
			} else {
				lines = append(lines, p.String())
			}
		}
	}
	return strings.Join(lines, "\n")
}

var (
	typeNameRE     = regexp.MustCompile(` (in type|into) translate\.(\w+)`)
	fieldMissingRE = regexp.MustCompile(`field (\S+) not found in (\w+)$`)
)

// decodeError rewords the YAML package's errors for people who write specs,
// not Go code.
func decodeError(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		m = typeNameRE.ReplaceAllStringFunc(m, func(s string) string {
			sub := typeNameRE.FindStringSubmatch(s)
			name := strings.ToLower(sub[2])
			if sub[1] == "into" {
				return " into a " + name
			}
			return " in " + name
		})
		m = fieldMissingRE.ReplaceAllString(m, `unknown key "$1" in $2`)
		out[i] = m
	}
	return &SyntaxError{Errors: out}
}
