package compose

import (
	"fmt"
	"math"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ferryhq/ferry/translate"
)

// deploy maps deploy.replicas and warns about the deploy settings the
// Kubernetes translation does not carry; resources are mapped by
// [svcMap.resources].
func (s *svcMap) deploy() {
	d := s.svc.Deploy
	if d == nil {
		return
	}
	p := []string{"deploy"}
	if d.Replicas != nil {
		s.app.Replicas = *d.Replicas
		if *d.Replicas == 0 {
			s.warn(append(p, "replicas"), "0 replicas: Kubernetes runs 1 (ferry deploys services to run them)")
		}
	}
	if d.Mode != "" && d.Mode != "replicated" {
		s.warn(append(p, "mode"), "%q: %s (a DaemonSet would be needed)", d.Mode, notTranslated)
	}
	for key, set := range map[string]bool{
		"labels":          len(d.Labels) > 0,
		"rollback_config": d.RollbackConfig != nil,
		"restart_policy":  d.RestartPolicy != nil,
		"placement":       len(d.Placement.Constraints) > 0 || len(d.Placement.Preferences) > 0 || d.Placement.MaxReplicas > 0,
		"endpoint_mode":   d.EndpointMode != "",
	} {
		if set {
			s.warn(append(p, key), "%s", notTranslated)
		}
	}
	if u := d.UpdateConfig; u != nil && (u.Order != "start-first" || u.Parallelism != nil || u.Delay != 0 ||
		u.FailureAction != "" || u.Monitor != 0 || u.MaxFailureRatio != 0) {
		s.warn(append(p, "update_config"), "Kubernetes updates start-first (maxUnavailable 0); parallelism, delay, failure_action, monitor, max_failure_ratio and stop-first are %s", notTranslated)
	}
	for name, r := range map[string]*types.Resource{"limits": d.Resources.Limits, "reservations": d.Resources.Reservations} {
		if r != nil && (r.Pids != 0 || len(r.Devices) > 0 || len(r.GenericResources) > 0) {
			s.warn(append(p, "resources", name), "pids, devices and generic resources are %s", notTranslated)
		}
	}
}

// resources maps deploy.resources, or the service-level cpus, mem_limit
// and mem_reservation.
func (s *svcMap) resources() {
	var limits, reservations *types.Resource
	if d := s.svc.Deploy; d != nil {
		limits, reservations = d.Resources.Limits, d.Resources.Reservations
	}
	if limits == nil && (s.svc.CPUS > 0 || s.svc.MemLimit > 0) {
		limits = &types.Resource{NanoCPUs: types.NanoCPUs(s.svc.CPUS), MemoryBytes: s.svc.MemLimit}
	}
	if reservations == nil && s.svc.MemReservation > 0 {
		reservations = &types.Resource{MemoryBytes: s.svc.MemReservation}
	}
	s.app.Resources.Limits = s.quantity(limits, "limits")
	s.app.Resources.Requests = s.quantity(reservations, "reservations")
	lim, req := &s.app.Resources.Limits, &s.app.Resources.Requests
	s.capReservation("CPU", lim.CPU, &req.CPU, translate.ParseCPU)
	s.capReservation("memory", lim.Memory, &req.Memory, translate.ParseBytes)
}

// capReservation lowers a reservation *req that is more than its limit
// lim (both read with parse) to the limit, with a warning; what names
// the resource.
func (s *svcMap) capReservation(what, lim string, req *string, parse func(string) (int64, error)) {
	if lim == "" || *req == "" {
		return
	}
	l, _ := parse(lim)
	r, _ := parse(*req)
	if r > l {
		s.warn([]string{"deploy", "resources"}, "the %s reservation is more than the limit: the reservation is the limit", what)
		*req = lim
	}
}

// quantity writes an amount in the units translate reads the same on
// both targets: millicores, and bytes with a binary unit.
func (s *svcMap) quantity(r *types.Resource, name string) translate.Quantity {
	var q translate.Quantity
	if r == nil {
		return q
	}
	if r.NanoCPUs > 0 {
		m := int64(math.Round(float64(r.NanoCPUs) * 1000))
		if m < 1 {
			m = 1
		}
		q.CPU = strconv.FormatInt(m, 10) + "m"
	}
	if r.MemoryBytes > 0 {
		b := int64(r.MemoryBytes)
		if b < 1<<20 {
			s.warn([]string{"deploy", "resources", name, "memory"}, "%d bytes is less than 1Mi: 1Mi it is", b)
			b = 1 << 20
		}
		q.Memory = formatBytes(b)
	}
	return q
}

// formatBytes writes n with the largest binary unit that divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		f    int64
		unit string
	}{{1 << 40, "Ti"}, {1 << 30, "Gi"}, {1 << 20, "Mi"}, {1 << 10, "Ki"}} {
		if n%u.f == 0 {
			return fmt.Sprintf("%d%s", n/u.f, u.unit)
		}
	}
	return strconv.FormatInt(n, 10)
}
