// Command ncnotify sends one event through notification-controller's own notifier
// (internal/notifier of v1.7.5, vendored unmodified in ./notifier), or checks one webhook
// request with the go-github calls its receiver server makes, for fledge's differential tests
// of its Flux notification senders and Receiver verification.
//
//	ncnotify REQUEST.json
//
// REQUEST: {"type", "url", "token", "username", "password", "channel", "headers",
// "commitStatus", "event"} to send, or {"verify": {"type", "token", "headers", "body"
// (base64)}} to check a request to a `github`, `bitbucket` or `generic-hmac` Receiver; the
// answer on stdout is {"error": "..."} or {}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/google/go-github/v64/github"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1beta1"

	"fledge.test/ncnotify/notifier"
)

type request struct {
	Type         string            `json:"type"`
	URL          string            `json:"url"`
	Token        string            `json:"token"`
	Username     string            `json:"username"`
	Password     string            `json:"password"`
	Channel      string            `json:"channel"`
	Headers      map[string]string `json:"headers"`
	CommitStatus string            `json:"commitStatus"`
	Event        eventv1.Event     `json:"event"`
	Verify       *verify           `json:"verify"`
}

type verify struct {
	Type    string            `json:"type"`
	Token   string            `json:"token"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// check makes the calls of receiver_handlers.go's validate for the type.
func check(v *verify) error {
	r, err := http.NewRequest(http.MethodPost, "http://receiver/hook/x", bytes.NewReader(v.Body))
	if err != nil {
		return err
	}
	for k, val := range v.Headers {
		r.Header.Set(k, val)
	}
	switch v.Type {
	case "generic-hmac":
		return github.ValidateSignature(r.Header.Get("X-Signature"), v.Body, []byte(v.Token))
	case "github", "bitbucket":
		_, err := github.ValidatePayload(r, []byte(v.Token))
		return err
	}
	return fmt.Errorf("type %q is not checked here", v.Type)
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r request
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.Verify != nil {
		return check(r.Verify)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []notifier.Option{notifier.WithURL(r.URL), notifier.WithProviderName("p"), notifier.WithProviderNamespace("flux-system")}
	if r.Token != "" {
		opts = append(opts, notifier.WithToken(r.Token))
	}
	if r.Username != "" {
		opts = append(opts, notifier.WithUsername(r.Username))
	}
	if r.Password != "" {
		opts = append(opts, notifier.WithPassword(r.Password))
	}
	if r.Channel != "" {
		opts = append(opts, notifier.WithChannel(r.Channel))
	}
	if len(r.Headers) > 0 {
		opts = append(opts, notifier.WithHeaders(r.Headers))
	}
	if r.CommitStatus != "" {
		opts = append(opts, notifier.WithCommitStatus(r.CommitStatus))
	}
	n, err := notifier.NewFactory(ctx, opts...).Notifier(r.Type)
	if err != nil {
		return err
	}
	return n.Post(ctx, r.Event)
}

func main() {
	answer := map[string]string{}
	if len(os.Args) != 2 {
		answer["error"] = "usage: ncnotify REQUEST.json"
	} else if err := run(os.Args[1]); err != nil {
		answer["error"] = err.Error()
	}
	out, _ := json.Marshal(answer)
	fmt.Println(string(out))
}
