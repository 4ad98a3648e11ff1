#!/usr/bin/env bash
# Tries livy-server on a local Kubernetes cluster (kind, or k3d with
# CLUSTER_TOOL=k3d): builds the image, loads it into the cluster, installs the
# chart, submits the Spark pi example as a Livy batch and shows it with kubectl.
# Needs docker, kubectl, helm and kind (or k3d) on PATH. NOT run in CI: this
# project's machines have no container engine and no cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER_TOOL="${CLUSTER_TOOL:-kind}"
CLUSTER="${CLUSTER:-livy}"
NAMESPACE="${NAMESPACE:-livy}"
IMAGE="${IMAGE:-livy-server:0.1.0}"
SPARK_IMAGE="${SPARK_IMAGE:-apache/spark:4.0.1}"

for tool in docker kubectl helm "$CLUSTER_TOOL"; do
    command -v "$tool" >/dev/null || { echo "k8s-try: $tool is not on PATH" >&2; exit 1; }
done

echo "==> cluster $CLUSTER ($CLUSTER_TOOL)"
case "$CLUSTER_TOOL" in
    kind) kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" ;;
    k3d) k3d cluster list "$CLUSTER" >/dev/null 2>&1 || k3d cluster create "$CLUSTER" ;;
    *) echo "k8s-try: CLUSTER_TOOL must be kind or k3d" >&2; exit 1 ;;
esac

echo "==> image $IMAGE"
docker build -t "$IMAGE" .
docker pull -q "$SPARK_IMAGE"
case "$CLUSTER_TOOL" in
    kind) kind load docker-image --name "$CLUSTER" "$IMAGE" "$SPARK_IMAGE" ;;
    k3d) k3d image import --cluster "$CLUSTER" "$IMAGE" "$SPARK_IMAGE" ;;
esac

echo "==> helm install (CRDs come with the chart)"
helm upgrade --install livy charts/livy-server --namespace "$NAMESPACE" --create-namespace \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
    --set sparkImage="$SPARK_IMAGE" --wait --timeout 5m
kubectl -n "$NAMESPACE" get pods,svc

echo "==> submit the pi batch through the REST API"
kubectl -n "$NAMESPACE" port-forward svc/livy-livy-server 8998:8998 >/dev/null &
FORWARD=$!
trap 'kill "$FORWARD" 2>/dev/null || true' EXIT
for _ in $(seq 30); do curl -fs localhost:8998/version >/dev/null && break; sleep 1; done
curl -fsS -H 'Content-Type: application/json' localhost:8998/batches \
    -d '{"file": "local:///opt/spark/examples/src/main/python/pi.py", "args": ["10"], "name": "pi"}'
echo

echo "==> kubectl get livybatches (every 5 s until it ends)"
for _ in $(seq 60); do
    kubectl -n "$NAMESPACE" get livybatches
    state=$(kubectl -n "$NAMESPACE" get livybatches -o jsonpath='{.items[0].status.state}')
    case "$state" in success|dead|killed|error) break ;; esac
    sleep 5
done
kubectl -n "$NAMESPACE" describe livybatches
kubectl -n "$NAMESPACE" get pods -l livy-tag
curl -fsS localhost:8998/batches; echo
