// Command fluxgen builds a Flux Kustomization's path the way kustomize-controller v1.9.6 does
// (internal/controller/kustomization_controller.go: generate, build, then SetCommonMetadata at
// apply), with the fluxcd/pkg/kustomize version it pins, so that fledge's build can be compared
// with Flux's own.
//
//	fluxgen ROOT REQUEST.json
//
// REQUEST holds "path" (relative to ROOT), "spec" (the Kustomization's spec), "sources" (the
// ConfigMaps and Secrets postBuild.substituteFrom may name, as Kubernetes objects) and "strict"
// (the StrictPostBuildSubstitutions feature gate). ROOT is copied first: Flux writes the
// kustomization it generates into the directory. The answer, on stdout, is a JSON object:
// "yaml" (kustomize's output after substitution), "objects" (what the controller applies) or
// "error".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	generator "github.com/fluxcd/pkg/kustomize"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	cp "github.com/otiai10/copy"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type request struct {
	Path    string                      `json:"path"`
	Spec    json.RawMessage             `json:"spec"`
	Sources []unstructured.Unstructured `json:"sources"`
	Strict  bool                        `json:"strict"`
}

type answer struct {
	YAML    string                   `json:"yaml,omitempty"`
	Objects []map[string]interface{} `json:"objects,omitempty"`
	Error   string                   `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fluxgen ROOT REQUEST.json")
		os.Exit(64)
	}
	var a answer
	y, objects, err := run(os.Args[1], os.Args[2])
	if err != nil {
		a.Error = err.Error()
	} else {
		a.YAML = y
		for _, o := range objects {
			a.Objects = append(a.Objects, o.Object)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

const namespace = "flux-system"

func run(root, requestFile string) (string, []*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(requestFile)
	if err != nil {
		return "", nil, err
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return "", nil, fmt.Errorf("request: %w", err)
	}
	obj := &kustomizev1.Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
		ObjectMeta: metav1.ObjectMeta{Name: "test", Namespace: namespace},
	}
	if len(req.Spec) > 0 {
		if err := json.Unmarshal(req.Spec, &obj.Spec); err != nil {
			return "", nil, fmt.Errorf("spec: %w", err)
		}
	}

	workDir, err := os.MkdirTemp("", "fluxgen")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(workDir)
	if err := cp.Copy(root, workDir); err != nil {
		return "", nil, err
	}
	dirPath := filepath.Join(workDir, req.Path)

	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return "", nil, err
	}
	var sources []client.Object
	for i := range req.Sources {
		u := req.Sources[i]
		u.SetNamespace(namespace)
		typed, err := scheme.New(u.GroupVersionKind())
		if err != nil {
			return "", nil, err
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			return "", nil, err
		}
		sources = append(sources, typed.(client.Object))
	}
	kubeClient := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sources...).Build()

	// kustomization_controller.go: reconcile → generate → build.
	k, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", nil, err
	}
	u := unstructured.Unstructured{Object: k}
	if _, err := generator.NewGenerator(workDir, u).WriteFile(dirPath); err != nil {
		return "", nil, err
	}
	m, err := generator.SecureBuild(workDir, dirPath, true)
	if err != nil {
		return "", nil, fmt.Errorf("kustomize build failed: %w", err)
	}
	for _, res := range m.Resources() {
		if res.GetName() == "" || res.GetKind() == "" || res.GetApiVersion() == "" {
			return "", nil, fmt.Errorf("failed to decode Kubernetes apiVersion, kind and name from: %v", res.String())
		}
		if obj.Spec.PostBuild != nil {
			always := obj.GetSubstituteStrategy() == kustomizev1.SubstituteStrategyAlways
			outRes, err := generator.SubstituteVariables(context.Background(), kubeClient, u, res,
				generator.SubstituteWithStrict(req.Strict),
				generator.SubstituteWithAlways(always))
			if err != nil {
				return "", nil, fmt.Errorf("post build failed for '%s/%s': %w", res.GetGvk(), res.GetName(), err)
			}
			if outRes != nil {
				if _, err := m.Replace(res); err != nil {
					return "", nil, err
				}
			}
		}
	}
	resources, err := m.AsYaml()
	if err != nil {
		return "", nil, fmt.Errorf("kustomize build failed: %w", err)
	}
	// apply: ReadObjects, then commonMetadata.
	objects, err := ssautil.ReadObjects(bytes.NewReader(resources))
	if err != nil {
		return "", nil, err
	}
	if cmeta := obj.Spec.CommonMetadata; cmeta != nil {
		ssautil.SetCommonMetadata(objects, cmeta.Labels, cmeta.Annotations)
	}
	return string(resources), objects, nil
}
