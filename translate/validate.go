package translate

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidationError lists every problem found in an [App]. It is returned
// by [App.Validate], [Parse], [Load], [ToCompose] and [ToKubernetes].
type ValidationError struct {
	// Problems holds at least one problem, in the order of the fields.
	Problems []Problem
}

// Problem is one broken rule: the field path ("ports[1].container") and
// what is wrong with it.
type Problem struct {
	// Path locates the field, as written in YAML: "name",
	// "ports[1].container", "env.LOG_LEVEL".
	Path string
	// Message says which rule the value breaks.
	Message string
}

// String returns "path: message", or the message alone when Path is
// empty.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error prints one problem per line, in field order.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

var (
	dns1123LabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035LabelRE  = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	envNameRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	ianaSvcNameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	labelNameRE     = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValueRE    = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	userRE          = regexp.MustCompile(`^[0-9]{1,10}(:[0-9]{1,10})?$`)
	urlPathRE       = regexp.MustCompile(`^/[A-Za-z0-9/._~%-]*$`)
	healthPathRE    = regexp.MustCompile(`^/[A-Za-z0-9/._~%!&()*+,;=:@?-]*$`)
	imageRE         = regexp.MustCompile(`^[a-z0-9]([a-zA-Z0-9._/:@+-]*[a-zA-Z0-9])?$`)
	reservedBindRE  = regexp.MustCompile(`^(bind|tmpfs)-[0-9]+$`)
	maxAppNameLen   = 52
	maxDNSLabelLen  = 63
	maxSubdomainLen = 253
)

func isDNS1123Label(s string) bool {
	return len(s) <= maxDNSLabelLen && dns1123LabelRE.MatchString(s)
}

func isDNS1035Label(s string) bool {
	return len(s) <= maxDNSLabelLen && dns1035LabelRE.MatchString(s)
}

func isDNS1123Subdomain(s string) bool {
	if s == "" || len(s) > maxSubdomainLen {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNS1123Label(l) {
			return false
		}
	}
	return true
}

// isIANASvcName reports whether s is a valid Kubernetes port name: at
// most 15 characters, lowercase letters, digits and single hyphens, with
// at least one letter.
func isIANASvcName(s string) bool {
	return len(s) <= 15 && ianaSvcNameRE.MatchString(s) && !strings.Contains(s, "--") &&
		strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz")
}

func isLabelKey(k string) bool {
	prefix, name, ok := strings.Cut(k, "/")
	if !ok {
		name, prefix = prefix, ""
	} else if !isDNS1123Subdomain(prefix) {
		return false
	}
	return len(name) <= 63 && labelNameRE.MatchString(name)
}

func isLabelValue(v string) bool {
	return len(v) <= 63 && labelValueRE.MatchString(v)
}

// isCleanAbs reports whether p is an absolute, clean path usable in a
// compose short volume syntax (no ':' or ',').
func isCleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.ContainsAny(p, ":,\x00\n\r")
}

func quoteVal(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}

// Validate checks a against every rule of the spec and returns a
// [*ValidationError] listing all problems, or nil.
func (a *App) Validate() error {
	if a == nil {
		return &ValidationError{Problems: []Problem{{Message: "no app (nil *App)"}}}
	}
	return check(a.validate)
}

