package destination

import "syscall"

// syscallZero is the null signal: it checks that a process exists.
var syscallZero = syscall.Signal(0)
