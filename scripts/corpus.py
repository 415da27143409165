#!/usr/bin/env python3
"""Runs `fledge build` on every case of the kustomize corpus and compares with expected.yaml.

Usage: scripts/corpus.py CORPUS_DIR [FLEDGE_BIN] [-v]
Prints one line per case (PASS/FAIL, and BYTES when the output is byte-identical) and a
summary line 'N passed, M failed'.
"""
import csv, subprocess, sys, yaml, difflib, os

corpus = sys.argv[1]
binary = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith('-') else 'target/release/fledge'
verbose = '-v' in sys.argv
only = [a for a in sys.argv[3:] if a.startswith('case-')]

rows = list(csv.DictReader(open(os.path.join(corpus, 'cases.tsv')), delimiter='\t'))
passed = failed = identical = 0
for row in rows:
    case = row['case']
    if only and case not in only:
        continue
    base = os.path.join(corpus, case)
    expected_text = open(os.path.join(base, 'expected.yaml')).read()
    p = subprocess.run([binary, 'build', '--root', base, os.path.join(base, row['entry_dir'])],
                       capture_output=True, text=True)
    ok = False
    if p.returncode == 0:
        try:
            ok = list(yaml.safe_load_all(p.stdout)) == list(yaml.safe_load_all(expected_text))
        except Exception as e:  # noqa
            ok = False
    same = ok and p.stdout == expected_text
    identical += same
    if ok:
        passed += 1
        print(f"PASS {'BYTES' if same else '     '} {case}")
    else:
        failed += 1
        print(f"FAIL       {case}: {p.stderr.strip()[:300]}")
        if verbose and p.returncode == 0:
            sys.stdout.writelines(list(difflib.unified_diff(expected_text.splitlines(True), p.stdout.splitlines(True), 'expected', 'fledge'))[:80])
print(f"byte-identical: {identical}")
print(f"{passed} passed, {failed} failed")
