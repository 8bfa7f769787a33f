package executor

import "time"

// EventKind says what an [Event] reports.
type EventKind int

const (
	// StepStart: a step began running.
	StepStart EventKind = iota + 1
	// Output: a line of a step's output. Line holds it, ending in "\n",
	// "\r" (progress output), or nothing at the end of the stream.
	Output
	// StepEnd: a step ended; Result holds its outcome.
	StepEnd
	// Progress: a file transfer moved forward; Bytes and Total say how far.
	Progress
)

// String returns the name of the eventKind.
func (k EventKind) String() string {
	switch k {
	case StepStart:
		return "start"
	case Output:
		return "output"
	case StepEnd:
		return "end"
	case Progress:
		return "progress"
	}
	return "unknown"
}

// Stream names an output stream.
type Stream int

// The output streams of a command.
const (
	Stdout Stream = 1 // standard output
	Stderr Stream = 2 // standard error
)

// String returns the name of the stream.
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Event is one thing that happened while running a pipeline or moving a
// file. Secrets are already redacted from it.
type Event struct {
	Kind EventKind
	Time time.Time
	// Host and Pipeline name where it happened; Step names the step (or
	// the file, for Progress) and Index is its position, from 0.
	Host     string
	Pipeline string
	Step     string
	Index    int
	// Stream and Line are set for Output.
	Stream Stream
	Line   string
	// Result is set for StepEnd.
	Result *StepResult
	// Bytes and Total are set for Progress; Total is -1 when unknown.
	Bytes, Total int64
}

// Observer receives events. Implementations must not retain the Event's
// Result after returning, and should return quickly: output waits for
// them.
type Observer interface {
	Event(Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Event)

// Event calls f(e).
func (f ObserverFunc) Event(e Event) { f(e) }
