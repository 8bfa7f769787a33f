package translate

import "github.com/ferryhq/ferry/internal/prevalidated"

// destination validates each stack once, when it plans it, and then
// translates it through these, which do not validate it again.
func init() {
	prevalidated.StackToCompose = stackCompose
	prevalidated.StackObjects = validStackObjects
}
