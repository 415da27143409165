// Command fledge-helm renders one Helm chart with Helm's own engine (helm.sh/helm/v4), as
// `helm template` renders it, for fledge. It reads one JSON request on stdin and writes one JSON
// answer on stdout; it reads no other file, no network and no cluster: the chart's files,
// the values and the cluster's capabilities come in the request, and each `lookup` is asked of
// fledge on the same pipes while the chart renders (lookup.go).
//
// Values are composed as Flux's helm-controller composes them: each `valuesFrom` layer merged
// in order (a layer with a target path set at that path with Helm's `--set` parser, after
// `spec.values`), then `spec.values` over the result.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/strvals"
)

// Request is what fledge asks for.
type Request struct {
	// Files are the chart's files by path below the chart's directory, or Archive is the
	// chart packaged (.tgz).
	Files   map[string][]byte `json:"files,omitempty"`
	Archive []byte            `json:"archive,omitempty"`
	// ValuesFiles are files of the chart merged over its values.yaml, in order, as
	// source-controller does for `spec.chart.spec.valuesFiles`.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	ReleaseName string   `json:"releaseName"`
	Namespace   string   `json:"namespace"`
	// Values is `spec.values`; Layers are the `valuesFrom` references, resolved.
	Values      json.RawMessage `json:"values,omitempty"`
	Layers      []Layer         `json:"layers,omitempty"`
	KubeVersion string          `json:"kubeVersion,omitempty"`
	APIVersions []string        `json:"apiVersions,omitempty"`
	IncludeCRDs bool            `json:"includeCRDs"`
	IsUpgrade   bool            `json:"isUpgrade"`
	// Message, when set, asks for a commit message instead of a chart (message.go).
	Message *MessageRequest `json:"message,omitempty"`
}

// Layer is one `valuesFrom` reference's text.
type Layer struct {
	Source     string `json:"source"`
	Data       string `json:"data"`
	TargetPath string `json:"targetPath,omitempty"`
}

// Answer is the rendered release, or why it could not be rendered.
type Answer struct {
	Error    string `json:"error,omitempty"`
	Chart    *Meta  `json:"chart,omitempty"`
	Manifest string `json:"manifest"`
	Hooks    []Hook `json:"hooks"`
	Notes    string `json:"notes,omitempty"`
	// Message is the rendered commit message of a Message request.
	Message string `json:"message,omitempty"`
}

// Meta names the chart rendered.
type Meta struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

// Hook is one hook of the release, in Helm's execution order.
type Hook struct {
	Name           string   `json:"name"`
	Kind           string   `json:"kind"`
	Path           string   `json:"path"`
	Manifest       string   `json:"manifest"`
	Events         []string `json:"events"`
	Weight         int      `json:"weight"`
	DeletePolicies []string `json:"deletePolicies,omitempty"`
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var req Request
	answer := Answer{Hooks: []Hook{}}
	ask := &asker{dec: json.NewDecoder(os.Stdin), enc: json.NewEncoder(os.Stdout)}
	if err := ask.dec.Decode(&req); err != nil {
		answer.Error = fmt.Sprintf("reading the request: %v", err)
	} else if req.Message != nil {
		if m, err := message(req.Message); err != nil {
			answer.Error = err.Error()
		} else {
			answer.Message = m
		}
	} else if err := render(&req, &answer, ask); err != nil {
		answer.Error = err.Error()
	}
	if err := ask.enc.Encode(answer); err != nil {
		os.Exit(2)
	}
}

func render(req *Request, answer *Answer, ask *asker) error {
	ch, err := load(req)
	if err != nil {
		return err
	}
	answer.Chart = &Meta{Name: ch.Metadata.Name, Version: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion}
	if t := ch.Metadata.Type; t != "" && t != "application" {
		return fmt.Errorf("chart %s is a %s chart: %s charts are not installable", ch.Metadata.Name, t, t)
	}
	if err := valuesFiles(ch, req.ValuesFiles); err != nil {
		return err
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		reqs := make([]chart.Dependency, len(deps))
		for i, d := range deps {
			reqs[i] = d
		}
		if err := action.CheckDependencies(ch, reqs); err != nil {
			return fmt.Errorf("the chart's dependencies are not all in its charts/ directory (run `helm dependency build` and commit them, or publish the chart to a repository): %w", err)
		}
	}
	vals, err := values(req)
	if err != nil {
		return err
	}
	cfg := action.NewConfiguration()
	cfg.CustomTemplateFuncs = ask.funcs()
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = req.ReleaseName
	install.Namespace = req.Namespace
	install.Replace = true
	install.IncludeCRDs = req.IncludeCRDs
	install.IsUpgrade = req.IsUpgrade
	install.APIVersions = common.VersionSet(req.APIVersions)
	if req.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(req.KubeVersion)
		if err != nil {
			return fmt.Errorf("kube version %q: %w", req.KubeVersion, err)
		}
		install.KubeVersion = kv
	}
	got, err := install.Run(ch, vals)
	if err != nil {
		return err
	}
	rel, ok := got.(*release.Release)
	if !ok {
		return fmt.Errorf("unexpected release type %T", got)
	}
	answer.Manifest = rel.Manifest
	answer.Notes = rel.Info.Notes
	for _, h := range rel.Hooks {
		hook := Hook{Name: h.Name, Kind: h.Kind, Path: h.Path, Manifest: h.Manifest, Weight: h.Weight, Events: []string{}}
		for _, e := range h.Events {
			hook.Events = append(hook.Events, string(e))
		}
		for _, p := range h.DeletePolicies {
			hook.DeletePolicies = append(hook.DeletePolicies, string(p))
		}
		answer.Hooks = append(answer.Hooks, hook)
	}
	return nil
}

