#!/usr/bin/env python3
"""Validates Kubernetes objects: core kinds with `kubernetes-validate --strict` (offline schemas),
custom resources against the openAPIV3Schema of their CRD (unknown fields rejected, as
`kubectl apply --validate=strict` does).

Usage: validate.py [--crds PATH ...] [--spec-schema KIND=FILE ...] MANIFEST.yaml ...
  --crds PATH   a CRD file, or a directory searched for *.yaml CRD files (repeatable)
  --spec-schema KIND=FILE
                a JSON Schema for the `spec` of KIND's objects besides their CRD's, for CRDs
                that leave the spec unchecked (Kuma's preserve unknown fields) (repeatable)
Exits 1 and names every object that fails; 0 when all pass.
"""
import argparse, copy, json, os, sys

import jsonschema
import kubernetes_validate
import yaml


def load_crds(paths):
    schemas = {}
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(('.yaml', '.yml'))]
        else:
            files.append(p)
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            if not isinstance(doc, dict) or doc.get('kind') != 'CustomResourceDefinition':
                continue
            spec = doc['spec']
            for v in spec.get('versions', []):
                schema = (v.get('schema') or {}).get('openAPIV3Schema') or spec.get('validation', {}).get('openAPIV3Schema')
                if schema:
                    schemas[(spec['group'], v['name'], spec['names']['kind'])] = strict(schema)
    return schemas


def strict(schema):
    """Rejects fields the schema does not declare, unless it preserves unknown fields."""
    s = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        # OpenAPI v3 (JSON Schema draft 4) writes `exclusiveMaximum: true` beside `maximum`;
        # the draft the validator runs takes the bound itself, as the API server does.
        for bound, limit in (('exclusiveMaximum', 'maximum'), ('exclusiveMinimum', 'minimum')):
            if isinstance(node.get(bound), bool):
                if node.pop(bound) and limit in node:
                    node[bound] = node.pop(limit)
        props = node.get('properties')
        if props is not None and 'additionalProperties' not in node \
                and not node.get('x-kubernetes-preserve-unknown-fields'):
            node['additionalProperties'] = False
        for key in ('properties', 'patternProperties'):
            for child in (node.get(key) or {}).values():
                walk(child)
        for key in ('items', 'additionalProperties', 'not'):
            walk(node.get(key))
        for key in ('allOf', 'anyOf', 'oneOf'):
            for child in node.get(key) or []:
                walk(child)
    walk(s)
    # apiVersion/kind/metadata are always allowed at the top.
    s.setdefault('properties', {})
    for f in ('apiVersion', 'kind'):
        s['properties'].setdefault(f, {'type': 'string'})
    s['properties'].setdefault('metadata', {'type': 'object'})
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--crds', action='append', default=[])
    ap.add_argument('--spec-schema', action='append', default=[])
    ap.add_argument('files', nargs='+')
    args = ap.parse_args()
    crds = load_crds(args.crds)
    specs = {}
    for arg in args.spec_schema:
        kind, _, path = arg.partition('=')
        specs[kind] = json.load(open(path))
    version = kubernetes_validate.latest_version()
    failures, count = [], 0
    for f in args.files:
        for doc in yaml.safe_load_all(open(f)):
            if doc is None:
                continue
            count += 1
            api = doc.get('apiVersion', '')
            group, _, ver = api.rpartition('/')
            key = (group, ver, doc.get('kind'))
            name = f"{f}: {doc.get('kind')} {doc.get('metadata', {}).get('namespace', '')}/{doc.get('metadata', {}).get('name')}"
            try:
                if key in crds:
                    jsonschema.validate(doc, crds[key])
                    if doc.get('kind') in specs:
                        jsonschema.validate(doc.get('spec'), specs[doc['kind']])
                else:
                    kubernetes_validate.validate(doc, version, strict=True)
            except jsonschema.ValidationError as e:
                failures.append(f"{name}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}")
            except Exception as e:  # kubernetes_validate raises several types
                failures.append(f"{name}: {e}")
    for msg in failures:
        print(f"INVALID {msg}", file=sys.stderr)
    print(f"validated {count} objects, {len(failures)} invalid")
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
