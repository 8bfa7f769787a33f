package compose_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate/compose"
)

// TestLoadErrors: invalid compose files are refused with Compose's own
// message, the file and the line.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, data string
		line       int
		want       string
	}{
		// The YAML parser names the line of the block it could not read.
		{"syntax", "services:\n  web:\n    image: nginx\n   ports: [80]\n", 1, "did not find expected key"},
		{"schema", "services:\n  web:\n    image: nginx\n    ports:\n      - 80\n    prots: [1]\n", 6, "'prots' not allowed"},
		{"interpolation", "services:\n  web:\n    image: nginx:${TAG:?TAG must be set}\n", 3, "TAG must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(file, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := compose.Load(context.Background(), []string{file}, compose.Options{Env: []string{}})
			var ce *compose.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *compose.Error", err)
			}
			if ce.File != file || (tt.line != 0 && ce.Line != tt.line) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got file %q line %d: %v; want %s:%d and %q", ce.File, ce.Line, err, file, tt.line, tt.want)
			}
		})
	}
	if _, err := compose.Load(context.Background(), nil, compose.Options{}); err == nil {
		t.Error("no files accepted")
	}
}
