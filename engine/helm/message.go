package main

// Commit messages of image update automation: a Go template with sprig's hermetic functions,
// over the data image-automation-controller v1.2.0 gives its templates (internal/source and
// internal/update), so a Flux user's spec.git.commit.messageTemplate reads the same.

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// MessageRequest is a commit message to render.
type MessageRequest struct {
	Template         string            `json:"template"`
	AutomationObject NamespacedName    `json:"automationObject"`
	Changes          []FileChange      `json:"changes"`
	Values           map[string]string `json:"values"`
}

// FileChange is one setter's change in one object of one file.
type FileChange struct {
	File     string             `json:"file"`
	Object   ResourceIdentifier `json:"object"`
	OldValue string             `json:"oldValue"`
	NewValue string             `json:"newValue"`
	Setter   string             `json:"setter"`
}

// NamespacedName is types.NamespacedName's fields.
type NamespacedName struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// ResourceIdentifier has kyaml's ResourceIdentifier's fields (.APIVersion, .Kind, .Name,
// .Namespace).
type ResourceIdentifier struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
}

// ObjectIdentifier is update.ObjectIdentifier: the identifier, embedded.
type ObjectIdentifier struct {
	ResourceIdentifier
}

// Change is update.Change.
type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

// ObjectChanges is update.ObjectChanges.
type ObjectChanges map[ObjectIdentifier][]Change

// Result is update.Result, with its methods.
type Result struct {
	FileChanges map[string]ObjectChanges
}

// Changes is every distinct change.
func (r Result) Changes() []Change {
	seen := make(map[Change]struct{})
	var result []Change
	for _, objChanges := range r.FileChanges {
		for _, changes := range objChanges {
			for _, change := range changes {
				if _, ok := seen[change]; !ok {
					seen[change] = struct{}{}
					result = append(result, change)
				}
			}
		}
	}
	return result
}

// Objects is every object's changes.
func (r Result) Objects() ObjectChanges {
	result := make(ObjectChanges)
	for _, objChanges := range r.FileChanges {
		for obj, change := range objChanges {
			result[obj] = append(result[obj], change...)
		}
	}
	return result
}

// TemplateData is source.TemplateData.
type TemplateData struct {
	AutomationObject NamespacedName
	Changed          Result
	Values           map[string]string
}

const defaultMessageTemplate = `Update from image update automation`

func message(req *MessageRequest) (string, error) {
	data := TemplateData{AutomationObject: req.AutomationObject, Values: req.Values}
	data.Changed.FileChanges = map[string]ObjectChanges{}
	for _, c := range req.Changes {
		if data.Changed.FileChanges[c.File] == nil {
			data.Changed.FileChanges[c.File] = ObjectChanges{}
		}
		id := ObjectIdentifier{c.Object}
		data.Changed.FileChanges[c.File][id] = append(data.Changed.FileChanges[c.File][id],
			Change{OldValue: c.OldValue, NewValue: c.NewValue, Setter: c.Setter})
	}
	text := req.Template
	if text == "" {
		text = defaultMessageTemplate
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(text)
	if err != nil {
		return "", fmt.Errorf("unable to create commit message template from spec: %w", err)
	}
	b := &strings.Builder{}
	if err := t.Execute(b, data); err != nil {
		return "", fmt.Errorf("failed to run template from spec: %w", err)
	}
	return b.String(), nil
}
