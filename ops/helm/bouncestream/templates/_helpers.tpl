{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "bouncestream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, plus the chart name unless it contains it. */}}
{{- define "bouncestream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bouncestream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: never change them after the first install (StatefulSet selectors are immutable). */}}
{{- define "bouncestream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bouncestream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The standard labels (helm.sh/docs/chart_best_practices/labels). */}}
{{- define "bouncestream.labels" -}}
helm.sh/chart: {{ include "bouncestream.chart" . }}
{{ include "bouncestream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: stream-processor
app.kubernetes.io/part-of: bouncestream
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bouncestream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bouncestream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bouncestream.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "bouncestream.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret is required unless secrets.create is true" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}
