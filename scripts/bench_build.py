#!/usr/bin/env python3
"""Benchmark: `fledge build` against `kubectl kustomize`, side by side, on repositories made by
scripts/bench/gen_kustomize_repo.py. Checks that both print the same bytes, then prints a
markdown table (wall time is the median of the runs, peak RSS the maximum).

Usage: scripts/bench_build.py [--apps 50,200,1000] [--kustomize-max 200] [--runs 3]
                              [--fledge target/release/fledge]
kubectl kustomize is quadratic on this layout (N=1000 takes over ten minutes); sizes above
--kustomize-max are measured for fledge only.
"""
import argparse, os, statistics, subprocess, sys, tempfile


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in KiB, stdout bytes)."""
    with tempfile.NamedTemporaryFile('r') as t:
        p = subprocess.run(['/usr/bin/time', '-f', '%e %M', '-o', t.name] + cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        secs, rss = t.read().split()[-2:]
    return float(secs), int(rss), p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--apps', default='50,200,1000')
    ap.add_argument('--kustomize-max', type=int, default=200)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--fledge', default='target/release/fledge')
    ap.add_argument('--work', default=None, help='where to generate repositories (default: a temp dir)')
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix='fledge-bench-')
    gen = os.path.join(os.path.dirname(__file__), 'bench', 'gen_kustomize_repo.py')
    rows = []
    for n in [int(x) for x in args.apps.split(',')]:
        repo = os.path.join(work, f'n{n}')
        if not os.path.isdir(repo):
            subprocess.run([sys.executable, gen, '--apps', str(n), '--out', repo], check=True,
                           stdout=subprocess.DEVNULL)
        overlay = os.path.join(repo, 'overlays', 'production')
        fl = [timed([args.fledge, 'build', '--root', repo, overlay]) for _ in range(args.runs)]
        f_secs = statistics.median(r[0] for r in fl)
        f_rss = max(r[1] for r in fl)
        row = {'n': n, 'objects': fl[0][2].count(b'\n---\n') + 1, 'f_secs': f_secs, 'f_rss': f_rss}
        if n <= args.kustomize_max:
            k_secs, k_rss, k_out = timed(['kubectl', 'kustomize', overlay])
            row.update(k_secs=k_secs, k_rss=k_rss, identical=(k_out == fl[0][2]))
        rows.append(row)
        print(f'n={n}: {row}', file=sys.stderr)
    print('| apps | objects | kubectl kustomize | fledge build | speed-up | peak RSS kustomize | peak RSS fledge | RSS ratio | same bytes |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|:---:|')
    for r in rows:
        if 'k_secs' in r:
            # /usr/bin/time reports 0.00 s for runs under 5 ms; count those as 5 ms.
            speed = r['k_secs'] / max(r['f_secs'], 0.005)
            print(f"| {r['n']} | {r['objects']} | {r['k_secs']:.2f} s | {r['f_secs']:.2f} s | {speed:.0f}× | "
                  f"{r['k_rss'] / 1024:.0f} MiB | {r['f_rss'] / 1024:.0f} MiB | {r['f_rss'] / r['k_rss']:.2f} | "
                  f"{'yes' if r['identical'] else 'NO'} |")
        else:
            print(f"| {r['n']} | {r['objects']} | not run | {r['f_secs']:.2f} s | | | {r['f_rss'] / 1024:.0f} MiB | | |")


if __name__ == '__main__':
    main()
