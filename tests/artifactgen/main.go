// Command artifactgen stages an ExternalArtifact's files the way source-watcher's builder does
// (builder.go and merge.go beside it are its own code), so that fledge's flux::artifact can be
// compared with it.
//
//	artifactgen < REQUEST.json
//
// REQUEST holds "source" (a directory, the source aliased "repo") and "copy" (an artifact's
// spec.artifacts[].copy). The answer, on stdout, is {"files": {path: contents}} or
// {"error": message}.
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
)

// swapi stands in for github.com/fluxcd/source-watcher/api/v2/v1beta1 (not served by the
// module proxy): the strategy names and the copy operation the builder reads.
var swapi = struct{ ExtractStrategy, MergeStrategy string }{"Extract", "Merge"}

// CopyOperation is the API's type, with its JSON names.
type CopyOperation struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Exclude  []string `json:"exclude,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
}

// Extract is not compared (fledge refuses it), so tarballs are never recognised here.
func isTarball(string) bool { return false }

func extractTarball(context.Context, *os.Root, string, string, string) error {
	panic("Extract is not compared")
}

func main() {
	var request struct {
		Source string          `json:"source"`
		Copy   []CopyOperation `json:"copy"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&request); err != nil {
		panic(err)
	}
	staging, err := os.MkdirTemp("", "artifactgen")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(staging)
	answer := map[string]any{}
	err = applyCopyOperations(context.Background(), request.Copy, map[string]string{"repo": request.Source}, staging)
	if err != nil {
		answer["error"] = err.Error()
	} else {
		files := map[string]string{}
		err = filepath.WalkDir(staging, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			rel, _ := filepath.Rel(staging, path)
			files[filepath.ToSlash(rel)] = string(data)
			return err
		})
		if err != nil {
			panic(err)
		}
		answer["files"] = files
	}
	if err := json.NewEncoder(os.Stdout).Encode(answer); err != nil {
		panic(err)
	}
}
