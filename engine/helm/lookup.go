package main

// Helm's `lookup`, answered by fledge. helm-controller installs with a client of the cluster,
// so Helm's engine reads each looked-up object from the API server as the template runs;
// this engine reads no cluster, so it asks fledge instead: for each call it writes
// {"lookup": {...}} on stdout and reads fledge's answer, {"object": ...} or {"error": "..."},
// on stdin, in the middle of the render. fledge answers from the cluster (as helm-controller
// reads it), or with nothing where it reads no cluster (as `helm template` does).

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"text/template"
)

// LookupQuery is one call of `lookup`, with Helm's arguments.
type LookupQuery struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// lookupAnswer is fledge's answer to a LookupQuery: the object (or list), `{}` when there is
// none, or why it could not be read.
type lookupAnswer struct {
	Object map[string]any `json:"object"`
	Error  string         `json:"error,omitempty"`
}

// asker speaks to fledge over the process's stdin and stdout.
type asker struct {
	mu  sync.Mutex
	dec *json.Decoder
	enc *json.Encoder
}

// funcs is the template function that replaces Helm's own `lookup`.
func (a *asker) funcs() template.FuncMap {
	return template.FuncMap{"lookup": a.lookup}
}

// lookup has the signature and the answers of Helm's: a map, empty when nothing was found, or
// an error that fails the render.
func (a *asker) lookup(apiVersion, kind, namespace, name string) (map[string]any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := LookupQuery{APIVersion: apiVersion, Kind: kind, Namespace: namespace, Name: name}
	if err := a.enc.Encode(map[string]LookupQuery{"lookup": q}); err != nil {
		return map[string]any{}, fmt.Errorf("asking for %s %s: %w", kind, name, err)
	}
	var got lookupAnswer
	if err := a.dec.Decode(&got); err != nil {
		return map[string]any{}, fmt.Errorf("reading the answer for %s %s: %w", kind, name, err)
	}
	if got.Error != "" {
		return map[string]any{}, errors.New(got.Error)
	}
	if got.Object == nil {
		return map[string]any{}, nil
	}
	return got.Object, nil
}
