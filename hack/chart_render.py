#!/usr/bin/env python3
"""Lints and renders charts/livy-server with Helm's own engine (the
helm-python-sdk wheel bundles it; no helm binary) for the default values and
for each values file given, and prints {case: {template: manifest}} as JSON.

Exits non-zero when lint reports an error (or a warning: strict mode) or a
template fails to render. tests/chart.rs runs it and checks the manifests.

    .venv/bin/python hack/chart_render.py hack/chart-values-ha.yaml
    .venv/bin/python hack/chart_render.py --plain > deploy/livy-server.yaml
"""
import json
import os
import sys

import helm_python as helm

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "charts", "livy-server")
NAMESPACE = "livy"


def lint_and_render(values, case):
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.33.0")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    if problems or report.get("errors"):
        sys.exit(f"helm lint ({case}): {problems or report['errors']}")
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values, name="livy", namespace=NAMESPACE, is_install=True)
    crds = {c["name"]: c["data"] for c in chart.crds}
    return {"templates": rendered, "crds": crds}


def main(paths):
    out = {"default": lint_and_render({}, "default values")}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            values = helm.values_from_yaml(f.read())
        out[os.path.basename(path)] = lint_and_render(values, path)
    # Several replicas without leader election would reconcile twice: refused.
    try:
        helm.Chart.load(CHART).render({"replicas": 3}, name="livy", namespace=NAMESPACE)
        out["refused"] = None
    except helm.HelmError as e:
        out["refused"] = str(e)
    json.dump(out, sys.stdout)


def plain():
    """deploy/livy-server.yaml: the chart with default values in namespace livy."""
    rendered = lint_and_render({}, "default values")["templates"]
    sys.stdout.write(
        "# Plain manifests for `kubectl apply` (namespace livy), generated from\n"
        "# charts/livy-server with default values by `hack/chart_render.py --plain`.\n"
        "# Apply crds/ first: kubectl apply -f crds/ && kubectl apply -n livy -f deploy/\n"
    )
    for path in sorted(rendered):
        sys.stdout.write(f"---\n# Source: {path}\n{rendered[path].strip()}\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--plain"]:
        plain()
    else:
        main(sys.argv[1:])
