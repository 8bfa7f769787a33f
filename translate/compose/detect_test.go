package compose_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/translate/compose"
)

// TestIsComposeFile: every corpus file is a compose file; every spec of
// ferry's (apps and stacks) is not.
func TestIsComposeFile(t *testing.T) {
	for _, c := range corpusCases(t) {
		for _, f := range c.files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !compose.IsComposeFile(data) {
				t.Errorf("%s: not detected as a compose file", f)
			}
		}
	}
	specs, _ := filepath.Glob("../testdata/*.yaml")
	apps, _ := filepath.Glob("../../examples/apps/*.yaml")
	for _, f := range append(specs, apps...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if compose.IsComposeFile(data) {
			t.Errorf("%s: ferry's spec detected as a compose file", f)
		}
	}
	if compose.IsComposeFile([]byte("name: s\nservices:\n  web:\n    image: x\n    ports: [{container: 80}]\n")) {
		t.Error("a ferry stack detected as a compose file")
	}
}
