package destination

import (
	"encoding/pem"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Proxy deploys ferry's reverse proxy, Caddy v2, to a Docker host, as a
// compose project of its own that [Deploy] runs like any app: with its
// lock, history and rollback. The zero value is ready to use.
//
// Caddy was chosen over Traefik because ferry switches the traffic
// itself rather than racing Traefik's discovery of containers by label
// (which routes to a container while it stops), because Caddy can read
// an upstream's address from a file on each request (the {file.*}
// placeholder), so that a switch rewrites a file and changes no
// configuration, and because Traefik cannot be built from its module
// without replace directives. Caddy reloads its configuration only when
// an app's routes change (a first deploy, new domains, paths, ports or
// replica counts), never for an update of the same routes: a reload
// opens a new listening socket beside the old one (SO_REUSEPORT), and
// Linux may reset a connection caught in the old one's queue as it
// closes, which the sysctl net.ipv4.tcp_migrate_req (see
// [Proxy.NoRequestMigration]) makes rarer on Linux 5.14 and later.
//
// The proxy listens on the host's HTTP and HTTPS ports, gets certificates
// from Let's Encrypt (ACME) for the apps' TLS domains and keeps them, and
// its ACME account, in a named volume. It joins [Proxy.Networks] and,
// on each deploy, every network of the apps it routes (see [RoutedByLabel]), and it
// carries the label "ferry.proxy=<name>" by which app deploys find it.
//
// Its routes are Caddyfile snippets, one per service, in the directory
// "etc/sites" of the proxy's directory on the host (bind-mounted, with
// the Caddyfile, on /etc/caddy), and the addresses of each service's
// containers are files in "etc/upstreams/<project>.<service>", one per
// replica; an app deploy writes them (see [Docker]) and asks Caddy to
// reload (`docker exec <proxy> caddy reload`) only when its snippet
// changed.
type Proxy struct {
	// Dir is the directory holding the apps on the host; the proxy
	// lives in Dir/<Name>. Empty means [DefaultDir].
	Dir string
	// Name is the proxy's compose project name and the value of its
	// "ferry.proxy" label, which [Docker.ProxyName] refers to. Empty
	// means [DefaultProxyName].
	Name string
	// Image is the Caddy image. It must have the caddy binary on its
	// PATH (at /usr/bin/caddy in the official image). Empty means
	// [DefaultProxyImage].
	Image string
	// HTTPPort and HTTPSPort are the host ports the proxy listens on.
	// Zero means 80 and 443.
	HTTPPort, HTTPSPort int
	// ACMEEmail is the e-mail address of the ACME (Let's Encrypt)
	// account, which receives expiry notices. Empty means an account
	// without e-mail.
	ACMEEmail string
	// ACMECA is the directory URL of the ACME certificate authority.
	// Empty means Caddy's defaults (Let's Encrypt, then ZeroSSL). Let's
	// Encrypt's staging directory,
	// https://acme-staging-v02.api.letsencrypt.org/directory, issues
	// untrusted certificates without its production rate limits.
	ACMECA string
	// ACMECARoot is the PEM certificate of the root that the ACME
	// directory's own HTTPS certificate chains to, for a private ACME
	// server (step-ca, Pebble). Nil means the system's roots.
	ACMECARoot []byte
	// Networks are the external Docker networks the proxy joins,
	// created when missing. Empty means ["ferry"], the default network
	// of [Docker].
	Networks []string
	// SELinux relabels the bind mount of the configuration directory
	// (the Caddyfile and the apps' snippets) on SELinux hosts: "z" (shared) or "Z" (private). Empty
	// means no relabelling.
	SELinux string
	// ComposeCommand is the Compose program, as argv. Nil means detect,
	// as for [Docker].
	ComposeCommand []string
	// Timeout is how long the proxy has to come up. Zero means 2
	// minutes.
	Timeout time.Duration
	// NoRequestMigration leaves out the sysctl net.ipv4.tcp_migrate_req,
	// for hosts with Linux older than 5.14, which lack it (the proxy
	// would not start). Caddy reloads by opening a new listening socket
	// beside the old one (SO_REUSEPORT) and closing the old one; the
	// sysctl moves the connections waiting in the old socket's queue to
	// the new one, where Linux would otherwise reset them. Without it a
	// reload (when an app's routes change, not on an update of the same
	// routes) can fail the odd request that arrives during it.
	NoRequestMigration bool
}

// DefaultProxyName is the name of the proxy when [Proxy.Name] and
// [Docker.ProxyName] are empty.
const DefaultProxyName = "ferry-proxy"

// DefaultProxyImage is the Caddy image when [Proxy.Image] is empty.
const DefaultProxyImage = "caddy:2.11.9"

// ProxyLabel is the label that marks the proxy's container; its value
// is the proxy's name.
const ProxyLabel = "ferry.proxy"

// Paths of the proxy's configuration inside its container. The host
// directory "etc" of the proxy is mounted as a whole on /etc/caddy (a
// mount of the file alone would keep showing the file a deploy
// replaced), with the apps' snippets in its "sites".
const (
	proxyConfDir   = "/etc/caddy"
	proxyCaddyfile = proxyConfDir + "/Caddyfile"
	proxyACMERoot  = proxyConfDir + "/acme-ca-root.pem"
	proxySitesDir  = proxyConfDir + "/sites"
	// proxyUpstreamsDir holds the addresses of the switched services'
	// containers, a directory per service (see [upstreamsDir]).
	proxyUpstreamsDir = proxyConfDir + "/upstreams"
	proxyService      = "caddy"
)

var (
	// proxyNameRE: a compose project name that is also a label value
	// (the routing label carries it): at most 63 characters.
	proxyNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)
	emailRE     = regexp.MustCompile(`^[^\s@{}"\\]+@[^\s@{}"\\]+$`)
)

