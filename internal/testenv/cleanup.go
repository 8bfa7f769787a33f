package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// RemoveCompose removes, when tb's test ends, everything a test left of
// the compose project: its containers, its networks, the extra networks
// named (for example a target's own network) and, when volumes is true,
// its volumes. Docker hands out a small number of address pools (31 by
// default), so a suite that leaks networks stops being able to create
// them part way through; every test that deploys with Compose cleans up
// through here.
func RemoveCompose(tb testing.TB, project string, volumes bool, networks ...string) {
	tb.Helper()
	tb.Cleanup(func() { removeCompose(project, volumes, networks...) })
}

func removeCompose(project string, volumes bool, networks ...string) {
	label := "label=com.docker.compose.project=" + project
	ids := func(args ...string) []string {
		out, _ := exec.Command("docker", args...).Output()
		return strings.Fields(string(out))
	}
	if cs := ids("ps", "-aq", "--filter", label); len(cs) > 0 {
		exec.Command("docker", append([]string{"rm", "-f", "-v"}, cs...)...).Run()
	}
	nets := append(ids("network", "ls", "-q", "--filter", label), networks...)
	for _, n := range nets {
		exec.Command("docker", "network", "rm", n).Run()
	}
	if volumes {
		for _, v := range ids("volume", "ls", "-q", "--filter", label) {
			exec.Command("docker", "volume", "rm", "-f", v).Run()
		}
	}
}

// Swarm makes the Docker engine a single-node Swarm manager if it is not
// one already, for tests of the Swarm target. It never leaves the swarm:
// test packages run in parallel, and one leaving would pull the swarm
// from under another's test. `.ci/run` leaves it at the end when it was
// not a manager before the run; `docker swarm leave --force` does so by
// hand.
func Swarm(tb testing.TB) {
	tb.Helper()
	Docker(tb)
	out, err := exec.Command("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").Output()
	if err != nil {
		tb.Fatalf("docker info: %v", err)
	}
	if strings.TrimSpace(string(out)) == "active" {
		return
	}
	if out, err := exec.Command("docker", "swarm", "init", "--advertise-addr", "127.0.0.1").CombinedOutput(); err != nil {
		// Another package's test may have made it a manager meanwhile.
		if again, _ := exec.Command("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").Output(); strings.TrimSpace(string(again)) != "active" {
			tb.Fatalf("docker swarm init: %v\n%s", err, out)
		}
	}
}
