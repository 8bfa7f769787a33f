package compose

import (
	"os"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ferryhq/ferry/translate"
)

// volumeName turns a compose volume, secret or config name into a
// DNS-1123 label.
func volumeName(name string) string {
	clean := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(clean) > 40 {
		clean = strings.TrimRight(clean[:40], "-")
	}
	if clean == "" {
		clean = "v"
	}
	return clean
}

// mountable reports whether p is a clean absolute path translate
// accepts as a mount target or bind source.
func mountable(p string) bool {
	return strings.HasPrefix(p, "/") && p != "/" && path.Clean(p) == p && !strings.ContainsAny(p, ":,\x00\n\r")
}

// volumes maps volumes and the tmpfs list.
func (s *svcMap) volumes() {
	for i, v := range s.svc.Volumes {
		p := []string{"volumes", strconv.Itoa(i)}
		if !mountable(v.Target) {
			s.warn(p, "target %q is not a clean absolute path (no ':' or ','): left out on Kubernetes", v.Target)
			continue
		}
		vol := translate.Volume{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				s.warn(p, "an anonymous volume becomes a tmpfs (a Memory emptyDir) on Kubernetes: its data lives as long as the pod")
				vol.Tmpfs = true
				break
			}
			vol.Name = volumeName(v.Source)
			if vol.Name != v.Source {
				s.warn(p, "volume %q is %q on Kubernetes (a DNS-1123 label)", v.Source, vol.Name)
			}
			if users := s.volumeUsers[v.Source]; len(users) > 1 {
				s.warn(p, "volume %q is shared by services %s: on Kubernetes each gets its own claim, %s-%s", v.Source, strings.Join(users, ", "), s.name, vol.Name)
			}
			if v.Volume != nil && (v.Volume.NoCopy || v.Volume.Subpath != "") {
				s.warn(append(p, "volume"), "nocopy and subpath are %s", notTranslated)
			}
		case types.VolumeTypeBind:
			if v.Source != "/" && !mountable(v.Source) {
				s.warn(p, "bind source %q is not a clean absolute path: left out on Kubernetes", v.Source)
				continue
			}
			vol.Source = v.Source
			if b := v.Bind; b != nil {
				if b.SELinux == "z" || b.SELinux == "Z" {
					vol.SELinux = b.SELinux
				}
				if b.Propagation != "" {
					s.warn(append(p, "bind", "propagation"), "%s", notTranslated)
				}
			}
			s.warn(p, "bind mount of %s becomes a hostPath volume: the path must exist on the node that runs the pod", v.Source)
		case types.VolumeTypeTmpfs:
			vol.Tmpfs = true
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				vol.Size = formatBytes(int64(v.Tmpfs.Size))
			}
		default:
			s.warn(p, "%s volume: %s", v.Type, notTranslated)
			continue
		}
		s.addVolume(p, vol)
	}
	for i, t := range s.svc.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		p := []string{"tmpfs", strconv.Itoa(i)}
		if !mountable(target) {
			s.warn(p, "%q is not a clean absolute path: left out on Kubernetes", target)
			continue
		}
		vol := translate.Volume{Tmpfs: true, Target: target}
		for _, o := range strings.Split(opts, ",") {
			if size, ok := strings.CutPrefix(o, "size="); ok {
				if n, err := translate.ParseBytes(size); err == nil && n > 0 {
					vol.Size = formatBytes(n)
				} else {
					s.warn(p, "size %q is not read the same by Compose and Kubernetes: no size limit on Kubernetes", size)
				}
			}
		}
		s.addVolume(p, vol)
	}
}

// addVolume adds a mount unless its target or name is taken.
func (s *svcMap) addVolume(p []string, v translate.Volume) {
	for _, w := range s.app.Volumes {
		if w.Target == v.Target {
			s.warn(p, "%s is mounted twice: left out", v.Target)
			return
		}
		if v.Name != "" && w.Name == v.Name {
			s.warn(p, "volume %s is mounted twice: the second mount is left out on Kubernetes", v.Name)
			return
		}
	}
	s.app.Volumes = append(s.app.Volumes, v)
}