// checkProxyName says what is wrong with a proxy's name, or nil.
func checkProxyName(name string) error {
	if !proxyNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a proxy name (at most 63 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit)", name)
	}
	return nil
}

// Plan returns the plan that deploys the proxy. It does no I/O. It
// returns an error naming the field when a field is invalid.
func (p Proxy) Plan() (*Plan, error) {
	c, err := p.config()
	if err != nil {
		return nil, err
	}
	compose, err := c.composeFile()
	if err != nil {
		return nil, err
	}
	files := []translate.File{
		{Path: "compose.yaml", Data: compose, Mode: 0o644},
		{Path: "etc/Caddyfile", Data: c.caddyfile(), Mode: 0o644},
	}
	if c.acmeCARoot != nil {
		files = append(files, translate.File{Path: "etc/" + path.Base(proxyACMERoot), Data: c.acmeCARoot, Mode: 0o644})
	}
	placed, err := placeFiles(c.dir, files)
	if err != nil {
		return nil, err
	}
	prelude := composePrelude(p.ComposeCommand, placed[0].Path)
	up := `"$@" -p ` + quoted(c.name) + ` -f "$f" up -d --remove-orphans` + "\n"
	down := `"$@" -p ` + quoted(c.name) + ` -f "$f" down --remove-orphans` + "\n"
	wait := healthScript(c.name, c.timeout)
	guard := c.timeout + 30*time.Second

	check := &executor.Pipeline{Name: "check", Dir: c.dir, Steps: []executor.Step{
		{Name: "docker engine", Args: []string{"docker", "version", "--format", "engine {{.Server.Version}}"}},
		{Name: "compose", Script: composePrelude(p.ComposeCommand, "") + `"$@" version` + "\n"},
	}}
	for _, n := range c.networks {
		check.Steps = append(check.Steps, networkStep(n))
	}
	check.Steps = append(check.Steps, executor.Step{Name: "create directories", Args: []string{"mkdir", "-p", "etc/sites", "etc/upstreams"}})
	plan := &Plan{
		Target:  "proxy",
		App:     c.name,
		Image:   c.image,
		Dir:     c.dir,
		Version: version(files),
		Files:   placed,
		Timeout: c.timeout,
		Check:   check,
		Apply: &executor.Pipeline{Name: "apply", Dir: c.dir, Steps: []executor.Step{
			{Name: "compose up", Script: prelude + up},
			{Name: "reload configuration", Script: c.reloadScript(), Timeout: guard},
			{Name: "join the networks of ferry's apps", Script: c.joinScript()},
		}},
		Verify: &executor.Pipeline{Name: "verify", Dir: c.dir, Steps: []executor.Step{
			{Name: "wait until running", Script: wait, Timeout: guard},
		}},
		Rollback: &executor.Pipeline{Name: "rollback", Dir: c.dir, Steps: []executor.Step{
			{Name: "restore previous files", Script: restoreScript},
			{Name: "compose up previous release", Script: prelude + ifPrevious(up, down+"echo \"no previous release: took the new one down\"\n")},
			{Name: "reload previous configuration", Script: ifPrevious(c.reloadScript(), ""), Timeout: guard},
			{Name: "wait until running", Script: ifPrevious(wait, ""), Timeout: guard},
		}},
	}
	plan.Diagnose = composeDiagnosis(c.dir, c.name)
	plan.Remove = composeRemove(c.dir, prelude, c.name)
	return plan, nil
}