// check runs validate and returns a [*ValidationError] with the problems
// it found, or nil.
func check(validate func(*problems)) error {
	var ps problems
	validate(&ps)
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (a *App) validate(ps *problems) {
	switch {
	case a.Name == "":
		ps.add("name", "is required")
	case len(a.Name) > maxAppNameLen:
		ps.add("name", "%s is longer than %d characters", quoteVal(a.Name), maxAppNameLen)
	case !isDNS1035Label(a.Name):
		ps.add("name", "%s is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)", quoteVal(a.Name))
	}
	switch {
	case a.Image == "" && a.Build == nil:
		ps.add("image", "is required")
	case a.Image == "":
	case len(a.Image) > 1024 || !imageRE.MatchString(a.Image):
		ps.add("image", "%s is not an image reference", quoteVal(a.Image))
	}
	if a.Build != nil {
		a.Build.validate(ps, "build")
	}
	if a.Registry != nil {
		a.Registry.validate(ps, "registry", a.Image)
	}
	for i, c := range a.Command {
		checkText(ps, fmt.Sprintf("command[%d]", i), c)
	}
	for i, c := range a.Args {
		checkText(ps, fmt.Sprintf("args[%d]", i), c)
	}

	tcp := a.validatePorts(ps)
	a.validateDomains(ps, tcp)

	envNames := map[string]string{} // env var → field that sets it
	for _, k := range sortedKeys(a.Env) {
		p := "env." + k
		if !envNameRE.MatchString(k) {
			ps.add(p, "%s is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", quoteVal(k))
		}
		checkText(ps, p, a.Env[k])
		envNames[k] = p
	}
	files := map[string]string{}
	a.validateSecrets(ps, envNames, files)
	a.validateVolumes(ps, files)
	a.validateFiles(ps, files)
	a.validateRuntime(ps)
	a.validateHealth(ps, tcp)

	if a.Replicas < 0 {
		ps.add("replicas", "%d is negative", a.Replicas)
	} else if a.Replicas > 10000 {
		ps.add("replicas", "%d is more than 10000", a.Replicas)
	}
	a.validateResources(ps)
	a.validateSettings(ps)
}

// validateSettings checks labels, restart, stop_grace_period, user,
// aliases and workload.
func (a *App) validateSettings(ps *problems) {
	for _, k := range sortedKeys(a.Labels) {
		p := "labels." + k
		switch {
		case !isLabelKey(k):
			ps.add(p, "%s is not a label key ([prefix/]name, name at most 63 characters)", quoteVal(k))
		case strings.HasPrefix(k, "app.kubernetes.io/"):
			ps.add(p, "keys under app.kubernetes.io/ are set by ferry")
		}
		if !isLabelValue(a.Labels[k]) {
			ps.add(p, "%s is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", quoteVal(a.Labels[k]))
		}
	}
	switch a.Restart {
	case "", "no", "always", "on-failure", "unless-stopped":
	default:
		ps.add("restart", "%s is not a restart policy (no, always, on-failure, unless-stopped)", quoteVal(a.Restart))
	}
	checkSeconds(ps, "stop_grace_period", a.StopGracePeriod, 0)
	if a.User != "" {
		if !userRE.MatchString(a.User) {
			ps.add("user", "%s is not a numeric user[:group] such as 1000 or 1000:1000", quoteVal(a.User))
		} else {
			for _, id := range strings.Split(a.User, ":") {
				if n, _ := strconv.ParseInt(id, 10, 64); n > 1<<31-1 {
					ps.add("user", "%s is out of range (0-2147483647)", id)
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, al := range a.Aliases {
		p := fmt.Sprintf("aliases[%d]", i)
		switch {
		case !isDNS1035Label(al):
			ps.add(p, "%s is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter)", quoteVal(al))
		case al == a.Name:
			ps.add(p, "%s is the app's own name", quoteVal(al))
		case a.Workload == "statefulset" && al == a.Name+"-headless":
			ps.add(p, "%s is the StatefulSet's headless Service", quoteVal(al))
		case al == a.Name+"-published":
			ps.add(p, "%s is the Service of the published ports", quoteVal(al))
		case seen[al]:
			ps.add(p, "%s is listed twice", quoteVal(al))
		}
		seen[al] = true
	}
	if len(a.Aliases) > 0 && len(a.Ports) == 0 {
		ps.add("aliases", "need at least one port (aliases are Services on Kubernetes)")
	}
	switch a.Workload {
	case "", "deployment", "statefulset":
	default:
		ps.add("workload", "%s is not a workload (deployment, statefulset)", quoteVal(a.Workload))
	}
}

// checkText refuses strings no process environment or argv can carry.
func checkText(ps *problems, p, s string) {
	switch {
	case !utf8.ValidString(s):
		ps.add(p, "is not valid UTF-8")
	case strings.ContainsRune(s, 0):
		ps.add(p, "contains a NUL byte")
	}
}

// checkSeconds requires d to be whole seconds of at least min.
func checkSeconds(ps *problems, p string, d, min time.Duration) {
	if d == 0 && min == 0 {
		return
	}
	switch {
	case d < min:
		ps.add(p, "%s is less than %s", d, min)
	case d%time.Second != 0:
		ps.add(p, "%s is not a whole number of seconds", d)
	case d > 365*24*time.Hour:
		ps.add(p, "%s is longer than a year", d)
	}
}

// validatePorts checks ports and returns the TCP container ports, in order.
func (a *App) validatePorts(ps *problems) []int {
	var tcp []int
	names := map[string]bool{}
	containers := map[string]bool{}
	hosts := map[string]bool{}
	for i, pt := range a.Ports {
		p := fmt.Sprintf("ports[%d]", i)
		proto := pt.protocol()
		if proto != "tcp" && proto != "udp" {
			ps.add(p+".protocol", "%s is not tcp or udp", quoteVal(pt.Protocol))
		}
		if checkPort(ps, p+".container", pt.Container, proto, containers, "listed") && proto == "tcp" {
			tcp = append(tcp, pt.Container)
		}
		if pt.Host != 0 {
			checkPort(ps, p+".host", pt.Host, proto, hosts, "published")
			if a.Replicas > 1 {
				ps.add(p+".host", "a fixed host port cannot be shared by %d replicas; remove it and route through a domain", a.Replicas)
			}
		}
		name := pt.name()
		if pt.Name != "" && !isIANASvcName(pt.Name) {
			ps.add(p+".name", "%s is not a port name (at most 15 lowercase letters, digits and single '-', with a letter)", quoteVal(pt.Name))
		} else if names[name] {
			ps.add(p+".name", "%s is used twice", quoteVal(name))
		}
		names[name] = true
	}
	return tcp
}

// checkPort checks that port, at path, is a port number whose
// "port/proto" is not already in seen (else it is verb "twice"), adds it
// there and reports whether the number is a port.
func checkPort(ps *problems, path string, port int, proto string, seen map[string]bool, verb string) bool {
	if port < 1 || port > 65535 {
		ps.add(path, "%d is not a port (1-65535)", port)
		return false
	}
	key := fmt.Sprintf("%d/%s", port, proto)
	if seen[key] {
		ps.add(path, "%s is %s twice", key, verb)
	}
	seen[key] = true
	return true
}

func (pt Port) protocol() string {
	if pt.Protocol == "" {
		return "tcp"
	}
	return pt.Protocol
}

func (pt Port) name() string {
	if pt.Name != "" {
		return pt.Name
	}
	return fmt.Sprintf("%s-%d", pt.protocol(), pt.Container)
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (a *App) validateDomains(ps *problems, tcp []int) {
	if len(a.Domains) > 0 && len(tcp) == 0 {
		ps.add("domains", "need a TCP port to route to")
	}
	seen := map[string]bool{}
	issuer := ""
	for i, d := range a.Domains {
		p := fmt.Sprintf("domains[%d]", i)
		if !isDNS1123Subdomain(d.Host) {
			ps.add(p+".host", "%s is not a lowercase DNS name (no wildcards)", quoteVal(d.Host))
		}
		if d.Path != "" && (!urlPathRE.MatchString(d.Path) || strings.Contains(d.Path, "//") ||
			strings.Contains(d.Path+"/", "/./") || strings.Contains(d.Path+"/", "/../")) {
			ps.add(p+".path", "%s is not a clean URL path prefix starting with '/'", quoteVal(d.Path))
		}
		if d.Port != 0 && len(tcp) > 0 && !contains(tcp, d.Port) {
			ps.add(p+".port", "%d is not one of the app's TCP ports", d.Port)
		}
		key := d.Host + d.routePath()
		if seen[key] {
			ps.add(p, "%s is routed twice", key)
		}
		seen[key] = true
		if d.CertSecret != "" && !isDNS1123Subdomain(d.CertSecret) {
			ps.add(p+".cert_secret", "%s is not a DNS-1123 subdomain", quoteVal(d.CertSecret))
		}
		if d.Issuer != "" {
			if !isDNS1123Subdomain(d.Issuer) {
				ps.add(p+".issuer", "%s is not a DNS-1123 subdomain", quoteVal(d.Issuer))
			}
			if issuer != "" && d.Issuer != issuer {
				ps.add(p+".issuer", "%s differs from %s: all domains of an app use one issuer", quoteVal(d.Issuer), quoteVal(issuer))
			}
			issuer = d.Issuer
		}
		if !d.TLS && (d.CertSecret != "" || d.Issuer != "") {
			ps.add(p+".tls", "must be true when cert_secret or issuer is set")
		}
	}
}

func (d Domain) routePath() string {
	if d.Path == "" {
		return "/"
	}
	return d.Path
}

func (a *App) validateSecrets(ps *problems, envNames, files map[string]string) {
	names := map[string]bool{}
	for i, s := range a.Secrets {
		p := fmt.Sprintf("secrets[%d]", i)
		checkName(ps, p+".name", s.Name, names)
		// The value is never quoted in messages: it is secret.
		checkText(ps, p+".value", s.Value)
		if s.Env == "" && s.File == "" {
			ps.add(p, "needs env, file or both")
		}
		if s.Env != "" {
			switch {
			case !envNameRE.MatchString(s.Env):
				ps.add(p+".env", "%s is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", quoteVal(s.Env))
			case envNames[s.Env] != "":
				ps.add(p+".env", "%s is also set by %s", s.Env, envNames[s.Env])
			}
			envNames[s.Env] = p + ".env"
		}
		if s.File != "" {
			checkMount(ps, p+".file", s.File, "file path", files)
		}
	}
}

// validateTmpfs checks a tmpfs volume at path p.
func validateTmpfs(ps *problems, p string, v Volume) {
	if v.Size != "" {
		if _, err := ParseBytes(v.Size); err != nil {
			ps.add(p+".size", "%v", err)
		}
	}
	refuseSet(ps, p, "does not apply to a tmpfs",
		setField{"access", v.Access != ""}, setField{"storage_class", v.StorageClass != ""}, setField{"selinux", v.SELinux != ""})
}

// setField is an optional field, by name, and whether it is set.
type setField struct {
	name string
	set  bool
}

// refuseSet adds the problem msg at p.name for each field that is set.
func refuseSet(ps *problems, p, msg string, fields ...setField) {
	for _, f := range fields {
		if f.set {
			ps.add(p+"."+f.name, "%s", msg)
		}
	}
}

// checkMount checks that target, at path, is a clean absolute path (what
// it must be: "path" or "file path") that nothing else in files mounts,
// and records it there.
func checkMount(ps *problems, path, target, what string, files map[string]string) {
	switch {
	case !isCleanAbs(target) || target == "/":
		ps.add(path, "%s is not a clean absolute %s (no ':' or ',')", quoteVal(target), what)
	case files[target] != "":
		ps.add(path, "%s is also mounted by %s", target, files[target])
	}
	files[target] = path
}

func (a *App) validateVolumes(ps *problems, files map[string]string) {
	names := map[string]bool{}
	for i, v := range a.Volumes {
		p := fmt.Sprintf("volumes[%d]", i)
		checkMount(ps, p+".target", v.Target, "path", files)
		kinds := 0
		for _, set := range []bool{v.Name != "", v.Source != "", v.Tmpfs} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			ps.add(p, "needs exactly one of name (a named volume), source (a bind mount) and tmpfs")
			continue
		}
		if v.Tmpfs {
			validateTmpfs(ps, p, v)
			continue
		}
		if v.Source != "" {
			if !isCleanAbs(v.Source) {
				ps.add(p+".source", "%s is not a clean absolute host path (no ':' or ',')", quoteVal(v.Source))
			}
			switch v.SELinux {
			case "", "z", "Z":
			default:
				ps.add(p+".selinux", "%s is not z or Z", quoteVal(v.SELinux))
			}
			refuseSet(ps, p, "applies to named volumes only",
				setField{"size", v.Size != ""}, setField{"access", v.Access != ""}, setField{"storage_class", v.StorageClass != ""})
			continue
		}
		switch {
		case !isDNS1123Label(v.Name):
			ps.add(p+".name", "%s is not a DNS-1123 label (lowercase letters, digits and '-')", quoteVal(v.Name))
		case reservedBindRE.MatchString(v.Name) || v.Name == secretVolume || v.Name == filesVolume:
			ps.add(p+".name", "%s is reserved", quoteVal(v.Name))
		case names[v.Name]:
			ps.add(p+".name", "%s is used twice", quoteVal(v.Name))
		}
		names[v.Name] = true
		if v.SELinux != "" {
			ps.add(p+".selinux", "applies to bind mounts only")
		}
		if v.Size != "" {
			if n, err := ParseBytes(v.Size); err != nil {
				ps.add(p+".size", "%v", err)
			} else if n == 0 {
				ps.add(p+".size", "must be more than 0")
			}
		}
		switch v.Access {
		case "", "ReadWriteOnce", "ReadWriteOncePod":
			if a.Replicas > 1 && a.Workload != "statefulset" {
				ps.add(p+".access", "a ReadWriteOnce volume cannot be shared by %d replicas; use workload: statefulset or access: ReadWriteMany", a.Replicas)
			}
		case "ReadWriteMany", "ReadOnlyMany":
		default:
			ps.add(p+".access", "%s is not ReadWriteOnce, ReadWriteOncePod, ReadWriteMany or ReadOnlyMany", quoteVal(v.Access))
		}
		if v.StorageClass != "" && !isDNS1123Subdomain(v.StorageClass) {
			ps.add(p+".storage_class", "%s is not a DNS-1123 subdomain", quoteVal(v.StorageClass))
		}
	}
}

var capabilityRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// maxConfigBytes is what one ConfigMap may hold.
const maxConfigBytes = 1 << 20

func (a *App) validateFiles(ps *problems, files map[string]string) {
	names := map[string]bool{}
	total := 0
	for i, f := range a.Files {
		p := fmt.Sprintf("files[%d]", i)
		checkName(ps, p+".name", f.Name, names)
		checkText(ps, p+".content", f.Content)
		total += len(f.Content)
		checkMount(ps, p+".target", f.Target, "file path", files)
		if f.Mode > 0o777 {
			ps.add(p+".mode", "%o is not a file mode (0-0777)", f.Mode)
		}
	}
	if total > maxConfigBytes {
		ps.add("files", "hold %d bytes, more than a ConfigMap takes (1MiB)", total)
	}
}

// validateRuntime checks the run-time settings: working directory,
// host name and security settings.
func (a *App) validateRuntime(ps *problems) {
	if a.WorkingDir != "" && (!strings.HasPrefix(a.WorkingDir, "/") || strings.ContainsAny(a.WorkingDir, "\x00\n\r")) {
		ps.add("working_dir", "%s is not an absolute path", quoteVal(a.WorkingDir))
	}
	if a.Hostname != "" && !isDNS1123Label(a.Hostname) {
		ps.add("hostname", "%s is not a DNS-1123 label (lowercase letters, digits and '-')", quoteVal(a.Hostname))
	}
	for _, c := range []struct {
		name string
		caps []string
	}{{"cap_add", a.CapAdd}, {"cap_drop", a.CapDrop}} {
		seen := map[string]bool{}
		for i, cp := range c.caps {
			p := fmt.Sprintf("%s[%d]", c.name, i)
			switch {
			case !capabilityRE.MatchString(cp) || strings.HasPrefix(cp, "CAP_"):
				ps.add(p, "%s is not a capability name without the CAP_ prefix, such as NET_ADMIN", quoteVal(cp))
			case seen[cp]:
				ps.add(p, "%s is listed twice", cp)
			}
			seen[cp] = true
		}
	}
}

func (a *App) validateHealth(ps *problems, tcp []int) {
	h := a.Health
	if h == nil {
		return
	}
	n := 0
	if h.HTTP != nil {
		n++
		if !healthPathRE.MatchString(h.HTTP.Path) {
			ps.add("health.http.path", "%s is not a URL path starting with '/'", quoteVal(h.HTTP.Path))
		}
		switch {
		case h.HTTP.Port == 0 && len(tcp) == 0:
			ps.add("health.http.port", "is required when the app has no TCP port")
		case h.HTTP.Port != 0 && !contains(tcp, h.HTTP.Port):
			ps.add("health.http.port", "%d is not one of the app's TCP ports", h.HTTP.Port)
		}
	}
	if h.Command != nil {
		n++
		if len(h.Command) == 0 || h.Command[0] == "" {
			ps.add("health.command", "needs a program to run")
		}
		for i, c := range h.Command {
			checkText(ps, fmt.Sprintf("health.command[%d]", i), c)
		}
	}
	if h.Shell != "" {
		n++
		checkText(ps, "health.shell", h.Shell)
	}
	if n != 1 {
		ps.add("health", "needs exactly one of http, command and shell")
	}
	checkSeconds(ps, "health.interval", h.Interval, 0)
	checkSeconds(ps, "health.timeout", h.Timeout, 0)
	checkSeconds(ps, "health.start_period", h.StartPeriod, 0)
	if h.Retries < 0 || h.Retries > 1000 {
		ps.add("health.retries", "%d is not between 0 and 1000", h.Retries)
	}
}

func (a *App) validateResources(ps *problems) {
	cpu := map[string]int64{}
	mem := map[string]int64{}
	for _, q := range []struct {
		name string
		q    Quantity
	}{{"requests", a.Resources.Requests}, {"limits", a.Resources.Limits}} {
		p := "resources." + q.name
		if q.q.CPU != "" {
			if n, err := ParseCPU(q.q.CPU); err != nil {
				ps.add(p+".cpu", "%v", err)
			} else if n == 0 {
				ps.add(p+".cpu", "must be more than 0")
			} else {
				cpu[q.name] = n
			}
		}
		if q.q.Memory != "" {
			if n, err := ParseBytes(q.q.Memory); err != nil {
				ps.add(p+".memory", "%v", err)
			} else if n < 1<<20 {
				ps.add(p+".memory", "%s is less than 1Mi", q.q.Memory)
			} else {
				mem[q.name] = n
			}
		}
	}
	if r, l := cpu["requests"], cpu["limits"]; r != 0 && l != 0 && r > l {
		ps.add("resources.requests.cpu", "%s is more than the limit %s", a.Resources.Requests.CPU, a.Resources.Limits.CPU)
	}
	if r, l := mem["requests"], mem["limits"]; r != 0 && l != 0 && r > l {
		ps.add("resources.requests.memory", "%s is more than the limit %s", a.Resources.Requests.Memory, a.Resources.Limits.Memory)
	}
}

// sortedKeys returns m's keys, sorted.
// checkName checks that name, at path, is a DNS-1123 label not already
// in names, and adds it there.
func checkName(ps *problems, path, name string, names map[string]bool) {
	switch {
	case !isDNS1123Label(name):
		ps.add(path, "%s is not a DNS-1123 label (lowercase letters, digits and '-')", quoteVal(name))
	case names[name]:
		ps.add(path, "%s is used twice", quoteVal(name))
	}
	names[name] = true
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
