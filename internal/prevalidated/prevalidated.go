// Package prevalidated gives destination translate's translations of a
// stack without the validation they start with. destination validates a
// stack once when it plans it (with the error texts of [App.Validate]
// or [Stack.Validate]) and translates it afterwards; the translation
// need not validate it again. translate sets the functions when it is
// initialized; they are typed any because translate imports this
// package.
//
// [App.Validate]: https://pkg.go.dev/github.com/ferryhq/ferry/translate#App.Validate
// [Stack.Validate]: https://pkg.go.dev/github.com/ferryhq/ferry/translate#Stack.Validate
package prevalidated

var (
	// StackToCompose is translate.StackToCompose for a stack that has
	// passed Stack.Validate and not changed since, as a
	// func(*translate.Stack, []translate.ComposeOption) ([]translate.File, error).
	StackToCompose any
	// StackObjects is translate.StackObjects for a stack that has
	// passed Stack.Validate and not changed since, as a
	// func(*translate.Stack, []translate.KubernetesOption) ([]translate.Object, error).
	// It still checks what only Kubernetes refuses.
	StackObjects any
)
