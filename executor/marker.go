package executor

import (
	"fmt"
	"strconv"
	"strings"
)

// The driver's scripts (driver.go) tell the client what happens on the
// host through in-band markers, "\x1eFERRY<nonce>:<payload>\x1e", on
// stdout and stderr; a demux (output.go) takes them out of the streams,
// and run.go and cmd.go act on them. The nonce is random per script, so
// a command's own output cannot forge one.

// markerKind says what a marker reports; it is the payload's first field.
type markerKind string

const (
	// markPID, "pid:N": the script's shell is process N, the leader of
	// its process group and session. Sent first: it also says that the
	// whole script has been read.
	markPID markerKind = "pid"
	// markStart, "s:I": step I starts.
	markStart markerKind = "s"
	// markEnd, "e:I:RC": step I ended with shell status RC.
	markEnd markerKind = "e"
	// markDone, "x:0": the script is done; what follows on the streams
	// comes from background children of a step.
	markDone markerKind = "x"
)

// marker is one parsed marker.
type marker struct {
	kind markerKind
	n    int // the pid (markPID) or the step index (markStart, markEnd)
	code int // markEnd: the step's status as the shell reports it
}

// parseMarker parses a marker's payload.
func parseMarker(payload string) (marker, error) {
	fields := strings.Split(payload, ":")
	nums := make([]int, 0, 2)
	for _, f := range fields[1:] {
		v, err := strconv.Atoi(f)
		if err != nil {
			return marker{}, fmt.Errorf("bad marker %q", payload)
		}
		nums = append(nums, v)
	}
	switch k := markerKind(fields[0]); {
	case (k == markPID || k == markStart || k == markDone) && len(nums) == 1:
		return marker{kind: k, n: nums[0]}, nil
	case k == markEnd && len(nums) == 2:
		return marker{kind: k, n: nums[0], code: nums[1]}, nil
	}
	return marker{}, fmt.Errorf("bad marker %q", payload)
}
