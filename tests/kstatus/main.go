// Command kstatus computes the health of live objects the way kustomize-controller v1.9.6 does
// while it waits for a Kustomization's objects, with the fluxcd/cli-utils (kstatus) and
// fluxcd/pkg/runtime versions it pins, so that fledge's health module can be compared with
// Flux's own.
//
//	kstatus < REQUEST.json
//
// REQUEST holds "exprs" (a Kustomization's spec.healthCheckExprs), "objects" (live objects) and
// "kstatus" (true: kstatus's status.Compute alone, as any kstatus user computes it).
// The status readers are chosen as the controller's poller chooses them
// (internal/controller/kustomization_controller.go, getClientAndPoller): Flux's Job reader
// first, then the CEL reader when there are expressions, then kstatus's readers, whose
// Deployment, StatefulSet and ReplicaSet readers compute the object's own status with
// status.Compute, as the default reader does (they only add the generated objects' statuses,
// read from a cluster, which this program has not). The answer, on stdout, is a JSON object:
// "error" (the expressions did not compile) or "results", one per object: "ref" (the object as
// Flux names it in messages), "status", "message" and "error" (why the status is Unknown).
//
// With "wait" true, the objects are also put in a fake cluster (controller-runtime's fake
// client) and Flux's own wait (fluxcd/pkg/ssa's WaitForSetWithContext, fail-fast as the
// controller runs it, polling every 20 ms until "timeoutMs") runs over them; "wait" in the
// answer is the error it returned (the message Flux puts in the Ready condition), empty when
// the set was healthy.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/event"
	kstatusreaders "github.com/fluxcd/cli-utils/pkg/kstatus/polling/statusreaders"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/runtime/cel"
	"github.com/fluxcd/pkg/runtime/statusreaders"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

type request struct {
	Exprs   []kustomize.CustomHealthCheck `json:"exprs"`
	Objects []json.RawMessage             `json:"objects"`
	Kstatus bool                          `json:"kstatus"`
	Wait    bool                          `json:"wait"`
	Timeout int                           `json:"timeoutMs"`
}

type result struct {
	Ref     string `json:"ref"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type answer struct {
	Error   string   `json:"error,omitempty"`
	Results []result `json:"results,omitempty"`
	Wait    string   `json:"wait,omitempty"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	a, err := run(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(in []byte) (answer, error) {
	var req request
	if err := json.Unmarshal(in, &req); err != nil {
		return answer{}, fmt.Errorf("reading the request: %w", err)
	}
	var readers []engine.StatusReader
	if !req.Kstatus {
		readers = append(readers, statusreaders.NewCustomJobStatusReader(nil))
	}
	if len(req.Exprs) > 0 && !req.Kstatus {
		ctor, err := cel.NewStatusReader(req.Exprs)
		if err != nil {
			return answer{Error: err.Error()}, nil
		}
		readers = append(readers, ctor(nil))
	}
	readers = append(readers, kstatusreaders.NewGenericStatusReader(nil, status.Compute))
	var a answer
	var objects []*unstructured.Unstructured
	for i, raw := range req.Objects {
		// As the API server's objects reach the controller: integers as int64.
		var obj map[string]interface{}
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			return answer{}, fmt.Errorf("objects[%d]: %w", i, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		objects = append(objects, u.DeepCopy())
		a.Results = append(a.Results, read(readers, u))
	}
	if req.Wait {
		w, err := wait(req, objects)
		if err != nil {
			return answer{}, err
		}
		a.Wait = w
	}
	return a, nil
}

// read asks the first reader that supports the object's kind, as the poller's engine does.
func read(readers []engine.StatusReader, u *unstructured.Unstructured) result {
	r := result{Ref: utils.FmtObjMetadata(object.UnstructuredToObjMetadata(u))}
	gk := u.GroupVersionKind().GroupKind()
	for _, sr := range readers {
		if !sr.Supports(gk) {
			continue
		}
		rs, err := sr.ReadStatusForObject(context.Background(), nil, u)
		if err != nil {
			r.Status = string(status.UnknownStatus)
			r.Error = err.Error()
			return r
		}
		return fill(r, rs)
	}
	r.Status = string(status.UnknownStatus)
	r.Error = "no status reader"
	return r
}

func fill(r result, rs *event.ResourceStatus) result {
	r.Status = string(rs.Status)
	r.Message = rs.Message
	if rs.Error != nil {
		r.Error = rs.Error.Error()
	}
	return r
}
