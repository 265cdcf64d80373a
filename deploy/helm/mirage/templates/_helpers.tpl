{{/*
Names, labels and the per-component view of the values. Every workload template loops over
`.Values.components` and works on `mirage.component`'s result: the `default:` block deep-merged
with the component's own entry, so adding a service is one values entry.
*/}}

{{- define "mirage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mirage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mirage.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mirage.labels" -}}
{{ include "mirage.selectorLabels" . }}
helm.sh/chart: {{ include "mirage.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mirage
{{- end -}}

{{/* Labels of one component's objects; call with (dict "root" $ "name" $name). */}}
{{- define "mirage.componentLabels" -}}
{{ include "mirage.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mirage.componentSelectorLabels" -}}
{{ include "mirage.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/*
Deep merge of .src into .dst (in place). Sprig's mergeOverwrite skips "empty" values, so a
component could not turn a default `true` into `false`; this merge lets any key override.
*/}}
{{- define "mirage.deepMerge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if and (kindIs "map" $value) (kindIs "map" (get $dst $key)) -}}
{{- include "mirage.deepMerge" (dict "dst" (get $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One component's effective values as YAML: `default:` merged with `components.<name>`, plus the
derived `name`, `envPrefix` (MIRAGE_<NAME>_) and `module` (the Python package run as
`python -m <module>.main`). Use: $c := include "mirage.component" (dict "root" $ "name" $name) | fromYaml
*/}}
{{- define "mirage.component" -}}
{{- $c := deepCopy .root.Values.default -}}
{{- include "mirage.deepMerge" (dict "dst" $c "src" (deepCopy (get .root.Values.components .name))) -}}
{{- $_ := set $c "name" .name -}}
{{- if not $c.envPrefix -}}{{- $_ := set $c "envPrefix" (printf "MIRAGE_%s_" (upper .name | replace "-" "_")) -}}{{- end -}}
{{- if not $c.module -}}{{- $_ := set $c "module" (.name | replace "-" "_") -}}{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "mirage.componentName" -}}
{{- printf "%s-%s" (include "mirage.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mirage.image" -}}
{{- $image := .c.image -}}
{{- $repository := $image.repository | default (printf "mirage-%s" .c.name) -}}
{{- $tag := $image.tag | default .root.Chart.AppVersion | toString -}}
{{- if $image.digest -}}
{{- printf "%s/%s@%s" $image.registry $repository $image.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $image.registry $repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Settings as environment variables: nested maps become `__`-joined upper-case names under a
prefix (pydantic-settings' `env_nested_delimiter`), lists become JSON (how pydantic-settings
reads complex values), null leaves the service's default alone.
*/}}
{{- define "mirage.flattenEnv" -}}
{{- $prefix := .prefix -}}
{{- range $key, $value := .values -}}
{{- $name := printf "%s%s" $prefix (upper $key | replace "-" "_") -}}
{{- if kindIs "map" $value -}}
{{- include "mirage.flattenEnv" (dict "prefix" (printf "%s__" $name) "values" $value) -}}
{{- else if kindIs "slice" $value }}
{{ $name }}: {{ toJson $value | quote }}
{{- else if not (kindIs "invalid" $value) }}
{{ $name }}: {{ toString $value | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the shared secret settings: an existing one, or the chart's own. */}}
{{- define "mirage.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "mirage.fullname" .)) -}}
{{- end -}}

{{- define "mirage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "mirage.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Names of the bundled infrastructure (Strimzi, CloudNativePG, Valkey). */}}
{{- define "mirage.kafkaName" -}}{{- .Values.kafka.cluster.name | default (printf "%s-kafka" (include "mirage.fullname" .)) -}}{{- end -}}
{{- define "mirage.postgresName" -}}{{- .Values.postgres.cluster.name | default (printf "%s-pg" (include "mirage.fullname" .)) -}}{{- end -}}
{{/* The Secret (key `uri`) with the application user's DSN: CloudNativePG's <cluster>-app by default. */}}
{{- define "mirage.postgresDsnSecret" -}}{{- .Values.postgres.cluster.dsnSecret | default (printf "%s-app" (include "mirage.postgresName" .)) -}}{{- end -}}
{{- define "mirage.valkeyName" -}}{{- printf "%s-valkey" (include "mirage.fullname" .) -}}{{- end -}}
{{- define "mirage.valkeySecretName" -}}
{{- .Values.valkey.auth.existingSecret | default (printf "%s-valkey" (include "mirage.fullname" .)) -}}
{{- end -}}

{{/*
Environment that points every pod at the bundled infrastructure, when the chart creates it;
explicit `env` wins over `envFrom`, so these override whatever the shared Secret says.
*/}}
{{- define "mirage.infraEnv" -}}
{{- if .Values.postgres.cluster.create }}
- name: MIRAGE_POSTGRES__DSN
  valueFrom:
    secretKeyRef:
      # CloudNativePG writes the application user's connection URI into <cluster>-app.
      name: {{ include "mirage.postgresDsnSecret" . }}
      key: uri
{{- end }}
{{- if .Values.kafka.cluster.create }}
- name: MIRAGE_KAFKA__BOOTSTRAP_SERVERS
  value: {{ printf "%s-kafka-bootstrap:9092" (include "mirage.kafkaName" .) | quote }}
{{- end }}
{{- if .Values.valkey.enabled }}
- name: MIRAGE_VALKEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mirage.valkeySecretName" . }}
      key: {{ .Values.valkey.auth.secretKey }}
- name: MIRAGE_REDIS__URL
  # $(VAR) is expanded by the kubelet from the variable defined just above.
  value: {{ printf "redis://:$(MIRAGE_VALKEY_PASSWORD)@%s:6379/0" (include "mirage.valkeyName" .) | quote }}
{{- end }}
{{- end -}}

{{- define "mirage.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mirage.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/*
The api's link to the scheduler's control route (docs/warmup.md): "true" when this release runs
both. The URL is the scheduler Service; the token Secret is the existing one or the chart's own.
*/}}
{{- define "mirage.schedulerLinked" -}}
{{- if and (hasKey .Values.components "api") (hasKey .Values.components "scheduler") -}}
{{- $api := include "mirage.component" (dict "root" . "name" "api") | fromYaml -}}
{{- $scheduler := include "mirage.component" (dict "root" . "name" "scheduler") | fromYaml -}}
{{- if and $api.enabled $scheduler.enabled -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mirage.schedulerUrl" -}}
{{- $scheduler := include "mirage.component" (dict "root" . "name" "scheduler") | fromYaml -}}
{{- printf "http://%s:%d" (include "mirage.componentName" (dict "root" . "name" "scheduler")) (int $scheduler.port) -}}
{{- end -}}

{{- define "mirage.schedulerTokenSecret" -}}
{{- .Values.schedulerControl.token.existingSecret | default (printf "%s-scheduler-control" (include "mirage.fullname" .)) -}}
{{- end -}}

{{/* Whether the scheduler runs in this release with its control route behind a token. */}}
{{- define "mirage.schedulerTokenOn" -}}
{{- if and .Values.schedulerControl.token.enabled (hasKey .Values.components "scheduler") -}}
{{- $scheduler := include "mirage.component" (dict "root" . "name" "scheduler") | fromYaml -}}
{{- if $scheduler.enabled -}}true{{- end -}}
{{- end -}}
{{- end -}}
