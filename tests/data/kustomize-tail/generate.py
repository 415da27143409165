#!/usr/bin/env python3
"""Writes the generated (`gen-*`) inputs of tests/data/kustomize-tail: one folder per input
(its files, and `entry`, the folder to build, when not the input itself), under the area
folders. Usage: python3 generate.py tests/data/kustomize-tail

The tests read the inputs it wrote, committed beside it; run it again only to change them."""
import itertools, os, sys, shutil

OUT = sys.argv[1]
cases = {}

def case(area, name, files, entry='.'):
    d = dict(files)
    if entry != '.':
        d['entry'] = entry + '\n'
    cases.setdefault(area, {})[name] = d

def doc(*objs):
    return '---\n'.join(objs)

# ---------------------------------------------------------------- 1 rename by patch
BASE1 = {
 'cm': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n',
 'sec': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\ntype: Opaque\n',
 'svc': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n',
 'sa': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n',
 'deploy': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      serviceAccountName: sa\n      containers:\n      - name: app\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: cfg\n        - secretRef:\n            name: sec\n      volumes:\n      - name: v\n        configMap:\n          name: cfg\n',
 'ing': 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ing\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: svc\n            port:\n              number: 80\n',
 'hpa': 'apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: hpa\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  maxReplicas: 2\n',
 'rb': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r\nsubjects:\n- kind: ServiceAccount\n  name: sa\n',
}
TARGETS = {'cm': ('v1', 'ConfigMap', 'cfg'), 'sec': ('v1', 'Secret', 'sec'), 'svc': ('v1', 'Service', 'svc'),
           'sa': ('v1', 'ServiceAccount', 'sa'), 'deploy': ('apps/v1', 'Deployment', 'web')}
for (t, how, prefix, ns) in itertools.product(TARGETS, ['smp-allow', 'smp-deny', 'smp-noopt', 'json', 'json-two', 'smp-kind'], [False, True], [False, True]):
    api, kind, name = TARGETS[t]
    files = {'res.yaml': doc(*BASE1.values())}
    k = 'resources:\n- res.yaml\n'
    if prefix: k += 'namePrefix: p-\n'
    if ns: k += 'namespace: team\n'
    if how.startswith('smp'):
        newkind = kind
        opts = ''
        if how == 'smp-allow': opts = '  options:\n    allowNameChange: true\n'
        if how == 'smp-deny': opts = '  options:\n    allowNameChange: false\n'
        if how == 'smp-kind':
            newkind = {'ConfigMap': 'Secret', 'Secret': 'ConfigMap', 'Service': 'Endpoints', 'ServiceAccount': 'ConfigMap', 'Deployment': 'StatefulSet'}[kind]
            opts = '  options:\n    allowNameChange: true\n    allowKindChange: true\n'
        files['patch.yaml'] = f'apiVersion: {api}\nkind: {newkind}\nmetadata:\n  name: renamed\n  labels:\n    patched: "yes"\n'
        k += f'patches:\n- path: patch.yaml\n  target:\n    kind: {kind}\n    name: {name}\n' + opts
    else:
        ops = f'  - op: replace\n    path: /metadata/name\n    value: renamed\n'
        if how == 'json-two':
            ops += f'  - op: add\n    path: /metadata/labels\n    value:\n      patched: "yes"\n'
        k += f'patches:\n- target:\n    kind: {kind}\n    name: {name}\n  patch: |-\n' + ops.replace('\n  ', '\n    ').replace('  - op', '    - op', 1)
    case('01-rename-by-patch', f'gen-{t}-{how}{"-prefix" if prefix else ""}{"-ns" if ns else ""}', {**files, 'kustomization.yaml': k})
# renaming in a base, referrers in an overlay
for (how, ov) in itertools.product(['smp-allow', 'json'], ['prefix', 'suffix', 'ns', 'none']):
    files = {'base/res.yaml': doc(BASE1['cm'], BASE1['svc']), 'overlay/res.yaml': doc(BASE1['deploy'], BASE1['ing'], BASE1['sa'], BASE1['sec'])}
    if how == 'smp-allow':
        files['base/kustomization.yaml'] = 'resources: [res.yaml]\npatches:\n- target:\n    kind: ConfigMap|Service\n  patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: renamed\n  options:\n    allowNameChange: true\n'
    else:
        files['base/kustomization.yaml'] = 'resources: [res.yaml]\npatches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    - op: replace\n      path: /metadata/name\n      value: renamed\n'
    k = 'resources: [../base, res.yaml]\n' + {'prefix': 'namePrefix: o-\n', 'suffix': 'nameSuffix: -o\n', 'ns': 'namespace: o\n', 'none': ''}[ov]
    files['overlay/kustomization.yaml'] = k
    case('01-rename-by-patch', f'gen-base-{how}-{ov}', files, 'overlay')

