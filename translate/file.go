package translate

import "io/fs"

// File is a file to write on the Docker host, next to the compose file.
type File struct {
	// Path is relative to the compose project directory, with forward
	// slashes: "compose.yaml", "secrets.env", "secrets/db-password".
	Path string
	// Data is the file's content.
	Data []byte
	// Mode is the file's permission bits: 0644, or 0600 for secrets.
	Mode fs.FileMode
	// Secret reports that Data holds secret values: never log or print it.
	Secret bool
}
