{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "binding-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "binding-proxy.fullname" -}}
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

{{- define "binding-proxy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "binding-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "binding-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "binding-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "binding-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "binding-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "binding-proxy.secretName" -}}
{{- default (include "binding-proxy.fullname" .) .Values.secrets.name }}
{{- end }}

{{- define "binding-proxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Refuse combinations the schema cannot express: several replicas on SQLite would each hold
different bindings.
*/}}
{{- define "binding-proxy.validate" -}}
{{- if eq .Values.store.type "sqlite" }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount > 1 needs store.type=postgres: each SQLite replica would hold different bindings" }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled needs store.type=postgres: each SQLite replica would hold different bindings" }}
{{- end }}
{{- end }}
{{- if eq .Values.config.dataplane.port .Values.config.admin.port }}
{{- fail "config.dataplane.port and config.admin.port must differ" }}
{{- end }}
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM: preStop sleep + drain grace + margin. */}}
{{- define "binding-proxy.terminationGrace" -}}
{{- add (int .Values.preStopSleepSeconds) (int .Values.config.shutdown.graceSecs) 15 }}
{{- end }}