# ---------------------------------------------------------------- 2 vars
VAR_USES = [
 ('Pod', 'v1', 'spec:\n  containers:\n  - name: a\n    image: x\n    args: ["$(V)", "--x=$(V)"]\n    command: ["run-$(V)"]\n    env:\n    - name: E\n      value: $(V)\n    volumeMounts:\n    - name: n\n      mountPath: /m/$(V)\n  initContainers:\n  - name: i\n    image: x\n    args: ["$(V)"]\n  volumes:\n  - name: n\n    nfs:\n      server: $(V)\n      path: /\n'),
 ('Deployment', 'apps/v1', 'spec:\n  template:\n    metadata:\n      annotations:\n        a: $(V)\n        b: x-$(V)\n        n: 5\n      labels:\n        l: $(V)\n    spec:\n      containers:\n      - name: a\n        image: x\n        command: ["$(V)"]\n      volumes:\n      - name: n\n        nfs:\n          server: $(V)\n          path: /\n'),
 ('StatefulSet', 'apps/v1', 'spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        env:\n        - name: E\n          value: $(V)\n  volumeClaimTemplates:\n  - metadata:\n      name: c\n    spec:\n      nfs:\n        server: $(V)\n'),
 ('CronJob', 'batch/v1', 'spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: a\n            image: x\n            args: ["$(V)"]\n'),
 ('Ingress', 'networking.k8s.io/v1', 'spec:\n  rules:\n  - host: $(V).example.com\n  tls:\n  - hosts: ["$(V)"]\n    secretName: $(V)\n'),
 ('PersistentVolume', 'v1', 'spec:\n  nfs:\n    server: $(V)\n    path: /\n'),
 ('Widget', 'example.com/v1', 'spec:\n  args: ["$(V)"]\n  field: $(V)\n'),
 ('Job', 'batch/v1', 'spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        args: ["$(V)"]\n        command: [$(V)]\n'),
]
VAR_SOURCES = {
 'svc-name': ('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 8080\n', 'kind: Service\n    apiVersion: v1\n    name: web', None),
 'svc-port': ('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 8080\n', 'kind: Service\n    apiVersion: v1\n    name: web', 'spec.ports[0].port'),
 'deploy-replicas': ('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: src\nspec:\n  replicas: 3\n', 'kind: Deployment\n    apiVersion: apps/v1\n    name: src', 'spec.replicas'),
 'cm-data': ('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\ndata:\n  host: db.local\n', 'kind: ConfigMap\n    version: v1\n    name: src', 'data.host'),
 'no-apiversion': ('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n', 'kind: Service\n    name: web', None),
 'annotation': ('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    x: from-annotation\n', 'kind: Service\n    apiVersion: v1\n    name: web', 'metadata.annotations.x'),
}
for (src, (kind, api, spec)), prefix in itertools.product(itertools.product(VAR_SOURCES, VAR_USES), [False, True]):
    obj, ref, path = VAR_SOURCES[src]
    user = f'apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: user\n  labels:\n    v: $(V)\n    n: 7\n  annotations:\n    v: $(V)\n' + spec
    k = 'resources: [res.yaml]\nvars:\n- name: V\n  objref:\n    ' + ref + '\n'
    if path: k += f'  fieldref:\n    fieldpath: {path}\n'
    if prefix: k += 'namePrefix: p-\n'
    case('02-vars', f'gen-{src}-{kind.lower()}{"-prefix" if prefix else ""}', {'res.yaml': doc(obj, user), 'kustomization.yaml': k})
