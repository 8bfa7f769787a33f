package translate

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/yamlenc"
)

// Side files written next to compose.yaml.
const (
	composeFile    = "compose.yaml"
	secretsEnvFile = "secrets.env"
	secretsDir     = "secrets"
	configsDir     = "configs"
)

var (
	composeNetworkRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	composeProjectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// ToCompose translates app into a compose file that follows the Compose
// specification, for `docker compose up` in a directory holding all the
// returned files. The first file is always "compose.yaml". The others
// carry secrets, mode 0600: "secrets.env" (an env_file with the secrets
// given as environment variables) and "secrets/<name>" (compose secrets,
// mounted as files). Files of [App.Files] are "configs/<name>", mode 0644,
// used as compose configs. The files reference each other by relative
// path, so they must be written together.
//
// The service joins the external network set by [WithNetwork], which must
// exist. Domains become router labels for the proxy chosen by
// [WithProxy]. Every "$" in the app's strings is written "$$" so that
// Compose does not interpolate it. The secrets.env format (double-quoted
// values with backslash escapes) is the one Compose v2 reads.
//
// An invalid app gives a [*ValidationError]; an unknown option value a
// plain error.
func ToCompose(app *App, opts ...ComposeOption) ([]File, error) {
	if err := app.Validate(); err != nil {
		return nil, err
	}
	return stackCompose(StackOf(app), opts)
}

// StackToCompose translates a stack into one compose project holding
// every service, with the files described at [ToCompose]. A stack of one
// service gives exactly what [ToCompose] gives for that service.
//
// With several services, each service joins the project's default
// network, where the other services reach it by its name and its
// aliases; only services with domains also join the external network of
// [WithNetwork], which the proxy shares. Names that one service would
// otherwise share with another in the project are prefixed with the
// service name: named volumes become "<service>-<volume>" (as the
// PersistentVolumeClaims on Kubernetes), secrets "<service>-<name>", and
// the side files are "secrets/<service>.env" and
// "secrets/<service>/<name>". depends_on is written with its conditions.
// The default project name is the stack's name.
//
// An invalid stack gives a [*ValidationError]; an unknown option value a
// plain error. Stack.Compose and Stack.Warnings are not used: a target
// that has Stack.Compose deploys it instead.
func StackToCompose(s *Stack, opts ...ComposeOption) ([]File, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return stackCompose(s, opts)
}

func checkComposeOptions(name string, opts []ComposeOption) (*composeOptions, error) {
	o := applyOptions(&composeOptions{network: "ferry", proxy: "traefik", entrypoints: [2]string{"http", "https"}}, opts)
	if o.project == "" {
		o.project = name
	}
	if !composeProjectRE.MatchString(o.project) {
		return nil, fmt.Errorf("translate: project %q is not a compose project name (lowercase letters, digits, '-' and '_')", o.project)
	}
	if !composeNetworkRE.MatchString(o.network) {
		return nil, fmt.Errorf("translate: network %q is not a Docker network name", o.network)
	}
	if o.proxy != "traefik" && o.proxy != "caddy" {
		return nil, fmt.Errorf("translate: proxy %q is not traefik or caddy", o.proxy)
	}
	return o, nil
}

// composeProject collects the top-level sections and side files while
// the services of a valid stack are translated.
type composeProject struct {
	o        *composeOptions
	instance string // the stack's name, the value of LabelInstance
	multi    bool   // more than one service: prefix shared names
	files    []File
	volumes  *mapNode
	secrets  *mapNode
	configs  *mapNode
	external bool // some service joins the external network
}

func stackCompose(s *Stack, opts []ComposeOption) ([]File, error) {
	o, err := checkComposeOptions(s.Name, opts)
	if err != nil {
		return nil, err
	}
	p := &composeProject{o: o, instance: s.Name, multi: len(s.Services) > 1, files: []File{{Path: composeFile, Mode: 0o644}},
		volumes: newMap(), secrets: newMap(), configs: newMap(), external: len(s.Services) == 1}
	services := newMap()
	for _, app := range s.byName() {
		services.set(app.Name, p.service(app))
	}
	root := newMap()
	root.str("name", o.project)
	root.set("services", services.node())
	if p.external {
		root.set("networks", newMap().set(o.network, newMap().str("name", o.network).set("external", boolNode(true)).node()).node())
	}
	if len(p.volumes.n.Content) > 0 {
		root.set("volumes", p.volumes.node())
	}
	if len(p.secrets.n.Content) > 0 {
		root.set("secrets", p.secrets.node())
	}
	if len(p.configs.n.Content) > 0 {
		root.set("configs", p.configs.node())
	}
	mapStrings(root.node(), func(s string) string { return strings.ReplaceAll(s, "$", "$$") })
	data, err := yamlenc.Encode(root.node())
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	p.files[0].Data = data
	return p.files, nil
}

// shared returns the project-wide name of a service's volume or secret.
func (p *composeProject) shared(app *App, name string) string {
	if p.multi {
		return app.Name + "-" + name
	}
	return name
}

// service translates one service and records its side files and
// top-level entries.
func (p *composeProject) service(app *App) *yaml.Node {
	svc := newMap()
	svc.str("image", app.Image)
	svc.set("entrypoint", strSeq(app.Command))
	svc.set("command", strSeq(app.Args))
	svc.optStr("user", app.User)
	svc.optStr("working_dir", app.WorkingDir)
	svc.optStr("hostname", app.Hostname)
	if app.ReadOnly {
		svc.set("read_only", boolNode(true))
	}
	if app.Privileged {
		svc.set("privileged", boolNode(true))
	}
	svc.set("cap_add", strSeq(app.CapAdd))
	svc.set("cap_drop", strSeq(app.CapDrop))
	svc.set("environment", strMap(app.Env))
	p.secretsOf(app, svc)
	if p.multi {
		// Alone, an app's dependencies are not in the file.
		svc.set("depends_on", dependsOnNode(app.DependsOn))
	}
	composePorts(app, svc)
	p.volumesOf(app, svc)
	p.filesOf(app, svc)
	if h := app.Health; h != nil {
		svc.set("healthcheck", composeHealth(app, h))
	}
	svc.set("deploy", composeDeploy(app))
	restart := app.Restart
	if restart == "" {
		restart = "unless-stopped"
	}
	svc.str("restart", restart)
	if app.StopGracePeriod > 0 {
		svc.str("stop_grace_period", composeDuration(app.StopGracePeriod))
	}
	labels := map[string]string{
		labelManagedBy: managedBy,
		labelName:      app.Name,
		labelInstance:  p.instance,
	}
	for k, v := range app.Labels {
		labels[k] = v
	}
	proxyLabels(labels, app, p.o)
	svc.set("labels", strMap(labels))
	svc.set("networks", p.networks(app))
	return svc.node()
}

// composePorts adds the published ports and the exposed ones.
func composePorts(app *App, svc *mapNode) {
	ports := seqNode()
	var expose []string
	for _, pt := range app.Ports {
		if pt.Host == 0 {
			e := strconv.Itoa(pt.Container)
			if pt.protocol() != "tcp" {
				e += "/" + pt.protocol()
			}
			expose = append(expose, e)
			continue
		}
		ports.Content = append(ports.Content, newMap().
			int("target", pt.Container).
			int("published", pt.Host).
			str("protocol", pt.protocol()).node())
	}
	if len(ports.Content) > 0 {
		svc.set("ports", ports)
	}
	svc.set("expose", strSeq(expose))
}

// volumesOf adds the service's mounts and their top-level volumes.
func (p *composeProject) volumesOf(app *App, svc *mapNode) {
	mounts := seqNode()
	for _, v := range app.Volumes {
		if v.Tmpfs {
			m := newMap().str("type", "tmpfs").str("target", v.Target)
			if v.ReadOnly {
				m.set("read_only", boolNode(true))
			}
			if v.Size != "" {
				n, _ := ParseBytes(v.Size)
				m.set("tmpfs", newMap().set("size", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(n, 10)}).node())
			}
			mounts.Content = append(mounts.Content, m.node())
			continue
		}
		var flags []string
		if v.ReadOnly {
			flags = append(flags, "ro")
		}
		src := v.Source
		if v.Name != "" {
			src = p.shared(app, v.Name)
			p.volumes.set(src, newMap().node())
		} else if v.SELinux != "" {
			flags = append(flags, v.SELinux)
		}
		m := src + ":" + v.Target
		if len(flags) > 0 {
			m += ":" + strings.Join(flags, ",")
		}
		mounts.Content = append(mounts.Content, strNode(m))
	}
	if len(mounts.Content) > 0 {
		svc.set("volumes", mounts)
	}
}

