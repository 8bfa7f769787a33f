package translate

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is a file to write on the Docker host, next to the compose file.
type File struct {
	// Path is relative to the compose project directory, with forward
	// slashes: "compose.yaml", "secrets.env", "secrets/db-password".
	Path string
	// Data is the file's content.
	Data []byte
	// Mode is the file's permission bits: 0644, or 0600 for secrets.
	Mode fs.FileMode
	// Secret reports that Data holds secret values: never log or print it.
	Secret bool
}

// Side files written next to compose.yaml.
const (
	composeFile    = "compose.yaml"
	secretsEnvFile = "secrets.env"
	secretsDir     = "secrets"
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
// mounted as files). The files reference each other by relative path, so
// they must be written together.
//
// The service joins the external network set by [WithNetwork], which must
// exist. Domains become router labels for the proxy chosen by
// [WithProxy]. Every "$" in the app's strings is written "$$" so that
// Compose does not interpolate it. The secrets.env format (double-quoted
// values with backslash escapes) is the one Compose v2 reads.
//
// An invalid app gives a [*ValidationError]; an unknown option value a
// plain error.
func ToCompose(app *App, opts ...Option) ([]File, error) {
	if err := app.Validate(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	if o.project == "" {
		o.project = app.Name
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

	svc := newMap()
	svc.str("image", app.Image)
	svc.set("entrypoint", strSeq(app.Command))
	svc.set("command", strSeq(app.Args))
	svc.optStr("user", app.User)
	svc.set("environment", strMap(app.Env))

	files := []File{{Path: composeFile, Mode: 0o644}}
	var envLines []string
	secretRefs := seqNode()
	topSecrets := newMap()
	for _, s := range app.Secrets {
		if s.Env != "" {
			envLines = append(envLines, s.Env+"="+dotenvQuote(s.Value)+"\n")
		}
		if s.File != "" {
			p := secretsDir + "/" + s.Name
			files = append(files, File{Path: p, Data: []byte(s.Value), Mode: 0o600, Secret: true})
			topSecrets.set(s.Name, newMap().str("file", "./"+p).node())
			secretRefs.Content = append(secretRefs.Content, newMap().str("source", s.Name).str("target", s.File).node())
		}
	}
	if len(envLines) > 0 {
		sort.Strings(envLines)
		files = append(files, File{Path: secretsEnvFile, Data: []byte(strings.Join(envLines, "")), Mode: 0o600, Secret: true})
		svc.set("env_file", strSeq([]string{"./" + secretsEnvFile}))
	}
	if len(secretRefs.Content) > 0 {
		svc.set("secrets", secretRefs)
	}

	ports := seqNode()
	var expose []string
	for _, p := range app.Ports {
		if p.Host == 0 {
			e := strconv.Itoa(p.Container)
			if p.protocol() != "tcp" {
				e += "/" + p.protocol()
			}
			expose = append(expose, e)
			continue
		}
		ports.Content = append(ports.Content, newMap().
			int("target", p.Container).
			int("published", p.Host).
			str("protocol", p.protocol()).node())
	}
	if len(ports.Content) > 0 {
		svc.set("ports", ports)
	}
	svc.set("expose", strSeq(expose))

	topVolumes := newMap()
	var mounts []string
	for _, v := range app.Volumes {
		var flags []string
		if v.ReadOnly {
			flags = append(flags, "ro")
		}
		src := v.Source
		if v.Name != "" {
			src = v.Name
			topVolumes.set(v.Name, newMap().node())
		} else if v.SELinux != "" {
			flags = append(flags, v.SELinux)
		}
		m := src + ":" + v.Target
		if len(flags) > 0 {
			m += ":" + strings.Join(flags, ",")
		}
		mounts = append(mounts, m)
	}
	svc.set("volumes", strSeq(mounts))

	if h := app.Health; h != nil {
		svc.set("healthcheck", composeHealth(app, h))
	}

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
	if len(deploy.n.Content) > 0 {
		svc.set("deploy", deploy.node())
	}
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
		labelInstance:  app.Name,
	}
	for k, v := range app.Labels {
		labels[k] = v
	}
	proxyLabels(labels, app, o)
	svc.set("labels", strMap(labels))

	netCfg := newMap()
	netCfg.set("aliases", strSeq(app.Aliases))
	svc.set("networks", newMap().set(o.network, netCfg.node()).node())

	root := newMap()
	root.str("name", o.project)
	root.set("services", newMap().set(app.Name, svc.node()).node())
	root.set("networks", newMap().set(o.network, newMap().str("name", o.network).set("external", boolNode(true)).node()).node())
	if len(topVolumes.n.Content) > 0 {
		root.set("volumes", topVolumes.node())
	}
	if len(topSecrets.n.Content) > 0 {
		root.set("secrets", topSecrets.node())
	}
	mapStrings(root.node(), func(s string) string { return strings.ReplaceAll(s, "$", "$$") })
	data, err := encode(root.node())
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	files[0].Data = data
	return files, nil
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
func proxyLabels(labels map[string]string, app *App, o *options) {
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
			labels[pre+".entrypoints"] = "websecure"
			labels[pre+".tls"] = "true"
			if d.Issuer != "" {
				labels[pre+".tls.certresolver"] = d.Issuer
			}
		} else {
			labels[pre+".entrypoints"] = "web"
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