# same-named objects
SVC = lambda ns: f'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n' + (f'  namespace: {ns}\n' if ns else '')
DEP = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        args: ["$(V)"]\n'
for objs, ref in [
    ((SVC('a'), SVC('b')), 'kind: Service\n    apiVersion: v1\n    name: web'),
    ((SVC('a'), SVC('b')), 'kind: Service\n    apiVersion: v1\n    name: web\n    namespace: b'),
    ((SVC(None), SVC('b')), 'kind: Service\n    apiVersion: v1\n    name: web\n    namespace: default'),
    ((SVC('a'),), 'kind: Service\n    apiVersion: v1\n    name: web\n    namespace: c'),
    ((SVC(None),), 'kind: Service\n    apiVersion: v1\n    name: web\n    namespace: default'),
    ((SVC(None), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n'), 'kind: ConfigMap\n    apiVersion: v1\n    name: web'),
    ((SVC(None), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n'), 'kind: Service\n    apiVersion: v1\n    name: web'),
    ((SVC(None), 'apiVersion: example.com/v1\nkind: Service\nmetadata:\n  name: web\n'), 'kind: Service\n    apiVersion: v1\n    name: web'),
    ((SVC(None), 'apiVersion: example.com/v1\nkind: Service\nmetadata:\n  name: web\n'), 'kind: Service\n    apiVersion: example.com/v1\n    name: web'),
]:
    i = len(cases.get('02-vars', {}))
    for fp in [None, 'metadata.namespace']:
        k = 'resources: [res.yaml]\nvars:\n- name: V\n  objref:\n    ' + ref + '\n' + (f'  fieldref:\n    fieldpath: {fp}\n' if fp else '')
        case('02-vars', f'gen-same-name-{i}{"-ns" if fp else ""}', {'res.yaml': doc(*objs, DEP), 'kustomization.yaml': k})
# a var declared in a base included twice
for p1, p2, decl in itertools.product(['a-', ''], ['b-', '-x'], ['base', 'top']):
    files = {'base/res.yaml': SVC(None) + '---\n' + DEP}
    bk = 'resources: [res.yaml]\n'
    if decl == 'base': bk += 'vars:\n- name: V\n  objref:\n    kind: Service\n    apiVersion: v1\n    name: web\n'
    files['base/kustomization.yaml'] = bk
    files['a/kustomization.yaml'] = 'resources: [../base]\n' + (f'namePrefix: {p1}\n' if p1 else 'namespace: na\n')
    files['b/kustomization.yaml'] = 'resources: [../base]\n' + (f'namePrefix: {p2}\n' if not p2.startswith('-') else f'nameSuffix: {p2}\nnamespace: nb\n')
    tk = 'resources: [a]\n'
    if decl == 'top': tk += 'vars:\n- name: V\n  objref:\n    kind: Service\n    apiVersion: v1\n    name: web\n'
    files['kustomization.yaml'] = tk
    case('02-vars', f'gen-base-var-{p1 or "ns"}{p2}-{decl}', files)
    files2 = dict(files); files2['kustomization.yaml'] = 'resources: [a, b]\n' + tk[len('resources: [a]\n'):]
    case('02-vars', f'gen-base-twice-{p1 or "ns"}{p2}-{decl}', files2)

# ---------------------------------------------------------------- 3 name references
VAP = 'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: pol\nspec:\n  paramKind:\n    apiVersion: v1\n    kind: ConfigMap\n  validations:\n  - expression: "true"\n'
VAPB = 'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: bind\nspec:\n  policyName: pol\n  paramRef:\n    name: params\n    namespace: default\n    parameterNotFoundAction: Deny\n  validationActions: [Deny]\n'
PARAMS = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: params\ndata:\n  a: b\n'
for (pfx, sfx, ns, split) in itertools.product(['', 'p-'], ['', '-s'], ['', 'team'], [False, True]):
    mods = (f'namePrefix: {pfx}\n' if pfx else '') + (f'nameSuffix: {sfx}\n' if sfx else '') + (f'namespace: {ns}\n' if ns else '')
    if split:
        files = {'base/res.yaml': doc(VAP, PARAMS), 'base/kustomization.yaml': 'resources: [res.yaml]\n' + mods, 'kustomization.yaml': 'resources: [base, bind.yaml]\n', 'bind.yaml': VAPB}
    else:
        files = {'res.yaml': doc(VAP, VAPB, PARAMS), 'kustomization.yaml': 'resources: [res.yaml]\n' + mods}
    case('03-name-references', f'gen-vap{"-" + pfx if pfx else ""}{sfx}{"-" + ns if ns else ""}{"-split" if split else ""}', files)
SA = lambda n, ns=None: f'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {n}\n' + (f'  namespace: {ns}\n' if ns else '')
def RB(kind, subjects):
    s = ''.join(f'- kind: ServiceAccount\n  name: {n}\n' + (f'  namespace: {ns}\n' if ns else '') for n, ns in subjects)
    return f'apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cr\nsubjects:\n{s}'
CR = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\nrules: []\n'
for (rbkind, subj, where, pfx, ns) in itertools.product(['RoleBinding', 'ClusterRoleBinding'], ['plain', 'ns-same', 'ns-other', 'default', 'two'], ['same', 'base'], ['', 'p-'], ['', 'team']):
    subjects = {'plain': [('sa', None)], 'ns-same': [('sa', 'base-ns')], 'ns-other': [('sa', 'other')], 'default': [('default', None), ('sa', None)], 'two': [('sa', None), ('sa', 'other')]}[subj]
    mods = (f'namePrefix: {pfx}\n' if pfx else '') + (f'namespace: {ns}\n' if ns else '')
    if where == 'same':
        files = {'res.yaml': doc(SA('sa'), CR, RB(rbkind, subjects)), 'kustomization.yaml': 'resources: [res.yaml]\n' + mods}
    else:
        files = {'base/res.yaml': doc(SA('sa', 'base-ns'), CR), 'base/kustomization.yaml': 'resources: [res.yaml]\n' + mods,
                 'rb.yaml': RB(rbkind, subjects), 'kustomization.yaml': 'resources: [base, rb.yaml]\nnamePrefix: top-\n'}
    case('03-name-references', f'gen-{rbkind.lower()}-{subj}-{where}{"-" + pfx if pfx else ""}{"-" + ns if ns else ""}', files)
IC = 'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nginx\n'
ING = 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\nspec:\n  ingressClassName: nginx\n'
for pfx in ['p-', '']:
    case('03-name-references', f'gen-ingressclass{"-" + pfx if pfx else ""}', {'res.yaml': doc(IC, ING), 'kustomization.yaml': 'resources: [res.yaml]\nnameSuffix: -x\n' + (f'namePrefix: {pfx}\n' if pfx else '')})
# odd names: prefixes and suffixes that make names look alike
for cm, dep, pa, sfx in itertools.product(['-cfg', 'cfg', 'a-cfg'], ['-', 'web'], ['a', 'a-'], ['api', '']):
    files = {'common/cm.yaml': f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "{cm}"\n',
             'common/svc/deploy.yaml': f'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: "{dep}"\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        envFrom:\n        - configMapRef:\n            name: "{cm}"\n',
             'common/svc/kustomization.yaml': 'resources: [deploy.yaml]\n' + (f'nameSuffix: {sfx}\n' if sfx else ''),
             'common/kustomization.yaml': 'resources: [svc, cm.yaml]\n',
             'a/kustomization.yaml': f'resources: [../common]\nnamePrefix: {pa}\n',
             'b/kustomization.yaml': 'resources: [../common]\nnamePrefix: b\n',
             'kustomization.yaml': 'resources: [a, b]\n'}
    case('03-name-references', f'gen-affixes-{cm.strip("-") or "dash"}-{dep.strip("-") or "dash"}-{pa.strip("-")}{"-dash" if pa.endswith("-") else ""}-{sfx or "nosfx"}', files)

# ---------------------------------------------------------------- 4 CRD kinds named like built-ins
CRDLIKE = {
 'Deployment': 'spec:\n  selector:\n    matchLabels:\n      app: web\n  replicas: 1\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      serviceAccountName: sa\n      containers:\n      - name: app\n        image: nginx:1\n        envFrom:\n        - configMapRef:\n            name: cfg\n      - name: side\n        image: busybox\n',
 'StatefulSet': 'spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n',
 'Service': 'spec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n',
 'Namespace': 'spec:\n  x: 1\n',
 'ClusterRole': 'rules: []\n',
 'ConfigMap': 'data:\n  a: b\n',
 'Job': 'spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1\n',
}
OPS4 = {
 'labels': 'commonLabels:\n  team: blue\n',
 'labels-sel': 'labels:\n- pairs:\n    team: blue\n  includeSelectors: true\n',
 'labels-tmpl': 'labels:\n- pairs:\n    team: blue\n  includeTemplates: true\n',
 'namespace': 'namespace: team\n',
 'prefix': 'namePrefix: p-\n',
 'images': 'images:\n- name: nginx\n  newTag: "2"\n',
 'replicas': 'replicas:\n- name: thing\n  count: 3\n',
 'smp': None,
 'hash-ref': 'configMapGenerator:\n- name: cfg\n  literals: [a=b]\n',
}
for (kind, spec), op in itertools.product(CRDLIKE.items(), OPS4):
    obj = f'apiVersion: example.com/v1\nkind: {kind}\nmetadata:\n  name: thing\n' + spec
    builtin_cm = 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n'
    k = 'resources: [res.yaml]\n'
    files = {'res.yaml': doc(obj, builtin_cm)}
    if op == 'smp':
        files['patch.yaml'] = f'apiVersion: example.com/v1\nkind: {kind}\nmetadata:\n  name: thing\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: patched\n  ports:\n  - name: metrics\n    port: 9090\n'
        k += 'patches:\n- path: patch.yaml\n'
    else:
        k += OPS4[op]
    case('04-crd-like-builtin', f'gen-{kind.lower()}-{op}', {**files, 'kustomization.yaml': k})

# ---------------------------------------------------------------- 5 configurations
WIDGET = 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  configRef: cfg\n  secretName: sec\n  selector: {}\n  image: nginx:1\n  host: $(V)\n  template:\n    labels: {}\n  list:\n  - ref: cfg\n  - ref: other\n  dotted:\n    a.b/c: cfg\n'
CFG5 = {
 'nameref-cm': 'nameReference:\n- kind: ConfigMap\n  version: v1\n  fieldSpecs:\n  - kind: Widget\n    path: spec/configRef\n  - kind: Widget\n    path: spec/list/ref\n  - kind: Widget\n    path: spec/dotted/a.b\\/c\n',
 'nameref-secret': 'nameReference:\n- kind: Secret\n  fieldSpecs:\n  - kind: Widget\n    group: example.com\n    path: spec/secretName\n',
 'labels-create': 'commonLabels:\n- kind: Widget\n  path: spec/selector\n  create: true\n- kind: Widget\n  path: spec/absent/labels\n  create: true\n',
 'labels-nocreate': 'commonLabels:\n- kind: Widget\n  path: spec/absent/labels\n- kind: Widget\n  path: spec/template/labels\n',
 'prefix-narrow': 'namePrefix:\n- kind: Widget\n  path: metadata/name\n',
 'prefix-field': 'namePrefix:\n- kind: Widget\n  path: spec/host\n',
 'varref': 'varReference:\n- kind: Widget\n  path: spec/host\n',
 'images': 'images:\n- kind: Widget\n  path: spec/image\n',
 'namespace': 'namespace:\n- kind: Widget\n  path: spec/ns\n  create: true\n',
 'annotations': 'commonAnnotations:\n- kind: Widget\n  path: spec/template/annotations\n  create: true\n',
 'both-prefix': 'namePrefix:\n- kind: Widget\n  path: metadata/name\n- kind: ConfigMap\n  path: metadata/name\n',
}
for (c, cfg), gen in itertools.product(CFG5.items(), [False, True]):
    res = [WIDGET, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\n', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n']
    k = 'resources: [res.yaml]\nconfigurations: [config.yaml]\nnamePrefix: p-\nnamespace: ns\ncommonLabels:\n  team: blue\ncommonAnnotations:\n  note: hi\nimages:\n- name: nginx\n  newTag: "2"\nvars:\n- name: V\n  objref:\n    kind: Service\n    apiVersion: v1\n    name: svc\n'
    if gen: k += 'configMapGenerator:\n- name: cfg\n  literals: [a=b]\n'
    else: res.append('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n')
    case('05-configurations', f'gen-{c}{"-generated" if gen else ""}', {'res.yaml': doc(*res), 'config.yaml': cfg, 'kustomization.yaml': k})
# two configurations at once (entries of one kind of spec are merged under one key)
def merge_cfg(*texts):
    keys = {}
    for t in texts:
        cur = None
        for line in t.splitlines(keepends=True):
            if not line.startswith(' ') and not line.startswith('-') and line.endswith(':\n'):
                cur = line[:-2]; keys.setdefault(cur, '')
            else:
                keys[cur] += line
    return ''.join(f'{k}:\n{v}' for k, v in keys.items())
for (a, b) in itertools.combinations(sorted(CFG5), 2):
    res = [WIDGET, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\n', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n']
    k = 'resources: [res.yaml]\nconfigurations: [config.yaml]\nnameSuffix: -s\ncommonLabels:\n  team: blue\nimages:\n- name: nginx\n  newName: reg/nginx\nvars:\n- name: V\n  objref:\n    kind: Secret\n    apiVersion: v1\n    name: sec\n'
    case('05-configurations', f'gen-pair-{a}-{b}', {'res.yaml': doc(*res), 'config.yaml': merge_cfg(CFG5[a], CFG5[b]), 'kustomization.yaml': k})
# configurations in a base, used by the overlay
for c in ['nameref-cm', 'labels-create', 'varref']:
    files = {'base/res.yaml': WIDGET, 'base/config.yaml': CFG5[c], 'base/kustomization.yaml': 'resources: [res.yaml]\nconfigurations: [config.yaml]\n',
             'kustomization.yaml': 'resources: [base, cm.yaml]\nnamePrefix: o-\ncommonLabels:\n  x: y\nvars:\n- name: V\n  objref:\n    kind: ConfigMap\n    apiVersion: v1\n    name: cfg\n',
             'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n'}
    case('05-configurations', f'gen-base-{c}', files)

# ---------------------------------------------------------------- 6 labels
KINDS6 = {
 'deployment': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: o\nspec:\n  template:\n    spec:\n      containers: []\n',
 'deployment-full': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: o\nspec:\n  selector:\n    matchLabels:\n      a: b\n  template:\n    metadata:\n      labels:\n        a: b\n    spec:\n      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector:\n              matchLabels:\n                a: b\n            topologyKey: x\n',
 'statefulset-vct': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: o\nspec:\n  template:\n    metadata:\n      labels: {}\n  volumeClaimTemplates:\n  - metadata:\n      name: d\n  - metadata:\n      name: e\n      labels:\n        x: y\n',
 'statefulset-novct': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: o\nspec:\n  serviceName: o\n',
 'statefulset-emptyvct': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: o\nspec:\n  volumeClaimTemplates: []\n',
 'job': 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: o\nspec:\n  template:\n    spec:\n      containers: []\n',
 'cronjob': 'apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: o\nspec:\n  schedule: "* * * * *"\n',
 'service-noselector': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: o\nspec:\n  type: ExternalName\n  externalName: x\n',
 'service-nospec': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: o\n',
 'daemonset': 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: o\n',
 'pdb': 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: o\nspec:\n  minAvailable: 1\n',
 'networkpolicy': 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: o\nspec:\n  ingress:\n  - from:\n    - podSelector: {}\n    - namespaceSelector: {}\n',
 'replicationcontroller': 'apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: o\n',
 'crd-thing': 'apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: o\n',
}
MODES6 = {
 'common': 'commonLabels:\n  team: blue\n',
 'plain': 'labels:\n- pairs:\n    team: blue\n',
 'sel': 'labels:\n- pairs:\n    team: blue\n  includeSelectors: true\n',
 'tmpl': 'labels:\n- pairs:\n    team: blue\n  includeTemplates: true\n',
 'sel-tmpl': 'labels:\n- pairs:\n    team: blue\n  includeSelectors: true\n  includeTemplates: true\n',
 'fields': 'labels:\n- pairs:\n    team: blue\n  fields:\n  - path: spec/extra/labels\n    create: true\n  - path: spec/volumeClaimTemplates[]/metadata/labels\n    kind: StatefulSet\n    create: true\n',
}
for (kn, obj), (mn, mode) in itertools.product(KINDS6.items(), MODES6.items()):
    case('06-labels', f'gen-{kn}-{mn}', {'res.yaml': obj, 'kustomization.yaml': 'resources: [res.yaml]\n' + mode})

# ---------------------------------------------------------------- 7 generator values
VALS7 = ['1', 'true', '0x10', '1e3', 'null', '~', '', '007', '1.0', '-0', '.inf', 'yes', 'on', 'off', 'NO', '0o17', '+12', '1_000', '12:30', '2001-12-14', ' spaced ', 'a: b', '- x', '#not', "'q'", '"dq"', '@at', '`tick', '%pct', '!bang', '&amp', '*star', '|pipe', '>gt', 'tab\there', 'ünïcode', 'x' * 90]
for i, v in enumerate(VALS7):
    lit = v.replace('"', '\\"')
    k = f'configMapGenerator:\n- name: c\n  literals:\n  - "K={lit}"\nsecretGenerator:\n- name: s\n  literals:\n  - "K={lit}"\n'
    files = {'kustomization.yaml': k}
    case('07-generators', f'gen-literal-{i:02d}', files)
    files = {'kustomization.yaml': 'configMapGenerator:\n- name: c\n  envs: [a.env]\n  files: [f.txt]\n', 'a.env': f'K={v}\n', 'f.txt': v}
    case('07-generators', f'gen-env-file-{i:02d}', files)
for multiline in ['a\nb', 'a\n', '\na', 'line one\n  indented\n\ttab\n', 'trailing  \nspaces', 'x\r\ny']:
    case('07-generators', f'gen-multiline-{len(cases.get("07-generators", {}))}', {'kustomization.yaml': 'configMapGenerator:\n- name: c\n  files: [f.txt]\n', 'f.txt': multiline})
BASECM = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: project\n  labels:\n    old: l\n  annotations:\n    old: a\ndata:\n  A: "1"\n  B: old\nimmutable: false\n'
for behavior, ns, opts, where in itertools.product(['merge', 'replace'], ['', 'team'], ['', 'hash-off', 'labels'], ['same', 'base']):
    cm = BASECM.replace('  name: project\n', '  name: project\n' + (f'  namespace: {ns}\n' if ns and where == 'same' else ''))
    gen = f'configMapGenerator:\n- name: project\n  behavior: {behavior}\n  literals: [B=new, C="3"]\n'
    if opts == 'hash-off': gen += '  options:\n    disableNameSuffixHash: true\n'
    if opts == 'labels': gen += '  options:\n    labels:\n      new: l\n    annotations:\n      new: a\n'
    if where == 'same':
        files = {'cm.yaml': cm, 'kustomization.yaml': 'resources: [cm.yaml]\n' + gen}
    else:
        files = {'base/cm.yaml': cm, 'base/kustomization.yaml': 'resources: [cm.yaml]\n' + (f'namespace: {ns}\n' if ns else ''), 'kustomization.yaml': 'resources: [base]\n' + gen}
    case('07-generators', f'gen-{behavior}-nongenerated-{ns or "nons"}-{opts or "plain"}-{where}', files)
for behavior, ns_in_gen, hash_off in itertools.product(['merge', 'replace'], [False, True], [False, True]):
    files = {'base/kustomization.yaml': 'configMapGenerator:\n- name: c\n  literals: [A=1]\n' + ('  namespace: team\n' if ns_in_gen else '') + ('generatorOptions:\n  disableNameSuffixHash: true\n' if hash_off else ''),
             'kustomization.yaml': f'resources: [base]\nconfigMapGenerator:\n- name: c\n  behavior: {behavior}\n  literals: [B=2]\n'}
    case('07-generators', f'gen-{behavior}-generated{"-ns" if ns_in_gen else ""}{"-hashoff" if hash_off else ""}', files)

# ---------------------------------------------------------------- 8 annotations
VALS8 = ['1', '"01"', '1.0', 'true', '0x10', '1e3', '~', 'null', '', 'yes', '007', '.inf', '-1', '+1', '1_0', '"1"', "'x'", '[]', '{}', '2001-12-14']
for i, v in enumerate(VALS8):
    res = f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    a: {v}\n    b: keep\n  labels:\n    l: {v if v not in ("[]", "{}") else "x"}\n'
    case('08-annotations', f'gen-resource-{i:02d}', {'res.yaml': res, 'kustomization.yaml': 'resources: [res.yaml]\n'})
    case('08-annotations', f'gen-common-{i:02d}', {'res.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n', 'kustomization.yaml': f'resources: [res.yaml]\ncommonAnnotations:\n  a: {v}\n'})
    case('08-annotations', f'gen-patched-{i:02d}', {'res.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n', 'kustomization.yaml': f'resources: [res.yaml]\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: c\n      annotations:\n        a: {v}\n'})
    case('08-annotations', f'gen-psm-{i:02d}', {'res.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    keep: k\n', 'p.yaml': f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    a: {v}\n', 'kustomization.yaml': 'resources: [res.yaml]\npatchesStrategicMerge: [p.yaml]\n'})
    case('08-annotations', f'gen-template-{i:02d}', {'res.yaml': f'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    metadata:\n      annotations:\n        a: {v}\n', 'kustomization.yaml': 'resources: [res.yaml]\ncommonAnnotations:\n  note: "1"\n'})

# plain scalars kustomize's YAML reader takes otherwise than YAML 1.2 does
SCALARS8 = ['0123', '08', '0o17', '1_000', '+0x10', '-0b11', '2001-1-2', '0x_1F', '1__0', '09.5', '1e3', '1.0', '-0.0', '1.5e-7', '123456789.5', '1e21', '0.000001', '12345678901234567890', '.5', '5.', 'yes', 'on', '~', 'null', 'Null', 'true', 'False']
for i, v in enumerate(SCALARS8):
    res = f'apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n  labels:\n    l: "x"\n  annotations:\n    a: {v}\nspec:\n  v: {v}\n  list: [{v}, "{v}"]\n'
    case('08-annotations', f'gen-scalar-{i:02d}', {'res.yaml': res, 'kustomization.yaml': 'resources: [res.yaml]\n'})
    case('08-annotations', f'gen-scalar-{i:02d}-transformed', {'res.yaml': res, 'kustomization.yaml': 'resources: [res.yaml]\nnamePrefix: p-\ncommonAnnotations:\n  c: "1"\n'})

# ---------------------------------------------------------------- 9 field names
FIELDS9 = [
 ('nameprefix', 'nameprefix: p-\n'), ('NAMESUFFIX', 'NAMESUFFIX: -s\n'), ('Namespace', 'Namespace: team\n'),
 ('commonlabels', 'commonlabels:\n  a: b\n'), ('CommonAnnotations', 'CommonAnnotations:\n  a: b\n'),
 ('generator-case', 'configmapgenerator:\n- Name: c\n  Literals: [a=b]\n'),
 ('patches-case', 'Patches:\n- Target:\n    Kind: ConfigMap\n  Patch: |-\n    - op: add\n      path: /data/p\n      value: q\n'),
 ('images-case', 'IMAGES:\n- Name: nginx\n  NewTag: "2"\n'),
 ('dup-key', 'namePrefix: a-\nnamePrefix: b-\n'),
 ('both-spellings', 'namePrefix: a-\nnameprefix: b-\n'), ('both-spellings-reversed', 'nameprefix: b-\nnamePrefix: a-\n'),
 ('three-spellings', 'NAMEPREFIX: c-\nnamePrefix: a-\nnameprefix: b-\n'),
 ('dup-generator-key', 'configMapGenerator:\n- name: c\n  literals: [a=b]\n  literals: [c=d]\n'),
 ('labels-case', 'Labels:\n- Pairs:\n    a: b\n  IncludeSelectors: true\n'),
 ('replicas-case', 'Replicas:\n- Name: d\n  Count: 2\n'),
 ('vars-case', 'Vars:\n- Name: V\n  ObjRef:\n    Kind: ConfigMap\n    APIVersion: v1\n    Name: c\n'),
 ('unknown', 'namePrefx: p-\n'),
 ('dotted-labels', 'commonLabels:\n  app.kubernetes.io/name: x\n  example.com/a.b: c\n'),
 ('dotted-annotations', 'commonAnnotations:\n  a.b/c.d: x\n'),
]
RES9 = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: "$(V)"\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels:\n      x: y\n  template:\n    spec:\n      containers:\n      - name: n\n        image: nginx\n        args: ["$(V)"]\n'
for n, f in FIELDS9:
    case('09-field-names', f'gen-{n}', {'res.yaml': RES9, 'kustomization.yaml': 'resources: [res.yaml]\n' + f})
SPECS9 = [('escaped-slash', 'metadata/annotations/a.b\\/c'), ('leading-slash', '/spec/extra'), ('list-mark', 'spec/items[]/name'), ('list-mark-mid', 'spec/items[]/labels'),
          ('dotted', 'spec/a.b/c'), ('camel', 'spec/Extra'), ('trailing-slash', 'spec/extra/'), ('double-slash', 'spec//extra'), ('missing-list', 'spec/none[]/x')]
for (n, path), create in itertools.product(SPECS9, [False, True]):
    res = 'apiVersion: example.com/v1\nkind: W\nmetadata:\n  name: w\n  annotations:\n    a.b/c: orig\nspec:\n  extra: x\n  Extra: y\n  a.b:\n    c: z\n  items:\n  - name: i\n  - name: j\n'
    cfg = 'namePrefix:\n- kind: W\n  path: ' + path + '\n' + ('  create: true\n' if create else '') + 'commonLabels:\n- kind: W\n  path: ' + path + '/labels\n' + ('  create: true\n' if create else '')
    case('09-field-names', f'gen-spec-{n}{"-create" if create else ""}', {'res.yaml': res, 'config.yaml': cfg, 'kustomization.yaml': 'resources: [res.yaml]\nconfigurations: [config.yaml]\nnamePrefix: p-\ncommonLabels:\n  t: v\n'})

# ---------------------------------------------------------------- 10 origin annotations
for meta, comp, gen, tr, nested in itertools.product(['[originAnnotations]', '[transformerAnnotations]', '[originAnnotations, transformerAnnotations]'], [False, True], ['none', 'builtin', 'file', 'inline'], [False, True], [False, True]):
    files = {'base/res.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n', 'base/kustomization.yaml': 'resources: [res.yaml]\nnamePrefix: b-\n'}
    k = 'resources: [base, own.yaml]\n' if nested else 'resources: [own.yaml]\n'
    files['own.yaml'] = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n'
    k += f'buildMetadata: {meta}\n'
    if comp:
        files['comp/kustomization.yaml'] = 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\nconfigMapGenerator:\n- name: fromcomp\n  literals: [a=b]\ncommonLabels:\n  comp: "yes"\n'
        files['comp/extra.yaml'] = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\n'
        k += 'components: [comp]\n'
    if gen == 'builtin': k += 'configMapGenerator:\n- name: gen\n  literals: [a=b]\n'
    if gen == 'file':
        files['gen.yaml'] = 'apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: meta-name\nname: gen\nliterals: [a=b]\n'
        k += 'generators: [gen.yaml]\n'
    if gen == 'inline':
        k += 'generators:\n- |-\n  apiVersion: builtin\n  kind: SecretGenerator\n  metadata:\n    name: inl\n  literals: [a=b]\n'
    if tr:
        files['tr.yaml'] = 'apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata:\n  name: ann\nannotations:\n  t: "1"\nfieldSpecs:\n- path: metadata/annotations\n  create: true\n'
        k += 'transformers: [tr.yaml]\nnamespace: tr-ns\nimages:\n- name: a\n  newTag: "1"\n- name: b\n  newTag: "2"\nlabels:\n- pairs:\n    a: b\n'
    files['kustomization.yaml'] = k
    case('10-origin-annotations', f'gen-{"both" if "," in meta else meta.strip("[]")}{"-comp" if comp else ""}-{gen}{"-tr" if tr else ""}{"-nested" if nested else ""}', files)

# ---------------------------------------------------------------- 11 component at the top
for res, inner, patch, gen, pfx in itertools.product([True, False], [False, True], [False, True], [False, True], [False, True]):
    files = {'d.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n'}
    k = 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n'
    if res: k += 'resources: [d.yaml]\n'
    if inner:
        files['inner/kustomization.yaml'] = 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: inner\n  literals: [a=b]\n'
        k += 'components: [inner]\n'
    if patch: k += 'patches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    - op: add\n      path: /metadata/labels\n      value: {p: "1"}\n'
    if gen: k += 'configMapGenerator:\n- name: top\n  literals: [a=b]\n'
    if pfx: k += 'namePrefix: c-\n'
    files['kustomization.yaml'] = k
    case('11-component-entry', f'gen{"-res" if res else ""}{"-inner" if inner else ""}{"-patch" if patch else ""}{"-gen" if gen else ""}{"-prefix" if pfx else ""}', files)
case('11-component-entry', 'gen-component-in-resources', {'comp/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n', 'kustomization.yaml': 'resources: [comp]\n'})
case('11-component-entry', 'gen-kustomization-in-components', {'k/kustomization.yaml': 'resources: []\n', 'kustomization.yaml': 'components: [k]\n'})

# ---------------------------------------------------------------- 12 refusals
D = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n'
REF12 = {
 'empty-file': '', 'comment-only': '# nothing\n', 'separator-only': '---\n', 'null-doc': '~\n',
 'patch-empty-map': 'resources: [d.yaml]\npatches:\n- {}\n', 'patch-null': 'resources: [d.yaml]\npatches:\n-\n',
 'patch-empty-text': 'resources: [d.yaml]\npatches:\n- patch: ""\n', 'patch-blank-text': 'resources: [d.yaml]\npatches:\n- patch: "  \\n"\n',
 'patch-empty-target': 'resources: [d.yaml]\npatches:\n- target:\n    kind: ConfigMap\n', 'psm-empty': 'resources: [d.yaml]\npatchesStrategicMerge:\n- ""\n',
 'json6902-empty': 'resources: [d.yaml]\npatchesJson6902:\n- target:\n    kind: ConfigMap\n    name: x\n',
 'file-twice': 'resources: [d.yaml, d.yaml]\n', 'base-twice': 'resources: [b, b]\n', 'base-and-file': 'resources: [b, b/d.yaml]\n',
 'sort-fifo-legacy': 'resources: [d.yaml]\nsortOptions:\n  order: fifo\n  legacySortOptions:\n    orderFirst: [a]\n',
 'sort-no-order': 'resources: [d.yaml]\nsortOptions:\n  legacySortOptions:\n    orderFirst: [a]\n',
 'sort-empty': 'resources: [d.yaml]\nsortOptions: {}\n', 'sort-bad-order': 'resources: [d.yaml]\nsortOptions:\n  order: random\n',
 'sort-legacy-ok': 'resources: [d.yaml]\nsortOptions:\n  order: legacy\n  legacySortOptions:\n    orderFirst: [ConfigMap]\n    orderLast: [ConfigMap]\n',
 'sort-null': 'resources: [d.yaml]\nsortOptions: null\n',
 'int-key-labels': 'resources: [d.yaml]\ncommonLabels:\n  1: a\n', 'bool-key': 'resources: [d.yaml]\ncommonAnnotations:\n  true: a\n',
 'int-key-top': 'resources: [d.yaml]\n1: a\n', 'null-key': 'resources: [d.yaml]\ncommonLabels:\n  ~: a\n',
 'binary-in-kustomization': 'resources: [d.yaml]\nnamePrefix: !!binary cC0=\n',
 'multi-patch-target': 'resources: [d.yaml]\npatches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: x\n    data:\n      a: b\n    ---\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: x\n    data:\n      c: d\n',
 'number-label': 'resources: [d.yaml]\ncommonLabels:\n  a: 1\n', 'bool-annotation': 'resources: [d.yaml]\ncommonAnnotations:\n  a: true\n',
 'number-tag': 'resources: [d.yaml]\nimages:\n- name: nginx\n  newTag: 1.5\n',
 'number-pairs': 'resources: [d.yaml]\nlabels:\n- pairs:\n    a: 1\n',
 'yaml11-bool-value': 'resources: [d.yaml]\nnamespace: n\n', 'yaml11-bool-label': 'resources: [d.yaml]\ncommonLabels:\n  a: yes\n',
 'yaml11-bool-key': 'resources: [d.yaml]\ncommonAnnotations:\n  n: x\n', 'yaml11-on-key': 'resources: [d.yaml]\ncommonLabels:\n  on: x\n',
 'wrong-kind': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomize\nresources: [d.yaml]\n',
 'wrong-apiversion': 'apiVersion: kustomize.config.k8s.io/v1\nkind: Kustomization\nresources: [d.yaml]\n',
 'component-apiversion': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Component\nresources: [d.yaml]\n',
 'only-type': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n',
 'only-empty-strings': 'namePrefix: ""\nnamespace: ""\n', 'empty-list-ok': 'resources: []\n',
 'yaml11-octal-prefix': 'resources: [d.yaml]\nnamePrefix: 007\n', 'yaml11-underscore': 'resources: [d.yaml]\ncommonLabels:\n  a: 1_000\n',
 'yaml11-quoted-ok': 'resources: [d.yaml]\nnamespace: "n"\ncommonLabels:\n  "on": "yes"\n',
}
for n, k in REF12.items():
    files = {'d.yaml': D, 'b/d.yaml': D.replace('name: x', 'name: y'), 'b/kustomization.yaml': 'resources: [d.yaml]\n', 'kustomization.yaml': k}
    case('12-refusals', f'gen-{n}', files)
RES12 = {
 'int-key-resource': D + 'data:\n  1: a\n', 'binary-ok': D + 'binaryData:\n  a: !!binary aGVsbG8=\n', 'binary-bad': D + 'data:\n  a: !!binary aGVsbG8\n',
 'blank-subject-ns': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace:\n',
 'number-subject-ns': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace: 1\n',
 'scalar-in-path': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector: abc\n',
 'scalar-spec': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec: abc\n',
 'var-number-in-list': 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: x\n    args: ["$(V)", 5]\n',
}
for n, r in RES12.items():
    k = 'resources: [r.yaml]\ncommonLabels:\n  a: b\n'
    if n.startswith('var'): k += 'vars:\n- name: V\n  objref:\n    kind: Pod\n    apiVersion: v1\n    name: p\n'
    case('12-refusals', f'gen-{n}', {'r.yaml': r, 'kustomization.yaml': k})
case('12-refusals', 'gen-var-no-object', {'r.yaml': D, 'kustomization.yaml': 'resources: [r.yaml]\nvars:\n- name: V\n  objref:\n    kind: Service\n    apiVersion: v1\n    name: none\n'})
case('12-refusals', 'gen-var-two-objects', {'r.yaml': D.replace('name: x', 'name: x\n  namespace: a') + '---\n' + D.replace('name: x', 'name: x\n  namespace: b'), 'kustomization.yaml': 'resources: [r.yaml]\nvars:\n- name: V\n  objref:\n    kind: ConfigMap\n    apiVersion: v1\n    name: x\n'})
case('12-refusals', 'gen-sa-overlap', {'a/r.yaml': SA('sa') + '---\n' + RB('ClusterRoleBinding', [('sa', None)]).replace('name: rb', 'name: rb-a'), 'a/kustomization.yaml': 'namespace: a\nresources: [r.yaml]\n',
   'b/r.yaml': SA('sa') + '---\n' + RB('ClusterRoleBinding', [('sa', None)]).replace('name: rb', 'name: rb-b'), 'b/kustomization.yaml': 'namespace: b\nresources: [r.yaml]\n', 'kustomization.yaml': 'resources: [a, b]\n'})

for area, cs in cases.items():
    for name, files in cs.items():
        root = os.path.join(OUT, area, name)
        if os.path.exists(root): shutil.rmtree(root)
        for p, c in files.items():
            fp = os.path.join(root, p)
            os.makedirs(os.path.dirname(fp), exist_ok=True)
            with open(fp, 'w') as f: f.write(c)
    print(area, len(cs), file=sys.stderr)