// finishVolumes gives each replica its own claims when it needs them,
// and checks what translate would refuse.
func (s *svcMap) finishVolumes() {
	named := false
	for _, v := range s.app.Volumes {
		named = named || v.Name != ""
	}
	if named && s.app.Replicas > 1 {
		s.app.Workload = "statefulset"
		s.warn([]string{"deploy", "replicas"}, "%d replicas with named volumes become a StatefulSet: each replica gets its own claims (in Compose they share the volumes)", s.app.Replicas)
	}
	if len(s.app.Domains) > 0 && len(s.app.Ports) == 0 {
		s.warn([]string{"labels"}, "routing labels without a port to route to: no Ingress (add the port to expose or the loadbalancer.server.port label)")
		s.app.Domains = nil
	}
}

// fileContent reads what a compose secret or config holds: its file,
// its content, or its environment variable.
func (s *svcMap) fileContent(cfg types.FileObjectConfig) (string, bool, string) {
	switch {
	case bool(cfg.External):
		return "", false, "is external: its value is not known here"
	case cfg.Content != "":
		return cfg.Content, true, ""
	case cfg.Environment != "":
		v, ok := s.project.Environment[cfg.Environment]
		if !ok {
			return "", false, "names environment variable " + cfg.Environment + ", which is not set"
		}
		return v, true, ""
	case cfg.File != "":
		data, err := os.ReadFile(cfg.File)
		if err != nil {
			return "", false, "cannot be read: " + err.Error()
		}
		if !utf8.Valid(data) || strings.ContainsRune(string(data), 0) {
			return "", false, "is binary: Kubernetes takes it, ferry's model holds text only"
		}
		return string(data), true, ""
	}
	return "", false, "has no file, content or environment"
}

// secrets maps service secrets to Secret values mounted at their
// targets.
func (s *svcMap) secrets() {
	for i, ref := range s.svc.Secrets {
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		def, ok := s.project.Secrets[ref.Source]
		value, ok := s.mount("secret", i, ref.Source, target, types.FileObjectConfig(def), ok)
		if !ok {
			continue
		}
		if ref.UID != "" || ref.GID != "" || ref.Mode != nil {
			s.warn([]string{"secrets", strconv.Itoa(i)}, "uid, gid and mode are %s", notTranslated)
		}
		s.app.Secrets = append(s.app.Secrets, translate.Secret{Name: volumeName(ref.Source), Value: value, File: target})
	}
}

// configs maps service configs to Files mounted at their targets.
func (s *svcMap) configs() {
	for i, ref := range s.svc.Configs {
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		def, ok := s.project.Configs[ref.Source]
		value, ok := s.mount("config", i, ref.Source, target, types.FileObjectConfig(def), ok)
		if !ok {
			continue
		}
		f := translate.ConfigFile{Name: volumeName(ref.Source), Content: value, Target: target}
		if ref.Mode != nil {
			f.Mode = uint32(*ref.Mode) & 0o777
		}
		if ref.UID != "" || ref.GID != "" {
			s.warn([]string{"configs", strconv.Itoa(i)}, "uid and gid are %s", notTranslated)
		}
		s.app.Files = append(s.app.Files, f)
	}
}

// mount reads the value of the i-th secret or config (kind) a service
// mounts, from source's definition def (defined says there is one), to
// be mounted at target. What cannot be mounted is a warning, and ok is
// false.
func (s *svcMap) mount(kind string, i int, source, target string, def types.FileObjectConfig, defined bool) (value string, ok bool) {
	p := []string{kind + "s", strconv.Itoa(i)}
	if !defined {
		s.warn(p, "%s %q is not defined: left out", kind, source)
		return "", false
	}
	value, ok, why := s.fileContent(def)
	if !ok {
		s.warn(p, "%s %q %s: left out on Kubernetes", kind, source, why)
		return "", false
	}
	if !mountable(target) {
		s.warn(p, "target %q is not a clean absolute path: left out on Kubernetes", target)
		return "", false
	}
	return value, true
}
