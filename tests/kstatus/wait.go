package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/clusterreader"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/runtime/cel"
	"github.com/fluxcd/pkg/runtime/statusreaders"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// wait runs Flux's WaitForSetWithContext over the objects, put in a fake cluster, with the
// status readers kustomize-controller's getClientAndPoller gives the poller.
func wait(req request, objects []*unstructured.Unstructured) (string, error) {
	// The kinds kstatus's Deployment and StatefulSet readers list besides the object itself.
	generated := []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "ReplicaSet"},
		{Group: "", Version: "v1", Kind: "Pod"},
	}
	var versions []schema.GroupVersion
	for _, gvk := range generated {
		versions = append(versions, gvk.GroupVersion())
	}
	for _, u := range objects {
		versions = append(versions, u.GroupVersionKind().GroupVersion())
	}
	mapper := meta.NewDefaultRESTMapper(versions)
	for _, gvk := range generated {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	objs := make([]client.Object, 0, len(objects))
	for _, u := range objects {
		scope := meta.RESTScopeNamespace
		if u.GetNamespace() == "" {
			scope = meta.RESTScopeRoot
		}
		mapper.Add(u.GroupVersionKind(), scope)
		objs = append(objs, u)
	}
	c := fake.NewClientBuilder().
		WithScheme(runtime.NewScheme()).
		WithRESTMapper(mapper).
		WithObjects(objs...).
		Build()
	readers := []engine.StatusReader{statusreaders.NewCustomJobStatusReader(mapper)}
	if len(req.Exprs) > 0 {
		ctor, err := cel.NewStatusReader(req.Exprs)
		if err != nil {
			return "", err
		}
		readers = append(readers, ctor(mapper))
	}
	// The direct reader, as the controller uses by default (DisableStatusPollerCache).
	poller := polling.NewStatusPoller(c, mapper, polling.Options{
		CustomStatusReaders:  readers,
		ClusterReaderFactory: engine.ClusterReaderFactoryFunc(clusterreader.NewDirectClusterReader),
	})
	manager := ssa.NewResourceManager(c, poller, ssa.Owner{Field: "kstatus", Group: "kstatus.fledge.dev"})
	err := manager.WaitForSetWithContext(context.Background(), object.UnstructuredSetToObjMetadataSet(objects), ssa.WaitOptions{
		Interval: 20 * time.Millisecond,
		Timeout:  time.Duration(req.Timeout) * time.Millisecond,
		FailFast: true,
	})
	if err != nil {
		return fmt.Sprint(err), nil
	}
	return "", nil
}
