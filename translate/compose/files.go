package compose

import (
	"fmt"
	"io/fs"
	"os"
	"regexp"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ferryhq/ferry/translate"
)

// fileNameRE is what a secret's or config's name must look like to name
// the file it travels in.
var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// carryFiles reads the secrets and configs that the project gives as
// local files, points the project at copies relative to its directory
// ("secrets/NAME", "configs/NAME") and returns those copies, so that the
// normalized project works on a host that has only the uploaded
// directory. The loader made every path absolute; a path on the local
// machine means nothing to a remote host.
//
// A file that cannot be read is an [*Error] naming where the secret or
// config is declared.
func carryFiles(project *types.Project, src *sources) ([]translate.File, error) {
	secrets, err := carryAll(src, "secret", "secrets", project.Secrets, 0o600)
	if err != nil {
		return nil, err
	}
	configs, err := carryAll(src, "config", "configs", project.Configs, 0o644)
	if err != nil {
		return nil, err
	}
	return append(secrets, configs...), nil
}

// carryAll carries the files of the secrets or configs in m, by name,
// and points each at its copy.
func carryAll[C types.SecretConfig | types.ConfigObjConfig](src *sources, kind, dir string, m map[string]C, mode fs.FileMode) ([]translate.File, error) {
	var files []translate.File
	for _, name := range sortedKeys(m) {
		cfg := types.FileObjectConfig(m[name])
		f, err := carry(src, kind, dir, name, cfg, mode)
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		cfg.File = "./" + f.Path
		m[name] = C(cfg)
		files = append(files, *f)
	}
	return files, nil
}

// carry reads one secret's or config's file; nil when it has none (it is
// external, inline or from the environment).
func carry(src *sources, kind, dir, name string, cfg types.FileObjectConfig, mode fs.FileMode) (*translate.File, error) {
	if cfg.File == "" || bool(cfg.External) {
		return nil, nil
	}
	fail := func(err error) error {
		file, line := src.at("", dir, name, "file")
		return &Error{File: file, Line: line, Err: fmt.Errorf("%s %q: %w", kind, name, err)}
	}
	if !fileNameRE.MatchString(name) {
		return nil, fail(fmt.Errorf("the name must be letters, digits, '.', '_' and '-' for the file to travel with the project"))
	}
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fail(err)
	}
	return &translate.File{Path: dir + "/" + name, Data: data, Mode: mode, Secret: kind == "secret"}, nil
}