// proxyConfig is a Proxy with defaults applied and fields checked.
type proxyConfig struct {
	name, image, dir, email, selinux string
	acmeCA                           string
	acmeCARoot                       []byte
	httpPort, httpsPort              int
	networks                         []string
	timeout                          time.Duration
	noMigration                      bool
}

func (p Proxy) config() (*proxyConfig, error) {
	c := &proxyConfig{name: p.Name, image: p.Image, email: p.ACMEEmail, selinux: p.SELinux, acmeCA: p.ACMECA, acmeCARoot: p.ACMECARoot,
		httpPort: p.HTTPPort, httpsPort: p.HTTPSPort, timeout: p.Timeout, noMigration: p.NoRequestMigration}
	if c.name == "" {
		c.name = DefaultProxyName
	}
	if c.image == "" {
		c.image = DefaultProxyImage
	}
	if c.httpPort == 0 {
		c.httpPort = 80
	}
	if c.httpsPort == 0 {
		c.httpsPort = 443
	}
	if c.timeout <= 0 {
		c.timeout = defaultDockerTimeout
	}
	var problems []string
	if err := checkProxyName(c.name); err != nil {
		problems = append(problems, "name "+err.Error())
	}
	if strings.ContainsAny(c.image, " \t\n\"'") {
		problems = append(problems, fmt.Sprintf("image %q contains spaces or quotes", c.image))
	}
	for _, port := range []struct {
		name string
		n    int
	}{{"http port", c.httpPort}, {"https port", c.httpsPort}} {
		if port.n < 1 || port.n > 65535 {
			problems = append(problems, fmt.Sprintf("%s %d is not between 1 and 65535", port.name, port.n))
		}
	}
	if c.httpPort == c.httpsPort {
		problems = append(problems, fmt.Sprintf("http port and https port are both %d", c.httpPort))
	}
	if c.email != "" && !emailRE.MatchString(c.email) {
		problems = append(problems, fmt.Sprintf("acme email %q is not an e-mail address", c.email))
	}
	if u, err := url.Parse(c.acmeCA); c.acmeCA != "" && (err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(c.acmeCA, " \t\n\"'{}")) {
		problems = append(problems, fmt.Sprintf("acme ca %q is not an https URL", c.acmeCA))
	}
	if b, _ := pem.Decode(c.acmeCARoot); c.acmeCARoot != nil && (b == nil || b.Type != "CERTIFICATE") {
		problems = append(problems, "acme ca root is not a PEM certificate")
	}
	if c.selinux != "" && c.selinux != "z" && c.selinux != "Z" {
		problems = append(problems, fmt.Sprintf("selinux %q is not z or Z", c.selinux))
	}
	seen := map[string]bool{}
	for _, n := range p.Networks {
		if !networkRE.MatchString(n) {
			problems = append(problems, fmt.Sprintf("network %q is not a Docker network name", n))
		} else if !seen[n] {
			seen[n] = true
			c.networks = append(c.networks, n)
		}
	}
	if len(p.Networks) == 0 {
		c.networks = []string{"ferry"}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("destination: proxy: %s", strings.Join(problems, "; "))
	}
	c.dir = appDir(p.Dir, DefaultDir, c.name)
	return c, nil
}

var networkRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// caddyfile is the proxy's main configuration: global options, then
// every app's snippet.
func (c *proxyConfig) caddyfile() []byte {
	var b strings.Builder
	b.WriteString("# Written by ferry: the proxy's global options. Each app's routes are\n")
	b.WriteString("# in sites/<project>.caddy, written by the app's deploy.\n{\n")
	b.WriteString("\tadmin localhost:2019\n")
	if c.email != "" {
		fmt.Fprintf(&b, "\temail %s\n", c.email)
	}
	if c.acmeCA != "" {
		fmt.Fprintf(&b, "\tacme_ca %s\n", c.acmeCA)
	}
	if c.acmeCARoot != nil {
		fmt.Fprintf(&b, "\tacme_ca_root %s\n", proxyACMERoot)
	}
	// Connections the old configuration serves get this long to finish
	// after a reload.
	b.WriteString("\tgrace_period 30s\n")
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "import %s/*.caddy\n", proxySitesDir)
	return []byte(b.String())
}

// composeFile writes the proxy's compose file.
func (c *proxyConfig) composeFile() ([]byte, error) {
	mode := "ro"
	if c.selinux != "" {
		mode += "," + c.selinux
	}
	nets := map[string]any{}
	top := map[string]any{}
	for _, n := range c.networks {
		nets[n] = map[string]any{}
		top[n] = map[string]any{"name": n, "external": true}
	}
	sysctls := map[string]string{"net.ipv4.tcp_migrate_req": "1"}
	if c.noMigration {
		sysctls = nil
	}
	svc := map[string]any{
		"image":   c.image,
		"command": []string{"caddy", "run", "--config", proxyCaddyfile, "--adapter", "caddyfile"},
		"ports": []map[string]any{
			{"target": 80, "published": strconv.Itoa(c.httpPort), "protocol": "tcp"},
			{"target": 443, "published": strconv.Itoa(c.httpsPort), "protocol": "tcp"},
			{"target": 443, "published": strconv.Itoa(c.httpsPort), "protocol": "udp"},
		},
		"volumes": []string{
			"./etc:" + proxyConfDir + ":" + mode,
			"data:/data",
			"config:/config",
		},
		"labels": map[string]string{
			ProxyLabel:               c.name,
			translate.LabelManagedBy: "ferry",
			translate.LabelName:      c.name,
		},
		"restart":           "unless-stopped",
		"sysctls":           sysctls,
		"stop_grace_period": "30s",
		"networks":          nets,
	}
	root := map[string]any{
		"name":     c.name,
		"services": map[string]any{proxyService: svc},
		"networks": top,
		"volumes":  map[string]any{"data": map[string]any{}, "config": map[string]any{}},
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("destination: proxy compose file: %w", err)
	}
	return out, nil
}

// proxyFind sets proxy to the id of the running proxy container named
// by the shell variable proxy_name, or to "" when there is none.
const proxyFind = `proxy=$(docker ps -q --filter "label=` + ProxyLabel + `=$proxy_name" | head -n 1)
`

// reloadScript asks Caddy to load the Caddyfile again (and so every
// app's snippet), retrying while the container starts.
func (c *proxyConfig) reloadScript() string {
	return "proxy_name=" + quoted(c.name) + "\n" + proxyFind + `if [ -z "$proxy" ]; then
  echo "proxy $proxy_name is not running" >&2
  exit 1
fi
i=0
until out=$(docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile 2>&1); do
  i=$((i + 1))
  if [ "$i" -ge 30 ]; then
    printf '%s\n' "$out" >&2
    exit 1
  fi
  sleep 1
done
echo "proxy $proxy_name: configuration loaded"
`
}

// RoutedByLabel marks the containers of apps whose domains a ferry proxy
// routes; its value is the proxy's name. [Docker] adds it to apps with
// domains.
const RoutedByLabel = "ferry.routed-by"

// joinScript connects the proxy to every network that a container it
// routes to is on.
func (c *proxyConfig) joinScript() string {
	return "proxy_name=" + quoted(c.name) + "\n" + proxyFind + `joined=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$proxy")
for net in $(docker ps --filter "label=` + RoutedByLabel + `=$proxy_name" --format '{{.Networks}}' | tr ',' '\n' | sort -u); do
  case " $joined " in *" $net "*) continue ;; esac
  docker network connect "$net" "$proxy"
  joined="$joined $net"
  echo "joined network $net"
done
`
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
