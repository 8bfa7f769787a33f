package translate_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

// TestExampleApps loads every sample in examples/apps, translates it both
// ways, and checks that the samples together set every field of the spec.
func TestExampleApps(t *testing.T) {
	paths, err := filepath.Glob("../examples/apps/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	used := map[string]bool{}
	for _, p := range paths {
		app, err := translate.Load(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if _, err := translate.ToCompose(app); err != nil {
			t.Errorf("%s: ToCompose: %v", p, err)
		}
		if _, err := translate.ToKubernetes(app); err != nil {
			t.Errorf("%s: ToKubernetes: %v", p, err)
		}
		markUsed(used, "", reflect.ValueOf(*app))
	}
	var unused []string
	allFields("", reflect.TypeOf(translate.App{}), func(path string) {
		// Dependencies name other services: only a stack has them.
		if strings.HasPrefix(path, "DependsOn.") {
			return
		}
		if !used[path] {
			unused = append(unused, path)
		}
	})
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("no sample in examples/apps sets %v", unused)
	}
	if _, err := translate.Load("../examples/apps/web.yaml"); err != nil {
		t.Errorf("examples/apps/web.yaml: %v", err)
	}
}

// markUsed records the path of every non-zero field under v.
func markUsed(used map[string]bool, prefix string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			markUsed(used, prefix, v.Elem())
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				markUsed(used, prefix, v.Index(i))
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			path := prefix + f.Name
			if !v.Field(i).IsZero() {
				used[path] = true
			}
			markUsed(used, path+".", v.Field(i))
		}
	}
}

// allFields calls f with the path of every leaf field of t.
func allFields(prefix string, t reflect.Type, f func(string)) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeOf(translate.App{}).PkgPath() {
		f(prefix[:len(prefix)-1])
		return
	}
	for i := 0; i < t.NumField(); i++ {
		allFields(prefix+t.Field(i).Name+".", t.Field(i).Type, f)
	}
}
