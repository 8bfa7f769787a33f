package sshdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Crash kills sshd as a crash of the host's sshd would: the listener and
// every per-connection sshd process it started (they live in sessions of
// their own, so stopping the listener alone leaves connections up). The
// processes the sessions run are left alone. [Server.Restart] starts sshd
// again on the same address. Linux only (it walks /proc).
func (s *Server) Crash() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("sshdtest: not started")
	}
	root := s.cmd.Process.Pid
	kids := children()
	var sshds []int
	var walk func(pid int)
	walk = func(pid int) {
		for _, c := range kids[pid] {
			if comm(c) == "sshd" {
				sshds = append(sshds, c)
				walk(c)
			}
		}
	}
	walk(root)
	s.Close()
	for _, p := range sshds {
		syscall.Kill(p, syscall.SIGKILL)
	}
	return nil
}

// Restart starts sshd again, on the same address with the same
// configuration, after [Server.Crash] or [Server.Close].
func (s *Server) Restart() error {
	if s.done != nil {
		<-s.done
	}
	return s.start(s.opts, s.hostKeyLines)
}

// children maps each pid to its child pids, from /proc.
func children() map[int][]int {
	m := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(string(b))[0])
		ppid, _ := strconv.Atoi(fields[1])
		m[ppid] = append(m[ppid], pid)
	}
	return m
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}