// networks returns the service's networks: the external one alone for a
// single app; the default network and, with domains, the external one in
// a stack of several services.
func (p *composeProject) networks(app *App) *yaml.Node {
	netCfg := newMap()
	netCfg.set("aliases", strSeq(app.Aliases))
	if !p.multi {
		return newMap().set(p.o.network, netCfg.node()).node()
	}
	nets := newMap().set("default", netCfg.node())
	if len(app.Domains) > 0 {
		nets.set(p.o.network, newMap().node())
		p.external = true
	}
	return nets.node()
}

// filesOf adds the service's configs, their top-level entries and
// their files ("configs/<name>", or "configs/<service>/<name>" in a stack
// of several services).
func (p *composeProject) filesOf(app *App, svc *mapNode) {
	refs := seqNode()
	for _, f := range app.Files {
		name := p.shared(app, f.Name)
		path := configsDir + "/" + f.Name
		if p.multi {
			path = configsDir + "/" + app.Name + "/" + f.Name
		}
		p.files = append(p.files, File{Path: path, Data: []byte(f.Content), Mode: 0o644})
		p.configs.set(name, newMap().str("file", "./"+path).node())
		mode := f.Mode
		if mode == 0 {
			mode = 0o444
		}
		refs.Content = append(refs.Content, newMap().str("source", name).str("target", f.Target).int("mode", int(mode)).node())
	}
	if len(refs.Content) > 0 {
		svc.set("configs", refs)
	}
}

