// Flagger's own external metrics provider (vendored in ./providers), querying a metrics
// server for fledge's tests.
//
//	externalmetrics ADDRESS QUERY [TOKEN]   # prints {"value": …} or {"error": "…"}
//
// ADDRESS is the template's spec.provider.address, TOKEN the Secret's `token`.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"k8s.io/client-go/rest"

	"fledge.test/externalmetrics/providers"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: externalmetrics ADDRESS QUERY [TOKEN]")
		os.Exit(2)
	}
	credentials := map[string][]byte{}
	if len(os.Args) == 4 {
		credentials["token"] = []byte(os.Args[3])
	}
	out := map[string]any{}
	// Flagger passes its in-cluster configuration; the address replaces its host.
	p, err := providers.NewExternalMetricsProvider(
		flaggerv1.MetricTemplateProvider{Type: "externalmetrics", Address: os.Args[1]},
		credentials, &rest.Config{})
	if err == nil {
		var v float64
		if v, err = p.RunQuery(os.Args[2]); err == nil {
			out["value"] = v
		}
	}
	if err != nil {
		out["error"] = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
