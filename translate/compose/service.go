package compose

import (
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/translate"
)

// svcMap is the mapping of one service.
type svcMap struct {
	*mapper
	name string
	svc  types.ServiceConfig
	app  *translate.App
	// portIndex finds a port of app by "container/protocol".
	portIndex    map[string]int
	tooManyPorts bool
}

func (s *svcMap) warn(path []string, format string, args ...any) {
	s.mapper.warn(s.name, path, format, args...)
}

// notTranslated is the message of a key Kubernetes has no use for or
// no equivalent of.
const notTranslated = "not translated to Kubernetes (Docker deploys it as written)"

// silent lists service keys that need no warning: what the mapping reads
// elsewhere, what the loader has already applied, and what has no
// effect on a running service.
var silent = map[string]bool{
	"name": true, "env_file": true, "extends": true, "profiles": true,
	"networks": true, "pull_policy": true, "platform": true, "scale": true,
	"mem_limit": true, "mem_reservation": true, "cpus": true, "links": true,
	"container_name": true, "label_file": true,
}

// keyGroups maps the service keys that are translated to the group of
// keys one function maps together.
var keyGroups = map[string]string{
	"image": "image", "build": "image", "entrypoint": "command", "command": "command",
	"environment": "environment", "ports": "ports", "expose": "ports",
	"healthcheck": "healthcheck", "deploy": "deploy", "labels": "labels",
	"user": "user", "working_dir": "runtime", "read_only": "runtime",
	"privileged": "runtime", "cap_add": "runtime", "cap_drop": "runtime",
	"hostname": "runtime", "stop_grace_period": "runtime", "restart": "restart",
	"volumes": "volumes", "tmpfs": "volumes", "secrets": "secrets",
	"configs": "configs", "depends_on": "depends_on",
}

// service maps one compose service to an App. Every key the service
// sets is either mapped or warned about.
func (m *mapper) service(name string, svc types.ServiceConfig) *translate.App {
	s := &svcMap{mapper: m, name: name, svc: svc, app: &translate.App{Name: name}}
	if !dns1035RE.MatchString(name) || len(name) > maxStackName {
		// Validation refuses the name with its reason; nothing to add.
		s.app.Image = svc.Image
		return s.app
	}
	groups := map[string]func(){
		"image": s.image, "command": s.command, "environment": s.environment,
		"ports": s.ports, "healthcheck": s.health, "deploy": s.deploy,
		"labels": s.labels, "user": s.user, "runtime": s.runtime,
		"restart": s.restart, "volumes": s.volumes, "secrets": s.secrets,
		"configs": s.configs, "depends_on": s.dependsOn,
	}
	done := map[string]bool{}
	for _, key := range s.keys() {
		group, ok := keyGroups[key]
		switch {
		case ok:
			if !done[group] {
				done[group] = true
				groups[group]()
			}
		case silent[key] || strings.HasPrefix(key, "x-"):
		default:
			s.warn([]string{key}, notTranslated)
		}
	}
	if !done["image"] {
		s.image()
	}
	s.resources()
	s.networks()
	s.reachable()
	s.finishVolumes()
	return s.app
}

// keys returns the service's keys as the loader normalized them.
func (s *svcMap) keys() []string {
	data, err := yaml.Marshal(s.svc)
	if err != nil {
		return nil
	}
	var n yaml.Node
	if yaml.Unmarshal(data, &n) != nil || len(n.Content) == 0 {
		return nil
	}
	var keys []string
	root := n.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		keys = append(keys, root.Content[i].Value)
	}
	sort.Strings(keys)
	return keys
}

// image sets the image, or Compose's default name for a built image.
func (s *svcMap) image() {
	s.app.Image = s.svc.Image
	if s.svc.Build == nil {
		return
	}
	if s.app.Image == "" {
		s.app.Image = s.project.Name + "-" + s.name
	}
	s.build() // build.go
}

func (s *svcMap) command() {
	if len(s.svc.Entrypoint) > 0 {
		s.app.Command = []string(s.svc.Entrypoint)
	}
	if len(s.svc.Command) > 0 {
		s.app.Args = []string(s.svc.Command)
	}
}

