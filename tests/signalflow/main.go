// Splunk's own SignalFlow fake backend: signalflow-client-go's FakeBackend (the client library
// Flagger's splunk provider uses), serving one program for fledge's tests; and Flagger's own
// splunk provider (vendored in ./providers) querying it.
//
//	signalflow CONFIG.json           # prints the backend's ws:// URL, serves until stdin closes
//	signalflow --flagger CONFIG.json # Flagger's RunQuery against its own backend; prints
//	                                 # {"value": …} or {"error": "…"}
//
// CONFIG: {"token": "…", "program": "…", "values": [1.5, null], "error": "", "interval": "100ms",
// "address": ""}: one time series per value (null: a series without data), an error message for
// the program if not empty, the metric interval Flagger is given, and with --flagger the
// template's address to query instead of the backend (Flagger's availability check first, then
// the program).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/signalfx/signalflow-client-go/v2/signalflow"
	"github.com/signalfx/signalfx-go/idtool"

	"fledge.test/signalflow/providers"
)

type config struct {
	Token    string     `json:"token"`
	Program  string     `json:"program"`
	Values   []*float64 `json:"values"`
	Error    string     `json:"error"`
	Interval string     `json:"interval"`
	Address  string     `json:"address"`
}

func main() {
	args := os.Args[1:]
	flagger := len(args) == 2 && args[0] == "--flagger"
	if flagger {
		args = args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: signalflow [--flagger] CONFIG.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f := signalflow.NewRunningFakeBackend()
	f.AccessToken = c.Token
	var tsids []idtool.ID
	for i, v := range c.Values {
		tsid := idtool.ID(i + 1)
		tsids = append(tsids, tsid)
		if v != nil {
			f.SetTSIDFloatData(tsid, *v)
		}
	}
	f.AddProgramTSIDs(c.Program, tsids)
	if c.Error != "" {
		f.AddProgramError(c.Program, c.Error)
	}
	if flagger && c.Address != "" {
		runFlagger(c, c.Address, true)
		return
	}
	if flagger {
		runFlagger(c, strings.Replace(f.URL(), "ws", "http", 1), false)
		return
	}
	fmt.Println(f.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	f.Stop()
}

// runFlagger prints what Flagger's splunk provider makes of the program at address.
// With check, its availability check (IsOnline) comes first, as Flagger's controller makes it.
func runFlagger(c config, address string, check bool) {
	out := map[string]any{}
	p, err := providers.NewSplunkProvider(c.Interval,
		flaggerv1.MetricTemplateProvider{Type: "splunk", Address: address},
		map[string][]byte{"sf_token_key": []byte(c.Token)})
	if err == nil && check {
		_, err = p.IsOnline()
	}
	if err == nil {
		var v float64
		if v, err = p.RunQuery(c.Program); err == nil {
			out["value"] = v
		}
	}
	if err != nil {
		out["error"] = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
