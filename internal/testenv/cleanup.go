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