// load reads the chart as `helm template` reads a directory (its .helmignore honoured) or an
// archive.
func load(req *Request) (*chartv2.Chart, error) {
	var got chart.Charter
	var err error
	switch {
	case len(req.Archive) > 0:
		got, err = loader.LoadArchive(bytes.NewReader(req.Archive))
	case len(req.Files) > 0:
		dir, derr := os.MkdirTemp("", "fledge-helm-")
		if derr != nil {
			return nil, derr
		}
		defer os.RemoveAll(dir)
		root := filepath.Join(dir, "chart")
		for name, data := range req.Files {
			path := filepath.Join(root, filepath.FromSlash(name))
			if !strings.HasPrefix(path, root+string(filepath.Separator)) {
				return nil, fmt.Errorf("chart file %q lies outside the chart", name)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				return nil, err
			}
		}
		got, err = loader.Load(root)
	default:
		return nil, errors.New("the request holds no chart")
	}
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	ch, ok := got.(*chartv2.Chart)
	if !ok {
		return nil, fmt.Errorf("chart API version of %T is not supported", got)
	}
	return ch, nil
}

// valuesFiles merges the named files of the chart over its values, in order, and makes the
// result its values.yaml, as source-controller packages a chart with `valuesFiles`.
func valuesFiles(ch *chartv2.Chart, names []string) error {
	if len(names) == 0 {
		return nil
	}
	merged := map[string]any{}
	for _, name := range names {
		name = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(name)), "./")
		var data []byte
		found := false
		for _, f := range append(append([]*common.File{}, ch.Raw...), ch.Files...) {
			if f.Name == name {
				data, found = f.Data, true
				break
			}
		}
		if !found {
			return fmt.Errorf("spec.chart.spec.valuesFiles: %s is not a file of chart %s", name, ch.Metadata.Name)
		}
		v, err := common.ReadValues(data)
		if err != nil {
			return fmt.Errorf("spec.chart.spec.valuesFiles: %s: %w", name, err)
		}
		merged = merge(merged, v)
	}
	ch.Values = merged
	return nil
}

// values composes `valuesFrom` and `spec.values` as helm-controller does.
func values(req *Request) (map[string]any, error) {
	inline := map[string]any{}
	if len(req.Values) > 0 && string(req.Values) != "null" {
		if err := json.Unmarshal(req.Values, &inline); err != nil {
			return nil, fmt.Errorf("spec.values: %w", err)
		}
	}
	out := map[string]any{}
	for _, l := range req.Layers {
		if l.TargetPath != "" {
			out = merge(out, inline)
			if err := setPath(out, l.TargetPath, l.Data); err != nil {
				return nil, fmt.Errorf("spec.valuesFrom (%s): targetPath %s: %w", l.Source, l.TargetPath, err)
			}
			continue
		}
		v, err := common.ReadValues([]byte(l.Data))
		if err != nil {
			return nil, fmt.Errorf("spec.valuesFrom (%s): %w", l.Source, err)
		}
		out = merge(out, v)
	}
	return merge(out, inline), nil
}

// setPath sets `path` to `value` with Helm's `--set` parser; a quoted value is set as a
// string (`--set-string`).
func setPath(dest map[string]any, path, value string) error {
	for _, q := range []string{`"`, "'"} {
		if len(value) >= 2 && strings.HasPrefix(value, q) && strings.HasSuffix(value, q) {
			return strvals.ParseIntoString(path+"="+strings.Trim(value, `"'`), dest)
		}
	}
	return strvals.ParseInto(path+"="+value, dest)
}

// merge returns a with b merged over it: maps merged key by key, anything else replaced.
func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = merge(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