// secretsOf adds the service's env_file and secrets, and their files.
func (p *composeProject) secretsOf(app *App, svc *mapNode) {
	var envLines []string
	refs := seqNode()
	for _, s := range app.Secrets {
		if s.Env != "" {
			envLines = append(envLines, s.Env+"="+dotenvQuote(s.Value)+"\n")
		}
		if s.File != "" {
			path := secretsDir + "/" + s.Name
			if p.multi {
				path = secretsDir + "/" + app.Name + "/" + s.Name
			}
			name := p.shared(app, s.Name)
			p.files = append(p.files, File{Path: path, Data: []byte(s.Value), Mode: 0o600, Secret: true})
			p.secrets.set(name, newMap().str("file", "./"+path).node())
			refs.Content = append(refs.Content, newMap().str("source", name).str("target", s.File).node())
		}
	}
	if len(envLines) > 0 {
		sort.Strings(envLines)
		path := secretsEnvFile
		if p.multi {
			path = secretsDir + "/" + app.Name + ".env"
		}
		p.files = append(p.files, File{Path: path, Data: []byte(strings.Join(envLines, "")), Mode: 0o600, Secret: true})
		svc.set("env_file", strSeq([]string{"./" + path}))
	}
	if len(refs.Content) > 0 {
		svc.set("secrets", refs)
	}
}

// dependsOnNode writes depends_on in the long form, or nil.
func dependsOnNode(deps []Dependency) *yaml.Node {
	if len(deps) == 0 {
		return nil
	}
	m := newMap()
	for _, d := range deps {
		cond := d.Condition
		if cond == "" {
			cond = ConditionStarted
		}
		m.set(d.Service, newMap().str("condition", cond).node())
	}
	return m.node()
}

func hasNamedVolume(app *App) bool {
	for _, v := range app.Volumes {
		if v.Name != "" {
			return true
		}
	}
	return false
}

func composeDeploy(app *App) *yaml.Node {
	deploy := newMap()
	if app.Replicas > 1 {
		deploy.int("replicas", app.Replicas)
	}
	res := newMap()
	res.set("limits", quantityNode(app.Resources.Limits, true))
	res.set("reservations", quantityNode(app.Resources.Requests, true))
	if len(res.n.Content) > 0 {
		deploy.set("resources", res.node())
	}
	if !hasNamedVolume(app) {
		// Swarm starts the new task before it stops the old one (Compose
		// ignores update_config); tasks sharing a named volume cannot.
		deploy.set("update_config", newMap().str("order", "start-first").node())
	}
	if len(deploy.n.Content) == 0 {
		return nil
	}
	return deploy.node()
}

