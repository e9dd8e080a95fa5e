{{/* Names and labels. */}}
{{- define "hookgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hookgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hookgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hookgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hookgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "hookgate.tag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "hookgate.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "hookgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "hookgate.tag" .) }}
{{- end }}
{{- end }}

{{- define "hookgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hookgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hookgate.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "hookgate.fullname" .) }}
{{- end }}

{{- define "hookgate.claimName" -}}
{{- .Values.store.embedded.existingClaim | default (printf "%s-data" (include "hookgate.fullname" .)) }}
{{- end }}

{{- define "hookgate.embedded" -}}
{{- if eq .Values.store.kind "embedded" }}true{{ end }}
{{- end }}

{{/*
hookgate.validate fails the render on values the schema cannot express:
several pods on the one-process embedded store, and config keys the chart
owns.
*/}}
{{- define "hookgate.validate" -}}
{{- if and (include "hookgate.embedded" .) (ne (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount: %d with store.kind=embedded: the embedded store belongs to one process; set store.kind=redis to run several" (int .Values.replicaCount)) }}
{{- end }}
{{- $c := .Values.config | default dict }}
{{- range $key := list "listen" }}
{{- if hasKey ($c.server | default dict) $key }}
{{- fail (printf "config.server.%s: set by the chart from ports.http; leave it out" $key) }}
{{- end }}
{{- end }}
{{- range $key := list "listen" "token" }}
{{- if hasKey ($c.admin | default dict) $key }}
{{- fail (printf "config.admin.%s: set by the chart (ports.admin, the Secret's HOOKGATE_ADMIN_TOKEN); leave it out" $key) }}
{{- end }}
{{- end }}
{{- range $key := list "path" "redis" }}
{{- if hasKey ($c.store | default dict) $key }}
{{- fail (printf "config.store.%s: set by the chart from store.kind and store.*; leave it out" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* hookgate.storeConfig is config.yaml's store block. */}}
{{- define "hookgate.storeConfig" -}}
{{- $store := deepCopy ((.Values.config | default dict).store | default dict) }}
{{- if include "hookgate.embedded" . }}
{{- $_ := set $store "path" "/data" }}
{{- else }}
{{- $r := .Values.store.redis }}
{{- $redis := dict "url" "${HOOKGATE_REDIS_URL}" "prefix" $r.prefix "min_replicas" $r.minReplicas }}
{{- if $r.addrs }}{{ $_ := set $redis "addrs" $r.addrs }}{{ end }}
{{- if $r.masterName }}{{ $_ := set $redis "master_name" $r.masterName }}{{ end }}
{{- if $r.partitions }}{{ $_ := set $redis "partitions" $r.partitions }}{{ end }}
{{- $_ := set $store "redis" $redis }}
{{- end }}
{{- toYaml $store }}
{{- end }}

{{/*
hookgate.config is the whole config.yaml: .Values.config with the
listeners, the admin token and the store block the chart owns. Secrets stay
${VAR} references, expanded by the gateway from the Secret's variables.
*/}}
{{- define "hookgate.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $server := $cfg.server | default dict }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) }}
{{- $_ = set $cfg "server" $server }}
{{- $admin := $cfg.admin | default dict }}
{{- $_ = set $admin "listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) }}
{{- $_ = set $admin "token" "${HOOKGATE_ADMIN_TOKEN}" }}
{{- $_ = set $cfg "admin" $admin }}
{{- $_ = set $cfg "store" (include "hookgate.storeConfig" . | fromYaml) }}
{{- toYaml $cfg }}
{{- end }}

{{/*
hookgate.restartConfig is the part of the config a reload does not apply
(docs/configuration.md, "Reloading the config"): its checksum on the pod
template rolls the pods when it changes.
*/}}
{{- define "hookgate.restartConfig" -}}
{{- $c := include "hookgate.config" . | fromYaml }}
{{- toYaml (dict "server" (pick $c.server "listen" "tls") "admin" (pick $c.admin "listen" "tls") "store" $c.store "log" (pick ($c.log | default dict) "format")) }}
{{- end }}

{{/* hookgate.probeScheme: HTTPS when the public listener has TLS. */}}
{{- define "hookgate.probeScheme" -}}
{{- $tls := (((.Values.config | default dict).server | default dict).tls | default dict) }}
{{- if $tls.cert_file }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
