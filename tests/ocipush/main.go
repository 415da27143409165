// Command ocipush pushes a directory to an OCI registry as `flux push artifact` does: it calls
// fluxcd/pkg/oci's Client.Push, the code the flux CLI calls, so that fledge's OCIRepository
// sources are tested against artifacts made by Flux itself.
//
//	ocipush < REQUEST.json
//
// REQUEST holds "url" (`<host>/<repository>:<tag>`, plain HTTP), "path" (the directory, or a
// file, to push), and optionally "source" and "revision" (the org.opencontainers.image.source
// and .revision annotations, `--source` and `--revision` of the CLI), "created" (RFC 3339;
// now when absent), "ignorePaths" (`--ignore-paths`) and "static" (a media type extension:
// the file is pushed as it is, `--reflector`'s static layer, not as a tarball). The answer,
// on stdout, is {"digest": "<host>/<repository>@sha256:…"} or {"error": message}.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/fluxcd/pkg/oci"
	"github.com/google/go-containerregistry/pkg/crane"
)

type request struct {
	URL         string   `json:"url"`
	Path        string   `json:"path"`
	Source      string   `json:"source"`
	Revision    string   `json:"revision"`
	Created     string   `json:"created"`
	IgnorePaths []string `json:"ignorePaths"`
	Static      string   `json:"static"`
}

func main() {
	var r request
	if err := json.NewDecoder(os.Stdin).Decode(&r); err != nil {
		answer(map[string]string{"error": "the request is not JSON: " + err.Error()})
		return
	}
	// As `flux push artifact --insecure-registry` configures the client.
	client := oci.NewClient(append(oci.DefaultOptions(), crane.Insecure))
	opts := []oci.PushOption{
		oci.WithPushMetadata(oci.Metadata{Source: r.Source, Revision: r.Revision, Created: r.Created}),
		oci.WithPushIgnorePaths(r.IgnorePaths...),
	}
	if r.Static != "" {
		opts = append(opts, oci.WithPushLayerType(oci.LayerTypeStatic), oci.WithPushMediaTypeExt(r.Static))
	}
	digest, err := client.Push(context.Background(), r.URL, r.Path, opts...)
	if err != nil {
		answer(map[string]string{"error": err.Error()})
		return
	}
	answer(map[string]string{"digest": digest})
}

func answer(v map[string]string) {
	_ = json.NewEncoder(os.Stdout).Encode(v)
}