func (s *svcMap) environment() {
	for _, k := range sortedKeys(s.svc.Environment) {
		v := s.svc.Environment[k]
		switch {
		case v == nil:
			s.warn([]string{"environment", k}, "has no value and is not set where the project loads: left out")
		case !envNameRE.MatchString(k):
			s.warn([]string{"environment", k}, "is not a name Kubernetes takes in envFrom ([A-Za-z_][A-Za-z0-9_]*): left out")
		default:
			if s.app.Env == nil {
				s.app.Env = map[string]string{}
			}
			s.app.Env[k] = *v
		}
	}
}

func (s *svcMap) user() {
	if userRE.MatchString(s.svc.User) {
		s.app.User = s.svc.User
		return
	}
	s.warn([]string{"user"}, "%q is not numeric: Kubernetes needs a numeric user (runAsUser); the image's user applies", s.svc.User)
}

// runtime maps the container's run-time settings.
func (s *svcMap) runtime() {
	a, svc := s.app, s.svc
	a.WorkingDir = svc.WorkingDir
	a.ReadOnly = svc.ReadOnly
	a.Privileged = svc.Privileged
	a.CapAdd = capabilities(svc.CapAdd)
	a.CapDrop = capabilities(svc.CapDrop)
	if svc.Hostname != "" {
		if dns1123RE.MatchString(svc.Hostname) && len(svc.Hostname) <= 63 {
			a.Hostname = svc.Hostname
		} else {
			s.warn([]string{"hostname"}, "%q is not a DNS-1123 label, which a pod's hostname must be: left out", svc.Hostname)
		}
	}
	if svc.StopGracePeriod != nil {
		a.StopGracePeriod = s.seconds([]string{"stop_grace_period"}, time.Duration(*svc.StopGracePeriod))
	}
}

// capabilities writes capability names as Kubernetes does: uppercase,
// without "CAP_", each once.
func capabilities(caps []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range caps {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// seconds rounds d up to whole seconds, warning when it had a fraction.
func (s *svcMap) seconds(path []string, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r := (d + time.Second - 1) / time.Second * time.Second
	if r != d {
		s.warn(path, "%s is rounded up to %s: Kubernetes counts whole seconds", d, r)
	}
	return r
}

func (s *svcMap) restart() {
	switch r := s.svc.Restart; {
	case r == "always" || r == "unless-stopped":
		s.app.Restart = r
	case r == "" || r == "no" || strings.HasPrefix(r, "on-failure"):
		s.warn([]string{"restart"}, "%q is not possible on Kubernetes, where Deployments and StatefulSets always restart their pods", r)
	default:
		s.warn([]string{"restart"}, "%q: %s", r, notTranslated)
	}
}

func (s *svcMap) dependsOn() {
	for _, dep := range sortedKeys(s.svc.DependsOn) {
		d := s.svc.DependsOn[dep]
		if _, ok := s.project.Services[dep]; !ok {
			s.warn([]string{"depends_on", dep}, "names a service that is not enabled (profiles): left out")
			continue
		}
		s.app.DependsOn = append(s.app.DependsOn, translate.Dependency{Service: dep, Condition: d.Condition})
		if d.Restart {
			s.warn([]string{"depends_on", dep, "restart"}, "%s", notTranslated)
		}
	}
}

// health maps the health check to probes.
func (s *svcMap) health() {
	hc := s.svc.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return
	}
	h := &translate.Health{}
	switch hc.Test[0] {
	case "CMD":
		if len(hc.Test) < 2 {
			s.warn([]string{"healthcheck", "test"}, "has no command: left out")
			return
		}
		h.Command = append([]string(nil), hc.Test[1:]...)
	case "CMD-SHELL":
		h.Shell = strings.Join(hc.Test[1:], " ")
	default:
		h.Shell = strings.Join(hc.Test, " ")
	}
	p := []string{"healthcheck"}
	if hc.Interval != nil {
		h.Interval = s.seconds(append(p, "interval"), time.Duration(*hc.Interval))
	}
	if hc.Timeout != nil {
		h.Timeout = s.seconds(append(p, "timeout"), time.Duration(*hc.Timeout))
	}
	if hc.StartPeriod != nil {
		h.StartPeriod = s.seconds(append(p, "start_period"), time.Duration(*hc.StartPeriod))
	}
	if hc.Retries != nil {
		if *hc.Retries > 1000 {
			s.warn(append(p, "retries"), "%d is more than 1000: 1000 it is", *hc.Retries)
			h.Retries = 1000
		} else {
			h.Retries = int(*hc.Retries)
		}
	}
	if hc.StartInterval != nil {
		s.warn(append(p, "start_interval"), "%s", notTranslated)
	}
	s.app.Health = h
}