// quantityNode renders cpu and memory amounts, the Compose way (key
// "cpus", "0.5", "512M") or the Kubernetes way ("cpu", "500m", "512Mi");
// nil when neither is set.
func quantityNode(q Quantity, compose bool) *yaml.Node {
	m := newMap()
	if q.CPU != "" {
		n, _ := ParseCPU(q.CPU)
		key := "cpu"
		if compose {
			key = "cpus"
		}
		m.str(key, formatCPU(n, compose))
	}
	if q.Memory != "" {
		n, _ := ParseBytes(q.Memory)
		m.str("memory", formatBytes(n, compose))
	}
	if len(m.n.Content) == 0 {
		return nil
	}
	return m.node()
}

func composeHealth(app *App, h *Health) *yaml.Node {
	var test []string
	switch {
	case h.HTTP != nil:
		url := fmt.Sprintf("'http://127.0.0.1:%d%s'", app.healthPort(), h.HTTP.Path)
		test = []string{"CMD-SHELL", "curl -fsS -o /dev/null " + url + " || wget -q -O /dev/null " + url + " || exit 1"}
	case h.Command != nil:
		test = append([]string{"CMD"}, h.Command...)
	default:
		test = []string{"CMD-SHELL", h.Shell}
	}
	m := newMap()
	m.set("test", strSeq(test))
	m.str("interval", composeDuration(h.interval()))
	m.str("timeout", composeDuration(h.timeout()))
	m.int("retries", h.retries())
	if h.StartPeriod > 0 {
		m.str("start_period", composeDuration(h.StartPeriod))
	}
	return m.node()
}

func (h *Health) interval() time.Duration { return orDefault(h.Interval, defaultInterval) }
func (h *Health) timeout() time.Duration  { return orDefault(h.Timeout, defaultTimeout) }
func (h *Health) retries() int {
	if h.Retries == 0 {
		return defaultRetries
	}
	return h.Retries
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// healthPort is the port of an HTTP health check.
func (a *App) healthPort() int {
	if a.Health.HTTP.Port != 0 {
		return a.Health.HTTP.Port
	}
	return a.firstTCPPort()
}

func (a *App) firstTCPPort() int {
	for _, p := range a.Ports {
		if p.protocol() == "tcp" {
			return p.Container
		}
	}
	return 0
}

func (d Domain) port(a *App) int {
	if d.Port != 0 {
		return d.Port
	}
	return a.firstTCPPort()
}

// proxyLabels adds the reverse proxy's routing labels for app's domains.
func proxyLabels(labels map[string]string, app *App, o *composeOptions) {
	if len(app.Domains) == 0 {
		return
	}
	router := app.Name
	if o.project != app.Name {
		router = o.project + "-" + app.Name
	}
	if o.proxy == "caddy" {
		for i, d := range app.Domains {
			k := fmt.Sprintf("caddy_%d", i)
			site := d.Host
			if !d.TLS {
				site = "http://" + site
			}
			labels[k] = site
			upstream := fmt.Sprintf("{{upstreams %d}}", d.port(app))
			if d.Path != "" {
				upstream = d.Path + "* " + upstream
			}
			labels[k+".reverse_proxy"] = upstream
		}
		return
	}
	labels["traefik.enable"] = "true"
	labels["traefik.docker.network"] = o.network
	for i, d := range app.Domains {
		r := fmt.Sprintf("%s-%d", router, i)
		rule := "Host(`" + d.Host + "`)"
		if d.Path != "" {
			rule += " && PathPrefix(`" + d.Path + "`)"
		}
		pre := "traefik.http.routers." + r
		labels[pre+".rule"] = rule
		labels[pre+".service"] = r
		if d.TLS {
			labels[pre+".entrypoints"] = o.entrypoints[1]
			labels[pre+".tls"] = "true"
			if d.Issuer != "" {
				labels[pre+".tls.certresolver"] = d.Issuer
			}
		} else {
			labels[pre+".entrypoints"] = o.entrypoints[0]
		}
		labels["traefik.http.services."+r+".loadbalancer.server.port"] = strconv.Itoa(d.port(app))
	}
}

// dotenvQuote writes s as a double-quoted env_file value that Compose v2
// reads back unchanged: backslash, double quote, dollar and line breaks
// are escaped.
func dotenvQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '$':
			b.WriteString(`\$`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
