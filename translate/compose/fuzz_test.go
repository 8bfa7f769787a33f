package compose_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ferryhq/ferry/translate"
	"github.com/ferryhq/ferry/translate/compose"
)

// FuzzLoad feeds arbitrary bytes to Load as a compose file. Nothing may
// panic; a file that loads gives a valid stack whose Kubernetes objects
// translate, the same bytes every time, and whose Compose loads again.
func FuzzLoad(f *testing.F) {
	for _, c := range corpusCases(f) {
		for _, file := range c.files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("services: {a: {image: x, ports: ['1000-2500']}}\n"))
	f.Add([]byte("services: {a: {image: x, labels: {caddy: 'http://A.b', caddy.reverse_proxy: '{{upstreams}}'}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if wideRange(data) {
			// Compose expands port ranges into one entry per port: its
			// loader takes seconds for thousands, as docker compose does.
			t.Skip("port range wider than 2000")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		load := func(path string) (*translate.Stack, error) {
			return compose.Load(context.Background(), []string{path}, compose.Options{Env: []string{}, Name: "fuzz"})
		}
		s, err := load(file)
		if err != nil {
			var ce *compose.Error
			var ve *translate.ValidationError
			if !errors.As(err, &ce) && !errors.As(err, &ve) {
				t.Fatalf("error of an unexpected type %T: %v", err, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Load returned an invalid stack: %v", err)
		}
		objs, err := translate.StackObjects(s)
		var ve *translate.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("StackObjects: %v", err)
		}
		again, _ := load(file)
		objs2, _ := translate.StackObjects(again)
		if !bytes.Equal(again.Compose, s.Compose) || !bytes.Equal(translate.Manifest(objs), translate.Manifest(objs2)) {
			t.Fatal("not deterministic")
		}
		norm := filepath.Join(dir, "normalized.yaml")
		if err := os.WriteFile(norm, s.Compose, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := load(norm); err != nil {
			t.Fatalf("the normalized project does not load again: %v\n%s", err, s.Compose)
		}
	})
}

var rangeRE = regexp.MustCompile(`([0-9]+)\s*-\s*([0-9]+)`)

// wideRange reports whether data holds a numeric range "a-b" with b-a
// over 2000.
func wideRange(data []byte) bool {
	for _, m := range rangeRE.FindAllSubmatch(data, -1) {
		a, errA := strconv.Atoi(string(m[1]))
		b, errB := strconv.Atoi(string(m[2]))
		if errA != nil || errB != nil || b-a > 2000 {
			return true
		}
	}
	return false
}
