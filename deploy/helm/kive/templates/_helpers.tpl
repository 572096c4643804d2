{{/*
Hand-written templates, checked against scripts/deploy/manifests.ts (the reference the
kustomize base and deploy/operator.yaml are generated from) by
test/integration/deploy-chart.test.ts for the defaults and for every value changed.
*/}}

{{- define "kive.labels" -}}
app.kubernetes.io/name: kivebpf
{{- end -}}

{{/* The CRI socket path of .Values.criSocket; empty for auto. */}}
{{- define "kive.criSocket" -}}
{{- $known := dict "containerd" "/run/containerd/containerd.sock" "k3s" "/run/k3s/containerd/containerd.sock" "crio" "/var/run/crio/crio.sock" -}}
{{- $v := .Values.criSocket -}}
{{- if eq $v "auto" -}}
{{- else if hasKey $known $v -}}{{ get $known $v }}
{{- else if hasPrefix "/" $v -}}{{ $v }}
{{- else -}}{{ fail (printf "criSocket: auto, containerd, k3s, crio or an absolute path, got %q" $v) }}
{{- end -}}
{{- end -}}
